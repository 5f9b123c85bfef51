"use strict";
const assert = require("node:assert/strict");
const tb = require("../../../dist/nodes/lib/thingsboard/codec.js");
const { table, show, throwsWith, wire } = require("../../support/table.js");

const TS = 1451649600512; // the docs' example: 2016-01-01T12:00:00.512Z
const NOW = Date.parse("2024-06-01T00:00:00Z");
const circular = { a: 1 };
circular.self = circular;

describe("thingsboard/codec: topics and ids", function () {
  it("has the documented fixed topics", function () {
    assert.equal(tb.TOPICS.telemetry, "v1/devices/me/telemetry");
    assert.equal(tb.TOPICS.attributes, "v1/devices/me/attributes");
    assert.equal(tb.TOPICS.attributeResponseFilter, "v1/devices/me/attributes/response/+");
    assert.equal(tb.TOPICS.rpcRequestFilter, "v1/devices/me/rpc/request/+");
    assert.equal(tb.TOPICS.rpcResponseFilter, "v1/devices/me/rpc/response/+");
    assert.equal(tb.TOPICS.claim, "v1/devices/me/claim");
    assert.equal(tb.TOPICS.provisionRequest, "/provision/request");
    assert.equal(tb.TOPICS.provisionResponse, "/provision/response");
    assert.deepEqual(Object.values(tb.TOPICS.gateway), [
      "v1/gateway/connect",
      "v1/gateway/disconnect",
      "v1/gateway/telemetry",
      "v1/gateway/attributes",
      "v1/gateway/attributes/request",
      "v1/gateway/attributes/response",
      "v1/gateway/rpc",
      "v1/gateway/claim",
    ]);
  });

  table(
    "builders",
    ([build, id]) => tb[build](id),
    [
      [["attributeRequestTopic", 1], "v1/devices/me/attributes/request/1"],
      [["attributeResponseTopic", 3], "v1/devices/me/attributes/response/3"],
      [["rpcRequestTopic", 17], "v1/devices/me/rpc/request/17"],
      [["rpcResponseTopic", 0], "v1/devices/me/rpc/response/0"],
      [["rpcResponseTopic", 2147483647], "v1/devices/me/rpc/response/2147483647"],
      [["rpcResponseTopic", Number.MAX_SAFE_INTEGER], "v1/devices/me/rpc/response/9007199254740991"],
      [["rpcResponseTopic", "007"], "v1/devices/me/rpc/response/007"],
    ],
    [
      [["rpcResponseTopic", -1], "got -1 (number); accepted: a non-negative whole number"],
      [["rpcResponseTopic", 1.5], "got 1.5 (number)"],
      [["rpcResponseTopic", NaN], "got NaN (number)"],
      [["rpcResponseTopic", Number.MAX_SAFE_INTEGER + 1], "got 9007199254740992 (number)"],
      [["rpcResponseTopic", "abc"], 'got "abc" (string)'],
      [["rpcResponseTopic", ""], 'got "" (empty string)'],
      [["rpcResponseTopic", "1/2"], 'got "1/2" (string)'],
      [["rpcResponseTopic", "+"], 'got "+" (string)'],
      [["attributeRequestTopic", undefined], "got undefined"],
      [["attributeRequestTopic", null], "got null"],
    ],
  );

  const fixed = [
    ["v1/devices/me/telemetry", "telemetry"],
    ["v1/devices/me/attributes", "attributes"],
    ["v1/devices/me/claim", "claim"],
    ["/provision/request", "provision-request"],
    ["/provision", "provision-request"],
    ["/provision/response", "provision-response"],
    ["v1/gateway/connect", "gateway-connect"],
    ["v1/gateway/disconnect", "gateway-disconnect"],
    ["v1/gateway/telemetry", "gateway-telemetry"],
    ["v1/gateway/attributes", "gateway-attributes"],
    ["v1/gateway/attributes/request", "gateway-attributes-request"],
    ["v1/gateway/attributes/response", "gateway-attributes-response"],
    ["v1/gateway/rpc", "gateway-rpc"],
    ["v1/gateway/claim", "gateway-claim"],
  ];
  table(
    "parseDeviceTopic",
    tb.parseDeviceTopic,
    [
      ...fixed.map(([topic, kind]) => [topic, { kind }]),
      ["v1/devices/me/rpc/request/17", { kind: "rpc-request", id: 17, idText: "17" }],
      ["v1/devices/me/rpc/response/0", { kind: "rpc-response", id: 0, idText: "0" }],
      ["v1/devices/me/attributes/response/3", { kind: "attributes-response", id: 3, idText: "3" }],
      ["v1/devices/me/attributes/request/2147483647", { kind: "attributes-request", id: 2147483647, idText: "2147483647" }],
      ["v1/devices/me/rpc/request/9007199254740991", { kind: "rpc-request", id: 9007199254740991, idText: "9007199254740991" }],
      ["v1/devices/me/rpc/request/007", { kind: "rpc-request", id: 7, idText: "007" }],
      ["v1/devices/me/telemetry/", { kind: "unknown" }],
      ["v1/devices/me/attributes/", { kind: "unknown" }],
      ["v1/devices/me/attributes/request", { kind: "unknown" }],
      ["v1/devices/me/rpc/request", { kind: "unknown" }],
      ["v1/devices/me", { kind: "unknown" }],
      ["v1/devices/other/telemetry", { kind: "unknown" }],
      ["V1/devices/me/telemetry", { kind: "unknown" }],
      ["v1/gateway/rpc/", { kind: "unknown" }],
      ["/provision/", { kind: "unknown" }],
      ["v2/t", { kind: "unknown" }],
      ["", { kind: "unknown" }],
      [undefined, { kind: "unknown" }],
    ],
    [
      ["v1/devices/me/rpc/request/abc", 'request id "abc" is not a whole number; accepted: v1/devices/me/rpc/request/<id>'],
      ["v1/devices/me/rpc/request/", 'request id "" is not a whole number'],
      ["v1/devices/me/rpc/request/17/", 'request id "17/" is not a whole number'],
      ["v1/devices/me/rpc/response/-1", 'request id "-1"'],
      ["v1/devices/me/rpc/response/+1", 'request id "+1"'],
      ["v1/devices/me/attributes/request/1.5", 'request id "1.5"'],
      ["v1/devices/me/attributes/response/ 1", 'request id " 1"'],
      ["v1/devices/me/attributes/response/1e3", 'request id "1e3"'],
      ["v1/devices/me/rpc/request/9007199254740992", 'request id "9007199254740992"'],
      ["v1/devices/me/rpc/request/+", 'request id "+"'],
    ],
  );

  describe("round trip: builder -> parseDeviceTopic", function () {
    const builders = [
      ["attributeRequestTopic", "attributes-request"],
      ["attributeResponseTopic", "attributes-response"],
      ["rpcRequestTopic", "rpc-request"],
      ["rpcResponseTopic", "rpc-response"],
    ];
    for (const [build, kind] of builders) {
      for (const id of [0, 1, 17, 2147483647, Number.MAX_SAFE_INTEGER, "007"]) {
        it(`${build}(${show(id)})`, function () {
          const parsed = tb.parseDeviceTopic(tb[build](id));
          assert.deepEqual(parsed, { kind, id: Number(id), idText: String(id) });
          assert.equal(tb[build](parsed.idText), tb[build](id), "the reply echoes the id text exactly");
        });
      }
    }
  });

  table(
    "parseRequestId (ids in JSON bodies)",
    tb.parseRequestId,
    [
      [0, 0],
      [42, 42],
      ["42", 42],
      ["0042", 42],
    ],
    [
      [-5, "got -5 (number)"],
      ["4 2", 'got "4 2" (string)'],
      [true, "got true (boolean)"],
      [{}, "got an object"],
    ],
  );
});

