"use strict";
// SqliteHistory: points per stream with their time, queries by range and limit, the bound per
// stream, retention in days (a bounded pass at a time), and what happens while the disk fails.
const assert = require("node:assert/strict");
const path = require("node:path");
const { until } = require("../../support/wait.js");
const { store, tempDir, removeTempDirs, opener } = require("./fixtures.js");

const { StoreError } = store;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

describe("SqliteHistory", function () {
  const stores = opener();
  let file;
  beforeEach(function () {
    file = path.join(tempDir(), "h.db");
  });
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });

  it("keeps every point of a stream in time order, same-ms points in the order they came", async function () {
    const s = stores.open(file);
    const h = s.history;
    h.append("blynk", "dev", "Temp", T0 + 2000, 22.5);
    h.append("blynk", "dev", "Temp", T0, 20);
    h.append("blynk", "dev", "Temp", T0 + 1000, { nested: ["x"] });
    h.append("blynk", "dev", "Temp", T0 + 1000, "second at the same ms");
    h.append("blynk", "dev", "Temp", T0 + 1000, null);
    h.append("blynk", "dev", "Hum", T0, 40);
    const expected = [
      { ts: T0, value: 20 },
      { ts: T0 + 1000, value: { nested: ["x"] } },
      { ts: T0 + 1000, value: "second at the same ms" },
      { ts: T0 + 1000, value: null },
      { ts: T0 + 2000, value: 22.5 },
    ];
    assert.deepEqual(h.query("blynk", "dev", "Temp"), expected, "a query sees what was appended before it");
    await s.flush();
    s.close();
    const again = stores.open(file);
    assert.deepEqual(again.history.query("blynk", "dev", "Temp"), expected);
    assert.deepEqual(again.history.query("blynk", "dev", "Hum"), [{ ts: T0, value: 40 }]);
    assert.deepEqual(
      again.history.streams("blynk", "dev").sort((a, b) => a.stream.localeCompare(b.stream)),
      [
        { stream: "Hum", count: 1 },
        { stream: "Temp", count: 5 },
      ],
    );
    assert.deepEqual(again.history.query("blynk", "other", "Temp"), []);
    assert.deepEqual(again.history.query("tb", "dev", "Temp"), [], "plugins apart");
  });

  it("keeps same-ms points in order across commits, a failed commit and a reopen, and back-filled older points in their place", async function () {
    let s = stores.open(file, { retryMs: 5 });
    const h = () => s.history;
    h().append("blynk", "dev", "Temp", T0 + 1000, "a");
    await s.flush();
    h().append("blynk", "dev", "Temp", T0 + 1000, "b");
    h().append("blynk", "dev", "Temp", T0 + 500, "older");
    h().append("blynk", "dev", "Temp", T0 + 1000, "c");
    await s.flush();
    // A participant that fails the next commit after the history wrote its points: rolled back, written again.
    let failing = true;
    s.commit.join({
      pending: 1,
      write() {
        if (failing) throw new Error("disk full (simulated)");
      },
      committed() {
        this.pending = 0;
      },
    });
    h().append("blynk", "dev", "Temp", T0 + 2000, "x");
    h().append("blynk", "dev", "Temp", T0 + 2000, "y");
    await assert.rejects(s.flush());
    failing = false;
    await s.flush();
    s.close();
    s = stores.open(file);
    h().append("blynk", "dev", "Temp", T0 + 2000, "z");
    h().append("blynk", "dev", "Temp", T0 + 500, "older2");
    await s.flush();
    const expected = ["older", "older2", "a", "b", "c", "x", "y", "z"];
    assert.deepEqual(h().query("blynk", "dev", "Temp").map((p) => p.value), expected);
    s.close();
    assert.deepEqual(stores.open(file).history.query("blynk", "dev", "Temp").map((p) => p.value), expected);
  });

  it("answers ranges (inclusive), the oldest or the newest N of a range, always oldest first", function () {
    const s = stores.open(file);
    for (let i = 0; i < 10; i++) s.history.append("ts", "ch", "field1", T0 + i * 1000, i);
    const q = (query) => s.history.query("ts", "ch", "field1", query).map((p) => p.value);
    assert.deepEqual(q({ from: T0 + 3000, to: T0 + 5000 }), [3, 4, 5]);
    assert.deepEqual(q({ limit: 3 }), [0, 1, 2]);
    assert.deepEqual(q({ limit: 3, latest: true }), [7, 8, 9]);
    assert.deepEqual(q({ from: T0 + 2000, to: T0 + 6000, limit: 2, latest: true }), [5, 6]);
    assert.deepEqual(q({ limit: 0 }), []);
    assert.deepEqual(q({ from: T0 + 20_000 }), []);
  });

  it("caps a query at maxQueryPoints", function () {
    const s = stores.open(file, { history: { maxQueryPoints: 5 } });
    for (let i = 0; i < 20; i++) s.history.append("ts", "ch", "field1", T0 + i, i);
    assert.equal(s.history.query("ts", "ch", "field1").length, 5);
    assert.equal(s.history.query("ts", "ch", "field1", { limit: 1000 }).length, 5);
  });

  it("keeps at most maxPerStream points per stream, dropping the oldest, across commits and reopens", async function () {
    const s = stores.open(file, { history: { maxPerStream: 100 } });
    for (let i = 0; i < 250; i++) s.history.append("blynk", "chatty", "V1", T0 + i, i);
    s.history.append("blynk", "quiet", "V1", T0, "kept");
    await s.flush();
    for (let i = 250; i < 260; i++) s.history.append("blynk", "chatty", "V1", T0 + i, i);
    await s.flush();
    const points = s.history.query("blynk", "chatty", "V1");
    assert.equal(points.length, 100);
    assert.deepEqual([points[0].value, points[99].value], [160, 259]);
    assert.deepEqual(s.history.query("blynk", "quiet", "V1"), [{ ts: T0, value: "kept" }]);
    s.close();
    const again = stores.open(file, { history: { maxPerStream: 100 } });
    assert.deepEqual(again.history.streams("blynk", "chatty"), [{ stream: "V1", count: 100 }]);
    again.history.append("blynk", "chatty", "V1", T0 + 260, 260);
    const after = again.history.query("blynk", "chatty", "V1");
    assert.deepEqual([after.length, after[0].value, after[99].value], [100, 161, 260]);
  });

  it("keeps at most maxStreamsPerDevice streams per device (points of further streams are not kept), across reopens", async function () {
    const s = stores.open(file, { history: { maxStreamsPerDevice: 3 } });
    for (const stream of ["a", "b", "c", "d"]) s.history.append("thingsboard", "gateway", stream, T0, stream);
    s.history.append("thingsboard", "other", "x", T0, 1);
    s.history.append("thingsboard", "gateway", "a", T0 + 1, "a2"); // a kept stream goes on
    await s.flush();
    assert.deepEqual(s.history.streams("thingsboard", "gateway").map((x) => x.stream), ["a", "b", "c"]);
    assert.deepEqual(s.history.query("thingsboard", "gateway", "d"), []);
    assert.equal(s.history.query("thingsboard", "gateway", "a").length, 2);
    assert.deepEqual(s.history.streams("thingsboard", "other"), [{ stream: "x", count: 1 }]);
    s.close();
    const again = stores.open(file, { history: { maxStreamsPerDevice: 3 } });
    again.history.append("thingsboard", "gateway", "e", T0, "e");
    await again.flush();
    assert.equal(again.history.streams("thingsboard", "gateway").length, 3, "the bound counts the streams in the file");
    again.history.forget("thingsboard", "gateway");
    again.history.append("thingsboard", "gateway", "e", T0, "e");
    assert.deepEqual(again.history.streams("thingsboard", "gateway").map((x) => x.stream), ["e"], "a forgotten device starts over");
  });

  it("prunes points older than the retention, a bounded pass at a time", async function () {
    let now = T0 + 10 * DAY;
    const s = stores.open(file, { history: { retentionDays: 2, prunePassRows: 7, now: () => now } });
    for (let i = 0; i < 10; i++) {
      s.history.append("tb", "dev", "temp", T0 + i * DAY, i); // days 0..9
      s.history.append("tb", "dev", "hum", T0 + i * DAY + 1, i);
    }
    await s.flush();
    // Cut-off: day 8; 16 points are older: three passes of at most 7.
    assert.equal(s.history.pruneOnce(), true);
    assert.equal(s.history.pruneOnce(), true);
    assert.equal(s.history.pruneOnce(), false);
    assert.deepEqual(
      s.history.query("tb", "dev", "temp").map((p) => p.value),
      [8, 9],
    );
    assert.deepEqual(s.history.streams("tb", "dev").map((x) => x.count), [2, 2]);
    now += DAY;
    assert.equal(s.history.pruneOnce(), false);
    assert.deepEqual(
      s.history.query("tb", "dev", "hum").map((p) => p.value),
      [9],
    );
  });

  it("runs the retention pass by itself after opening", async function () {
    let s = stores.open(file);
    for (let i = 0; i < 30; i++) s.history.append("ts", "ch", "field1", T0 + i * DAY, i);
    s.close();
    s = stores.open(file, { history: { retentionDays: 5, prunePassRows: 4, now: () => T0 + 30 * DAY } });
    await until(() => s.history.streams("ts", "ch")[0].count === 5, 5_000, "the retention pass to finish");
    assert.deepEqual(
      s.history.query("ts", "ch", "field1").map((p) => p.value),
      [25, 26, 27, 28, 29],
    );
  });

  it("prunes on its own timer while the store runs, not only at open; a shorter retention prunes at once", async function () {
    let now = T0 + 10 * DAY;
    const s = stores.open(file, { history: { retentionDays: 30, pruneEveryMs: 20, now: () => now } });
    for (let i = 0; i < 10; i++) s.history.append("blynk", "dev", "V1", T0 + i * DAY, i); // days 0..9
    await s.flush();
    const kept = () => s.history.query("blynk", "dev", "V1").map((p) => p.value);
    assert.deepEqual(kept(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "all within 30 days");
    // Days go by while it runs: the timer's passes take what fell out of the 30 days.
    now = T0 + 35 * DAY;
    await until(() => kept().length === 5, 5_000, "the timer's retention pass");
    assert.deepEqual(kept(), [5, 6, 7, 8, 9]);
    // A redeploy with a shorter retention hands it to the running store (BrokerStorage.update).
    s.history.retentionDays = 27;
    await until(() => kept().length === 2, 5_000, "the pass for the new retention");
    assert.deepEqual(kept(), [8, 9]);
    assert.deepEqual(s.history.streams("blynk", "dev"), [{ stream: "V1", count: 2 }]);
  });

  it("retention 0 keeps everything", async function () {
    const s = stores.open(file, { history: { retentionDays: 0, now: () => T0 + 1000 * DAY } });
    s.history.append("ts", "ch", "field1", T0, "old");
    await s.flush();
    assert.equal(s.history.pruneOnce(), false);
    assert.equal(s.history.query("ts", "ch", "field1").length, 1);
  });

  it("forget removes a deleted device's history and its waiting points", async function () {
    const s = stores.open(file);
    s.history.append("blynk", "gone", "V1", T0, 1);
    s.history.append("blynk", "kept", "V1", T0, 2);
    await s.flush();
    s.history.append("blynk", "gone", "V2", T0, 3); // waiting, not committed
    s.history.forget("blynk", "gone");
    await s.flush();
    assert.deepEqual(s.history.streams("blynk", "gone"), []);
    assert.deepEqual(s.history.query("blynk", "gone", "V1"), []);
    s.close();
    const again = stores.open(file);
    assert.deepEqual(again.history.streams("blynk", "gone"), []);
    assert.deepEqual(again.history.query("blynk", "kept", "V1"), [{ ts: T0, value: 2 }]);
  });

  it("refuses a point without a finite time or with a value JSON cannot hold, naming the file, and keeps the rest", async function () {
    const s = stores.open(file);
    for (const ts of [Number.NaN, Infinity, undefined]) {
      assert.throws(
        () => s.history.append("blynk", "dev", "V1", ts, 1),
        (err) => err instanceof StoreError && err.code === "invalid" && err.message.includes(file),
      );
    }
    const cycle = [];
    cycle.push(cycle);
    for (const value of [5n, cycle, undefined]) {
      assert.throws(
        () => s.history.append("blynk", "dev", "V1", T0, value),
        (err) => err instanceof StoreError && err.code === "invalid" && err.message.includes("stream V1"),
      );
    }
    s.history.append("blynk", "dev", "V1", T0, "good");
    await s.flush();
    assert.deepEqual(s.history.query("blynk", "dev", "V1"), [{ ts: T0, value: "good" }]);
  });

  it("while commits fail, keeps at most maxPending points waiting, dropping the oldest and counting them", async function () {
    const s = stores.open(file, { retryMs: 5, maxBatch: 10, history: { maxPending: 50 } });
    let failing = true;
    s.commit.join({
      pending: 1,
      write() {
        if (failing) throw new Error("disk full (simulated)");
      },
      committed() {
        this.pending = 0;
      },
    });
    s.commit.touched();
    await assert.rejects(s.flush());
    for (let i = 0; i < 80; i++) s.history.append("blynk", "dev", "V1", T0 + i, i);
    assert.equal(s.history.pending, 50);
    assert.equal(s.history.dropped, 30);
    failing = false;
    await s.flush();
    const points = s.history.query("blynk", "dev", "V1");
    assert.deepEqual([points.length, points[0].value, points[49].value], [50, 30, 79]);
  });
});
