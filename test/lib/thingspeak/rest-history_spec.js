"use strict";
// Hosted ThingSpeak channels: every stored entry's fields go to the engine's history; the REST
// API's status, last_data_age, timezone/offset and bulk_update.json, answered as the cloud
// answers them. thingSpeakRestApi() on a real HTTP server, hosted channels on a real engine and
// an injected clock.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { hostedEntries } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { thingSpeakRestApi } = require("../../../dist/nodes/lib/thingspeak/rest-api.js");
const { until } = require("../../support/wait.js");
const { BROKER_ID, T0, WEATHER, GARDEN, SECRETS, hostedBroker, at } = require("./fixtures.js");

const JSON_TYPE = "application/json; charset=utf-8";
const CSV = "text/csv; charset=utf-8";
const TEXT = "text/plain; charset=utf-8";
const W = WEATHER.writeKey;
const R = WEATHER.readKey;
const G = GARDEN.writeKey;

describe("self-hosted ThingSpeak: history and the rest of the REST API", function () {
  let ctx;
  let web;

  beforeEach(async function () {
    ctx = await hostedBroker({ channels: [WEATHER, GARDEN] });
    const api = thingSpeakRestApi();
    const server = http.createServer((req, res) =>
      api(req, res, () => {
        res.statusCode = 404;
        res.end("next");
      }),
    );
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    web = { server, origin: `http://127.0.0.1:${server.address().port}` };
  });

  afterEach(async function () {
    web.server.closeAllConnections();
    web.server.close();
    await ctx.cleanup();
  });

  async function call(pathAndQuery, init = {}) {
    const res = await fetch(web.origin + pathAndQuery, init);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  }
  const bulk = (channelId, body, headers = {}) => call(`/channels/${channelId}/bulk_update.json`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const history = (channel, stream) => ctx.engine.history.query("thingspeak", channel.id, stream);

  describe("history", function () {
    it("keeps each stored entry's fields, whoever wrote it (device, REST client, flows), at its created_at", async function () {
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=45&field2=warm&status=ok");
      await ctx.entry(WEATHER);
      ctx.clock.advance(15_000);
      assert.equal((await call(`/update?api_key=${W}&field1=46.5&created_at=2024-01-19T12:00:00Z`)).body, "2");
      ctx.clock.advance(15_000);
      assert.equal((await ctx.handles.get(WEATHER.id).send({ fields: { 1: 47, 8: true } })).ok, true);
      // A refused update (within the interval) is no history.
      assert.equal((await call(`/update?api_key=${W}&field1=99`)).body, "0");
      assert.deepEqual(await history(WEATHER, "field1"), [
        { ts: Date.UTC(2024, 0, 19, 12), value: 46.5 },
        { ts: T0, value: 45 },
        { ts: T0 + 30_000, value: 47 },
      ].sort((a, b) => a.ts - b.ts));
      assert.deepEqual(await history(WEATHER, "field2"), [{ ts: T0, value: "warm" }]);
      assert.deepEqual(await history(WEATHER, "field8"), [{ ts: T0 + 30_000, value: 1 }]);
      assert.deepEqual((await ctx.engine.history.streams("thingspeak", WEATHER.id)).sort(), ["field1", "field2", "field8"]);
    });

    it("keeps entries written while no broker ran once a broker runs the channel again, each once", async function () {
      assert.equal((await call(`/update?api_key=${G}&field1=1`)).body, "1");
      brokers.detach(BROKER_ID, ctx.engine);
      ctx.clock.advance(1000);
      assert.equal((await call(`/update?api_key=${G}&field1=2`)).body, "2");
      ctx.clock.advance(5000);
      assert.equal((await bulk(2002, { write_api_key: G, updates: [{ delta_t: 0, field1: 3 }, { delta_t: 1, field1: 4 }] })).status, 202);
      brokers.attach(BROKER_ID, ctx.engine);
      await until(async () => (await history(GARDEN, "field1")).length === 4, 5000, "the parked entries in the history");
      assert.deepEqual((await history(GARDEN, "field1")).map((p) => p.value), [1, 2, 3, 4]);
      assert.deepEqual(hostedEntries(GARDEN.id).map((e) => e.field1), ["1", "2", "3", "4"]);
    });
  });

  describe("reads", function () {
    /** Two entries: the first with a status, the second without field1. */
    async function twoEntries() {
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=45&field2=60&status=MQTTPUBLISH");
      await ctx.entry(WEATHER);
      ctx.clock.advance(15_000);
      dev.publish("channels/1001/publish/fields/field2", "61");
      await ctx.entry(WEATHER, 2);
      ctx.clock.advance(35_000);
    }
    const key = (path) => `${path}${path.includes("?") ? "&" : "?"}api_key=${R}`;

    const reads = [
      // [path, status, type, body]
      ["/channels/1001/status.json", 200, JSON_TYPE, { channel: { name: "Weather" }, feeds: [{ created_at: at(T0), entry_id: 1, status: "MQTTPUBLISH" }, { created_at: at(T0 + 15_000), entry_id: 2, status: null }] }],
      ["/channels/1001/status.csv?results=1", 200, CSV, `created_at,entry_id,status\n${at(T0 + 15_000)},2,\n`],
      ["/channels/1001/feeds/last_data_age.json", 200, JSON_TYPE, { last_data_age: "35", last_data_age_units: "s" }],
      ["/channels/1001/feeds/last_data_age.txt", 200, TEXT, "35"],
      ["/channels/1001/feeds/last_data_age.csv", 200, CSV, "last_data_age,last_data_age_units\n35,s\n"],
      ["/channels/1001/fields/1/last_data_age.txt", 200, TEXT, "50"],
      ["/channels/1001/fields/3/last_data_age.json", 200, JSON_TYPE, -1],
      // A zone: times on its wall clock with its offset, the channel's times too; zone-less start/end read in it.
      ["/channels/1001/feeds.json?timezone=America/New_York&results=1", 200, JSON_TYPE, {
        channel: { id: 1001, name: "Weather", field1: "Temperature", field2: "Humidity", created_at: "2024-01-19T07:25:30-05:00", updated_at: "2024-01-19T07:25:45-05:00", last_entry_id: 2 },
        feeds: [{ created_at: "2024-01-19T07:25:45-05:00", entry_id: 2, field1: null, field2: "61" }],
      }],
      ["/channels/1001/feeds/last.json?timezone=Europe/Berlin", 200, JSON_TYPE, { created_at: "2024-01-19T13:25:45+01:00", entry_id: 2, field1: null, field2: "61" }],
      ["/channels/1001/fields/2.csv?offset=-3&start=2024-01-19%2009:25:40", 200, CSV, "created_at,entry_id,field2\n2024-01-19T09:25:45-03:00,2,61\n"],
      ["/channels/1001/feeds.json?timezone=UTC&results=1", 200, JSON_TYPE, { channel: { id: 1001, name: "Weather", field1: "Temperature", field2: "Humidity", created_at: at(T0), updated_at: at(T0 + 15_000), last_entry_id: 2 }, feeds: [{ created_at: at(T0 + 15_000), entry_id: 2, field1: null, field2: "61" }] }],
      ["/channels/1001/status.json?timezone=Eastern%20Time%20(US%20%26%20Canada)", 400, JSON_TYPE, null],
      ["/channels/1001/status.xml", 404, JSON_TYPE, null],
      ["/channels/1001/status/last.json", 404, JSON_TYPE, null],
    ];
    for (const [path, status, type, expected] of reads) {
      it(`GET ${path} -> ${status}`, async function () {
        await twoEntries();
        const got = await call(key(path));
        assert.equal(got.status, status, got.body);
        assert.equal(got.type, type);
        if (expected === null) return;
        assert.deepEqual(typeof expected === "string" ? got.body : JSON.parse(got.body), expected);
      });
    }

    it("status reads the last day unless a range is given; last_data_age needs the read key of a private channel", async function () {
      await twoEntries();
      ctx.clock.advance(86_400_000);
      assert.deepEqual(JSON.parse((await call(key("/channels/1001/status.json"))).body).feeds, []);
      assert.equal(JSON.parse((await call(key("/channels/1001/status.json?days=2"))).body).feeds.length, 2);
      assert.equal((await call("/channels/1001/feeds/last_data_age.json")).status, 401);
      assert.equal((await call("/channels/2002/feeds/last_data_age.txt")).body, "-1");
    });
  });

  describe("bulk_update.json", function () {
    it("stores every update at its time, counts as one update for the interval, and answers 202", async function () {
      const dev = await ctx.device(WEATHER);
      await dev.subscribeAsync("channels/1001/subscribe");
      const body = {
        write_api_key: W,
        updates: [
          { created_at: "2024-01-19 12:00:00", field1: 20, status: "first" },
          { delta_t: 60, field1: 21, latitude: 52.5, longitude: 13.4 },
          { created_at: 1705666000, field2: "x" },
        ],
      };
      const answer = await bulk(1001, body);
      assert.deepEqual([answer.status, answer.type, JSON.parse(answer.body)], [202, JSON_TYPE, { success: true }]);
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => [e.entry_id, e.created_at, e.field1, e.field2, e.latitude, e.status]), [
        [1, "2024-01-19T12:00:00Z", "20", null, null, "first"],
        [2, "2024-01-19T12:01:00Z", "21", null, "52.5", null],
        [3, at(1705666000000), null, "x", null, null],
      ]);
      // The flows get the entries; subscribed devices do not (ThingSpeak reports bulk writes to no subscriber).
      assert.equal((await ctx.entry(WEATHER, 3)).entry_id, 3);
      assert.deepEqual((await history(WEATHER, "field1")).map((p) => [p.ts, p.value]), [[Date.UTC(2024, 0, 19, 12), 20], [Date.UTC(2024, 0, 19, 12, 1), 21]]);
      // One bulk call per update interval, which single updates share.
      const again = await bulk(1001, { write_api_key: W, updates: [{ delta_t: 0, field1: 1 }] });
      assert.equal(again.status, 429);
      assert.equal(JSON.parse(again.body).error.error_code, "error_too_many_requests");
      assert.equal((await call(`/update?api_key=${W}&field1=1`)).body, "0");
      ctx.clock.advance(15_000);
      dev.publish("channels/1001/publish", "field1=5");
      assert.equal(JSON.parse((await dev.box.next("channels/1001/subscribe")).payload).entry_id, 4);
      assert.equal(dev.box.messages.length, 1);
    });

    it("counts relative times back from now when no update has created_at", async function () {
      const answer = await bulk(2002, { updates: [{ delta_t: 0, field1: 1 }, { delta_t: 30, field1: 2 }, { delta_t: 15, field1: 3 }] }, { THINGSPEAKAPIKEY: G });
      assert.equal(answer.status, 202);
      assert.deepEqual(hostedEntries(GARDEN.id).map((e) => [e.created_at, e.field1]), [[at(T0 - 45_000), "1"], [at(T0 - 15_000), "2"], [at(T0), "3"]]);
    });

    const refusals = [
      // [channel, body, headers, status, error_code]
      [1001, { updates: [{ delta_t: 0, field1: 1 }] }, {}, 401, "error_auth_required"],
      [1001, { write_api_key: G, updates: [{ delta_t: 0, field1: 1 }] }, {}, 401, "error_auth_required"],
      [1001, { write_api_key: R, updates: [{ delta_t: 0, field1: 1 }] }, {}, 401, "error_auth_required"],
      [1001, { write_api_key: W, updates: [] }, {}, 400, "error_bad_request"],
      [1001, { write_api_key: W, updates: [{ field1: 1 }] }, {}, 400, "error_bad_request"],
      [1001, { write_api_key: W, updates: [{ delta_t: 0 }] }, {}, 421, "error_no_action"],
      [1001, { write_api_key: W, updates: [{ created_at: 1, field1: 1 }, { created_at: 1, field1: 2 }] }, {}, 409, "error_conflict"],
      [1001, { write_api_key: W, updates: Array.from({ length: 961 }, (_, i) => ({ created_at: i + 1, field1: i })) }, {}, 413, "error_request_too_large"],
      [1001, { write_api_key: W, updates: [{ created_at: 1, status: "s".repeat(3001) }] }, {}, 413, "error_request_too_large"],
    ];
    for (const [channelId, body, headers, status, code] of refusals) {
      it(`refuses ${JSON.stringify(body).slice(0, 90)} -> ${status} ${code}, storing nothing and echoing no key`, async function () {
        const answer = await bulk(channelId, body, headers);
        assert.equal(answer.status, status, answer.body);
        assert.equal(JSON.parse(answer.body).error.error_code, code);
        for (const secret of SECRETS) assert.ok(!answer.body.includes(secret), "a key leaked");
        assert.deepEqual(hostedEntries(WEATHER.id), []);
      });
    }

    it("takes up to 14,400 updates on a channel with a short update interval (paid limits)", async function () {
      const updates = Array.from({ length: 1000 }, (_, i) => ({ created_at: 1_700_000_000 + i, field1: i }));
      assert.equal((await bulk(2002, { write_api_key: G, updates })).status, 202);
      assert.equal(hostedEntries(GARDEN.id).length, 1000);
      assert.equal((await history(GARDEN, "field1")).length, 1000);
    });

    it("answers GET with 405 and the CSV form with 404", async function () {
      assert.equal((await call("/channels/1001/bulk_update.json")).status, 405);
      assert.equal((await call("/channels/1001/bulk_update.csv", { method: "POST", body: "" })).status, 404);
    });
  });
});
