"use strict";
// Seeded fuzzing of the broker's listeners inside a real Node-RED: valid MQTT 3.1.1 and 5 packets
// (mqtt-packet) mutated (bit flips, truncation, changed length fields, concatenation, random
// bytes), sent on raw TCP sockets before and after a successful CONNECT (the generic user and a
// hosted device of each platform), and random frames and MQTT bytes on the WebSocket listener.
// After each batch a healthy MQTT.js client (3.1.1 and 5) still gets its QoS 1 round trip, and
// nothing is thrown or rejected unhandled. Loopback only. Replay with the FUZZ_SEED it prints.
const assert = require("node:assert/strict");
const net = require("node:net");
const crypto = require("node:crypto");
const mqttPacket = require("mqtt-packet");
const WebSocket = require("ws");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fc, checkAsync, nastyText, nastyBuffer, nastyJsonText } = require("../lib/fixtures/fuzz.js");
const { loadHostedFlow, control, DEVICE_OPTIONS, TS } = require("../lib/fixtures/hostile.js");

helper.init(nodeRedPath);

const KINDS = ["user", "blynk", "thingsboard", "thingspeak"];
const TOPICS = ["fuzz/a", "fuzz/#", "#", "+/+", "$SYS/#", "$iot/#", "$iot/blynk/x/up/ds/Temp", "ds/Temp", "get/ds", "get/ds/all", "batch_ds", "info/mcu", "event/door", "ds/Temp/timestamped_batch", "downlink/#", "v1/devices/me/telemetry", "v1/devices/me/attributes", "v1/devices/me/attributes/request/1", "v1/devices/me/rpc/request/+", "v1/devices/me/rpc/response/1", "v1/gateway/connect", "v1/gateway/telemetry", "v1/gateway/rpc", `channels/${TS.channelId}/publish`, `channels/${TS.channelId}/publish/fields/field1`, `channels/${TS.channelId}/subscribe`, "channels/1/publish"];
const topic = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TOPICS) }, { weight: 1, arbitrary: nastyText });
const payload = fc.oneof(nastyBuffer, nastyJsonText.map((t) => Buffer.from(t)), fc.constantFrom("field1=1&field2=x", '{"temperature":21.5}', '{"method":"m","params":{}}', "V1,V2", "1.5").map((t) => Buffer.from(t)));
const messageId = fc.integer({ min: 1, max: 65535 });
const qos = fc.constantFrom(0, 1, 2);
const properties = fc.option(fc.record({ topicAlias: fc.integer({ min: 1, max: 65535 }), messageExpiryInterval: fc.nat(), userProperties: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }), responseTopic: topic }, { requiredKeys: [] }), { nil: undefined });

/** An MQTT packet object for mqtt-packet (some combinations are invalid: then generate() refuses and raw bytes are used). */
const packet = fc.oneof(
  fc.record({ cmd: fc.constant("publish"), topic, payload, qos, messageId, retain: fc.boolean(), dup: fc.boolean(), properties }),
  fc.record({ cmd: fc.constant("subscribe"), messageId, subscriptions: fc.array(fc.record({ topic, qos }), { minLength: 1, maxLength: 3 }), properties }),
  fc.record({ cmd: fc.constant("unsubscribe"), messageId, unsubscriptions: fc.array(topic, { minLength: 1, maxLength: 3 }) }),
  fc.record({ cmd: fc.constantFrom("puback", "pubrec", "pubrel", "pubcomp"), messageId }),
  fc.record({ cmd: fc.constantFrom("pingreq", "disconnect") }),
  fc.record({ cmd: fc.constant("auth"), reasonCode: fc.constantFrom(0, 0x18, 0x19) }),
  fc.record({ cmd: fc.constant("connect"), kind: fc.constantFrom(...KINDS), clientId: fc.oneof(fc.constant(""), nastyText), keepalive: fc.nat(65535), clean: fc.boolean(), will: fc.option(fc.record({ topic, payload, qos, retain: fc.boolean() }), { nil: undefined }) }),
);

function encode(p, protocolVersion) {
  const full = p.cmd === "connect" ? { ...p, protocolId: protocolVersion === 3 ? "MQIsdp" : "MQTT", protocolVersion, ...credentials(p.kind) } : p;
  try {
    return mqttPacket.generate(full, { protocolVersion });
  } catch {
    return Buffer.from(JSON.stringify(full)); // a packet mqtt-packet refuses to build: send nonsense instead
  }
}
function credentials(kind) {
  const { username, password } = DEVICE_OPTIONS[kind];
  return { username, ...(password === undefined ? {} : { password: Buffer.from(password) }) };
}

