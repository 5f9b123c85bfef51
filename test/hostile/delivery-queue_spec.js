"use strict";
// Issue 8, finding 1 at its root: aedes' delivery queue (mqemitter) drained queued publishes by
// recursion. Shown on mqemitter itself (deterministic) and with plain MQTT clients on the engine.
const assert = require("node:assert/strict");
const MQEmitter = require("mqemitter");
const { guardDeliveryQueue, MAX_NESTING } = require("../../dist/nodes/lib/broker/delivery-queue.js");

/** mqemitter with one delivery held and `count` publishes nobody subscribed to queued behind it. */
function saturated(count, probeDepth = false) {
  const mq = new MQEmitter({ concurrency: 1 });
  let release;
  mq.on("held", (_message, done) => {
    release = done;
  });
  mq.emit({ topic: "held" });
  let completed = 0;
  let maxDepth = 0;
  for (let i = 0; i < count; i++) {
    mq.emit({ topic: "nobody" }, () => {
      completed++;
      // Sampled: capturing a whole stack is slow.
      if (probeDepth && completed % 5000 === 0) maxDepth = Math.max(maxDepth, new Error().stack.split("\n").length);
    });
  }
  return { mq, release: () => release(), stats: () => ({ completed, maxDepth }) };
}

describe("hostile: aedes' delivery queue drains without recursion (finding 1)", function () {
  it("unguarded, 50,000 queued publishes that complete at once overflow the stack (the crash)", function () {
    const { mq, release } = saturated(50_000);
    assert.equal(mq.length, 50_000);
    assert.throws(() => release(), RangeError);
  });

  it("guarded, any number drain completely, nesting at most MAX_NESTING levels deep", async function () {
    this.timeout(60_000); // 50,000 queued deliveries drain in a few hundred macrotasks; slow on a loaded CI machine
    for (const count of [10, 1000, 50_000]) {
      const { mq, release, stats } = saturated(count, true);
      assert.equal(guardDeliveryQueue(mq), true);
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = Infinity;
      try {
        release();
        while (stats().completed < count) await new Promise((r) => setImmediate(r));
      } finally {
        Error.stackTraceLimit = limit;
      }
      assert.equal(mq.length, 0);
      assert.equal(mq.current, 0);
      // Each nesting level is a handful of frames; unguarded, 50,000 levels would be hundreds of thousands.
      assert.ok(stats().maxDepth < MAX_NESTING * 20, `stack ${stats().maxDepth} frames deep`);
    }
  });

  it("leaves anything that is not an mqemitter alone", function () {
    assert.equal(guardDeliveryQueue(undefined), false);
    assert.equal(guardDeliveryQueue({}), false);
  });
});

describe("hostile: plain MQTT clients against the engine's delivery queue (finding 1)", function () {
  this.timeout(20_000);
  const { startEngine } = require("../lib/fixtures/engine.js");
  const { probeDeliveries } = require("../lib/fixtures/mq-probe.js");
  const { rawDevice } = require("../lib/fixtures/raw-device.js");
  const { until, waitFor } = require("../support/wait.js");

  it("a subscriber that stops reading, two publishers filling it and a burst to nobody: the subscriber vanishes, the broker runs on", async function () {
    const users = [{ username: "u", password: "p", publish: ["#"], subscribe: ["#"] }];
    const { engine, port } = await startEngine({ users });
    const probe = probeDeliveries();
    const clients = [];
    const uncaught = [];
    const onUncaught = (err) => uncaught.push(err);
    process.prependListener("uncaughtException", onUncaught);
    try {
      const login = (clientId, subscriptions = []) => rawDevice(port, { clientId, username: "u", password: "p", subscriptions }).then((c) => (clients.push(c), c));
      const slow = await login("slow", ["t"]);
      slow.stopReading();
      // Each publisher's read batch waits for the slow subscriber; two batches of 1 kB messages fill the 100 slots.
      for (const id of ["p1", "p2"]) (await login(id)).burst(Array.from({ length: 20_000 }, () => ["t", "x".repeat(1000)]), 1);
      await until(() => probe.seen.maxInFlight >= 100, 10_000, "the delivery queue to fill");
      // One read of tiny publishes nobody subscribed to: they queue in a row behind the full slots.
      // How many depends on how the runtime hands aedes the socket's data (Node 20: thousands, which
      // crashed unguarded; Node 22: about 65); the unbounded case is proven on mqemitter above.
      (await login("tiny")).burst(Array.from({ length: 20_000 }, () => ["nobody", "1"]), 1);
      await until(() => probe.seen.maxWaiting >= 50, 10_000, "tiny publishes to queue");
      const gone = waitFor(engine, "event", (e) => e.event === "client-disconnected" && e.clientId === "slow", 10_000);
      slow.destroy();
      await gone;
      // Still serving: a new client gets its own message back.
      const check = await login("check", ["back"]);
      const echoed = check.next("back", () => true, 10_000);
      check.burst([["back", "hello"]]);
      await echoed;
      assert.deepEqual(uncaught.map((e) => e.message), []);
    } finally {
      process.off("uncaughtException", onUncaught);
      probe.stop();
      for (const c of clients) c.destroy();
      await engine.close();
    }
  });
});
