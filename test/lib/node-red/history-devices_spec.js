"use strict";
// Which device and which history stream an iot-history node's settings name
// (node-red/history-devices.ts): devices by id or name among the flows' definitions, every
// refusal, each platform's keys (Blynk pins, ThingsBoard sub-devices with the producers' escaping,
// ThingSpeak fields and their names), and the keys a device's streams are.
const assert = require("node:assert/strict");
const { findDevice, keyStreams, keysOf, listKeys, parsePlatform } = require("../../../dist/nodes/lib/node-red/history-devices.js");
const { historyStream } = require("../../../dist/nodes/lib/thingsboard/hosted-state.js");
const { HistoryRefusal } = require("../../../dist/nodes/lib/broker/history-read.js");

const DEFS = [
  { id: "broker", type: "iot-broker", name: "Home" },
  { id: "b1", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "broker", pins: "V1=Temperature, V2=Humidity" },
  { id: "t1", type: "thingsboard-device", name: "Gateway", connection: "local", broker: "broker", gateway: true },
  { id: "s1", type: "thingspeak-channel", name: "Weather", connection: "local", broker: " broker ", fieldNames: "1=Temperature, 3=Wind speed" },
  { id: "cloud", type: "blynk-device", name: "Cloud", connection: "mqtt" },
  { id: "unset", type: "thingsboard-device", name: "Unset" },
  { id: "nobroker", type: "thingspeak-channel", name: "No broker", connection: "local", broker: "" },
  { id: "twin1", type: "blynk-device", name: "Twin", connection: "local", broker: "broker" },
  { id: "twin2", type: "thingsboard-device", name: "Twin", connection: "local", broker: "broker" },
  { id: "Weather", type: "function", name: "a node whose id is a device's name" },
  { id: "f1", type: "function", name: "Greenhouse" },
];
const eachNode = (visit) => DEFS.forEach(visit);

function refuses(fn, key, params = {}) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof HistoryRefusal, `not a HistoryRefusal: ${err}`);
    assert.equal(err.key, key, err.message);
    for (const [k, v] of Object.entries(params)) assert.equal(err.params[k], v, `param ${k} of ${err.message}`);
    return true;
  });
}

describe("history-devices: finding the device", function () {
  it("finds a local device by its config node's id or by its name (a name no other device has)", function () {
    const byId = findDevice(eachNode, "b1");
    assert.deepEqual({ ...byId, def: undefined }, { plugin: "blynk", type: "blynk-device", id: "b1", name: "Greenhouse", broker: "broker", def: undefined });
    assert.equal(findDevice(eachNode, " Greenhouse ").id, "b1");
    assert.equal(findDevice(eachNode, "Gateway").plugin, "thingsboard");
    const ts = findDevice(eachNode, "s1");
    assert.equal(ts.plugin, "thingspeak");
    assert.equal(ts.broker, "broker", "the broker setting is trimmed as the config node trims it");
  });

  it("an id wins over a name, so two devices of one name can still be told apart", function () {
    assert.equal(findDevice(eachNode, "twin2").id, "twin2");
  });

  const refusals = [
    [undefined, "no-device"],
    [null, "no-device"],
    ["", "no-device"],
    ["  ", "invalid-device"],
    [42, "invalid-device", { got: "42" }],
    [{ id: "b1" }, "invalid-device", { got: "an object" }],
    ["nothing", "unknown-device", { device: "nothing" }],
    ["Twin", "ambiguous-device", { device: "Twin", count: "2" }],
    ["broker", "not-a-device", { type: "iot-broker" }],
    ["Weather", "not-a-device", { type: "function" }],
    ["cloud", "not-local", { device: "Cloud", connection: "mqtt" }],
    ["unset", "not-local", { device: "Unset", connection: "mqtt" }],
    ["nobroker", "no-broker", { device: "No broker" }],
  ];
  for (const [given, key, params] of refusals) {
    it(`${JSON.stringify(given) ?? "undefined"} is refused (${key})`, function () {
      refuses(() => findDevice(eachNode, given), key, params);
    });
  }
});

describe("history-devices: the platform", function () {
  it("is read in any case and spacing; nothing or \"\" is any platform", function () {
    assert.deepEqual(["blynk", " ThingsBoard ", "THINGSPEAK", "", undefined, null].map(parsePlatform), ["blynk", "thingsboard", "thingspeak", undefined, undefined, undefined]);
    for (const [given, got] of [["mqtt", '"mqtt"'], ["blynk-device", '"blynk-device"'], [1, "1"], [["blynk"], "an array of 1"]]) refuses(() => parsePlatform(given), "invalid-platform", { got });
  });

  it("narrows a name to that platform's devices, and refuses a device of another platform by id", function () {
    assert.equal(findDevice(eachNode, "Twin", "thingsboard").id, "twin2");
    assert.equal(findDevice(eachNode, "Twin", "blynk").id, "twin1");
    assert.equal(findDevice(eachNode, "twin1", "blynk").id, "twin1");
    refuses(() => findDevice(eachNode, "Twin", "thingspeak"), "unknown-platform-device", { device: "Twin", platform: "ThingSpeak" });
    refuses(() => findDevice(eachNode, "twin1", "thingspeak"), "wrong-platform", { device: "Twin", platform: "Blynk", wanted: "ThingSpeak" });
    refuses(() => findDevice(eachNode, "Weather", "thingspeak"), "not-a-device", { type: "function" });
  });
});

