"use strict";
// Whole Blynk flows over loopback: an iot-broker node hosting a device (local mode), Node-RED
// as a Blynk device over MQTT on that broker, a plain MQTT.js client as the device, the
// redirect a Blynk broker sends, and the self-hosted HTTPS API used by an https-mode device.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until, waitFor } = require("../support/wait.js");
const { runtime, withBroker, TAB } = require("../nodes/blynk-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, callsOf, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "E2eTok_0123456789abcdefghijklmno";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const SINKS = ["l-out", "l-events", "m-out"];

/** The hosted side: broker, local device, its in/write/event nodes. */
function hosted(port, extra = {}) {
  return [
    TAB,
    onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
    { id: "hosted1", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1", ...extra },
    onTab({ id: "l-in", type: "blynk-device-in", device: "hosted1", datastream: "", system: true, sync: false, wires: [["l-out"]] }),
    onTab({ id: "l-write", type: "blynk-write", device: "hosted1", datastream: "" }),
    onTab({ id: "l-event", type: "blynk-event", device: "hosted1", event: "", wires: [["l-events"]] }),
    sink("l-out"),
    sink("l-events"),
  ];
}
/** Node-RED as the device over MQTT, pointed at `server`. */
function asDevice(server) {
  return [
    { id: "device1", type: "blynk-device", name: "Pi", connection: "mqtt", server, templateId: "TMPLe2e001", firmwareVersion: "0.1.0" },
    onTab({ id: "m-write", type: "blynk-write", device: "device1", datastream: "" }),
    onTab({ id: "m-in", type: "blynk-device-in", device: "device1", datastream: "", sync: true, wires: [["m-out"]] }),
    onTab({ id: "m-event", type: "blynk-event", device: "device1", event: "" }),
    sink("m-out"),
  ];
}
const CREDS = { hosted1: { token: TOKEN }, device1: { token: TOKEN } };
const ALL_IDS = ["b1", "hosted1", "l-in", "l-write", "l-event", "device1", "m-write", "m-in", "m-event"];

describe("Blynk end to end", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("blynk-write in mqtt mode reaches blynk-device-in in local mode through the broker, and back", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, [...hosted(port), ...asDevice(`mqtt://127.0.0.1:${port}`)], CREDS, SINKS);
    const [lOut, lEvents, mOut] = SINKS.map((id) => got[id]);
    await statusOf(helper.getNode("m-write"), (s) => s.text === `${STATUS}connected`);
    await statusOf(helper.getNode("l-in"), (s) => s.text === `${STATUS}device-online`);
    const info = await lOut.next((m) => m.topic === "$system/info");
    assert.equal(info.payload.tmpl, "TMPLe2e001");
    assert.equal(info.payload.ver, "0.1.0");

    const mWrite = helper.getNode("m-write");
    const ts = Date.now() - 60_000;
    for (const msg of [
      { topic: "Temperature", payload: 21.5 },
      { topic: "Color", payload: [255, 0, 0] },
      { payload: { Humidity: 40, Where: [13.4, 52.52] } },
      { topic: "Temperature", payload: "#FF0000", blynk: { property: "color" } },
      { topic: "History", payload: [[ts, 1], [ts + 1000, 2]] },
    ]) {
      assert.equal(await inject(mWrite, msg), undefined, JSON.stringify(msg));
    }
    assert.equal(await inject(helper.getNode("m-event"), { topic: "overheat", payload: "too hot" }), undefined);
    const event = await lEvents.next();
    assert.deepEqual([event.topic, event.payload, event.blynk.device], ["overheat", "too hot", "Greenhouse"]);
    await lOut.next((m) => m.topic === "History" && m.payload === 2);
    const values = lOut.filter((m) => !m.topic.startsWith("$"));
    assert.deepEqual(values.map((m) => [m.topic, m.payload, m.blynk.property ?? m.blynk.timestamp ?? m.blynk.batch ?? null]), [
      ["Temperature", 21.5, null],
      ["Color", [255, 0, 0], null],
      ["Humidity", 40, true],
      ["Where", [13.4, 52.52], true],
      ["Temperature", "#FF0000", "color"],
      ["History", 1, ts],
      ["History", 2, ts + 1000],
    ]);
    assert.ok(values.every((m) => m.blynk.source === "device" && m.blynk.device === "Greenhouse"));

    assert.equal(await inject(helper.getNode("l-write"), { topic: "Power", payload: 1 }), undefined);
    const power = await mOut.next((m) => m.topic === "Power");
    assert.deepEqual([power.payload, power.blynk.source, power.blynk.device], [1, "cloud", "Pi"]);
    // What the hosted side cannot send is refused in words.
    assert.match((await inject(helper.getNode("l-write"), { topic: "Power", payload: 1, blynk: { property: "color" } })).message, /^blynk-write\.errors\.local-property/);
    assertNoToken(TOKEN, ALL_IDS, got);
  });

  it("serves a plain MQTT.js client speaking Blynk's documented topics, and syncs Node-RED as a device on connect", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, hosted(port), CREDS, ["l-out"]);
    await statusOf(helper.getNode("l-in"), (s) => s.text === `${STATUS}device-offline`);
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: "device", password: TOKEN, clientId: "", keepalive: 45, clean: true });
    cleanups.push(() => device.endAsync(true));
    const box = inbox(device);
    await device.subscribeAsync("downlink/#");
    await device.publishAsync("ds/Set Temperature", "22.5", { qos: 1 });
    const value = await got["l-out"].next((m) => m.topic === "Set Temperature");
    assert.equal(value.payload, 22.5);
    assert.equal(await inject(helper.getNode("l-write"), { payload: { Power: 1, Mode: "eco" } }), undefined);
    await box.next("downlink/ds/Mode");
    assert.deepEqual(box.messages.map((m) => [m.topic, m.payload]), [["downlink/ds/Power", "1"], ["downlink/ds/Mode", "eco"]]);
    await device.endAsync();

    // Node-RED connects as the same device later: get/ds/all gives it the stored values at once.
    const later = await loadFlow(withBroker, [...hosted(port), ...asDevice(`mqtt://127.0.0.1:${port}`)], CREDS, ["m-out"], "nodes");
    const synced = await later["m-out"].next((m) => m.topic === "Mode");
    assert.equal(synced.payload, "eco");
    await later["m-out"].next((m) => m.topic === "Set Temperature" && m.payload === 22.5);
    assertNoToken(TOKEN, ALL_IDS, got, later);
  });

  it("follows a Blynk broker's downlink/redirect to the iot-broker and remembers it for the next connection", async function () {
    const port = await freePort();
    const geo = await startBareBroker();
    cleanups.push(() => geo.close());
    const target = `mqtt://127.0.0.1:${port}`;
    let connections = 0;
    geo.aedes.on("client", () => connections++);
    geo.aedes.on("subscribe", (subs) => {
      if (!subs.some((s) => s.topic === "downlink/#")) return;
      setImmediate(() => geo.aedes.publish({ cmd: "publish", topic: "downlink/redirect", payload: Buffer.from(target), qos: 0, retain: false, dup: false }, () => {}));
    });
    const flow = [...hosted(port), ...asDevice(geo.url)];
    const got = await loadFlow(withBroker, flow, CREDS, ["l-out"]);
    await statusOf(helper.getNode("l-in"), (s) => s.text === `${STATUS}device-online`);
    assert.equal(await inject(helper.getNode("m-write"), { topic: "Temperature", payload: 1 }), undefined);
    await got["l-out"].next((m) => m.topic === "Temperature");
    const cloud = helper.getNode("device1");
    await until(() => callsOf(cloud, "log").some((a) => /blynk-device\.log\.redirected .*127\.0\.0\.1/.test(a[0])), 5000, "the redirect log line");

    // All users removed, then back: the new connection goes straight to the remembered server.
    const offline = waitFor(helper.getNode("l-in"), "call:status", (call) => call.args[0].text === `${STATUS}device-offline`);
    await helper.setFlows([...hosted(port), flow.find((n) => n.id === "device1")], "nodes", CREDS);
    await offline;
    await helper.setFlows(flow, "nodes", CREDS);
    await statusOf(helper.getNode("m-write"), (s) => s.text === `${STATUS}connected`);
    assert.equal(connections, 1, "only the first connection went to the redirecting broker");
    assertNoToken(TOKEN, ALL_IDS, got);
  });

  it("lets an https-mode device control the hosted device through Node-RED's own HTTPS API", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, hosted(port, { pins: "V1=Power" }), CREDS, ["l-out"]);
    const web = http.createServer(runtime.RED.httpNode);
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    cleanups.push(() => new Promise((resolve) => web.close(resolve)));
    const origin = `http://127.0.0.1:${web.address().port}`;
    const controller = [
      { id: "api1", type: "blynk-device", connection: "https", server: origin },
      onTab({ id: "h-write", type: "blynk-write", device: "api1", datastream: "V1" }),
      onTab({ id: "h-in", type: "blynk-device-in", device: "api1", datastream: "V1", sync: false, wires: [["h-out"]] }),
      sink("h-out"),
    ];
    const more = await loadFlow(withBroker, [...hosted(port, { pins: "V1=Power" }), ...controller], { ...CREDS, api1: { token: TOKEN } }, ["h-out"], "nodes");
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: "device", password: TOKEN, clientId: "" });
    cleanups.push(() => device.endAsync(true));
    const box = inbox(device);
    await device.subscribeAsync("downlink/#");
    assert.equal(await inject(helper.getNode("h-write"), { payload: 1 }), undefined);
    assert.equal((await box.next("downlink/ds/Power")).payload, "1");
    const seen = await got["l-out"].next((m) => m.topic === "Power");
    assert.equal(seen.blynk.source, "http");
    assert.equal(await inject(helper.getNode("h-in"), { payload: "read" }), undefined);
    const read = await more["h-out"].next();
    assert.deepEqual([read.topic, read.payload], ["v1", 1]);
    assertNoToken(TOKEN, [...ALL_IDS, "api1", "h-write", "h-in"], got, more);
  });
});
