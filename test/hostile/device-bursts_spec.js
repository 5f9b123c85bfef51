"use strict";
// Issue 8, finding 1: a hosted device that sends requests in bursts (and maybe stops reading, or
// vanishes mid-burst) must not crash Node-RED nor stall the broker. The emulations' answers went
// to aedes all at once; aedes' shared delivery queue (mqemitter, 100 in flight) filled, every
// publish of every client then waited in it, and draining it recursed once per queued message
// that completed synchronously (RangeError: Maximum call stack size exceeded).
//
// The bound is checked structurally, not by "it survived": a probe inside aedes' delivery queue
// shows that no burst, of any size or pacing, fills it (the emulation keeps one answer in flight
// per connection); the queue's own spec (paced-queue_spec.js) shows it never holds more than its
// bound and never sends inside another send.
const assert = require("node:assert/strict");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { hostBlynkDevice } = require("../../dist/nodes/lib/blynk/emulation.js");
const { hostThingsBoardDevice } = require("../../dist/nodes/lib/thingsboard/emulation.js");
const { hostThingSpeakChannel } = require("../../dist/nodes/lib/thingspeak/emulation.js");
const { startEngine } = require("../lib/fixtures/engine.js");
const { probeDeliveries } = require("../lib/fixtures/mq-probe.js");
const { rawDevice } = require("../lib/fixtures/raw-device.js");
const { until, waitFor } = require("../support/wait.js");

const BROKER_ID = "hostile-bursts-broker";
const ME = "v1/devices/me";
/** aedes' delivery concurrency; a flooding publisher reached it, a paced one stays far below. */
const AEDES_CONCURRENCY = 100;

