"use strict";
const assert = require("node:assert/strict");
const { BrokerEngine, BrokerPubSub, BrokerRegistry, acquirePlugin } = require("../../../dist/nodes/lib/broker/index.js");
const { connect, inbox } = require("../fixtures/engine.js");
const { waitFor, until } = require("../../support/wait.js");

async function engineWithListener() {
  const engine = await BrokerEngine.create({ allowAnonymous: true });
  const { port } = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
  return { engine, url: `mqtt://127.0.0.1:${port}` };
}

describe("BrokerPubSub (local mode across broker restarts)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length) await cleanups.pop()();
  });

  it("queues while no broker runs, then restores subscriptions and flushes in order on every engine", async function () {
    const registry = new BrokerRegistry();
    const engines = [];
    const pubsub = new BrokerPubSub(registry, "b1", {
      onEngine: (engine) => {
        engines.push(engine);
        return () => engines.splice(engines.indexOf(engine), 1);
      },
    });
    cleanups.push(() => pubsub.close());
    assert.equal(pubsub.status.state, "disconnected");
    const got = [];
    await pubsub.subscribe("$iot/test/+/up/#", (m) => got.push(m.payload.toString()));
    await pubsub.publish("plain/1", "queued-1");
    await pubsub.publish("plain/2", "queued-2");
    assert.equal(pubsub.status.queued, 2);

    const first = await engineWithListener();
    cleanups.push(() => first.engine.close());
    const watcher = await connect(first.url);
    cleanups.push(() => watcher.endAsync(true));
    const box = inbox(watcher);
    await watcher.subscribeAsync("plain/#");
    const connected = waitFor(pubsub, "status", (s) => s.state === "connected");
    registry.attach("b1", first.engine);
    await connected;
    await box.next("plain/2");
    assert.deepEqual(box.messages.map((m) => m.payload), ["queued-1", "queued-2"]);
    assert.deepEqual(engines, [first.engine]);

    const local = first.engine.createLocalClient();
    await local.publish("$iot/test/1/up/ds/x", "from-engine-1");
    await until(() => got.length === 1, 5000, "delivery on the first engine");

    const stopped = waitFor(pubsub, "status", (s) => s.state === "disconnected");
    registry.detach("b1", first.engine);
    await first.engine.close();
    await stopped;
    assert.deepEqual(engines, []);

    const second = await engineWithListener();
    cleanups.push(() => second.engine.close());
    const again = waitFor(pubsub, "status", (s) => s.state === "connected");
    registry.attach("b1", second.engine);
    await again;
    await second.engine.createLocalClient().publish("$iot/test/2/up/ds/x", "from-engine-2");
    await until(() => got.length === 2, 5000, "delivery on the second engine");
    assert.deepEqual(got, ["from-engine-1", "from-engine-2"]);
  });

  it("keeps the order of queued publishes and those made while it resumes on a new engine", async function () {
    const registry = new BrokerRegistry();
    const pubsub = new BrokerPubSub(registry, "b1");
    cleanups.push(() => pubsub.close());
    // A held subscription makes resuming take a few turns (subscribe, retained replay).
    await pubsub.subscribe("answers/#", () => undefined);
    await pubsub.publish("plain/v", "queued");
    const { engine } = await engineWithListener();
    cleanups.push(() => engine.close());
    const seen = [];
    await engine.createLocalClient().subscribe("plain/#", (m) => seen.push(m.payload.toString()));
    registry.attach("b1", engine);
    await pubsub.publish("plain/v", "after the restart");
    await until(() => seen.length === 2, 5000, "both publishes");
    assert.deepEqual(seen, ["queued", "after the restart"]);
  });

  it("does not restore a subscription that was ended while it resumes on a new engine", async function () {
    const registry = new BrokerRegistry();
    const pubsub = new BrokerPubSub(registry, "b1");
    cleanups.push(() => pubsub.close());
    const ended = [];
    const kept = [];
    const sub = await pubsub.subscribe("t/ended", (m) => ended.push(m.payload.toString()));
    await pubsub.subscribe("t/kept", (m) => kept.push(m.payload.toString()));
    const { engine } = await engineWithListener();
    cleanups.push(() => engine.close());
    const connected = waitFor(pubsub, "status", (s) => s.state === "connected");
    registry.attach("b1", engine);
    await sub.unsubscribe();
    await connected;
    const local = engine.createLocalClient();
    await local.publish("t/ended", "1");
    await local.publish("t/kept", "2");
    await until(() => kept.length === 1, 5000, "delivery to the kept subscription");
    assert.deepEqual(ended, []);
  });

  it("unsubscribes, refuses bad input and stops using the broker once closed", async function () {
    const registry = new BrokerRegistry();
    const { engine } = await engineWithListener();
    cleanups.push(() => engine.close());
    registry.attach("b1", engine);
    let cleaned = 0;
    const pubsub = new BrokerPubSub(registry, "b1", { maxPayloadBytes: 4, onEngine: () => () => cleaned++ });
    const got = [];
    const sub = await pubsub.subscribe("t", (m) => got.push(m.payload.toString()));
    await pubsub.publish("t", "1");
    await until(() => got.length === 1, 5000, "the first message");
    await sub.unsubscribe();
    await assert.rejects(pubsub.publish("t", "12345"), /5 bytes; the limit is 4/);
    await assert.rejects(pubsub.publish("t/#", "1"), /wildcards/);
    await pubsub.close();
    assert.equal(cleaned, 1);
    assert.equal(pubsub.status.state, "closed");
    await assert.rejects(pubsub.publish("t", "2"), (err) => err.code === "closed");
    assert.deepEqual(got, ["1"]);
  });
});

describe("acquirePlugin", function () {
  it("plugs one plugin in per engine and name, and takes it out when the last user releases it", async function () {
    const engine = await BrokerEngine.create({});
    try {
      let created = 0;
      const make = () => (created++, { name: "demo", authenticate: () => undefined });
      const a = acquirePlugin(engine, "demo", make);
      const b = acquirePlugin(engine, "demo", make);
      assert.equal(a.plugin, b.plugin);
      assert.equal(created, 1);
      a.release();
      a.release();
      assert.throws(() => engine.addPlugin({ name: "demo", authenticate: () => undefined }), /already registered/);
      b.release();
      const remove = engine.addPlugin({ name: "demo", authenticate: () => undefined });
      remove();
      assert.throws(() => acquirePlugin(engine, "other", make), /named "demo"/);
    } finally {
      await engine.close();
    }
  });
});
