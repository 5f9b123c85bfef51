"use strict";
const assert = require("node:assert/strict");
const http = require("../../../dist/nodes/lib/blynk/http-codec.js");
const { throwsWith, table: rows } = require("../../support/table.js");

const T = "abcdefghijklmnopqrstuvwxyz012345"; // a 32-character device token
const E = http.HTTP_ERRORS;
const TS = Date.UTC(2024, 0, 19, 12, 25, 30);
const JSON_TYPE = "application/json";

/** ok rows: [args, expected]; bad rows: [args, fragment(s), code?]; args are spread into fn. */
const table = (name, fn, ok, bad = []) => rows(name, fn, ok, bad, true);

const get = (path, query) => ({ method: "GET", path: `/external/api/${path}`, query });

describe("blynk/http-codec", function () {
  it("has Blynk's error texts verbatim", function () {
    assert.deepStrictEqual({ ...E }, {
      invalidToken: "Invalid token.",
      noToken: "No token provided.",
      wrongPin: "Wrong pin format.",
      typeMismatch: "Value doesn't match the Datastream data type.",
      noDatastream: "No datastream setup for that pin.",
      eventCodeMissing: "Event code is not provided.",
      unknownEvent: "Can't find Event with this code in Product template",
      unknownContentType: "Unknown content type.",
      batchTooLarge: "Too much data in batch. Maximum batch size is 10000 points.",
      incorrectParams: "Request with incorrect parameters",
    });
  });

  table("errorBody", http.errorBody, [
    [["Invalid token."], '{"error":{"message":"Invalid token."}}'],
    [['say "hi"'], '{"error":{"message":"say \\"hi\\""}}'],
  ]);

  table("parseErrorBody", http.parseErrorBody, [
    [['{"error":{"message":"Invalid token."}}'], "Invalid token."],
    [[http.errorBody(E.wrongPin)], E.wrongPin],
    [["100.00000"], undefined],
    [["{bad"], undefined],
    [['{"error":"x"}'], undefined],
    [['{"error":{"message":5}}'], undefined],
    [[""], undefined],
  ]);

  table("parsePin", http.parsePin, [
    [["v1"], "v1"],
    [["V1"], "v1"],
    [["v0"], "v0"],
    [["V255"], "v255"],
    [["v99"], "v99"],
  ], [
    [["v256"], ["Wrong pin format.", "accepted: v0..v255"]],
    [["v01"], "Wrong pin format."],
    [["x1"], "Wrong pin format."],
    [["a0"], "Wrong pin format."],
    [["d1"], "Wrong pin format."],
    [["v"], "Wrong pin format."],
    [["vv1"], "Wrong pin format."],
    [["V-1"], "Wrong pin format."],
    [[" v1"], "Wrong pin format."],
    [[""], "Wrong pin format."],
    [[1], ["Wrong pin format.", "1 (number)"]],
    [[undefined], "Wrong pin format."],
  ]);

  table("request builders (token first, order kept)", (build, ...args) => http[build](T, ...args), [
    [["getRequest", ["V1"]], get("get", [["token", T], ["v1", ""]])],
    [["getRequest", ["v1", "V2", "v3"]], get("get", [["token", T], ["v1", ""], ["v2", ""], ["v3", ""]])],
    [["getAllRequest"], get("getAll", [["token", T]])],
    [["updateRequest", "V1", 100], get("update", [["token", T], ["v1", "100"]])],
    [["updateRequest", "v1", 21.5], get("update", [["token", T], ["v1", "21.5"]])],
    [["updateRequest", "v1", true], get("update", [["token", T], ["v1", "1"]])],
    [["updateRequest", "v1", false], get("update", [["token", T], ["v1", "0"]])],
    [["updateRequest", "v1", "hello world"], get("update", [["token", T], ["v1", "hello world"]])],
    [["updateRequest", "v1", ""], get("update", [["token", T], ["v1", ""]])],
    [["updateRequest", "V5", [13.405, 52.52]], get("update", [["token", T], ["pin", "v5"], ["value", "13.405"], ["value", "52.52"]])],
    [["updateRequest", "v2", ["a", "b", "c"]], get("update", [["token", T], ["pin", "v2"], ["value", "a"], ["value", "b"], ["value", "c"]])],
    [["batchUpdateRequest", { V1: 1, v2: "on", v3: false }], get("batch/update", [["token", T], ["v1", "1"], ["v2", "on"], ["v3", "0"]])],
    [["batchUpdateRequest", { v3: 3, v1: 1 }], get("batch/update", [["token", T], ["v3", "3"], ["v1", "1"]])],
    [["timestampedBatchRequest", "V1", [[TS, 1], [TS + 1000, 2.5]]], {
      method: "POST",
      path: "/external/api/batch/update",
      query: [["token", T], ["pin", "v1"]],
      body: `[[${TS},1],[${TS + 1000},2.5]]`,
      headers: { "Content-Type": "application/json" },
    }],
    [["timestampedBatchRequest", "v9", [[TS, [13.405, 52.52]], [TS + 1, "x"], [TS + 2, true]]], {
      method: "POST",
      path: "/external/api/batch/update",
      query: [["token", T], ["pin", "v9"]],
      body: `[[${TS},[13.405,52.52]],[${TS + 1},"x"],[${TS + 2},true]]`,
      headers: { "Content-Type": "application/json" },
    }],
    [["propertyRequest", "V1", "color", "#FF0000"], get("update/property", [["token", T], ["pin", "v1"], ["color", "#FF0000"]])],
    [["propertyRequest", "v1", "label", "Room 1"], get("update/property", [["token", T], ["pin", "v1"], ["label", "Room 1"]])],
    [["propertyRequest", "v1", "isDisabled", true], get("update/property", [["token", T], ["pin", "v1"], ["isDisabled", "1"]])],
    [["propertyRequest", "v1", "step", 0.5], get("update/property", [["token", T], ["pin", "v1"], ["step", "0.5"]])],
    [["propertyRequest", "v4", "labels", ["Off", "Low", "High"]], get("update/property", [["token", T], ["pin", "v4"], ["labels", "Off"], ["labels", "Low"], ["labels", "High"]])],
    [["logEventRequest", "temp_alert"], get("logEvent", [["token", T], ["code", "temp_alert"]])],
    [["logEventRequest", "temp_alert", ""], get("logEvent", [["token", T], ["code", "temp_alert"]])],
    [["logEventRequest", "temp_alert", "Too hot: 41 °C"], get("logEvent", [["token", T], ["code", "temp_alert"], ["description", "Too hot: 41 °C"]])],
    [["isHardwareConnectedRequest"], get("isHardwareConnected", [["token", T]])],
  ], [
    [["getRequest", []], "non-empty array"],
    [["getRequest", ["x1"]], "Wrong pin format."],
    [["updateRequest", "x1", 1], "Wrong pin format."],
    [["updateRequest", "v1", NaN], "finite number"],
    [["updateRequest", "v1", null], "cannot be sent"],
    [["updateRequest", "v1", []], "empty array"],
    [["updateRequest", "v1", [[1]]], "must be a single value"],
    [["updateRequest", "v1", "a\0b"], "NUL"],
    [["updateRequest", "v1", "x".repeat(1025)], "1025 bytes", "too-large"],
    [["batchUpdateRequest", {}], "non-empty object of pin -> value"],
    [["batchUpdateRequest", [1]], "non-empty object of pin -> value"],
    [["batchUpdateRequest", { v1: [1, 2] }], "must be a single value"],
    [["batchUpdateRequest", { V1: 1, v1: 2 }], "appears twice"],
    [["batchUpdateRequest", { pin: 1 }], "Wrong pin format."],
    [["timestampedBatchRequest", "v1", []], "at least one point"],
    [["timestampedBatchRequest", "v1", [[1.5, 1]]], "whole milliseconds"],
    [["timestampedBatchRequest", "x", [[TS, 1]]], "Wrong pin format."],
    [["timestampedBatchRequest", "v1", Array.from({ length: 10001 }, (_, i) => [TS + i, i])], [E.batchTooLarge, "10001"], "too-large"],
    [["propertyRequest", "v1", "pin", "x"], "collides with a query key"],
    [["propertyRequest", "v1", "token", "x"], "collides with a query key"],
    [["propertyRequest", "v1", "bad-name", "x"], "not an identifier"],
    [["logEventRequest", "high temp"], "spaces"],
    [["logEventRequest", ""], "event code must be non-empty"],
    [["logEventRequest", "ok", 5], "description must be text"],
  ]);

  describe("tokens", function () {
    const builders = [
      (t) => http.getRequest(t, ["v1"]),
      (t) => http.getAllRequest(t),
      (t) => http.updateRequest(t, "v1", 1),
      (t) => http.batchUpdateRequest(t, { v1: 1 }),
      (t) => http.timestampedBatchRequest(t, "v1", [[TS, 1]]),
      (t) => http.propertyRequest(t, "v1", "label", "x"),
      (t) => http.logEventRequest(t, "e"),
      (t) => http.isHardwareConnectedRequest(t),
    ];
    builders.forEach((build, i) => {
      it(`builder ${i} refuses a missing token as "No token provided."`, function () {
        throwsWith(() => build(""), E.noToken);
        throwsWith(() => build(undefined), E.noToken);
      });
      it(`builder ${i} refuses a token with spaces without echoing it`, function () {
        assert.throws(() => build("secret token"), (err) => err.code === "invalid" && err.message.includes("spaces") && !err.message.includes("secret"));
      });
    });
  });

  it("the HTTP client's encoding turns # in a color into %23", function () {
    const { query } = http.propertyRequest(T, "v1", "color", "#FF0000");
    assert.equal(new URLSearchParams(query).toString(), `token=${T}&pin=v1&color=%23FF0000`);
  });

  table("parseGetResponse", http.parseGetResponse, [
    [[["v1"], "100.00000"], 100],
    [[["V1"], "42"], 42],
    [[["v1"], "hello"], "hello"],
    [[["v1"], ""], ""],
    [[["v1"], "007"], "007"],
    [[["v1"], '["a","2"]'], ["a", 2]],
    [[["v1"], "[not json"], "[not json"],
    [[["v1", "v2", "v4"], '{"v1":1.0,"v2":2,"v4":"string pin"}'], { v1: 1, v2: 2, v4: "string pin" }],
    [[["V1", "v2"], '{"v1":"100.5","V2":[13.4,52.5]}'], { v1: 100.5, v2: [13.4, 52.5] }],
    [[["v1", "v2"], '{"v1":true,"v3":1}'], { v1: true }],
    [[["v1", "v2"], '{"v1":null,"v2":{"a":1}}'], {}],
  ], [
    [[["v1", "v2"], "oops"], "not a JSON object", "protocol"],
    [[["v1", "v2"], "[1,2]"], "not a JSON object", "protocol"],
    [[["v1"], http.errorBody("Invalid token.")], "Invalid token.", "http"],
    [[["v1", "v2"], http.errorBody("Wrong pin format.")], "Wrong pin format.", "http"],
    [[["x"], "1"], "Wrong pin format."],
  ]);

  table("parseGetAllResponse", http.parseGetAllResponse, [
    [['{"v0":1,"a0":512,"d3":1,"v5":[13.4,52.5],"v6":"t","v7":null}'], { v0: 1, a0: 512, d3: 1, v5: [13.4, 52.5], v6: "t" }],
    [["{}"], {}],
  ], [
    [["nope"], "not a JSON object", "protocol"],
    [[http.errorBody("Invalid token.")], "Invalid token.", "http"],
  ]);

  const points = (n) => JSON.stringify(Array.from({ length: n }, (_, i) => [TS + i, i]));
  // [method, path, query pairs, body, content type] -> intent
  table("parseHttpRequest (documented ops)", http.parseHttpRequest, [
    [["GET", "/external/api/get", [["token", T], ["v1", undefined]], undefined, undefined], { op: "get", token: T, pins: ["v1"] }],
    [["GET", "/external/api/get", [["token", T], ["v1", undefined], ["V2", undefined], ["v3", ""], ["v1", undefined]]], { op: "get", token: T, pins: ["v1", "v2", "v3"] }],
    [["get", "/external/api/get", [["V7", undefined], ["token", T]]], { op: "get", token: T, pins: ["v7"] }],
    [["GET", "/external/api/getAll", [["token", T]]], { op: "getAll", token: T }],
    [["GET", "/external/api/isHardwareConnected", [["token", T]]], { op: "isHardwareConnected", token: T }],
    [["GET", "/external/api/update", [["token", T], ["v1", "100"]]], { op: "update", token: T, pin: "v1", value: 100 }],
    [["GET", "/external/api/update", [["token", T], ["V1", "hello world"]]], { op: "update", token: T, pin: "v1", value: "hello world" }],
    [["GET", "/external/api/update", [["token", T], ["v1", "007"]]], { op: "update", token: T, pin: "v1", value: "007" }],
    [["GET", "/external/api/update", [["token", T], ["v1", undefined]]], { op: "update", token: T, pin: "v1", value: "" }],
    [["GET", "/external/api/update", [["token", T], ["v1", "a"], ["v1", "b"]]], { op: "update", token: T, pin: "v1", value: ["a", "b"] }],
    [["GET", "/external/api/update", [["token", T], ["pin", "V1"], ["value", "13.4"], ["value", "52.5"]]], { op: "update", token: T, pin: "v1", value: [13.4, 52.5] }],
    [["GET", "/external/api/update", [["token", T], ["pin", "v2"], ["value", "on"]]], { op: "update", token: T, pin: "v2", value: "on" }],
    [["GET", "/external/api/batch/update", [["token", T], ["v1", "1"], ["V2", "on"]]], { op: "batchUpdate", token: T, values: { v1: 1, v2: "on" } }],
    [["GET", "/external/api/batch/update", [["token", T], ["v1", "1"], ["v1", "2"]]], { op: "batchUpdate", token: T, values: { v1: [1, 2] } }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "V1"]], `[[${TS},1],[${TS + 1},[13.4,52.5]]]`, JSON_TYPE],
      { op: "timestampedBatch", token: T, pin: "v1", points: [[TS, 1], [TS + 1, [13.4, 52.5]]] }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], `[[${TS},"x"]]`, "Application/JSON; charset=utf-8"],
      { op: "timestampedBatch", token: T, pin: "v1", points: [[TS, "x"]] }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], points(10000), JSON_TYPE],
      { op: "timestampedBatch", token: T, pin: "v1", points: JSON.parse(points(10000)) }],
    [["GET", "/external/api/update/property", [["token", T], ["pin", "V1"], ["color", "#FF0000"]]], { op: "property", token: T, pin: "v1", property: "color", value: "#FF0000" }],
    [["GET", "/external/api/update/property", [["token", T], ["pin", "v1"], ["isDisabled", "true"]]], { op: "property", token: T, pin: "v1", property: "isDisabled", value: "true" }],
    [["GET", "/external/api/update/property", [["token", T], ["pin", "v4"], ["labels", "Off"], ["labels", "On"]]], { op: "property", token: T, pin: "v4", property: "labels", value: ["Off", "On"] }],
    [["GET", "/external/api/logEvent", [["token", T], ["code", "temp_alert"]]], { op: "logEvent", token: T, code: "temp_alert", description: "" }],
    [["GET", "/external/api/logEvent", [["token", T], ["code", "temp_alert"], ["description", "Too hot"]]], { op: "logEvent", token: T, code: "temp_alert", description: "Too hot" }],
    // errors: [args] -> { error, status }
    [["GET", "/external/api/get", [["v1", undefined]]], { error: E.noToken, status: 400 }],
    [["GET", "/external/api/update", [["token", ""], ["v1", "1"]]], { error: E.noToken, status: 400 }],
    [["GET", "/external/api/update", [["token", undefined], ["v1", "1"]]], { error: E.noToken, status: 400 }],
    [["GET", "/external/api/getAll", []], { error: E.noToken, status: 400 }],
    [["GET", "/external/api/get", [["token", T], ["x1", undefined]]], { error: E.wrongPin, status: 400 }],
    [["GET", "/external/api/get", [["token", T]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update", [["token", T], ["v256", "1"]]], { error: E.wrongPin, status: 400 }],
    [["GET", "/external/api/update", [["token", T], ["pin", "q1"], ["value", "1"]]], { error: E.wrongPin, status: 400 }],
    [["GET", "/external/api/update", [["token", T], ["pin", "v1"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update", [["token", T], ["pin", "v1"], ["value", "1"], ["v2", "2"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update", [["token", T], ["v1", "1"], ["v2", "2"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update", [["token", T], ["dataStreamId", "3"], ["value", "1"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update", [["token", T]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/batch/update", [["token", T]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/batch/update", [["token", T], ["v1", "1"], ["x", "2"]]], { error: E.wrongPin, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], `[[${TS},1]]`, undefined], { error: E.unknownContentType, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], `[[${TS},1]]`, "text/plain"], { error: E.unknownContentType, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], `[[${TS},1]]`, "application/jsonx"], { error: E.unknownContentType, status: 400 }],
    [["POST", "/external/api/batch/update", [["pin", "v1"]], `[[${TS},1]]`, JSON_TYPE], { error: E.noToken, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "x"]], `[[${TS},1]]`, JSON_TYPE], { error: E.wrongPin, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T]], `[[${TS},1]]`, JSON_TYPE], { error: E.wrongPin, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], "not json", JSON_TYPE], { error: E.incorrectParams, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], undefined, JSON_TYPE], { error: E.incorrectParams, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], "[]", JSON_TYPE], { error: E.incorrectParams, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], '[["x",1]]', JSON_TYPE], { error: E.incorrectParams, status: 400 }],
    [["POST", "/external/api/batch/update", [["token", T], ["pin", "v1"]], points(10001), JSON_TYPE], { error: E.batchTooLarge, status: 400 }],
    [["GET", "/external/api/update/property", [["token", T], ["color", "#FFF"]]], { error: E.wrongPin, status: 400 }],
    [["GET", "/external/api/update/property", [["token", T], ["pin", "v1"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update/property", [["token", T], ["pin", "v1"], ["color", "a"], ["label", "b"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/update/property", [["token", T], ["pin", "v1"], ["1bad", "a"]]], { error: E.incorrectParams, status: 400 }],
    [["GET", "/external/api/logEvent", [["token", T]]], { error: E.eventCodeMissing, status: 400 }],
    [["GET", "/external/api/logEvent", [["token", T], ["code", ""]]], { error: E.eventCodeMissing, status: 400 }],
    [["GET", "/external/api/logEvent", [["token", T], ["code", "bad code"]]], { error: E.unknownEvent, status: 400 }],
  ]);

  describe("parseHttpRequest paths and methods", function () {
    const rows = [
      ["GET", "/external/api/nope", 404, "Unknown API path"],
      ["GET", "/external/api/get/", 404, "/external/api/getAll"],
      ["GET", "/external/api/GET", 404, "Unknown API path"],
      ["GET", "/api/get", 404, "Unknown API path"],
      ["POST", "/external/api/update", 405, "accepted: GET"],
      ["PUT", "/external/api/get", 405, "Method PUT"],
      ["DELETE", "/external/api/batch/update", 405, "GET or POST"],
    ];
    for (const [method, path, status, fragment] of rows) {
      it(`${method} ${path} -> ${status}`, function () {
        const got = http.parseHttpRequest(method, path, [["token", T], ["v1", "1"]], undefined, undefined);
        assert.equal(got.status, status);
        assert.ok(got.error.includes(fragment), got.error);
      });
    }
  });

  describe("builder -> parseHttpRequest round trips", function () {
    const rows = [
      [http.getRequest(T, ["v1", "v2"]), { op: "get", token: T, pins: ["v1", "v2"] }],
      [http.getAllRequest(T), { op: "getAll", token: T }],
      [http.updateRequest(T, "V1", 21.5), { op: "update", token: T, pin: "v1", value: 21.5 }],
      [http.updateRequest(T, "v1", [13.4, 52.5]), { op: "update", token: T, pin: "v1", value: [13.4, 52.5] }],
      [http.batchUpdateRequest(T, { v1: 1, v2: "x" }), { op: "batchUpdate", token: T, values: { v1: 1, v2: "x" } }],
      [http.timestampedBatchRequest(T, "v3", [[TS, 1]]), { op: "timestampedBatch", token: T, pin: "v3", points: [[TS, 1]] }],
      [http.propertyRequest(T, "v1", "labels", ["a", "b"]), { op: "property", token: T, pin: "v1", property: "labels", value: ["a", "b"] }],
      [http.logEventRequest(T, "temp_alert", "hot"), { op: "logEvent", token: T, code: "temp_alert", description: "hot" }],
      [http.isHardwareConnectedRequest(T), { op: "isHardwareConnected", token: T }],
    ];
    for (const [spec, intent] of rows) {
      it(`${spec.method} ${spec.path} -> ${intent.op}`, function () {
        const contentType = spec.headers?.["Content-Type"];
        assert.deepStrictEqual(http.parseHttpRequest(spec.method, spec.path, spec.query, spec.body, contentType), intent);
      });
    }
  });
});
