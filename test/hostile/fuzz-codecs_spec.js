"use strict";
// Seeded fuzzing of every codec entry point that sees what a device, a cloud or a flow sends:
// arbitrary text, bytes, JSON (with "__proto__"/"constructor" keys), deep nesting, odd numbers.
// Each call returns or refuses with a TransportError that has a message (never a TypeError from
// a missing check, a non-Error or a stack overflow), and no built-in prototype changes.
// A call that does not return within 30 s ends the run naming it (a hang). Replay a failure with
// the FUZZ_SEED it prints (see test/lib/fixtures/fuzz.js).
const assert = require("node:assert/strict");
const { fc, check, watched, snapshot, assertNoPollution, assertNormalError, anything, nastyText, nastyBuffer, nastyJsonText, pollutingObject } = require("../lib/fixtures/fuzz.js");

const lib = (p) => require(`../../dist/nodes/lib/${p}.js`);
const blynk = { ...lib("blynk/codec"), http: lib("blynk/http-codec"), legacy: lib("blynk/legacy-http-codec") };
const tb = { ...lib("thingsboard/codec"), ...lib("thingsboard/gateway-codec"), http: lib("thingsboard/http-codec") };
const ts = { ...lib("thingspeak/codec"), ...lib("thingspeak/rest-codec") };
const values = lib("transport/value-codec");
const topic = lib("transport/topic");

const RUNS = 150;

/** Calls fn(...args): a result, or a refusal that is a TransportError with a message. */
function callSafely(name, fn, args) {
  const before = snapshot();
  try {
    return { value: watched(name, fn, args) };
  } catch (err) {
    assertNormalError(err, name);
    assert.equal(err.name, "TransportError", `${name} refused with a ${err.name} instead of a clear TransportError: ${err.message}`);
    return { error: err };
  } finally {
    assertNoPollution(before);
  }
}

/** Text or bytes as they arrive off the wire. */
const wire = fc.oneof(nastyText, nastyBuffer, nastyJsonText, nastyJsonText.map((t) => Buffer.from(t)));
/** Topic-like text built from a platform's own levels, so parsers get past the first switch. */
const topicFrom = (...levels) => fc.array(fc.oneof(fc.constantFrom(...levels), nastyText), { minLength: 1, maxLength: 6 }).map((l) => l.join("/"));
const queryPairs = fc.array(fc.tuple(fc.oneof(fc.constantFrom("token", "v1", "V2", "pin", "value", "code", "description", "keys", "clientKeys", "sharedKeys", "timeout", "__proto__", "constructor"), nastyText), fc.option(nastyText, { nil: undefined })), { maxLength: 6 });

