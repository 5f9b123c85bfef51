"use strict";
const assert = require("node:assert/strict");
const { http, parseHttpRequest, encodeHttpRpcRequest, parseHttpRpcRequest, describeHttpStatus, HTTP_STATUS } = require("../../../dist/nodes/lib/thingsboard/http-codec.js");
const { table, show, wire } = require("../../support/table.js");

const TOKEN = "A1_TEST_TOKEN";
const JSON_HEADERS = { "content-type": "application/json" };
const TS = 1451649600512;

describe("thingsboard/http-codec: request builders", function () {
  table(
    "http.*",
    ([name, ...args]) => http[name](...args),
    [
      [["telemetry", TOKEN, { temperature: 42 }], { method: "POST", path: `/api/v1/${TOKEN}/telemetry`, query: {}, body: '{"temperature":42}', headers: JSON_HEADERS }],
      [
        ["telemetry", TOKEN, [{ ts: new Date(TS), values: { a: 1 } }, { b: 2 }]],
        { method: "POST", path: `/api/v1/${TOKEN}/telemetry`, query: {}, body: `[{"ts":${TS},"values":{"a":1}},{"b":2}]`, headers: JSON_HEADERS },
      ],
      [["attributes", TOKEN, { fw: "1.0" }], { method: "POST", path: `/api/v1/${TOKEN}/attributes`, query: {}, body: '{"fw":"1.0"}', headers: JSON_HEADERS }],
      [["getAttributes", TOKEN, { clientKeys: ["a", "b"], sharedKeys: "c,d" }], { method: "GET", path: `/api/v1/${TOKEN}/attributes`, query: { clientKeys: "a,b", sharedKeys: "c,d" } }],
      [["getAttributes", TOKEN], { method: "GET", path: `/api/v1/${TOKEN}/attributes`, query: {} }],
      [["attributeUpdates", TOKEN, 20000], { method: "GET", path: `/api/v1/${TOKEN}/attributes/updates`, query: { timeout: "20000" } }],
      [["attributeUpdates", TOKEN], { method: "GET", path: `/api/v1/${TOKEN}/attributes/updates`, query: {} }],
      [["rpcPoll", TOKEN, 0], { method: "GET", path: `/api/v1/${TOKEN}/rpc`, query: { timeout: "0" } }],
      [["rpcReply", TOKEN, 17, { success: true }], { method: "POST", path: `/api/v1/${TOKEN}/rpc/17`, query: {}, body: '{"success":true}', headers: JSON_HEADERS }],
      [["rpcReply", TOKEN, "007", "done"], { method: "POST", path: `/api/v1/${TOKEN}/rpc/007`, query: {}, body: '"done"', headers: JSON_HEADERS }],
      [["rpcCall", TOKEN, { method: "getTime" }], { method: "POST", path: `/api/v1/${TOKEN}/rpc`, query: {}, body: '{"method":"getTime","params":{}}', headers: JSON_HEADERS }],
      [["claim", TOKEN, { secretKey: "s", durationMs: 60000 }], { method: "POST", path: `/api/v1/${TOKEN}/claim`, query: {}, body: '{"secretKey":"s","durationMs":60000}', headers: JSON_HEADERS }],
      [["claim", TOKEN], { method: "POST", path: `/api/v1/${TOKEN}/claim`, query: {}, body: "{}", headers: JSON_HEADERS }],
      [
        ["provision", { deviceName: "d", provisionDeviceKey: "k", provisionDeviceSecret: "s" }],
        { method: "POST", path: "/api/v1/provision", query: {}, body: '{"provisionDeviceKey":"k","provisionDeviceSecret":"s","deviceName":"d"}', headers: JSON_HEADERS },
      ],
      [["telemetry", "a b/c?", { t: 1 }], { method: "POST", path: "/api/v1/a%20b%2Fc%3F/telemetry", query: {}, body: '{"t":1}', headers: JSON_HEADERS }],
    ],
    [
      [["telemetry", "", { t: 1 }], "access token must be non-empty text without control characters, got blank text"],
      [["telemetry", undefined, { t: 1 }], "access token must be non-empty text without control characters, got undefined"],
      [["telemetry", TOKEN, {}], "telemetry is empty"],
      [["attributes", TOKEN, { a: null }], 'value of "a" is null'],
      [["rpcPoll", TOKEN, -1], "long-poll timeout must be whole milliseconds, got -1 (number)"],
      [["rpcPoll", TOKEN, "60"], 'long-poll timeout must be whole milliseconds, got "60" (string)'],
      [["rpcReply", TOKEN, "x", 1], 'request id must be a whole number, got "x" (string)'],
      [["rpcReply", TOKEN, 1, undefined], "RPC reply is undefined"],
      [["rpcCall", TOKEN, { method: "" }], "RPC method must be non-empty text"],
      [["provision", {}], '"provisionDeviceKey" is missing'],
      [["telemetry", TOKEN, { a: "x".repeat(70000) }], "accepted: at most 65536 bytes", "too-large"],
    ],
  );

  it("never puts the token in a refusal", function () {
    assert.throws(() => http.telemetry("SECRET\n", { t: 1 }), (err) => !err.message.includes("SECRET"));
  });

  table(
    "encodeHttpRpcRequest / parseHttpRpcRequest",
    ([id, request]) => parseHttpRpcRequest(JSON.stringify(encodeHttpRpcRequest(id, request))),
    [
      [[1, { method: "setGpio", params: { pin: 23, value: 1 } }], { id: 1, method: "setGpio", params: { pin: 23, value: 1 } }],
      [[0, { method: "getTime" }], { id: 0, method: "getTime", params: {} }],
    ],
    [[[-1, { method: "m" }], "request id must be a whole number"]],
  );

  table(
    "parseHttpRpcRequest (long-poll answer)",
    parseHttpRpcRequest,
    [
      ['{"id":"1","method":"setGpio","params":{"pin":"23","value":1}}', { id: 1, method: "setGpio", params: { pin: "23", value: 1 } }],
      [wire({ id: 5, method: "m" }), { id: 5, method: "m", params: null }],
    ],
    [
      [wire({ method: "m" }), 'RPC request "id" must be a whole number, got undefined'],
      ["", "RPC request is empty"],
    ],
  );

  table(
    "describeHttpStatus",
    describeHttpStatus,
    [
      [400, "bad request: ThingsBoard could not read the URL, a parameter or the body (HTTP 400)"],
      [401, "unauthorized: ThingsBoard does not know this access token (HTTP 401)"],
      [408, "long poll timed out with nothing to deliver (HTTP 408)"],
      [503, "server error (HTTP 503)"],
      [302, "unexpected answer (HTTP 302)"],
    ],
  );

  it("exports the statuses it relies on", function () {
    assert.deepEqual(HTTP_STATUS, { ok: 200, badRequest: 400, unauthorized: 401, notFound: 404, methodNotAllowed: 405, pollTimeout: 408 });
  });
});

