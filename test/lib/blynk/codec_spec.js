"use strict";
const assert = require("node:assert/strict");
const codec = require("../../../dist/nodes/lib/blynk/codec.js");
const { show, throwsWith, table } = require("../../support/table.js");

const NOW = Date.UTC(2024, 0, 19, 12, 25, 30); // fixed "now" for the timestamp window
const W = 31 * 24 * 60 * 60 * 1000;
const ACCEPTED = "accepted";

describe("blynk/codec", function () {
  describe("LIMITS and regions", function () {
    it("has the public Blynk.Cloud limits", function () {
      assert.deepStrictEqual({ ...codec.LIMITS }, {
        messageBytes: 1024,
        stringBytes: 1024,
        eventMinIntervalMs: 1000,
        eventsPerDay: 100,
        requestsPerSecond: 50,
        timestampWindowMs: W,
        batchPoints: 10000,
      });
      assert.deepStrictEqual([...codec.BLYNK_REGIONS], ["fra1", "lon1", "ny3", "sgp1", "blr1"]);
    });
  });

  table("assertDatastreamName", (n) => (codec.assertDatastreamName(n), n), [
    ["Temperature", "Temperature"],
    ["Set Temperature", "Set Temperature"],
    [" padded ", " padded "],
    ["Terminal", "Terminal"],
    ["terminal", "terminal"],
    ["V1", "V1"],
    ["erase", "erase"],
    ["Température °C", "Température °C"],
    ["a,b", "a,b"],
    ["x".repeat(255), "x".repeat(255)],
  ], [
    ["", ["non-empty", ACCEPTED]],
    [undefined, ["non-empty", ACCEPTED]],
    [5, ["non-empty", "5 (number)"]],
    ["a/b", ['datastream name "a/b" must not contain "/"', 'accepted: any non-empty text up to 255 bytes without "/", "+", "#"', "spaces are fine"]],
    ["a+b", 'must not contain "+"'],
    ["a#", 'must not contain "#"'],
    ["a\0b", ["must not contain NUL", ACCEPTED]],
    ["a\nb", "control character (U+000A)"],
    ["\uD800x", "lone surrogate"],
    ["x".repeat(256), ["256 bytes", ACCEPTED]],
    ["é".repeat(128), "256 bytes"],
  ]);

  table("assertEventCode", (n) => (codec.assertEventCode(n), n), [
    ["temp_alert", "temp_alert"],
    ["HIGH-temp.1", "HIGH-temp.1"],
    ["e", "e"],
    ["x".repeat(255), "x".repeat(255)],
  ], [
    ["", ["event code must be non-empty", ACCEPTED]],
    [null, "non-empty"],
    ["high temp", ["must not contain spaces", 'e.g. "temp_alert"']],
    ["a/b", 'must not contain "/"'],
    ["a+b", '"+"'],
    ["a\0", "NUL"],
    ["ünï", "outside the accepted set"],
    ["x".repeat(256), "256 bytes"],
  ]);

  table("assertPropertyName", (n) => (codec.assertPropertyName(n), n), [
    ["label", "label"],
    ["color", "color"],
    ["isDisabled", "isDisabled"],
    ["onLabel", "onLabel"],
    ["offBackColor", "offBackColor"],
    ["someFutureProperty_2", "someFutureProperty_2"],
    ["_x", "_x"],
  ], [
    ["", "non-empty"],
    ["1abc", ["not an identifier", "label, color, isDisabled"]],
    ["on-label", "not an identifier"],
    ["on label", "spaces"],
    ["a/b", '"/"'],
  ]);

  table("encodeValue", (v) => codec.encodeValue(v, "Temp"), [
    [123, "123"],
    [3.1415926, "3.1415926"],
    [-0, "0"],
    [0.1, "0.1"],
    [-2.5e-3, "-0.0025"],
    [true, "1"],
    [false, "0"],
    ["hello", "hello"],
    ["", ""],
    ["with space", "with space"],
    [10n, "10"],
    [Buffer.from("hé"), "hé"],
    [["a", "b", "c"], "a\0b\0c"],
    [[1, true, "x", false], "1\x001\0x\x000"],
    [["", ""], "\0"],
    ["é".repeat(512), "é".repeat(512)],
    [["x".repeat(511), "y".repeat(512)], `${"x".repeat(511)}\0${"y".repeat(512)}`],
  ], [
    [null, ['value for "Temp" cannot be sent, got null', ACCEPTED]],
    [undefined, "undefined"],
    [{}, "an object"],
    [NaN, ["must be a finite number", ACCEPTED]],
    [Infinity, "finite number"],
    [[], ["empty array", ACCEPTED]],
    [["a\0b"], ["item 0 must not contain NUL", "separates the items"]],
    ["a\0b", "pass an array"],
    [[[1]], "nested array"],
    [[1, null], "item 1 cannot be sent"],
    [Buffer.from([0xff]), "not valid UTF-8"],
    ["x".repeat(1025), ["1025 bytes", "at most 1024"], "too-large"],
    [["x".repeat(512), "y".repeat(512)], "1025 bytes", "too-large"],
  ]);

  table("decodeValue", (p) => codec.decodeValue(p), [
    ["123", 123],
    ["3.1415926", 3.1415926],
    ["-3e2", -300],
    ["hello", "hello"],
    ["", ""],
    ["007", "007"],
    [" 1", " 1"],
    ["true", "true"],
    ["1e400", "1e400"],
    ["a\0b\0c", ["a", "b", "c"]],
    ["1\x002.5\0x", [1, 2.5, "x"]],
    ["a\0", ["a", ""]],
    [Buffer.from("42"), 42],
    [Buffer.from("x\0y"), ["x", "y"]],
  ]);

  table("decodeValue raw", (p) => codec.decodeValue(p, { raw: true }), [
    ["123", "123"],
    ["1\x002", ["1", "2"]],
    [Buffer.from("7"), "7"],
  ]);

  table("messageSize", (args) => codec.messageSize(...args), [
    [["ds/t", "abc"], 9],
    [["ds/t", "abc", 0], 9],
    [["ds/t", "abc", 1], 11],
    [["ds/t", Buffer.from([1, 2, 3])], 9],
    [["ds/é", "é"], 2 + 5 + 2],
    [["get/ds/all", ""], 12],
  ]);

  // [message, encoded, parsed (defaults to the message)]
  const uplinks = [
    [{ kind: "ds", datastream: "Set Temperature", value: 21.5 }, { topic: "ds/Set Temperature", payload: "21.5" }],
    [{ kind: "ds", datastream: "Temperature", value: 123 }, { topic: "ds/Temperature", payload: "123" }],
    [{ kind: "ds", datastream: "Message", value: "hello" }, { topic: "ds/Message", payload: "hello" }],
    [{ kind: "ds", datastream: "Empty", value: "" }, { topic: "ds/Empty", payload: "" }],
    [{ kind: "ds", datastream: "Multi", value: ["a", "b", "c"] }, { topic: "ds/Multi", payload: "a\0b\0c" }],
    [{ kind: "ds", datastream: "Multi", value: [1, "x"] }, { topic: "ds/Multi", payload: "1\0x" }],
    [{ kind: "ds", datastream: "Power", value: true }, { topic: "ds/Power", payload: "1" }, { kind: "ds", datastream: "Power", value: 1 }],
    [{ kind: "ds", datastream: "Power", value: false }, { topic: "ds/Power", payload: "0" }, { kind: "ds", datastream: "Power", value: 0 }],
    [
      { kind: "batch", values: { Temperature: 21.5, Power: true, Name: "x y", Location: [13.405, 52.52] } },
      { topic: "batch_ds", payload: '{"Temperature":21.5,"Power":true,"Name":"x y","Location":[13.405,52.52]}' },
    ],
    [
      { kind: "timestamped", datastream: "Temperature", points: [[NOW - 1000, 20.5], [NOW, 21]] },
      { topic: "ds/Temperature/timestamped_batch", payload: `[[${NOW - 1000},20.5],[${NOW},21]]` },
    ],
    [
      { kind: "timestamped", datastream: "Location", points: [[NOW, [13.405, 52.52]]] },
      { topic: "ds/Location/timestamped_batch", payload: `[[${NOW},[13.405,52.52]]]` },
    ],
    [{ kind: "erase", datastream: "Set Temperature" }, { topic: "ds/Set Temperature/erase", payload: "" }],
    [{ kind: "property", datastream: "Temp", property: "label", value: "Room 1" }, { topic: "ds/Temp/prop/label", payload: "Room 1" }],
    [{ kind: "property", datastream: "Temp", property: "color", value: "#FF0000" }, { topic: "ds/Temp/prop/color", payload: "#FF0000" }],
    [{ kind: "property", datastream: "Mode", property: "labels", value: ["Off", "Low", "High"] }, { topic: "ds/Mode/prop/labels", payload: "Off\0Low\0High" }],
    [
      { kind: "property", datastream: "Temp", property: "isDisabled", value: true },
      { topic: "ds/Temp/prop/isDisabled", payload: "1" },
      { kind: "property", datastream: "Temp", property: "isDisabled", value: 1 },
    ],
    [{ kind: "property-erase", datastream: "Temp", property: "label" }, { topic: "ds/Temp/prop/label/erase", payload: "" }],
    [{ kind: "event", code: "temp_alert", description: "Too hot: 41 °C" }, { topic: "event/temp_alert", payload: "Too hot: 41 °C" }],
    [{ kind: "event", code: "temp_alert", description: "" }, { topic: "event/temp_alert", payload: "" }],
    [{ kind: "meta", field: "Hotspot Name", value: "home" }, { topic: "meta/Hotspot Name", payload: "home" }],
    [{ kind: "meta", field: "Time Zone", value: "Europe/Berlin" }, { topic: "meta/Time Zone", payload: "Europe/Berlin" }],
    [{ kind: "get-ds", datastreams: ["Brightness", "Color"] }, { topic: "get/ds", payload: "Brightness,Color" }],
    [{ kind: "get-ds", datastreams: ["Set Temperature"] }, { topic: "get/ds", payload: "Set Temperature" }],
    [{ kind: "get-ds-all" }, { topic: "get/ds/all", payload: "" }],
    [{ kind: "get-meta", fields: ["Time Zone", "Serial"] }, { topic: "get/meta", payload: "Time Zone,Serial" }],
    [{ kind: "get-utc" }, { topic: "get/utc/all/json", payload: "" }],
    [{ kind: "get-loc" }, { topic: "get/loc/all", payload: "" }],
    [
      { kind: "info-mcu", info: { tmpl: "TMPLabcd1234", ver: "1.0.0", build: "Jan 19 2024 12:25:30", type: "TMPLabcd1234", rxbuff: 1024 } },
      { topic: "info/mcu", payload: '{"tmpl":"TMPLabcd1234","ver":"1.0.0","build":"Jan 19 2024 12:25:30","type":"TMPLabcd1234","rxbuff":1024}' },
    ],
    [{ kind: "info-mcu", info: { ver: "0.1" } }, { topic: "info/mcu", payload: '{"ver":"0.1"}' }],
  ];

  describe("uplink round trips (encodeUplink then parseUplink)", function () {
    for (const [message, encoded, parsed = message] of uplinks) {
      it(`${message.kind} ${show(encoded.topic)} ${show(encoded.payload)}`, function () {
        assert.deepStrictEqual(codec.encodeUplink(message, NOW), encoded);
        assert.deepStrictEqual(codec.parseUplink(encoded.topic, encoded.payload), parsed);
        assert.deepStrictEqual(codec.parseUplink(encoded.topic, Buffer.from(encoded.payload)), parsed);
      });
    }
  });

  table("parseUplink (what devices send)", (args) => codec.parseUplink(...args), [
    [["get/ds", "Brightness, Color,"], { kind: "get-ds", datastreams: ["Brightness", "Color"] }],
    [["get/meta", "Time Zone"], { kind: "get-meta", fields: ["Time Zone"] }],
    [["info/mcu", '{"tmpl":"T","rxbuff":"512","ver":2,"extra":1}'], { kind: "info-mcu", info: { tmpl: "T", ver: "2", rxbuff: 512 } }],
    [["info/mcu", "{}"], { kind: "info-mcu", info: {} }],
    [["ds/Temp/erase", "ignored"], { kind: "erase", datastream: "Temp" }],
    [["ds/Code", "007"], { kind: "ds", datastream: "Code", value: "007" }],
    [["ds/Code", "007", { raw: true }], { kind: "ds", datastream: "Code", value: "007" }],
    [["ds/N", "42", { raw: true }], { kind: "ds", datastream: "N", value: "42" }],
    [["ds/N", "1\x002", { raw: true }], { kind: "ds", datastream: "N", value: ["1", "2"] }],
    [["ds/erase", "5"], { kind: "ds", datastream: "erase", value: 5 }],
    [["event/temp_alert", Buffer.from("hot")], { kind: "event", code: "temp_alert", description: "hot" }],
    [["ds/T/timestamped_batch", `[["2024-01-19T12:25:30Z",1]]`], { kind: "timestamped", datastream: "T", points: [[NOW, 1]] }],
    [["ds/T/timestamped_batch", "[[1,1]]"], { kind: "timestamped", datastream: "T", points: [[1, 1]] }],
    [["batch_ds", '{"__proto__":1}'], { kind: "batch", values: JSON.parse('{"__proto__":1}') }],
  ], [
    [["batch_ds", "{bad"], ["batch_ds payload is not valid JSON", ACCEPTED]],
    [["batch_ds", "[1]"], "must be an object"],
    [["batch_ds", "{}"], "at least one"],
    [["batch_ds", '{"Loc":[52.5,120]}'], "looks like [latitude, longitude]"],
    [["batch_ds", '{"Loc":{"lat":1}}'], "cannot be sent"],
    [["info/mcu", ""], "not valid JSON"],
    [["info/mcu", "[]"], "must be an object"],
    [["info/mcu", '{"rxbuff":-1}'], "rxbuff"],
    [["info/mcu", '{"ver":{}}'], 'field "ver" must be text'],
    [["ds/x/timestamped_batch", "{}"], "array of [timestamp, value] pairs"],
    [["ds/x/timestamped_batch", "[[1.5,1]]"], "whole milliseconds"],
    [["ds/x/timestamped_batch", `[[${NOW - W - 1},1]]`, { now: NOW }], "before now"],
    [["get/ds", ""], "names nothing"],
    [["get/ds", " , "], "names nothing"],
    [["get/ds", "a,b/c"], 'must not contain "/"'],
    [["event/high temp", ""], "spaces"],
    [["ds/", "1"], "non-empty"],
    [["ds/x/prop/1x", "1"], "not an identifier"],
    [["ds/x/prop/", "1"], "property name must be non-empty"],
  ]);

  describe("parseUplink unknown topics", function () {
    const topics = ["foo", "ds", "ds/x/y", "ds/x/prop", "ds/x/prop/p/q", "ds/x/erase/more", "event", "event/a/b", "meta", "get/utc",
      "get/ds/x", "get/loc", "downlink/ds/x", "batch_ds/x", "info", "info/mcu/x", "DS/x", "sys/x"];
    for (const topic of topics) {
      it(`${topic} -> unknown`, function () {
        assert.deepStrictEqual(codec.parseUplink(topic, "1"), { kind: "unknown", topic });
      });
    }
  });

  table("encodeUplink refusals", (m) => codec.encodeUplink(m, NOW), [], [
    [null, "must be an object"],
    [{ kind: "nope" }, ['uplink kind "nope" (string) is not known', "accepted kinds: ds, batch"]],
    [{ kind: "ds", datastream: "a/b", value: 1 }, 'must not contain "/"'],
    [{ kind: "ds", datastream: "T", value: NaN }, 'value for "T" must be a finite number'],
    [{ kind: "ds", datastream: "T", value: { a: 1 } }, "an object"],
    [{ kind: "ds", datastream: "T" }, "undefined"],
    [{ kind: "property", datastream: "T", property: "bad-name", value: 1 }, "not an identifier"],
    [{ kind: "property", datastream: "T", property: "label", value: [] }, "empty array"],
    [{ kind: "event", code: "high temp", description: "" }, "spaces"],
    [{ kind: "event", code: "ok", description: {} }, "must be text"],
    [{ kind: "meta", field: "a+b", value: "x" }, '"+"'],
    [{ kind: "meta", field: "Serial", value: null }, "must be text"],
    [{ kind: "meta", field: "Serial", value: "x".repeat(1025) }, "1025 bytes", "too-large"],
    [{ kind: "get-ds", datastreams: [] }, "non-empty array"],
    [{ kind: "get-ds", datastreams: ["a,b"] }, "cannot be requested in a get list"],
    [{ kind: "get-ds", datastreams: [" a"] }, "leading or trailing spaces"],
    [{ kind: "get-meta", fields: "Serial" }, "non-empty array"],
    [{ kind: "batch", values: {} }, "at least one"],
    [{ kind: "batch", values: [1] }, "must be an object"],
    [{ kind: "batch", values: { a: { b: 1 } } }, "cannot be sent"],
    [{ kind: "batch", values: { Location: [52.5, 120] } }, ["looks like [latitude, longitude]", "longitude first"]],
    [{ kind: "batch", values: { a: [1, 2, 3] } }, "Location [longitude, latitude]"],
    [{ kind: "batch", values: { "a/b": 1 } }, '"/"'],
    [{ kind: "batch", values: { s: "x".repeat(1025) } }, "1025 bytes", "too-large"],
    [{ kind: "timestamped", datastream: "T", points: [] }, "at least one point"],
    [{ kind: "timestamped", datastream: "T", points: [[NOW + W + 1, 1]] }, "after now"],
    [{ kind: "info-mcu", info: { rxbuff: 0 } }, "positive whole number"],
    [{ kind: "info-mcu", info: null }, "must be an object"],
  ]);

  describe("message size limit (1024 bytes incl. 2-byte topic length)", function () {
    // topic "ds/t" is 4 bytes: 2 + 4 + payload
    const rows = [
      [1018, 0, true],
      [1019, 0, false],
      [1016, 1, true],
      [1017, 1, false],
    ];
    for (const [bytes, qos, ok] of rows) {
      it(`ds payload of ${bytes} bytes at qos ${qos} is ${ok ? "accepted" : "refused"}`, function () {
        const message = { kind: "ds", datastream: "t", value: "x".repeat(bytes) };
        if (ok) assert.equal(codec.messageSize(codec.encodeUplink(message, NOW, { qos }).topic, "x".repeat(bytes), qos), 1024);
        else throwsWith(() => codec.encodeUplink(message, NOW, { qos }), ["1025 bytes", "at most 1024"], "too-large");
      });
    }
    it("counts multi-byte text in bytes", function () {
      throwsWith(() => codec.encodeUplink({ kind: "ds", datastream: "t", value: "é".repeat(510) }, NOW), "1026 bytes", "too-large");
    });
    it("limits batches as one message", function () {
      const values = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`Datastream ${i}`, i]));
      throwsWith(() => codec.encodeUplink({ kind: "batch", values }, NOW), "batch_ds", "too-large");
    });
  });

  table("toTimestampedPoints (window around an injected now)", (p) => codec.toTimestampedPoints(p, NOW), [
    [[[NOW - W, 1]], [[NOW - W, 1]]],
    [[[NOW + W, 1]], [[NOW + W, 1]]],
    [[[NOW, 1], [NOW - 1, "x"], [NOW + 1, true]], [[NOW, 1], [NOW - 1, "x"], [NOW + 1, true]]],
    [[[new Date(NOW), 1]], [[NOW, 1]]],
    [[["2024-01-19T12:25:30Z", 1]], [[NOW, 1]]],
    [[["2024-01-19T13:25:30+01:00", 1]], [[NOW, 1]]],
    [[["2024-01-19T12:25:30.250Z", 1]], [[NOW + 250, 1]]],
    [[[NOW, [13.405, 52.52]]], [[NOW, [13.405, 52.52]]]],
    [Array.from({ length: 10000 }, (_, i) => [NOW - i, i]), Array.from({ length: 10000 }, (_, i) => [NOW - i, i])],
  ], [
    [[[NOW - W - 1, 1]], ["point 0", "before now", "31 days either side of now", new Date(NOW - W).toISOString()]],
    [[[NOW + W + 1, 1]], ["after now", new Date(NOW + W).toISOString()]],
    [[[Math.floor(NOW / 1000), 1]], "looks like seconds"],
    [[["2024-01-19T12:25:30", 1]], ["is not a time", "with Z or an offset"]],
    [[["yesterday", 1]], "is not a time"],
    [[[new Date(NaN), 1]], "is not a time"],
    [[[NOW + 0.5, 1]], "not whole milliseconds"],
    [[], "at least one point"],
    [{}, "array of [timestamp, value] pairs"],
    [[[NOW]], "point 0 must be a [timestamp, value] pair"],
    [[[NOW, 1], 5], "point 1 must be a [timestamp, value] pair"],
    [[[NOW, null]], "point 0 value cannot be sent"],
    [[[NOW, [1, 2, 3]]], "Location"],
    [Array.from({ length: 10001 }, (_, i) => [NOW - i, i]), ["10001", "at most 10000"], "too-large"],
  ]);

  table("toBatchValues", (v) => codec.toBatchValues(v), [
    [{ a: 1 }, { a: 1 }],
    [{ "Set Temperature": 21.5, On: false, Txt: "" }, { "Set Temperature": 21.5, On: false, Txt: "" }],
    [{ Location: [-122.42, 37.77] }, { Location: [-122.42, 37.77] }],
    [{ Location: [180, -90] }, { Location: [180, -90] }],
  ], [
    [null, "must be an object"],
    [new Map(), "must be an object"],
    [{ a: null }, "cannot be sent"],
    [{ a: NaN }, "cannot be sent"],
    [{ a: [1, "2"] }, "Location [longitude, latitude]"],
    [{ Location: [37.77, -122.42] }, "looks like [latitude, longitude]"],
    [{ Location: [200, 100] }, "is not a Location"],
    [{ "": 1 }, "non-empty"],
  ]);
});
