"use strict";
// ThingSpeak's REST API served by Node-RED itself: thingSpeakRestApi() on a plain Node HTTP
// server, real requests with fetch, hosted channels on a real broker engine and an injected clock.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { hostedEntries, hostedChannel } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { thingSpeakRestApi, MAX_BODY_BYTES } = require("../../../dist/nodes/lib/thingspeak/rest-api.js");
const { BROKER_ID, T0, WEATHER, GARDEN, SECRETS, hostedBroker, entry, at } = require("./fixtures.js");

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";
const CSV = "text/csv; charset=utf-8";
const W = WEATHER.writeKey;
const R = WEATHER.readKey;
const G = GARDEN.writeKey;

/** A Node HTTP server running the handler; `next()` answers 404 "next". `before` may pre-process requests. */
async function apiServer(before = (_req, _res, go) => go(), options = {}) {
  const api = thingSpeakRestApi(options);
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

/** A body parser in front of the API, as express with urlencoded/json parsers would be. */
function bodyParser(req, _res, go) {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const text = Buffer.concat(chunks).toString();
    const type = req.headers["content-type"] ?? "";
    if (type.includes("json")) req.body = JSON.parse(text);
    else if (type.includes("urlencoded")) req.body = Object.fromEntries(new URLSearchParams(text));
    else req.body = {};
    go();
  });
}

const restError = (status, code) => ({ status: String(status), error: { error_code: code } });

