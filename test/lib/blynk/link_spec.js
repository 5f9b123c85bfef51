"use strict";
// The Blynk link in mqtt mode against real aedes brokers over loopback (no Node-RED), plus the
// pure parts every mode shares: config parsing, status views and the event gate.
// No sleeps, no timing assertions: every step waits for the event it expects.
const assert = require("node:assert/strict");
const mqtt = require("mqtt");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { EventGate } = require("../../../dist/nodes/lib/blynk/link-events.js");
const { parseBlynkDevice, parsePins } = require("../../../dist/nodes/lib/blynk/link-config.js");
const { ConfigError } = require("../../../dist/nodes/lib/transport/link-config.js");
const { statusView } = require("../../../dist/nodes/lib/blynk/link-user.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");
const { unusedPort } = require("../fixtures/http-server.js");
const { inbox } = require("../fixtures/engine.js");
const { waitFor, untilStatus } = require("../../support/wait.js");
const { collect } = require("../../support/links.js");

const TOKEN = "LinkTok_0123456789abcdefghijklmn";
const FAST = { initialMs: 10, maxMs: 50 };

const is = (state) => (s) => s.state === state;

describe("Blynk link, mqtt mode (Node-RED is the device)", function () {
  const cleanups = [];
  const later = (fn) => cleanups.push(fn);
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function broker(options) {
    const b = await startBareBroker(options);
    later(() => b.close());
    return b;
  }
  async function watcher(url) {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
    later(() => client.endAsync(true));
    const box = inbox(client);
    await client.subscribeAsync("#");
    return { client, box };
  }
  function link(options) {
    const l = createBlynkLink({ connection: "mqtt", token: TOKEN, mqtt: { reconnect: FAST, authBackoff: FAST }, ...options });
    later(() => l.close());
    return l;
  }
  const subscribedTo = (aedes, filter) => waitFor(aedes, "subscribe", (subs) => subs.some((s) => s.topic === filter));

  it("connects as Blynk's documented device and announces itself with info/mcu", async function () {
    const connects = [];
    const b = await broker({ preConnect: (_client, packet, done) => (connects.push(packet), done(null, true)) });
    const w = await watcher(b.url);
    const l = link({ server: b.url, templateId: "TMPLtest01", firmwareVersion: "1.2.3" });
    const subscribed = subscribedTo(b.aedes, "downlink/#");
    const ready = waitFor(l, "ready");
    l.start();
    await Promise.all([subscribed, ready, untilStatus(l, is("connected"))]);
    const info = JSON.parse((await w.box.next("info/mcu")).payload);
    assert.equal(info.tmpl, "TMPLtest01");
    assert.equal(info.type, "TMPLtest01");
    assert.equal(info.ver, "1.2.3");
    assert.equal(info.rxbuff, 1024);
    assert.match(info.build, /^[A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2}$/);
    const packet = connects.find((p) => p.username === "device");
    assert.equal(packet.password.toString(), TOKEN);
    assert.equal(packet.keepalive, 45);
    assert.equal(packet.clean, true);
    assert.equal(packet.clientId, "");
    assert.equal(l.ready, true);
    assert.equal(l.server, b.url);
  });

  it("writes values, multi-values, batches, timestamped points, properties, erases and events on Blynk's topics", async function () {
    const b = await broker();
    const w = await watcher(b.url);
    const l = link({ server: b.url });
    l.start();
    await untilStatus(l, is("connected"));
    const ts = Date.now() - 60_000;
    await l.write("Temperature", 21.5);
    await l.write("Set Temperature", [1, "a", true]);
    await l.writeBatch({ Temperature: 22, Power: true, Location: [13.4, 52.52] });
    await l.writeTimestamped("Humidity", [[ts, 40], [new Date(ts + 1000), 41]]);
    await l.write("Humidity", 42, { timestamp: ts + 2000 });
    await l.setProperty("Temperature", "color", "#FF0000");
    await l.erase("Temperature", "color");
    await l.erase("Temperature");
    const receipt = await l.logEvent("overheat", "too hot");
    await l.write("done", 1);
    await w.box.next("ds/done");
    const got = w.box.messages.filter((m) => m.topic !== "info/mcu").map((m) => [m.topic, m.payload]);
    assert.deepEqual(got, [
      ["ds/Temperature", "21.5"],
      ["ds/Set Temperature", "1\u0000a\u00001"],
      ["batch_ds", JSON.stringify({ Temperature: 22, Power: true, Location: [13.4, 52.52] })],
      ["ds/Humidity/timestamped_batch", JSON.stringify([[ts, 40], [ts + 1000, 41]])],
      ["ds/Humidity/timestamped_batch", JSON.stringify([[ts + 2000, 42]])],
      ["ds/Temperature/prop/color", "#FF0000"],
      ["ds/Temperature/prop/color/erase", ""],
      ["ds/Temperature/erase", ""],
      ["event/overheat", "too hot"],
      ["ds/done", "1"],
    ]);
    assert.equal(receipt.delayedMs, 0);
    assert.equal(receipt.today, 1);
  });

  it("refuses invalid names and empty or oversize values before sending anything", async function () {
    const b = await broker();
    const w = await watcher(b.url);
    const l = link({ server: b.url });
    l.start();
    await untilStatus(l, is("connected"));
    const refusals = [
      [() => l.write("a/b", 1), "invalid", /datastream name/],
      [() => l.write("", 1), "invalid", /datastream name/],
      [() => l.write("Big", "x".repeat(1025)), "too-large", /1024 bytes/],
      [() => l.write("Obj", { a: 1 }), "invalid", /accepted/],
      [() => l.write("Empty", []), "invalid", /empty array/],
      [() => l.writeBatch({}), "invalid", /at least one datastream/],
      [() => l.writeBatch({ Location: [52.52, 113.4] }), "invalid", /longitude first/],
      [() => l.writeTimestamped("T", [[1, 2]]), "invalid", /days before now/],
      [() => l.setProperty("T", "bad-prop", 1), "invalid", /property name/],
      [() => l.logEvent("bad code", "x"), "invalid", /event code/],
      [() => l.sync({ datastreams: ["a#b"] }), "invalid", /datastream name/],
    ];
    for (const [call, code, message] of refusals) {
      await assert.rejects(call(), (err) => err.code === code && message.test(err.message));
    }
    await l.write("sentinel", 1);
    await w.box.next("ds/sentinel");
    assert.deepEqual(w.box.messages.map((m) => m.topic), ["ds/sentinel"]);
  });

  it("emits downlinks: numbers as numbers, multi-values as arrays with the raw text, system messages; ping is only acknowledged", async function () {
    const b = await broker();
    const w = await watcher(b.url);
    const l = link({ server: b.url });
    const got = collect(l);
    const subscribed = subscribedTo(b.aedes, "downlink/#");
    l.start();
    await subscribed;
    const utc = { tz_name: "Europe/Berlin", tz_rule: "CET-1CEST,M3.5.0,M10.5.0/3", tz_offset: 60, dst_offset: 0, time: 1705667130000, iso8601: "2024-01-19T13:25:30+01:00" };
    await w.client.publishAsync("downlink/ping", "", { qos: 1 });
    await w.client.publishAsync("downlink/ds/Power", "1", { qos: 1 });
    await w.client.publishAsync("downlink/ds/Color", "255\u0000128\u00000");
    await w.client.publishAsync("downlink/ds/Label", "007");
    await w.client.publishAsync("downlink/utc/all/json", JSON.stringify(utc));
    await w.client.publishAsync("downlink/loc/all", "52.52,13.4");
    await w.client.publishAsync("downlink/meta/Serial", "SN-1");
    await w.client.publishAsync("downlink/reboot", "");
    await w.client.publishAsync("downlink/diag", "too many messages");
    await w.client.publishAsync("downlink/whatever", "x");
    await got.next((m) => m.topic === "$system/unknown", "the last downlink");
    const summary = got.incoming.map((m) => (m.kind === "value" ? [m.datastream, m.value, m.text, m.source] : [m.topic, m.value]));
    assert.deepEqual(summary, [
      ["Power", 1, "1", "cloud"],
      ["Color", [255, 128, 0], "255\u0000128\u00000", "cloud"],
      ["Label", "007", "007", "cloud"],
      ["$system/utc", utc],
      ["$system/loc", { lat: 52.52, lon: 13.4 }],
      ["$system/meta/Serial", "SN-1"],
      ["$system/reboot", null],
      ["$system/diag", "too many messages"],
      ["$system/unknown", "x"],
    ]);
    assert.ok(got.warnings.some((w) => w.includes("too many messages")), "diag is logged as a warning");
  });

  it("asks for current values: one get/ds per turn for the names asked, get/ds/all, time and location", async function () {
    const b = await broker();
    const w = await watcher(b.url);
    const l = link({ server: b.url });
    l.start();
    await untilStatus(l, is("connected"));
    assert.deepEqual(await Promise.all([l.sync({ datastreams: ["Power"] }), l.sync({ datastreams: ["Set Temperature", "Power"] })]), [[], []]);
    await l.sync();
    await l.sync({ datastreams: ["Power"], system: true });
    await l.write("done", 1);
    await w.box.next("ds/done");
    const got = w.box.messages.map((m) => [m.topic, m.payload]);
    assert.deepEqual(got, [
      ["get/ds", "Power,Set Temperature"],
      ["get/ds/all", ""],
      ["get/ds", "Power"],
      ["get/utc/all/json", ""],
      ["get/loc/all", ""],
      ["ds/done", "1"],
    ]);
  });

  it("follows downlink/redirect to another broker, reconnecting there with the same credentials", async function () {
    const second = await broker();
    const first = await broker();
    first.aedes.on("subscribe", (subs) => {
      if (!subs.some((s) => s.topic === "downlink/#")) return;
      setImmediate(() => first.aedes.publish({ cmd: "publish", topic: "downlink/redirect", payload: Buffer.from(second.url), qos: 0, retain: false, dup: false }, () => {}));
    });
    const w2 = await watcher(second.url);
    const l = link({ server: first.url, templateId: "TMPLtest01" });
    const got = collect(l);
    const redirected = waitFor(l, "redirected");
    const onSecond = subscribedTo(second.aedes, "downlink/#");
    l.start();
    assert.deepEqual(await redirected, { server: second.url });
    await onSecond;
    await w2.box.next("info/mcu");
    await untilStatus(l, is("connected"));
    assert.equal(l.server, second.url);
    await l.write("Temperature", 20);
    await w2.box.next("ds/Temperature");
    assert.ok(got.incoming.some((m) => m.topic === "$system/redirect" && m.value === second.url));
  });

  it("reports a refused token as auth-failed without ever showing the token", async function () {
    const b = await broker({
      authenticate: (_client, _username, _password, done) => {
        const err = new Error("bad token");
        err.returnCode = 4;
        done(err, false);
      },
    });
    const l = link({ server: b.url });
    const got = collect(l);
    l.start();
    const status = await untilStatus(l, is("auth-failed"));
    assert.match(status.reason, /user ?name or password|credentials|not authori[sz]ed/i);
    assert.equal(statusView(status, "mqtt").key, "auth-failed");
    assert.doesNotMatch(JSON.stringify([got, l.status]), new RegExp(TOKEN));
  });

  it("keeps writes while disconnected and says how many wait", async function () {
    // A slow reconnect keeps the link disconnected (not connecting again) while the write is queued.
    const slow = { initialMs: 60_000, maxMs: 60_000 };
    const l = link({ server: `mqtt://127.0.0.1:${await unusedPort()}`, mqtt: { reconnect: slow, authBackoff: slow } });
    l.start();
    await untilStatus(l, is("disconnected"));
    await l.write("Temperature", 1);
    const status = await untilStatus(l, (s) => s.queued === 1);
    assert.deepEqual(statusView(status, "mqtt"), { fill: "red", shape: "ring", key: "no-connection-queued", params: { count: 1 } });
    await l.close();
    assert.equal(l.status.state, "closed");
    await assert.rejects(l.write("Temperature", 2), (err) => err.code === "closed");
  });
});

