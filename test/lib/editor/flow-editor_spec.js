"use strict";
// resources/flow-editor.js, the flow dialogs' shared editor script, in Node.js: its pure
// functions (validators, parsers, modes) by tables. Each validator gets a translate function
// that returns the key and its parameters, so a row says which message the dialog shows.
const assert = require("node:assert/strict");
const FE = require("../../../resources/flow-editor.js");

/** t(key, args) -> "key {args}" (or the bare key), like the editor's RED._ with our catalog. */
const t = (key, args) => (args === undefined ? key : `${key} ${JSON.stringify(args)}`);

/** Rows of [input, expected]: expected null (accepted) or a key the message must start with. */
function table(name, fn, rows) {
  describe(name, function () {
    for (const [input, expected] of rows) {
      it(`${JSON.stringify(input)} -> ${expected === null ? "accepted" : expected}`, function () {
        const got = fn(input);
        if (expected === null) assert.equal(got, null);
        else assert.ok(typeof got === "string" && got.startsWith(expected), `got ${got}`);
      });
    }
  });
}

describe("flow-editor.js (pure functions)", function () {
  it("loads in Node.js without a browser and defines no window global", function () {
    assert.equal(typeof FE.datastreamProblem, "function");
    assert.equal(typeof globalThis.IotBridgeFlowEditor, "undefined");
  });

  table("datastreamProblem", (v) => FE.datastreamProblem(v, t), [
    ["", null],
    ["Temperature", null],
    ["Set Temperature", null],
    ["V1", null],
    ["a".repeat(255), null],
    ["ü".repeat(127), null],
    ["a/b", 'validation.datastream {"value":"a/b"}'],
    ["a+b", "validation.datastream "],
    ["#", "validation.datastream "],
    ["tab\there", "validation.datastream "],
    ["del\u007f", "validation.datastream "],
    ["a".repeat(256), "validation.datastream-length"],
    ["ü".repeat(128), "validation.datastream-length"],
  ]);

  table("eventProblem", (v) => FE.eventProblem(v, t), [
    ["", null],
    [undefined, null],
    ["temp_alert", null],
    ["a.b-c_D9", null],
    ["has space", 'validation.event {"value":"has space"}'],
    ["ünicode", "validation.event "],
    ["a".repeat(255), null],
    ["a".repeat(256), "validation.event-length"],
  ]);

  table("subDeviceProblem", (v) => FE.subDeviceProblem(v, t), [
    ["", null],
    ["Greenhouse A", null],
    ["Gewächshaus", null],
    ["   ", "validation.sub-device-blank"],
    ["line\nbreak", "validation.sub-device "],
    ["x".repeat(255), null],
    ["x".repeat(256), "validation.sub-device-length"],
  ]);

  table("timeoutProblem", (v) => FE.timeoutProblem(v, t), [
    [10000, null],
    ["1", null],
    [" 250 ", null],
    [2147483647, null],
    [2147483648, "validation.timeout"],
    [0, "validation.timeout"],
    ["", 'validation.timeout {"value":""}'],
    ["1.5", "validation.timeout"],
    ["soon", "validation.timeout"],
    [-1, "validation.timeout"],
  ]);

  table("secondsProblem (max 86400)", (v) => FE.secondsProblem(v, 86400, t), [
    ["", null],
    ["1", null],
    ["15", null],
    ["0.5", 'validation.interval {"value":"0.5","max":86400}'],
    ["1.5", null],
    ["86400", null],
    ["86401", "validation.interval"],
    ["1e3", "validation.interval"],
    ["-5", "validation.interval"],
    ["ten", "validation.interval"],
  ]);

  table("fieldProblem", (v) => FE.fieldProblem(v, t), [
    ["", null],
    ["1", null],
    ["8", null],
    ["field3", null],
    ["Field8", null],
    [4, null],
    ["0", 'validation.field {"value":"0"}'],
    ["9", "validation.field"],
    ["field9", "validation.field"],
    ["Temperature", "validation.field"],
  ]);

  it("namedEntries: the names of a pin or field mapping, first one wins, blanks and junk skipped", function () {
    assert.deepEqual(FE.namedEntries("V1=Temperature, V2 = Humidity;V3=\nV1=Again\n=NoKey, junk"), { V1: "Temperature", V2: "Humidity" });
    assert.deepEqual(FE.namedEntries(undefined), {});
  });

  it("fieldNames: field numbers 1 to 8 of a local channel only", function () {
    assert.deepEqual(FE.fieldNames({ connection: "local", fieldNames: "1=Temperature, 9=Nine, 2=Humidity, x=No" }), { 1: "Temperature", 2: "Humidity" });
    assert.deepEqual(FE.fieldNames({ connection: "mqtt", fieldNames: "1=Temperature" }), {});
    assert.deepEqual(FE.fieldNames(null), {});
  });

  it("modes of the config nodes, and the side Node-RED plays", function () {
    const rows = [
      [FE.blynkMode(null), null],
      [FE.blynkMode({ connection: "" }), "mqtt"],
      [FE.blynkMode({ connection: "https" }), "https"],
      [FE.blynkMode({ connection: "binary" }), "binary"],
      [FE.blynkMode({ connection: "local" }), "local"],
      [FE.thingsBoardMode(null), null],
      [FE.thingsBoardMode({ connection: "mqtt", gateway: true }), "mqtt-gateway"],
      [FE.thingsBoardMode({ connection: "http", gateway: true }), "http"],
      [FE.thingsBoardMode({ connection: "local", gateway: true }), "local-gateway"],
      [FE.thingsBoardMode({ connection: "other" }), "mqtt"],
      [FE.thingSpeakMode({ connection: "rest" }), "rest"],
      [FE.thingSpeakMode({}), "mqtt"],
      [FE.sideOf(null), null],
      [FE.sideOf("mqtt-gateway"), "cloud"],
      [FE.sideOf("https"), "cloud"],
      [FE.sideOf("local-gateway"), "local"],
    ];
    rows.forEach(([got, expected], i) => assert.equal(got, expected, `row ${i}`));
  });

  it("isFleet: a local config node hosting a fleet only", function () {
    assert.equal(FE.isFleet({ connection: "local", hosting: "fleet" }), true);
    assert.equal(FE.isFleet({ connection: "local", hosting: "device" }), false);
    assert.equal(FE.isFleet({ connection: "mqtt", hosting: "fleet" }), false);
    assert.equal(FE.isFleet(null), false);
  });

  describe("typedProblem", function () {
    const checks = { fixed: (text) => FE.datastreamProblem(text, t), property: (text) => (/^[a-z.]+$/.test(text) ? null : "bad path") };
    const rows = [
      // [value, type, fallback, kinds, expected]
      ["Temperature", undefined, "str", undefined, null],
      ["a/b", undefined, "str", undefined, "validation.datastream "],
      ["a/b", "str", "str", undefined, "validation.datastream "],
      ["a/b", "msg", "str", undefined, "bad path"],
      ["payload.name", "msg", "str", undefined, null],
      ["", "msg", "str", undefined, "validation.source"],
      ["  ", "flow", "str", undefined, "validation.source"],
      ["stream", "global", "str", undefined, null],
      ["", "env", "str", undefined, "validation.source"],
      ["DEVICE", "env", "str", undefined, null],
      ["topic", "msg", "str", ["str", "env"], 'validation.kind {"kind":"msg"}'],
      ["5", "", "num", ["num", "env"], null],
    ];
    for (const [value, type, fallback, kinds, expected] of rows) {
      it(`${JSON.stringify(value)} as ${type || `(${fallback})`}${kinds ? ` of ${kinds}` : ""} -> ${expected ?? "accepted"}`, function () {
        const got = FE.typedProblem(value, type, fallback, { ...checks, kinds }, t);
        if (expected === null) assert.equal(got, null);
        else assert.ok(typeof got === "string" && got.startsWith(expected), `got ${got}`);
      });
    }
  });

  it("matching: the suggestions containing the text, sorted, once each; {value, label} searched by label", function () {
    assert.deepEqual(FE.matching(["Temp", "humidity", "Temperature", "Temp"], "tem"), ["Temp", "Temperature"]);
    assert.deepEqual(FE.matching(["b", "a"], ""), ["a", "b"]);
    const fields = [{ value: "2", label: "field2: Humidity" }, { value: "1", label: "field1: Temperature" }, { value: "1", label: "again" }];
    assert.deepEqual(FE.matching(fields, "field").map((f) => f.value), ["1", "2"]);
    assert.deepEqual(FE.matching(fields, "humid").map((f) => f.value), ["2"]);
  });
});