describe("thingsboard/http-codec: parseHttpRequest (hosting the API)", function () {
  const base = `/api/v1/${TOKEN}`;
  table(
    "intents",
    ([method, path, query, body]) => parseHttpRequest(method, path, query, body),
    [
      [["POST", `${base}/telemetry`, undefined, '{"temperature":42}'], { kind: "telemetry", token: TOKEN, entries: [{ values: { temperature: 42 } }] }],
      [["post", `${base}/telemetry/`, undefined, Buffer.from(`{"ts":${TS},"values":{"a":1}}`)], { kind: "telemetry", token: TOKEN, entries: [{ ts: TS, values: { a: 1 } }] }],
      [["POST", `${base}/telemetry`, undefined, [{ a: 1 }, { b: 2 }]], { kind: "telemetry", token: TOKEN, entries: [{ values: { a: 1 } }, { values: { b: 2 } }] }],
      [["POST", `${base}/attributes`, undefined, { fw: "1.0" }], { kind: "attributes", token: TOKEN, values: { fw: "1.0" } }],
      [["GET", `${base}/attributes?clientKeys=a,b&sharedKeys=c,d`], { kind: "attributes-request", token: TOKEN, request: { all: false, clientKeys: ["a", "b"], sharedKeys: ["c", "d"] } }],
      [["GET", `${base}/attributes`, { sharedKeys: "c" }], { kind: "attributes-request", token: TOKEN, request: { all: false, clientKeys: [], sharedKeys: ["c"] } }],
      [["GET", `${base}/attributes`, new URLSearchParams("clientKeys=x")], { kind: "attributes-request", token: TOKEN, request: { all: false, clientKeys: ["x"], sharedKeys: [] } }],
      [["GET", `${base}/attributes`, "clientKeys="], { kind: "attributes-request", token: TOKEN, request: { all: true, clientKeys: [], sharedKeys: [] } }],
      [["GET", `${base}/attributes`], { kind: "attributes-request", token: TOKEN, request: { all: true, clientKeys: [], sharedKeys: [] } }],
      [["GET", `${base}/attributes/updates?timeout=20000`], { kind: "attribute-updates", token: TOKEN, timeoutMs: 20000 }],
      [["GET", `${base}/attributes/updates`], { kind: "attribute-updates", token: TOKEN, timeoutMs: 0 }],
      [["GET", `${base}/rpc`, { timeout: ["60000"] }], { kind: "rpc-poll", token: TOKEN, timeoutMs: 60000 }],
      [["POST", `${base}/rpc/17`, undefined, '{"success":true}'], { kind: "rpc-reply", token: TOKEN, id: 17, idText: "17", result: { success: true } }],
      [["POST", `${base}/rpc/0`, undefined, "ok"], { kind: "rpc-reply", token: TOKEN, id: 0, idText: "0", result: "ok" }],
      [["POST", `${base}/rpc`, undefined, '{"method":"getTime","params":{}}'], { kind: "rpc-call", token: TOKEN, request: { method: "getTime", params: {} } }],
      [["POST", `${base}/claim`, undefined, ""], { kind: "claim", token: TOKEN, claim: {} }],
      [["POST", `${base}/claim`, undefined, '{"secretKey":"s","durationMs":60000}'], { kind: "claim", token: TOKEN, claim: { secretKey: "s", durationMs: 60000 } }],
      [["POST", "/api/v1/provision", undefined, '{"provisionDeviceKey":"k","provisionDeviceSecret":"s"}'], { kind: "provision", request: { provisionDeviceKey: "k", provisionDeviceSecret: "s" } }],
      [["POST", "/api/v1/a%20b%2Fc/telemetry", undefined, '{"t":1}'], { kind: "telemetry", token: "a b/c", entries: [{ values: { t: 1 } }] }],
      [["GET", `${base}/attributes?clientKeys=a&clientKeys=b`], { kind: "attributes-request", token: TOKEN, request: { all: false, clientKeys: ["a"], sharedKeys: [] } }],
      [["POST", `${base}/telemetry`, undefined, JSON.stringify({ a: "x".repeat(70000) })], { kind: "telemetry", token: TOKEN, entries: [{ values: { a: "x".repeat(70000) } }] }],
    ],
  );

  describe("refusals: [request] -> status and message fragment", function () {
    const rows = [
      [["POST", `${base}/telemetry`, undefined, "{}x"], 400, "telemetry payload is not valid JSON ("],
      [["POST", `${base}/telemetry`, undefined, "5"], 400, 'telemetry payload must be a JSON object, got 5 (number); accepted: {"key": value, ...}'],
      [["POST", `${base}/telemetry`, undefined, ""], 400, "telemetry payload is empty"],
      [["POST", `${base}/attributes`, undefined, "[]"], 400, "attributes payload must be a JSON object"],
      [["POST", `${base}/rpc/abc`, undefined, "{}"], 400, 'RPC id in the path must be a whole number, got "abc" (string); accepted: a non-negative whole number'],
      [["POST", `${base}/rpc/-1`, undefined, "{}"], 400, 'RPC id in the path must be a whole number, got "-1" (string)'],
      [["GET", `${base}/rpc?timeout=soon`], 400, 'timeout "soon" is not whole milliseconds; accepted: e.g. timeout=60000'],
      [["GET", `${base}/attributes?clientKeys=5&sharedKeys=a,,b`], 200, ""],
      [["POST", `${base}/rpc`, undefined, '{"params":{}}'], 400, 'RPC request "method" must be non-empty text, got undefined (no value); accepted: a method name'],
      [["POST", `${base}/claim`, undefined, '{"durationMs":"soon"}'], 400, "claim durationMs must be whole milliseconds"],
      [["POST", "/api/v1/provision", undefined, "{}"], 400, 'provisioning request: "provisionDeviceKey" is missing'],
      [["PUT", `${base}/telemetry`], 405, "/api/v1/<token>/telemetry accepts POST, not PUT"],
      [["DELETE", `${base}/rpc`], 405, "/api/v1/<token>/rpc accepts GET or POST, not DELETE"],
      [["GET", `${base}/rpc/5`], 405, "/api/v1/<token>/rpc/5 accepts POST, not GET"],
      [["GET", "/api/v1/provision"], 405, "/api/v1/provision accepts POST only"],
      [["GET", `${base}/ota?title=t&version=v`], 404, "unknown device API path /api/v1/<token>/ota; accepted: telemetry, attributes, attributes/updates, rpc, rpc/<id>, claim, firmware, software"],
      [["POST", `${base}/firmware?title=t&version=v`], 405, "accepts GET, not POST"],
      [["GET", `${base}/firmware?version=v`], 400, "the firmware request needs title"],
      [["GET", `${base}/firmware?title=t&version=v&size=-1`], 400, "size \"-1\" is not a whole number"],
      [["GET", `${base}`], 404, "unknown device API path /api/v1/<token>/;"],
      [["GET", `${base}/telemetry//`], 404, "unknown device API path /api/v1/<token>/telemetry/;"],
      [["GET", "/api/v2/x/telemetry"], 404, "not a ThingsBoard device API path; accepted: /api/v1/<token>/..."],
      [["POST", "/api/v1//telemetry"], 404, "the path has no token; accepted: /api/v1/<token>/..."],
      [["POST", "/api/v1/%E0%A4%A/telemetry"], 400, "the token segment of the path is not valid percent-encoding"],
    ];
    for (const [[method, path, query, body], status, fragment] of rows) {
      it(`${method} ${path} ${show(body)} -> ${status} ${fragment}`, function () {
        const result = parseHttpRequest(method, path, query, body);
        if (status === 200) {
          assert.notEqual(result.kind, "error", show(result));
          return;
        }
        assert.equal(result.kind, "error", show(result));
        assert.equal(result.status, status, result.error);
        assert.ok(result.error.includes(fragment), `"${result.error}" lacks "${fragment}"`);
      });
    }
  });

  it("keeps the token out of every refusal", function () {
    const secret = "SECRET_TOKEN_123";
    const requests = [
      ["POST", `/api/v1/${secret}/telemetry`, undefined, "{"],
      ["PUT", `/api/v1/${secret}/attributes`],
      ["GET", `/api/v1/${secret}/nothing/here`],
      ["POST", `/api/v1/${secret}/rpc/x`, undefined, "1"],
      ["GET", `/api/v1/${secret}/rpc?timeout=x`],
    ];
    for (const [method, path, query, body] of requests) {
      const result = parseHttpRequest(method, path, query, body);
      assert.equal(result.kind, "error", show(result));
      assert.ok(!result.error.includes(secret), result.error);
    }
  });

  describe("round trip: builder -> parseHttpRequest", function () {
    const calls = [
      [http.telemetry(TOKEN, { ts: TS, values: { a: 1 } }), { kind: "telemetry", token: TOKEN, entries: [{ ts: TS, values: { a: 1 } }] }],
      [http.telemetry(TOKEN, [{ a: 1 }, { ts: TS, values: { b: { j: [1] } } }]), { kind: "telemetry", token: TOKEN, entries: [{ values: { a: 1 } }, { ts: TS, values: { b: { j: [1] } } }] }],
      [http.attributes(TOKEN, { a: true }), { kind: "attributes", token: TOKEN, values: { a: true } }],
      [http.getAttributes(TOKEN, { clientKeys: ["a"], sharedKeys: ["b", "c"] }), { kind: "attributes-request", token: TOKEN, request: { all: false, clientKeys: ["a"], sharedKeys: ["b", "c"] } }],
      [http.attributeUpdates(TOKEN, 1000), { kind: "attribute-updates", token: TOKEN, timeoutMs: 1000 }],
      [http.rpcPoll(TOKEN, 30000), { kind: "rpc-poll", token: TOKEN, timeoutMs: 30000 }],
      [http.rpcReply(TOKEN, 3, { ok: 1 }), { kind: "rpc-reply", token: TOKEN, id: 3, idText: "3", result: { ok: 1 } }],
      [http.rpcCall(TOKEN, { method: "getTime", params: [1] }), { kind: "rpc-call", token: TOKEN, request: { method: "getTime", params: [1] } }],
      [http.claim(TOKEN, { secretKey: "s" }), { kind: "claim", token: TOKEN, claim: { secretKey: "s" } }],
      [http.provision({ provisionDeviceKey: "k", provisionDeviceSecret: "s", credentialsType: "ACCESS_TOKEN", token: "t" }), { kind: "provision", request: { provisionDeviceKey: "k", provisionDeviceSecret: "s", credentialsType: "ACCESS_TOKEN", token: "t" } }],
      [http.telemetry("tok/with space", { t: 1 }), { kind: "telemetry", token: "tok/with space", entries: [{ values: { t: 1 } }] }],
    ];
    for (const [call, intent] of calls) {
      it(`${call.method} ${call.path.replace(TOKEN, "<token>")}`, function () {
        assert.deepEqual(parseHttpRequest(call.method, call.path, call.query, call.body === undefined ? undefined : Buffer.from(call.body)), intent);
      });
    }
  });
});
