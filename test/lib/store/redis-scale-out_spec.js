"use strict";
// Two broker engines on one real redis-server (the `redis` persistence, as two Node-RED instances
// running the same flow run it: each on a storage of its own under the same key prefix, each
// engine with an aedes id of its own as the iot-broker node gives it): a client of A is
// reached by a publish made on B; retained messages and a persistent session's queued QoS 1
// messages survive; state written through B is what A reads; a device's uplink reaches the
// instance it is connected to, exactly once; when A stops its client goes on at B without losing
// a QoS 1 message; a Redis outage crashes nothing, shows, and passes by itself.
const assert = require("node:assert/strict");
const mqtt = require("mqtt");
const { randomBytes } = require("node:crypto");
const { BrokerEngine, deviceNamespace } = require("../../../dist/nodes/lib/broker/index.js");
const { engineStorageOptions } = require("../../../dist/nodes/lib/broker/broker-storage.js");
const { connect, connectRefused, inbox } = require("../fixtures/engine.js");
const { redisSuite, untilEqual, haveRedis } = require("./redis-fixtures.js");
const { waitFor, until } = require("../../support/wait.js");

const BROKER_ID = "node-red-broker-1";
/** An engine's aedes id as the iot-broker node makes it: the broker node's, plus a random part. */
const engineId = () => `${BROKER_ID}-${randomBytes(4).toString("hex")}`;

/** A platform whose devices log in as "dev" with a token; what reaches its hooks is recorded. */
function toyPlugin(tokens, seen) {
  return {
    name: "toy",
    authenticate(req) {
      if (req.username !== "dev") return undefined;
      const id = tokens.indexOf(req.password?.toString());
      if (id < 0) return { accept: false, returnCode: 4, reason: "unknown token" };
      return { accept: true, identity: { kind: "device", plugin: "toy", deviceId: `d${id}`, namespace: deviceNamespace({ plugin: "toy", deviceId: `d${id}` }) } };
    },
    published(client, message) {
      seen.push({ deviceId: client.identity.deviceId, topic: message.topic, payload: message.payload.toString() });
    },
  };
}

