"use strict";
// The "IoT devices" sidebar's runtime (plugin iot-bridge-devices) in node-red-node-test-helper
// with a real broker and MQTT.js devices: the snapshot lists the broker, its listeners and
// clients, a fleet and hosted devices; a device's publish reaches the comms and the snapshot
// (online, value, sparkline); a login with an unknown token is remembered and adopting it into
// a fleet lets the device log in; a client can be disconnected; no token in any snapshot or
// comms message; the endpoints need the plugin's own permissions.
const assert = require("node:assert/strict");
const path = require("node:path");
const express = require("express");
const mqtt = require("mqtt");
const request = require("supertest");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fleetOf } = require("../../dist/nodes/lib/broker/index.js");
const { mountDevicesAdmin } = require("../../dist/nodes/lib/node-red/devices-admin.js");
const { DevicesModel } = require("../../dist/nodes/lib/node-red/devices-model.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { loadFlow, onTab, translatingFor } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");
const ts = require("./thingspeak-helpers.js");

helper.init(nodeRedPath);
const fromNodeRed = (name) => require(require.resolve(name, { paths: [path.dirname(nodeRedPath)] }));
const { events } = fromNodeRed("@node-red/util");
const { hasPermission } = fromNodeRed("@node-red/editor-api/lib/auth/permissions.js");
const plugin = translatingFor(blynk.runtime)(require("../../dist/nodes/iot-bridge-devices.js"));
const NODES = [...blynk.withBroker, ...tb.tbNodes, ...ts.tsNodes, plugin];

const TB_TOKEN = "TbToken0123456789abc";
const UNKNOWN = "UnknownBlynkToken_0123456789abcd";
const TS = { clientId: "SideClientId0001", username: "SideUser00000001", password: "SidePassword0001secret", writeKey: "SIDEWRITEKEY0001", readKey: "SIDEREADKEY00001" };