describe("the catalogs hold what the typedInputs and labels use", function () {
  const fs = require("node:fs");
  const path = require("node:path");
  const catalog = (type) => JSON.parse(fs.readFileSync(path.join(__dirname, "../../../locales/en-US", `${type}.json`), "utf8"))[type];
  const get = (obj, key) => key.split(".").reduce((o, k) => (o === undefined ? undefined : o[k]), obj);
  // [type, the keys the dialog and the runtime's typed settings use]
  const rows = [
    ["blynk-write", ["label.datastream", "label.fleet-device", "accepted.name"]],
    ["blynk-device-in", ["label.datastream", "accepted.name"]],
    ["blynk-event", ["label.event", "accepted.name", "nodeLabel.cloud", "nodeLabel.cloud-named", "nodeLabel.local", "nodeLabel.local-named"]],
    ["thingsboard-telemetry", ["label.sub-device", "accepted.name", "nodeLabel.cloud", "nodeLabel.cloud-named", "nodeLabel.local", "nodeLabel.local-named"]],
    ["thingsboard-attributes", ["label.sub-device", "label.fleet-device", "label.timeout", "accepted.name", "accepted.timeout", "nodeLabel.cloud", "nodeLabel.cloud-named", "nodeLabel.local", "nodeLabel.local-named"]],
    ["thingsboard-rpc", ["label.sub-device", "label.fleet-device", "label.timeout", "accepted.name", "accepted.timeout"]],
    ["thingspeak-field", ["label.field", "accepted.field", "field.number", "field.named"]],
  ];
  for (const [type, keys] of rows) {
    it(type, function () {
      const c = catalog(type);
      for (const key of ["paletteLabel", "errors.bad-setting", "errors.bad-setting-kind", "validation.kind", "validation.source", ...keys]) {
        assert.equal(typeof get(c, key), "string", `${type}.${key}`);
      }
    });
  }
});