(haveRedis() ? describe : describe.skip)("two broker engines on one Redis (scale-out)", function () {
  const suite = redisSuite(this);
  const engines = [];
  const clients = [];
  const track = (c) => (clients.push(c), c);

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await Promise.all(engines.splice(0).map((e) => e.engine.close()));
  });

  /** An engine as an instance of the shared broker: a storage of its own under the same prefix, a listener on a free port. */
  async function instance(prefix, options = {}) {
    const storage = suite.storage({ prefix });
    const engine = new BrokerEngine({ id: engineId(), allowAnonymous: true, ...engineStorageOptions(storage), ...options });
    const events = [];
    engine.on("event", (e) => events.push(e));
    const listening = engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
    await engine.ready();
    const { port } = await listening;
    const entry = { engine, events, storage, port, url: `mqtt://127.0.0.1:${port}` };
    engines.push(entry);
    return entry;
  }

  async function pair() {
    const prefix = suite.newPrefix();
    return [await instance(prefix), await instance(prefix), prefix];
  }

  it("a client connected to A gets what is published on B, over MQTT and in-process, at QoS 0 and 1", async function () {
    const [a, b] = await pair();
    const sub = track(await connect(a.url, { clientId: "on-a" }));
    const box = inbox(sub);
    await sub.subscribeAsync(["x/#", "odd[1]/+/y"], { qos: 1 });
    const pub = track(await connect(b.url, { clientId: "on-b" }));
    await pub.publishAsync("x/mqtt", "over MQTT", { qos: 1 });
    await pub.publishAsync("x/zero", "QoS 0", { qos: 0 });
    await pub.publishAsync("odd[1]/z/y", "glob characters in the filter");
    const local = b.engine.createLocalClient();
    await local.publish("x/local", "in-process on B", { qos: 1 });
    for (const [topic, payload] of [["x/mqtt", "over MQTT"], ["x/zero", "QoS 0"], ["odd[1]/z/y", "glob characters in the filter"], ["x/local", "in-process on B"]]) {
      assert.equal((await box.next(topic)).payload, payload);
    }
    await local.close();
  });

  it("a retained message published on A is delivered by B, and by new engines after both stopped", async function () {
    const [a, b, prefix] = await pair();
    const pub = track(await connect(a.url));
    await pub.publishAsync("state/lamp", "on", { qos: 1, retain: true });
    const sub = track(await connect(b.url));
    const box = inbox(sub);
    await sub.subscribeAsync("state/#", { qos: 1 });
    const got = await box.next("state/lamp");
    assert.deepEqual([got.payload, got.retain], ["on", true]);
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await Promise.all(engines.splice(0).map((e) => e.engine.close()));
    const c = await instance(prefix);
    const again = track(await connect(c.url));
    const box2 = inbox(again);
    await again.subscribeAsync("state/+", { qos: 1 });
    assert.equal((await box2.next("state/lamp")).payload, "on");
  });

  it("a persistent session made on A gets the QoS 1 messages published on B while it was away when it comes back on B, MQTT 5 properties included", async function () {
    const [a, b] = await pair();
    const options = { clientId: "sleeper", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } };
    const first = await connect(a.url, options);
    await first.subscribeAsync("queued/#", { qos: 1 });
    await first.endAsync();
    await until(() => !a.engine.clients().some((c) => c.clientId === "sleeper"), 5_000, "the session to be offline");
    const pub = track(await connect(b.url, { protocolVersion: 5 }));
    for (let i = 0; i < 5; i++) {
      await pub.publishAsync(`queued/${i}`, `message ${i}`, { qos: 1, properties: { userProperties: { n: String(i) }, correlationData: Buffer.from([i, 255]) } });
    }
    const received = [];
    const back = track(mqtt.connect(b.url, { ...options, reconnectPeriod: 0 }));
    back.on("message", (topic, payload, packet) => received.push({ topic, payload: payload.toString(), packet }));
    const connack = await waitFor(back, "connect", () => true);
    assert.equal(connack.sessionPresent, true);
    await until(() => received.length >= 5, 5_000, "5 queued messages");
    // In order, oldest first. (QoS 1 is at least once: a message the publisher's PUBACK ran ahead
    // of, queued and also delivered live while the session resumed, may come again afterwards.)
    assert.deepEqual(received.slice(0, 5).map((m) => m.payload), [0, 1, 2, 3, 4].map((i) => `message ${i}`));
    for (const [i, m] of received.slice(0, 5).entries()) {
      assert.deepEqual({ ...m.packet.properties.userProperties }, { n: String(i) });
      assert.deepEqual([...m.packet.properties.correlationData], [i, 255]);
    }
  });

  it("an MQTT 5 session that left A with an expiry and resumed on B is B's: A's expiry timer does not wipe it", async function () {
    const [a, b] = await pair();
    const options = { clientId: "mover", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 1 }, reconnectPeriod: 0 };
    const first = await connect(a.url, options);
    await first.subscribeAsync("moved/#", { qos: 1 });
    await first.endAsync();
    const left = Date.now();
    const onB = track(await connect(b.url, options));
    assert.equal(onB.connected, true);
    // The expiry A armed would have run by now (1 s after the client left A); the property under test is that nothing happened.
    await until(() => Date.now() - left > 1_500, 5_000, "the session expiry interval to pass");
    await onB.endAsync();
    await until(() => !b.engine.clients().some((c) => c.clientId === "mover"), 5_000, "the client off B");
    const pub = track(await connect(a.url));
    await pub.publishAsync("moved/1", "still queued", { qos: 1 });
    const received = [];
    const back = track(mqtt.connect(b.url, { ...options, properties: { sessionExpiryInterval: 60 } }));
    back.on("message", (topic, payload) => received.push(payload.toString()));
    const connack = await waitFor(back, "connect", () => true);
    assert.equal(connack.sessionPresent, true, "the session survived A's timer");
    await until(() => received.includes("still queued"), 5_000, "the message queued for it");
  });

  it("state written through B's device store is what A reads (its replica follows B's writes)", async function () {
    const [a, b] = await pair();
    const onB = b.engine.deviceStores.open("blynk", "dev-9");
    onB.set("ds", "Temp", 22, 1_700_000_000_000);
    await onB.flush();
    await untilEqual(() => a.engine.deviceStores.open("blynk", "dev-9").get("ds", "Temp"), { value: 22, at: 1_700_000_000_000 });
    b.engine.history.append("blynk", "dev-9", "Temp", 1_700_000_000_000, 22);
    await b.engine.history.flush();
    assert.deepEqual(await a.engine.history.query("blynk", "dev-9", "Temp"), [{ ts: 1_700_000_000_000, value: 22 }]);
  });

  it("a hosted device's uplink reaches only the instance it is connected to; a write made on B reaches it on A", async function () {
    const [a, b] = await pair();
    const seenA = [];
    const seenB = [];
    a.engine.addPlugin(toyPlugin(["t0"], seenA));
    b.engine.addPlugin(toyPlugin(["t0"], seenB));
    const device = track(await connect(a.url, { username: "dev", password: "t0", clientId: "device-0" }));
    const box = inbox(device);
    await device.subscribeAsync("cmd/#", { qos: 1 });
    await device.publishAsync("telemetry", "21.5", { qos: 1 });
    await until(() => seenA.length === 1, 5_000, "the uplink on A");
    assert.deepEqual(seenA, [{ deviceId: "d0", topic: "$iot/toy/d0/up/telemetry", payload: "21.5" }]);
    // B's flows write to the device: in-process on B, over Redis to A, to the device.
    const local = b.engine.createLocalClient();
    await local.publish("$iot/toy/d0/down/cmd/led", "1", { qos: 1 });
    assert.equal((await box.next("cmd/led")).payload, "1");
    await local.close();
    assert.deepEqual(seenB, [], "B's plugin never saw the uplink");
  });

  it("when A stops, its client reconnects to B and no QoS 1 message published meanwhile is lost", async function () {
    const [a, b] = await pair();
    const servers = [a, b].map((e) => ({ host: "127.0.0.1", port: e.port }));
    const client = track(mqtt.connect({ servers, clientId: "failover", clean: false, reconnectPeriod: 50, protocolVersion: 4 }));
    const got = new Set();
    client.on("message", (_topic, payload) => got.add(payload.toString()));
    await waitFor(client, "connect", () => true);
    await client.subscribeAsync("feed/#", { qos: 1 });
    const pub = track(await connect(b.url, { clientId: "publisher" }));
    const TOTAL = 200;
    for (let i = 0; i < TOTAL; i++) {
      if (i === 50) {
        // A goes away in the middle of the stream: the client follows its server list to B.
        const closing = a.engine.close();
        engines.splice(engines.indexOf(a), 1);
        await closing;
      }
      await pub.publishAsync(`feed/${i}`, String(i), { qos: 1 });
    }
    await until(() => got.size === TOTAL, 15_000, `all ${TOTAL} messages (got ${got.size})`);
    // On B now (listed once B delivered its queue).
    await until(() => b.engine.clients().some((c) => c.clientId === "failover"), 5_000, "the client on B");
  });

  it("a Redis outage: status and events show it, clients are cut off and refused (server unavailable), nothing crashes; then it recovers by itself", async function () {
    const [a, b] = await pair();
    // What the iot-broker node's status and log follow: the storage's reporter.
    const statuses = [];
    a.storage.report({ failed: (err) => statuses.push({ available: false, error: err.message }), recovered: () => statuses.push({ available: true }), badRow: () => undefined });
    // As devices do: it keeps trying while the broker refuses it.
    const sub = track(mqtt.connect(a.url, { clientId: "through-outage", clean: false, reconnectPeriod: 100, reconnectOnConnackError: true }));
    await waitFor(sub, "connect", () => true);
    await sub.subscribeAsync("after/#", { qos: 1 });
    const cutOff = waitFor(sub, "close", () => true, 10_000);
    await suite.redis().stop();
    await until(() => a.events.some((e) => e.event === "store-unavailable"), 10_000, "store-unavailable on A");
    await cutOff;
    const refused = await connectRefused(b.url, { clientId: "newcomer" });
    assert.equal(refused.code, 3);
    assert.equal(statuses[0].available, false);
    assert.match(statuses[0].error, new RegExp(`^${suite.redis().url}: `), "the failure names the server");
    assert.equal(statuses.filter((s) => !s.available).length, 1, "reported once per outage");
    assert.equal(a.storage.failure().code, "unavailable");
    const down = a.events.find((e) => e.event === "store-unavailable");
    assert.equal(down.store, "redis");
    assert.equal(down.where, suite.redis().url);
    await suite.redis().start();
    await until(() => a.events.some((e) => e.event === "store-available") && b.events.some((e) => e.event === "store-available"), 20_000, "store-available on both");
    assert.deepEqual(statuses.at(-1), { available: true });
    assert.equal(a.storage.failure(), undefined);
    await until(() => sub.connected, 10_000, "the client back on A");
    const box = inbox(sub);
    const pub = track(await connect(b.url));
    await pub.publishAsync("after/1", "flows again", { qos: 1 });
    assert.equal((await box.next("after/1")).payload, "flows again");
  });

  it("an engine started while Redis is down waits, says so, and starts once it is up; one closed while Redis is down closes", async function () {
    const prefix = suite.newPrefix();
    await suite.redis().stop();
    const engine = new BrokerEngine({ id: engineId(), ...engineStorageOptions(suite.storage({ prefix })) });
    const events = [];
    engine.on("event", (e) => events.push(e));
    let ready = false;
    const starting = engine.ready().then(() => (ready = true));
    await until(() => events.some((e) => e.event === "store-unavailable"), 10_000, "store-unavailable while starting");
    assert.equal(ready, false);
    await suite.redis().start();
    await starting;
    await engine.close();

    await suite.redis().stop();
    const other = new BrokerEngine({ id: engineId(), ...engineStorageOptions(suite.storage({ prefix })) });
    other.ready().catch(() => undefined);
    await other.close();
    await assert.rejects(other.ready());
  });
});
