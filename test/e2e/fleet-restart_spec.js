"use strict";
// A fleet across a restart of a real Node-RED process (docs/ARCHITECTURE.md 3.8): devices added
// through the editor's admin API to a Blynk and a ThingsBoard fleet on a broker with `sqlite`
// persistence; Node-RED is killed (kill -9); the SQLite file holds the table but no token in
// clear; after the restart the same devices log in with the same tokens and reach the flows.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { freePort } = require("../lib/fixtures/ports.js");
const { prepareUserDir, startNodeRed, stopNodeRed } = require("../lib/fixtures/node-red-process.js");
const { until } = require("../support/wait.js");

const TAB = "fleetrestarttab1";

function flows(mqttPort) {
  return [
    { id: TAB, type: "tab", label: "fleet restart" },
    { id: "b1", type: "iot-broker", z: TAB, name: "broker", port: mqttPort, bind: "127.0.0.1", allowAnonymous: false, persistence: "sqlite", x: 100, y: 40, wires: [[]] },
    { id: "bfleet", type: "blynk-device", name: "Blynk fleet", connection: "local", broker: "b1", hosting: "fleet", pins: "V1=Temperature" },
    { id: "tfleet", type: "thingsboard-device", name: "TB fleet", connection: "local", broker: "b1", hosting: "fleet", gateway: false, auth: "token", qos: "1" },
    { id: "bin", type: "blynk-device-in", z: TAB, device: "bfleet", datastream: "", sync: false, x: 100, y: 100, wires: [["bstore"]] },
    { id: "bstore", type: "function", z: TAB, func: "const seen = global.get('seen') || []; seen.push(['blynk', msg.blynk.device.name, msg.payload]); global.set('seen', seen); return null;", outputs: 1, x: 300, y: 100, wires: [[]] },
    { id: "tin", type: "thingsboard-telemetry", z: TAB, device: "tfleet", x: 100, y: 160, wires: [["tstore"]] },
    { id: "tstore", type: "function", z: TAB, func: "const seen = global.get('seen') || []; seen.push(['tb', msg.thingsboard.device.name, msg.payload.t]); global.set('seen', seen); return null;", outputs: 1, x: 300, y: 160, wires: [[]] },
    // What the flows saw, for the test to read through an http endpoint.
    { id: "hin", type: "http in", z: TAB, url: "/seen", method: "get", x: 100, y: 220, wires: [["hfn"]] },
    { id: "hfn", type: "function", z: TAB, func: "msg.payload = global.get('seen') || []; return msg;", outputs: 1, x: 300, y: 220, wires: [["hout"]] },
    { id: "hout", type: "http response", z: TAB, x: 500, y: 220, wires: [] },
  ];
}

describe("fleets across a restart of a real Node-RED process on sqlite", function () {
  this.timeout(120_000);
  let userDir;
  let running;
  let base;
  let mqttUrl;
  const clients = [];

  before(async function () {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-fleet-restart-"));
    const [uiPort, mqttPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${uiPort}`;
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    prepareUserDir(userDir, { uiPort, flows: flows(mqttPort) });
  });

  after(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    if (running) await stopNodeRed(running.child, "SIGKILL");
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  const api = async (method, url, body) => {
    const res = await fetch(base + url, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: await res.json() };
  };
  const fleetReady = async (type, id) => {
    await until(async () => (await api("GET", `/${type}/${id}/fleet`).catch(() => ({ status: 0 }))).body?.available === true, 20_000, `the ${type} fleet`);
  };
  async function device(options) {
    const c = await mqtt.connectAsync(mqttUrl, { clientId: "", reconnectPeriod: 0, ...options });
    clients.push(c);
    return c;
  }
  const seen = async () => (await fetch(`${base}/seen`)).json();

  it("keeps the table (sealed) through kill -9; the same tokens log in afterwards", async function () {
    running = await startNodeRed(userDir);
    await fleetReady("blynk-device", "bfleet");
    await fleetReady("thingsboard-device", "tfleet");
    const blynk = [];
    const tb = [];
    for (let i = 0; i < 3; i++) {
      const b = await api("POST", "/blynk-device/bfleet/fleet", { name: `Lamp ${i}` });
      assert.equal(b.status, 200);
      blynk.push(b.body);
      const t = await api("POST", "/thingsboard-device/tfleet/fleet", { name: `Meter ${i}`, ...(i === 0 ? { credentials: { clientId: "meter-0", username: "meter", password: "MeterSecret0" } } : {}) });
      assert.equal(t.status, 200);
      tb.push(t.body);
    }
    const lamp = await device({ username: "device", password: blynk[1].credentials.token });
    await lamp.publishAsync("ds/Temperature", "21", { qos: 1 });
    await until(async () => (await seen()).some((s) => s[0] === "blynk" && s[1] === "Lamp 1"), 10_000, "Lamp 1 in the flow");

    await stopNodeRed(running.child, "SIGKILL");
    running = undefined;
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    const dir = path.join(userDir, "iot-bridge");
    const bytes = Buffer.concat(fs.readdirSync(dir).filter((n) => fs.statSync(path.join(dir, n)).isFile() && n.includes("sqlite")).map((n) => fs.readFileSync(path.join(dir, n))));
    assert.ok(bytes.includes(Buffer.from("Meter 2")), "the table is in the SQLite file");
    for (const d of [...blynk, ...tb]) assert.equal(bytes.includes(Buffer.from(d.credentials.token)), false, `the token of ${d.name} is in the SQLite file in clear`);
    assert.equal(bytes.includes(Buffer.from("MeterSecret0")), false, "a password is in the SQLite file in clear");

    running = await startNodeRed(userDir);
    await fleetReady("blynk-device", "bfleet");
    await fleetReady("thingsboard-device", "tfleet");
    assert.deepEqual((await api("GET", "/blynk-device/bfleet/fleet")).body.devices.map((d) => d.name), ["Lamp 0", "Lamp 1", "Lamp 2"]);
    const again = await device({ username: "device", password: blynk[2].credentials.token });
    await again.publishAsync("ds/Temperature", "22", { qos: 1 });
    const meter = await device({ username: tb[1].credentials.token });
    await meter.publishAsync("v1/devices/me/telemetry", JSON.stringify({ t: 7 }), { qos: 1 });
    const basic = await device({ clientId: "meter-0", username: "meter", password: "MeterSecret0" });
    await basic.publishAsync("v1/devices/me/telemetry", JSON.stringify({ t: 8 }), { qos: 1 });
    await until(async () => {
      const s = await seen();
      return s.some((x) => x[1] === "Lamp 2" && x[2] === 22) && s.some((x) => x[1] === "Meter 1" && x[2] === 7) && s.some((x) => x[1] === "Meter 0" && x[2] === 8);
    }, 10_000, "the restarted flows to see the same devices");
  });
});
