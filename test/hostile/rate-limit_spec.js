"use strict";
// Device flooding: per-connection publish limits on the broker. Driven by counts (publish until
// the expected event arrives, with a cap), never by timing.
const assert = require("node:assert/strict");
const { PublishLimiter, FLOOD_FACTOR } = require("../../dist/nodes/lib/broker/publish-limit.js");
const { parseBrokerNode } = require("../../dist/nodes/lib/broker/node-config.js");
const { startEngine, connect, inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const blynk = require("../lib/blynk/fixtures.js");
const { hostedTopics } = require("../../dist/nodes/lib/blynk/emulation.js");
const tb = require("../lib/thingsboard/fixtures.js");

const A = { id: "a1b2c3d4e5f60718", token: blynk.TOKENS.alpha, name: "Flooder" };
const B = { id: "b1b2c3d4e5f60718", token: blynk.TOKENS.beta, name: "Neighbour" };

/** Publishes QoS 0 messages in batches until `done()` holds or the client closes; at most `cap`. */
async function publishUntil(client, topic, done, cap = 50000) {
  let sent = 0;
  while (sent < cap && !done() && client.connected) {
    for (let i = 0; i < 100; i++) client.publish(topic, String(sent++));
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(done(), `the expected event did not come after ${sent} publishes`);
  return sent;
}

describe("hostile: device flooding", function () {
  this.timeout(20000);
  let ctx;
  afterEach(async function () {
    await ctx?.cleanup();
    ctx = undefined;
  });

  it("drops a hosted device's publishes over its limit (rate-limited), disconnects it when it keeps flooding; its neighbour is unaffected", async function () {
    ctx = await blynk.hostedBroker({ devices: [A, B], deviceRateLimit: { perSecond: 5, burst: 5 } });
    const flows = await blynk.spy(ctx.engine);
    const flooder = await ctx.device(A.token);
    const neighbour = await ctx.device(B.token);
    const of = (name, id) => ctx.events.filter((e) => e.event === name && e.deviceId === id);

    await publishUntil(flooder, "ds/Temp", () => of("rate-limited", A.id).length > 0);
    const limited = of("rate-limited", A.id)[0];
    assert.equal(limited.plugin, "blynk");
    assert.equal(limited.perSecond, 5);
    assert.ok(limited.dropped >= 1);

    await publishUntil(flooder, "ds/Temp", () => of("rate-disconnected", A.id).length > 0);
    await until(() => of("client-disconnected", A.id).length > 0, 5000, "the flooder to be disconnected");
    const dropped = of("rate-limited", A.id).reduce((n, e) => n + e.dropped, 0) + of("rate-disconnected", A.id)[0].dropped;
    assert.ok(of("rate-limited", A.id).length < dropped, "rate-limited is summed up, not one event per dropped message");

    // The neighbour still publishes, is not limited, and is still connected.
    await neighbour.publishAsync("ds/Temp", "21.5");
    await flows.next(`${hostedTopics.up(B.id)}ds/Temp`, (m) => m.payload === "21.5");
    assert.equal(of("rate-limited", B.id).length, 0);
    assert.ok(neighbour.connected);
    await flows.local.close();
  });

  it("applies the platform's own limit when the broker sets none (ThingsBoard: 100/s, burst 200)", async function () {
    const device = { id: "tb-flood-1", token: tb.TOKENS.alpha, name: "Boiler" };
    ctx = await tb.hostedBroker({ devices: [device] });
    const client = await ctx.device(device.token);
    await publishUntil(client, "v1/devices/me/telemetry", () => ctx.events.some((e) => e.event === "rate-limited"));
    const event = ctx.events.find((e) => e.event === "rate-limited");
    assert.equal(event.deviceId, device.id);
    assert.equal(event.perSecond, 100);
    assert.doesNotMatch(JSON.stringify(ctx.events), new RegExp(tb.TOKENS.alpha));
  });

  it("leaves generic users unlimited by default, and limits them when userRateLimit is set", async function () {
    const user = { username: "bulk", password: "bulk-password-1", publish: ["#"], subscribe: ["#"] };
    const unlimited = await startEngine({ users: [user] });
    const limited = await startEngine({ users: [user], userRateLimit: { perSecond: 10, burst: 10 } });
    ctx = {
      cleanup: async () => {
        await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
        await unlimited.engine.close();
        await limited.engine.close();
      },
    };
    const clients = [];
    const login = async (url, clientId) => {
      const c = await connect(url, { username: "bulk", password: user.password, clientId });
      clients.push(c);
      return c;
    };
    const sub = await login(unlimited.url, "sub");
    const box = inbox(sub);
    await sub.subscribeAsync("bulk/#");
    const pub = await login(unlimited.url, "pub");
    for (let i = 0; i < 2000; i++) pub.publish("bulk/x", String(i));
    await until(() => box.messages.length === 2000, 10000, "all 2000 messages of an unlimited user");
    assert.equal(unlimited.events.filter((e) => e.event.startsWith("rate-")).length, 0);

    const pub2 = await login(limited.url, "pub2");
    await publishUntil(pub2, "bulk/x", () => limited.events.some((e) => e.event === "rate-limited"));
    const event = limited.events.find((e) => e.event === "rate-limited");
    assert.equal(event.kind, "user");
    assert.equal(event.username, "bulk");
  });

  it("still publishes the will of a client disconnected for flooding", async function () {
    const user = { username: "bulk", password: "bulk-password-1", publish: ["#"], subscribe: ["#"] };
    const engine = await startEngine({ users: [user], userRateLimit: { perSecond: 10, burst: 10 } });
    const clients = [];
    ctx = {
      cleanup: async () => {
        await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
        await engine.engine.close();
      },
    };
    const login = async (clientId, options = {}) => {
      const c = await connect(engine.url, { username: "bulk", password: user.password, clientId, ...options });
      clients.push(c);
      return c;
    };
    const watcher = await login("watcher");
    const box = inbox(watcher);
    await watcher.subscribeAsync("status/#");
    const flooder = await login("flooder", { will: { topic: "status/flooder", payload: "gone", qos: 0, retain: false } });
    await publishUntil(flooder, "bulk/x", () => engine.events.some((e) => e.event === "rate-disconnected"));
    assert.equal((await box.next("status/flooder")).payload, "gone");
  });

  describe("PublishLimiter (injected clock)", function () {
    it("passes the burst, drops over it, refills with time, reports at most once a second and calls a sustained flood", function () {
      let t = 0;
      const limiter = new PublishLimiter({ perSecond: 2, burst: 3 }, () => t);
      assert.deepEqual([1, 2, 3, 4].map(() => limiter.admit()), ["ok", "ok", "ok", "drop"]);
      assert.equal(limiter.due(), 1);
      assert.equal(limiter.admit(), "drop");
      assert.equal(limiter.due(), undefined, "not again within a second");
      t += 1000;
      assert.equal(limiter.due(), 1);
      assert.equal(limiter.admit(), "ok");
      // Far over the limit: the flood bucket (FLOOD_FACTOR times larger) runs dry.
      const verdicts = Array.from({ length: 3 * FLOOD_FACTOR + 10 }, () => limiter.admit());
      assert.equal(verdicts.filter((v) => v === "flood").length, 1);
      assert.equal(verdicts.at(-1), "drop", "after the flood call, the rest is dropped quietly");
    });
  });

  describe("broker node settings", function () {
    it("reads rate limits and throttle settings; blank keeps the defaults, 0 turns off", function () {
      assert.deepEqual(parseBrokerNode({}).options.deviceRateLimit, undefined);
      const set = parseBrokerNode({ deviceRateLimit: "20", userRateLimit: "5", userRateBurst: "50", maxAuthFailures: "5", authLockout: "30" }).options;
      assert.deepEqual(set.deviceRateLimit, { perSecond: 20, burst: 40 });
      assert.deepEqual(set.userRateLimit, { perSecond: 5, burst: 50 });
      assert.deepEqual(set.authThrottle, { maxFailures: 5, lockoutMs: 30000 });
      const off = parseBrokerNode({ deviceRateLimit: 0, maxAuthFailures: "0" }).options;
      assert.equal(off.deviceRateLimit, 0);
      assert.equal(off.authThrottle, false);
      assert.throws(() => parseBrokerNode({ deviceRateLimit: "fast" }), (err) => err.key === "invalid-rate");
      assert.throws(() => parseBrokerNode({ deviceRateBurst: "10" }), (err) => err.key === "burst-without-rate");
      assert.throws(() => parseBrokerNode({ maxAuthFailures: "-1" }), (err) => err.key === "invalid-whole-number");
    });
  });
});
