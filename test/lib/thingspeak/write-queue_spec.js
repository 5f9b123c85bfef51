"use strict";
// The update-interval coalescer on an injected clock and timers: no real waiting anywhere.
const assert = require("node:assert/strict");
const { WriteQueue } = require("../../../dist/nodes/lib/thingspeak/write-queue.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

const SEC = 1000;

/** A clock and timers moved by hand; `advance` fires due timers in order and lets promises settle. */
function fakeTime(start = 1_700_000_000_000) {
  let t = start;
  let ids = 0;
  const pending = new Map();
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    now: () => t,
    timers: {
      set(callback, ms) {
        const id = ++ids;
        pending.set(id, { at: t + ms, callback });
        return id;
      },
      clear(id) {
        pending.delete(id);
      },
    },
    pendingTimers: () => pending.size,
    settle,
    async advance(ms) {
      const end = t + ms;
      for (;;) {
        const next = [...pending.entries()].filter(([, p]) => p.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (next === undefined) break;
        pending.delete(next[0]);
        t = Math.max(t, next[1].at);
        next[1].callback();
        await settle();
      }
      t = end;
      await settle();
    },
  };
}

/** A queue whose sends are recorded and answered by `answer(update, n)` (default: entry ids 1, 2, ...). */
function setup(options = {}) {
  const time = fakeTime();
  const sent = [];
  const bulks = [];
  let connected = options.connected ?? true;
  const answer = options.answer ?? ((_u, n) => Promise.resolve({ entryId: n }));
  const queue = new WriteQueue({
    intervalMs: options.intervalMs ?? 15 * SEC,
    send: (update) => {
      sent.push({ at: time.now(), update });
      return answer(update, sent.length);
    },
    ...(options.bulk ? { sendBulk: (updates) => (bulks.push({ at: time.now(), updates }), options.bulkAnswer?.(updates) ?? Promise.resolve()) } : {}),
    canSend: () => connected,
    now: time.now,
    timers: time.timers,
    backoff: { initialMs: 1000, maxMs: 60_000, jitter: 0 },
    ...options.queue,
  });
  const changes = [];
  queue.on("changed", (p) => changes.push(p));
  return { time, sent, bulks, queue, changes, connect: (v) => (connected = v) };
}

/** Collects a write's outcome without awaiting it. */
function track(promise) {
  const r = { done: false };
  promise.then((v) => Object.assign(r, { done: true, value: v }), (e) => Object.assign(r, { done: true, error: e }));
  return r;
}

const fields = (sent) => sent.map((s) => s.update.fields);

describe("ThingSpeak write queue (update interval coalescing)", function () {
  it("sends the first write at once, coalesces the rest into one update per interval (latest per field), never early, nothing lost", async function () {
    const { time, sent, queue } = setup();
    const t0 = time.now();
    const first = track(queue.write({ fields: { 1: 20 } }));
    await time.settle();
    assert.equal(sent.length, 1);
    assert.ok(first.done && first.value.entryId === 1 && first.value.coalesced === 1);

    const writes = [
      track(queue.write({ fields: { 1: 21 } })),
      track(queue.write({ fields: { 2: 50 }, status: "ok" })),
      track(queue.write({ fields: { 1: 22, 3: "x" } })),
    ];
    await time.settle();
    assert.deepEqual(queue.pending, { fields: 4, writes: 3, nextInMs: 15 * SEC });
    await time.advance(15 * SEC - 1);
    assert.equal(sent.length, 1, "not one millisecond early");
    assert.ok(writes.every((w) => !w.done), "done only when sent");
    await time.advance(1);
    assert.equal(sent.length, 2);
    assert.equal(sent[1].at, t0 + 15 * SEC);
    assert.deepEqual(sent[1].update, { fields: { 1: 22, 2: 50, 3: "x" }, status: "ok" });
    for (const w of writes) {
      assert.ok(w.done && w.error === undefined);
      assert.equal(w.value.entryId, 2);
      assert.equal(w.value.coalesced, 3);
    }
    assert.deepEqual(queue.pending, { fields: 0, writes: 0, nextInMs: undefined });
    assert.equal(time.pendingTimers(), 0);

    // After a quiet period the next write goes at once again.
    await time.advance(60 * SEC);
    queue.write({ fields: { 4: 1 } });
    await time.settle();
    assert.equal(sent.length, 3);
  });

  it("starts a new update where a merge would exceed 3000 bytes, and sends it one interval later", async function () {
    const { time, sent, queue } = setup();
    queue.write({ fields: { 8: 0 } });
    await time.settle();
    const a = track(queue.write({ fields: { 1: "a".repeat(1800) } }));
    const b = track(queue.write({ fields: { 2: "b".repeat(1800) } }));
    const c = track(queue.write({ fields: { 2: "c" } }));
    await time.advance(15 * SEC);
    assert.deepEqual(fields(sent).slice(1), [{ 1: "a".repeat(1800) }]);
    await time.advance(15 * SEC);
    assert.deepEqual(fields(sent).slice(2), [{ 2: "c" }], "b and c merged: the latest value wins");
    assert.ok(a.done && b.done && c.done);
    assert.equal(b.value.coalesced, 2);
  });

  it("backs off after a retryable refusal (429 / answer 0), keeping the values merged with newer ones; other refusals reject", async function () {
    const answers = [
      () => Promise.resolve({ entryId: 1 }),
      () => Promise.reject(new TransportError("rate-limited", "HTTP 429 error_too_many_requests", { status: 429 })),
      () => Promise.reject(Object.assign(new TransportError("rate-limited", "answer 0"), { retryAfterMs: 40 * SEC })),
      () => Promise.resolve({ entryId: 2 }),
      () => Promise.reject(new TransportError("invalid", "HTTP 400 error_bad_request", { status: 400 })),
    ];
    const { time, sent, queue } = setup({ answer: (_u, n) => answers[n - 1]() });
    const retrying = [];
    queue.on("retrying", (r) => retrying.push(r.retryInMs));
    queue.write({ fields: { 1: 1 } });
    await time.settle();
    const w2 = track(queue.write({ fields: { 1: 2, 2: 2 } }));
    await time.advance(15 * SEC);
    assert.equal(sent.length, 2);
    assert.equal(w2.done, false, "still pending after the 429");
    const w3 = track(queue.write({ fields: { 2: 3 } }));
    await time.advance(15 * SEC - 1);
    assert.equal(sent.length, 2, "no retry before the interval");
    await time.advance(1);
    assert.equal(sent.length, 3);
    assert.deepEqual(sent[2].update.fields, { 1: 2, 2: 3 }, "the pending values merged with the newer one");
    await time.advance(40 * SEC - 1);
    assert.equal(sent.length, 3, "the server's retry-after is honoured");
    await time.advance(1);
    assert.equal(sent.length, 4);
    assert.ok(w2.value.entryId === 2 && w3.value.entryId === 2 && w3.value.coalesced === 2);
    assert.deepEqual(retrying, [15 * SEC, 40 * SEC]);

    const bad = track(queue.write({ fields: { 1: 9 } }));
    await time.advance(15 * SEC);
    assert.ok(bad.error instanceof TransportError);
    assert.match(bad.error.message, /error_bad_request/);
    assert.equal(sent.length, 5, "not retried");
  });

  it("sends a backlog of bulk writes as one bulk update, each dated when it was written", async function () {
    const { time, sent, bulks, queue } = setup({ bulk: true });
    const t0 = time.now();
    queue.write({ fields: { 1: 1 } }, { bulk: true });
    await time.settle();
    assert.equal(sent.length, 1, "a single write is an ordinary update");
    const writes = [];
    for (let i = 2; i <= 4; i++) {
      await time.advance(SEC);
      writes.push(track(queue.write({ fields: { 1: i } }, { bulk: true })));
    }
    await time.advance(12 * SEC);
    assert.equal(bulks.length, 1);
    assert.equal(bulks[0].at, t0 + 15 * SEC);
    assert.deepEqual(bulks[0].updates.map((u) => [u.fields[1], u.created_at]), [[2, t0 + SEC], [3, t0 + 2 * SEC], [4, t0 + 3 * SEC]]);
    assert.ok(writes.every((w) => w.done && w.value.bulk === true && w.value.coalesced === 1));
  });

  it("waits while it cannot send and goes on kick(); refuses writes beyond its bound", async function () {
    const { time, sent, queue, connect } = setup({ connected: false, queue: { maxWaiting: 2 } });
    const a = track(queue.write({ fields: { 1: 1 } }));
    const b = track(queue.write({ fields: { 2: 2 } }));
    await assert.rejects(queue.write({ fields: { 3: 3 } }), (err) => err.code === "overflow" && /2 writes are already waiting/.test(err.message));
    await time.advance(60 * SEC);
    assert.equal(sent.length, 0);
    assert.deepEqual(queue.pending, { fields: 2, writes: 2, nextInMs: undefined });
    connect(true);
    queue.kick();
    await time.settle();
    assert.deepEqual(fields(sent), [{ 1: 1, 2: 2 }]);
    assert.ok(a.done && b.done);
  });

  it("on close sends what is due, then refuses the rest with a count", async function () {
    const { time, sent, queue, connect } = setup();
    queue.write({ fields: { 1: 1 } });
    await time.settle();
    const late = track(queue.write({ fields: { 1: 2 } }));
    const closing = queue.close(true, 20 * SEC);
    await time.advance(15 * SEC);
    assert.equal(await closing, 0);
    assert.equal(sent.length, 2, "flushed when its turn came within the wait");
    assert.ok(late.done && late.error === undefined);

    const other = setup();
    other.queue.write({ fields: { 1: 1 } });
    await other.time.settle();
    const lost = track(other.queue.write({ fields: { 1: 2 } }));
    other.connect(false);
    assert.equal(await other.queue.close(true, 20 * SEC), 1);
    await other.time.settle();
    assert.equal(lost.error.code, "closed");
    await assert.rejects(other.queue.write({ fields: { 1: 3 } }), (err) => err.code === "closed");
    connect(false);
  });
});
