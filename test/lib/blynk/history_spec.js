"use strict";
// Hosted Blynk devices' history: what the device (MQTT), HTTPS API callers and flows write goes
// to the engine's DeviceHistory with its time; data/get answers from it with a link to a CSV the
// same API serves without the token. Real engine, real MQTT.js devices, real HTTP.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { blynkHttpApi } = require("../../../dist/nodes/lib/blynk/http-api.js");
const { FILE_TTL_MS } = require("../../../dist/nodes/lib/blynk/http-history.js");
const { until } = require("../../support/wait.js");
const { TOKENS, hostedBroker } = require("./fixtures.js");

const DEVICE = { id: "c1b2c3d4e5f60718", token: TOKENS.alpha, name: "Greenhouse", pins: { v1: "Temp" } };
const OTHER = { id: "d1b2c3d4e5f60718", token: TOKENS.beta, name: "Other" };

async function apiServer(options = {}) {
  const api = blynkHttpApi(options);
  const server = http.createServer((req, res) =>
    api(req, res, () => {
      res.statusCode = 404;
      res.end("next");
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

describe("self-hosted Blynk: history", function () {
  let ctx;
  let web;
  /** The HTTP API's clock (data/get periods and link expiry); real time unless a test moves it. */
  let clockShift = 0;

  beforeEach(async function () {
    clockShift = 0;
    ctx = await hostedBroker({ devices: [DEVICE, OTHER] });
    web = await apiServer({ now: () => Date.now() + clockShift });
  });

  afterEach(async function () {
    web.server.closeAllConnections();
    web.server.close();
    await ctx.cleanup();
  });

  const points = (stream, id = DEVICE.id) => ctx.engine.history.query("blynk", id, stream);
  /** Waits until `stream` holds `n` points; resolves them. */
  async function pointsOf(stream, n, id = DEVICE.id) {
    let got = [];
    await until(async () => (got = await points(stream, id)).length >= n, 5000, `${n} points of ${stream}; got ${JSON.stringify(got)}`);
    return got;
  }
  const call = async (path, init) => {
    const res = await fetch(web.origin + path, init);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  };
  const api = (op, query = "") => call(`/external/api/${op}?token=${DEVICE.token}${query ? `&${query}` : ""}`);

  describe("producers", function () {
    it("keeps every value the device sends over MQTT, with its time: ds, batch_ds, timestamped points", async function () {
      const dev = await ctx.device(DEVICE.token);
      const before = Date.now();
      await dev.publishAsync("ds/Temp", "21.5", { qos: 1 });
      await dev.publishAsync("ds/Temp", "21.5", { qos: 1 }); // the same value again is history again
      await dev.publishAsync("batch_ds", JSON.stringify({ Temp: 22, Label: "north", Power: true }), { qos: 1 });
      const t0 = Date.UTC(2024, 0, 19, 12, 0, 0);
      await dev.publishAsync("ds/Temp/timestamped_batch", JSON.stringify([[t0, 19], [t0 + 1000, 19.5]]), { qos: 1 });
      const temp = await pointsOf("Temp", 5);
      assert.deepEqual(temp.map((p) => p.value), [19, 19.5, 21.5, 21.5, 22]);
      assert.deepEqual(temp.slice(0, 2).map((p) => p.ts), [t0, t0 + 1000]);
      assert.ok(temp.slice(2).every((p) => p.ts >= before && p.ts <= Date.now()));
      assert.deepEqual((await pointsOf("Label", 1)).map((p) => p.value), ["north"]);
      assert.deepEqual((await pointsOf("Power", 1)).map((p) => p.value), [true]);
      // The back-filled points did not replace the current value.
      assert.equal(ctx.handles.get(DEVICE.id).store.get("ds", "Temp").value, "22");
      assert.deepEqual((await ctx.engine.history.streams("blynk", DEVICE.id)).sort(), ["Label", "Power", "Temp"]);
      assert.deepEqual(await ctx.engine.history.streams("blynk", OTHER.id), []);
    });

    it("keeps multi-values as arrays and leaves out what the state refuses", async function () {
      const dev = await ctx.device(DEVICE.token);
      await dev.publishAsync("ds/Where", "13.4\u000052.52", { qos: 1 });
      await dev.publishAsync("ds/Huge", "x".repeat(1025), { qos: 1 });
      await dev.publishAsync("ds/After", "1", { qos: 1 });
      await pointsOf("After", 1);
      assert.deepEqual((await points("Where")).map((p) => p.value), [[13.4, 52.52]]);
      assert.deepEqual(await points("Huge"), []);
    });

    it("keeps what HTTPS API callers and flows write: update, batch/update, timestamped POST, send", async function () {
      assert.equal((await api("update", "v1=20.25")).status, 200);
      assert.equal((await api("batch/update", "v1=20.5&v2=on")).status, 200);
      const t0 = Date.UTC(2024, 0, 19, 12, 0, 0);
      const post = await call(`/external/api/batch/update?token=${DEVICE.token}&pin=v1`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([[t0, 18], [t0 + 60_000, 18.5]]),
      });
      assert.equal(post.status, 200);
      await ctx.handles.get(DEVICE.id).send({ kind: "ds", datastream: "Temp", text: "23" });
      const temp = await pointsOf("Temp", 5);
      assert.deepEqual(temp.map((p) => p.value), [18, 18.5, 20.25, 20.5, 23]);
      assert.deepEqual(temp.slice(0, 2).map((p) => p.ts), [t0, t0 + 60_000]);
      assert.deepEqual((await points("V2")).map((p) => p.value), ["on"]);
    });
  });

  describe("data/get", function () {
    /** Writes values through the API and waits for them in the history. */
    async function someValues() {
      for (const v of [20, 21.5, 22]) assert.equal((await api("update", `v1=${v}`)).status, 200);
      return pointsOf("Temp", 3);
    }

    it("answers a token-free link to a CSV of the pin's history that the API serves", async function () {
      const kept = await someValues();
      const answer = await api("data/get", "pin=V1");
      assert.equal(answer.status, 200);
      assert.equal(answer.type, "application/json; charset=utf-8");
      const { link } = JSON.parse(answer.body);
      assert.match(link, new RegExp(`^${web.origin}/external/api/data/file/[A-Za-z0-9_-]{24}\\.csv$`));
      assert.ok(!link.includes(DEVICE.token));
      const file = await fetch(link);
      assert.equal(file.status, 200);
      assert.equal(file.headers.get("content-type"), "text/csv; charset=utf-8");
      assert.equal(await file.text(), kept.map((p) => `${p.ts},${p.value}\n`).join(""));
      // The link works more than once, from anywhere (no token), until it expires.
      assert.equal((await fetch(link)).status, 200);
      clockShift = FILE_TTL_MS;
      const gone = await fetch(link);
      assert.equal(gone.status, 404);
      assert.match((await gone.json()).error.message, /does not exist or its link has expired/);
    });

    it("follows the cloud's parameters: period, granularity and source, zone and time format", async function () {
      await someValues();
      const csv = async (query) => {
        const { link } = JSON.parse((await api("data/get", `pin=v1&${query}`)).body);
        return (await fetch(link)).text();
      };
      assert.match(await csv("format=ISO_SIMPLE&tzName=Europe/Berlin"), /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,(20|21\.5|22)\n){3}$/);
      assert.match(await csv("granularityType=DAILY&sourceType=COUNT"), /^\d+,3\n$/);
      assert.match(await csv("granularityType=DAILY&sourceType=SUM&period=DAY"), /^\d+,63\.5\n$/);
      // An hour later the points are out of a one-hour period: the cloud's "No data".
      clockShift = 2 * 3_600_000;
      assert.deepEqual(JSON.parse((await api("data/get", "pin=v1&period=HOUR")).body), { error: { message: "No data" } });
      assert.equal((await api("data/get", "pin=v1&period=HOUR")).status, 500);
      assert.match(await csv("period=DAY"), /,22\n$/);
    });

    it("refuses what the cloud refuses, without a link and without the token", async function () {
      await someValues();
      const refused = [
        [`data/get?token=${DEVICE.token}`, 400, "Request with incorrect parameters"],
        [`data/get?token=${DEVICE.token}&pin=x1`, 400, "Wrong pin format."],
        [`data/get?token=${DEVICE.token}&pin=v1&period=YEAR`, 400, 'Request with incorrect parameters: period "YEAR" is not one of'],
        [`data/get?token=${DEVICE.token}&pin=v1&tzName=Mars/Olympus`, 400, 'Request with incorrect parameters: tzName "Mars/Olympus" is not a time zone'],
        [`data/get?token=${DEVICE.token}&dataStreamId=3`, 400, "Request with incorrect parameters"],
        ["data/get?pin=v1", 400, "No token provided."],
        [`data/get?token=${TOKENS.gamma}&pin=v1`, 400, "Invalid token."],
        [`data/get?token=${DEVICE.token}&pin=v9`, 500, "No data"],
      ];
      for (const [path, status, message] of refused) {
        const answer = await call(`/external/api/${path}`);
        assert.equal(answer.status, status, path);
        assert.ok(JSON.parse(answer.body).error.message.startsWith(message), `${path}: ${answer.body}`);
        assert.ok(!answer.body.includes(DEVICE.token));
      }
      assert.equal((await call(`/external/api/data/get?token=${DEVICE.token}&pin=v1`, { method: "POST" })).status, 405);
    });

    it("counts guessed file ids as failed logins: the address is locked out like a token guesser", async function () {
      for (let i = 0; i < 10; i++) assert.equal((await call(`/external/api/data/file/${"A".repeat(24)}.csv`)).status, 404);
      const locked = await call(`/external/api/data/file/${"B".repeat(24)}.csv`);
      assert.equal(locked.status, 429);
      assert.equal((await call("/external/api/data/file/not-an-id")).status, 429);
    });

    it("puts the link below the path and on the host the request came by", async function () {
      await someValues();
      // As express mounted under httpNodeRoot "/nr" leaves it: req.url without, originalUrl with the root.
      const api = blynkHttpApi();
      const server = http.createServer((req, res) => {
        req.originalUrl = req.url;
        req.url = req.url.replace(/^\/nr/, "");
        api(req, res, () => res.end("next"));
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      try {
        const port = server.address().port;
        // fetch cannot set Host: a plain request names the host a browser would have used.
        const req = http.get({ host: "127.0.0.1", port, path: `/nr/external/api/data/get?token=${DEVICE.token}&pin=v1`, headers: { host: `node-red.local:${port}` } });
        const [res] = await once(req, "response");
        let text = "";
        for await (const chunk of res) text += chunk;
        const { link } = JSON.parse(text);
        assert.match(link, new RegExp(`^http://node-red\\.local:${port}/nr/external/api/data/file/[A-Za-z0-9_-]{24}\\.csv$`));
        const file = await fetch(link.replace("node-red.local", "127.0.0.1"));
        assert.equal(file.status, 200);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  });
});