describe("iot-bridge-devices: the IoT devices sidebar's runtime", function () {
  this.timeout(30_000);
  const cleanups = [];
  let comms;
  const onComms = (m) => {
    if (m.topic === "iot-bridge/devices") comms.push(m.data);
  };
  beforeEach(function (done) {
    comms = [];
    events.on("comms", onComms);
    helper.startServer(done);
  });
  afterEach(async function () {
    events.off("comms", onComms);
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  function flow(port) {
    return [
      blynk.TAB,
      onTab({ id: "b1", type: "iot-broker", name: "Home broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "fleet1", type: "blynk-device", name: "Thermostats", connection: "local", broker: "b1", hosting: "fleet", pins: "" },
      { id: "tb1", type: "thingsboard-device", name: "Boiler", connection: "local", broker: "b1", auth: "token" },
      { id: "ts1", type: "thingspeak-channel", name: "Weather", connection: "local", broker: "b1", channelId: "1001", updateInterval: "1", fieldNames: "1=Rain" },
    ];
  }
  async function start() {
    const port = await freePort();
    await loadFlow(NODES, flow(port), { tb1: { token: TB_TOKEN }, ts1: TS });
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet's table");
    return port;
  }
  async function connect(port, options) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...options });
    cleanups.push(() => c.endAsync(true));
    return c;
  }
  const snapshot = async () => (await helper.request().get("/iot-bridge/devices").expect(200)).body;
  const device = (snap, key) => snap.devices.find((d) => d.key === key);
  /**
   * Resolves with what `pick` finds in the comms updates from now on, as the sidebar applies them:
   * an update as it is, a resync as the snapshot it makes the sidebar fetch.
   */
  async function update(pick, what) {
    let next = comms.length;
    let found;
    await until(async () => {
      while (next < comms.length) {
        const u = comms[next++];
        found = pick(u.resync ? await snapshot() : u);
        if (found !== undefined) return true;
      }
      return false;
    }, 5000, what);
    return found;
  }

  it("lists the broker, its listener, the fleet and the devices; a publish reaches the comms and the snapshot with a sparkline", async function () {
    const port = await start();
    const kitchen = await fleetOf("fleet1").add({ name: "Kitchen" });
    let snap = await snapshot();
    const broker = snap.brokers.find((b) => b.id === "b1");
    assert.equal(broker.name, "Home broker");
    assert.equal(broker.running, true);
    assert.deepEqual(broker.listeners, [{ kind: "tcp", host: "127.0.0.1", port }]);
    assert.deepEqual(snap.fleets, [{ id: "fleet1", name: "Thermostats", platform: "blynk", broker: "b1", available: true, devices: 1 }]);
    assert.equal(device(snap, "thingsboard/tb1").name, "Boiler");
    assert.equal(device(snap, "thingsboard/tb1").online, false);
    assert.equal(device(snap, `blynk/fleet1.${kitchen.id}`).fleet, "fleet1");

    const c = await connect(port, { username: TB_TOKEN, clientId: "boiler-1" });
    const online = await update((u) => u.devices?.find((d) => d.key === "thingsboard/tb1" && d.online), "the device online");
    assert.deepEqual(online.clients, ["boiler-1"]);
    for (const temp of [20, 21.5, 23]) {
      await c.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temp }), { qos: 1 });
    }
    await c.publishAsync("v1/devices/me/attributes", JSON.stringify({ current_fw_version: "2.1.0" }), { qos: 1 });
    const updated = await update((u) => u.devices?.find((d) => d.key === "thingsboard/tb1" && d.values.some((v) => v.value === "23") && d.firmware !== undefined), "the new value");
    assert.equal(updated.values[0].name, "temp");
    assert.equal(updated.firmware, "2.1.0", "the firmware the device reports");
    const w = await connect(port, { clientId: TS.clientId, username: TS.username, password: TS.password });
    await w.publishAsync("channels/1001/publish", "field1=0.4&field2=12", { qos: 0 });
    const weather = await update((u) => u.devices?.find((d) => d.key === "thingspeak/ts1" && d.values.length === 2), "the channel's entry");
    assert.deepEqual(weather.values.map((v) => [v.name, v.value]), [["Rain", "0.4"], ["field2", "12"]], "fields by the channel's names");
    snap = await snapshot();
    const boiler = device(snap, "thingsboard/tb1");
    assert.equal(boiler.online, true);
    assert.deepEqual(boiler.values.map((v) => [v.name, v.value]), [["temp", "23"]]);
    assert.deepEqual(boiler.values[0].spark, [20, 21.5, 23], "the sparkline from the broker's history");
    assert.equal(snap.brokers[0].clientCount, 2, "the ThingsBoard and the ThingSpeak device");
    const client = snap.brokers[0].clients.find((x) => x.clientId === "boiler-1");
    assert.equal(client.protocol, "MQTT 3.1.1");
    assert.equal(client.device, "thingsboard/tb1");
    assert.match(client.address, /127\.0\.0\.1/);
    for (const text of [JSON.stringify(snap), JSON.stringify(comms)]) {
      for (const secret of [TB_TOKEN, TS.password, TS.writeKey]) assert.equal(text.includes(secret), false, "no secret in the snapshot or the comms");
    }
  });

  it("remembers a login with an unknown token without showing it; adopting it into the fleet lets the device in", async function () {
    const port = await start();
    await assert.rejects(connect(port, { username: "device", password: UNKNOWN, clientId: "esp32-new" }));
    const refused = await update((u) => u.brokers?.find((b) => b.id === "b1")?.refused[0], "the refused login");
    assert.equal(refused.platform, "blynk");
    assert.equal(refused.clientId, "esp32-new");
    const snap = await snapshot();
    assert.equal(snap.brokers[0].refused[0].id, refused.id);
    for (const text of [JSON.stringify(snap), JSON.stringify(comms)]) assert.equal(text.includes(UNKNOWN), false, "no token in the snapshot or the comms");

    await helper.request().post("/iot-bridge/devices/adopt").send({ broker: "b1", login: refused.id, fleet: "tb1", name: "x" }).expect(404);
    const res = await helper.request().post("/iot-bridge/devices/adopt").send({ broker: "b1", login: refused.id, fleet: "fleet1", name: "Porch" }).expect(200);
    assert.equal(res.body.device.name, "Porch");
    assert.equal(JSON.stringify(res.body).includes(UNKNOWN), false, "the answer has no token");
    assert.equal(fleetOf("fleet1").credentials({ name: "Porch" }).token, UNKNOWN);
    assert.deepEqual((await snapshot()).brokers[0].refused, [], "an adopted login is no longer listed");
    await helper.request().post("/iot-bridge/devices/adopt").send({ broker: "b1", login: refused.id, fleet: "fleet1", name: "Again" }).expect(404);

    const c = await connect(port, { username: "device", password: UNKNOWN, clientId: "esp32-new" });
    await c.publishAsync("ds/Temp", "19.5", { qos: 1 });
    await c.publishAsync("info/mcu", JSON.stringify({ ver: "0.9.1", type: "esp32" }), { qos: 1 });
    const porch = await update((u) => u.devices?.find((d) => d.name === "Porch" && d.values.some((v) => v.value === "19.5") && d.firmware === "0.9.1"), "the adopted device's value and firmware");
    assert.equal(porch.online, true);
    assert.equal(porch.fleet, "fleet1");
  });

  it("lists no hosted device's wrong password; refuses adopting credentials a hosted device has (409)", async function () {
    const port = await freePort();
    const extra = [
      { id: "tb2", type: "thingsboard-device", name: "Pump", connection: "local", broker: "b1", auth: "basic" },
      { id: "tbfleet", type: "thingsboard-device", name: "Pumps", connection: "local", broker: "b1", hosting: "fleet" },
    ];
    await loadFlow(NODES, [...flow(port), ...extra], { tb1: { token: TB_TOKEN }, ts1: TS, tb2: { clientId: "c1", username: "u1", password: "p1" } });
    await until(() => fleetOf("fleet1")?.available === true && fleetOf("tbfleet")?.available === true, 5000, "the fleets' tables");
    // A hosted ThingSpeak channel's wrong password: ThingSpeak refuses it, nothing to adopt.
    await assert.rejects(connect(port, { clientId: TS.clientId, username: TS.username, password: "wrong-password" }));
    await assert.rejects(connect(port, { clientId: "c1", username: "u1", password: "wrong" }));
    await assert.rejects(connect(port, { username: "provision", password: "x", clientId: "prov-1" }));
    await assert.rejects(connect(port, { username: "device", password: UNKNOWN, clientId: "esp32-new" }));
    await update((u) => u.brokers?.find((b) => b.id === "b1")?.refused.find((r) => r.clientId === "esp32-new"), "the unknown token");
    const refused = (await snapshot()).brokers[0].refused;
    assert.equal(refused.some((r) => r.clientId === TS.clientId), false, "a ThingSpeak device's wrong password is not listed");
    assert.equal(refused.some((r) => r.clientId === "prov-1"), false, "a provisioning request is not listed");
    assert.equal(JSON.stringify(refused).includes(TS.username), false);
    const clash = refused.find((r) => r.clientId === "c1");
    assert.equal(clash.platform, "thingsboard");
    const res = await helper.request().post("/iot-bridge/devices/adopt").send({ broker: "b1", login: clash.id, fleet: "tbfleet", name: "Again" }).expect(409);
    assert.match(res.body.error, /already has these credentials/);
    assert.deepEqual(fleetOf("tbfleet").list(), [], "nothing added");
  });

  it("hands a device's credentials only to the credentials action; disconnects a client", async function () {
    const port = await start();
    const res = await helper.request().post("/iot-bridge/devices/credentials").send({ device: "thingsboard/tb1" }).expect(200);
    assert.equal(res.body.credentials.token, TB_TOKEN);
    const weather = await helper.request().post("/iot-bridge/devices/credentials").send({ device: "thingspeak/ts1" }).expect(200);
    assert.deepEqual(weather.body.credentials, { clientId: TS.clientId, username: TS.username, password: TS.password, writeKey: TS.writeKey }, "no read key: a firmware has no use for it");
    await helper.request().post("/iot-bridge/devices/credentials").send({ device: "thingsboard/nope" }).expect(404);
    const c = await connect(port, { username: TB_TOKEN, clientId: "boiler-2" });
    const closed = new Promise((resolve) => c.once("close", resolve));
    const answer = await helper.request().post("/iot-bridge/devices/disconnect").send({ broker: "b1", clientId: "boiler-2" }).expect(200);
    assert.equal(answer.body.disconnected, 1);
    await closed;
    await helper.request().post("/iot-bridge/devices/disconnect").send({ broker: "nope", clientId: "boiler-2" }).expect(503);
  });
});

