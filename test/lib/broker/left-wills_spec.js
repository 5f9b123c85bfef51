"use strict";
// Wills across engines (broker/left-wills.ts): a will the previous engine of a broker node left
// in its storage (a redeploy closed it while a delayed will waited), or that the process before
// a restart left (kill -9 with the client connected), is published by the next engine: at once,
// or after its MQTT 5 Will Delay Interval, unless its client connects again first. Will topics
// are mapped into the client's namespace at CONNECT, so a restored will cannot leave it.
const assert = require("node:assert/strict");
const path = require("node:path");
const { fork } = require("node:child_process");
const mqtt = require("mqtt");
const { BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");
const { engineStorageOptions, memoryStorage } = require("../../../dist/nodes/lib/broker/broker-storage.js");
const { openSqliteStorage } = require("../../../dist/nodes/lib/store/index.js");
const { inbox } = require("../fixtures/engine.js");
const { freePort } = require("../fixtures/ports.js");
const { waitFor } = require("../../support/wait.js");
const { tempDir, removeTempDirs } = require("../store/fixtures.js");

const CHILD = path.join(__dirname, "..", "store", "engine-child.js");
const WATCHER = { username: "watcher", password: "watcher-password", publish: [], subscribe: ["#"] };
const SENSOR = { username: "sensor", password: "sensor-password", publish: ["status/#"], subscribe: [] };

describe("broker: wills left by an engine that is gone", function () {
  this.timeout(30_000);
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    removeTempDirs();
  });

  /** An engine on `storage` listening on `port`; its events collected. Resolves once listening (aedes may still be starting). */
  async function engineOn(storage, port) {
    const engine = new BrokerEngine({ users: [WATCHER, SENSOR], authThrottle: false, ...engineStorageOptions(storage) });
    const events = [];
    engine.on("event", (e) => events.push(e));
    cleanups.push(() => engine.close());
    await engine.listen({ kind: "tcp", host: "127.0.0.1", port });
    return { engine, events, url: `mqtt://127.0.0.1:${port}` };
  }

  function client(url, options) {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    c.on("error", () => undefined);
    cleanups.push(() => c.endAsync(true));
    return c;
  }

  async function watch(url) {
    const watcher = client(url, { ...WATCHER, clientId: "watcher" });
    await waitFor(watcher, "connect");
    const box = inbox(watcher);
    await watcher.subscribeAsync("#", { qos: 1 });
    return box;
  }

  it("a redeploy: the next engine publishes the delayed will the closed one was waiting for; a client that came back cancels its own; a will on a topic its client may not publish to was dropped at CONNECT", async function () {
    const storage = memoryStorage();
    const port = await freePort();
    const first = await engineOn(storage, port);
    await first.engine.ready();
    const will = (name, delay) => ({ topic: `status/${name}`, payload: Buffer.from(`${name} gone`), qos: 1, retain: true, properties: { willDelayInterval: delay } });
    // `returning` reconnects by itself as soon as the next engine listens; `gone` never comes back.
    const returning = client(first.url, { ...SENSOR, clientId: "returning", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, will: will("returning", 1), reconnectPeriod: 50 });
    const gone = client(first.url, { ...SENSOR, clientId: "gone", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, will: will("gone", 2) });
    // A restored will has no client to check it against: its topic is checked (and mapped) at CONNECT.
    const rogue = client(first.url, { ...SENSOR, clientId: "rogue", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, will: { topic: "alarm/door", payload: Buffer.from("open"), qos: 1, retain: true, properties: { willDelayInterval: 1 } } });
    await Promise.all([waitFor(returning, "connect"), waitFor(gone, "connect"), waitFor(rogue, "connect")]);
    assert.ok(first.events.some((e) => e.event === "publish-refused" && e.clientId === "rogue" && e.topic === "alarm/door"), JSON.stringify(first.events));

    await first.engine.close(); // the listener drops both connections; aedes closes before their wills are due
    const second = await engineOn(storage, port);
    await waitFor(returning, "connect", () => true, 10_000);
    const box = await watch(second.url);
    const published = await box.next("status/gone", 10_000);
    assert.equal(published.payload, "gone gone");
    // All were due on the same start; the returning and the rogue client's (1 s) would have come before this one (2 s).
    assert.deepEqual(box.messages.map((m) => m.topic), ["status/gone"], "the client that came back cancelled its will, the rogue one had none");
  });

  it("kill -9: the will of a client connected when the process died is published as soon as the broker is back on its file", async function () {
    const file = path.join(tempDir(), "broker.sqlite");
    const port = await freePort();
    const child = fork(CHILD, [file, "engine", String(port)], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    await waitFor(child, "message", (m) => m.port !== undefined, 15_000);
    const url = `mqtt://127.0.0.1:${port}`;
    const mortal = client(url, { clientId: "mortal", clean: false, will: { topic: "status/mortal", payload: Buffer.from("lost"), qos: 1, retain: true } });
    await waitFor(mortal, "connect");
    const exited = waitFor(child, "exit", () => true, 10_000);
    child.kill("SIGKILL");
    await exited;

    const storage = openSqliteStorage({ kind: "sqlite", file, retentionDays: 0 });
    cleanups.push(async () => storage.close());
    const second = await engineOn(storage, port);
    await second.engine.ready();
    // Not 4 heartbeat intervals (4 minutes) later, as aedes' own sweep would: the retained will is there for a new subscriber.
    const box = await watch(second.url);
    assert.equal((await box.next("status/mortal", 5_000)).payload, "lost");
  });
});