/** One kind of request per platform: how to host, connect, ask, and recognise the answers. */
const PLATFORMS = [
  {
    name: "Blynk get/ds",
    host: (warn) => hostBlynkDevice(BROKER_ID, { id: "b0000000000000001", name: "Burst", token: "BurstTok_0123456789abcdefghijklm" }, warn),
    login: { username: "device", password: "BurstTok_0123456789abcdefghijklm", subscriptions: ["downlink/#"] },
    prelude: [["ds/Temp", "21.5"], ["ds/Big", "x".repeat(1000)]],
    request: () => ["get/ds", "Big"],
    live: (i) => [[`ds/Live`, `live-${i}`], ["get/ds", "Live"]],
    liveAnswer: (i) => ["downlink/ds/Live", (p) => p === `live-${i}`],
  },
  {
    name: "Blynk get/ds/all",
    host: (warn) => hostBlynkDevice(BROKER_ID, { id: "b0000000000000002", name: "BurstAll", token: "BurstAll_0123456789abcdefghijklm" }, warn),
    login: { username: "device", password: "BurstAll_0123456789abcdefghijklm", subscriptions: ["downlink/#"] },
    prelude: [["ds/Temp", "21.5"], ["ds/Big", "x".repeat(1000)]],
    request: () => ["get/ds/all", ""],
    live: (i) => [[`ds/Live`, `live-${i}`], ["get/ds", "Live"]],
    liveAnswer: (i) => ["downlink/ds/Live", (p) => p === `live-${i}`],
  },
  {
    name: "ThingsBoard attribute requests",
    host: (warn) => hostThingsBoardDevice(BROKER_ID, { id: "t0000000000000001", name: "TbBurst", token: "TbBurstTOKEN00000001" }, warn),
    login: { username: "TbBurstTOKEN00000001", subscriptions: [`${ME}/attributes/response/+`, `${ME}/rpc/response/+`] },
    prelude: [[`${ME}/attributes`, JSON.stringify({ a: 1, big: "x".repeat(1000) })]],
    request: (i) => [`${ME}/attributes/request/${i}`, '{"clientKeys":"a,big"}'],
    live: (i) => [[`${ME}/attributes/request/${1_000_000 + i}`, '{"clientKeys":"a"}']],
    liveAnswer: (i) => [`${ME}/attributes/response/${1_000_000 + i}`, () => true],
  },
  {
    name: "ThingsBoard getSessionLimits RPC",
    host: (warn) => hostThingsBoardDevice(BROKER_ID, { id: "t0000000000000002", name: "TbRpc", token: "TbRpcTOKEN0000000002" }, warn),
    login: { username: "TbRpcTOKEN0000000002", subscriptions: [`${ME}/rpc/response/+`] },
    prelude: [],
    request: (i) => [`${ME}/rpc/request/${i}`, '{"method":"getSessionLimits","params":{}}'],
    live: (i) => [[`${ME}/rpc/request/${1_000_000 + i}`, '{"method":"getSessionLimits","params":{}}']],
    liveAnswer: (i) => [`${ME}/rpc/response/${1_000_000 + i}`, () => true],
  },
  {
    name: "ThingsBoard gateway attribute requests",
    host: (warn) => hostThingsBoardDevice(BROKER_ID, { id: "t0000000000000003", name: "TbGw", token: "TbGwTOKEN00000000003", gateway: true }, warn),
    login: { username: "TbGwTOKEN00000000003", subscriptions: ["v1/gateway/attributes/response"] },
    prelude: [["v1/gateway/attributes", JSON.stringify({ S1: { a: 1 } })]],
    request: (i) => ["v1/gateway/attributes/request", JSON.stringify({ id: i, device: "S1", client: true, key: "a" })],
    live: (i) => [["v1/gateway/attributes/request", JSON.stringify({ id: 1_000_000 + i, device: "S1", client: true, key: "a" })]],
    liveAnswer: (i) => ["v1/gateway/attributes/response", (p) => JSON.parse(p).id === 1_000_000 + i],
  },
  {
    name: "ThingSpeak entry fan-out",
    host: (warn) =>
      hostThingSpeakChannel(
        BROKER_ID,
        { id: "s0000000000000001", channelId: 4242, name: "Fan", clientId: "FanClient0000000000001", username: "FanClient0000000000001", password: "FanPassword0000000000001", updateIntervalMs: 0 },
        warn,
      ),
    login: { clientId: "FanClient0000000000001", username: "FanClient0000000000001", password: "FanPassword0000000000001", subscriptions: ["channels/4242/subscribe", "channels/4242/subscribe/fields/+"] },
    prelude: [],
    request: (i) => ["channels/4242/publish", `field1=${i}&field2=${"x".repeat(200)}&field3=3&field4=4&field5=5&field6=6&field7=7&field8=8`],
    live: (i) => [["channels/4242/publish", `field1=live-${i}`]],
    liveAnswer: (i) => ["channels/4242/subscribe/fields/field1", (p) => p === `live-${i}`],
  },
];

