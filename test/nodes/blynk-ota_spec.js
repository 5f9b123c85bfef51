"use strict";
// Self-hosted Blynk OTA and commands from flows (docs/PROTOCOLS.md 1.3, 1.8): a blynk-write to
// $system/ota with a firmware Buffer makes Node-RED serve the file on its HTTP server (the
// headers Edgent's OTA reads) and tells the device: downlink/ota/json to an MQTT.js device,
// INTERNAL ota to a binary-protocol device; the device fetches the URL; after its "reboot" the
// new version is the device info flows get. Also $system/reboot, $system/ping, $system/meta/<field>.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const http = require("node:http");
const { once } = require("node:events");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { CMD, frame } = require("../lib/fixtures/blynk-wire.js");
const { rawDevice } = require("../lib/blynk/binary-wire.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { withBroker, runtime, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "OtaTok_0123456789abcdefghijklmno";
const BIN = "OtaBin_0123456789abcdefghijklmno";
const IMAGE = crypto.randomBytes(150 * 1024);
const md5 = (b) => crypto.createHash("md5").update(b).digest("hex");

describe("Blynk self-hosted OTA and device commands from flows", function () {
  this.timeout(20000);
  const cleanups = [];
  let origin;
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** Node-RED's HTTP nodes app on its own port (as Node-RED serves httpNode). */
  async function webServer(port) {
    const web = http.createServer(runtime.RED.httpNode);
    web.listen(port, "127.0.0.1");
    await once(web, "listening");
    cleanups.push(() => new Promise((resolve) => { web.closeAllConnections(); web.close(resolve); }));
  }

  async function load() {
    const p = { port: await freePort(), blynkPort: await freePort(), web: await freePort() };
    origin = `http://127.0.0.1:${p.web}`;
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port: p.port, bind: "127.0.0.1", blynkPort: p.blynkPort, wires: [[]] }),
      { id: "dev1", type: "blynk-device", name: "Sensor", connection: "local", broker: "b1", otaBase: origin },
      // No download address: the URL names the address the device's connection reached, with Node-RED's port.
      { id: "dev2", type: "blynk-device", name: "Legacy", connection: "local", broker: "b1" },
      onTab({ id: "in", type: "blynk-device-in", device: "dev1", datastream: "", system: true, wires: [["out"]] }),
      onTab({ id: "w", type: "blynk-write", device: "dev1", datastream: "" }),
      onTab({ id: "w2", type: "blynk-write", device: "dev2", datastream: "" }),
      onTab({ id: "in2", type: "blynk-device-in", device: "dev2", datastream: "", system: true, wires: [["out2"]] }),
      sink("out"),
      sink("out2"),
    ];
    const got = await loadFlow(withBroker, flow, { dev1: { token: TOKEN }, dev2: { token: BIN } }, ["out", "out2"]);
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker");
    await webServer(p.web);
    return { p, got };
  }

  async function fetchChecked(url, meta) {
    assert.ok(url.startsWith(`${origin}/iot-bridge/blynk/ota/`), url);
    assert.ok(!url.includes(TOKEN) && !url.includes(BIN), "the token is never in the URL");
    const res = await fetch(url);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(IMAGE));
    assert.equal(res.headers.get("content-length"), String(IMAGE.length));
    assert.equal(res.headers.get("x-md5"), md5(body), "Edgent compares x-MD5 with the MD5 of what it wrote");
    assert.equal(res.headers.get("x-sha256"), crypto.createHash("sha256").update(IMAGE).digest("base64"));
    for (const [header, value] of Object.entries(meta)) assert.equal(res.headers.get(header), value, header);
  }

  it("MQTT device: downlink/ota/json {url, size, type, ver, build}, the URL served with Edgent's headers; after the reboot flows see the new version", async function () {
    const { p, got } = await load();
    const dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${p.port}`, { username: "device", password: TOKEN, clean: true, reconnectPeriod: 0 });
    cleanups.push(() => dev.endAsync(true));
    const inbox = [];
    dev.on("message", (topic, payload, packet) => inbox.push({ topic, payload: payload.toString(), qos: packet.qos }));
    await dev.subscribeAsync("downlink/#", { qos: 1 });
    await dev.publishAsync("info/mcu", JSON.stringify({ tmpl: "TMPLota", type: "TMPLota", ver: "1.0.0", build: "Dec 1 2026 10:00:00", rxbuff: 1024 }), { qos: 1 });
    await got.out.next((m) => m.topic === "$system/info" && m.payload.ver === "1.0.0");

    const firmware = { firmware: IMAGE, version: "2.0.0", type: "TMPLota", build: "Dec 4 2026 12:00:00" };
    assert.equal(await inject(helper.getNode("w"), { topic: "$system/ota", payload: firmware }), undefined);
    await until(() => inbox.some((m) => m.topic === "downlink/ota/json"), 5000, "downlink/ota/json");
    const ota = JSON.parse(inbox.find((m) => m.topic === "downlink/ota/json").payload);
    assert.deepEqual(Object.keys(ota).sort(), ["build", "size", "type", "url", "ver"]);
    assert.deepEqual([ota.size, ota.type, ota.ver, ota.build], [IMAGE.length, "TMPLota", "2.0.0", "Dec 4 2026 12:00:00"]);
    await fetchChecked(ota.url, { "x-fw-type": "TMPLota", "x-fw-ver": "2.0.0", "x-fw-build": "Dec 4 2026 12:00:00" });

    // Edgent reboots into the new firmware, reconnects and publishes info/mcu again.
    await dev.endAsync(true);
    const after = await mqtt.connectAsync(`mqtt://127.0.0.1:${p.port}`, { username: "device", password: TOKEN, clean: true, reconnectPeriod: 0 });
    cleanups.push(() => after.endAsync(true));
    const later = [];
    after.on("message", (topic, payload, packet) => later.push({ topic, payload: payload.toString(), qos: packet.qos }));
    await after.subscribeAsync("downlink/#", { qos: 1 });
    await after.publishAsync("info/mcu", JSON.stringify({ tmpl: "TMPLota", type: "TMPLota", ver: "2.0.0", build: "Dec 4 2026 12:00:00", rxbuff: 1024 }), { qos: 1 });
    assert.equal((await got.out.next((m) => m.topic === "$system/info" && m.payload.ver === "2.0.0")).payload.build, "Dec 4 2026 12:00:00");

    // A newer shipment replaces the old one: its URL answers 404.
    await inject(helper.getNode("w"), { topic: "$system/ota", payload: IMAGE });
    await until(() => later.some((m) => m.topic === "downlink/ota/json"), 5000, "the second downlink/ota/json");
    assert.equal((await fetch(ota.url)).status, 404);
    assert.deepEqual(Object.keys(JSON.parse(later.find((m) => m.topic === "downlink/ota/json").payload)).sort(), ["size", "url"]);

    // Reboot, ping and metadata from flows.
    await inject(helper.getNode("w"), { topic: "$system/reboot", payload: true });
    await inject(helper.getNode("w"), { topic: "$system/ping", payload: true });
    await inject(helper.getNode("w"), { topic: "$system/meta/Serial", payload: "SN-2" });
    await until(() => later.some((m) => m.topic === "downlink/meta/Serial"), 5000, "the metadata");
    const commands = later.filter((m) => m.topic !== "downlink/ota/json").map((m) => [m.topic, m.payload]);
    assert.deepEqual(commands, [["downlink/reboot", ""], ["downlink/ping", ""], ["downlink/meta/Serial", "SN-2"]]);
    assert.equal(later.find((m) => m.topic === "downlink/ping").qos, 1, "ping is always QoS 1");
    // The device reads the metadata back as from Blynk.Cloud.
    await after.publishAsync("get/meta", "Serial", { qos: 1 });
    await until(() => later.filter((m) => m.topic === "downlink/meta/Serial").length === 2, 5000, "get/meta answered");

    assert.match((await inject(helper.getNode("w"), { topic: "$system/ota", payload: 42 })).message, /\$system\/ota needs the firmware URL, the firmware as a Buffer/);
    assert.match((await inject(helper.getNode("w"), { topic: "$system/ota", payload: { firmware: IMAGE, version: "" } })).message, /version must be text/);
    assertNoToken(TOKEN, ["dev1", "in", "w"]);
  });

  it("binary device: INTERNAL ota with the URL, fetched with Edgent's headers; after the reboot its info shows the new version; PING answered; reboot refused in words", async function () {
    const { p, got } = await load();
    // Offline, with no download address set: no address to give the device, refused before anything is shipped.
    assert.match((await inject(helper.getNode("w2"), { topic: "$system/ota", payload: IMAGE })).message, /connect the device first, or set the device's OTA download address/);
    const d = await rawDevice(p.blynkPort);
    cleanups.push(async () => d.end());
    assert.equal(await d.login(BIN), 200);
    assert.equal(await inject(helper.getNode("w2"), { topic: "$system/ota", payload: { firmware: IMAGE, version: "3.1" } }), undefined);
    const internal = await d.next((f) => f.command === CMD.INTERNAL);
    assert.equal(internal.fields[0], "ota");
    const url = new URL(internal.fields[1]);
    assert.equal(url.hostname, "127.0.0.1", "the address the device reached the broker at");
    assert.equal(url.port, String(runtime.RED.settings.uiPort ?? 1880), "Node-RED's own port");
    await fetchChecked(origin + url.pathname, { "x-fw-ver": "3.1" });
    // Edgent reboots into 3.1 and logs in again; its info message (1.3+ keys) is the device info flows get.
    d.end();
    const rebooted = await rawDevice(p.blynkPort);
    cleanups.push(async () => rebooted.end());
    assert.equal(await rebooted.login(BIN), 200, "the login after the reboot");
    rebooted.send(frame(CMD.INTERNAL, 2, "mcu", "3.1", "fw-type", "TMPLota", "build", "Dec 4 2026", "blynk", "1.3.2", "h-beat", "45", "buff-in", "1024"));
    const info = await got.out2.next((m) => m.topic === "$system/info" && m.payload.ver === "3.1", "the new version");
    assert.equal(info.payload.type, "TMPLota");
    assert.equal(await inject(helper.getNode("w2"), { topic: "$system/ping", payload: true }), undefined);
    await rebooted.next((f) => f.command === CMD.PING);
    assert.match((await inject(helper.getNode("w2"), { topic: "$system/reboot", payload: true })).message, /binary protocol has no reboot command/);
    assert.equal(await inject(helper.getNode("w2"), { topic: "$system/meta/Serial", payload: "SN-9" }), undefined, "stored for the device");
  });
});

