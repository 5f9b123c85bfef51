"use strict";
// The flow control the emulations answer devices with (issue 8, finding 1): proven here by
// structure, not by surviving a burst: the queue never holds more than its bound, keeps one
// send in flight, and never sends inside another send or inside the caller (call depth probe).
const assert = require("node:assert/strict");
const { PacedQueue } = require("../../../dist/nodes/lib/transport/paced-queue.js");
const { until } = require("../../support/wait.js");

/** Stack frames at the caller (no limit, so depths compare exactly). */
function depth() {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  const frames = new Error().stack.split("\n").length;
  Error.stackTraceLimit = limit;
  return frames;
}

describe("transport/paced-queue", function () {
  it("refuses a limit below 1", function () {
    for (const limit of [0, -1, 1.5, NaN, undefined]) assert.throws(() => new PacedQueue({ limit, send: async () => undefined }), RangeError);
  });

  it("never holds more than its bound: offers past it are refused, in any burst size", async function () {
    for (const limit of [1, 7, 100]) {
      const sent = [];
      const queue = new PacedQueue({ limit, send: async (n) => void sent.push(n) });
      let accepted = 0;
      for (let i = 0; i < limit * 50; i++) {
        if (queue.offer(i)) accepted++;
        assert.ok(queue.waiting <= limit, `waiting ${queue.waiting} > limit ${limit}`);
      }
      assert.equal(accepted, limit);
      assert.equal(queue.free, 0);
      await until(() => sent.length === limit);
      assert.deepEqual(sent, Array.from({ length: limit }, (_, i) => i), "sent in order");
      assert.equal(queue.waiting, 0);
    }
  });

  it("sends one at a time: the next only after the previous send settled (a stalled peer holds one slot)", async function () {
    const settle = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const queue = new PacedQueue({
      limit: 10,
      send: () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise((resolve) => settle.push(() => { inFlight--; resolve(); }));
      },
    });
    for (let i = 0; i < 10; i++) queue.offer(i);
    await until(() => settle.length === 1);
    // Give the queue many turns: nothing more goes out while the first send is pending.
    for (let turn = 0; turn < 20; turn++) await new Promise((r) => setImmediate(r));
    assert.equal(settle.length, 1);
    assert.equal(queue.waiting, 9);
    for (let i = 0; i < 10; i++) {
      await until(() => settle.length === i + 1);
      settle[i]();
    }
    assert.equal(maxInFlight, 1);
  });

  it("never nests sends: synchronous, re-entrant and failing sends all start at the same stack depth, each on a new macrotask", async function () {
    const depths = [];
    const turns = [];
    let turn = 0;
    let inside = false;
    const ticker = setInterval(() => undefined, 1000); // keeps the loop alive; turns are counted by setImmediate below
    const countTurns = () => { turn++; if (depths.length < 300) setImmediate(countTurns); };
    setImmediate(countTurns);
    const queue = new PacedQueue({
      limit: 1000,
      send: (n) => {
        assert.equal(inside, false, "a send ran inside another send");
        inside = true;
        depths.push(depth());
        turns.push(turn);
        // A send that offers more (as a hook that answers could) and settles at once, or throws.
        queue.offer(n + 1000);
        inside = false;
        if (n % 3 === 0) throw new Error("send failed");
        return n % 3 === 1 ? Promise.resolve() : Promise.reject(new Error("rejected"));
      },
    });
    const before = depth();
    for (let i = 0; i < 200; i++) queue.offer(i);
    assert.equal(depths.length, 0, "nothing is sent inside offer()");
    assert.ok(before > 0);
    await until(() => depths.length >= 300, 10_000, "300 sends");
    clearInterval(ticker);
    assert.equal(new Set(depths).size, 1, `sends started at different stack depths: ${[...new Set(depths)].join(", ")}`);
    for (let i = 1; i < turns.length; i++) assert.ok(turns[i] > turns[i - 1], "two sends in one macrotask");
    queue.close();
  });

  it("keyed offers replace the waiting item of their key in place (latest state wins) and never overflow", async function () {
    const sent = [];
    let release;
    const queue = new PacedQueue({ limit: 2, send: (m) => { sent.push(m); return sent.length === 1 ? new Promise((r) => { release = r; }) : Promise.resolve(); } });
    queue.offer("online:1", "online");
    await until(() => sent.length === 1);
    for (let i = 2; i <= 1000; i++) assert.equal(queue.offer(`online:${i}`, "online"), true);
    assert.equal(queue.offer("info:1", "info"), true);
    assert.equal(queue.offer("other"), false, "full: two keyed items wait");
    assert.equal(queue.waiting, 2);
    release();
    await until(() => sent.length === 3);
    assert.deepEqual(sent, ["online:1", "online:1000", "info:1"]);
  });

  it("close() drops what waits and refuses later offers; the send in flight finishes", async function () {
    const sent = [];
    let release;
    const queue = new PacedQueue({ limit: 5, send: (n) => { sent.push(n); return new Promise((r) => { release = r; }); } });
    for (let i = 0; i < 5; i++) queue.offer(i);
    await until(() => sent.length === 1);
    queue.close();
    assert.equal(queue.waiting, 0);
    assert.equal(queue.free, 0);
    assert.equal(queue.offer(9), false);
    release();
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, [0]);
  });
});
