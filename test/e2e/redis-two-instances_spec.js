"use strict";
// Two real Node-RED processes with the same flows on one real redis-server (the README's "Two
// instances on Redis"): an iot-broker with persistence redis (password in its credentials)
// hosting a Blynk device, flows that record what the device sends (tagged with the instance's
// IOT_INSTANCE variable) and write to it. A device connected to A: its uplink reaches A's flows
// and not B's (exactly one instance); B's write reaches it; what B wrote is what A answers and the
// other way round. When A stops (SIGTERM, then kill -9) the device and a persistent subscriber go
// on at B: no QoS 1 message is lost either way, and a value written while the device was away is
// pushed to it when it connects (syncOnConnect). A Redis outage shows on both brokers' status,
// crashes nothing and passes by itself.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { prepareUserDir, startNodeRed, stopNodeRed } = require("../lib/fixtures/node-red-process.js");
const { startRedis, haveRedis } = require("../lib/fixtures/redis-server.js");
const { until, waitFor } = require("../support/wait.js");

const TOKEN = "TwoInstancesToken_0123456789abcd";
const REDIS_PASSWORD = "two-instances-Redis-pw-0001";

/** A function node's body that appends `value` to the flow's list `key`. */
const record = (key, value) => `const list = flow.get("${key}") || []; list.push(${value}); flow.set("${key}", list); return null;`;

