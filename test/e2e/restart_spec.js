"use strict";
// Restarting a real Node-RED (its CLI, in a child process) on the same userDir with a broker on
// `sqlite` (issue 10, "What persists"): each round writes everything the broker keeps, through
// devices (MQTT, HTTP) and flows, stops Node-RED (SIGTERM; then kill -9 in the middle of a write
// burst) and starts it again, and checks it all: MQTT retained messages, persistent sessions
// with their queued QoS 1 messages (MQTT 5 properties too) and wills (a delayed one too); Blynk
// datastream values, widget properties, metadata, device info and last seen; ThingsBoard client
// and shared attributes and latest telemetry; ThingSpeak's feed with continuing entry ids,
// status and location; and the history of every value, with its time. After kill -9 exactly
// what was acknowledged (QoS 1 PUBACK, HTTP 200) must be there. One Node-RED process at a time
// for the whole describe; the flow is test/lib/fixtures/restart-flows.js.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { prepareUserDir, startNodeRed, stopNodeRed } = require("../lib/fixtures/node-red-process.js");
const { BLYNK_TOKEN, TB_TOKEN, TS, CHANNEL, BROKER_MODULE, restartFlows, credentials } = require("../lib/fixtures/restart-flows.js");
const { until, waitFor } = require("../support/wait.js");

/** Acknowledged writes each burst writer makes at least before Node-RED is killed. */
const BURST_ACKS = 20;

