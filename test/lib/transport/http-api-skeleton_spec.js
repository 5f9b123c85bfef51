"use strict";
// The skeleton under the HTTP device APIs (serveApi): an API on a real Node HTTP server, real
// requests with fetch. The platforms' http-api/rest-api specs cover the same paths per platform.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { serveApi, TEXT_TYPE } = require("../../../dist/nodes/lib/transport/http-api-skeleton.js");
const { AuthThrottle } = require("../../../dist/nodes/lib/transport/auth-throttle.js");
const { until } = require("../../support/wait.js");

const SECRET = "s3cr3t-token-0123456789";
const refuse = (status, message) => ({ status, body: `refused: ${message}`, contentType: TEXT_TYPE });

/** A server running serveApi(spec); next() answers 404 "next". */
async function serve(spec, options = {}, before = (_req, _res, go) => go()) {
  const api = serveApi({ serves: (url) => url.startsWith("/api/"), maxBodyBytes: 16, refuse, says: { lockedOut: "locked out", tooLarge: "too large" }, ...spec }, options);
  const server = http.createServer((req, res) => {
    before(req, res, () => {
      api(req, res, () => {
        res.statusCode = 404;
        res.end("next");
      });
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    server,
    call: async (path, init) => {
      const res = await fetch(origin + path, init);
      return { status: res.status, body: await res.text(), headers: res.headers };
    },
  };
}

describe("transport: HTTP API skeleton (match or next(), never throw)", function () {
  const servers = [];
  afterEach(function () {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
  });
  async function start(...args) {
    const s = await serve(...args);
    servers.push(s.server);
    return s;
  }

  it("passes unmatched requests on, answers matched ones with Content-Type, Content-Length and no-store", async function () {
    const { call } = await start({ handle: async (c) => ({ status: 200, body: `${c.method} ${c.path} ?${c.query}`, contentType: TEXT_TYPE }) });
    assert.equal((await call("/other")).body, "next");
    const res = await call("/api/x?a=1");
    assert.equal(res.body, "GET /api/x ?a=1");
    assert.equal(res.headers.get("content-type"), TEXT_TYPE);
    assert.equal(res.headers.get("content-length"), "15");
    assert.equal(res.headers.get("cache-control"), "no-store");
  });

  it("matches express's originalUrl when a mount path was stripped", async function () {
    const { call } = await start({ handle: async (c) => ({ status: 200, body: c.url }) }, {}, (req, _res, go) => {
      req.originalUrl = req.url;
      req.url = "/stripped";
      go();
    });
    assert.equal((await call("/api/mounted")).body, "/api/mounted");
  });

  it("a handler that throws, rejects or says 'next' never lets anything escape; error bodies never show the request's secrets", async function () {
    const failures = {
      "/api/throws": () => {
        throw new Error(`sync ${SECRET}`);
      },
      "/api/rejects": async () => {
        throw new Error(`async ${SECRET}`);
      },
      "/api/echo": async (c) => ({ status: 400, body: `bad request ${c.url}` }),
      "/api/next": async () => "next",
    };
    const { call } = await start({ secrets: (c) => [new URLSearchParams(c.query).get("token") ?? undefined], handle: (c) => failures[c.path](c) });
    assert.deepEqual([(await call("/api/throws")).status, (await call("/api/throws")).body], [500, "refused: Internal error while handling the request."]);
    assert.equal((await call("/api/rejects")).status, 500);
    const echoed = await call(`/api/echo?token=${SECRET}`);
    assert.equal(echoed.body, "bad request /api/echo?token=***");
    assert.equal((await call("/api/next")).body, "next");
  });

  describe("durability (call.durable(store): an HTTP 200 is an acknowledgement)", function () {
    /** A store whose flushes wait until the test settles them, one by one, in order. */
    function heldStore() {
      const log = [];
      const pending = [];
      return {
        log,
        flush() {
          log.push("flush");
          return new Promise((resolve, reject) => pending.push({ resolve, reject }));
        },
        /** Waits for the next flush, then resolves (or fails) it. */
        async settle(ok = true) {
          await until(() => pending.length > 0, 5000, "a flush");
          const next = pending.shift();
          log.push(ok ? "flushed" : "failed");
          if (ok) next.resolve();
          else next.reject(new Error("disk full"));
        },
      };
    }

    function durableApi(store) {
      return start({
        says: { lockedOut: "locked out", tooLarge: "too large", notStored: "not stored, send it again" },
        handle: async (c) => {
          if (c.path === "/api/write") c.durable(store);
          if (c.path === "/api/refused") {
            c.durable(store);
            return refuse(400, "bad value");
          }
          return { status: 200, body: c.path, contentType: TEXT_TYPE };
        },
      });
    }

    it("answers a write only after the store's flush resolved", async function () {
      const store = heldStore();
      const { call } = await durableApi(store);
      const answered = call("/api/write").then((res) => {
        store.log.push("answered");
        return res;
      });
      await store.settle();
      const res = await answered;
      assert.deepEqual([res.status, res.body], [200, "/api/write"]);
      assert.deepEqual(store.log, ["flush", "flushed", "answered"], "the answer came only after the flush resolved");
    });

    it("answers 503 in the API's words when the flush fails (the client sends again)", async function () {
      const store = heldStore();
      const { call } = await durableApi(store);
      const answered = call("/api/write");
      await store.settle(false);
      const res = await answered;
      assert.deepEqual([res.status, res.body], [503, "refused: not stored, send it again"]);
    });

    it("reads and refusals do not wait for the store", async function () {
      const store = heldStore();
      const { call } = await durableApi(store);
      const write = call("/api/write"); // holds a flush open
      await until(() => store.log.length === 1, 5000, "the write's flush");
      const read = await call("/api/read");
      assert.deepEqual([read.status, read.body], [200, "/api/read"], "a read is answered while the store's flush is pending");
      const refused = await call("/api/refused");
      assert.equal(refused.status, 400, "an error answer acknowledges nothing");
      assert.deepEqual(store.log, ["flush"], "neither asked the store to flush");
      await store.settle();
      assert.equal((await write).status, 200);
    });
  });

  it("reads bodies with the size limit (413, Connection: close) and throttles failed logins (429 with Retry-After)", async function () {
    const throttle = new AuthThrottle({ maxFailures: 2 });
    const { call } = await start(
      {
        handle: async (c) => {
          const locked = c.lockedOut();
          if (locked) return locked;
          if (c.method === "POST") {
            const body = await c.bodyText();
            return typeof body === "string" ? { status: 200, body } : body;
          }
          c.loginFailed();
          return refuse(401, "who?");
        },
      },
      { authThrottle: throttle },
    );
    assert.equal((await call("/api/x", { method: "POST", body: "small" })).body, "small");
    const big = await call("/api/x", { method: "POST", body: "x".repeat(17) });
    assert.deepEqual([big.status, big.body, big.headers.get("connection")], [413, "refused: too large", "close"]);
    assert.equal((await call("/api/x")).status, 401);
    assert.equal((await call("/api/x")).status, 401);
    const locked = await call("/api/x");
    assert.deepEqual([locked.status, locked.body], [429, "refused: locked out"]);
    assert.match(locked.headers.get("retry-after"), /^[1-9]\d*$/);
  });
});