/** The same flows for both instances: only the environment differs (MQTT port, instance name). */
function flows(redisUrl) {
  const z = "t1";
  const at = (n) => ({ z, x: 120 + (n % 4) * 200, y: 60 + Math.floor(n / 4) * 60 });
  return [
    { id: z, type: "tab", label: "two instances" },
    { id: "b1", type: "iot-broker", ...at(0), name: "shared", port: "${MQTT_PORT}", bind: "127.0.0.1", allowAnonymous: true, persistence: "redis", redisUrl, retention: 30, wires: [["events"]] },
    { id: "events", type: "function", ...at(1), func: record("events", "msg.topic"), outputs: 0, wires: [] },
    { id: "status", type: "status", ...at(2), scope: ["b1"], wires: [["statuses"]] },
    { id: "statuses", type: "function", ...at(3), func: record("statuses", "msg.status.text"), outputs: 0, wires: [] },
    { id: "dev", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1", server: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "V1=Count, V2=Temp", syncOnConnect: true },
    { id: "in", type: "blynk-device-in", ...at(4), device: "dev", datastream: "", raw: false, sync: false, system: false, wires: [["seen"]] },
    { id: "seen", type: "function", ...at(5), func: record("seen", '[env.get("IOT_INSTANCE"), msg.topic, msg.payload]'), outputs: 0, wires: [] },
    { id: "get", type: "http in", ...at(6), url: "/recorded", method: "get", wires: [["answer"]] },
    { id: "answer", type: "function", ...at(7), func: 'msg.payload = { seen: flow.get("seen") || [], events: flow.get("events") || [], statuses: flow.get("statuses") || [] }; return msg;', outputs: 1, wires: [["response"]] },
    { id: "write", type: "http in", ...at(8), url: "/write", method: "get", wires: [["toDevice", "response"]] },
    { id: "toDevice", type: "function", ...at(9), func: "return { topic: msg.req.query.ds, payload: msg.req.query.v };", outputs: 1, wires: [["out"]] },
    { id: "out", type: "blynk-write", ...at(10), device: "dev", datastream: "" },
    { id: "response", type: "http response", ...at(11), statusCode: "", headers: {}, wires: [] },
  ];
}

(haveRedis() ? describe : describe.skip)("two Node-RED instances with the same flows on one Redis (real processes)", function () {
  this.timeout(180_000);
  let redis;
  /** name -> { userDir, uiPort, mqttPort, http, mqttUrl, running } */
  const instances = {};
  const clients = [];
  const track = (c) => (clients.push(c), c);

  before(async function () {
    redis = await startRedis({ password: REDIS_PASSWORD });
    for (const name of ["A", "B"]) {
      const userDir = fs.mkdtempSync(path.join(os.tmpdir(), `iotb-two-${name}-`));
      const [uiPort, mqttPort] = [await freePort(), await freePort()];
      prepareUserDir(userDir, { uiPort, flows: flows(redis.url), credentials: { b1: { redisPassword: REDIS_PASSWORD }, dev: { token: TOKEN } } });
      instances[name] = { name, userDir, uiPort, mqttPort, http: `http://127.0.0.1:${uiPort}`, mqttUrl: `mqtt://127.0.0.1:${mqttPort}` };
    }
    await Promise.all(Object.values(instances).map((i) => start(i)));
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  });

  after(async function () {
    for (const i of Object.values(instances)) {
      if (i.running) await stopNodeRed(i.running.child, "SIGKILL");
      fs.rmSync(i.userDir, { recursive: true, force: true });
    }
    await redis?.remove();
  });

  /** Starts an instance and waits until its broker hosts the device. */
  async function start(instance) {
    instance.running = await startNodeRed(instance.userDir, 30_000, { env: { MQTT_PORT: String(instance.mqttPort), IOT_INSTANCE: instance.name } });
    await until(async () => {
      const c = await connect(instance.mqttUrl, { username: "device", password: TOKEN, clientId: "" }).catch(() => undefined);
      await c?.endAsync(true);
      return c !== undefined;
    }, 20_000, `${instance.name}'s broker to host the device`);
  }

  async function stop(instance, signal) {
    const exit = await stopNodeRed(instance.running.child, signal);
    if (signal === "SIGTERM") assert.equal(exit.code, 0, instance.running.output());
    else assert.equal(exit.signal, "SIGKILL");
    instance.output = (instance.output ?? "") + instance.running.output();
    instance.running = undefined;
  }

  const recorded = async (instance) => (await fetch(`${instance.http}/recorded`)).json();
  const write = async (instance, ds, v) => assert.equal((await fetch(`${instance.http}/write?ds=${ds}&v=${v}`)).status, 200);
  /** A pin's value as the instance's Blynk HTTPS API answers it (V1 = Count, V2 = Temp). */
  const apiGet = async (instance, pin) => (await fetch(`${instance.http}/external/api/get?token=${TOKEN}&${pin}`)).text();
  /** Every value of V1 in the instance's history (Blynk data/get: a link to a CSV). */
  async function history(instance) {
    const { link } = await (await fetch(`${instance.http}/external/api/data/get?token=${TOKEN}&pin=V1&period=DAY`)).json();
    const csv = await (await fetch(link)).text();
    return csv.trim().split("\n").map((line) => line.split(",")[1]);
  }

  /** The device, knowing both addresses (as behind a load balancer), first A's; a persistent session. */
  async function device(first, second) {
    const servers = [first, second].map((i) => ({ host: "127.0.0.1", port: i.mqttPort }));
    const d = track(mqtt.connect({ servers, username: "device", password: TOKEN, clientId: "greenhouse-1", clean: false, reconnectPeriod: 200, reconnectOnConnackError: true }));
    d.box = inbox(d);
    await waitFor(d, "connect", () => true, 20_000);
    assert.equal(d.stream.remotePort, first.mqttPort);
    await d.subscribeAsync("downlink/#", { qos: 1 });
    return d;
  }

  it("a device on A: its uplink reaches A's flows only; B's write reaches it; what B wrote A answers and the other way round", async function () {
    const { A, B } = instances;
    const d = await device(A, B);
    await d.publishAsync("ds/Temp", "21.5", { qos: 1 });
    await until(async () => (await recorded(A)).seen.length === 1, 10_000, "A's flow to record the uplink");
    assert.deepEqual((await recorded(A)).seen, [["A", "Temp", 21.5]]);

    await write(B, "Light", 1);
    assert.equal((await d.box.next("downlink/ds/Light", 10_000)).payload, "1", "B's write reaches the device on A");
    d.box.messages.length = 0;
    await d.publishAsync("get/ds", "Light", { qos: 1 });
    assert.equal((await d.box.next("downlink/ds/Light", 10_000)).payload, "1", "A answers what B wrote");
    assert.equal(await apiGet(B, "v2"), "21.5", "B answers what the device stored through A");
    assert.deepEqual((await recorded(B)).seen, [], "B's flows never saw the uplink: each reaches one instance");
  });

  for (const signal of ["SIGTERM", "SIGKILL"]) {
    it(`when A stops (${signal}), the device and a persistent subscriber go on at B; no QoS 1 message is lost; a value written meanwhile is pushed on connect`, async function () {
      const { A, B } = instances;
      if (!A.running) await start(A);
      const d = await device(A, B);
      const sub = track(mqtt.connect({ servers: [A, B].map((i) => ({ host: "127.0.0.1", port: i.mqttPort })), clientId: `subscriber-${signal}`, clean: false, reconnectPeriod: 200, reconnectOnConnackError: true }));
      const got = new Set();
      sub.on("message", (_topic, payload) => got.add(payload.toString()));
      await waitFor(sub, "connect", () => true, 10_000);
      await sub.subscribeAsync("feed/#", { qos: 1 });
      const pub = track(await connect(B.mqttUrl, { clientId: `publisher-${signal}` }));

      // A stream both ways through A's going away: the device's values, and messages for the subscriber.
      const TOTAL = 60;
      const acked = [];
      let stopping;
      for (let i = 0; i < TOTAL; i++) {
        if (i === TOTAL / 2) {
          // The rest goes while the device is away from A, reconnecting to B.
          const gone = waitFor(d, "close", () => true, 20_000);
          stopping = stop(A, signal);
          await gone;
        }
        const value = `${signal}-${i}`;
        await Promise.all([d.publishAsync("ds/Count", value, { qos: 1 }).then(() => acked.push(value)), pub.publishAsync(`feed/${i}`, value, { qos: 1 })]);
      }
      await stopping;
      await until(() => got.size === TOTAL, 20_000, `all ${TOTAL} messages at the subscriber (got ${got.size})`);
      assert.equal(d.stream.remotePort, B.mqttPort, "the device is on B");
      assert.equal(acked.length, TOTAL);
      const kept = await history(B);
      assert.deepEqual(acked.filter((v) => !kept.includes(v)), [], "every acknowledged value is in the history");
      assert.equal(await apiGet(B, "v1"), acked.at(-1));

      // The device goes away; a flow writes meanwhile; the device comes back and gets it unasked.
      await d.endAsync();
      await write(B, "Light", signal === "SIGTERM" ? 2 : 3);
      d.box.messages.length = 0;
      d.reconnect();
      await waitFor(d, "connect", () => true, 10_000);
      assert.equal((await d.box.next("downlink/ds/Light", 10_000)).payload, signal === "SIGTERM" ? "2" : "3");
    });
  }

  it("a Redis outage shows on both brokers' status, crashes nothing, and passes by itself", async function () {
    const { A, B } = instances;
    if (!A.running) await start(A);
    await redis.stop();
    for (const i of [A, B]) {
      await until(async () => (await recorded(i)).statuses.includes("iot-broker.status.store-unavailable"), 20_000, `${i.name}'s status to show the outage`);
      assert.ok((await recorded(i)).events.includes("store-unavailable"));
      // An HTTP write is not acknowledged while it cannot be stored: the caller sends it again.
      assert.equal((await fetch(`${i.http}/external/api/update?token=${TOKEN}&v2=5`)).status, 503);
    }
    await redis.start();
    for (const i of [A, B]) {
      await until(async () => (await recorded(i)).events.includes("store-available"), 30_000, `${i.name}'s broker back on Redis`);
    }
    // Working again, across instances.
    const d = await device(A, B);
    await write(B, "Light", 4);
    await until(() => d.box.messages.some((m) => m.topic === "downlink/ds/Light" && m.payload === "4"), 10_000, "B's write at the device on A");
    for (const i of [A, B]) {
      const output = (i.output ?? "") + i.running.output();
      assert.equal(i.running.child.exitCode, null, `${i.name} still runs`);
      assert.match(output, /Redis cannot be reached/);
      assert.doesNotMatch(output, new RegExp(`${TOKEN}|${REDIS_PASSWORD}`), "no secret in the log");
      assert.doesNotMatch(output, /\[error\]/, output);
    }
  });
});
