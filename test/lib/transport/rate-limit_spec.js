"use strict";
const assert = require("node:assert/strict");
const { TokenBucket } = require("../../../dist/nodes/lib/transport/rate-limit.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

/** A manual clock with timers that fire only when the test advances it. */
function fakeClock() {
  let now = 1_000_000;
  let nextHandle = 1;
  const timers = new Map();
  return {
    now: () => now,
    timers: {
      set(callback, ms) {
        const handle = nextHandle++;
        timers.set(handle, { at: now + ms, callback });
        return handle;
      },
      clear(handle) {
        timers.delete(handle);
      },
    },
    get armed() {
      return timers.size;
    },
    /** Moves time on and fires due timers in time order (each may arm the next). */
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((x, y) => x[1].at - y[1].at)[0];
        if (due === undefined) break;
        timers.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].callback();
      }
      now = end;
    },
    set(t) {
      now = t;
    },
  };
}

/** Lets resolved promise callbacks run (no timing involved). */
const flush = () => new Promise((resolve) => setImmediate(resolve));

/** Records the order in which `take` promises settle. */
function tracker() {
  const log = [];
  return {
    log,
    track(name, promise) {
      promise.then(
        () => log.push(name),
        (err) => log.push(`${name}: ${err.code}`),
      );
      return promise;
    },
  };
}

