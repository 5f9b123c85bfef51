"use strict";
// The ThingSpeak link in rest mode (Node-RED writes and reads with the API keys) against a
// loopback HTTP server standing in for api.thingspeak.com, and against our own self-hosted REST
// API. The update interval runs on a test clock.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { createThingSpeakLink } = require("../../../dist/nodes/lib/thingspeak/link.js");
const { thingSpeakRestApi } = require("../../../dist/nodes/lib/thingspeak/rest-api.js");
const { hostedEntries } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { startHttpServer } = require("../fixtures/http-server.js");
const { until, untilStatus } = require("../../support/wait.js");
const { WEATHER, hostedBroker, testClock, entry, at, T0 } = require("./fixtures.js");
const { manualTimers, collect } = require("../../support/links.js");

const WRITE_KEY = "WRITEKEYREST0001";
const READ_KEY = "READKEYREST00001";

describe("ThingSpeak link, rest mode (Node-RED writes and reads with the API keys)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });
  function link(options) {
    const l = createThingSpeakLink({ connection: "rest", id: "ts1", channelId: 1001, writeKey: WRITE_KEY, readKey: READ_KEY, http: { retries: 0 }, ...options });
    cleanups.push(() => l.close());
    return l;
  }
  async function server() {
    const s = await startHttpServer();
    cleanups.push(() => s.close());
    return s;
  }

  it("POSTs updates with the write key in a header, backs off after 429 and answer 0, and retries with the values merged", async function () {
    const s = await server();
    let id = 0;
    const answers = ["ok", "429", "0", "ok"];
    s.route("POST", "/update.json", (req, res) => {
      const a = answers.shift() ?? "ok";
      if (a === "429") return res.writeHead(429, { "Content-Type": "application/json" }).end(JSON.stringify({ status: "429", error: { error_code: "error_too_many_requests", message: "slow down" } }));
      if (a === "0") return res.writeHead(200, { "Content-Type": "application/json" }).end("0");
      id++;
      const fields = Object.fromEntries(new URLSearchParams(req.text));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(entry(1001, id, at(T0), fields)));
    });
    const clock = testClock();
    const time = manualTimers(clock);
    const l = link({ server: s.origin, now: clock.now, timers: time.timers, retryBackoff: { initialMs: 1000, maxMs: 60_000, jitter: 0 } });
    const got = collect(l);
    l.start();
    const first = await l.write({ field1: 1 });
    assert.deepEqual([first.entryId, first.entry.field1], [1, "1"]);
    const second = l.write(2, 1);
    await time.advance(15000);
    await untilStatus(l, (st) => st.pending?.writes === 1 && st.pending.nextInMs === 15000);
    const third = l.write({ field2: "b c" });
    await time.advance(15000);
    await until(() => s.requests.length === 3 && got.warnings.length === 2, 5000, "the answer 0");
    await time.advance(15000);
    const [r2, r3] = await Promise.all([second, third]);
    assert.equal(r2.entryId, 2);
    assert.equal(r3.coalesced, 2);
    assert.deepEqual(s.requests.map((r) => [r.method, r.path, r.text, r.headers.thingspeakapikey, r.rawQuery]), [
      ["POST", "/update.json", "field1=1", WRITE_KEY, ""],
      ["POST", "/update.json", "field1=2", WRITE_KEY, ""],
      ["POST", "/update.json", "field1=2&field2=b%20c", WRITE_KEY, ""],
      ["POST", "/update.json", "field1=2&field2=b%20c", WRITE_KEY, ""],
    ]);
    assert.match(got.warnings[0], /retrying in 15 s .*error_too_many_requests/);
    assert.match(got.warnings[1], /answer 0/);
    assert.ok(!JSON.stringify([got, s.requests.map((r) => r.url)]).includes(WRITE_KEY));
  });

  it("logs the first few retries of a refused update, then summarises the rest (on close at the latest)", async function () {
    const s = await server();
    let refusals = 8;
    s.route("POST", "/update.json", (req, res) => {
      if (refusals-- > 0) return res.writeHead(200, { "Content-Type": "application/json" }).end("0");
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(entry(1001, 1, at(T0), { field1: "1" })));
    });
    const clock = testClock();
    const time = manualTimers(clock);
    const l = link({ server: s.origin, now: clock.now, timers: time.timers, retryBackoff: { initialMs: 1000, maxMs: 1000, jitter: 0 } });
    const got = collect(l);
    l.start();
    const write = l.write(1, 1);
    for (let sent = 1; sent <= 8; sent++) {
      await until(() => s.requests.length === sent, 5000, `request ${sent}`);
      await untilStatus(l, (st) => st.pending?.writes === 1 && st.pending.nextInMs > 0);
      await time.advance(15000);
    }
    assert.equal((await write).entryId, 1);
    assert.equal(got.warnings.filter((w) => /retrying in/.test(w)).length, 3, "three retries reported one by one");
    await l.close();
    assert.match(got.warnings.at(-1), /^update not stored: 5 more like this were not reported one by one/);
  });

  it("sends a backlog of bulk writes as one bulk_update.json", async function () {
    const s = await server();
    s.reply("POST", "/update.json", 200, "1");
    s.reply("POST", "/channels/1001/bulk_update.json", 202, { success: true });
    const clock = testClock();
    const time = manualTimers(clock);
    const l = link({ server: s.origin, now: clock.now, timers: time.timers });
    l.start();
    await l.write(1, 1, { bulk: true });
    const later = [];
    for (const v of [2, 3]) {
      await time.advance(1000);
      later.push(l.write(v, 1, { bulk: true }));
    }
    await time.advance(13000);
    const receipts = await Promise.all(later);
    assert.ok(receipts.every((r) => r.bulk === true));
    const bulk = JSON.parse(s.requests[1].text);
    assert.equal(bulk.write_api_key, WRITE_KEY);
    assert.deepEqual(bulk.updates, [
      { created_at: new Date(T0 + 1000).toISOString().replace(".000Z", "Z"), field1: 2 },
      { created_at: new Date(T0 + 2000).toISOString().replace(".000Z", "Z"), field1: 3 },
    ]);
  });

  it("reads what was written through the self-hosted REST API; polling gives only new entry ids; wrong keys are refused", async function () {
    const ctx = await hostedBroker({ channels: [{ ...WEATHER, writeKey: WRITE_KEY, readKey: READ_KEY }] });
    cleanups.push(() => ctx.cleanup());
    const api = thingSpeakRestApi();
    const httpServer = http.createServer((req, res) => api(req, res, () => res.writeHead(404).end()));
    httpServer.listen(0, "127.0.0.1");
    await once(httpServer, "listening");
    cleanups.push(() => new Promise((resolve) => httpServer.close(resolve)));
    const origin = `http://127.0.0.1:${httpServer.address().port}`;
    const time = manualTimers(ctx.clock);
    const l = link({ server: origin, now: ctx.clock.now, timers: time.timers });
    l.start();

    assert.deepEqual(await l.readNew(), [], "an empty channel");
    const w1 = await l.write({ field1: 21.5, field2: 40 });
    assert.equal(w1.entryId, 1);
    ctx.clock.advance(15000);
    await l.write({ field2: 41 });
    const newest = await l.readNew();
    assert.deepEqual(newest.map((e) => e.entry_id), [2], "without a last id: the newest entry only");
    const since1 = await l.readNew(1);
    assert.deepEqual(since1.map((e) => [e.entry_id, e.field2]), [[2, "41"]]);
    assert.deepEqual(await l.readNew(2), [], "nothing new");
    const field1 = await l.readNew(0, 1);
    assert.deepEqual(field1.map((e) => [e.entry_id, e.field1]), [[1, "21.5"]], "entries without field 1 are skipped");

    const intruder = link({ server: origin, writeKey: "WRONGWRITEKEY001", readKey: "WRONGREADKEY0001" });
    intruder.start();
    await assert.rejects(intruder.write(1, 1), (err) => err.code === "auth" && /401/.test(err.message) && !err.message.includes("WRONGWRITEKEY001"));
    assert.equal(intruder.status.state, "auth-failed");
    await assert.rejects(intruder.readNew(), (err) => err.code === "auth" && !err.message.includes("WRONGREADKEY0001"));
  });

  it("sends a bulk backlog into a channel hosted by another Node-RED (its bulk_update.json)", async function () {
    const ctx = await hostedBroker({ channels: [{ ...WEATHER, writeKey: WRITE_KEY, readKey: READ_KEY }] });
    cleanups.push(() => ctx.cleanup());
    const api = thingSpeakRestApi();
    const httpServer = http.createServer((req, res) => api(req, res, () => res.writeHead(404).end()));
    httpServer.listen(0, "127.0.0.1");
    await once(httpServer, "listening");
    cleanups.push(() => new Promise((resolve) => httpServer.close(resolve)));
    const time = manualTimers(ctx.clock);
    const l = link({ server: `http://127.0.0.1:${httpServer.address().port}`, now: ctx.clock.now, timers: time.timers });
    l.start();
    await l.write(1, 1, { bulk: true });
    const later = [];
    for (const v of [2, 3]) {
      await time.advance(1000);
      later.push(l.write(v, 1, { bulk: true }));
    }
    await time.advance(13000);
    assert.ok((await Promise.all(later)).every((r) => r.bulk === true));
    assert.deepEqual(hostedEntries(WEATHER.id).map((e) => [e.entry_id, e.created_at, e.field1]), [
      [1, at(T0), "1"],
      [2, at(T0 + 1000), "2"],
      [3, at(T0 + 2000), "3"],
    ]);
  });
});
