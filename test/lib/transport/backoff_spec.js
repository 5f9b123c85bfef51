"use strict";
const assert = require("node:assert/strict");
const { Backoff } = require("../../../dist/nodes/lib/transport/backoff.js");

/** The first `n` delays of a fresh Backoff. */
function delays(options, n) {
  const b = new Backoff(options);
  return Array.from({ length: n }, () => b.next());
}

describe("transport/backoff", function () {
  // [options, expected first delays]; jitter 0 shows the bare growth and the cap
  const growth = [
    [{ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 }, [100, 200, 400, 800, 1000, 1000]],
    [{ initialMs: 100, maxMs: 100, jitter: 0 }, [100, 100, 100]],
    [{ initialMs: 50, maxMs: 10_000, factor: 1, jitter: 0 }, [50, 50, 50]],
    [{ initialMs: 10, maxMs: 1000, factor: 3, jitter: 0 }, [10, 30, 90, 270, 810, 1000]],
    [{ jitter: 0 }, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]],
  ];
  for (const [options, expected] of growth) {
    it(`grows ${JSON.stringify(options)} as ${expected.join(", ")}`, function () {
      assert.deepEqual(delays(options, expected.length), expected);
    });
  }

  it("stays at the cap after very many attempts (no overflow to Infinity/NaN)", function () {
    const b = new Backoff({ initialMs: 1, maxMs: 5000, jitter: 0 });
    for (let i = 0; i < 5000; i++) b.next();
    assert.equal(b.next(), 5000);
  });

  // [jitter, random(), base 1000 -> expected]
  const jitter = [
    [0.5, 0, 500],
    [0.5, 0.5, 750],
    [0.5, 0.999999, 1000],
    [1, 0, 0],
    [1, 0.25, 250],
    [0.2, 0, 800],
    [0, 0.7, 1000],
    [5, 0, 0], // clamped to 1
    [-1, 0, 1000], // clamped to 0
  ];
  for (const [j, r, expected] of jitter) {
    it(`jitter ${j} with random ${r} gives ${expected} of 1000`, function () {
      assert.equal(new Backoff({ initialMs: 1000, maxMs: 1000, jitter: j, random: () => r }).next(), expected);
    });
  }

  it("keeps every jittered delay within [base * (1 - jitter), base]", function () {
    let x = 0.123;
    const random = () => (x = (x * 9301 + 49297) % 233280 / 233280);
    const b = new Backoff({ initialMs: 100, maxMs: 3000, jitter: 0.5, random });
    for (let i = 0; i < 200; i++) {
      const base = Math.min(3000, 100 * 2 ** i);
      const d = b.next();
      assert.ok(d >= base * 0.5 && d <= base, `attempt ${i}: ${d} not in [${base * 0.5}, ${base}]`);
    }
  });

  it("counts attempts and starts over on reset", function () {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    assert.equal(b.attempt, 0);
    assert.deepEqual([b.next(), b.next(), b.next()], [100, 200, 400]);
    assert.equal(b.attempt, 3);
    b.reset();
    assert.equal(b.attempt, 0);
    assert.equal(b.next(), 100);
  });

  // [options, fragment of the RangeError message]
  const invalid = [
    [{ initialMs: 0 }, "initialMs 0 must be > 0"],
    [{ initialMs: -5 }, "initialMs -5 must be > 0"],
    [{ initialMs: NaN }, "initialMs NaN"],
    [{ initialMs: Infinity, maxMs: Infinity }, "initialMs Infinity"],
    [{ initialMs: 100, maxMs: 50 }, "maxMs 50 >= initialMs"],
    [{ maxMs: NaN }, "maxMs NaN"],
    [{ maxMs: Infinity }, "maxMs Infinity"],
    [{ maxMs: 2 ** 31 }, "maxMs 2147483648"],
    [{ factor: 0.5 }, "factor 0.5 >= 1"],
    [{ factor: NaN }, "factor NaN"],
    [{ jitter: NaN }, "jitter NaN"],
  ];
  for (const [options, fragment] of invalid) {
    it(`refuses ${JSON.stringify(options, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v))}`, function () {
      assert.throws(() => new Backoff(options), (err) => err instanceof RangeError && err.message.includes(fragment), fragment);
    });
  }
});