describe("transport/rate-limit", function () {
  let clock;
  const bucket = (options) => new TokenBucket({ now: clock.now, timers: clock.timers, ...options });

  beforeEach(function () {
    clock = fakeClock();
  });

  describe("tryTake and msUntil", function () {
    it("starts full and hands out up to capacity", function () {
      const b = bucket({ capacity: 3, refillPerSecond: 1 });
      assert.deepEqual([b.tryTake(), b.tryTake(), b.tryTake(), b.tryTake()], [true, true, true, false]);
    });

    // [capacity, refillPerSecond, taken first, ms advanced, n asked, expected msUntil(n)]
    const cases = [
      [5, 2, 5, 0, 1, 500],
      [5, 2, 5, 0, 2, 1000],
      [5, 2, 5, 250, 1, 250],
      [5, 2, 5, 500, 1, 0],
      [5, 2, 0, 0, 5, 0],
      [1, 1 / 15, 1, 0, 1, 15_000], // ThingSpeak free: one update per 15 s
      [1, 1 / 15, 1, 14_000, 1, 1000],
      [50, 50, 50, 0, 1, 20], // Blynk: 50 requests per second
      [50, 50, 50, 0, 50, 1000],
      [3, 1000, 3, 0, 1, 1],
      [10, 3, 10, 0, 1, 334], // rounded up, never early
    ];
    for (const [capacity, rate, taken, advance, n, expected] of cases) {
      it(`capacity ${capacity} at ${rate.toFixed(3)}/s, ${taken} taken, +${advance} ms: msUntil(${n}) = ${expected}`, function () {
        const b = bucket({ capacity, refillPerSecond: rate });
        if (taken > 0) assert.equal(b.tryTake(taken), true);
        clock.advance(advance);
        assert.equal(b.msUntil(n), expected);
      });
    }

    it("refills continuously but never above capacity", function () {
      const b = bucket({ capacity: 4, refillPerSecond: 2 });
      b.tryTake(4);
      clock.advance(750);
      assert.equal(b.tokens, 1.5);
      assert.equal(b.tryTake(2), false);
      assert.equal(b.tryTake(1), true);
      clock.advance(3_600_000);
      assert.equal(b.tokens, 4);
    });

    it("starts with initialTokens when given", function () {
      const b = bucket({ capacity: 2, refillPerSecond: 1, initialTokens: 0 });
      assert.equal(b.tryTake(), false);
      assert.equal(b.msUntil(), 1000);
    });

    it("does not lose tokens when an injected clock steps back", function () {
      const b = bucket({ capacity: 2, refillPerSecond: 1 });
      b.tryTake(2);
      clock.advance(1000);
      assert.equal(b.tokens, 1);
      clock.set(clock.now() - 5000);
      assert.equal(b.tokens, 1);
      clock.set(clock.now() + 4000);
      assert.equal(b.tokens, 1, "no refill until the clock passes where it was");
      clock.set(clock.now() + 2000); // 1 s past where it had been
      assert.equal(b.tokens, 2);
    });
  });

  describe("take", function () {
    it("resolves at once when tokens are there", async function () {
      const b = bucket({ capacity: 2, refillPerSecond: 1 });
      await b.take();
      await b.take();
      assert.equal(b.tokens, 0);
      assert.equal(clock.armed, 0);
    });

    it("waits until the tokens have refilled", async function () {
      const b = bucket({ capacity: 1, refillPerSecond: 1 });
      b.tryTake();
      const t = tracker();
      t.track("a", b.take());
      await flush();
      assert.deepEqual(t.log, []);
      assert.equal(b.waiting, 1);
      clock.advance(999);
      await flush();
      assert.deepEqual(t.log, []);
      clock.advance(1);
      await flush();
      assert.deepEqual(t.log, ["a"]);
      assert.equal(b.waiting, 0);
      assert.equal(clock.armed, 0);
    });

    it("serves waiters in order: a small request does not overtake a big one", async function () {
      const b = bucket({ capacity: 3, refillPerSecond: 1 });
      b.tryTake(3);
      const t = tracker();
      t.track("big", b.take(3));
      t.track("small", b.take(1));
      clock.advance(1000); // 1 token: enough for "small", but "big" is first
      await flush();
      assert.deepEqual(t.log, []);
      assert.equal(b.tryTake(1), false, "tryTake does not jump the queue either");
      clock.advance(2000);
      await flush();
      assert.deepEqual(t.log, ["big"]);
      clock.advance(1000);
      await flush();
      assert.deepEqual(t.log, ["big", "small"]);
    });

    it("hands out several waiters at once when enough has refilled", async function () {
      const b = bucket({ capacity: 5, refillPerSecond: 1 });
      b.tryTake(5);
      const t = tracker();
      for (const name of ["a", "b", "c"]) t.track(name, b.take());
      // Time jumps before the timer runs (a busy event loop): one wake-up serves all three.
      clock.set(clock.now() + 10_000);
      clock.advance(0);
      await flush();
      assert.deepEqual(t.log, ["a", "b", "c"]);
      assert.equal(b.tokens, 2);
    });

    it("drops a waiter whose signal aborts, rejecting it with \"closed\", and moves the next one up", async function () {
      const b = bucket({ capacity: 2, refillPerSecond: 1 });
      b.tryTake(2);
      const t = tracker();
      const controller = new AbortController();
      t.track("big", b.take(2, controller.signal));
      t.track("small", b.take(1));
      clock.advance(1000);
      await flush();
      assert.deepEqual(t.log, []);
      controller.abort();
      await flush();
      assert.deepEqual(t.log, ["big: closed", "small"]);
    });

    it("rejects at once for an already aborted signal", async function () {
      const b = bucket({ capacity: 1, refillPerSecond: 1 });
      await assert.rejects(b.take(1, AbortSignal.abort()), (e) => e.code === "closed" && e.message === "waiting for 1 rate-limit token was cancelled");
    });

    it("works with the real clock and timers", async function () {
      const b = new TokenBucket({ capacity: 1, refillPerSecond: 1000 });
      await b.take();
      await b.take(); // waits about 1 ms on a real timer
      assert.equal(b.waiting, 0);
    });
  });

  describe("close", function () {
    it('rejects waiters with "closed", then refuses new takes', async function () {
      const b = bucket({ capacity: 1, refillPerSecond: 1 });
      b.tryTake();
      const t = tracker();
      t.track("a", b.take());
      t.track("b", b.take());
      b.close();
      await flush();
      assert.deepEqual(t.log, ["a: closed", "b: closed"]);
      assert.equal(clock.armed, 0, "no timer left behind");
      await assert.rejects(b.take(), (e) => e instanceof TransportError && e.code === "closed" && /rate limiter was closed/.test(e.message));
      clock.advance(10_000);
      assert.equal(b.tryTake(), false);
      assert.equal(b.closed, true);
      b.close(); // twice is fine
    });
  });

  describe("invalid input", function () {
    // [options, message fragment]
    const badOptions = [
      [{ capacity: 0, refillPerSecond: 1 }, "capacity must be a positive number, got 0"],
      [{ capacity: -1, refillPerSecond: 1 }, "capacity must be a positive number"],
      [{ capacity: Infinity, refillPerSecond: 1 }, "capacity must be a positive number, got Infinity"],
      [{ capacity: "5", refillPerSecond: 1 }, "capacity must be a positive number, got 5"],
      [{ capacity: 5, refillPerSecond: 0 }, "refillPerSecond must be a positive number, got 0"],
      [{ capacity: 5, refillPerSecond: NaN }, "refillPerSecond must be a positive number, got NaN"],
      [{ capacity: 5, refillPerSecond: 1, initialTokens: 6 }, "initialTokens must be between 0 and capacity 5, got 6"],
      [{ capacity: 5, refillPerSecond: 1, initialTokens: -1 }, "initialTokens must be between 0 and capacity 5"],
    ];
    for (const [options, fragment] of badOptions) {
      it(`refuses options ${JSON.stringify(options)}`, function () {
        assert.throws(() => bucket(options), (e) => e.code === "invalid" && e.message.includes(fragment), fragment);
      });
    }

    // [n, message fragment]
    const badCounts = [
      [0, "number of tokens must be a positive number, got 0"],
      [-1, "got -1"],
      [NaN, "got NaN"],
      ["1", "got 1"],
      [4, "cannot take 4 tokens from a bucket that holds at most 3"],
    ];
    for (const [n, fragment] of badCounts) {
      it(`refuses n = ${JSON.stringify(n) ?? String(n)} in tryTake, msUntil and take`, async function () {
        const b = bucket({ capacity: 3, refillPerSecond: 1 });
        const check = (e) => e.code === "invalid" && e.message.includes(fragment);
        assert.throws(() => b.tryTake(n), check);
        assert.throws(() => b.msUntil(n), check);
        await assert.rejects(b.take(n), check);
        assert.equal(b.waiting, 0);
      });
    }
  });
});
