"use strict";
// Issue 8, finding 3: one device must not flood the log. Timers are faked: no real time passes.
const assert = require("node:assert/strict");
const { ReportThrottle } = require("../../../dist/nodes/lib/transport/report-throttle.js");

function fakeTimers() {
  const pending = new Map();
  let next = 1;
  return {
    pending,
    set(callback, ms) {
      const handle = next++;
      pending.set(handle, { callback, ms });
      return handle;
    },
    clear(handle) {
      pending.delete(handle);
    },
    /** Fires every timer set so far (one interval passes). */
    elapse() {
      const due = [...pending];
      pending.clear();
      for (const [, t] of due) t.callback();
    },
  };
}

describe("transport/report-throttle", function () {
  function make(options = {}) {
    const timers = fakeTimers();
    const summaries = [];
    const throttle = new ReportThrottle({ timers, summary: (text, kind) => summaries.push([kind, text]), ...options });
    const out = [];
    const report = (kind, text) => throttle.report(kind, text, (t) => out.push(t));
    return { timers, summaries, throttle, out, report };
  }

  it("10,000 reports of one kind in a minute give the first 10 lines and one summary", function () {
    const t = make();
    for (let i = 1; i <= 10_000; i++) t.report("malformed", `message ${i} was malformed`);
    assert.deepEqual(t.out, Array.from({ length: 10 }, (_, i) => `message ${i + 1} was malformed`));
    assert.equal(t.summaries.length, 0, "the summary waits for the end of the minute");
    assert.equal(t.timers.pending.size, 1, "one timer per kind, not per report");
    assert.equal([...t.timers.pending.values()][0].ms, 60_000);
    t.timers.elapse();
    assert.deepEqual(t.summaries, [["malformed", "9990 more like this were not reported one by one in the last 60 s; the last one: message 10000 was malformed"]]);
  });

  it("a steady flood costs one summary per interval; a quiet interval re-opens reporting", function () {
    const t = make({ burst: 1 });
    t.report("k", "a1");
    t.report("k", "a2");
    t.timers.elapse(); // summary of a2; the next window only counts
    t.report("k", "a3");
    t.report("k", "a4");
    assert.deepEqual(t.out, ["a1"]);
    t.timers.elapse(); // summary of a3, a4
    t.timers.elapse(); // quiet: the window closes without a line
    assert.equal(t.summaries.length, 2);
    assert.match(t.summaries[0][1], /^1 more like this .*the last one: a2$/);
    assert.match(t.summaries[1][1], /^2 more like this .*the last one: a4$/);
    assert.equal(t.timers.pending.size, 0);
    t.report("k", "a5");
    assert.deepEqual(t.out, ["a1", "a5"]);
  });

  it("kinds are counted apart", function () {
    const t = make({ burst: 1 });
    t.report("malformed", "m1");
    t.report("unanswered", "u1");
    t.report("malformed", "m2");
    assert.deepEqual(t.out, ["m1", "u1"]);
    t.timers.elapse();
    assert.deepEqual(t.summaries.map(([kind]) => kind), ["malformed"]);
  });

  it("close() sends the summaries still owed and stops the timers; a throwing summary callback is contained", function () {
    const timers = fakeTimers();
    const throttle = new ReportThrottle({ timers, burst: 1, summary: () => { throw new Error("host failed"); } });
    assert.equal(throttle.admit("k", "1"), true);
    assert.equal(throttle.admit("k", "2"), false);
    assert.doesNotThrow(() => throttle.close());
    assert.equal(timers.pending.size, 0);
    const t = make({ burst: 1 });
    t.report("k", "1");
    t.report("k", "2");
    t.throttle.close();
    assert.equal(t.summaries.length, 1);
  });

  it("its real timers never keep the process alive", function () {
    const throttle = new ReportThrottle({ summary: () => undefined });
    throttle.admit("k", "x");
    throttle.close();
  });
});