describe("history-devices: which stream a key names", function () {
  const blynk = findDevice(eachNode, "b1");
  const tb = findDevice(eachNode, "t1");
  const ts = findDevice(eachNode, "s1");
  const ok = [
    [blynk, "Temperature", undefined, ["Temperature"], false],
    [blynk, " Temperature ", "", ["Temperature"], false],
    [blynk, "V1", undefined, ["V1", "Temperature"], false],
    [blynk, "v2", undefined, ["v2", "Humidity"], false],
    [blynk, "V7", undefined, ["V7", "v7"], false],
    [blynk, "v7", undefined, ["v7"], false],
    [tb, "temperature", undefined, ["temperature"], false],
    [tb, "a/b", undefined, ["a%2Fb"], false],
    [tb, "100%", null, ["100%25"], false],
    [tb, "temperature", "Greenhouse A", ["Greenhouse A/temperature"], false],
    [tb, "temperature", " Sub/1 ", ["Sub%2F1/temperature"], false],
    [tb, "x/y", "S", ["S/x/y"], false],
    [ts, "field1", undefined, ["field1"], true],
    [ts, "3", undefined, ["field3"], true],
    [ts, "Field8", undefined, ["field8"], true],
    [ts, "Temperature", undefined, ["field1"], true],
    [ts, "wind speed", undefined, ["field3"], true],
  ];
  for (const [device, key, sub, candidates, alwaysKnown] of ok) {
    it(`${device.plugin} ${JSON.stringify(key)}${sub ? ` of ${JSON.stringify(sub)}` : ""} -> ${candidates.join(" | ")}`, function () {
      assert.deepEqual(keyStreams(device, key, sub), { key: key.trim(), candidates, alwaysKnown });
    });
  }

  it("names ThingsBoard streams exactly as the producers do (thingsboard/hosted-state.ts historyStream)", function () {
    for (const [key, sub] of [["t", undefined], ["a/b%", undefined], ["k", "G/1%"], ["k/2", "G"]]) {
      assert.deepEqual(keyStreams(tb, key, sub).candidates, [historyStream(key, sub)]);
    }
  });

  const refusals = [
    [blynk, undefined, undefined, "no-key"],
    [blynk, "", undefined, "no-key"],
    [blynk, "  ", undefined, "invalid-key"],
    [blynk, 7, undefined, "invalid-key", { got: "7" }],
    [tb, "t", 5, "invalid-sub-device", { got: "5" }],
    [blynk, "Temperature", "Sub", "sub-device-not-thingsboard", { device: "Greenhouse" }],
    [ts, "field1", "Sub", "sub-device-not-thingsboard"],
    [ts, "field9", undefined, "invalid-field", { got: '"field9"', names: ", Temperature, Wind speed" }],
    [ts, "Rain", undefined, "invalid-field"],
    [ts, "0", undefined, "invalid-field"],
  ];
  for (const [device, key, sub, code, params] of refusals) {
    it(`${device.plugin} ${JSON.stringify(key) ?? "undefined"}${sub === undefined ? "" : ` of ${JSON.stringify(sub)}`} is refused (${code})`, function () {
      refuses(() => keyStreams(device, key, sub), code, params);
    });
  }
});

describe("history-devices: the keys of a device's streams", function () {
  it("are the streams themselves, and for ThingsBoard the key and sub-device each stream stands for", function () {
    assert.deepEqual(keysOf("blynk", ["Temperature", "v1"]), [{ key: "Temperature" }, { key: "v1" }]);
    const keys = ["t", "a/b", "100%", ["k", "G/1%"], ["x/y", "S"]].map((k) => (Array.isArray(k) ? historyStream(...k) : historyStream(k)));
    assert.deepEqual(keysOf("thingsboard", keys), [{ key: "t" }, { key: "a/b" }, { key: "100%" }, { key: "k", subDevice: "G/1%" }, { key: "x/y", subDevice: "S" }]);
  });

  it("are listed for a message briefly: at most 20, each at most 40 characters", function () {
    assert.equal(listKeys([]), "");
    assert.equal(listKeys([{ key: "a" }, { key: "b", subDevice: "G" }]), "a, b (sub-device G)");
    const many = Array.from({ length: 25 }, (_, i) => ({ key: `k${i}` }));
    assert.match(listKeys(many), /^k0, k1, .*k19 and 5 more$/);
    assert.equal(listKeys([{ key: "x".repeat(50) }]), `${"x".repeat(40)}…`);
  });
});
