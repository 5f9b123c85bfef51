"use strict";
// Seeded fuzzing of the legacy Blynk HTTP API (/{token}/...) over loopback: random methods,
// paths built from its own route words, pins and tokens (hosted, unknown, odd), queries and
// bodies. Every request gets an answer below 500 or is passed on; the token is never in an
// answer; the device keeps working afterwards; no built-in prototype changes. Replay a failure
// with the FUZZ_SEED it prints (test/lib/fixtures/fuzz.js).
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { hostBlynkDevice } = require("../../dist/nodes/lib/blynk/emulation.js");
const { blynkLegacyHttpApi } = require("../../dist/nodes/lib/blynk/legacy-http-api.js");
const { AuthThrottle } = require("../../dist/nodes/lib/transport/auth-throttle.js");
const { startEngine } = require("../lib/fixtures/engine.js");
const { fc, checkAsync, snapshot, assertNoPollution, nastyText, nastyJsonText } = require("../lib/fixtures/fuzz.js");

const BROKER_ID = "hostile-legacy-http-broker";
const TOKEN = "FuzzLegacyTok_0123456789abcdefgh";
const UNKNOWN = "FuzzUnknownTok_0123456789abcdefg";

/** encodeURIComponent for any string (a lone surrogate becomes U+FFFD first, as on the wire). */
const encode = (text) => encodeURIComponent(Buffer.from(text, "utf8").toString("utf8"));
const segment = fc.oneof(
  fc.constantFrom("get", "update", "pin", "extra", "data", "notify", "email", "project", "rtc", "isHardwareConnected", "isAppConnected", "qr", "V1", "v255", "D8", "A0", "V256", "X1", "", "%", "%zz", "__proto__"),
  nastyText.map(encode),
);
const token = fc.constantFrom(TOKEN, UNKNOWN, encodeURIComponent(TOKEN), "", "short", "%E0%A4%A", "__proto__");
const request = fc.record({
  method: fc.constantFrom("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"),
  path: fc.tuple(token, fc.array(segment, { minLength: 0, maxLength: 4 })).map(([t, rest]) => `/${[t, ...rest].join("/")}`),
  query: fc.array(fc.tuple(fc.constantFrom("value", "label", "color", "x", "__proto__", ""), fc.option(nastyText, { nil: undefined })), { maxLength: 4 }).map((pairs) =>
    pairs.map(([k, v]) => (v === undefined ? k : `${k}=${encode(v)}`)).join("&"),
  ),
  body: fc.option(fc.oneof(nastyJsonText, nastyText, fc.constant('[{"timestamp":1,"value":"2"}]'), fc.constant('{"body":"hi"}')), { nil: undefined }),
});

describe("hostile: legacy Blynk HTTP API fuzzing (fast-check, seeded, loopback)", function () {
  this.timeout(120_000);
  let engine;
  let unhost;
  let server;
  let origin;

  before(async function () {
    engine = await startEngine();
    brokers.attach(BROKER_ID, engine.engine);
    unhost = hostBlynkDevice(BROKER_ID, { id: "f0000000000000011", name: "FuzzLegacy", token: TOKEN, pins: { v1: "Temp" } }, () => undefined);
    // A throttle that never locks out: every request reaches the API's own checks.
    const api = blynkLegacyHttpApi({ authThrottle: new AuthThrottle({ maxFailures: 1e9 }) });
    server = http.createServer((req, res) =>
      api(req, res, () => {
        res.statusCode = 404;
        res.end("next");
      }),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    origin = `http://127.0.0.1:${server.address().port}`;
  });

  after(async function () {
    server.closeAllConnections();
    server.close();
    unhost();
    brokers.detach(BROKER_ID, engine.engine);
    await engine.engine.close();
  });

  it("answers every request below 500 (or passes it on), never with the token", async function () {
    await checkAsync(
      fc.asyncProperty(request, async ({ method, path, query, body }) => {
        const before = snapshot();
        const withBody = body !== undefined && method !== "GET";
        const res = await fetch(`${origin}${path}${query === "" ? "" : `?${query}`}`, { method, ...(withBody ? { body, headers: { "content-type": "application/json" } } : {}) });
        const text = await res.text();
        assert.ok(res.status < 500, `${method} ${path}?${query} -> ${res.status} ${text}`);
        assert.ok(!text.includes(TOKEN) && !text.includes(UNKNOWN), `${method} ${path}: the token is in the answer`);
        assertNoPollution(before);
      }),
      300,
    );
    const res = await fetch(`${origin}/${TOKEN}/update/V1?value=7`);
    assert.equal(res.status, 200);
    assert.equal(await (await fetch(`${origin}/${TOKEN}/get/V1`)).text(), '["7"]');
  });
});
