"use strict";
// The session store seam: a new engine on the store of a closed one resumes its sessions,
// queued QoS 1 messages and retained messages; without a store they end with the engine.
const assert = require("node:assert/strict");
const mqtt = require("mqtt");
const { BrokerEngine, SessionStore } = require("../../../dist/nodes/lib/broker/index.js");
const { connect } = require("../fixtures/engine.js");
const { rawClient } = require("../fixtures/raw-mqtt.js");
const { until, waitFor } = require("../../support/wait.js");

async function engineOn(sessions, port = 0, options = {}) {
  const engine = new BrokerEngine({ id: "store-test", allowAnonymous: true, ...options, ...(sessions ? { sessions } : {}) });
  const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port });
  await engine.ready();
  return { engine, port: info.port, url: `mqtt://127.0.0.1:${info.port}` };
}

describe("broker session store", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function queueForOfflineSubscriber(sessions) {
    const first = await engineOn(sessions);
    cleanups.push(() => first.engine.close());
    const sub = await connect(first.url, { clientId: "keeper", clean: false });
    await sub.subscribeAsync("q/#", { qos: 1 });
    await sub.endAsync();
    const pub = await connect(first.url, { clientId: "feeder" });
    for (const n of [1, 2, 3]) await pub.publishAsync("q/x", `m${n}`, { qos: 1 });
    await pub.publishAsync("r/x", "retained", { qos: 1, retain: true });
    await pub.endAsync(true);
    const port = first.port;
    await first.engine.close();
    return port;
  }

  it("hands sessions, queued QoS 1 messages and retained messages to the next engine", async function () {
    const sessions = new SessionStore();
    const port = await queueForOfflineSubscriber(sessions);
    const second = await engineOn(sessions, port);
    cleanups.push(() => second.engine.close());
    // Listening before CONNACK: the queued messages follow it at once.
    const sub = mqtt.connect(second.url, { clientId: "keeper", clean: false, reconnectPeriod: 0 });
    cleanups.push(() => sub.endAsync(true));
    const got = [];
    sub.on("message", (topic, payload) => got.push(payload.toString()));
    assert.equal((await waitFor(sub, "connect")).sessionPresent, true);
    await until(() => got.length >= 3, 5000, "the queued messages");
    assert.deepEqual(got, ["m1", "m2", "m3"]);
    const reader = await connect(second.url, { clientId: "reader" });
    cleanups.push(() => reader.endAsync(true));
    const retained = waitFor(reader, "message");
    await reader.subscribeAsync("r/#");
    assert.equal((await retained)[1].toString(), "retained");
  });

  it("loses them without a store (what every redeploy did before)", async function () {
    const port = await queueForOfflineSubscriber(undefined);
    const second = await engineOn(undefined, port);
    cleanups.push(() => second.engine.close());
    const sub = await connect(second.url, { clientId: "keeper", clean: false });
    cleanups.push(() => sub.endAsync(true));
    assert.equal(sub.connackPacket?.sessionPresent ?? false, false);
  });

  it("starts the next engine only once the previous one on the store has closed", async function () {
    const sessions = new SessionStore();
    const first = await engineOn(sessions);
    const second = new BrokerEngine({ id: "store-test", sessions });
    cleanups.push(() => second.close(), () => first.engine.close());
    let secondReady = false;
    const ready = second.ready().then(() => { secondReady = true; });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(secondReady, false, "waits for the first engine");
    await first.engine.close();
    await ready;
  });

  it("takes a closed engine's limits off the store: the next engine's own maxInflightQos2 applies, and the old engine is not kept", async function () {
    const sessions = new SessionStore();
    // The persistence the first engine leaves behind, as its lease hands it back.
    let persistence;
    const lease = sessions.lease.bind(sessions);
    sessions.lease = async () => {
      const held = await lease();
      return { ...held, end: (p, counter) => { persistence ??= p; held.end(p, counter); } };
    };
    const first = await engineOn(sessions, 0, { maxInflightQos2: 2 });
    await first.engine.close();
    assert.ok(persistence, "the first engine handed its persistence back");
    for (const name of ["incomingStorePacket", "incomingDelPacket"]) {
      assert.equal(Object.hasOwn(persistence, name), false, `${name} is the store's own method again (no wrapper holding the closed engine)`);
    }
    const second = await engineOn(sessions, 0, { maxInflightQos2: 100 });
    cleanups.push(() => second.engine.close());
    const raw = await rawClient(second.port);
    cleanups.push(() => raw.end());
    await raw.login({ clientId: "holder" });
    for (const messageId of [1, 2, 3]) raw.send({ cmd: "publish", topic: "q2", payload: Buffer.from(`m${messageId}`), qos: 2, messageId, retain: false, dup: false });
    await until(() => raw.packets.filter((p) => p.cmd === "pubrec").length === 3 || raw.socket.destroyed, 5000, "three PUBRECs");
    assert.ok(!raw.socket.destroyed, "a third message held under a limit of 100 is accepted");
  });
});
