"use strict";
// Blynk's device HTTPS API served by Node-RED itself: blynkHttpApi() on a plain Node HTTP
// server, real requests with fetch, hosted devices on a real broker engine.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { blynkHttpApi, parseQuery } = require("../../../dist/nodes/lib/blynk/http-api.js");
const { until } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");

const DEVICE = { id: "c1b2c3d4e5f60718", token: TOKENS.alpha, name: "Greenhouse", pins: { v1: "Temp", V2: "Power", v7: "Set Point" } };
const OTHER = { id: "d1b2c3d4e5f60718", token: TOKENS.beta, name: "Other" };
/** What flows hear of an HTTPS API call: an uplink of the device's handle from "http". */
const fromHttp = (kind, datastream) => (u) => u.source === "http" && u.message.kind === kind && (datastream === undefined || u.message.datastream === datastream);

/** A Node HTTP server running the handler; `next()` answers 404 "next". `before` may pre-process requests. */
async function apiServer(before = (_req, _res, go) => go(), options = {}) {
  const api = blynkHttpApi(options);
  const server = http.createServer((req, res) => {
    before(req, res, () =>
      api(req, res, () => {
        res.statusCode = 404;
        res.end("next");
      }),
    );
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

describe("self-hosted Blynk: device HTTPS API", function () {
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

  /** GET (or other method) path+query; resolves {status, body, type}. */
  async function call(pathAndQuery, init = {}, origin = web.origin) {
    const res = await fetch(origin + pathAndQuery, init);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  }
  const api = (op, query) => call(`/external/api/${op}?token=${DEVICE.token}${query ? `&${query}` : ""}`);
  const blynkError = (message) => JSON.stringify({ error: { message } });

  it("parses raw query strings keeping repeated and bare keys", function () {
    assert.deepEqual(parseQuery("token=a%2Bb&v1&value=1&value=2&c=%23FF0000&d=a+b"), [
      ["token", "a+b"],
      ["v1", undefined],
      ["value", "1"],
      ["value", "2"],
      ["c", "#FF0000"],
      ["d", "a b"],
    ]);
    assert.throws(() => parseQuery("v1=%E0%A4%A"), URIError);
  });

  it("isHardwareConnected answers false, then true while the device is connected over MQTT", async function () {
    assert.deepEqual(await api("isHardwareConnected"), { status: 200, body: "false", type: "text/plain; charset=utf-8" });
    await ctx.device(DEVICE.token);
    assert.equal((await api("isHardwareConnected")).body, "true");
  });

  it("update stores the value, pushes it to the connected device and shows it to flows", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    assert.deepEqual(await api("update", "v1=21.5"), { status: 200, body: "", type: "text/plain; charset=utf-8" });
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "21.5");
    const heard = await ctx.uplink(DEVICE.id, fromHttp("ds", "Temp"));
    assert.deepEqual([heard.message.value, heard.text], [21.5, "21.5"]);
    assert.deepEqual(await api("get", "v1"), { status: 200, body: "21.5", type: "text/plain; charset=utf-8" });
    // Multi-value (Location): repeated value= keys; pin= form; unmapped pin is its own name.
    assert.equal((await api("update", "pin=V9&value=13.4&value=52.52")).status, 200);
    assert.equal((await dev.box.next("downlink/ds/V9")).payload, "13.4\u000052.52");
    assert.deepEqual(JSON.parse((await api("get", "v9")).body), [13.4, 52.52]);
  });

  it("get of several pins answers JSON by pin, leaving out pins without values; getAll answers every value", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.publishAsync("batch_ds", JSON.stringify({ Temp: 20, Power: true, Humidity: 41.5, Label: "north" }), { qos: 1 });
    await until(async () => (await api("get", "v1")).status === 200);
    const several = await api("get", "v1&V2&v3");
    assert.equal(several.type, "application/json; charset=utf-8");
    assert.deepEqual(JSON.parse(several.body), { v1: 20, v2: 1 });
    assert.deepEqual(JSON.parse((await api("getAll")).body), { v1: 20, v2: 1, Humidity: 41.5, Label: "north" });
    assert.deepEqual(await api("get", "v3"), { status: 400, body: blynkError("No datastream setup for that pin."), type: "application/json; charset=utf-8" });
  });

  it("batch/update (a Particle webhook's GET) reaches the connected device and the flows", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    const res = await api("batch/update", "V1=22.25&v7=18&v3=hello%20world");
    assert.equal(res.status, 200);
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "22.25");
    assert.equal((await dev.box.next("downlink/ds/Set Point")).payload, "18");
    assert.equal((await dev.box.next("downlink/ds/V3")).payload, "hello world");
    assert.equal((await ctx.uplink(DEVICE.id, fromHttp("ds", "Set Point"))).text, "18");
    assert.equal((await ctx.uplink(DEVICE.id, fromHttp("ds", "V3"))).text, "hello world");
    // Remembered: the device's get/ds answers with it.
    dev.box.messages.length = 0;
    await dev.publishAsync("get/ds", "Temp", { qos: 1 });
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "22.25");
  });

  it("batch/update POST stores the newest timestamped point and gives flows all points", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    const now = Date.now();
    const points = [[now - 3000, 19], [now - 1000, 21], [now - 2000, 20]];
    const post = (body, type = "application/json") =>
      call(`/external/api/batch/update?token=${DEVICE.token}&pin=v1`, { method: "POST", headers: { "Content-Type": type }, body });
    assert.equal((await post(JSON.stringify(points))).status, 200);
    assert.deepEqual((await ctx.uplink(DEVICE.id, fromHttp("timestamped", "Temp"))).message.points, points);
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "21");
    assert.equal((await api("get", "v1")).body, "21");
    // Older history does not replace the current value.
    assert.equal((await post(JSON.stringify([[now - 60_000, 5]]))).status, 200);
    assert.equal((await api("get", "v1")).body, "21");
    // Errors in Blynk's words.
    assert.deepEqual(await post("[[1,2]]", "text/plain"), { status: 400, body: blynkError("Unknown content type."), type: "application/json; charset=utf-8" });
    const tooMany = JSON.stringify(Array.from({ length: 10_001 }, (_, i) => [now - i, i]));
    assert.deepEqual((await post(tooMany)).body, blynkError("Too much data in batch. Maximum batch size is 10000 points."));
    assert.deepEqual((await post("{nope")).body, blynkError("Request with incorrect parameters"));
  });

  it("reads a body that a body parser already consumed (req.body), as Node-RED's httpNode may have", async function () {
    const parsed = await apiServer((req, _res, go) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        req.body = JSON.parse(Buffer.concat(chunks).toString());
        go();
      });
    });
    servers.push(parsed.server);
    const now = Date.now();
    const res = await call(`/external/api/batch/update?token=${DEVICE.token}&pin=v2`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify([[now, 1]]) }, parsed.origin);
    assert.equal(res.status, 200);
    assert.deepEqual((await ctx.uplink(DEVICE.id, fromHttp("timestamped", "Power"))).message.points, [[now, 1]]);
  });

  it("answers when mounted on a path (express originalUrl)", async function () {
    const mounted = await apiServer((req, _res, go) => {
      req.originalUrl = req.url;
      req.url = req.url.replace("/external/api", "");
      go();
    });
    servers.push(mounted.server);
    assert.equal((await call(`/external/api/isHardwareConnected?token=${DEVICE.token}`, {}, mounted.origin)).body, "false");
  });

  it("update/property (stored with the device's state) and logEvent reach the flows", async function () {
    assert.equal((await api("update/property", "pin=v1&color=%23FF0000")).status, 200);
    const color = await ctx.uplink(DEVICE.id, fromHttp("property", "Temp"));
    assert.deepEqual([color.message.property, color.message.value, color.text], ["color", "#FF0000", "#FF0000"]);
    assert.equal((await api("update/property", "pin=v2&labels=on&labels=off")).status, 200);
    const labels = await ctx.uplink(DEVICE.id, fromHttp("property", "Power"));
    assert.deepEqual([labels.message.datastream, labels.message.value, labels.text], ["Power", ["on", "off"], "on\u0000off"]);
    const store = ctx.handles.get(DEVICE.id).store;
    assert.deepEqual(store.entries("prop").map(([key, v]) => [key, v.value]), [["Temp/color", "#FF0000"], ["Power/labels", "on\u0000off"]]);
    const event = (code) => (u) => fromHttp("event")(u) && u.message.code === code;
    assert.equal((await api("logEvent", "code=overheat&description=Too%20hot")).status, 200);
    assert.equal((await ctx.uplink(DEVICE.id, event("overheat"))).message.description, "Too hot");
    assert.equal((await api("logEvent", "code=door_open")).status, 200);
    assert.equal((await ctx.uplink(DEVICE.id, event("door_open"))).message.description, "");
  });

  it("refuses bad requests with Blynk's error bodies and never echoes the token", async function () {
    const unknown = "Unknown_0123456789abcdefghijklmn";
    const cases = [
      [`/external/api/get?token=${unknown}&v1`, 400, "Invalid token."],
      [`/external/api/update?token=${unknown}&v1=1`, 400, "Invalid token."],
      ["/external/api/get?v1", 400, "No token provided."],
      [`/external/api/update?token=${DEVICE.token}&x1=3`, 400, "Wrong pin format."],
      [`/external/api/get?token=${DEVICE.token}&v999`, 400, "Wrong pin format."],
      [`/external/api/logEvent?token=${DEVICE.token}`, 400, "Event code is not provided."],
      [`/external/api/logEvent?token=${DEVICE.token}&code=bad code`, 400, "Can't find Event with this code in Product template"],
      [`/external/api/update?token=${DEVICE.token}&v1=1&v2=2`, 400, "Request with incorrect parameters"],
      [`/external/api/update?token=${DEVICE.token}&v1=%E0%A4%A`, 400, "Request with incorrect parameters"],
    ];
    for (const [url, status, message] of cases) {
      const res = await call(url);
      assert.equal(res.status, status, url);
      assert.equal(res.body, blynkError(message), url);
      assert.ok(!res.body.includes(DEVICE.token) && !res.body.includes(unknown));
    }
    const tooLong = await api("update", `v1=${"x".repeat(1025)}`);
    assert.equal(tooLong.status, 400);
    assert.match(JSON.parse(tooLong.body).error.message, /1025 bytes as text; accepted: at most 1024 bytes/);
    const wrongMethod = await call(`/external/api/update?token=${DEVICE.token}&v1=1`, { method: "POST" });
    assert.equal(wrongMethod.status, 405);
    assert.match(JSON.parse(wrongMethod.body).error.message, /Method POST is not allowed/);
  });

  it("passes other paths on with next() and answers unknown API paths with 404", async function () {
    assert.deepEqual(await call("/other/path?token=x"), { status: 404, body: "next", type: null });
    assert.deepEqual(await call("/external/apifoo"), { status: 404, body: "next", type: null });
    const unknownOp = await call(`/external/api/device/meta?token=${DEVICE.token}`);
    assert.equal(unknownOp.status, 404);
    assert.match(JSON.parse(unknownOp.body).error.message, /Unknown API path "\/external\/api\/device\/meta"/);
  });

  it("refuses bodies over 2 MB with 413", async function () {
    const res = await call(`/external/api/batch/update?token=${DEVICE.token}&pin=v1`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "[" + " ".repeat(2 * 1024 * 1024 + 10) + "]",
    });
    assert.equal(res.status, 413);
    assert.match(JSON.parse(res.body).error.message, /too large/);
  });

  it("limits each device to 50 requests/s with 429, other devices unaffected", async function () {
    // The limiter's clock stands still unless the test moves it: no timing in this test.
    let now = 1_700_000_000_000;
    const limited = await apiServer(undefined, { now: () => now });
    servers.push(limited.server);
    const ask = (token) => call(`/external/api/isHardwareConnected?token=${token}`, {}, limited.origin);
    for (let i = 0; i < 50; i++) assert.equal((await ask(DEVICE.token)).status, 200, `request ${i + 1}`);
    const over = await ask(DEVICE.token);
    assert.equal(over.status, 429);
    assert.match(JSON.parse(over.body).error.message, /at most 50 requests per second per device/);
    assert.ok(!over.body.includes(DEVICE.token));
    assert.equal((await ask(OTHER.token)).status, 200);
    now += 100; // 5 tokens back
    for (let i = 0; i < 5; i++) assert.equal((await ask(DEVICE.token)).status, 200);
    assert.equal((await ask(DEVICE.token)).status, 429);
    // The default clock works as well: a burst is served, at least its first 50.
    const burst = await Promise.all(Array.from({ length: 60 }, () => api("isHardwareConnected")));
    assert.ok(burst.filter((r) => r.status === 200).length >= 50);
  });

  it("serves nothing but isHardwareConnected=false while the hosting broker is stopped", async function () {
    brokers.detach(BROKER_ID, ctx.engine);
    assert.equal((await api("isHardwareConnected")).body, "false");
    const res = await api("update", "v1=1");
    assert.equal(res.status, 503);
    assert.match(JSON.parse(res.body).error.message, /iot-broker node hosting this device is not running/);
    brokers.attach(BROKER_ID, ctx.engine);
    assert.equal((await api("update", "v1=1")).status, 200);
  });
});
