"use strict";
const assert = require("node:assert/strict");
const util = require("node:util");
const { HttpClient } = require("../../../dist/nodes/lib/transport/http-client.js");
const { HttpError } = require("../../../dist/nodes/lib/transport/http-error.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");
const { Redactor } = require("../../../dist/nodes/lib/transport/redact.js");
const { startHttpServer, unusedPort, testCa } = require("../fixtures/http-server.js");
const { waitFor, until } = require("../../support/wait.js");

describe("transport/http-client", function () {
  /** @type {Awaited<ReturnType<typeof startHttpServer>>} */
  let a;
  let b;
  let clients;
  /** Retry waits the client asked for, recorded instead of slept. */
  let delays;

  const noWait = (ms) => {
    delays.push(ms);
    return Promise.resolve();
  };

  function client(options = {}) {
    const c = new HttpClient({
      baseUrl: a.origin,
      backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 },
      sleep: noWait,
      ...options,
    });
    clients.push(c);
    return c;
  }

  /** Resolves with the rejection of `promise`; fails if it resolves. */
  async function rejection(promise) {
    try {
      await promise;
    } catch (err) {
      return err;
    }
    assert.fail("expected the request to fail");
  }

  beforeEach(async function () {
    clients = [];
    delays = [];
    a = await startHttpServer();
    b = await startHttpServer();
  });

  afterEach(async function () {
    for (const c of clients) c.close();
    await Promise.all([a.close(), b.close()]);
  });

  describe("requests", function () {
    it("GETs JSON with query parameters, bare keys included (Blynk `&v1`)", async function () {
      a.reply("GET", "/external/api/get", 200, { v1: 1.5, v2: "x" });
      const res = await client().request({ path: "/external/api/get", query: { token: "tok", v1: null, v2: null, skip: undefined } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.data, { v1: 1.5, v2: "x" });
      assert.equal(res.headers["content-type"], "application/json");
      assert.equal(res.url, `${a.origin}/external/api/get?token=tok&v1&v2`);
      assert.equal(a.requests.length, 1);
      assert.equal(a.requests[0].rawQuery, "token=tok&v1&v2");
    });

    it("encodes query values and repeats keys given as arrays", async function () {
      a.reply("GET", "/external/api/update", 200, "");
      await client().get("/external/api/update", { query: [["token", "t k"], ["pin", "V1"], ["value", 2], ["value", true], ["color", "#D3435C"]] });
      await client().get("/external/api/update", { query: { value: [1, 2] } });
      assert.equal(a.requests[0].rawQuery, "token=t%20k&pin=V1&value=2&value=true&color=%23D3435C");
      assert.equal(a.requests[1].rawQuery, "value=1&value=2");
    });

    it("reads text, JSON scalars, empty bodies and buffers", async function () {
      a.reply("GET", "/value", 200, "100.00000");
      a.reply("GET", "/empty", 200, "");
      a.reply("GET", "/bin", 200, Buffer.from([0, 1, 2, 255]), { "Content-Type": "application/octet-stream" });
      const c = client();
      assert.equal((await c.get("/value", { responseType: "text" })).data, "100.00000");
      assert.equal((await c.get("/value")).data, 100);
      assert.equal((await c.get("/empty")).data, undefined);
      assert.equal((await c.get("/empty", { responseType: "text" })).data, "");
      assert.deepEqual((await c.get("/bin", { responseType: "buffer" })).data, Buffer.from([0, 1, 2, 255]));
    });

    it("POSTs JSON, text, form and binary bodies with the matching content type", async function () {
      a.route("POST", "/api/v1/telemetry", (req, res) => {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ got: req.text }));
      });
      const c = client();
      const res = await c.request({ method: "post", path: "/api/v1/telemetry", query: { a: 1 }, body: { temperature: 21.5 } });
      assert.deepEqual(res.data, { got: '{"temperature":21.5}' });
      await c.post("/api/v1/telemetry", "plain");
      await c.post("/api/v1/telemetry", new URLSearchParams({ field1: "1", api_key: "k" }));
      await c.post("/api/v1/telemetry", Buffer.from("raw"));
      await c.post("/api/v1/telemetry", [[1, 2]], { headers: { "Content-Type": "application/json; charset=utf-8" } });
      const seen = a.requests.map((r) => [r.method, r.rawQuery, r.headers["content-type"], r.text]);
      assert.deepEqual(seen, [
        ["POST", "a=1", "application/json", '{"temperature":21.5}'],
        ["POST", "", "text/plain; charset=utf-8", "plain"],
        ["POST", "", "application/x-www-form-urlencoded", "field1=1&api_key=k"],
        ["POST", "", "application/octet-stream", "raw"],
        ["POST", "", "application/json; charset=utf-8", "[[1,2]]"],
      ]);
    });

    it("sends default headers, lets a request override or remove them, and names itself", async function () {
      a.reply("GET", "/h", 200, {});
      const c = client({ headers: { "X-Default": "d", "X-Other": "o" }, userAgent: "test-agent/1" });
      await c.get("/h", { headers: { "X-Default": "override", "X-Other": undefined } });
      const h = a.requests[0].headers;
      assert.equal(h["x-default"], "override");
      assert.equal(h["x-other"], undefined);
      assert.equal(h["user-agent"], "test-agent/1");
    });

    it("runs many requests at once without listener-leak warnings", async function () {
      const held = [];
      a.route("GET", "/many", (_req, res) => {
        held.push(res);
        if (held.length === 25) for (const r of held) r.end("{}");
      });
      const warnings = [];
      const onWarning = (w) => warnings.push(w.name);
      process.on("warning", onWarning);
      try {
        const c = client();
        await Promise.all(Array.from({ length: 25 }, () => c.get("/many")));
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      } finally {
        process.off("warning", onWarning);
      }
      assert.deepEqual(warnings, []);
    });

    it("joins the base path and the request path, and accepts absolute URLs", async function () {
      a.reply("GET", "/api/v1/dev/attributes", 200, {});
      b.reply("GET", "/file.zip", 200, "zip");
      const c = client({ baseUrl: `${a.origin}/api/v1/` });
      await c.get("/dev/attributes");
      const res = await c.get(`${b.origin}/file.zip`, { responseType: "text" });
      assert.equal(a.requests[0].path, "/api/v1/dev/attributes");
      assert.equal(res.data, "zip");
    });
  });

  describe("retries", function () {
    it("retries a 503 with growing backoff, then succeeds", async function () {
      a.sequence("GET", "/busy", [[503, "busy"], [503, "busy"], [200, { ok: true }]]);
      const c = client();
      const retries = [];
      c.on("retry", (info) => retries.push(info));
      const res = await c.get("/busy");
      assert.deepEqual(res.data, { ok: true });
      assert.equal(a.requests.length, 3);
      assert.deepEqual(delays, [100, 200]);
      assert.deepEqual(
        retries.map((r) => [r.attempt, r.status, r.delayMs, r.reason]),
        [
          [1, 503, 100, "HTTP 503 Service Unavailable"],
          [2, 503, 200, "HTTP 503 Service Unavailable"],
        ],
      );
    });

    it("uses the injected random for jitter", async function () {
      a.sequence("GET", "/busy", [[500, ""], [200, {}]]);
      await client({ backoff: { initialMs: 1000, jitter: 0.5 }, random: () => 0 }).get("/busy");
      assert.deepEqual(delays, [500]);
    });

    const retryAfterCases = [
      ["delay-seconds", { "Retry-After": "7" }, {}, 7000],
      ["an HTTP date", { "Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT" }, { now: () => Date.parse("Wed, 21 Oct 2015 07:28:00 GMT") }, 5000],
      ["a date in the past (no wait)", { "Retry-After": "Wed, 21 Oct 2015 07:27:00 GMT" }, { now: () => Date.parse("Wed, 21 Oct 2015 07:28:00 GMT") }, 0],
      ["seconds above the cap", { "Retry-After": "3600" }, { maxRetryAfterMs: 20_000 }, 20_000],
      ["garbage (falls back to backoff)", { "Retry-After": "soon" }, {}, 100],
    ];
    for (const [name, headers, options, expected] of retryAfterCases) {
      it(`honours Retry-After given as ${name} on a 429`, async function () {
        a.sequence("GET", "/limited", [[429, "slow down", headers], [200, "ok"]]);
        const res = await client(options).get("/limited", { responseType: "text" });
        assert.equal(res.data, "ok");
        assert.deepEqual(delays, [expected]);
      });
    }

    it('gives up on a 429 after the retries with a "rate-limited" error', async function () {
      a.reply("GET", "/limited", 429, { error: "error_too_many_requests" }, { "Retry-After": "2" });
      const err = await rejection(client().get("/limited"));
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, "rate-limited");
      assert.equal(err.status, 429);
      assert.equal(err.retryable, true);
      assert.equal(err.retryAfterMs, 2000);
      assert.equal(a.requests.length, 4);
      assert.deepEqual(delays, [2000, 2000, 2000]);
      assert.equal(
        err.message,
        `GET ${a.origin}/limited failed: HTTP 429 Too Many Requests: {"error":"error_too_many_requests"} (gave up after 4 attempts; the server asked to wait 2 s)`,
      );
    });

    it("does not retry a 400 and says what the server said", async function () {
      a.reply("GET", "/external/api/get", 400, { error: { message: "Invalid token." } });
      const err = await rejection(client().get("/external/api/get", { query: { token: "abcdEFGH1234", v1: null } }));
      assert.ok(err instanceof HttpError);
      assert.equal(err.code, "http");
      assert.equal(err.status, 400);
      assert.equal(err.retryable, false);
      assert.equal(a.requests.length, 1);
      assert.equal(
        err.message,
        `GET ${a.origin}/external/api/get?token=***&v1 failed: HTTP 400 Bad Request: {"error":{"message":"Invalid token."}}`,
      );
      assert.equal(err.body, '{"error":{"message":"Invalid token."}}');
    });

    it("does not retry a 5xx on a POST unless the caller opts in, nor anything with retry: false", async function () {
      a.reply("POST", "/rpc", 503, "down");
      a.reply("GET", "/busy", 503, "down");
      const c = client();
      const err = await rejection(c.post("/rpc", { method: "x" }));
      assert.equal(err.code, "http");
      assert.equal(err.status, 503);
      assert.equal(a.requests.length, 1);

      await rejection(c.post("/rpc", { method: "x" }, { retry: true }));
      assert.equal(a.requests.length, 1 + 4);

      await rejection(c.get("/busy", { retry: false }));
      assert.equal(a.requests.length, 1 + 4 + 1);
    });

    it("retries a POST answered 429 (the server did not act on it)", async function () {
      a.sequence("POST", "/update", [[429, ""], [200, "17"]]);
      const res = await client().post("/update", new URLSearchParams({ field1: "3" }), { responseType: "text" });
      assert.equal(res.data, "17");
      assert.equal(a.requests.length, 2);
    });

    it("does not retry other 4xx or 501", async function () {
      for (const status of [401, 404, 413, 501]) a.reply("GET", `/s${status}`, status, "no");
      const c = client();
      for (const status of [401, 404, 413, 501]) {
        const err = await rejection(c.get(`/s${status}`));
        assert.equal(err.status, status);
      }
      assert.equal(a.requests.length, 4);
    });

    it("respects retries: 0", async function () {
      a.reply("GET", "/busy", 502, "");
      const err = await rejection(client({ retries: 0 }).get("/busy"));
      assert.equal(err.code, "http");
      assert.equal(err.retryable, true);
      assert.equal(a.requests.length, 1);
      assert.ok(!err.message.includes("gave up"), err.message);
    });
  });

  describe("redirects", function () {
    it("follows a 308 to another origin keeping method and body, and sends later requests there", async function () {
      a.redirect("*", "/external/api/batch/update", 308, (req) => `${b.origin}${req.url}`);
      b.reply("POST", "/external/api/batch/update", 200, "OK");
      b.reply("GET", "/external/api/get", 200, "42");
      const c = client();
      const moved = [];
      c.on("redirected", (info) => moved.push(info));

      const res = await c.post("/external/api/batch/update", [[1700000000000, 1]], {
        query: { token: "tok", pin: "V1" },
        responseType: "text",
      });
      assert.equal(res.data, "OK");
      assert.equal(res.url, `${b.origin}/external/api/batch/update?token=tok&pin=V1`);
      assert.equal(a.requests.length, 1);
      assert.deepEqual(
        b.requests.map((r) => [r.method, r.url, r.headers["content-type"], r.text]),
        [["POST", "/external/api/batch/update?token=tok&pin=V1", "application/json", "[[1700000000000,1]]"]],
      );
      assert.equal(c.baseUrl, b.origin);
      assert.deepEqual(moved, [{ origin: b.origin, previousOrigin: a.origin, status: 308 }]);

      const next = await c.get("/external/api/get", { query: { token: "tok", v1: null } });
      assert.equal(next.data, 42);
      assert.equal(a.requests.length, 1, "the old origin is not asked again");
      assert.equal(b.requests[1].url, "/external/api/get?token=tok&v1");
    });

    it("keeps the base path when a permanent redirect changes the origin", async function () {
      a.redirect("GET", "/api/v1/x", 301, (req) => `${b.origin}${req.url}`);
      b.reply("GET", "/api/v1/x", 200, {});
      const c = client({ baseUrl: `${a.origin}/api/v1` });
      await c.get("/x");
      assert.equal(c.baseUrl, `${b.origin}/api/v1`);
    });

    it("does not remember a temporary (302/307) redirect", async function () {
      a.redirect("GET", "/t", 307, (req) => `${b.origin}${req.url}`);
      b.reply("GET", "/t", 200, {});
      const c = client();
      let moved = 0;
      c.on("redirected", () => moved++);
      await c.get("/t");
      await c.get("/t");
      assert.equal(a.requests.length, 2);
      assert.equal(b.requests.length, 2);
      assert.equal(c.baseUrl, a.origin);
      assert.equal(moved, 0);
    });

    // [status, method, method after, body kept]
    const methodCases = [
      [303, "POST", "GET", false],
      [303, "PUT", "GET", false],
      [302, "POST", "GET", false],
      [301, "POST", "GET", false],
      [302, "PUT", "PUT", true],
      [307, "POST", "POST", true],
      [308, "PUT", "PUT", true],
    ];
    for (const [status, method, after, kept] of methodCases) {
      it(`turns ${method} into ${after} on ${status}${kept ? ", body kept" : ", body dropped"}`, async function () {
        a.redirect(method, "/submit", status, "/result");
        a.reply(after, "/result", 200, { done: true });
        const res = await client().request({ method, path: "/submit", body: { v: 1 } });
        assert.deepEqual(res.data, { done: true });
        const second = a.requests[1];
        assert.equal(second.method, after);
        assert.equal(second.path, "/result");
        assert.equal(second.text, kept ? '{"v":1}' : "");
        assert.equal(second.headers["content-type"], kept ? "application/json" : undefined);
      });
    }

    it("drops Authorization on a cross-origin redirect", async function () {
      a.redirect("GET", "/r", 302, (req) => `${b.origin}${req.url}`);
      b.reply("GET", "/r", 200, {});
      await client().get("/r", { headers: { Authorization: "Bearer abcdefgh", "X-Keep": "1" } });
      assert.equal(a.requests[0].headers.authorization, "Bearer abcdefgh");
      assert.equal(b.requests[0].headers.authorization, undefined);
      assert.equal(b.requests[0].headers["x-keep"], "1");
    });

    it("reports a redirect loop in words", async function () {
      a.redirect("GET", "/loop", 302, "/loop2");
      a.redirect("GET", "/loop2", 302, "/loop");
      const err = await rejection(client().get("/loop"));
      assert.equal(err.code, "protocol");
      assert.equal(err.message, `GET ${a.origin}/loop2 failed: redirect loop: HTTP 302 back to ${a.origin}/loop`);
    });

    it("stops after maxRedirects", async function () {
      for (let i = 0; i < 5; i++) a.redirect("GET", `/hop${i}`, 302, `/hop${i + 1}`);
      const err = await rejection(client({ maxRedirects: 2 }).get("/hop0"));
      assert.equal(err.code, "protocol");
      assert.equal(err.status, 302);
      assert.match(err.message, /too many redirects \(the limit is 2\); the last was HTTP 302 to http:\/\/127\.0\.0\.1:\d+\/hop3$/);
      assert.equal(a.requests.length, 3);
    });

    it("reports a redirect without Location", async function () {
      a.reply("GET", "/nowhere", 301, "");
      const err = await rejection(client().get("/nowhere"));
      assert.equal(err.code, "protocol");
      assert.match(err.message, /HTTP 301 redirect without a Location header$/);
    });
  });

  describe("failures", function () {
    it('turns no answer in time into "timeout", in words, and retries it for a GET', async function () {
      a.hang("GET", "/slow");
      const err = await rejection(client({ timeoutMs: 50, retries: 1 }).get("/slow"));
      assert.equal(err.code, "timeout");
      assert.equal(err.retryable, true);
      assert.equal(err.message, `GET ${a.origin}/slow failed: no response within 50 ms (gave up after 2 attempts)`);
      await until(() => a.requests.length === 2, 2000, "both attempts to arrive");
    });

    it("uses a per-request timeout", async function () {
      a.hang("POST", "/slow");
      const err = await rejection(client().post("/slow", {}, { timeoutMs: 30 }));
      assert.equal(err.code, "timeout");
      assert.equal(err.message, `POST ${a.origin}/slow failed: no response within 30 ms`);
    });

    it('turns a refused connection into "network" and retries it (even a POST: nothing was sent)', async function () {
      const port = await unusedPort();
      const c = client({ baseUrl: `http://127.0.0.1:${port}`, retries: 2 });
      const err = await rejection(c.post("/x", { a: 1 }));
      assert.ok(err instanceof TransportError);
      assert.equal(err.code, "network");
      assert.equal(err.message, `POST http://127.0.0.1:${port}/x failed: connection refused (ECONNREFUSED) (gave up after 3 attempts)`);
      assert.deepEqual(delays, [100, 200]);
    });

    it('turns unparsable JSON into "protocol" with an excerpt of what came', async function () {
      a.reply("GET", "/html", 200, "<html><body>Login</body></html>", { "Content-Type": "text/html" });
      const err = await rejection(client().get("/html"));
      assert.equal(err.code, "protocol");
      assert.equal(err.status, 200);
      assert.equal(err.message, `GET ${a.origin}/html failed: expected a JSON answer but got HTTP 200 (text/html): <html><body>Login</body></html>`);
    });

    it("truncates a long error body and describes a binary one", async function () {
      a.reply("GET", "/long", 500, "x".repeat(1000));
      a.reply("GET", "/png", 403, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1]), { "Content-Type": "image/png" });
      const c = client({ retries: 0 });
      const long = await rejection(c.get("/long"));
      assert.ok(long.message.endsWith(`: ${"x".repeat(200)}…`), long.message);
      const png = await rejection(c.get("/png"));
      assert.equal(png.message, `GET ${a.origin}/png failed: HTTP 403 Forbidden: <7 bytes of image/png>`);
    });

    const invalidCases = [
      ["an unknown method", { method: "BREW", path: "/x" }, 'method "BREW" is not one of'],
      ["a GET with a body", { path: "/x", body: { a: 1 } }, "a GET request cannot have a body"],
      ["a non-finite query number", { path: "/x", query: { v: NaN } }, 'query parameter "v" must be a finite number'],
      ["an object query value", { path: "/x", query: { v: {} } }, 'query parameter "v" must be a string, number, boolean or null'],
      ["a header with a line break", { path: "/x", headers: { "X-A": "a\r\nX-B: b" } }, 'header "X-A" must not contain line breaks'],
      ["a bad header name", { path: "/x", headers: { "X A": "a" } }, 'header name "X A" is not a valid HTTP token'],
      ["an unknown responseType", { path: "/x", responseType: "xml" }, 'responseType "xml" is not one of json, text, buffer'],
      ["a negative timeout", { path: "/x", timeoutMs: -1 }, "timeoutMs must be a positive number"],
      ["a circular body", { method: "POST", path: "/x", body: circular() }, "body cannot be sent as JSON"],
      ["a non-http absolute URL", { path: "ftp://example.com/x" }, "only http and https URLs are supported"],
      ["a malformed absolute URL", { path: "http://[::1/x" }, "the resulting URL is not valid"],
    ];
    for (const [name, request, fragment] of invalidCases) {
      it(`refuses ${name} with "invalid", sending nothing`, async function () {
        const err = await rejection(client().request(request));
        assert.ok(err instanceof TransportError);
        assert.equal(err.code, "invalid");
        assert.ok(err.message.includes(fragment), err.message);
        assert.equal(a.requests.length, 0);
      });
    }

    it("refuses a relative path without baseUrl, and bad constructor options", async function () {
      const c = client({ baseUrl: undefined });
      const err = await rejection(c.get("/x"));
      assert.equal(err.code, "invalid");
      assert.match(err.message, /absolute http\(s\) URL/);
      const bad = [
        [{ baseUrl: "not a url" }, "is not a URL"],
        [{ baseUrl: "ftp://host" }, "must start with http:// or https://"],
        [{ baseUrl: "https://host/?token=x" }, "must not have a query"],
        [{ timeoutMs: 0 }, "timeoutMs must be a positive number"],
        [{ retries: -1 }, "retries must be a whole number"],
        [{ maxRedirects: 1.5 }, "maxRedirects must be a whole number"],
        [{ backoff: { initialMs: 0 } }, "invalid backoff"],
        [{ headers: { "X-A": "a\nb" } }, "must not contain line breaks"],
      ];
      for (const [options, fragment] of bad) {
        assert.throws(() => new HttpClient(options), (e) => e.code === "invalid" && e.message.includes(fragment), JSON.stringify(options));
      }
    });
  });

  describe("TLS", function () {
    let s;
    beforeEach(async function () {
      s = await startHttpServer({ https: true });
    });
    afterEach(async function () {
      await s.close();
    });

    it("verifies the server certificate against a custom CA", async function () {
      s.reply("GET", "/ok", 200, { tls: true });
      const res = await client({ baseUrl: s.origin, tls: { ca: testCa() } }).get("/ok");
      assert.deepEqual(res.data, { tls: true });
    });

    it("refuses an untrusted certificate by default, without retrying, and can be told not to verify", async function () {
      s.reply("GET", "/ok", 200, { tls: true });
      const err = await rejection(client({ baseUrl: s.origin }).get("/ok"));
      assert.equal(err.code, "network");
      assert.equal(err.retryable, false);
      assert.match(err.message, /failed: TLS failed: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
      assert.deepEqual(delays, []);
      const res = await client({ baseUrl: s.origin, tls: { rejectUnauthorized: false } }).get("/ok");
      assert.deepEqual(res.data, { tls: true });
    });

    it("refuses a redirect from HTTPS to plain HTTP", async function () {
      s.redirect("GET", "/external/api/get", 308, (req) => `${a.origin}${req.url}`);
      const err = await rejection(client({ baseUrl: s.origin, tls: { ca: testCa() } }).get("/external/api/get", { query: { token: "SECRETtoken123" } }));
      assert.equal(err.code, "protocol");
      assert.match(err.message, /refused HTTP 308 redirect from HTTPS to plain HTTP http:\/\/127\.0\.0\.1:\d+\/external\/api\/get\?token=\*\*\*$/);
      assert.equal(a.requests.length, 0);
    });
  });

  describe("secrets", function () {
    const TOKEN = "SECRETtoken123";
    const HEADER_KEY = "HEADERkey456";
    const PATH_TOKEN = "PATHtoken789";

    function assertClean(err, ...secrets) {
      const views = [err.message, String(err), err.stack, JSON.stringify(err), util.inspect(err, { depth: 5 })];
      for (const view of views) {
        for (const secret of secrets) assert.ok(!view.includes(secret), `secret leaked in: ${view}`);
      }
      assert.equal(err.cause, undefined);
    }

    it("keeps query tokens, header keys and echoed secrets out of errors", async function () {
      a.route("GET", "/external/api/get", (req, res) => {
        res.writeHead(400, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: { message: `Invalid token ${req.query.get("token")} with key ${req.headers["thingspeakapikey"]}` } }));
      });
      const err = await rejection(
        client().get("/external/api/get", { query: { token: TOKEN, v1: null }, headers: { THINGSPEAKAPIKEY: HEADER_KEY } }),
      );
      assert.equal(err.code, "http");
      assertClean(err, TOKEN, HEADER_KEY);
      assert.equal(
        err.message,
        `GET ${a.origin}/external/api/get?token=***&v1 failed: HTTP 400 Bad Request: {"error":{"message":"Invalid token *** with key ***"}}`,
      );
    });

    it("masks secrets registered with the redactor (a token in the path) and default headers", async function () {
      a.route("POST", `/api/v1/${PATH_TOKEN}/telemetry`, (req, res) => {
        res.writeHead(401, { "Content-Type": "text/plain" });
        res.end(`token ${PATH_TOKEN} unknown; auth was ${req.headers["x-authorization"]}`);
      });
      const redactor = new Redactor().add(PATH_TOKEN);
      const c = client({ redactor, headers: { "X-Authorization": `Bearer ${HEADER_KEY}` } });
      const err = await rejection(c.post(`/api/v1/${PATH_TOKEN}/telemetry`, { t: 1 }));
      assert.equal(err.status, 401);
      assertClean(err, PATH_TOKEN, HEADER_KEY);
      assert.equal(err.message, `POST ${a.origin}/api/v1/***/telemetry failed: HTTP 401 Unauthorized: token *** unknown; auth was ***`);
    });

    it("keeps secrets out of timeout, network and closed errors and retry events", async function () {
      a.hang("GET", "/slow");
      const retries = [];
      const c = client({ timeoutMs: 20, retries: 1 });
      c.on("retry", (info) => retries.push(info));
      const timeout = await rejection(c.get("/slow", { query: { token: TOKEN } }));
      assert.equal(timeout.code, "timeout");
      assertClean(timeout, TOKEN);
      assert.equal(retries.length, 1);
      assert.ok(!JSON.stringify(retries).includes(TOKEN));

      const port = await unusedPort();
      const refused = await rejection(client({ baseUrl: `http://user:${HEADER_KEY}@127.0.0.1:${port}`, retries: 0 }).get("/x", { query: { api_key: TOKEN } }));
      assert.equal(refused.code, "network");
      assertClean(refused, TOKEN, HEADER_KEY);
    });
  });

  describe("close()", function () {
    it("rejects a request in flight with \"closed\"", async function () {
      a.hang("GET", "/slow");
      const c = client();
      const pending = c.get("/slow", { query: { token: "SECRETtoken123" } });
      await waitFor(a.events, "request");
      c.close();
      const err = await rejection(pending);
      assert.equal(err.code, "closed");
      assert.equal(err.message, `GET ${a.origin}/slow?token=*** failed: the HTTP client was closed`);
      assert.equal(c.closed, true);
    });

    it("rejects a request waiting to retry, and every later request", async function () {
      a.reply("GET", "/busy", 503, "");
      // A wait that only ends when aborted, as a long Retry-After would.
      const c = client({ sleep: (_ms, signal) => new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")))) });
      const pending = c.get("/busy");
      await waitFor(c, "retry");
      c.close();
      const err = await rejection(pending);
      assert.equal(err.code, "closed");
      assert.equal(a.requests.length, 1);
      const later = await rejection(c.get("/busy"));
      assert.equal(later.code, "closed");
      assert.equal(a.requests.length, 1);
    });

    it("lets the caller cancel one request with an AbortSignal", async function () {
      a.hang("GET", "/slow");
      const controller = new AbortController();
      const pending = client().get("/slow", { signal: controller.signal });
      await waitFor(a.events, "request");
      controller.abort();
      const err = await rejection(pending);
      assert.equal(err.code, "closed");
      assert.match(err.message, /cancelled by the caller$/);
    });
  });
});

function circular() {
  const o = { a: 1 };
  o.self = o;
  return o;
}
