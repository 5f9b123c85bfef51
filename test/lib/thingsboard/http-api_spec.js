"use strict";
// ThingsBoard's HTTP device API served by Node-RED itself: thingsBoardHttpApi() on a plain Node
// HTTP server, real requests with fetch, hosted devices on a real broker engine, an in-process
// client acting as the flow.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once, EventEmitter } = require("node:events");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { HTTP_RPC_FIRST_ID } = require("../../../dist/nodes/lib/thingsboard/hosted-device.js");
const { thingsBoardHttpApi } = require("../../../dist/nodes/lib/thingsboard/http-api.js");
const { BROKER_ID, TOKENS, hostedBroker, assertNoToken } = require("./fixtures.js");

const DEVICE = { id: "e1b2c3d4e5f60718", name: "Greenhouse", token: TOKENS.alpha, gateway: false };
const OTHER = { id: "f1b2c3d4e5f60718", name: "Other", token: TOKENS.beta, gateway: false };
const ME = "v1/devices/me";

/**
 * A Node HTTP server running the handler; `next()` answers 404 "next". `before` may pre-process
 * requests. `events` emits "handled" once the handler has taken a request (a GET long poll is
 * waiting by then) and "close" when its connection closed, after the handler saw that.
 */
async function apiServer(options = {}, before = (_req, _res, go) => go()) {
  const api = thingsBoardHttpApi(options);
  const events = new EventEmitter();
  const server = http.createServer((req, res) => {
    before(req, res, () => {
      api(req, res, () => {
        res.statusCode = 404;
        res.end("next");
      });
      res.on("close", () => events.emit("close", req.url));
      events.emit("handled", req.url);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, events, origin: `http://127.0.0.1:${server.address().port}` };
}

describe("self-hosted ThingsBoard: HTTP device API", function () {
  let ctx;
  let web;
  const servers = [];

  beforeEach(async function () {
    ctx = await hostedBroker({ devices: [DEVICE, OTHER] });
    web = await apiServer();
    servers.push(web.server);
  });

  afterEach(async function () {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
    await ctx.cleanup();
  });

  async function call(path, init = {}, origin = web.origin) {
    const res = await fetch(origin + path, init);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  }
  const base = (token = DEVICE.token) => `/api/v1/${token}`;
  const post = (path, body, origin) => call(path, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json" } }, origin);

  it("hands telemetry, client attributes and claims to the device's handle as the same MQTT uplink would", async function () {
    const bodies = [
      ["telemetry", '{"temperature":21.5,"humidity":40}'],
      ["telemetry", '[{"ts":1451649600512,"values":{"a":1}}]'],
      ["attributes", '{"fw":"1.2","model":"GH-1"}'],
      ["claim", '{"secretKey":"s","durationMs":60000}'],
    ];
    const before = Date.now();
    for (const [path, body] of bodies) assert.deepEqual(await post(`${base()}/${path}`, body), { status: 200, body: "", type: null });
    const got = ctx.flows.uplinks.filter((u) => u.id === DEVICE.id).map((u) => u.message);
    assert.deepEqual(got.map((m) => m.kind), ["telemetry", "telemetry", "attributes", "claim"]);
    assert.deepEqual(got[3].claim, { secretKey: "s", durationMs: 60000 });
    const [arrival] = got[0].entries;
    assert.deepEqual(arrival.values, { temperature: 21.5, humidity: 40 });
    assert.ok(arrival.ts >= before && arrival.ts <= Date.now(), "stamped with its arrival, as the server does");
    assert.deepEqual(got[1].entries, [{ ts: 1451649600512, values: { a: 1 } }]);
    assert.deepEqual(got[2].values, { fw: "1.2", model: "GH-1" });
    assertNoToken(assert, ctx.flows.uplinks, ctx.events);
  });

  it("answers GET attributes from the client attributes posted and the shared attributes flows set", async function () {
    await post(`${base()}/attributes`, { fw: "1.2", model: "GH-1" });
    await ctx.flows.send(DEVICE, `${ME}/attributes`, { target: 21, mode: "eco" });
    const got = await call(`${base()}/attributes?clientKeys=fw,missing&sharedKeys=target`);
    assert.equal(got.status, 200);
    assert.match(got.type, /^application\/json/);
    assert.deepEqual(JSON.parse(got.body), { client: { fw: "1.2" }, shared: { target: 21 } });
    assert.deepEqual(JSON.parse((await call(`${base()}/attributes`)).body), { client: { fw: "1.2", model: "GH-1" }, shared: { target: 21, mode: "eco" } });
    assert.deepEqual(JSON.parse((await call(`${base(OTHER.token)}/attributes`)).body), {});
  });

  it("long-polls shared attribute updates: a flow's update answers the poll (also one sent between polls)", async function () {
    const poll = call(`${base()}/attributes/updates?timeout=5000`);
    await ctx.flows.send(DEVICE, `${ME}/attributes`, { led: true });
    assert.deepEqual(await poll, { status: 200, body: '{"led":true}', type: "application/json; charset=utf-8" });
    await ctx.flows.send(DEVICE, `${ME}/attributes`, { led: false });
    assert.equal((await call(`${base()}/attributes/updates?timeout=5000`)).body, '{"led":false}');
  });

  it("long-polls server RPC and takes the reply: the flow gets it with the same id", async function () {
    const poll = call(`${base()}/rpc?timeout=5000`);
    await ctx.flows.send(DEVICE, `${ME}/rpc/request/31`, { method: "setGpio", params: { pin: 4 } });
    const got = await poll;
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.body), { id: 31, method: "setGpio", params: { pin: 4 } });
    assert.equal((await post(`${base()}/rpc/31`, { pin: 4, value: 1 })).status, 200);
    assert.deepEqual(await ctx.flows.parsed(DEVICE, (m) => m.kind === "rpc-response"), { kind: "rpc-response", id: 31, result: { pin: 4, value: 1 } });
    // An RPC without params reaches an HTTP device with {} (ThingsBoard's HTTP API needs them).
    await ctx.flows.send(DEVICE, `${ME}/rpc/request/32`, { method: "reboot" });
    assert.deepEqual(JSON.parse((await call(`${base()}/rpc?timeout=5000`)).body), { id: 32, method: "reboot", params: {} });
  });

  it("answers a long poll with nothing to deliver 408, empty, after the timeout", async function () {
    assert.deepEqual(await call(`${base()}/attributes/updates?timeout=20`), { status: 408, body: "", type: null });
    assert.deepEqual(await call(`${base()}/rpc?timeout=20`), { status: 408, body: "", type: null });
  });

  it("bounds the poll timeout and uses the default when none is given", async function () {
    const short = await apiServer({ requestTimeoutMs: 20, maxTimeoutMs: 30 });
    servers.push(short.server);
    assert.equal((await call(`${base()}/rpc`, {}, short.origin)).status, 408);
    assert.equal((await call(`${base()}/rpc?timeout=600000`, {}, short.origin)).status, 408);
    assert.throws(() => thingsBoardHttpApi({ maxTimeoutMs: -1 }), /maxTimeoutMs must be a positive number/);
  });

  it("stops waiting when the client hangs up: a later push waits for the next poll instead of being lost", async function () {
    const aborter = new AbortController();
    const handled = once(web.events, "handled");
    const poll = fetch(`${web.origin}${base()}/attributes/updates?timeout=5000`, { signal: aborter.signal }).catch((err) => err);
    await handled; // the poll is waiting now
    const closed = once(web.events, "close");
    aborter.abort();
    assert.equal((await poll).name, "AbortError");
    await closed;
    await ctx.flows.send(DEVICE, `${ME}/attributes`, { second: 2 });
    assert.equal((await call(`${base()}/attributes/updates?timeout=5000`)).body, '{"second":2}');
  });

  it("client RPC: handed to the flows with an HTTP id, answered with the flow's reply", async function () {
    const answer = post(`${base()}/rpc`, '{"method":"getTime","params":{}}');
    const seen = await ctx.flows.parsed(DEVICE, (m) => m.kind === "rpc-request");
    const { id } = seen;
    assert.ok(id >= HTTP_RPC_FIRST_ID);
    assert.deepEqual(seen, { kind: "rpc-request", id, idText: String(id), method: "getTime", params: {} });
    await ctx.flows.send(DEVICE, `${ME}/rpc/response/${id}`, { time: "12:00" });
    assert.deepEqual(await answer, { status: 200, body: '{"time":"12:00"}', type: "application/json; charset=utf-8" });
  });

  it("answers a client RPC no flow answers with 408 after the request timeout", async function () {
    const short = await apiServer({ requestTimeoutMs: 30 });
    servers.push(short.server);
    assert.deepEqual(await post(`${base()}/rpc`, { method: "getTime" }, short.origin), { status: 408, body: "", type: null });
  });

  it("refuses an unknown token with 401 and an empty body on every route, naming no token", async function () {
    const stranger = "UnknownTOKEN00000000";
    const answers = [
      await post(`${base(stranger)}/telemetry`, { a: 1 }),
      await post(`${base(stranger)}/attributes`, { a: 1 }),
      await call(`${base(stranger)}/attributes?clientKeys=a`),
      await call(`${base(stranger)}/attributes/updates?timeout=10`),
      await call(`${base(stranger)}/rpc?timeout=10`),
      await post(`${base(stranger)}/rpc/1`, { ok: true }),
      await post(`${base(stranger)}/rpc`, { method: "x" }),
      await post(`${base(stranger)}/claim`, {}),
    ];
    assert.deepEqual(answers.map((a) => [a.status, a.body]), answers.map(() => [401, ""]));
    assert.deepEqual(ctx.flows.uplinks, []);
  });

  it("routes: other paths go to next(), a wrong method is 405, a bad body or parameter 400, provisioning NOT_FOUND", async function () {
    assert.equal((await call("/api/v2/x")).body, "next");
    assert.equal((await call(`${base()}/ota?title=a&version=1`)).body, "next");
    // GET firmware is served since issue 12 (docs/PROTOCOLS.md 4.6): nothing assigned here.
    assert.deepEqual(await call(`${base()}/firmware?title=a&version=1`), { status: 404, body: "No firmware is assigned to this device.", type: "text/plain; charset=utf-8" });
    assert.equal((await call("/other")).body, "next");
    assert.equal((await call(`${base()}/telemetry`)).status, 405);
    const bad = await post(`${base()}/telemetry`, "{not json");
    assert.equal(bad.status, 400);
    assert.match(bad.body, /not valid JSON/);
    assert.equal((await post(`${base()}/rpc`, { params: {} })).status, 400);
    assert.equal((await call(`${base()}/rpc?timeout=soon`)).status, 400);
    assert.equal((await post(`${base()}/rpc/abc`, {})).status, 400);
    const provision = await post("/api/v1/provision", { deviceName: "x", provisionDeviceKey: "k", provisionDeviceSecret: "s" });
    assert.deepEqual(JSON.parse(provision.body), { status: "NOT_FOUND", errorMsg: "Provision data was not found!" });
    assertNoToken(assert, bad.body);
  });

  it("refuses bodies over 2 MB with 413", async function () {
    const big = JSON.stringify({ blob: "x".repeat(2 * 1024 * 1024) });
    assert.equal((await post(`${base()}/telemetry`, big)).status, 413);
  });

  it("takes a body an earlier body parser already read (express-style req.body)", async function () {
    const parsed = await apiServer({}, (req, _res, go) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        req.body = JSON.parse(Buffer.concat(chunks).toString());
        go();
      });
    });
    servers.push(parsed.server);
    assert.equal((await post(`${base()}/attributes`, { fw: "3.0" }, parsed.origin)).status, 200);
    assert.deepEqual(await ctx.flows.parsed(DEVICE, (m) => m.kind === "attributes"), { kind: "attributes", values: { fw: "3.0" } });
    assert.deepEqual(JSON.parse((await call(`${base()}/attributes?clientKeys=fw`)).body), { client: { fw: "3.0" } });
  });

  it("answers 503 while the hosting broker is stopped, and ends waiting polls when it stops", async function () {
    const handled = once(web.events, "handled");
    const poll = call(`${base()}/rpc?timeout=5000`);
    await handled;
    brokers.detach(BROKER_ID, ctx.engine);
    assert.equal((await poll).status, 503);
    const stopped = await post(`${base()}/telemetry`, { a: 1 });
    assert.equal(stopped.status, 503);
    assert.match(stopped.body, /not running/);
    brokers.attach(BROKER_ID, ctx.engine);
  });
});
