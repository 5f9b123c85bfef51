"use strict";
// The engine's device stores seen through broker/device-watch.ts: the stores open now are listed
// (without opening one), every change is told to watchers with plugin, device and section, a
// throwing watcher does not fail the write, and the same store comes back while it is open.
const assert = require("node:assert/strict");
const { BrokerEngine, MemoryDeviceStores } = require("../../../dist/nodes/lib/broker/index.js");

describe("broker device watch", function () {
  let engine;
  afterEach(async function () {
    await engine?.close();
  });

  it("lists open stores and tells watchers about each change", async function () {
    engine = await BrokerEngine.create({ deviceStores: new MemoryDeviceStores() });
    const seen = [];
    const unwatch = engine.deviceStores.watch((plugin, device, section, at) => seen.push([plugin, device, section, at]));
    engine.deviceStores.watch(() => {
      throw new Error("a broken watcher");
    });
    assert.equal(engine.deviceStores.opened("toy", "d1"), undefined);
    assert.deepEqual(engine.deviceStores.devices(), [], "opened() opens nothing");
    const store = engine.deviceStores.open("toy", "d1");
    assert.equal(engine.deviceStores.open("toy", "d1"), store);
    assert.equal(engine.deviceStores.opened("toy", "d1"), store);
    store.set("ds", "Temp", "21", 5_000);
    assert.equal(store.get("ds", "Temp").value, "21");
    store.delete("ds", "nothing");
    store.delete("ds", "Temp");
    store.clear("ds");
    assert.deepEqual(seen.map((s) => s.slice(0, 3)), [["toy", "d1", "ds"], ["toy", "d1", "ds"], ["toy", "d1", "ds"]]);
    assert.equal(seen[0][3], 5_000);
    assert.deepEqual(engine.deviceStores.devices(), [{ plugin: "toy", deviceId: "d1" }]);
    unwatch();
    store.set("ds", "Temp", "22", 6_000);
    assert.equal(seen.length, 3);
    engine.deviceStores.close("toy", "d1");
    assert.equal(engine.deviceStores.opened("toy", "d1"), undefined);
  });
});