describe("thingsboard/codec: telemetry", function () {
  table(
    "normalizeTelemetry",
    (input) => tb.normalizeTelemetry(input, NOW),
    [
      [{ temperature: 42 }, [{ values: { temperature: 42 } }]],
      [{ key1: "value1", key2: "value2" }, [{ values: { key1: "value1", key2: "value2" } }]],
      [[{ key1: "value1" }, { key2: true }], [{ values: { key1: "value1" } }, { values: { key2: true } }]],
      [{ ts: TS, values: { key1: "value1" } }, [{ ts: TS, values: { key1: "value1" } }]],
      [[{ ts: TS, values: { a: 1 } }, { ts: TS + 1, values: { a: 2 } }], [{ ts: TS, values: { a: 1 } }, { ts: TS + 1, values: { a: 2 } }]],
      [[{ ts: TS, values: { a: 1 } }, { b: 2 }], [{ ts: TS, values: { a: 1 } }, { values: { b: 2 } }]],
      [{ values: { a: 1 } }, [{ values: { a: 1 } }]],
      [{ ts: undefined, values: { a: 1 } }, [{ values: { a: 1 } }]],
      [{ ts: null, values: { a: 1 } }, [{ values: { a: 1 } }]],
      [{ ts: new Date(TS), values: { a: 1 } }, [{ ts: TS, values: { a: 1 } }]],
      [{ ts: "2016-01-01T12:00:00.512Z", values: { a: 1 } }, [{ ts: TS, values: { a: 1 } }]],
      [{ ts: "2016-01-01T13:00:00.512+01:00", values: { a: 1 } }, [{ ts: TS, values: { a: 1 } }]],
      [{ ts: String(TS), values: { a: 1 } }, [{ ts: TS, values: { a: 1 } }]],
      [{ ts: 0, values: { a: 1 } }, [{ ts: 0, values: { a: 1 } }]],
      [
        { jsonKey: { someNumber: 42, someArray: [1, 2, 3], someNestedObject: { key: "value" } } },
        [{ values: { jsonKey: { someNumber: 42, someArray: [1, 2, 3], someNestedObject: { key: "value" } } } }],
      ],
      [{ list: [1, "two", null, { three: 3 }] }, [{ values: { list: [1, "two", null, { three: 3 }] } }]],
      [{ nested: { when: new Date(TS) } }, [{ values: { nested: { when: "2016-01-01T12:00:00.512Z" } } }]],
      [{ doubleKey: 42.5, longKey: 73, neg: -0, big: 1e300 }, [{ values: { doubleKey: 42.5, longKey: 73, neg: 0, big: 1e300 } }]],
      [{ "Temperature °C": 1, "with space": "", "a/b+#": false }, [{ values: { "Temperature °C": 1, "with space": "", "a/b+#": false } }]],
      [{ ["k".repeat(255)]: 1 }, [{ values: { ["k".repeat(255)]: 1 } }]],
      [JSON.parse('{"__proto__": 5}'), [{ values: JSON.parse('{"__proto__": 5}') }]],
    ],
    [
      [{}, "telemetry is empty: name at least one key"],
      [[], "telemetry is an empty array; accepted:"],
      [42, "telemetry must be an object, got 42 (number); accepted:"],
      ["temperature=1", 'telemetry must be an object, got "temperature=1" (string)'],
      [null, "telemetry must be an object, got null"],
      [undefined, "telemetry must be an object, got undefined"],
      [[{ a: 1 }, 5], "telemetry item 1 must be an object, got 5 (number)"],
      [[[{ a: 1 }]], "telemetry item 0 must be an object, got an array of 1"],
      [new Map([["a", 1]]), "telemetry must be an object, got an object"],
      [{ a: NaN }, 'value of "a" is NaN, which JSON cannot carry'],
      [{ a: Infinity }, 'value of "a" is Infinity'],
      [{ a: null }, 'value of "a" is null: ThingsBoard stores no value for it, leave the key out'],
      [{ a: undefined }, 'value of "a" is undefined'],
      [{ a: new Date(TS) }, 'value of "a" is a Date; send date.getTime()'],
      [{ a: () => 1 }, 'value of "a" cannot be sent, got a function'],
      [{ a: 1n }, 'value of "a" cannot be sent, got 1n (bigint)'],
      [{ a: Buffer.from("x") }, 'value of "a" cannot be sent, got a Buffer of 1 bytes'],
      [{ a: circular }, "refers to itself (circular structure)"],
      [{ a: { b: NaN } }, "it contains NaN"],
      [{ "": 1 }, 'key must be non-empty text, got "" (empty string)'],
      [{ ["k".repeat(256)]: 1 }, "has 256 characters; accepted: text of 1 to 255 characters"],
      [{ "a\u0000b": 1 }, 'key "a\\u0000b" contains NUL'],
      [{ ts: TS, values: { a: 1 }, extra: 2 }, 'mixes {ts, values} with other keys ("extra"); put every key inside "values"'],
      [{ ts: TS, temperature: 1 }, 'mixes {ts, values} with other keys ("temperature")'],
      [{ ts: TS }, 'telemetry has "ts" but no "values"'],
      [{ ts: TS, values: 5 }, 'telemetry "values" must be an object of key -> value, got 5 (number)'],
      [{ ts: TS, values: {} }, 'telemetry "values" is empty'],
      [{ ts: TS, values: [{ a: 1 }] }, 'telemetry "values" must be an object of key -> value, got an array of 1'],
      [{ ts: -1, values: { a: 1 } }, 'telemetry "ts" -1 (number) is not a time; accepted: milliseconds since 1970'],
      [{ ts: 1.5, values: { a: 1 } }, "1.5 (number) is not a time"],
      [{ ts: "yesterday", values: { a: 1 } }, '"yesterday" (string) is not a time'],
      [{ ts: "2016-01-01T12:00:00", values: { a: 1 } }, '"2016-01-01T12:00:00" (string) is not a time; accepted:'],
      [{ ts: new Date("nope"), values: { a: 1 } }, "an invalid Date is not a time"],
      [{ ts: true, values: { a: 1 } }, "true (boolean) is not a time"],
      [{ ts: 1717200000, values: { a: 1 } }, 'telemetry "ts" 1717200000 looks like seconds (it is in 1970); multiply by 1000'],
      [[{ a: 1 }, { ts: TS, values: { b: null } }], 'telemetry item 1 "values": value of "b" is null'],
    ],
  );

  it("without `now`, a seconds-looking ts is sent as given", function () {
    assert.deepEqual(tb.normalizeTelemetry({ ts: 1717200000, values: { a: 1 } }), [{ ts: 1717200000, values: { a: 1 } }]);
  });

  it("does not let a __proto__ key touch the prototype", function () {
    const [entry] = tb.normalizeTelemetry(JSON.parse('{"__proto__": {"polluted": true}}'));
    assert.equal(Object.getPrototypeOf(entry.values), Object.prototype);
    assert.deepEqual(Object.keys(entry.values), ["__proto__"]);
  });

  table(
    "encodeTelemetry (compact payload)",
    tb.encodeTelemetry,
    [
      [{ temperature: 42 }, { temperature: 42 }],
      [{ values: { temperature: 42 } }, { temperature: 42 }],
      [{ ts: TS, values: { a: 1 } }, { ts: TS, values: { a: 1 } }],
      [{ ts: new Date(TS), values: { a: 1 } }, { ts: TS, values: { a: 1 } }],
      [[{ key1: "value1" }, { key2: true }], [{ key1: "value1" }, { key2: true }]],
      [[{ ts: TS, values: { a: 1 } }, { ts: TS + 1000, values: { a: 2 } }], [{ ts: TS, values: { a: 1 } }, { ts: TS + 1000, values: { a: 2 } }]],
      [[{ ts: TS, values: { a: 1 } }, { values: { b: 2 } }], [{ ts: TS, values: { a: 1 } }, { b: 2 }]],
      [[{ only: 1 }], { only: 1 }],
      [{ values: { ts: 5 } }, { ts: 5 }],
    ],
    [
      [{ values: { ts: 1, values: { a: 1 } } }, 'has keys "ts" and "values" but no timestamp: ThingsBoard would read it as {ts, values}'],
      [[{ a: 1 }, { values: { ts: 1, values: {} } }], 'telemetry item 1 has keys "ts" and "values" but no timestamp'],
      [{}, "telemetry is empty"],
    ],
  );

  table(
    "parseTelemetry (ThingsBoard's reading)",
    (payload) => tb.parseTelemetry(payload),
    [
      ['{"temperature":42}', [{ values: { temperature: 42 } }]],
      [wire({ key1: "value1", key2: "value2" }), [{ values: { key1: "value1", key2: "value2" } }]],
      [wire([{ key1: "value1" }, { key2: true }]), [{ values: { key1: "value1" } }, { values: { key2: true } }]],
      [wire({ ts: TS, values: { key1: "value1" } }), [{ ts: TS, values: { key1: "value1" } }]],
      [wire([{ ts: TS, values: { a: 1 } }, { b: 2 }]), [{ ts: TS, values: { a: 1 } }, { values: { b: 2 } }]],
      [wire({ ts: String(TS), values: { a: 1 } }), [{ ts: TS, values: { a: 1 } }]],
      [wire({ ts: TS, temperature: 1 }), [{ values: { ts: TS, temperature: 1 } }]],
      [wire({ values: { a: 1 } }), [{ values: { values: { a: 1 } } }]],
      [wire({ a: null, b: 1 }), [{ values: { b: 1 } }]],
      [wire({ a: null }), []],
      [wire({}), []],
      [wire([]), []],
      [wire({ s: "21.5", n: "007" }), [{ values: { s: "21.5", n: "007" } }]],
      [wire({ j: { deep: [1, { x: null }] } }), [{ values: { j: { deep: [1, { x: null }] } } }]],
      [{ already: "parsed" }, [{ values: { already: "parsed" } }]],
      [new Uint8Array(Buffer.from('{"u":1}')), [{ values: { u: 1 } }]],
    ],
    [
      ["", "telemetry payload is empty; accepted: JSON"],
      [Buffer.alloc(0), "telemetry payload is empty"],
      ["{temperature:42}", "telemetry payload is not valid JSON"],
      [Buffer.from([0xff, 0xfe]), "telemetry payload is not UTF-8 text"],
      ["42", "telemetry payload must be a JSON object, got 42 (number)"],
      ['"text"', 'telemetry payload must be a JSON object, got "text" (string)'],
      ["[1]", "telemetry item 0 must be a JSON object, got 1 (number)"],
      [wire({ ts: "soon", values: { a: 1 } }), 'telemetry payload "ts" is "soon" (string); accepted: milliseconds'],
      [wire({ ts: -1, values: { a: 1 } }), '"ts" is -1 (number)'],
      [wire({ ts: TS, values: 5 }), 'telemetry payload "values" must be a JSON object'],
    ],
  );

  table(
    "parseTelemetry options: now stamps, typeCast like ThingsBoard",
    (payload) => tb.parseTelemetry(payload, { now: NOW, typeCast: true }),
    [
      [wire({ a: 1 }), [{ ts: NOW, values: { a: 1 } }]],
      [wire({ ts: TS, values: { a: 1 } }), [{ ts: TS, values: { a: 1 } }]],
      [wire({ s: "21.5", i: "-7", p: "+3", d: ".5" }), [{ ts: NOW, values: { s: 21.5, i: -7, p: 3, d: 0.5 } }]],
      [wire({ hex: "0x10", exp: "1e3", word: "on", big: "123456789012345678901" }), [{ ts: NOW, values: { hex: "0x10", exp: "1e3", word: "on", big: "123456789012345678901" } }]],
    ],
  );

  describe("round trip: encodeTelemetry -> wire -> parseTelemetry", function () {
    const forms = [
      { temperature: 42 },
      { stringKey: "value1", booleanKey: true, doubleKey: 42.5, longKey: 73, jsonKey: { someNumber: 42, someArray: [1, 2, 3], someNestedObject: { key: "value" } } },
      [{ key1: "value1" }, { key2: true }],
      { ts: TS, values: { key1: "value1", key2: "value2" } },
      [{ ts: TS, values: { a: 1 } }, { ts: TS + 1, values: { a: 2 } }],
      [{ ts: new Date(TS), values: { a: 1 } }, { b: "x" }],
      { ts: "2016-01-01T12:00:00.512Z", values: { arr: [[1], [2]] } },
    ];
    for (const form of forms) {
      it(show(form), function () {
        const text = tb.toPayloadText(tb.encodeTelemetry(form));
        assert.equal(tb.toCheckedPayloadText(tb.encodeTelemetry(form)), text, "the encoders' output needs no replacer pass");
        assert.deepEqual(tb.parseTelemetry(Buffer.from(text)), tb.normalizeTelemetry(form));
      });
    }
  });

  it("toPayloadText refuses payloads over the limit as too-large", function () {
    assert.equal(tb.toPayloadText({ a: 1 }), '{"a":1}');
    throwsWith(() => tb.toPayloadText({ a: "x".repeat(70_000) }), "accepted: at most 65536 bytes", "too-large");
    throwsWith(() => tb.toPayloadText({ a: "xyz" }, 5), "payload is 11 bytes; accepted: at most 5 bytes", "too-large");
  });

  table(
    "toTimestamp",
    tb.toTimestamp,
    [
      [TS, TS],
      [0, 0],
      [new Date(TS), TS],
      ["2016-01-01T12:00:00.512Z", TS],
      ["2016-01-01T12:00Z", Date.parse("2016-01-01T12:00:00Z")],
      [String(TS), TS],
    ],
    [
      [-1, "-1 (number) is not a time"],
      [NaN, "NaN (number) is not a time"],
      ["2016-01-01", '"2016-01-01" (string) is not a time'],
      ["", '"" (empty string) is not a time'],
      [null, "null is not a time"],
    ],
  );
});
