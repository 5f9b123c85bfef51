"use strict";
// The legacy blynk-server HTTP API served by Node-RED: blynkLegacyHttpApi() on a plain Node HTTP
// server and inside a real express app (with another route of its own), real requests with
// fetch, hosted devices on a real broker engine, an MQTT.js client as the device.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const express = require("express");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { blynkLegacyHttpApi } = require("../../../dist/nodes/lib/blynk/legacy-http-api.js");
const { hostedByToken } = require("../../../dist/nodes/lib/blynk/emulation.js");
const { AuthThrottle } = require("../../../dist/nodes/lib/transport/auth-throttle.js");
const { until } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");

const DEVICE = { id: "c1b2c3d4e5f60719", token: TOKENS.alpha, name: "Greenhouse", pins: { v1: "Temp", v7: "Set Point" }, timeZone: "Asia/Kolkata" };
const OTHER = { id: "d1b2c3d4e5f60719", token: TOKENS.beta, name: "Other" };
const UNKNOWN = "Unknown_0123456789abcdefghijklmn";
const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";
const fromHttp = (kind, datastream) => (u) => u.source === "http" && u.message.kind === kind && (datastream === undefined || u.message.datastream === datastream);

/** A server running `handler`, whose `next()` answers 404 "next". */
async function serve(handler) {
  const server = http.createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}
const plain = (options) => {
  const api = blynkLegacyHttpApi(options);
  return (req, res) =>
    api(req, res, () => {
      res.statusCode = 404;
      res.end("next");
    });
};