describe("iot-bridge-devices: permissions", function () {
  // Node-RED's own scope check (editor-api auth/permissions) behind RED.auth.needsPermission.
  function app(scope) {
    const admin = express();
    admin.use(express.json());
    const RED = {
      httpAdmin: admin,
      auth: { needsPermission: (permission) => (req, res, next) => (hasPermission(scope, permission) ? next() : res.status(401).end()) },
      nodes: { getCredentials: () => ({ token: "secret" }), getNode: () => ({ type: "thingsboard-device" }) },
    };
    mountDevicesAdmin(RED, new DevicesModel({ eachNode: (visit) => visit({ id: "x", type: "thingsboard-device", connection: "local" }), publish: () => undefined }));
    return admin;
  }

  it("reads with iot-bridge-devices.read (or read), acts only with iot-bridge-devices.write; nothing without the scope", async function () {
    await request(app(["iot-bridge-devices.read"])).get("/iot-bridge/devices").expect(200);
    await request(app("read")).get("/iot-bridge/devices").expect(200);
    await request(app(["iot-bridge-devices.read"])).post("/iot-bridge/devices/credentials").send({ device: "thingsboard/x" }).expect(401);
    await request(app("read")).post("/iot-bridge/devices/adopt").send({}).expect(401);
    await request(app(["flows.read"])).get("/iot-bridge/devices").expect(401);
    await request(app(["iot-bridge-devices.write"])).post("/iot-bridge/devices/credentials").send({ device: "thingsboard/x" }).expect(200);
  });
});