describe("Node-RED restarts with a broker on sqlite (real Node-RED process)", function () {
  this.timeout(180_000);
  let userDir;
  let running;
  let mqttUrl;
  let httpBase;
  const clients = [];
  /** Every value written so far per history stream, each with the times it was sent between: {value, from, to}. */
  const sent = { blynk: { Temperature: [], Humidity: [], Power: [] }, tb: { temperature: [], humidity: [] }, ts: { field1: [], field2: [] } };
  /** ThingSpeak entries acknowledged so far: id -> {field1|field2, status, latitude}. */
  const entries = new Map();

  before(async function () {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-restart-"));
    const [uiPort, mqttPort] = [await freePort(), await freePort()];
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    httpBase = `http://127.0.0.1:${uiPort}`;
    prepareUserDir(userDir, { uiPort, flows: restartFlows(mqttPort), credentials, globals: { iotBroker: BROKER_MODULE } });
    await start();
    assert.ok(fs.existsSync(path.join(userDir, "iot-bridge", "b1.sqlite")), "the database is <userDir>/iot-bridge/<broker id>.sqlite");
  });

  afterEach(async function () {
    await closeClients();
  });

  after(async function () {
    await closeClients();
    if (running) await stopNodeRed(running.child, "SIGKILL");
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  function closeClients() {
    return Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  }

  /** Starts Node-RED and waits until its broker hosts the Blynk device (the last thing a start does). */
  async function start() {
    running = await startNodeRed(userDir);
    await until(async () => {
      const c = await connect(mqttUrl, { username: "device", password: BLYNK_TOKEN, clientId: "" }).catch(() => undefined);
      await c?.endAsync(true);
      return c !== undefined;
    }, 20_000, "the broker to host the Blynk device");
  }

  async function client(options) {
    const c = await connect(mqttUrl, options);
    c.on("error", () => undefined); // Node-RED is stopped under some of them
    clients.push(c);
    return c;
  }

  const blynk = () => client({ username: "device", password: BLYNK_TOKEN, clientId: "" });
  const thingsboard = () => client({ username: TB_TOKEN, clientId: "thermostat" });
  const get = async (url) => {
    const res = await fetch(httpBase + url);
    assert.equal(res.status, 200, `${url}: ${res.status}`);
    return res;
  };
  const probe = async (what, query = "") => (await get(`/probe?what=${what}${query}`)).json();
  const flush = () => probe("flush");
  const blynkApi = (op, query) => fetch(`${httpBase}/external/api/${op}?token=${BLYNK_TOKEN}&${query}`);
  const tbTelemetry = (values) => fetch(`${httpBase}/api/v1/${TB_TOKEN}/telemetry`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(values) });
  /** A ThingSpeak REST update; resolves with the new entry id (0 when refused: within the channel's interval). */
  const tsUpdate = async (query) => Number(await (await fetch(`${httpBase}/update?api_key=${TS.writeKey}&${query}`)).text());
  /** A ThingSpeak update once the channel's interval allows it: its entry id. */
  async function tsEntry(query) {
    let id = 0;
    await until(async () => (id = await tsUpdate(query)) > 0, 10_000, "the ThingSpeak update to be accepted");
    return id;
  }
  const feed = async () => (await get(`/channels/${CHANNEL}/feeds.json?api_key=${TS.readKey}&results=8000&status=true&location=true`)).json();

  /** A write between two clock readings, recorded as history to find again. */
  async function timed(list, value, write) {
    const from = Date.now();
    const result = await write();
    list.push({ value, from, to: Date.now() });
    return result;
  }

  /** Round `r`: everything the broker keeps, written by devices and flows; resolves with what to check. */
  async function write(r) {
    const rec = { r, t0: Date.now() };
    // MQTT: a retained message, QoS 1 messages queued for offline persistent sessions (3.1.1 and 5).
    const sleeper = await client({ clientId: "sleeper", clean: false });
    await sleeper.subscribeAsync("queued/#", { qos: 1 });
    await sleeper.endAsync();
    const v5 = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } };
    const sleeper5 = await client({ ...v5, clientId: "sleeper5" });
    await sleeper5.subscribeAsync("queued5/#", { qos: 1 });
    await sleeper5.endAsync();
    const publisher = await client({ clientId: "publisher", protocolVersion: 5 });
    await publisher.publishAsync("state/round", String(r), { qos: 1, retain: true });
    for (const n of [1, 2]) await publisher.publishAsync("queued/x", `r${r}m${n}`, { qos: 1 });
    await publisher.publishAsync("queued5/x", `r${r}`, { qos: 1, properties: { userProperties: { round: String(r) }, contentType: "text/plain" } });
    // Wills of clients that stay connected until Node-RED stops: one at once, one delayed (MQTT 5).
    await client({ clientId: "mortal", clean: false, will: { topic: "will/mortal", payload: Buffer.from(`gone ${r}`), qos: 1, retain: true } });
    await client({ ...v5, clientId: "delayed", will: { topic: "will/delayed", payload: Buffer.from(`late ${r}`), qos: 1, retain: true, properties: { willDelayInterval: 1 } } });

    // Blynk: the device's value, widget property, metadata and info; a value through the HTTPS API; one from a flow.
    rec.blynkSeenFrom = Date.now();
    const device = await blynk();
    await timed(sent.blynk.Temperature, 20 + r + 0.5, () => device.publishAsync("ds/Temperature", `${20 + r}.5`, { qos: 1 }));
    await device.publishAsync("ds/Temperature/prop/label", `Inside ${r}`, { qos: 1 });
    await device.publishAsync("meta/Serial", `SN-${r}`, { qos: 1 });
    await device.publishAsync("info/mcu", JSON.stringify({ ver: `${r}.0`, build: `b${r}`, rxbuff: 1024 }), { qos: 1 });
    const humidity = await timed(sent.blynk.Humidity, 40 + r, () => blynkApi("update", `v2=${40 + r}`));
    assert.equal(humidity.status, 200);

    // ThingsBoard: a client attribute and telemetry from the device (MQTT and HTTP).
    const tb = await thingsboard();
    await tb.publishAsync("v1/devices/me/attributes", JSON.stringify({ firmware: `1.${r}` }), { qos: 1 });
    await timed(sent.tb.temperature, 20 + r, () => tb.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temperature: 20 + r }), { qos: 1 }));
    assert.equal((await timed(sent.tb.humidity, 50 + r, () => tbTelemetry({ humidity: 50 + r }))).status, 200);

    // Flows: a Blynk value, a ThingsBoard shared attribute, a ThingSpeak field (entries go one per interval).
    const from = Date.now();
    const answer = await fetch(`${httpBase}/write`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ blynk: { Power: r }, tbShared: { mode: `eco-${r}` }, tsField2: r * 10 }) });
    assert.equal(answer.status, 200);
    const flowEntry = await waitForFeed((f) => f.feeds.find((e) => e.field2 === String(r * 10)));
    entries.set(flowEntry.entry_id, { field2: String(r * 10) });
    // Stored once the flow nodes handed them on; durable once the store flushed.
    await until(async () => (await probe("state", "&plugin=thingsboard&device=tb&section=shared")).some((e) => e.key === "mode" && e.value === `eco-${r}`), 5000, "the shared attribute");
    await flush();
    const to = Date.now();
    sent.blynk.Power.push({ value: r, from, to });
    sent.ts.field2.push({ value: r * 10, from, to });

    // ThingSpeak: a REST update with status and location.
    const id = await timed(sent.ts.field1, r, () => tsEntry(`field1=${r}&status=${encodeURIComponent(`status ${r}`)}&lat=52.5&long=13.${r}`));
    entries.set(id, { field1: String(r), status: `status ${r}`, latitude: "52.5", longitude: `13.${r}` });
    rec.lastEntry = Math.max(...entries.keys());
    return rec;
  }

  async function waitForFeed(pick) {
    let found;
    await until(async () => (found = pick(await feed())) !== undefined, 10_000, "the entry in the feed");
    return found;
  }

  /**
   * Writers that go on until Node-RED is killed: MQTT QoS 1 (a retained message, a queued one),
   * the Blynk device (MQTT) and HTTPS API, ThingsBoard telemetry (MQTT, HTTP), ThingSpeak REST
   * updates. Each keeps what was acknowledged; Node-RED is killed once each has BURST_ACKS
   * (ThingSpeak: 2), with a write of each in flight.
   */
  async function burstThenKill() {
    const acked = { queued: [], retained: [], blynk: [], blynkHttp: [], tb: [], tbHttp: [], ts: [] };
    let killed = false;
    const device = await blynk();
    const tb = await thingsboard();
    const publisher = await client({ clientId: "burster" });
    // Paced under the hosted devices' rate limits (Blynk 50/s, ThingsBoard 100/s per device),
    // over which messages are dropped by design: a load generator's pace, not a synchronisation.
    const loop = async (write, perSecond) => {
      for (let i = 0; !killed; i++) {
        const next = Date.now() + 1000 / perSecond;
        try {
          await write(i);
        } catch {
          return; // Node-RED is gone
        }
        const wait = next - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    };
    /** An HTTP write: true once answered 200 (a 429 or 503 is not an acknowledgement). */
    const ok = (res) => res.status === 200;
    const writers = [
      loop(async (i) => {
        await publisher.publishAsync("queued/x", `b${i}`, { qos: 1 });
        acked.queued.push(i);
        await publisher.publishAsync("state/round", String(1000 + i), { qos: 1, retain: true });
        acked.retained.push(1000 + i);
      }, 200),
      loop(async (i) => {
        const from = Date.now();
        await device.publishAsync("ds/Temperature", String(100 + i), { qos: 1 });
        acked.blynk.push({ value: 100 + i, from, to: Date.now() });
      }, 30),
      loop(async (i) => {
        const from = Date.now();
        if (ok(await blynkApi("update", `v2=${200 + i}`))) acked.blynkHttp.push({ value: 200 + i, from, to: Date.now() });
      }, 30),
      loop(async (i) => {
        const from = Date.now();
        await tb.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temperature: 300 + i }), { qos: 1 });
        acked.tb.push({ value: 300 + i, from, to: Date.now() });
      }, 40),
      loop(async (i) => {
        const from = Date.now();
        if (ok(await tbTelemetry({ humidity: 400 + i }))) acked.tbHttp.push({ value: 400 + i, from, to: Date.now() });
      }, 40),
      loop(async (i) => {
        const from = Date.now();
        const id = await tsUpdate(`field1=${500 + i}`);
        if (id > 0) acked.ts.push({ id, value: 500 + i, from, to: Date.now() });
      }, 20),
    ];
    await until(
      () => ["queued", "blynk", "blynkHttp", "tb", "tbHttp"].every((k) => acked[k].length >= BURST_ACKS) && acked.ts.length >= 2,
      60_000,
      "acknowledged writes from every writer",
    );
    const result = await stopNodeRed(running.child, "SIGKILL");
    killed = true;
    assert.equal(result.signal, "SIGKILL");
    // What was acknowledged up to the kill (a writer's last write may have been answered just before).
    const snapshot = Object.fromEntries(Object.entries(acked).map(([k, list]) => [k, [...list]]));
    await closeClients(); // fails the publishes still waiting for a PUBACK, so the writers end
    await Promise.all(writers);
    sent.blynk.Temperature.push(...snapshot.blynk);
    sent.blynk.Humidity.push(...snapshot.blynkHttp);
    sent.tb.temperature.push(...snapshot.tb);
    sent.tb.humidity.push(...snapshot.tbHttp);
    for (const e of snapshot.ts) {
      sent.ts.field1.push(e);
      entries.set(e.id, { field1: String(e.value) });
    }
    return snapshot;
  }

  /**
   * Every point of `expected` is in `points` ({ts, value}, oldest first): same value, a time within
   * its write (to `resolutionMs`: ThingSpeak's created_at has whole seconds), in order.
   */
  function assertHistory(points, expected, what, resolutionMs = 1) {
    let at = 0;
    for (const e of expected) {
      const found = points.findIndex((p, i) => i >= at && p.value === e.value && p.ts >= e.from - resolutionMs && p.ts <= e.to + 1);
      assert.ok(found >= 0, `${what}: ${e.value} written between ${e.from} and ${e.to} is not in the history (after point ${at}): ${JSON.stringify(points.slice(-10))}`);
      at = found + 1;
    }
  }

  /** Blynk's data/get: the link, then the CSV it names ("<ms>,<value>" rows, oldest first). */
  async function blynkHistory(pin) {
    const res = await blynkApi("data/get", `pin=${pin}&period=DAY`);
    assert.equal(res.status, 200);
    const { link } = await res.json();
    const csv = await (await fetch(link)).text();
    return csv.trim().split("\n").map((row) => {
      const [ts, value] = row.split(",");
      return { ts: Number(ts), value: Number(value) };
    });
  }

  for (const [r, stop] of [[1, "SIGTERM"], [2, "SIGKILL"]]) {
    describe(stop === "SIGTERM" ? "after a SIGTERM stop" : "after kill -9 during a write burst", function () {
      let rec;
      let burst;

      before(async function () {
        rec = await write(r);
        if (stop === "SIGTERM") {
          await closeClients();
          const stopped = await stopNodeRed(running.child, "SIGTERM");
          assert.equal(stopped.code, 0, running.output());
        } else {
          burst = await burstThenKill();
        }
        await start();
      });

      it("MQTT: retained messages, persistent sessions (subscriptions, queued QoS 1 messages, MQTT 5 properties) and wills (a delayed one too)", async function () {
        const reader = await client({ clientId: "reader" });
        const box = inbox(reader);
        const mortal = waitFor(reader, "message", (topic, payload) => topic === "will/mortal" && payload.toString() === `gone ${r}`);
        const delayed = waitFor(reader, "message", (topic, payload) => topic === "will/delayed" && payload.toString() === `late ${r}`, 10_000);
        await reader.subscribeAsync(["state/#", "will/#"], { qos: 1 });
        const retained = Number((await box.next("state/round")).payload);
        if (burst === undefined) assert.equal(retained, r, "the retained message is there");
        else assert.ok(retained >= Math.max(...burst.retained), `the retained message ${retained} is the last acknowledged one or a later one`);
        await mortal; // the will of a client connected as Node-RED stopped
        await delayed; // published after its delay, counted from the start

        // The session's subscription itself survived: a message published now is queued for it too.
        const publisher = await client({ clientId: "publisher" });
        await publisher.publishAsync("queued/x", `after ${r}`, { qos: 1 });
        const back = mqtt.connect(mqttUrl, { clientId: "sleeper", clean: false, reconnectPeriod: 0 });
        clients.push(back);
        const queued = [];
        back.on("message", (_topic, payload) => queued.push(payload.toString()));
        assert.equal((await waitFor(back, "connect")).sessionPresent, true, "the persistent session is there");
        const expected = [`r${r}m1`, `r${r}m2`, ...(burst?.queued ?? []).map((i) => `b${i}`), `after ${r}`];
        await until(() => expected.every((m) => queued.includes(m)), 10_000, "the queued messages");
        assert.deepEqual(queued.filter((m) => expected.includes(m)), expected, "in order");

        const back5 = mqtt.connect(mqttUrl, { clientId: "sleeper5", protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
        clients.push(back5);
        const got5 = waitFor(back5, "message", (topic) => topic === "queued5/x");
        assert.equal((await waitFor(back5, "connect")).sessionPresent, true);
        const [, payload, packet] = await got5;
        assert.equal(payload.toString(), `r${r}`);
        assert.deepEqual({ ...packet.properties.userProperties }, { round: String(r) }, "MQTT 5 properties of a queued message");
        assert.equal(packet.properties.contentType, "text/plain");
      });

      it("Blynk: datastream values (get/ds, HTTPS get), widget properties, metadata, device info and last seen", async function () {
        // What the flow's blynk-device-in emitted at start: the stored state, before the device is back.
        let seen = [];
        const has = (topic, pick = () => true) => seen.find((m) => m.topic === topic && pick(m));
        await until(async () => {
          seen = await probe("seen");
          return has("$system/online") !== undefined && has("$system/info") !== undefined;
        }, 10_000, "the blynk-device-in's messages after the start");
        const online = has("$system/online");
        assert.equal(online.payload, false);
        assert.ok(online.blynk.lastSeen >= rec.blynkSeenFrom, `last seen ${online.blynk.lastSeen} >= ${rec.blynkSeenFrom}`);
        assert.deepEqual(has("$system/info").payload, { ver: `${r}.0`, build: `b${r}`, rxbuff: 1024 });
        await until(async () => {
          seen = await probe("seen");
          return has("Temperature", (m) => m.blynk.property === "label") !== undefined;
        }, 10_000, "the sync once the broker serves the device");
        assert.equal(has("Temperature", (m) => m.blynk.property === "label").payload, `Inside ${r}`, "the widget property");
        const synced = has("Temperature", (m) => m.blynk.sync === true && m.blynk.property === undefined)?.payload;
        if (burst === undefined) assert.equal(synced, 20 + r + 0.5, "the stored value, synced at start");
        else assert.ok(synced >= burst.blynk.at(-1).value, `synced ${synced}`);
        assert.equal(has("$system/meta/Serial")?.payload, `SN-${r}`);

        const device = await blynk();
        await device.subscribeAsync("downlink/#");
        const box = inbox(device);
        await device.publishAsync("get/ds", "Temperature,Power", { qos: 1 });
        await device.publishAsync("get/meta", "Serial", { qos: 1 });
        const temperature = Number((await box.next("downlink/ds/Temperature")).payload);
        if (burst === undefined) assert.equal(temperature, 20 + r + 0.5, "get/ds answers the earlier value");
        else assert.ok(temperature >= burst.blynk.at(-1).value, `${temperature}: the last acknowledged value or a later one`);
        assert.equal(Number((await box.next("downlink/ds/Power")).payload), r, "the value a flow wrote");
        assert.equal((await box.next("downlink/meta/Serial")).payload, `SN-${r}`);
        const viaHttp = Number(await (await blynkApi("get", "v2")).text());
        if (burst === undefined) assert.equal(viaHttp, 40 + r);
        else assert.ok(viaHttp >= burst.blynkHttp.at(-1).value);
      });

      it("ThingsBoard: client and shared attributes (attribute requests answered) and latest telemetry", async function () {
        const tb = await thingsboard();
        const response = waitFor(tb, "message", (topic) => topic === "v1/devices/me/attributes/response/7");
        await tb.subscribeAsync("v1/devices/me/attributes/response/+", { qos: 1 });
        await tb.publishAsync("v1/devices/me/attributes/request/7", JSON.stringify({ clientKeys: "firmware", sharedKeys: "mode" }), { qos: 1 });
        assert.deepEqual(JSON.parse((await response)[1].toString()), { client: { firmware: `1.${r}` }, shared: { mode: `eco-${r}` } });
        const latest = Object.fromEntries((await probe("state", "&plugin=thingsboard&device=tb&section=telemetry")).map((e) => [e.key, e.value]));
        if (burst === undefined) assert.deepEqual(latest, { temperature: 20 + r, humidity: 50 + r });
        else {
          assert.ok(latest.temperature >= burst.tb.at(-1).value, `temperature ${latest.temperature}`);
          assert.ok(latest.humidity >= burst.tbHttp.at(-1).value, `humidity ${latest.humidity}`);
        }
      });

      it("ThingSpeak: the feed with every entry, entry ids that continue, status and location", async function () {
        const before = await feed();
        const ids = before.feeds.map((f) => f.entry_id);
        for (const [id, fields] of entries) {
          const entry = before.feeds.find((f) => f.entry_id === id);
          assert.ok(entry !== undefined, `entry ${id} was acknowledged but is not in the feed`);
          for (const [key, value] of Object.entries(fields)) assert.equal(entry[key], value, `entry ${id} ${key}`);
        }
        assert.deepEqual(ids, Array.from({ length: ids.length }, (_, i) => i + 1), "entry ids 1..n");
        const status = await (await get(`/channels/${CHANNEL}/status.json?api_key=${TS.readKey}`)).json();
        assert.ok(status.feeds.some((f) => f.status === `status ${r}`), JSON.stringify(status.feeds.slice(-3)));
        const next = await tsEntry(`field1=${r + 100}`);
        assert.equal(next, ids.at(-1) + 1, "the channel's entry ids continue");
        entries.set(next, { field1: String(r + 100) });
        sent.ts.field1.push({ value: r + 100, from: 0, to: Date.now() });
      });

      it("history: every value devices sent and flows wrote, with its time", async function () {
        assertHistory(await blynkHistory("v1"), sent.blynk.Temperature, "Blynk Temperature (device, MQTT)");
        assertHistory(await blynkHistory("v2"), sent.blynk.Humidity, "Blynk Humidity (HTTPS API)");
        assertHistory(await blynkHistory("v3"), sent.blynk.Power, "Blynk Power (a flow)");
        const history = (plugin, device, stream) => probe("history", `&plugin=${plugin}&device=${device}&stream=${stream}`);
        assertHistory(await history("thingsboard", "tb", "temperature"), sent.tb.temperature, "ThingsBoard temperature (MQTT)");
        assertHistory(await history("thingsboard", "tb", "humidity"), sent.tb.humidity, "ThingsBoard humidity (HTTP)");
        assertHistory(await history("thingspeak", "ts", "field1"), sent.ts.field1, "ThingSpeak field1 (REST)", 1000);
        assertHistory(await history("thingspeak", "ts", "field2"), sent.ts.field2, "ThingSpeak field2 (a flow)", 1000);
        assert.doesNotMatch(running.output(), /\[error\]/);
      });
    });
  }
});