/** [name, fn, arbitrary of the argument list] for every entry point that sees outside data. */
const ENTRY_POINTS = [
  // Blynk (device uplinks on the broker, downlinks at the client, HTTPS API both ways)
  ["blynk.parseUplink", blynk.parseUplink, fc.tuple(topicFrom("ds", "info", "mcu", "batch_ds", "get", "all", "meta", "event", "prop", "erase", "timestamped_batch", "label", "V1"), wire)],
  ["blynk.parseDownlink", blynk.parseDownlink, fc.tuple(topicFrom("downlink", "ds", "utc", "all", "json", "loc", "ota", "redirect", "reboot", "diag", "meta"), wire)],
  ["blynk.decodeValue", blynk.decodeValue, fc.tuple(wire)],
  ["blynk.encodeValue", blynk.encodeValue, fc.tuple(anything)],
  ["blynk.toBatchValues", blynk.toBatchValues, fc.tuple(anything)],
  ["blynk.toTimestampedPoints", blynk.toTimestampedPoints, fc.tuple(anything, fc.integer())],
  ["blynk.encodeUplink", (m) => blynk.encodeUplink(m, 0), fc.tuple(fc.record({ kind: fc.constantFrom("ds", "batch", "event", "meta", "property", "timestamped", "info-mcu"), datastream: anything, value: anything, values: anything, code: anything, description: anything, points: anything, property: anything, info: anything }, { requiredKeys: ["kind"] }))],
  ["blynk.http.parseHttpRequest", blynk.http.parseHttpRequest, fc.tuple(fc.constantFrom("GET", "POST", "PUT", "get", ""), topicFrom("", "external", "api", "get", "getAll", "update", "batch", "property", "logEvent", "isHardwareConnected"), queryPairs, fc.option(nastyJsonText, { nil: undefined }), fc.option(fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", ""), { nil: undefined }))],
  ["blynk.http.parseGetResponse", blynk.http.parseGetResponse, fc.tuple(fc.array(fc.constantFrom("V1", "v2", "Temp"), { minLength: 1, maxLength: 3 }), nastyJsonText)],
  ["blynk.http.parseGetAllResponse", blynk.http.parseGetAllResponse, fc.tuple(nastyJsonText)],
  ["blynk.http.parseErrorBody", blynk.http.parseErrorBody, fc.tuple(nastyJsonText)],
  ["blynk.http.parsePin", blynk.http.parsePin, fc.tuple(anything)],
  // Blynk: the legacy server's HTTP API (/{token}/...): paths, pins and JSON bodies
  ["blynk.legacy.splitPath", blynk.legacy.splitPath, fc.tuple(fc.oneof(nastyText, topicFrom("", "get", "update", "pin", "extra", "V1").map((p) => `/${p}`)))],
  ["blynk.legacy.routeOf", blynk.legacy.routeOf, fc.tuple(fc.array(fc.oneof(fc.constantFrom("get", "update", "pin", "extra", "data", "notify", "email", "project", "rtc", "isHardwareConnected", "V1", "__proto__", "constructor", ""), nastyText), { maxLength: 5 }))],
  ["blynk.legacy.parseLegacyPin", blynk.legacy.parseLegacyPin, fc.tuple(fc.oneof(nastyText, fc.constantFrom("V0", "v255", "D256", "A-1", "V01", "V1e2", "__proto__")))],
  ["blynk.legacy.parseValues", blynk.legacy.parseValues, fc.tuple(fc.oneof(nastyJsonText, anything, pollutingObject))],
  ["blynk.legacy.parseExtraPoints", blynk.legacy.parseExtraPoints, fc.tuple(fc.oneof(nastyJsonText, anything, fc.array(fc.record({ timestamp: fc.oneof(fc.integer(), fc.double(), nastyText), value: fc.oneof(nastyText, fc.double(), fc.boolean()) }), { maxLength: 4 }).chain((a) => fc.constantFrom(a, JSON.stringify(a)))), fc.integer({ min: 1, max: 10_000 }))],
  ["blynk.legacy.parseNotify", blynk.legacy.parseNotify, fc.tuple(fc.oneof(nastyJsonText, anything, pollutingObject, nastyText.map((body) => JSON.stringify({ body }))))],
  ["blynk.legacy.parseEmail", blynk.legacy.parseEmail, fc.tuple(fc.oneof(nastyJsonText, anything, pollutingObject))],
  // ThingsBoard (device topics and payloads, gateway, HTTP device API, provisioning)
  ["tb.parseDeviceTopic", tb.parseDeviceTopic, fc.tuple(topicFrom("v1", "devices", "me", "telemetry", "attributes", "request", "response", "rpc", "claim", "gateway", "1", "-1", "1e3"))],
  ...["parseTelemetry", "parseAttributes", "parseAttributeUpdate", "parseAttributeRequest", "parseAttributeResponse", "parseRpcRequest", "parseRpcResponse", "parseClaim", "parseProvisionRequest", "parseProvisionResponse", "parseGatewayConnect", "parseGatewayDisconnect", "parseGatewayTelemetry", "parseGatewayAttributes", "parseGatewayAttributeUpdate", "parseGatewayClaim", "parseGatewayAttributeRequest", "parseGatewayAttributeResponse", "parseGatewayRpcRequest", "parseGatewayRpcResponse", "isGatewayRpcRequest"].map((name) => [`tb.${name}`, tb[name], fc.tuple(fc.oneof(wire, anything, pollutingObject))]),
  ...["encodeTelemetry", "encodeAttributes", "toPayloadText", "parseRequestId", "requestIdText", "toTimestamp", "assertMethod", "assertDeviceName"].map((name) => [`tb.${name}`, tb[name], fc.tuple(anything)]),
  ["tb.encodeRpcRequest", tb.encodeRpcRequest, fc.record({ method: anything, params: anything }).map((r) => [r])],
  ["tb.encodeAttributeUpdate", tb.encodeAttributeUpdate, fc.record({ values: anything, deleted: anything }).map((r) => [r])],
  ["tb.encodeGatewayTelemetry", tb.encodeGatewayTelemetry, fc.tuple(fc.dictionary(nastyText, anything, { maxKeys: 3 }))],
  ["tb.classifyConnect", tb.classifyConnect, fc.record({ clientId: anything, username: anything, password: anything }).map((r) => [r])],
  ["tb.http.parseHttpRequest", tb.http.parseHttpRequest, fc.tuple(fc.constantFrom("GET", "POST", "PUT"), topicFrom("", "api", "v1", "telemetry", "attributes", "rpc", "claim", "provision", "updates", "1"), fc.oneof(anything, fc.dictionary(fc.constantFrom("timeout", "clientKeys", "sharedKeys", "__proto__"), nastyText)), fc.oneof(wire, anything))],
  ["tb.http.parseHttpRpcRequest", tb.http.parseHttpRpcRequest, fc.tuple(fc.oneof(wire, anything))],
  // ThingSpeak (MQTT topics and forms, REST bodies and answers)
  ["ts.parseTopic", ts.parseTopic, fc.tuple(topicFrom("channels", "1", "0", "-1", "99999999999999999999", "publish", "subscribe", "fields", "field1", "field9", "json", "apikey"))],
  ["ts.parseUpdate", ts.parseUpdate, fc.tuple(fc.oneof(wire, fc.array(fc.tuple(fc.constantFrom("field1", "field8", "field9", "lat", "created_at", "status", "__proto__", "constructor"), nastyText)).map((p) => p.map(([k, v]) => `${k}=${v}`).join("&"))))],
    // Arrays reach it only as the REST server's own FormPair lists, so bodies are text, bytes or objects.
  ["ts.parseUpdateForm", ts.parseUpdateForm, fc.tuple(fc.oneof(wire, pollutingObject, fc.dictionary(nastyText, anything, { maxKeys: 4 })))],
  ["ts.decodeForm", ts.decodeForm, fc.tuple(wire)],
  ["ts.parseFieldPayload", ts.parseFieldPayload, fc.tuple(wire)],
  ["ts.parseEntry", ts.parseEntry, fc.tuple(fc.oneof(wire, anything), fc.option(fc.integer(), { nil: undefined }))],
  ["ts.toChannelUpdate", ts.toChannelUpdate, fc.tuple(anything, anything)],
  ["ts.encodeFieldPayload", ts.encodeFieldPayload, fc.tuple(anything, anything)],
  ...["createdAtMs", "toFieldNumber", "toChannelId", "parseUpdateAnswer", "parseFeedsAnswer"].map((name) => [`ts.${name}`, ts[name], fc.tuple(fc.oneof(wire, anything))]),
  ["ts.parseLastAnswer", ts.parseLastAnswer, fc.tuple(fc.oneof(wire, anything), fc.integer({ min: 1, max: 1e6 }))],
  ["ts.describeRestError", ts.describeRestError, fc.tuple(fc.integer({ min: 100, max: 599 }), fc.oneof(wire, anything))],
  // transport: typed-input conversion and topics
  ...["toNumber", "toInteger", "toBoolean", "toText", "toJsonText", "describeValue"].map((name) => [`values.${name}`, values[name], fc.tuple(anything)]),
  ["values.coerce", values.coerce, fc.tuple(anything, fc.constantFrom("string", "number", "boolean", "json", "auto"))],
  ["values.parseScalar", values.parseScalar, fc.tuple(nastyText)],
  ["topic.assertTopicName", topic.assertTopicName, fc.tuple(anything)],
  ["topic.assertTopicFilter", topic.assertTopicFilter, fc.tuple(anything)],
  ["topic.topicMatches", topic.topicMatches, fc.tuple(nastyText, nastyText)],
  ["topic.filterCovers", topic.filterCovers, fc.tuple(nastyText, nastyText)],
];

describe("hostile: codec fuzzing (fast-check, seeded)", function () {
  this.timeout(30_000);

  it("every entry point exists (the table follows the codecs)", function () {
    for (const [name, fn] of ENTRY_POINTS) assert.equal(typeof fn, "function", name);
  });

  for (const [name, fn, args] of ENTRY_POINTS) {
    it(`${name}: returns or refuses clearly; never pollutes a prototype`, function () {
      check(fc.property(args, (a) => void callSafely(name, fn, a)), RUNS);
    });
  }

  describe("regressions found by fuzzing", function () {
    const nested = (n) => JSON.parse(`${"[".repeat(n)}${"]".repeat(n)}`);

    it("a deeply nested value is refused as 'nested too deeply', not with the engine's stack overflow", function () {
      for (const encode of [values.toJsonText, tb.encodeTelemetry, (v) => tb.encodeRpcRequest({ method: "m", params: v })]) {
        assert.throws(() => encode({ a: nested(100_000) }), (err) => err.name === "TransportError" && /nested too deeply/.test(err.message) && !/call stack/.test(err.message));
      }
    });

    it("blynk: a deeply nested array in a get answer is no value (no recursion into it)", function () {
      const body = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
      assert.equal(blynk.http.parseGetResponse(["V1"], body), body);
      assert.deepEqual(blynk.http.parseGetResponse(["V1"], '[1,"2",[3]]'), '[1,"2",[3]]');
      assert.deepEqual(blynk.http.parseGetResponse(["V1"], '[1,"2"]'), [1, 2]);
    });

    it("thingsboard: a sparse telemetry array is refused item by item, not with a TypeError", function () {
      assert.throws(() => tb.encodeTelemetry(new Array(2)), (err) => err.name === "TransportError" && /telemetry item 0 must be an object, got undefined/.test(err.message));
    });

    it("thingspeak: a parameter nested in arrays is refused without recursing into it", function () {
      assert.throws(() => ts.parseUpdateForm({ field1: nested(100_000) }), (err) => err.name === "TransportError" && /parameter value must be text or a number/.test(err.message));
      assert.equal(ts.parseUpdateForm({ field1: ["1", "2"] }).update.fields[1], "2", "a repeated key still counts as its last value");
    });
  });

  describe("round trips", function () {
    const datastream = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,15}$/);
    const scalar = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }), fc.string({ maxLength: 20 }).filter((s) => !s.includes("\u0000")));

    it("blynk: a datastream value encoded as an uplink parses back to the same text", function () {
      check(
        fc.property(datastream, scalar, (ds, value) => {
          const encoded = blynk.encodeUplink({ kind: "ds", datastream: ds, value }, 0);
          const parsed = blynk.parseUplink(encoded.topic, Buffer.from(encoded.payload), { raw: true });
          assert.equal(parsed.kind, "ds");
          assert.equal(parsed.datastream, ds);
          assert.equal(String(parsed.value), blynk.encodeValue(value));
        }),
        RUNS,
      );
    });

    it("blynk: a downlink write parses back at the device", function () {
      check(
        fc.property(datastream, scalar, (ds, value) => {
          const encoded = blynk.encodeDownlink({ kind: "ds", datastream: ds, value });
          const parsed = blynk.parseDownlink(encoded.topic, Buffer.from(encoded.payload), { raw: true });
          assert.deepEqual([parsed.kind, parsed.datastream, String(parsed.value)], ["ds", ds, blynk.encodeValue(value)]);
        }),
        RUNS,
      );
    });

    const tbKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => k.trim() !== "" && !["__proto__", "ts", "values"].includes(k));
    const tbValue = fc.oneof(fc.integer(), fc.boolean(), fc.string({ maxLength: 12 }), fc.double({ noNaN: true, noDefaultInfinity: true }));

    it("thingsboard: attributes, telemetry and RPC requests survive encode -> JSON -> parse", function () {
      check(
        fc.property(fc.dictionary(tbKey, tbValue, { minKeys: 1, maxKeys: 5 }), fc.string({ minLength: 1, maxLength: 12 }).filter((m) => m.trim() !== ""), fc.jsonValue({ maxDepth: 2 }), (vals, method, params) => {
          const wireText = (v) => Buffer.from(JSON.stringify(v));
          assert.deepEqual(tb.parseAttributes(wireText(tb.encodeAttributes(vals))), JSON.parse(JSON.stringify(vals)));
          const entries = tb.parseTelemetry(wireText(tb.encodeTelemetry(vals, 0)));
          assert.deepEqual(entries.map((e) => e.values), [JSON.parse(JSON.stringify(vals))]);
          const request = tb.parseRpcRequest(wireText(tb.encodeRpcRequest({ method, params })));
          assert.equal(request.method, method);
        }),
        RUNS,
      );
    });

    it("thingspeak: a channel update survives encode -> form -> parse", function () {
      const field = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes("\u0000"));
      check(
        fc.property(fc.dictionary(fc.constantFrom("1", "2", "3", "4", "5", "6", "7", "8"), field, { minKeys: 1 }), (fields) => {
          const update = ts.toChannelUpdate(Object.fromEntries(Object.entries(fields).map(([n, v]) => [`field${n}`, v])));
          const parsed = ts.parseUpdate(Buffer.from(ts.encodeUpdate(update)));
          assert.deepEqual(ts.updatePairs(parsed), ts.updatePairs(update));
        }),
        RUNS,
      );
    });

    it("topics: a valid topic name matches itself as a filter, and '#' covers every filter", function () {
      const level = fc.string({ unit: fc.constantFrom("a", "b", "$", " ", "é", "1"), maxLength: 4 });
      check(
        fc.property(fc.array(level, { minLength: 1, maxLength: 5 }), (levels) => {
          const name = levels.join("/");
          fc.pre(name !== "");
          topic.assertTopicName(name);
          assert.ok(topic.topicMatches(name, name));
          assert.ok(topic.filterCovers("#", name) || name.startsWith("$"));
        }),
        RUNS,
      );
    });
  });
});
