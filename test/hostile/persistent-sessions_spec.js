"use strict";
// Hosted devices with persistent sessions (clean:false, fixed client id), in a real Node-RED with
// real MQTT.js devices: Blynk, ThingsBoard and ThingSpeak firmware subscribe at QoS 1 and publish
// at QoS 1. Downlinks must arrive (at QoS 1 where the writer sent QoS 1) without the broker
// cutting the device off; what is written while a device is offline, or while the broker restarts
// with new settings on the same sessions, arrives when it comes back, on its own topics (never the
// broker's internal `$iot/...` ones), over the restored subscriptions.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers, SessionStore } = require("../../dist/nodes/lib/broker/index.js");
const { connect, inbox, startEngine } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until, waitFor } = require("../support/wait.js");
const blynk = require("../nodes/blynk-helpers.js");
const { tbNodes } = require("../nodes/thingsboard-helpers.js");
const { tsNodes } = require("../nodes/thingspeak-helpers.js");

helper.init(nodeRedPath);

const { loadFlow, onTab, sink, inject } = require("../support/node-harness.js");
const { runtime } = blynk;
const BLYNK_TOKEN = "PersistBlynkToken_0123456789abcd";
const TB_TOKEN = "PersistTbToken01234";
const TS = { clientId: "PersistClient001", username: "PersistUser00001", password: "PersistPassword001secret" };
const SINKS = ["b-out", "t-tel-out", "s-out"];