describe("Blynk fleet: commands with no device named go to every device", function () {
  this.timeout(20000);
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("$system/ota with a Buffer and $system/reboot reach each MQTT device of the fleet; the image is kept once", async function () {
    const { fleetOf, firmwareShelf } = require("../../dist/nodes/lib/broker/index.js");
    const port = await freePort();
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "fl1", type: "blynk-device", name: "Template", connection: "local", broker: "b1", hosting: "fleet", otaBase: "http://192.168.1.10:1880" },
      onTab({ id: "w", type: "blynk-write", device: "fl1", datastream: "" }),
    ];
    await loadFlow(withBroker, flow, {});
    await until(() => fleetOf("fl1")?.available === true, 5000, "the fleet's table");
    const devices = [];
    for (let i = 0; i < 3; i++) devices.push(await fleetOf("fl1").add({ name: `Lamp ${i}` }));
    const inboxes = [];
    for (const d of devices) {
      let client;
      await until(async () => {
        client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: "device", password: d.credentials.token, reconnectPeriod: 0 }).catch(() => undefined);
        return client !== undefined;
      }, 5000, `${d.name} connected`);
      cleanups.push(() => client.endAsync(true));
      const inbox = [];
      client.on("message", (topic, payload) => inbox.push([topic, payload.toString()]));
      await client.subscribeAsync("downlink/#", { qos: 1 });
      inboxes.push(inbox);
    }
    const before = firmwareShelf.size;
    assert.equal(await inject(helper.getNode("w"), { topic: "$system/ota", payload: { firmware: IMAGE, version: "4.0" } }), undefined);
    assert.equal(firmwareShelf.size - before, 1, "one image for the fleet");
    assert.equal(await inject(helper.getNode("w"), { topic: "$system/reboot", payload: true }), undefined);
    await until(() => inboxes.every((box) => box.length >= 2), 5000, `the downlinks; got ${JSON.stringify(inboxes)}`);
    const urls = inboxes.map((box) => JSON.parse(box.find(([t]) => t === "downlink/ota/json")[1]).url);
    assert.equal(new Set(urls).size, 3, "a shipment (URL) per device");
    for (const url of urls) assert.ok(url.startsWith("http://192.168.1.10:1880/iot-bridge/blynk/ota/"), url);
    assert.ok(inboxes.every((box) => box.some(([t]) => t === "downlink/reboot")));
    // A named device alone.
    assert.equal(await inject(helper.getNode("w"), { topic: "$system/ping", payload: true, blynk: { device: "Lamp 1" } }), undefined);
    await until(() => inboxes[1].some(([t]) => t === "downlink/ping"), 5000, "the ping");
    assert.ok(!inboxes[0].some(([t]) => t === "downlink/ping") && !inboxes[2].some(([t]) => t === "downlink/ping"));
  });
});
