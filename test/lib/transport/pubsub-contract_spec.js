"use strict";
// One behavioural contract, every implementation: the remote links are written against PubSub,
// so the remote MQTT session (alone or pooled) and the broker's in-process client must behave
// the same. Local-mode links use the hosted-device handle instead (test/lib/broker/hosted-device_spec.js).
const assert = require("node:assert/strict");
const { MqttSession } = require("../../../dist/nodes/lib/transport/mqtt-session.js");
const { MqttSessionPool } = require("../../../dist/nodes/lib/transport/mqtt-pool.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");
const { startEngine } = require("../fixtures/engine.js");
const { waitFor, until } = require("../../support/wait.js");

const implementations = {
  "MqttSession (over TCP to the broker engine)": async (ctx) => {
    const session = new MqttSession({ url: ctx.url, maxPayloadBytes: 16, reconnect: { initialMs: 10, maxMs: 50 } });
    const connected = waitFor(session, "status", (s) => s.state === "connected");
    session.start();
    await connected;
    return session;
  },
  "SharedMqttSession (a pooled MqttSession's second user)": async (ctx) => {
    const pool = new MqttSessionPool();
    const options = { url: ctx.url, clientId: "pooled", maxPayloadBytes: 16, reconnect: { initialMs: 10, maxMs: 50 } };
    const first = pool.acquire(options);
    const share = pool.acquire(options);
    const connected = waitFor(share, "status", (s) => s.state === "connected");
    first.start();
    share.start();
    await connected;
    // The first user leaves at once: the share under test is then the session's only user.
    await first.close();
    return share;
  },
  "LocalClient (in-process)": async (ctx) => ctx.engine.createLocalClient({ maxPayloadBytes: 16 }),
};

for (const [name, create] of Object.entries(implementations)) {
  describe(`PubSub contract: ${name}`, function () {
    let ctx;
    let pubsub;
    beforeEach(async function () {
      ctx = await startEngine({ allowAnonymous: true });
      pubsub = await create(ctx);
    });
    afterEach(async function () {
      await pubsub.close();
      await ctx.engine.close();
    });

    it("is connected and routes its own publishes to matching subscriptions only", async function () {
      assert.equal(pubsub.status.state, "connected");
      assert.equal(pubsub.maxPayloadBytes, 16);
      const got = [];
      await pubsub.subscribe("room/+/temp", (m) => got.push([m.topic, m.payload.toString()]));
      await pubsub.publish("room/a/hum", "50");
      await pubsub.publish("room/a/temp", "21", { qos: 1 });
      await until(() => got.length === 1, 5000, "the matching message");
      await pubsub.publish("room/b/temp", Buffer.from("22"));
      await until(() => got.length === 2, 5000, "the second message");
      assert.deepEqual(got, [["room/a/temp", "21"], ["room/b/temp", "22"]]);
    });

    it("stops delivering after unsubscribe, while other subscriptions go on", async function () {
      const a = [];
      const b = [];
      const subA = await pubsub.subscribe("x/#", (m) => a.push(m.topic));
      await pubsub.subscribe("x/#", (m) => b.push(m.topic));
      await subA.unsubscribe();
      await pubsub.publish("x/1", "v");
      await until(() => b.length === 1, 5000, "delivery to the remaining handler");
      assert.deepEqual(a, []);
    });

    it("refuses oversize payloads and invalid topics or filters with a TransportError", async function () {
      await assert.rejects(pubsub.publish("t", "x".repeat(17)), (err) => err instanceof TransportError && err.code === "too-large" && /17 bytes/.test(err.message));
      await assert.rejects(pubsub.publish("t/+", "x"), (err) => err instanceof TransportError && err.code === "invalid");
      await assert.rejects(pubsub.subscribe("a/#/b", () => undefined), (err) => err instanceof TransportError && err.code === "invalid");
    });

    it("delivers a retained message to a later subscription, flagged retained", async function () {
      await pubsub.publish("kept/state", "on", { qos: 1, retain: true });
      const got = [];
      await pubsub.subscribe("kept/#", (m) => got.push({ topic: m.topic, payload: m.payload.toString(), retain: m.retain }));
      await until(() => got.length === 1, 5000, "the retained message");
      assert.deepEqual(got, [{ topic: "kept/state", payload: "on", retain: true }]);
    });

    it("reports a throwing handler as a warning and keeps delivering", async function () {
      const warned = waitFor(pubsub, "warning");
      const got = [];
      await pubsub.subscribe("w", () => {
        throw new Error("handler bug");
      });
      await pubsub.subscribe("w", (m) => got.push(m.payload.toString()));
      await pubsub.publish("w", "1");
      assert.match(await warned, /handler bug/);
      await until(() => got.length === 1, 5000, "delivery to the healthy handler");
    });

    it("reports closed and refuses work after close()", async function () {
      const closed = waitFor(pubsub, "status", (s) => s.state === "closed");
      await pubsub.close();
      await closed;
      assert.equal(pubsub.status.state, "closed");
      await assert.rejects(pubsub.publish("t", "x"), (err) => err instanceof TransportError && err.code === "closed");
      await assert.rejects(pubsub.subscribe("t", () => undefined), (err) => err instanceof TransportError && err.code === "closed");
    });
  });
}
