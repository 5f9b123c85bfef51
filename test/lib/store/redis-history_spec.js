"use strict";
// RedisHistory on a real redis-server: the DeviceHistory behaviour (ranges, limits, latest, time
// order, streams), the bound per stream, retention, several instances writing one history, and
// what it does while Redis is down.
const assert = require("node:assert/strict");
const { redisSuite, untilStatus, haveRedis } = require("./redis-fixtures.js");

(haveRedis() ? describe : describe.skip)("RedisHistory (real redis-server)", function () {
  const suite = redisSuite(this);

  it("answers a stream's points in time order, by range, limit and latest; values come back as they went in", async function () {
    const { history: h } = await suite.start();
    for (const [ts, v] of [[10, 1], [30, 3], [20, 2], [40, "four"], [20, 2.5], [50, { a: [null, true] }], [60, 1_780_000_000_123.5]]) h.append("blynk", "d1", "Temp", ts, v);
    h.append("blynk", "d2", "Temp", 10, "other device");
    h.append("blynk", "d1", "Hum", 10, 40);
    const values = async (q) => (await h.query("blynk", "d1", "Temp", q)).map((p) => [p.ts, p.value]);
    assert.deepEqual(await values(), [[10, 1], [20, 2], [20, 2.5], [30, 3], [40, "four"], [50, { a: [null, true] }], [60, 1_780_000_000_123.5]]);
    assert.deepEqual(await values({ from: 20, to: 30 }), [[20, 2], [20, 2.5], [30, 3]]);
    assert.deepEqual(await values({ limit: 2 }), [[10, 1], [20, 2]]);
    assert.deepEqual(await values({ limit: 2, latest: true }), [[50, { a: [null, true] }], [60, 1_780_000_000_123.5]]);
    assert.deepEqual(await values({ limit: 0 }), []);
    assert.deepEqual(await h.query("blynk", "d1", "none"), []);
    assert.deepEqual((await h.streams("blynk", "d1")).sort(), ["Hum", "Temp"]);
    assert.deepEqual(await h.streams("blynk", "nobody"), []);
  });

  it("keeps at most maxPerStream points per stream (the oldest go) and equal points apart", async function () {
    const { history: h } = await suite.start({ history: { maxPerStream: 3 } });
    for (let i = 0; i < 10; i++) h.append("tb", "d", "a", 100, "same");
    for (let i = 0; i < 10; i++) h.append("tb", "d", "b", i, i);
    await h.flush();
    assert.equal((await h.query("tb", "d", "a")).length, 3);
    assert.deepEqual((await h.query("tb", "d", "b")).map((p) => p.value), [7, 8, 9]);
  });

  it("prunes points older than the retention", async function () {
    let now = 10 * 86_400_000;
    const { history: h } = await suite.start({ history: { retentionDays: 2, pruneEveryMs: 3_600_000, prunePassStreams: 1, now: () => now } });
    for (const stream of ["a", "b", "c"]) for (const day of [1, 7, 9]) h.append("ts", "ch", stream, day * 86_400_000, day);
    await h.flush();
    await h.pruneOnce();
    for (const stream of ["a", "b", "c"]) assert.deepEqual((await h.query("ts", "ch", stream)).map((p) => p.value), [9], stream);
    now += 86_400_000;
    await h.pruneOnce();
    assert.deepEqual((await h.query("ts", "ch", "a")).map((p) => p.value), [9]);
  });

  it("two instances of one broker write and read one history", async function () {
    const prefix = suite.newPrefix();
    const [a, b] = [await suite.start({ prefix }), await suite.start({ prefix })];
    a.history.append("blynk", "d", "V1", 1, "from A");
    b.history.append("blynk", "d", "V1", 2, "from B");
    await Promise.all([a.history.flush(), b.history.flush()]);
    for (const h of [a.history, b.history]) assert.deepEqual((await h.query("blynk", "d", "V1")).map((p) => p.value), ["from A", "from B"]);
  });

  it("refuses a time that is not a number and a value JSON cannot hold", async function () {
    const { history: h } = await suite.start();
    assert.throws(() => h.append("toy", "d", "s", Number.NaN, 1), (err) => err.code === "invalid");
    assert.throws(() => h.append("toy", "d", "s", 1, 10n), (err) => err.code === "invalid" && /toy device d stream s/.test(err.message));
  });

  it("while Redis is down: appends wait (bounded, the oldest dropped), queries refuse; once it is back the points are written", async function () {
    const b = await suite.start({ history: { maxPending: 5 } });
    const h = b.history;
    await suite.redis().stop();
    await untilStatus(b, (s) => !s.available);
    for (let i = 0; i < 8; i++) h.append("toy", "d", "s", i, i);
    assert.equal(h.pending, 5);
    assert.equal(h.dropped, 3);
    await assert.rejects(h.query("toy", "d", "s"), (err) => err.code === "unavailable");
    await assert.rejects(h.flush(), (err) => err.code === "unavailable");
    await suite.redis().start();
    await untilStatus(b, (s) => s.available);
    await h.flush();
    assert.deepEqual((await h.query("toy", "d", "s")).map((p) => p.value), [3, 4, 5, 6, 7]);
  });
  it("a history just opened waits for its first connection: a read and a flush right after opening answer (bench/storage.mjs read the 1,000 devices' history that way)", async function () {
    const prefix = suite.newPrefix();
    const before = await suite.start({ prefix });
    for (let d = 0; d < 20; d++) for (let i = 0; i < 3; i++) before.history.append("blynk", `d${d}`, "Temperature", i, d * 10 + i);
    await before.close();
    // As a restart opens it: connecting, not yet ready.
    const reopened = suite.storage({ prefix });
    assert.notEqual(reopened.store.status.available, true);
    const reads = [];
    for (let d = 0; d < 20; d++) reads.push(reopened.history.query("blynk", `d${d}`, "Temperature"));
    const points = await Promise.all(reads);
    assert.deepEqual(points.map((p) => p.map((x) => x.value)), Array.from({ length: 20 }, (_, d) => [d * 10, d * 10 + 1, d * 10 + 2]));
    const fresh = suite.storage({ prefix });
    fresh.history.append("blynk", "d0", "Temperature", 3, "after");
    assert.deepEqual(await fresh.history.streams("blynk", "d0"), ["Temperature"]);
    await fresh.flush();
    assert.deepEqual((await fresh.history.query("blynk", "d0", "Temperature", { latest: true, limit: 1 })).map((p) => p.value), ["after"]);
  });

  it("opened while Redis is down: a read and a flush refuse once the first attempt fails (they do not wait for an outage)", async function () {
    await suite.redis().stop();
    const s = suite.storage();
    s.history.append("toy", "d", "s", 1, 1);
    await assert.rejects(s.history.query("toy", "d", "s"), (err) => err.code === "unavailable");
    await assert.rejects(s.flush(), (err) => err.code === "unavailable");
  });
});