describe("Blynk event gate (1 s per code, 100 a day)", function () {
  it("delays an event that comes too early to its slot and says so first", async function () {
    let now = 1_000_000;
    const gate = new EventGate({ now: () => now, minIntervalMs: 20 });
    assert.deepEqual(await gate.pass("a"), { delayedMs: 0, today: 1, dailyLimit: 100 });
    const delays = [];
    const second = await gate.pass("a", (ms) => delays.push(ms));
    assert.deepEqual(delays, [20]);
    assert.equal(second.delayedMs, 20);
    assert.equal((await gate.pass("b")).delayedMs, 0, "other codes do not wait");
    now += 1000;
    assert.equal((await gate.pass("a")).delayedMs, 0);
  });

  it("refuses beyond the waiting limit per code, and rejects waiting events on close", async function () {
    const gate = new EventGate({ now: () => 0, minIntervalMs: 60_000, maxPending: 1 });
    await gate.pass("a");
    const waiting = gate.pass("a");
    await assert.rejects(gate.pass("a"), (err) => err.code === "rate-limited" && /one event per code every 60 s/.test(err.message));
    gate.close();
    await assert.rejects(waiting, (err) => err.code === "closed");
    await assert.rejects(gate.pass("b"), (err) => err.code === "closed");
  });

  it("counts the events of the last 24 hours against the daily limit", async function () {
    let now = 0;
    const gate = new EventGate({ now: () => now, perDay: 2 });
    assert.equal((await gate.pass("a")).today, 1);
    assert.equal((await gate.pass("b")).today, 2);
    const third = await gate.pass("c");
    assert.ok(third.today > third.dailyLimit);
    now += 24 * 60 * 60 * 1000 + 1;
    assert.equal((await gate.pass("a")).today, 1);
  });
});