/** What a hostile peer does to a valid byte stream. */
const mutation = fc.oneof(
  fc.constant({ op: "none" }),
  fc.record({ op: fc.constant("flip"), at: fc.nat(), bit: fc.nat(7), times: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant("truncate"), at: fc.nat() }),
  fc.record({ op: fc.constant("length"), value: fc.oneof(fc.nat(300), fc.constantFrom(127, 128, 16383, 16384, 2097151, 268435455)) }),
  fc.record({ op: fc.constant("random"), bytes: fc.uint8Array({ maxLength: 256 }) }),
  fc.record({ op: fc.constant("insert"), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

/** The remaining-length varint of `n`, as MQTT encodes it (1 to 4 bytes). */
function varint(n) {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0 && out.length < 4);
  return Buffer.from(out);
}

function mutate(bytes, m) {
  const b = Buffer.from(bytes);
  switch (m.op) {
    case "flip":
      if (b.length > 0) for (let i = 0; i < m.times; i++) b[(m.at + i * 7) % b.length] ^= 1 << m.bit;
      return b;
    case "truncate":
      return b.subarray(0, b.length === 0 ? 0 : m.at % b.length);
    case "length": // the fixed header with another remaining length, the body unchanged
      return b.length === 0 ? b : Buffer.concat([b.subarray(0, 1), varint(m.value), b.subarray(1 + lengthBytes(b))]);
    case "random":
      return Buffer.from(m.bytes);
    case "insert": {
      const at = b.length === 0 ? 0 : m.at % b.length;
      return Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    }
    default:
      return b;
  }
}
function lengthBytes(b) {
  let n = 0;
  while (n < 4 && 1 + n < b.length && (b[1 + n] & 0x80) !== 0) n++;
  return Math.min(n + 1, b.length - 1);
}

/** One hostile TCP session: optionally a good CONNECT first, then the mutated packets, then EOF. */
const session = fc.record({
  protocolVersion: fc.constantFrom(3, 4, 5),
  connectAs: fc.option(fc.constantFrom(...KINDS), { nil: undefined, freq: 3 }),
  packets: fc.array(fc.tuple(packet, mutation), { minLength: 1, maxLength: 6 }),
});

function tcpSession(port, s) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the broker neither answered nor closed a fuzzed session within 5 s: ${fc.stringify(s).slice(0, 400)}`));
    }, 5000);
    const fuzz = () => {
      socket.end(Buffer.concat(s.packets.map(([p, m]) => mutate(encode(p, s.protocolVersion), m))));
    };
    socket.on("error", () => undefined); // resets are an expected answer to garbage
    socket.resume(); // read what the broker answers, or its FIN would wait behind it and never close the socket
    socket.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on("connect", () => {
      if (s.connectAs === undefined) return fuzz();
      const connect = { cmd: "connect", kind: s.connectAs, clientId: DEVICE_OPTIONS[s.connectAs].clientId ?? "", keepalive: 30, clean: true };
      socket.write(encode(connect, s.protocolVersion === 3 ? 4 : s.protocolVersion));
      // The CONNACK (first byte 0x20) comes before anything else the broker sends.
      socket.once("data", (data) => {
        if (data[0] !== 0x20) return void socket.destroy(new Error(`expected a CONNACK, got ${data.toString("hex")}`));
        fuzz();
      });
    });
  });
}

/** A WebSocket session: an MQTT-speaking client sending mutated packets, or raw bytes after the upgrade. */
const wsSession = fc.oneof(
  fc.record({ mode: fc.constant("mqtt"), protocolVersion: fc.constantFrom(4, 5), messages: fc.array(fc.tuple(packet, mutation), { minLength: 1, maxLength: 5 }) }),
  fc.record({ mode: fc.constant("frames"), bytes: fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.tuple(fc.nat(255), fc.nat(255), fc.uint8Array({ maxLength: 32 })).map(([a, b, rest]) => Uint8Array.from([a, b, ...rest]))), { minLength: 1, maxLength: 4 }) }),
);

function wsMqttSession(url, s) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, "mqtt");
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`the WebSocket listener did not close a fuzzed session within 5 s: ${fc.stringify(s).slice(0, 400)}`));
    }, 5000);
    ws.on("error", () => undefined);
    ws.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.on("open", () => {
      for (const [p, m] of s.messages) ws.send(mutate(encode(p, s.protocolVersion), m));
      ws.close();
    });
  });
}

function wsFrameSession(port, s) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the WebSocket listener did not close a raw-frame session within 5 s: ${fc.stringify(s).slice(0, 400)}`));
    }, 5000);
    socket.on("error", () => undefined);
    socket.resume();
    socket.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on("connect", () => {
      const key = crypto.randomBytes(16).toString("base64");
      socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`);
      socket.once("data", () => socket.end(Buffer.concat(s.bytes.map((b) => Buffer.from(b)))));
    });
  });
}

describe("hostile: MQTT packet and WebSocket frame fuzzing against the broker in Node-RED (fast-check, seeded)", function () {
  this.timeout(90_000);
  let broker;
  const healthy = [];
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);

  before(async function () {
    process.on("unhandledRejection", onUnhandled);
    await new Promise((resolve) => helper.startServer(resolve));
    broker = await loadHostedFlow();
    healthy.push(await control(broker.url, 5), await control(broker.url, 4));
  });

  after(async function () {
    process.off("unhandledRejection", onUnhandled);
    await Promise.all(healthy.map((c) => c.close()));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function stillServing(what) {
    for (const c of healthy) await c.roundTrip(what);
    assert.deepEqual(unhandled.map(String), [], "no unhandled promise rejection");
  }

  it("raw TCP: mutated packets before and after CONNECT (generic user, a hosted device of each platform)", async function () {
    await checkAsync(
      fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 6 }), async (sessions) => {
        await Promise.all(sessions.map((s) => tcpSession(broker.port, s)));
        await stillServing("after a batch of fuzzed TCP sessions");
      }),
      60,
    );
  });

  it("WebSocket: mutated MQTT packets in binary messages, and random frames after the upgrade", async function () {
    await checkAsync(
      fc.asyncProperty(fc.array(wsSession, { minLength: 1, maxLength: 4 }), async (sessions) => {
        await Promise.all(sessions.map((s) => (s.mode === "mqtt" ? wsMqttSession(broker.wsUrl, s) : wsFrameSession(broker.wsPort, s))));
        await stillServing("after a batch of fuzzed WebSocket sessions");
      }),
      30,
    );
  });

  it("the hosted devices still connect and are served after the fuzzing", async function () {
    const { connect } = require("../lib/fixtures/hostile.js");
    for (const kind of ["blynk", "thingsboard", "thingspeak"]) {
      const device = await connect(broker.url, kind);
      await device.endAsync();
    }
    await stillServing("at the end");
  });
});