function flow(port) {
  return [
    blynk.TAB,
    onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
    { id: "dev-b", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1" },
    onTab({ id: "b-in", type: "blynk-device-in", device: "dev-b", datastream: "", sync: false, wires: [["b-out"]] }),
    onTab({ id: "b-write", type: "blynk-write", device: "dev-b", datastream: "" }),
    { id: "dev-t", type: "thingsboard-device", name: "Boiler", connection: "local", broker: "b1" },
    onTab({ id: "t-tel", type: "thingsboard-telemetry", device: "dev-t", wires: [["t-tel-out"]] }),
    onTab({ id: "t-attr", type: "thingsboard-attributes", device: "dev-t", wires: [[]] }),
    onTab({ id: "t-call", type: "thingsboard-rpc", device: "dev-t", mode: "call", timeout: 5000, wires: [[]] }),
    { id: "dev-s", type: "thingspeak-channel", name: "Weather", connection: "local", broker: "b1", channelId: "4242", updateInterval: "1" },
    onTab({ id: "s-sub", type: "thingspeak-field", channel: "dev-s", field: "", mode: "subscribe", wires: [["s-out"]] }),
    onTab({ id: "s-write", type: "thingspeak-field", channel: "dev-s", field: "2", mode: "write", wires: [[]] }),
    ...SINKS.map(sink),
  ];
}

function credentials(users = []) {
  return {
    b1: { users: JSON.stringify(users) },
    "dev-b": { token: BLYNK_TOKEN },
    "dev-t": { token: TB_TOKEN },
    "dev-s": { ...TS, writeKey: "PERSISTWRITEKEY1" },
  };
}

describe("hosted devices with persistent sessions", function () {
  this.timeout(20000);
  const cleanups = [];

  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  for (const protocolVersion of [4, 5]) {
    it(`MQTT ${protocolVersion === 5 ? "5" : "3.1.1"}: QoS 1 both ways, queued while offline and across a broker restart, on the device's own topics`, async function () {
      const port = await freePort();
      const url = `mqtt://127.0.0.1:${port}`;
      const got = await loadFlow([...blynk.withBroker, ...tbNodes, ...tsNodes], flow(port), credentials(), SINKS);
      await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");
      const web = http.createServer(runtime.RED.httpNode).listen(0, "127.0.0.1");
      await once(web, "listening");
      cleanups.push(() => new Promise((resolve) => web.close(resolve)));
      const blynkApi = async (query) => {
        const res = await fetch(`http://127.0.0.1:${web.address().port}/external/api/update?token=${BLYNK_TOKEN}&${query}`);
        assert.equal(res.status, 200, await res.text());
      };

      // Every broker event, across engines: no device may be cut off by an error.
      const events = [];
      const watch = (engine) => engine.on("event", (e) => events.push(e));
      watch(brokers.engine("b1"));
      const errors = () => events.filter((e) => e.event === "client-error" || e.event === "limit-exceeded" || e.event === "plugin-error");

      const devices = {
        blynk: { clientId: "persist-blynk", username: "device", password: BLYNK_TOKEN, filters: ["downlink/#"] },
        tb: { clientId: "persist-tb", username: TB_TOKEN, filters: ["v1/devices/me/attributes", "v1/devices/me/rpc/request/+"] },
        ts: { ...TS, filters: ["channels/4242/subscribe"] },
      };
      const boxes = {};
      /** Connects with a persistent session; a returning device does not subscribe again. */
      const online = async (name) => {
        const d = devices[name];
        const client = await connect(url, { clientId: d.clientId, username: d.username, password: d.password, clean: false, protocolVersion, keepalive: 45, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}) });
        cleanups.push(() => client.endAsync(true).catch(() => undefined));
        d.client = client;
        boxes[name] = inbox(client);
        client.on("close", () => (d.closed = true));
        d.closed = false;
      };
      const offline = async (name) => {
        await devices[name].client.endAsync();
      };
      for (const name of Object.keys(devices)) {
        await online(name);
        for (const filter of devices[name].filters) {
          const [granted] = await devices[name].client.subscribeAsync(filter, { qos: 1 });
          assert.equal(granted.qos, 1, `${name} granted QoS 1 on ${filter}`);
        }
      }

      // Live, both ways. Blynk: the HTTPS API (QoS 1) and a flow's write; ThingsBoard: shared
      // attributes and a server-side RPC the device answers at QoS 1; ThingSpeak: QoS 1 updates.
      await blynkApi("v1=1");
      assert.deepEqual(pick(await boxes.blynk.next("downlink/ds/V1")), ["downlink/ds/V1", "1", 1]);
      assert.equal(await inject(helper.getNode("b-write"), { topic: "Power", payload: 1 }), undefined);
      assert.deepEqual(pick(await boxes.blynk.next("downlink/ds/Power")), ["downlink/ds/Power", "1", 1]);
      await devices.blynk.client.publishAsync("ds/Temperature", "21.5", { qos: 1 });
      assert.equal((await got["b-out"].next((m) => m.topic === "Temperature")).payload, 21.5);

      assert.equal(await inject(helper.getNode("t-attr"), { topic: "target", payload: 22 }), undefined);
      assert.deepEqual(pick(await boxes.tb.next("v1/devices/me/attributes")), ["v1/devices/me/attributes", '{"target":22}', 1]);
      devices.tb.client.on("message", (topic, payload) => {
        const id = /^v1\/devices\/me\/rpc\/request\/(\d+)$/.exec(topic)?.[1];
        if (id !== undefined) devices.tb.client.publish(`v1/devices/me/rpc/response/${id}`, JSON.stringify({ ok: JSON.parse(payload).method }), { qos: 1 });
      });
      assert.equal(await inject(helper.getNode("t-call"), { topic: "reboot", payload: {} }), undefined);
      assert.equal(boxes.tb.messages.find((m) => m.topic.startsWith("v1/devices/me/rpc/request/")).qos, 1);
      await devices.tb.client.publishAsync("v1/devices/me/telemetry", JSON.stringify({ pressure: 1.5 }), { qos: 1 });
      assert.deepEqual((await got["t-tel-out"].next()).payload, { pressure: 1.5 });

      await devices.ts.client.publishAsync("channels/4242/publish", "field1=7", { qos: 1 });
      assert.equal((await got["s-out"].next()).payload.field1, "7");
      assert.equal(JSON.parse((await boxes.ts.next("channels/4242/subscribe")).payload).field1, "7");
      assert.deepEqual(errors(), []);
      assert.ok(Object.values(devices).every((d) => !d.closed), "no device was cut off");

      // Offline: what is written meanwhile waits in the session and arrives on reconnect.
      await Promise.all([offline("blynk"), offline("tb")]);
      await blynkApi("v2=offline-api");
      assert.equal(await inject(helper.getNode("b-write"), { topic: "Mode", payload: "eco" }), undefined);
      assert.equal(await inject(helper.getNode("t-attr"), { topic: "target", payload: 23 }), undefined);
      await online("blynk");
      await online("tb");
      assert.deepEqual(pick(await boxes.blynk.next("downlink/ds/V2")), ["downlink/ds/V2", "offline-api", 1]);
      assert.deepEqual(pick(await boxes.blynk.next("downlink/ds/Mode")), ["downlink/ds/Mode", "eco", 1]);
      assert.deepEqual(pick(await boxes.tb.next("v1/devices/me/attributes")), ["v1/devices/me/attributes", '{"target":23}', 1]);
      // The restored subscriptions carry live traffic, and the emulation knows of them: answers
      // to a returning device that does not subscribe again are not held back.
      await blynkApi("v1=2");
      assert.equal((await boxes.blynk.next("downlink/ds/V1")).payload, "2");
      await devices.blynk.client.publishAsync("get/ds", "Power", { qos: 1 });
      assert.deepEqual(pick(await boxes.blynk.next("downlink/ds/Power")), ["downlink/ds/Power", "1", 1]);
      assert.deepEqual(errors(), []);

      // A restart on the same sessions (the broker's settings changed): all devices are cut off
      // by the restart; what is written before they are back is delivered once they are.
      const before = brokers.engine("b1");
      const users = [{ username: "someone", password: "someone-password-1", publish: ["x"], subscribe: ["x"] }];
      const started = waitFor(helper._events, "flows:started", () => true, 10000);
      await helper._redNodes.setFlows(flow(port), credentials(users), "full");
      await started;
      await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== before, 5000, "the new engine");
      watch(brokers.engine("b1"));
      await until(() => Object.values(devices).every((d) => d.closed), 5000, "the restart to close the devices");
      await blynkApi("v3=restart");
      assert.equal(await inject(helper.getNode("t-attr"), { topic: "target", payload: 24 }), undefined);
      for (const name of Object.keys(devices)) await online(name);
      assert.deepEqual(pick(await boxes.blynk.next("downlink/ds/V3")), ["downlink/ds/V3", "restart", 1]);
      assert.deepEqual(pick(await boxes.tb.next("v1/devices/me/attributes")), ["v1/devices/me/attributes", '{"target":24}', 1]);
      // The channel's update interval paces the flow's write (queued, not refused); it reaches
      // the device over its restored subscription.
      assert.equal(await inject(helper.getNode("s-write"), { payload: 8 }), undefined);
      assert.equal(JSON.parse((await boxes.ts.next("channels/4242/subscribe")).payload).field2, "8");
      for (const box of Object.values(boxes)) assert.ok(box.messages.every((m) => !m.topic.startsWith("$")), JSON.stringify(box.messages));
      assert.deepEqual(errors(), []);
      assert.ok(Object.values(devices).every((d) => !d.closed), "no device was cut off");
    });
  }
});

