"use strict";
// A Blynk fleet in node-red-node-test-helper (docs/ARCHITECTURE.md 3.8): one local-mode
// blynk-device hosting a fleet; the blynk-fleet node onboards devices (answering their tokens);
// 30 MQTT.js devices and 20 raw binary devices reach blynk-device-in with msg.blynk.device, and
// blynk-write reaches each by name; unknown names refused; the editor's admin endpoints (list,
// add, credentials, renew, remove, CSV export/import); the table survives a restart on SQLite
// with no token in clear in the file.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers, fleetOf } = require("../../dist/nodes/lib/broker/index.js");
const { CMD, frame } = require("../lib/fixtures/blynk-wire.js");
const { rawDevice } = require("../lib/blynk/binary-wire.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { withBroker, runtime, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, inject, statusOf, assertNoToken, translatingFor } = require("../support/node-harness.js");

helper.init(nodeRedPath);
const fleetNode = translatingFor(runtime)(require("../../dist/nodes/blynk-fleet.js"));
const NODES = [...withBroker, fleetNode];

describe("blynk-device hosting a fleet, blynk-fleet and the editor's fleet table", function () {
  this.timeout(60_000);
  const cleanups = [];
  let userDir;
  beforeEach(function (done) {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-fleet-"));
    helper.settings({ userDir });
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    helper.settings({});
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  function flow(p, broker = {}) {
    return [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port: p.port, bind: "127.0.0.1", blynkPort: p.blynkPort, wires: [[]], ...broker }),
      { id: "fleet1", type: "blynk-device", name: "Thermostats", connection: "local", broker: "b1", hosting: "fleet", pins: "V1=Temp, V2=Power" },
      onTab({ id: "in", type: "blynk-device-in", device: "fleet1", datastream: "", sync: false, wires: [["out"]] }),
      onTab({ id: "w", type: "blynk-write", device: "fleet1", datastream: "" }),
      onTab({ id: "wk", type: "blynk-write", device: "fleet1", datastream: "Power", fleetDevice: "Kitchen" }),
      onTab({ id: "ctl", type: "blynk-fleet", device: "fleet1", wires: [["answers"], ["events"]] }),
      sink("out"),
      sink("answers"),
      sink("events"),
    ];
  }
  async function ports() {
    return { port: await freePort(), blynkPort: await freePort() };
  }
  async function mqttDevice(port, token) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: "device", password: token, clientId: "", reconnectPeriod: 0 });
    cleanups.push(() => c.endAsync(true));
    c.box = inbox(c);
    await c.subscribeAsync("downlink/#");
    return c;
  }
  async function binaryDevice(port, token) {
    const d = await rawDevice(port);
    cleanups.push(async () => d.socket.destroy());
    d.send(frame(CMD.HW_LOGIN, 1, token));
    assert.equal((await d.next((f) => f.command === CMD.RESPONSE && f.id === 1)).status, 200);
    return d;
  }

  it("onboards 50 devices through blynk-fleet; flows receive every device (MQTT and binary) with msg.blynk.device and write to each by name", async function () {
    const p = await ports();
    const { out, answers, events } = await loadFlow(NODES, flow(p), {}, ["out", "answers", "events"]);
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet's table");
    await statusOf(helper.getNode("ctl"), (s) => s.fill === "green");

    const devices = [];
    for (let i = 0; i < 50; i++) {
      assert.equal(await inject(helper.getNode("ctl"), { topic: "add", payload: { name: i === 0 ? "Kitchen" : `Room ${i}`, meta: { floor: i % 3 } } }), undefined);
      const answer = await answers.next((m) => m.payload.name === (i === 0 ? "Kitchen" : `Room ${i}`));
      assert.match(answer.payload.credentials.token, /^[A-Za-z0-9_-]{32}$/);
      devices.push(answer.payload);
    }
    await events.next((m) => m.topic === "added" && m.payload.name === "Room 49");
    assert.ok(events.every((m) => m.payload.credentials === undefined), "events carry no credentials");

    const conns = [];
    for (let i = 0; i < 50; i++) conns.push(i < 30 ? { mqtt: await mqttDevice(p.port, devices[i].credentials.token) } : { raw: await binaryDevice(p.blynkPort, devices[i].credentials.token) });
    for (let i = 0; i < 50; i++) {
      if (conns[i].mqtt) await conns[i].mqtt.publishAsync("ds/Temp", String(i), { qos: 1 });
      else conns[i].raw.send(frame(CMD.HARDWARE, 2, "vw", "1", String(i)));
    }
    await until(() => out.filter((m) => m.topic === "Temp").length === 50, 10_000, "50 values");
    for (const m of out.filter((m) => m.topic === "Temp")) assert.deepEqual(m.blynk.device, { name: devices[m.payload].name, id: devices[m.payload].id });

    // The flow nodes show how many of the fleet's devices are online.
    await statusOf(helper.getNode("w"), (s) => s.fill === "green" && /blynk-device\.status\.fleet/.test(s.text) && /"online":"50"/.test(s.text) && /"total":"50"/.test(s.text), "50 of 50 online");
    // Round trip: the msg from blynk-device-in names its device; blynk-write sends it back there.
    for (let i = 0; i < 50; i++) {
      assert.equal(await inject(helper.getNode("w"), { topic: "Power", payload: 200 + i, blynk: { device: { id: devices[i].id, name: devices[i].name } } }), undefined);
    }
    for (let i = 0; i < 50; i++) {
      if (conns[i].mqtt) assert.equal((await conns[i].mqtt.box.next("downlink/ds/Power")).payload, String(200 + i));
      else assert.deepEqual((await conns[i].raw.next((f) => f.command === CMD.HARDWARE && f.fields[0] === "vw")).fields, ["vw", "2", String(200 + i)]);
    }
    // The node's own Fleet device wins; a name alone works too.
    assert.equal(await inject(helper.getNode("wk"), { payload: 7, blynk: { device: "Room 3" } }), undefined);
    await until(() => conns[0].mqtt.box.messages.filter((m) => m.topic === "downlink/ds/Power").length === 2);
    assert.equal(conns[3].mqtt.box.messages.filter((m) => m.topic === "downlink/ds/Power").length, 1);
    assert.equal(await inject(helper.getNode("w"), { topic: "Power", payload: 1, blynk: { device: "Room 5" } }), undefined);

    const unknown = await inject(helper.getNode("w"), { topic: "Power", payload: 1, blynk: { device: "Attic" } });
    assert.match(String(unknown), /fleet-unknown-device.*Attic/);
    const unnamed = await inject(helper.getNode("w"), { topic: "Power", payload: 1 });
    assert.match(String(unnamed), /fleet-no-device/);

    // Change and remove through the node; list answers without credentials.
    assert.equal(await inject(helper.getNode("ctl"), { topic: "remove", payload: "Room 49" }), undefined);
    await events.next((m) => m.topic === "removed" && m.payload.name === "Room 49");
    assert.equal(await inject(helper.getNode("ctl"), { topic: "list" }), undefined);
    const list = await answers.next((m) => m.topic === "list");
    assert.equal(list.payload.length, 49);
    assert.ok(list.payload.every((d) => d.credentials === undefined));
    const bad = await inject(helper.getNode("ctl"), { topic: "explode" });
    assert.match(String(bad), /invalid-action/);
    const dup = await inject(helper.getNode("ctl"), { topic: "add", payload: { name: "Kitchen" } });
    assert.match(String(dup), /duplicate/);
    assertNoToken(devices[1].credentials.token, ["fleet1", "in", "w", "wk", "ctl"], out, events);
  });

  it("a full deploy keeps a fleet device connected (its hosting is adopted like a single device's)", async function () {
    const p = await ports();
    const { answers } = await loadFlow(NODES, flow(p), {}, ["answers"]);
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet's table");
    await inject(helper.getNode("ctl"), { topic: "add", payload: { name: "Porch" } });
    const token = (await answers.next()).payload.credentials.token;
    const c = await mqttDevice(p.port, token);
    let closed = false;
    c.on("close", () => { closed = true; });
    const before = fleetOf("fleet1");
    const got = await loadFlow(NODES, flow(p), {}, ["out"], "full");
    await until(() => fleetOf("fleet1") !== before && fleetOf("fleet1")?.available === true, 5000, "the new node's fleet");
    await c.publishAsync("ds/Temp", "4", { qos: 1 });
    const m = await got.out.next((msg) => msg.topic === "Temp");
    assert.equal(m.blynk.device.name, "Porch");
    assert.equal(closed, false, "the device stayed connected through the deploy");
    assert.equal(await inject(helper.getNode("w"), { topic: "Power", payload: 3, blynk: { device: "Porch" } }), undefined);
    assert.equal((await c.box.next("downlink/ds/Power")).payload, "3");
  });

  it("the editor's admin endpoints act on the running fleet; CSV export and import; 404 before the node is deployed", async function () {
    const p = await ports();
    await loadFlow(NODES, flow(p), {}, []);
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet's table");
    const api = () => helper.request();
    await api().get("/blynk-device/nope/fleet").expect(404);
    let res = await api().post("/blynk-device/fleet1/fleet").send({ name: "Hall", pins: "V5=Light" }).expect(200);
    const hall = res.body;
    assert.match(hall.credentials.token, /^[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(hall.pins, { v5: "Light" });
    res = await api().get("/blynk-device/fleet1/fleet").expect(200);
    assert.deepEqual(res.body.devices.map((d) => d.name), ["Hall"]);
    assert.equal(JSON.stringify(res.body).includes(hall.credentials.token), false, "the list carries no token");
    assert.equal(res.headers["cache-control"], "no-store");
    res = await api().get(`/blynk-device/fleet1/fleet/${hall.id}/credentials`).expect(200);
    assert.equal(res.body.credentials.token, hall.credentials.token);
    res = await api().post(`/blynk-device/fleet1/fleet/${hall.id}/renew`).expect(200);
    assert.notEqual(res.body.credentials.token, hall.credentials.token);
    const renewed = res.body.credentials.token;
    // A device added in the editor logs in without a deploy.
    const c = await mqttDevice(p.port, renewed);
    await c.publishAsync("ds/Light", "1", { qos: 1 });
    res = await api().put(`/blynk-device/fleet1/fleet/${hall.id}`).send({ name: "Hallway" }).expect(200);
    assert.equal(res.body.name, "Hallway");
    await api().post("/blynk-device/fleet1/fleet").send({ name: "Hallway" }).expect(409);
    await api().post("/blynk-device/fleet1/fleet").send({ name: "" }).expect(400);

    res = await api().get("/blynk-device/fleet1/fleet/export").expect(200);
    assert.match(res.headers["content-type"], /text\/csv/);
    assert.equal(res.text, `name,id,token,pins,meta\r\nHallway,${hall.id},${renewed},V5=Light,\r\n`);
    const csv = `name,id,token,pins,meta\r\nHallway,${hall.id},,,"{""floor"": 2}"\r\nCellar,,CellarToken_0123456789abcdefgh,"V1=Temp, V2=Power",\r\nBad,,has space,,\r\n`;
    res = await api().post("/blynk-device/fleet1/fleet/import").send({ csv }).expect(200);
    assert.equal(res.body.added, 1);
    assert.equal(res.body.changed, 1);
    assert.deepEqual(res.body.errors.map((e) => e.line), [4]);
    assert.equal(JSON.stringify(res.body).includes("has space"), false, "an import error does not echo a token");
    res = await api().get("/blynk-device/fleet1/fleet").expect(200);
    assert.deepEqual(res.body.devices.map((d) => [d.name, d.meta]), [["Hallway", { floor: 2 }], ["Cellar", undefined]]);
    await api().delete(`/blynk-device/fleet1/fleet/${hall.id}`).expect(200);
    await api().delete(`/blynk-device/fleet1/fleet/${hall.id}`).expect(404);

    // The broker stopped: the table cannot change (503), the list still answers.
    await helper.setFlows(flow(p).filter((n) => n.id !== "b1"), "nodes");
    await until(() => brokers.engine("b1") === undefined);
    await api().post("/blynk-device/fleet1/fleet").send({ name: "Late" }).expect(503);
  });

  it("the table survives a restart on SQLite, with no token in clear in the file; the devices log in again", async function () {
    const p = await ports();
    const sqlite = { persistence: "sqlite" };
    const { answers } = await loadFlow(NODES, flow(p, sqlite), {}, ["answers"]);
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet's table");
    const tokens = [];
    for (let i = 0; i < 5; i++) {
      await inject(helper.getNode("ctl"), { topic: "add", payload: { name: `Dev ${i}` } });
      tokens.push((await answers.next((m) => m.payload.name === `Dev ${i}`)).payload.credentials.token);
    }
    await helper.unload();
    await until(() => brokers.engine("b1") === undefined);
    const dir = path.join(userDir, "iot-bridge");
    const bytes = Buffer.concat(fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile()).map((n) => fs.readFileSync(path.join(dir, n))));
    assert.ok(bytes.includes(Buffer.from("Dev 3")), "the table is in the file");
    for (const token of tokens) assert.equal(bytes.includes(Buffer.from(token)), false, "a token is in the SQLite file in clear");

    await loadFlow(NODES, flow(p, sqlite), {}, []);
    await until(() => fleetOf("fleet1")?.available === true && fleetOf("fleet1").size === 5, 5000, "the table after the restart");
    const c = await mqttDevice(p.port, tokens[4]);
    assert.ok(c.connected);
  });
});