describe("iot-bridge-devices: which credentials the credentials action answers", function () {
  // Flows as Node-RED defines them, deployed nodes and their credentials, behind the real routes.
  const defs = [
    { id: "e3a8a5f6.1c5758", type: "thingsboard-device", connection: "local", broker: "b1", auth: "token" },
    { id: "tbcloud", type: "thingsboard-device", connection: "mqtt", auth: "token", provision: true },
    { id: "blcloud", type: "blynk-device", connection: "mqtt" },
    { id: "tscloud", type: "thingspeak-channel", connection: "rest" },
    { id: "tslocal", type: "thingspeak-channel", connection: "local", broker: "b1" },
  ];
  const creds = {
    "e3a8a5f6.1c5758": { token: "LocalDottedToken", provisionSecret: "ProvSecret" },
    tbcloud: { token: "CloudTbToken", provisionSecret: "ProvSecret" },
    blcloud: { token: "CloudBlynkToken" },
    tscloud: { writeKey: "CLOUDWRITE", readKey: "CLOUDREAD" },
    tslocal: { clientId: "c", username: "u", password: "p", writeKey: "W", readKey: "R" },
  };
  function app() {
    const admin = express();
    admin.use(express.json());
    const RED = {
      httpAdmin: admin,
      auth: { needsPermission: () => (req, res, next) => next() },
      nodes: { getCredentials: (id) => creds[id], getNode: (id) => defs.find((d) => d.id === id) ?? null },
    };
    mountDevicesAdmin(RED, new DevicesModel({ eachNode: (visit) => defs.forEach(visit), publish: () => undefined }));
    return admin;
  }
  const ask = (device) => request(app()).post("/iot-bridge/devices/credentials").send({ device });

  it("a device whose id holds a dot (older Node-RED ids) is a device, not a fleet member", async function () {
    const res = await ask("thingsboard/e3a8a5f6.1c5758").expect(200);
    assert.deepEqual(res.body.credentials, { token: "LocalDottedToken" }, "no provisioning secret");
  });

  it("answers no cloud-mode node's credentials, and of a local one only what a firmware uses", async function () {
    for (const key of ["thingsboard/tbcloud", "blynk/blcloud", "thingspeak/tscloud"]) {
      const res = await ask(key).expect(404);
      assert.equal(JSON.stringify(res.body).match(/Cloud|CLOUD|ProvSecret/), null, key);
    }
    assert.deepEqual((await ask("thingspeak/tslocal").expect(200)).body.credentials, { clientId: "c", username: "u", password: "p", writeKey: "W" });
    await ask("blynk/tslocal").expect(404);
  });
});
