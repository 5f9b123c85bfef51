"use strict";
// Driving a platform link in a spec: collecting what it emits, and manual timers on a test
// clock (a link's update interval never waits for real time).
const { until } = require("./wait.js");

/**
 * Timers for a link's write queue, on `clock` ({now, advance}): `advance(ms)` moves the clock,
 * firing due timers in order, and lets the sends they start get going.
 */
function manualTimers(clock) {
  let ids = 0;
  const pending = new Map();
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    timers: {
      set(callback, ms) {
        const id = ++ids;
        pending.set(id, { at: clock.now() + ms, callback });
        return id;
      },
      clear(id) {
        pending.delete(id);
      },
    },
    async advance(ms) {
      const end = clock.now() + ms;
      for (;;) {
        const next = [...pending.entries()].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (next === undefined) break;
        pending.delete(next[0]);
        clock.advance(Math.max(0, next[1].at - clock.now()));
        next[1].callback();
        await settle();
      }
      clock.advance(end - clock.now());
      await settle();
    },
  };
}

/** JSON for a timeout message; never throws (a message may hold a BigInt or a cycle). */
function listed(values) {
  try {
    return JSON.stringify(values, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  } catch {
    return `${values.length} messages`;
  }
}

/** Every incoming message, warning and status of a link, with a waiter for an incoming message. */
function collect(link) {
  const got = { incoming: [], warnings: [], statuses: [] };
  link.on("incoming", (m) => got.incoming.push(m));
  link.on("warning", (w) => got.warnings.push(w));
  link.on("status", (s) => got.statuses.push(s));
  got.next = async (predicate, what = "an incoming message") => {
    let found;
    await until(() => (found = got.incoming.find(predicate)) !== undefined, 5000, `${what}; got ${listed(got.incoming)}`);
    return found;
  };
  return got;
}

module.exports = { manualTimers, collect };