describe("self-hosted ThingSpeak: REST API", function () {
  let ctx;
  let web;
  const servers = [];

  beforeEach(async function () {
    ctx = await hostedBroker({ channels: [WEATHER, GARDEN] });
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

  /** path+query with fetch `init`; resolves {status, body, type}. */
  async function call(pathAndQuery, init = {}, origin = web.origin) {
    const res = await fetch(origin + pathAndQuery, init);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  }
  const form = (body, headers = {}) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
  /** The JSON error's status and code (the rest are words). */
  const errorOf = (r) => {
    const { status, error } = JSON.parse(r.body);
    return { status, error: { error_code: error.error_code } };
  };

  describe("update", function () {
    it("stores GET and POST updates (key in api_key or THINGSPEAKAPIKEY, form or JSON) and answers the entry id or the entry", async function () {
      assert.deepEqual(await call(`/update?api_key=${W}&field1=21.5&field2=40`), { status: 200, body: "1", type: TEXT });
      ctx.clock.advance(15_000);
      const json = await call("/update.json", form("field1=22&status=hello%20world&lat=52.5&long=13.4&elevation=34", { THINGSPEAKAPIKEY: W }));
      assert.equal(json.type, JSON_TYPE);
      assert.deepEqual(JSON.parse(json.body), entry(1001, 2, at(T0 + 15_000), { field1: "22", status: "hello world", latitude: "52.5", longitude: "13.4", elevation: "34" }));
      ctx.clock.advance(15_000);
      const body = JSON.stringify({ api_key: W, field3: 7, created_at: "2024-01-19T11:00:00Z" });
      assert.equal((await call("/update", { method: "POST", headers: { "content-type": "application/json" }, body })).body, "3");
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => [e.entry_id, e.created_at, e.field1, e.field3]), [
        [1, at(T0), "21.5", null],
        [2, at(T0 + 15_000), "22", null],
        [3, "2024-01-19T11:00:00Z", null, "7"],
      ]);
    });

    it("answers 0 within the update interval, which MQTT and REST share, and the next id after it", async function () {
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1");
      await ctx.entry(WEATHER);
      ctx.clock.advance(14_999);
      assert.deepEqual(await call(`/update?api_key=${W}&field1=2`), { status: 200, body: "0", type: TEXT });
      assert.deepEqual(await call(`/update.json?api_key=${W}&field1=2`), { status: 200, body: "0", type: JSON_TYPE });
      ctx.clock.advance(1);
      assert.equal((await call(`/update?api_key=${W}&field1=3`)).body, "2");
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => e.field1), ["1", "3"]);
    });

    it("sends REST writes to subscribed devices and to flows", async function () {
      const dev = await ctx.device(WEATHER);
      await dev.subscribeAsync(["channels/1001/subscribe", "channels/1001/subscribe/fields/+"]);
      assert.equal((await call(`/update?api_key=${W}&field1=5&field4=on`)).body, "1");
      const expected = entry(1001, 1, at(T0), { field1: "5", field4: "on" });
      assert.deepEqual(JSON.parse((await dev.box.next("channels/1001/subscribe")).payload), expected);
      assert.equal((await dev.box.next("channels/1001/subscribe/fields/field4")).payload, "on");
      assert.deepEqual((await ctx.entry(WEATHER)), expected);
    });

    it("refuses missing and unknown write keys (401), empty updates (421), a stored created_at (409), bad values (400, 422, 413)", async function () {
      assert.deepEqual(await call("/update?field1=1"), { status: 401, body: "error_auth_required", type: TEXT });
      assert.deepEqual(errorOf(await call("/update.json?field1=1")), restError(401, "error_auth_required"));
      assert.equal((await call("/update?api_key=NOTAKEY0000000000&field1=1")).status, 401);
      assert.equal((await call(`/update?api_key=${R}&field1=1`)).status, 401, "a read key does not write");
      assert.deepEqual(await call(`/update?api_key=${G}&timezone=UTC`), { status: 421, body: "error_no_action", type: TEXT });
      assert.equal((await call(`/update?api_key=${G}&field1=1&created_at=2024-01-19T10:00:00Z`)).body, "1");
      ctx.clock.advance(1000);
      assert.deepEqual(errorOf(await call(`/update.json?api_key=${G}&field1=2&created_at=2024-01-19%2010:00:00`)), restError(409, "error_conflict"));
      assert.deepEqual(await call(`/update?api_key=${G}&field1=%FF`), { status: 422, body: "error_invalid_byte_sequence", type: TEXT });
      assert.equal((await call(`/update?api_key=${G}&lat=100`)).body, "error_bad_request");
      assert.equal((await call(`/update?api_key=${G}&created_at=2024-01-19%2010:00:01&timezone=Mars/Olympus_Mons&field1=1`)).status, 400);
      assert.equal((await call("/update", form(`api_key=${G}&field1=${"x".repeat(3001)}`))).status, 413);
      assert.deepEqual(hostedEntries(GARDEN.id).map((e) => e.entry_id), [1]);
    });

    it("never echoes a key, not even inside a refused value", async function () {
      const answers = [
        await call(`/update.json?api_key=${G}&lat=${G}`),
        await call(`/update.json?api_key=${W}&elevation=${R}`, { headers: { THINGSPEAKAPIKEY: R } }),
        await call("/update.json", form(`api_key=${G}&long=${G}`)),
        await call(`/channels/1001/feeds.json?api_key=${W}`),
        await call(`/channels/1001/feeds.json?api_key=${R}&results=${R}`),
      ];
      assert.deepEqual(answers.map((a) => a.status), [400, 400, 400, 401, 400]);
      for (const a of answers) for (const secret of SECRETS) assert.ok(!a.body.includes(secret), `a key leaked: ${a.body}`);
    });

    it("uses a body that a body parser has read already (form object or JSON)", async function () {
      const parsed = await apiServer(bodyParser);
      servers.push(parsed.server);
      assert.equal((await call("/update", form(`api_key=${G}&field1=1&status=a%26b`), parsed.origin)).body, "1");
      ctx.clock.advance(1000);
      const json = { method: "POST", headers: { "content-type": "application/json", THINGSPEAKAPIKEY: G }, body: JSON.stringify({ field2: 2.5 }) };
      assert.equal((await call("/update.json", json, parsed.origin)).status, 200);
      assert.deepEqual(hostedEntries(GARDEN.id).map((e) => [e.field1, e.field2, e.status]), [["1", null, "a&b"], [null, "2.5", null]]);
    });

    it("reads POST bodies up to the limit (2 MB by default) and answers 413 over it", async function () {
      assert.equal(MAX_BODY_BYTES, 2 * 1024 * 1024);
      const small = await apiServer(undefined, { maxBodyBytes: 64 });
      servers.push(small.server);
      const big = `api_key=${G}&status=${"s".repeat(64)}`;
      assert.deepEqual(await call("/update", form(big), small.origin), { status: 413, body: "error_request_too_large", type: TEXT });
      assert.equal((await call("/update", form(`api_key=${G}&field1=1`), small.origin)).body, "1");
    });

    it("keeps taking updates and reads while the channel's broker is not running", async function () {
      brokers.detach(BROKER_ID, ctx.engine);
      assert.equal(hostedChannel(GARDEN.id).running, false);
      assert.equal((await call(`/update?api_key=${G}&field1=8`)).body, "1");
      assert.deepEqual(JSON.parse((await call("/channels/2002/fields/1/last.json")).body).field1, "8");
      // The broker back: the feed written meanwhile goes on there.
      brokers.attach(BROKER_ID, ctx.engine);
      assert.equal(hostedChannel(GARDEN.id).running, true);
      ctx.clock.advance(1000);
      assert.equal((await call(`/update?api_key=${G}&field1=9`)).body, "2");
      assert.deepEqual(hostedEntries(GARDEN.id).map((e) => e.field1), ["8", "9"]);
    });
  });

  describe("reads", function () {
    /** Two entries over MQTT: the second without field1 (a sparse row). */
    async function twoEntries() {
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=45&field2=60&status=MQTTPUBLISH");
      await ctx.entry(WEATHER);
      ctx.clock.advance(15_000);
      dev.publish("channels/1001/publish/fields/field2", "61");
      await ctx.entry(WEATHER, 2);
    }
    const withKey = (path) => `${path}${path.includes("?") ? "&" : "?"}api_key=${R}`;

    it("feeds (json, csv) return what MQTT wrote, with the channel and its named fields", async function () {
      await twoEntries();
      const feeds = await call(withKey("/channels/1001/feeds.json"));
      assert.equal(feeds.type, JSON_TYPE);
      assert.deepEqual(JSON.parse(feeds.body), {
        channel: { id: 1001, name: "Weather", field1: "Temperature", field2: "Humidity", created_at: at(T0), updated_at: at(T0 + 15_000), last_entry_id: 2 },
        feeds: [
          { created_at: at(T0), entry_id: 1, field1: "45", field2: "60" },
          { created_at: at(T0 + 15_000), entry_id: 2, field1: null, field2: "61" },
        ],
      });
      const last = JSON.parse((await call(withKey("/channels/1001/feeds.json?results=1&status=true"))).body).feeds;
      assert.deepEqual(last, [{ created_at: at(T0 + 15_000), entry_id: 2, field1: null, field2: "61", status: null }]);
      assert.deepEqual(await call(withKey("/channels/1001/feeds.csv")), {
        status: 200,
        type: CSV,
        body: `created_at,entry_id,field1,field2\n${at(T0)},1,45,60\n${at(T0 + 15_000)},2,,61\n`,
      });
      const ranged = JSON.parse((await call(withKey(`/channels/1001/feeds.json?start=${encodeURIComponent(at(T0 + 1000))}`))).body).feeds;
      assert.deepEqual(ranged.map((e) => e.entry_id), [2]);
    });

    it("last entry, field feeds and the last value of a field (json, csv, txt with prepend/append)", async function () {
      await twoEntries();
      assert.deepEqual(JSON.parse((await call(withKey("/channels/1001/feeds/last.json?status=true"))).body), {
        created_at: at(T0 + 15_000), entry_id: 2, field1: null, field2: "61", status: null,
      });
      assert.deepEqual(JSON.parse((await call(withKey("/channels/1001/fields/1.json"))).body).feeds, [
        { created_at: at(T0), entry_id: 1, field1: "45" },
        { created_at: at(T0 + 15_000), entry_id: 2, field1: null },
      ]);
      // The newest entry that has field1, though a newer entry lacks it.
      assert.deepEqual(JSON.parse((await call(withKey("/channels/1001/fields/1/last.json"))).body), { created_at: at(T0), entry_id: 1, field1: "45" });
      assert.deepEqual(await call(withKey("/channels/1001/fields/2/last.txt?prepend=%3C&append=%3E")), { status: 200, body: "<61>", type: TEXT });
      assert.equal((await call(withKey("/channels/1001/fields/1/last.csv"))).body, `created_at,entry_id,field1\n${at(T0)},1,45\n`);
      assert.equal((await call(withKey("/channels/1001/fields/2.csv?results=1"))).body, `created_at,entry_id,field2\n${at(T0 + 15_000)},2,61\n`);
    });

    it("needs the read key of a private channel (401 without it, with another key or the write key)", async function () {
      await twoEntries();
      assert.deepEqual(errorOf(await call("/channels/1001/feeds.json")), restError(401, "error_auth_required"));
      assert.deepEqual(errorOf(await call("/channels/1001/feeds/last.json?api_key=READWEATHER00002")), restError(401, "error_auth_required"));
      assert.deepEqual(errorOf(await call(`/channels/1001/fields/1.json?api_key=${W}`)), restError(401, "error_auth_required"));
      assert.deepEqual(await call("/channels/1001/fields/1/last.txt"), { status: 401, body: "error_auth_required", type: TEXT });
      assert.equal((await call(`/channels/1001/feeds.csv?api_key=${G}`)).body, "error_auth_required");
      assert.equal((await call("/channels/1001/feeds.json", { headers: { THINGSPEAKAPIKEY: R } })).status, 200);
    });

    it("reads a public channel without a key; an empty channel's last entry is -1", async function () {
      assert.deepEqual(await call("/channels/2002/feeds/last.json"), { status: 200, body: "-1", type: JSON_TYPE });
      assert.equal((await call("/channels/2002/fields/1/last.txt")).body, "-1");
      assert.deepEqual(JSON.parse((await call("/channels/2002/feeds.json")).body), { channel: { id: 2002, name: "Garden", created_at: at(T0), last_entry_id: null }, feeds: [] });
      assert.equal((await call(`/update?api_key=${G}&field3=3`)).body, "1");
      const feeds = JSON.parse((await call("/channels/2002/feeds.json?api_key=anything")).body).feeds;
      assert.deepEqual(feeds, [{ created_at: at(T0), entry_id: 1, field1: null, field2: null, field3: "3", field4: null, field5: null, field6: null, field7: null, field8: null }]);
    });
  });

  describe("paths", function () {
    it("answers ThingSpeak paths it does not serve with 404, wrong methods with 405, unsupported parameters with 400", async function () {
      assert.deepEqual(errorOf(await call("/channels/1001/bulk_update.xml", { method: "POST", body: "{}" })), restError(404, "error_resource_not_found"));
      assert.equal((await call("/channels/1001/bulk_update.csv", { method: "POST", body: "" })).status, 404);
      assert.equal((await call("/channels/1001/feeds.xml")).status, 404);
      assert.equal((await call("/channels/1001/fields/9.json")).status, 404);
      assert.equal((await call("/update.xml")).status, 404);
      assert.deepEqual(errorOf(await call("/channels/1001/feeds.json", { method: "DELETE" })), restError(405, "error_method_invalid"));
      assert.equal((await call("/update", { method: "PUT" })).body, "error_method_invalid");
      assert.deepEqual(errorOf(await call(`/channels/1001/feeds.json?api_key=${R}&average=10`)), restError(400, "error_bad_request"));
    });

    it("passes other paths on with next(): foreign paths, channels not hosted here, everything while nothing is hosted", async function () {
      for (const path of ["/", "/other", "/updates", "/channels/9999/feeds.json", "/channels/abc/feeds.json", "/external/api/get?token=x"]) {
        assert.deepEqual(await call(path), { status: 404, body: "next", type: null }, path);
      }
      for (const stop of ctx.unhost.values()) stop();
      assert.equal((await call(`/update?api_key=${G}&field1=1`)).body, "next");
      assert.equal((await call("/channels/2002/feeds.json")).body, "next");
    });
  });
});
