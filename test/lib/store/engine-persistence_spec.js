"use strict";
// The broker engine on the SQLite aedes persistence, through the session-store seam it has today
// (broker/session-store.ts): the engine's own session and QoS guards wrap it as they wrap the
// memory persistence, and sessions, queued QoS 1 messages and retained messages come back after
// the engine, the store and the file are closed and opened again (what issue 10 wires into the
// iot-broker node).
const assert = require("node:assert/strict");
const path = require("node:path");
const mqtt = require("mqtt");
const { BrokerEngine, SessionStore } = require("../../../dist/nodes/lib/broker/index.js");
const { connect } = require("../fixtures/engine.js");
const { until, waitFor } = require("../../support/wait.js");
const { tempDir, removeTempDirs, opener } = require("./fixtures.js");

const ID = "durable-test";

/** A session store that hands the file's aedes persistence to the first engine, counting on from its queued messages. */
async function sessionsOn(store) {
  const sessions = new SessionStore();
  const lease = await sessions.lease();
  lease.end(store.mqtt, store.mqtt.highestCounter(ID));
  return sessions;
}

async function engineOn(sessions, port = 0) {
  const engine = new BrokerEngine({ id: ID, allowAnonymous: true, sessions });
  const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port });
  await engine.ready();
  return { engine, port: info.port, url: `mqtt://127.0.0.1:${info.port}` };
}

describe("broker engine on the SQLite aedes persistence", function () {
  this.timeout(20_000);
  const stores = opener();
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    stores.closeAll();
    removeTempDirs();
  });

  it("resumes sessions, queued QoS 1 messages and retained messages from the file after a restart", async function () {
    const file = path.join(tempDir(), "iot-bridge", "broker.db");
    let store = stores.open(file);
    const first = await engineOn(await sessionsOn(store));
    cleanups.push(() => first.engine.close());
    const sub = await connect(first.url, { clientId: "keeper", clean: false });
    await sub.subscribeAsync("q/#", { qos: 1 });
    await sub.endAsync();
    const pub = await connect(first.url, { clientId: "feeder" });
    for (const n of [1, 2, 3]) await pub.publishAsync("q/x", `m${n}`, { qos: 1 });
    await pub.publishAsync("r/x", "retained", { qos: 1, retain: true });
    await pub.endAsync(true);
    await first.engine.close();
    store.close();

    store = stores.open(file);
    const second = await engineOn(await sessionsOn(store), first.port);
    cleanups.push(() => second.engine.close());
    const back = mqtt.connect(second.url, { clientId: "keeper", clean: false, reconnectPeriod: 0 });
    cleanups.push(() => back.endAsync(true));
    const got = [];
    back.on("message", (_topic, payload) => got.push(payload.toString()));
    assert.equal((await waitFor(back, "connect")).sessionPresent, true);
    await until(() => got.length >= 3, 5000, "the queued messages");
    assert.deepEqual(got, ["m1", "m2", "m3"]);
    // Delivered and acknowledged: gone from the file too, once the broker had the PUBACKs.
    const count = store.file.prepare("SELECT count(*) AS n FROM mqtt_outgoing");
    const queued = () => count.get().n;
    await until(() => queued() === 0 && store.commit.pending === 0, 5000, "the acknowledged messages to leave the file");
    const reader = await connect(second.url, { clientId: "reader" });
    cleanups.push(() => reader.endAsync(true));
    const retained = waitFor(reader, "message");
    await reader.subscribeAsync("r/#");
    assert.equal((await retained)[1].toString(), "retained");
  });

  it("a clean session ends the stored one: nothing of it comes back after a restart", async function () {
    const file = path.join(tempDir(), "broker.db");
    let store = stores.open(file);
    const first = await engineOn(await sessionsOn(store));
    cleanups.push(() => first.engine.close());
    const sub = await connect(first.url, { clientId: "keeper", clean: false });
    await sub.subscribeAsync("q/#", { qos: 1 });
    await sub.endAsync();
    const again = await connect(first.url, { clientId: "keeper", clean: true });
    await again.endAsync();
    await first.engine.close();
    store.close();

    store = stores.open(file);
    assert.equal(store.file.prepare("SELECT count(*) AS n FROM mqtt_subscription").get().n, 0);
    const second = await engineOn(await sessionsOn(store), first.port);
    cleanups.push(() => second.engine.close());
    const back = await connect(second.url, { clientId: "keeper", clean: false });
    cleanups.push(() => back.endAsync(true));
    assert.equal(back.connackPacket?.sessionPresent ?? false, false);
  });
});