describe("hostile: device bursts against the emulations (finding 1)", function () {
  // Generous for a loaded machine; on a quiet one each case takes well under 2 s.
  this.timeout(40_000);
  let ctx;
  let probe;

  async function setUp(platform) {
    // Rate limits off: these bursts test flow control, not the per-device limit (rate-limit_spec.js).
    const engine = await startEngine({ deviceRateLimit: 0 });
    brokers.attach(BROKER_ID, engine.engine);
    const warnings = [];
    const unhost = platform.host((err) => warnings.push(err.message));
    ctx = { ...engine, warnings, unhost, devices: [] };
    ctx.device = async () => {
      const dev = await rawDevice(ctx.port, platform.login);
      ctx.devices.push(dev);
      await until(() => ctx.engine.clients().length > 0, 5000, "the device to be ready");
      return dev;
    };
    probe = probeDeliveries();
  }

  afterEach(async function () {
    probe?.stop();
    probe = undefined;
    if (!ctx) return;
    for (const d of ctx.devices) d.destroy();
    ctx.unhost();
    brokers.detach(BROKER_ID, ctx.engine);
    await ctx.engine.close();
    ctx = undefined;
  });

  /** The device still gets answers on this connection once the burst drained (asks again until one fits). */
  async function stillAnswered(platform, dev) {
    // While answers of the burst still wait, a new request may be refused (the newest are dropped).
    for (let attempt = 0; attempt < 100; attempt++) {
      const [topic, accept] = platform.liveAnswer(attempt);
      const answered = dev.next(topic, accept, 250).then(() => true, () => false);
      dev.burst(platform.live(attempt));
      if (await answered) return;
    }
    assert.fail("the device got no answer after its burst");
  }

  function assertDeliveriesBounded() {
    // A paced emulation holds one delivery per connection; a flooding one filled aedes' queue.
    assert.ok(probe.seen.maxInFlight < 10, `deliveries in flight reached ${probe.seen.maxInFlight} (aedes allows ${AEDES_CONCURRENCY})`);
    assert.equal(probe.seen.maxWaiting, 0, `${probe.seen.maxWaiting} deliveries waited in aedes' shared queue`);
  }

  function assertFewWarnings() {
    // Repeated problems are reported a few times, then summarised (ReportThrottle), never once per request.
    const perKind = new Map();
    for (const w of ctx.warnings) {
      const kind = w.replace(/"[^"]*"/g, "").replace(/\d+/g, "");
      perKind.set(kind, (perKind.get(kind) ?? 0) + 1);
    }
    for (const [kind, n] of perKind) assert.ok(n <= 10, `${n} warnings like "${kind}"`);
  }

  for (const platform of PLATFORMS) {
    describe(platform.name, function () {
      for (const [count, writes] of [
        [200, 1],
        [5000, 1],
        [5000, 100],
      ]) {
        it(`${count} requests in ${writes === 1 ? "one TCP write" : `${writes} writes`}, read as they come: deliveries bounded, few warnings, still answered after`, async function () {
          await setUp(platform);
          const dev = await ctx.device();
          dev.burst(platform.prelude);
          dev.burst(Array.from({ length: count }, (_, i) => platform.request(i + 1)), writes);
          await stillAnswered(platform, dev);
          assertDeliveriesBounded();
          assertFewWarnings();
          assert.ok(dev.total > 0);
        });
      }

      it("5000 requests from a device that stops reading, then vanishes: bounded; the device gets answers again after reconnecting", async function () {
        await setUp(platform);
        const dev = await ctx.device();
        dev.stopReading();
        dev.burst(platform.prelude);
        dev.burst(Array.from({ length: 5000 }, (_, i) => platform.request(i + 1)), 10);
        // Waits on the broker: a marker request after the burst could be one of the dropped ones.
        await until(() => probe.seen.emits >= 5000, 10_000, "the broker to take the burst");
        assertDeliveriesBounded();
        const gone = waitFor(ctx.engine, "event", (e) => e.event === "client-disconnected");
        dev.destroy();
        await gone;
        const again = await ctx.device();
        await stillAnswered(platform, again);
        assertDeliveriesBounded();
        assertFewWarnings();
      });
    });
  }

  it("a Blynk device that asks 20,000 times for a 1 kB value without reading, then vanishes, leaves the broker running", async function () {
    const platform = PLATFORMS[0];
    await setUp(platform);
    const uncaught = [];
    const onUncaught = (err) => uncaught.push(err);
    // mocha's own handler would fail the test too; this one also names the error.
    process.prependListener("uncaughtException", onUncaught);
    try {
      const dev = await ctx.device();
      dev.stopReading();
      dev.burst(platform.prelude);
      dev.burst(Array.from({ length: 20_000 }, () => platform.request()), 1);
      await until(() => probe.seen.emits >= 20_000, 10_000, "the broker to take the burst");
      const gone = waitFor(ctx.engine, "event", (e) => e.event === "client-disconnected");
      dev.destroy();
      await gone;
      const again = await ctx.device();
      await stillAnswered(platform, again);
      assert.deepEqual(uncaught.map((e) => e.message), []);
      assertDeliveriesBounded();
      assert.match(ctx.warnings.join("\n"), /asks faster than it reads its answers/);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
  });
});
