"use strict";
const assert = require("node:assert/strict");
const { MemoryDeviceHistory, BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");

describe("MemoryDeviceHistory (the broker's default history)", function () {
  it("answers a stream's points in time order, by range, limit and latest", async function () {
    const h = new MemoryDeviceHistory();
    for (const [ts, v] of [[10, 1], [30, 3], [20, 2], [40, "four"], [20, 2.5]]) h.append("blynk", "d1", "Temp", ts, v);
    h.append("blynk", "d2", "Temp", 10, "other device");
    assert.deepEqual((await h.query("blynk", "d1", "Temp")).map((p) => [p.ts, p.value]), [[10, 1], [20, 2], [20, 2.5], [30, 3], [40, "four"]]);
    assert.deepEqual((await h.query("blynk", "d1", "Temp", { from: 20, to: 30 })).map((p) => p.value), [2, 2.5, 3]);
    assert.deepEqual((await h.query("blynk", "d1", "Temp", { limit: 2 })).map((p) => p.value), [1, 2]);
    assert.deepEqual((await h.query("blynk", "d1", "Temp", { limit: 2, latest: true })).map((p) => p.value), [3, "four"]);
    assert.deepEqual(await h.query("blynk", "d1", "none"), []);
    assert.deepEqual(await h.streams("blynk", "d1"), ["Temp"]);
  });

  it("is bounded per stream (the oldest go) and per device (further streams are not kept)", async function () {
    const h = new MemoryDeviceHistory({ maxPerStream: 3, maxStreamsPerDevice: 2 });
    for (let i = 0; i < 10; i++) h.append("tb", "d", "a", i, i);
    h.append("tb", "d", "b", 1, 1);
    h.append("tb", "d", "c", 1, 1);
    assert.deepEqual((await h.query("tb", "d", "a")).map((p) => p.value), [7, 8, 9]);
    assert.deepEqual(await h.streams("tb", "d"), ["a", "b"]);
    // However many came (the oldest are dropped in batches), a read sees the newest `maxPerStream`,
    // and a point older than those is as good as dropped.
    for (let i = 10; i < 200; i++) h.append("tb", "d", "a", i, i);
    h.append("tb", "d", "a", 5, "late");
    assert.deepEqual((await h.query("tb", "d", "a")).map((p) => p.value), [197, 198, 199]);
    assert.deepEqual((await h.query("tb", "d", "a", { limit: 2 })).map((p) => p.value), [197, 198]);
  });

  it("is what an engine uses unless it is given another", async function () {
    const engine = await BrokerEngine.create({});
    try {
      assert.ok(engine.history instanceof MemoryDeviceHistory);
    } finally {
      await engine.close();
    }
  });
});
