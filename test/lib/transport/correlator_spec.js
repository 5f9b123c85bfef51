"use strict";
const assert = require("node:assert/strict");
const { Correlator } = require("../../../dist/nodes/lib/transport/correlator.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");
const { until } = require("../../support/wait.js");

const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("transport/correlator", function () {
  let unhandled;
  const onUnhandled = (reason) => unhandled.push(reason);

  beforeEach(function () {
    unhandled = [];
    process.on("unhandledRejection", onUnhandled);
  });

  afterEach(async function () {
    // One macrotask turn lets Node report rejections nobody handled.
    await new Promise((resolve) => setImmediate(resolve));
    process.off("unhandledRejection", onUnhandled);
    assert.deepEqual(unhandled, [], "no unhandled rejections");
  });

  describe("nextId", function () {
    // [options, expected ids in order]
    const cases = [
      [{}, [1, 2, 3, 4]],
      [{ firstId: 0 }, [0, 1, 2]],
      [{ firstId: 1, maxId: 3 }, [1, 2, 3, 1, 2, 3, 1]],
      [{ firstId: 65534, maxId: 65535 }, [65534, 65535, 65534]],
    ];
    for (const [options, expected] of cases) {
      it(`${JSON.stringify(options)} gives ${expected.join(", ")}`, function () {
        const c = new Correlator(options);
        assert.deepEqual(expected.map(() => c.nextId()), expected);
      });
    }

    it("wraps at 2^31 - 1 by default", function () {
      const c = new Correlator({ firstId: 0x7fff_fffe });
      assert.deepEqual([c.nextId(), c.nextId(), c.nextId()], [0x7fff_fffe, 0x7fff_ffff, 0x7fff_fffe]);
    });

    it("skips ids still awaited after wrapping, and says so when all are in use", async function () {
      const c = new Correlator({ firstId: 1, maxId: 3 });
      const waits = [c.wait(c.nextId()), c.wait(c.nextId())]; // 1, 2
      assert.equal(c.nextId(), 3);
      assert.equal(c.nextId(), 3, "1 and 2 are pending, 3 is free again");
      c.wait(3).catch(() => {});
      assert.throws(() => c.nextId(), (err) => err instanceof TransportError && err.code === "overflow" && /all 3 request ids/.test(err.message));
      c.resolve(2, "two");
      assert.equal(c.nextId(), 2);
      assert.equal(await waits[1], "two");
      c.rejectAll(new Error("done"));
      await assert.rejects(waits[0], /done/);
    });
  });

  describe("wait / resolve / reject", function () {
    it("resolves the matching wait and reports whether anything was waiting", async function () {
      const c = new Correlator();
      const a = c.wait(1);
      const b = c.wait(2);
      assert.equal(c.pending, 2);
      assert.equal(c.resolve(2, { v: 2 }), true);
      assert.equal(c.resolve(1, { v: 1 }), true);
      assert.equal(c.resolve(1, { v: "late" }), false, "already settled");
      assert.equal(c.resolve(99, {}), false, "unknown id");
      assert.deepEqual(await a, { v: 1 });
      assert.deepEqual(await b, { v: 2 });
      assert.equal(c.pending, 0);
    });

    it("treats 7 and \"7\" as the same id (ids parsed from topics are strings)", async function () {
      const c = new Correlator();
      const p = c.wait(7);
      assert.equal(c.has("7"), true);
      assert.equal(c.resolve("7", "ok"), true);
      assert.equal(await p, "ok");
    });

    it("rejects a wait with the given error", async function () {
      const c = new Correlator();
      const p = c.wait(5);
      const err = new TransportError("protocol", "RPC failed");
      assert.equal(c.reject(5, err), true);
      assert.equal(c.reject(5, err), false);
      await assert.rejects(p, (e) => e === err);
    });

    it("refuses a second wait on a pending id, leaving the first intact", async function () {
      const c = new Correlator();
      const first = c.wait(3);
      await assert.rejects(c.wait(3), (e) => e.code === "invalid" && e.message === "request id 3 is already awaiting an answer; ids must be unique");
      assert.equal(c.pending, 1);
      c.resolve(3, "first");
      assert.equal(await first, "first");
    });

    // [timeoutMs, describe, expected message]
    const timeouts = [
      [20, 'ThingsBoard RPC "getTemp" (id 7)', 'no answer to ThingsBoard RPC "getTemp" (id 7) within 20 ms'],
      [30, undefined, "no answer to the answer to request 9 within 30 ms"],
    ];
    for (const [ms, describe_, message] of timeouts) {
      it(`times out in words: ${message}`, async function () {
        const c = new Correlator();
        const id = ms === 30 ? 9 : 7;
        await assert.rejects(c.wait(id, ms, describe_), (e) => e instanceof TransportError && e.code === "timeout" && e.message === message);
        assert.equal(c.pending, 0);
        assert.equal(c.resolve(id, "late"), false, "a late answer is reported as unexpected");
      });
    }

    it("uses the default timeout from the options", async function () {
      const q = new Correlator({ timeoutMs: 10 }).wait(1, undefined, "attribute request 1");
      await assert.rejects(q, { message: "no answer to attribute request 1 within 10 ms" });
    });

    it("clears the timer when a wait settles", async function () {
      // Mocha arms its own test timer when this async function first yields; do that first.
      await null;
      const c = new Correlator();
      const before = activeTimers();
      const p = c.wait(1, 60_000);
      assert.equal(activeTimers(), before + 1);
      c.resolve(1, "x");
      await p;
      assert.equal(activeTimers(), before);
      const q = c.wait(2, 60_000);
      c.rejectAll(new Error("closed"));
      await assert.rejects(q);
      assert.equal(activeTimers(), before);
    });

    it("can wait without a timeout (Infinity)", async function () {
      await null; // as above: let mocha arm its timer first
      const c = new Correlator();
      const before = activeTimers();
      const p = c.wait(1, Infinity);
      assert.equal(activeTimers(), before);
      c.resolve(1, "eventually");
      assert.equal(await p, "eventually");
    });

    const badTimeouts = [0, -5, NaN, 2 ** 31, "100"];
    for (const ms of badTimeouts) {
      it(`refuses timeout ${String(ms)} with "invalid"`, async function () {
        const c = new Correlator();
        await assert.rejects(c.wait(1, ms, "x"), (e) => e.code === "invalid" && e.message.startsWith("timeout for x must be a positive number"));
        assert.equal(c.pending, 0);
      });
    }
  });

  describe("rejectAll", function () {
    it("rejects every pending wait, returns the count, and accepts an error per id", async function () {
      const c = new Correlator();
      const waits = [c.wait(1), c.wait(2), c.wait(3)];
      assert.equal(c.rejectAll((id) => new TransportError("closed", `request ${id} abandoned: link closed`)), 3);
      assert.equal(c.pending, 0);
      const messages = (await Promise.allSettled(waits)).map((r) => r.reason.message);
      assert.deepEqual(messages, ["request 1 abandoned: link closed", "request 2 abandoned: link closed", "request 3 abandoned: link closed"]);
      assert.equal(c.rejectAll(new Error("again")), 0);
    });
  });

  describe("safety", function () {
    it("never causes an unhandled rejection, even for waits nobody awaits", async function () {
      const c = new Correlator();
      c.wait(1, 5); // dropped: times out
      c.wait(2); // dropped: rejected by rejectAll
      c.wait(2); // dropped: duplicate
      c.wait(3, -1); // dropped: invalid timeout
      c.reject(2, new Error("x"));
      await until(() => c.pending === 0, 2000, "the dropped wait to time out");
      // afterEach asserts that nothing was reported unhandled
    });

    it("refuses bad options", function () {
      const bad = [
        [{ timeoutMs: 0 }, "timeoutMs must be a positive number"],
        [{ firstId: -1 }, "firstId -1"],
        [{ firstId: 5, maxId: 4 }, "firstId 5, maxId 4"],
        [{ maxId: 1.5 }, "maxId 1.5"],
      ];
      for (const [options, fragment] of bad) {
        assert.throws(() => new Correlator(options), (e) => e.code === "invalid" && e.message.includes(fragment), fragment);
      }
    });
  });
});