describe("a persistent session keeps only the filters its user may subscribe to", function () {
  let broker;
  afterEach(async function () {
    await broker?.engine.close();
  });

  // aedes stores a SUBSCRIBE's whole filter list for a clean:false session, refused filters too,
  // and queues for the session whatever matches a stored filter.
  it("never queues for a session what a refused filter matches (MQTT 3.1.1 and 5)", async function () {
    const users = [
      { username: "reader", password: "reader-password-1", publish: [], subscribe: ["public/#"] },
      { username: "writer", password: "writer-password-1", publish: ["#"], subscribe: [] },
    ];
    broker = await startEngine({ users, authThrottle: false });
    const writer = await connect(broker.url, { username: "writer", password: users[1].password });
    for (const protocolVersion of [4, 5]) {
      const options = { username: "reader", password: users[0].password, clientId: `reader-${protocolVersion}`, clean: false, protocolVersion };
      if (protocolVersion === 5) options.properties = { sessionExpiryInterval: 600 };
      let reader = await connect(broker.url, options);
      // Both orders: aedes stores the list when it has authorized the first filter it grants.
      const filters = protocolVersion === 5 ? ["secret/#", "public/#"] : ["public/#", "secret/#"];
      const granted = await reader.subscribeAsync(filters, { qos: 1 }).then(
        (g) => g.map((x) => x.qos),
        (err) => err.packet.granted,
      );
      assert.deepEqual(granted, filters.map((f) => (f === "public/#" ? 1 : protocolVersion === 5 ? 0x87 : 128)));
      await reader.endAsync();
      await writer.publishAsync("secret/plans", "not for the reader", { qos: 1 });
      await writer.publishAsync("public/news", "for the reader", { qos: 1 });
      reader = await connect(broker.url, options);
      const box = inbox(reader);
      await box.next("public/news");
      await writer.publishAsync("secret/plans", "still not", { qos: 1 });
      await writer.publishAsync("public/news", "again", { qos: 1 });
      await until(() => box.messages.length === 2, 5000, "the second public message");
      await reader.endAsync();
      // Whatever was queued meanwhile comes on the next resume: the secret ones must not be there.
      reader = await connect(broker.url, options);
      const later = inbox(reader);
      await writer.publishAsync("public/news", "last", { qos: 1 });
      await until(() => later.messages.some((m) => m.payload === "last"), 5000, "the last public message");
      await reader.endAsync();
      assert.deepEqual([...box.messages, ...later.messages].map((m) => m.topic).filter((t) => !t.startsWith("public/")), []);
    }
    await writer.endAsync();
  });

  it("drops a stored filter the user may no longer subscribe to when the broker restarts with new settings", async function () {
    const sessions = new SessionStore();
    const reader = (subscribe) => ({ username: "reader", password: "reader-password-1", publish: [], subscribe });
    const writer = { username: "writer", password: "writer-password-1", publish: ["#"], subscribe: [] };
    const options = { username: "reader", password: "reader-password-1", clientId: "reader-revoked", clean: false };
    broker = await startEngine({ users: [reader(["#"]), writer], authThrottle: false, sessions });
    let client = await connect(broker.url, options);
    await client.subscribeAsync(["public/#", "secret/#"], { qos: 1 });
    await client.endAsync();
    await broker.engine.close();

    broker = await startEngine({ users: [reader(["public/#"]), writer], authThrottle: false, sessions });
    const publisher = await connect(broker.url, { username: "writer", password: writer.password });
    client = await connect(broker.url, options);
    assert.deepEqual(broker.events.filter((e) => e.event === "subscribe-refused").map((e) => e.topic), ["secret/#"]);
    await client.endAsync();
    await publisher.publishAsync("secret/plans", "revoked", { qos: 1 });
    await publisher.publishAsync("public/news", "allowed", { qos: 1 });
    client = await connect(broker.url, options);
    const box = inbox(client);
    await box.next("public/news");
    await publisher.publishAsync("public/news", "last", { qos: 1 });
    await until(() => box.messages.some((m) => m.payload === "last"), 5000, "the last public message");
    await Promise.all([client.endAsync(), publisher.endAsync()]);
    assert.deepEqual(box.messages.map((m) => m.topic), ["public/news", "public/news"]);
  });
});

/** A received message as [topic, payload, qos]. */
function pick(message) {
  return [message.topic, message.payload, message.qos];
}
