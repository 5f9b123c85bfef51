"use strict";
// SqliteAedesPersistence: aedes-persistence's own contract (its abstract suite, every case on a
// fresh SQLite file), then what survives a restart of the broker on the same file: retained
// messages, clean:false sessions with their subscriptions and queued QoS 1 messages, wills.
const assert = require("node:assert");
const path = require("node:path");
const { fork } = require("node:child_process");
const mqtt = require("mqtt");
const abstractPersistence = require("aedes-persistence/abstract.js");
const { waitFor, until } = require("../../support/wait.js");
const { store, tempDir, removeTempDirs, opener } = require("./fixtures.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");

const { SqliteAedesPersistence } = store;
const CHILD = path.join(__dirname, "store-child.js");

/** node:test's `t`, as the abstract suite uses it (plan and diagnostics are not needed under mocha). */
const T = { plan() {}, diagnostic() {}, assert };

describe("SqliteAedesPersistence: aedes-persistence's abstract suite", function () {
  const stores = opener();
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });
  abstractPersistence({
    test: (name, fn) => it(name, () => fn(T)),
    persistence: () => new SqliteAedesPersistence(stores.open(path.join(tempDir(), "mqtt.db")).commit),
    testAsync: true,
  });
});

describe("SqliteAedesPersistence across broker restarts", function () {
  this.timeout(20_000);
  const stores = opener();
  const clients = [];
  const children = [];
  let broker;
  afterEach(async function () {
    for (const c of clients.splice(0)) c.end(true);
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await broker?.close();
    broker = undefined;
    stores.closeAll();
    removeTempDirs();
  });

  /** A bare aedes on `file` with a fixed id, counting on from the queued messages. */
  async function start(file, extra = {}) {
    const s = stores.open(file);
    const persistence = s.mqtt;
    const b = await startBareBroker({ id: "broker-under-test", persistence, ...extra });
    b.aedes.counter = Math.max(b.aedes.counter, persistence.highestCounter("broker-under-test"));
    return { ...b, store: s, persistence, close: async () => (await b.close(), s.close()) };
  }

  async function connect(url, options) {
    const client = mqtt.connect(url, { reconnectPeriod: 0, ...options });
    clients.push(client);
    await waitFor(client, "connect", () => true, 5_000);
    return client;
  }

  it("keeps retained messages, sessions, their subscriptions and queued QoS 1 messages (MQTT 5 properties too)", async function () {
    const file = path.join(tempDir(), "mqtt.db");
    broker = await start(file);
    const sub = await connect(broker.url, { clientId: "sleeper", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await sub.subscribeAsync("queued/#", { qos: 1 });
    sub.end(true);
    await waitFor(broker.aedes, "clientDisconnect", () => true, 5_000);
    const pub = await connect(broker.url, { clientId: "publisher", protocolVersion: 5 });
    await pub.publishAsync("state/retained", "kept", { qos: 1, retain: true });
    for (let i = 0; i < 5; i++) {
      // publishAsync at QoS 1 resolves on PUBACK: the broker acknowledged it.
      await pub.publishAsync(`queued/${i}`, `message ${i}`, { qos: 1, properties: { userProperties: { n: String(i) }, correlationData: Buffer.from([i, 255]) } });
    }
    pub.end(true);
    await broker.close();

    broker = await start(file);
    const back = mqtt.connect(broker.url, { clientId: "sleeper", clean: false, reconnectPeriod: 0, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    clients.push(back);
    const got = [];
    const all = new Promise((resolve) => {
      back.on("message", (topic, payload, packet) => {
        got.push([topic, payload.toString(), packet.properties?.userProperties?.n, [...(packet.properties?.correlationData ?? [])]]);
        if (got.length === 5) resolve();
      });
    });
    const connack = await waitFor(back, "connect", () => true, 5_000);
    assert.equal(connack.sessionPresent, true, "the session survived the restart");
    await all;
    assert.deepEqual(
      got,
      [0, 1, 2, 3, 4].map((i) => [`queued/${i}`, `message ${i}`, String(i), [i, 255]]),
    );
    const reader = await connect(broker.url, { clientId: "reader" });
    const retained = waitFor(reader, "message", () => true, 5_000);
    await reader.subscribeAsync("state/#", { qos: 1 });
    const [topic, payload, packet] = await retained;
    assert.deepEqual([topic, payload.toString(), packet.retain], ["state/retained", "kept", true]);
  });

  /** A broker in a child process on `file` (store-child.js "broker"); resolves with the child and its url. */
  async function childBroker(file) {
    const child = fork(CHILD, [file, "broker"], { stdio: "ignore" });
    children.push(child);
    const [msg] = await waitFor(child, "message", (m) => m.port !== undefined, 10_000);
    return { child, url: `mqtt://127.0.0.1:${msg.port}` };
  }

  async function kill9(child) {
    const exited = waitFor(child, "exit", () => true, 10_000);
    child.kill("SIGKILL");
    await exited;
  }

  // At QoS 2 aedes stores a message (inbound, then queued for offline sessions) before its PUBREC,
  // so an acknowledged message is durable. At QoS 1 aedes 2.0.0-beta.1 writes the PUBACK before it
  // publishes (lib/handlers/publish.js, enqueuePublish): the broker engine must delay that PUBACK
  // until the publish completed for QoS 1 to give the same promise (issue 10's wiring).
  it("kill -9 of the broker's process loses no message it acknowledged (QoS 2) for an offline session", async function () {
    const file = path.join(tempDir(), "mqtt.db");
    const first = await childBroker(file);
    const sub = await connect(first.url, { clientId: "sleeper", clean: false });
    await sub.subscribeAsync("burst/#", { qos: 1 });
    sub.end(true);
    const pub = await connect(first.url, { clientId: "publisher" });
    let acked = 0;
    // Publishes without pause; the kill lands right after the 50th completed exchange, with later ones in flight.
    await new Promise((resolve) => {
      for (let i = 0; i < 200; i++) {
        pub.publish(`burst/${i}`, String(i), { qos: 2 }, (err) => {
          if (err) return;
          if (++acked === 50) {
            first.child.kill("SIGKILL");
            resolve();
          }
        });
      }
    });
    const acknowledged = acked;
    pub.end(true);
    await waitFor(first.child, "exit", () => true, 10_000).catch(() => undefined);

    broker = await start(file);
    const back = mqtt.connect(broker.url, { clientId: "sleeper", clean: false, reconnectPeriod: 0 });
    clients.push(back);
    const got = new Set();
    back.on("message", (_topic, payload) => got.add(Number(payload)));
    await waitFor(back, "connect", () => true, 5_000);
    await until(() => got.size >= acknowledged, 10_000, `${acknowledged} acknowledged messages (got ${got.size})`);
    for (let i = 0; i < acknowledged; i++) assert.ok(got.has(i), `message ${i} was acknowledged but is lost`);
  });

  it("publishes the will of a client whose broker process was killed, once the broker is back", async function () {
    const file = path.join(tempDir(), "mqtt.db");
    const first = await childBroker(file);
    await connect(first.url, { clientId: "mortal", will: { topic: "wills/mortal", payload: Buffer.from("gone"), qos: 1, retain: true } });
    await kill9(first.child);

    broker = await start(file, { heartbeatInterval: 50 });
    const watcher = await connect(broker.url, { clientId: "watcher" });
    const will = waitFor(watcher, "message", (topic) => topic === "wills/mortal", 10_000);
    await watcher.subscribeAsync("wills/#", { qos: 1 });
    const [, payload] = await will;
    assert.equal(payload.toString(), "gone");
  });

  it("continues the broker's message counter past the queued messages", async function () {
    const file = path.join(tempDir(), "mqtt.db");
    broker = await start(file);
    const sub = await connect(broker.url, { clientId: "sleeper", clean: false });
    await sub.subscribeAsync("q", { qos: 1 });
    sub.end(true);
    await waitFor(broker.aedes, "clientDisconnect", () => true, 5_000);
    const pub = await connect(broker.url, { clientId: "pub" });
    for (let i = 0; i < 3; i++) await pub.publishAsync("q", String(i), { qos: 1 });
    const counter = broker.aedes.counter;
    await broker.close();
    broker = await start(file);
    assert.ok(broker.aedes.counter >= counter - 1, `${broker.aedes.counter} < ${counter - 1}`);
    assert.ok(broker.persistence.highestCounter("broker-under-test") >= 3);
  });
});