describe("blynk-device settings", function () {
  const creds = { token: TOKEN };
  it("parses each mode with its defaults", function () {
    assert.deepEqual(parseBlynkDevice("n1", { connection: "mqtt", server: "" }, creds), { connection: "mqtt", token: TOKEN, name: "n1", server: "mqtts://blynk.cloud:8883" });
    assert.deepEqual(parseBlynkDevice("n1", { name: "Pi", connection: "https", server: "https://fra1.blynk.cloud/" }, creds), {
      connection: "https", token: TOKEN, name: "Pi", server: "https://fra1.blynk.cloud",
    });
    assert.deepEqual(parseBlynkDevice("n1", { connection: "local", broker: "b1", timeZone: "Europe/Berlin", pins: "V1=Temperature, v2 = Set Humidity", templateId: "TMPL1", firmwareVersion: "2" }, creds), {
      connection: "local", token: TOKEN, name: "n1", templateId: "TMPL1", firmwareVersion: "2", broker: "b1", deviceId: "n1", timeZone: "Europe/Berlin",
      pins: { v1: "Temperature", v2: "Set Humidity" },
    });
    // syncOnConnect: a checkbox (true), or "true" in a hand-written flow; anything else is off, and only local mode has it.
    const local = { connection: "local", broker: "b1" };
    assert.equal(parseBlynkDevice("n1", { ...local, syncOnConnect: true }, creds).syncOnConnect, true);
    assert.equal(parseBlynkDevice("n1", { ...local, syncOnConnect: "true" }, creds).syncOnConnect, true);
    for (const off of [false, "false", "yes", undefined]) assert.equal("syncOnConnect" in parseBlynkDevice("n1", { ...local, syncOnConnect: off }, creds), false, String(off));
    assert.equal("syncOnConnect" in parseBlynkDevice("n1", { connection: "mqtt", syncOnConnect: true }, creds), false);
  });

  it("names every problem with a catalog key and no secret", function () {
    const cases = [
      [{ connection: "mqtt" }, {}, "missing-token"],
      [{ connection: "mqtt" }, { token: "has space" }, "invalid-token"],
      [{ connection: "carrier-pigeon" }, creds, "invalid-connection"],
      [{ connection: "mqtt", server: "https://blynk.cloud" }, creds, "invalid-mqtt-server"],
      [{ connection: "https", server: "mqtts://blynk.cloud:8883" }, creds, "invalid-https-server"],
      [{ connection: "mqtt", server: "mqtt://device:secret@host" }, creds, "server-credentials"],
      [{ connection: "local" }, creds, "missing-broker"],
      [{ connection: "local", broker: "b1", timeZone: "Mars/Olympus" }, creds, "invalid-time-zone"],
      [{ connection: "local", broker: "b1", pins: "V1" }, creds, "invalid-pins"],
      [{ connection: "local", broker: "b1", pins: "X1=Temp" }, creds, "invalid-pins"],
    ];
    for (const [props, credentials, key] of cases) {
      assert.throws(() => parseBlynkDevice("n1", props, credentials), (err) => err instanceof ConfigError && err.key === key && !err.message.includes("secret"), key);
    }
    assert.deepEqual(parsePins(""), {});
  });

  it("turns link states into node status views", function () {
    const table = [
      [{ state: "connecting", queued: 0 }, "mqtt", { fill: "yellow", shape: "ring", key: "connecting" }],
      [{ state: "connected", queued: 0 }, "mqtt", { fill: "green", shape: "dot", key: "connected" }],
      [{ state: "connected", queued: 3 }, "mqtt", { fill: "green", shape: "dot", key: "connected-queued", params: { count: 3 } }],
      [{ state: "disconnected", reason: "gone", queued: 0 }, "mqtt", { fill: "red", shape: "ring", key: "no-connection" }],
      [{ state: "auth-failed", queued: 0 }, "https", { fill: "red", shape: "ring", key: "auth-failed" }],
      [{ state: "connected", queued: 0, deviceOnline: true }, "local", { fill: "green", shape: "dot", key: "device-online" }],
      [{ state: "connected", queued: 0, deviceOnline: false }, "local", { fill: "yellow", shape: "ring", key: "device-offline" }],
      [{ state: "connected", queued: 0, deviceOnline: false }, "https", { fill: "green", shape: "ring", key: "device-offline" }],
      [{ state: "disconnected", reason: "stopped", queued: 0 }, "local", { fill: "red", shape: "ring", key: "broker-stopped" }],
      [{ state: "closed", queued: 0 }, "mqtt", undefined],
    ];
    for (const [status, connection, view] of table) assert.deepEqual(statusView(status, connection), view, JSON.stringify(status));
  });
});
