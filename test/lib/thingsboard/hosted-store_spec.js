"use strict";
// The hosted ThingsBoard device's state as a typed view over a DeviceStore (hosted-store.ts),
// and the read helpers a local link uses (hosted-state.ts): semantics, limits, layout.
const assert = require("node:assert/strict");
const { MemoryDeviceStore } = require("../../../dist/nodes/lib/broker/index.js");
const { TbDeviceState, STORE_LIMITS } = require("../../../dist/nodes/lib/thingsboard/hosted-store.js");
const { latestTelemetry, selectAttributes, SUB_DEVICES } = require("../../../dist/nodes/lib/thingsboard/hosted-state.js");

const ALL = { all: true, clientKeys: [], sharedKeys: [] };
const tooLarge = (pattern) => (err) => err.code === "too-large" && pattern.test(err.message);

describe("thingsboard/hosted-store: a hosted device's state over a DeviceStore", function () {
  let store;
  let state;
  beforeEach(function () {
    store = new MemoryDeviceStore();
    state = new TbDeviceState(store, () => 1000);
  });

  it("remembers client and shared attributes per device and sub-device; answers ThingsBoard's selections", function () {
    state.setAttributes("client", { fw: "1.0", model: "T1" });
    state.updateShared({ values: { led: true, gone: 1 }, deleted: [] });
    state.updateShared({ values: { interval: 10 }, deleted: ["gone"] });
    state.setAttributes("client", { fw: "2.1" }, "Sensor A");
    assert.deepEqual(state.select(ALL), { client: { fw: "1.0", model: "T1" }, shared: { led: true, interval: 10 } });
    assert.deepEqual(state.select({ all: false, clientKeys: ["model", "nope"], sharedKeys: [] }), { client: { model: "T1" }, shared: {} });
    assert.deepEqual(state.select(ALL, "Sensor A"), { client: { fw: "2.1" }, shared: {} });
    assert.deepEqual(state.select(ALL, "Unknown"), { client: {}, shared: {} });
    // The link reads the same store through hosted-state.ts.
    assert.deepEqual(selectAttributes(store, ALL), state.select(ALL));
    assert.deepEqual(store.entries(SUB_DEVICES).map(([name]) => name), ["Sensor A"]);
  });

  it("keeps the latest value of each telemetry key by its ts, with the arrival time for entries without one", function () {
    state.setTelemetry([{ ts: 20, values: { t: 1, h: 50 } }, { ts: 30, values: { t: 2 } }]);
    state.setTelemetry([{ ts: 10, values: { t: 0, old: true } }]); // older: t stays, a new key is kept
    state.setTelemetry([{ values: { p: 7 } }]);
    assert.deepEqual(latestTelemetry(store), { t: { ts: 30, value: 2 }, h: { ts: 20, value: 50 }, old: { ts: 10, value: true }, p: { ts: 1000, value: 7 } });
    state.setTelemetry([{ ts: 5, values: { t: 9 } }], "Sensor A");
    assert.deepEqual(latestTelemetry(store, "Sensor A"), { t: { ts: 5, value: 9 } });
  });

  it("keeps what fits and names what it did not keep: values over 64 KB, key 1001, sub-device 1001", function () {
    const big = "x".repeat(STORE_LIMITS.valueBytes);
    assert.throws(() => state.setAttributes("client", { ok: 1, big }), tooLarge(/client attributes not remembered: "big" is 65538 bytes \(at most 65536\)/));
    assert.deepEqual(state.select(ALL).client, { ok: 1 });
    const many = Object.fromEntries(Array.from({ length: STORE_LIMITS.keys + 1 }, (_, i) => [`k${i}`, i]));
    assert.throws(() => state.setTelemetry([{ ts: 1, values: many }]), tooLarge(/telemetry not remembered: "k1000" would be key 1001 \(at most 1000\)/));
    assert.equal(store.size("telemetry"), STORE_LIMITS.keys);
    state.setTelemetry([{ ts: 2, values: { k0: "updated" } }]); // a known key still changes
    assert.equal(latestTelemetry(store).k0.value, "updated");
    for (let i = 0; i < STORE_LIMITS.subDevices; i++) state.setAttributes("client", { a: i }, `S${i}`);
    assert.throws(() => state.setTelemetry([{ ts: 1, values: { a: 1 } }], "One too many"), tooLarge(/sub-device "One too many" not remembered: the gateway already has 1000 sub-devices/));
    state.setTelemetry([{ ts: 1, values: { a: 1 } }], "S0"); // known sub-devices still change
    assert.equal(store.size(SUB_DEVICES), STORE_LIMITS.subDevices);
  });

  it("keeps out what JSON cannot hold (a device's 1e999 parses as Infinity), naming it, and keeps the rest", function () {
    const fromDevice = JSON.parse('{"ok":1,"huge":1e999,"deep":{"x":[-1e999]},"fine":{"y":[2]}}');
    assert.throws(() => state.setAttributes("client", fromDevice), (err) => err.code === "invalid" && /client attributes not remembered: "huge" is not JSON \(a number out of range\); "deep" is not JSON/.test(err.message));
    assert.throws(() => state.setTelemetry([{ ts: 5, values: JSON.parse('{"t":1e999,"h":40}') }]), /telemetry not remembered: "t" is not JSON/);
    assert.deepEqual(state.select(ALL).client, { ok: 1, fine: { y: [2] } });
    assert.deepEqual(latestTelemetry(store), { h: { ts: 5, value: 40 } });
    for (const section of ["client", "telemetry"]) {
      assert.deepEqual(JSON.parse(JSON.stringify(store.entries(section))), store.entries(section), `${section} holds JSON only`);
    }
  });

  it("keeps only JSON in the store, keyed by section names, never by a credential", function () {
    state.setAttributes("shared", { cfg: { a: [1, "b"] } }, "Sensor A");
    state.setTelemetry([{ ts: 3, values: { t: 1 } }]);
    assert.deepEqual(JSON.parse(JSON.stringify(store.entries("shared:Sensor A"))), [["cfg", { value: { a: [1, "b"] }, at: 1000 }]]);
    assert.deepEqual(store.entries("telemetry"), [["t", { value: 1, at: 3 }]]);
  });
});