describe("self-hosted Blynk: the legacy server's HTTP API", function () {
  let ctx;
  let web;
  const servers = [];

  beforeEach(async function () {
    ctx = await hostedBroker({ devices: [DEVICE, OTHER] });
    web = await serve(plain());
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
  const put = (path, body) => call(path, { method: "PUT", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const post = (path, body) => call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const T = `/${DEVICE.token}`;

  it("isHardwareConnected follows the device's connection; isAppConnected is always false", async function () {
    assert.deepEqual(await call(`${T}/isHardwareConnected`), { status: 200, body: "false", type: JSON_TYPE });
    await ctx.device(DEVICE.token);
    assert.equal((await call(`${T}/isHardwareConnected`)).body, "true");
    assert.deepEqual(await call(`${T}/isAppConnected`), { status: 200, body: "false", type: JSON_TYPE });
  });

  it("GET update writes: stored, pushed to the device, to flows from http; get answers a JSON array of strings", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    assert.deepEqual(await call(`${T}/update/V1?value=21.5`), { status: 200, body: "", type: null });
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "21.5");
    const up = await ctx.uplink(DEVICE.id, fromHttp("ds", "Temp"));
    assert.equal(up.message.value, 21.5);
    assert.deepEqual(await call(`${T}/get/V1`), { status: 200, body: '["21.5"]', type: JSON_TYPE });
    assert.deepEqual(await call(`${T}/get/v1`), { status: 200, body: '["21.5"]', type: JSON_TYPE });
    assert.equal((await call(`${T}/get/V%31`)).body, '["21.5"]', "an escaped pin is read decoded");
    // Several values: joined with NUL as the legacy server did; the older /pin/ path reads too.
    assert.equal((await call(`${T}/update/v3?value=1&value=two&value=`)).status, 200);
    assert.equal((await dev.box.next("downlink/ds/V3")).payload, "1\0two\0");
    assert.equal((await call(`${T}/pin/V3`)).body, '["1","two",""]');
    // Unmapped digital and analog pins are datastreams named as the pin.
    assert.equal((await call(`${T}/update/d8?value=1`)).status, 200);
    assert.equal((await call(`${T}/update/A0?value=512`)).status, 200);
    assert.equal((await call(`${T}/get/D8`)).body, '["1"]');
    assert.equal((await ctx.uplink(DEVICE.id, fromHttp("ds", "A0"))).message.value, 512);
  });

  it("PUT update (and the older PUT pin) takes a JSON array; a flow's write is readable with get", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    assert.equal((await put(`${T}/update/V7`, ["18"])).status, 200);
    assert.equal((await dev.box.next("downlink/ds/Set Point")).payload, "18");
    assert.equal((await put(`${T}/pin/V7`, [19, true])).status, 200);
    assert.equal((await call(`${T}/get/V7`)).body, '["19","true"]');
    await ctx.handles.get(DEVICE.id).send({ kind: "ds", datastream: "Temp", text: "23.25" });
    assert.equal((await call(`${T}/get/V1`)).body, '["23.25"]');
    await ctx.handles.get(DEVICE.id).send({ kind: "ds", datastream: "V9", text: "on" });
    assert.equal((await call(`${T}/get/V9`)).body, '["on"]');
  });

  it("the property form sets a virtual pin's widget property (stored, to flows)", async function () {
    assert.equal((await call(`${T}/update/V1?color=%23D3435C`)).status, 200);
    const up = await ctx.uplink(DEVICE.id, fromHttp("property", "Temp"));
    assert.deepEqual([up.message.property, up.text], ["color", "#D3435C"]);
    assert.equal((await call(`${T}/update/V1?label=Inside`)).status, 200);
    await ctx.uplink(DEVICE.id, (u) => u.message.kind === "property" && u.message.property === "label");
  });

  it("PUT extra/pin keeps every point in the history; the first becomes the current value", async function () {
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    const now = Date.now();
    const points = [{ timestamp: now - 1000, value: "10" }, { timestamp: now - 3000, value: "12.5" }, { timestamp: now - 2000, value: "11" }];
    assert.equal((await put(`${T}/extra/pin/V1`, points)).status, 200);
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "10");
    assert.equal((await call(`${T}/get/V1`)).body, '["10"]');
    const up = await ctx.uplink(DEVICE.id, fromHttp("timestamped", "Temp"));
    assert.deepEqual(up.message.points, [[now - 1000, 10], [now - 3000, 12.5], [now - 2000, 11]]);
    const csv = await call(`${T}/data/V1`);
    assert.equal(csv.status, 200);
    assert.equal(csv.type, "text/csv; charset=utf-8");
    assert.equal(csv.body, `12.5,${now - 3000},0\n11,${now - 2000},0\n10,${now - 1000},0\n`);
  });

  it("data answers the pin's history as CSV rows value,timestamp,deviceId, oldest first", async function () {
    assert.deepEqual(await call(`${T}/data/V1`), { status: 400, body: "No data for pin.", type: TEXT });
    for (const v of ["1", "2", "hello, world"]) assert.equal((await call(`${T}/update/V1?value=${encodeURIComponent(v)}`)).status, 200);
    const csv = await call(`${T}/data/v1`);
    const rows = csv.body.trimEnd().split("\n").map((r) => r.replace(/,\d+,0$/, ""));
    assert.deepEqual(rows, ["1", "2", '"hello, world"']);
  });

  it("notify and email reach flows as events of their kind", async function () {
    assert.deepEqual(await post(`${T}/notify`, { body: "Door open" }), { status: 200, body: "", type: null });
    const notice = await ctx.uplink(DEVICE.id, (u) => u.message.kind === "notify");
    assert.deepEqual([notice.source, notice.message.body], ["http", "Door open"]);
    assert.equal((await post(`${T}/email`, { to: "me@example.com", subj: "Alarm", title: "The door is open" })).status, 200);
    const mail = await ctx.uplink(DEVICE.id, (u) => u.message.kind === "email");
    assert.deepEqual(mail.message, { kind: "email", to: "me@example.com", subject: "Alarm", body: "The door is open" });
  });

  it("project describes the device's pins and values; rtc is the device's wall clock in seconds", async function () {
    await call(`${T}/update/V1?value=20`);
    await call(`${T}/update/D2?value=1`);
    await ctx.handles.get(DEVICE.id).send({ kind: "ds", datastream: "Humidity", text: "40" });
    const project = await call(`${T}/project`);
    assert.equal(project.type, JSON_TYPE);
    assert.deepEqual(JSON.parse(project.body), {
      name: "Greenhouse",
      isActive: true,
      hardwareConnected: false,
      pins: [
        { pin: "V1", datastream: "Temp", value: ["20"] },
        { pin: "D2", datastream: "D2", value: ["1"] },
        { pin: null, datastream: "Humidity", value: ["40"] },
      ],
    });
    const before = Date.now();
    const [seconds] = JSON.parse((await call(`${T}/rtc`)).body);
    // Asia/Kolkata is UTC+05:30 all year.
    const utc = Number(seconds) - 5.5 * 3600;
    assert.ok(utc >= Math.floor(before / 1000) && utc <= Math.ceil(Date.now() / 1000), `rtc ${seconds}`);
  });

  it("answers the legacy error bodies (400 text/plain) and never echoes the token", async function () {
    const cases = [
      [`/${UNKNOWN}/get/V1`, "Invalid token."],
      [`/${UNKNOWN}/update/V1?value=1`, "Invalid token."],
      [`/${UNKNOWN}/isHardwareConnected`, "Invalid token."],
      [`${T}/get/V256`, "Wrong pin format."],
      [`${T}/get/X1`, "Wrong pin format."],
      [`${T}/update/V1x?value=1`, "Wrong pin format."],
      [`${T}/data/Q`, "Wrong pin format."],
      [`${T}/get/V200`, "Requested pin doesn't exist in the app."],
      [`${T}/update/V1`, "Wrong request format."],
      [`${T}/update/V1?value=%E0%A4%A`, "Wrong request format."],
      [`${T}/update/V1?label`, "No properties for update provided."],
      [`${T}/update/D1?label=x`, "No widget for SetWidgetProperty command."],
    ];
    for (const [url, message] of cases) assert.deepEqual(await call(url), { status: 400, body: message, type: TEXT }, url);
    const bodies = [
      [put, `${T}/update/V1`, [], "No pin for update provided."],
      [put, `${T}/update/V1`, "not json", "Wrong request format."],
      [put, `${T}/update/V1`, [{ a: 1 }], "Wrong request format."],
      [put, `${T}/extra/pin/V1`, [], "No pin for update provided."],
      [put, `${T}/extra/pin/V1`, [{ timestamp: "x", value: "1" }], "Wrong request format."],
      [put, `/${UNKNOWN}/extra/pin/V1`, [{ timestamp: 1, value: "1" }], "Invalid token."],
      [post, `${T}/notify`, { body: "" }, "Body is empty or larger than 255 chars."],
      [post, `${T}/notify`, { body: "x".repeat(256) }, "Body is empty or larger than 255 chars."],
      [post, `${T}/email`, { to: "me@example.com" }, "Email body is wrong. Missing or empty fields 'to', 'subj'."],
      [post, `/${UNKNOWN}/notify`, { body: "hi" }, "Invalid token."],
    ];
    for (const [send, url, body, message] of bodies) assert.deepEqual(await send(url, body), { status: 400, body: message, type: TEXT }, `${url} ${JSON.stringify(body)}`);
    const tooLong = await call(`${T}/update/V1?value=${"x".repeat(1025)}`);
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.body, /accepted: at most 1024 bytes/);
    assert.ok(!tooLong.body.includes(DEVICE.token));
    const wrongMethod = await call(`${T}/get/V1`, { method: "DELETE" });
    assert.equal(wrongMethod.status, 405);
    assert.ok(!wrongMethod.body.includes(DEVICE.token));
    // Under a hosted token every path is this API's: no other 404 page shows the token.
    const unknownRoute = await call(`${T}/qr`);
    assert.equal(unknownRoute.status, 404);
    assert.ok(!unknownRoute.body.includes(DEVICE.token));
    assert.equal((await put(`${T}/update/V1`, "[" + " ".repeat(512 * 1024) + "]")).status, 413);
  });

  it("lets browser pages call it, as the legacy server did (CORS: any origin, preflights answered)", async function () {
    const res = await fetch(`${web.origin}${T}/isHardwareConnected`, { headers: { Origin: "http://dashboard.example" } });
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const refused = await fetch(`${web.origin}/${UNKNOWN}/get/V1`);
    assert.equal(refused.headers.get("access-control-allow-origin"), "*");
    for (const path of [`${T}/update/V1`, `/${UNKNOWN}/update/V1`]) {
      const preflight = await fetch(web.origin + path, { method: "OPTIONS", headers: { Origin: "http://dashboard.example", "Access-Control-Request-Method": "PUT" } });
      assert.equal(preflight.status, 204, path);
      assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, PUT, OPTIONS");
      assert.equal(preflight.headers.get("access-control-allow-headers"), "Content-Type");
    }
    const other = await fetch(`${web.origin}/api/get/V1`, { method: "OPTIONS" });
    assert.equal(other.headers.get("access-control-allow-origin"), null, "not on what it passes on");
  });

  it("passes on what is not the legacy API's: other paths, other shapes, unknown tokens not shaped like one", async function () {
    const passed = [
      ["/", "GET"],
      ["/favicon.ico", "GET"],
      ["/api/get/V1", "GET"], // first segment not token-shaped
      [`/${UNKNOWN}/status`, "GET"], // not a legacy route
      [`/${UNKNOWN}/get/V1/extra`, "GET"],
      [`/${UNKNOWN}/get/V1`, "POST"], // not a legacy method for it
      [`/${UNKNOWN}/notify`, "GET"],
      [`/${UNKNOWN}/update/V1`, "HEAD"],
      ["/%E0%A4%A/get/V1", "GET"],
    ];
    for (const [path, method] of passed) {
      const res = await call(path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      if (method !== "HEAD") assert.equal(res.body, "next", `${method} ${path}`);
    }
  });

  it("inside express, a flow's route on the same path keeps it; a hosted token's path is this API's", async function () {
    const app = express();
    app.use(blynkLegacyHttpApi());
    app.get("/:user/get/:what", (req, res) => res.send(`route ${req.params.what}`));
    app.post("/:user/notify", (req, res) => res.send("route notify"));
    app.use((req, res) => res.status(404).send("nothing"));
    const site = await serve(app);
    servers.push(site.server);
    await call(`${T}/update/V1?value=5`, {}, site.origin);
    assert.equal((await call(`/${UNKNOWN}/get/V1`, {}, site.origin)).body, "route V1");
    assert.equal((await call(`/${UNKNOWN}/notify`, { method: "POST" }, site.origin)).body, "route notify");
    assert.deepEqual(await call(`/${UNKNOWN}/isHardwareConnected`, {}, site.origin), { status: 400, body: "Invalid token.", type: TEXT });
    assert.equal((await call(`${T}/get/V1`, {}, site.origin)).body, '["5"]');
    assert.equal((await call("/somewhere/else", {}, site.origin)).body, "nothing");
  });

  it("locks out an address after too many unknown tokens (429, Retry-After), without touching other paths", async function () {
    const throttle = new AuthThrottle({ maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 });
    const site = await serve(plain({ authThrottle: throttle }));
    servers.push(site.server);
    for (let i = 0; i < 3; i++) assert.equal((await call(`/${UNKNOWN}/get/V1`, {}, site.origin)).status, 400);
    const locked = await fetch(`${site.origin}/${UNKNOWN}/get/V1`);
    assert.equal(locked.status, 429);
    assert.ok(Number(locked.headers.get("retry-after")) > 0);
    assert.equal((await call(`${T}/get/V1`, {}, site.origin)).status, 429);
    assert.equal((await call("/api/get/V1", {}, site.origin)).body, "next");
  });

  it("limits each device to 50 requests/s (429), other devices unaffected", async function () {
    let now = 1_700_000_000_000;
    const site = await serve(plain({ now: () => now }));
    servers.push(site.server);
    for (let i = 0; i < 50; i++) assert.equal((await call(`${T}/isHardwareConnected`, {}, site.origin)).status, 200);
    const over = await call(`${T}/isHardwareConnected`, {}, site.origin);
    assert.equal(over.status, 429);
    assert.ok(!over.body.includes(DEVICE.token));
    assert.equal((await call(`/${OTHER.token}/isHardwareConnected`, {}, site.origin)).status, 200);
    now += 100;
    assert.equal((await call(`${T}/isHardwareConnected`, {}, site.origin)).status, 200);
  });

  it("answers a write once its store flushed, 503 when the flush failed", async function () {
    const store = hostedByToken(DEVICE.token).runtime.store;
    const flush = store.flush;
    let flushes = 0;
    store.flush = () => {
      flushes++;
      return Promise.reject(new Error("disk gone"));
    };
    try {
      const res = await call(`${T}/update/V1?value=1`);
      assert.equal(res.status, 503);
      assert.ok(flushes > 0);
      assert.equal((await call(`${T}/get/V1`)).status, 200, "reads do not wait for a flush");
    } finally {
      store.flush = flush;
    }
    assert.equal((await call(`${T}/update/V1?value=2`)).status, 200);
  });

  it("serves nothing but isHardwareConnected=false while the hosting broker is stopped", async function () {
    brokers.detach(BROKER_ID, ctx.engine);
    try {
      assert.equal((await call(`${T}/isHardwareConnected`)).body, "false");
      const res = await call(`${T}/update/V1?value=1`);
      assert.equal(res.status, 503);
      assert.match(res.body, /iot-broker node hosting this device is not running/);
    } finally {
      brokers.attach(BROKER_ID, ctx.engine);
    }
    await until(() => hostedByToken(DEVICE.token).runtime !== undefined, 5000, "the device hosted again");
    assert.equal((await call(`${T}/update/V1?value=1`)).status, 200);
  });
});
