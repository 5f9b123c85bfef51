"use strict";
// The legacy blynk-server HTTP API in a real Node-RED: an iot-broker node hosting a local-mode
// blynk-device, its flow nodes, and a user's own `http in` nodes on Node-RED's HTTP node app
// (one of them on a path shaped like the legacy API), all answered over a real HTTP server.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const os = require("node:os");
const path = require("node:path");
const { once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { runtime, withBroker, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "LegacyTok_0123456789abcdefghijk";
const UNKNOWN = "Unknown_0123456789abcdefghijklmn";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const NODES = [...withBroker, core("network/21-httpin.js")];
const IDS = ["b1", "dev", "in", "write", "event", "hello", "mine"];

function flow(port, broker = {}) {
  return [
    TAB,
    onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]], ...broker }),
    { id: "dev", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1", pins: "V1=Temperature" },
    onTab({ id: "in", type: "blynk-device-in", device: "dev", datastream: "", sync: false, wires: [["values"]] }),
    onTab({ id: "write", type: "blynk-write", device: "dev", datastream: "" }),
    onTab({ id: "event", type: "blynk-event", device: "dev", event: "", wires: [["events"]] }),
    // A user's own HTTP endpoints: one elsewhere, one on a path shaped like the legacy API.
    onTab({ id: "hello", type: "http in", url: "/hello", method: "get", wires: [["reply"]] }),
    onTab({ id: "mine", type: "http in", url: "/:who/get/:what", method: "get", wires: [["reply"]] }),
    onTab({ id: "reply", type: "http response", statusCode: "200" }),
    sink("values"),
    sink("events"),
  ];
}
const CREDS = () => ({ dev: { token: TOKEN } });

describe("legacy Blynk HTTP API in Node-RED", function () {
  const cleanups = [];
  let origin;
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    helper.settings({});
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function webServer() {
    const web = http.createServer(runtime.RED.httpNode);
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    cleanups.push(() => new Promise((resolve) => { web.closeAllConnections(); web.close(resolve); }));
    origin = `http://127.0.0.1:${web.address().port}`;
  }
  async function call(p, init = {}) {
    const res = await fetch(origin + p, init);
    return { status: res.status, body: await res.text() };
  }
  const json = (method, p, body) => call(p, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  it("writes over HTTP reach blynk-device-in and the device; flow writes are read back; notify and email reach blynk-event", async function () {
    const port = await freePort();
    const got = await loadFlow(NODES, flow(port), CREDS(), ["values", "events"]);
    await statusOf(helper.getNode("in"), (s) => s.text === `${STATUS}device-offline` || s.text === `${STATUS}connected`);
    await webServer();
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: "device", password: TOKEN, clientId: "" });
    cleanups.push(() => device.endAsync(true));
    const box = inbox(device);
    await device.subscribeAsync("downlink/#");

    assert.deepEqual(await call(`/${TOKEN}/update/V1?value=21.5`), { status: 200, body: "" });
    const value = await got.values.next((m) => m.topic === "Temperature");
    assert.deepEqual([value.payload, value.blynk.source], [21.5, "http"]);
    assert.equal((await box.next("downlink/ds/Temperature")).payload, "21.5");
    assert.deepEqual(await call(`/${TOKEN}/get/V1`), { status: 200, body: '["21.5"]' });
    assert.equal((await json("PUT", `/${TOKEN}/update/D4`, ["1"])).status, 200);
    assert.equal((await got.values.next((m) => m.topic === "D4")).payload, 1);

    assert.equal(await inject(helper.getNode("write"), { topic: "Temperature", payload: 19 }), undefined);
    assert.deepEqual(await call(`/${TOKEN}/get/V1`), { status: 200, body: '["19"]' });
    assert.equal(await inject(helper.getNode("write"), { topic: "V5", payload: "on" }), undefined);
    assert.deepEqual(await call(`/${TOKEN}/get/v5`), { status: 200, body: '["on"]' });
    assert.equal((await call(`/${TOKEN}/isHardwareConnected`)).body, "true");

    assert.equal((await json("POST", `/${TOKEN}/notify`, { body: "Door open" })).status, 200);
    const notify = await got.events.next((m) => m.topic === "notify");
    assert.deepEqual([notify.payload, notify.blynk.source, notify.blynk.device], ["Door open", "http", "Greenhouse"]);
    assert.equal((await json("POST", `/${TOKEN}/email`, { to: "me@example.com", subj: "Alarm", title: "Door open" })).status, 200);
    const email = await got.events.next((m) => m.topic === "email");
    assert.deepEqual([email.payload, email.blynk.to, email.blynk.subject], ["Door open", "me@example.com", "Alarm"]);

    // The user's own endpoints still answer, also the one shaped like the legacy API;
    // an unknown token-shaped segment on a path no flow serves gets the legacy answer.
    assert.equal((await call("/hello")).status, 200);
    const mine = await call(`/${UNKNOWN}/get/V1`);
    assert.equal(mine.status, 200);
    assert.notEqual(mine.body, "Invalid token.");
    assert.deepEqual(await call(`/${UNKNOWN}/isHardwareConnected`), { status: 400, body: "Invalid token." });
    assert.equal((await call(`/${UNKNOWN}/rtc`)).body, "Invalid token.");
    assertNoToken(TOKEN, IDS, got);
  });

  it("data/{pin} answers the pin's history as CSV from the broker's SQLite file, across a restart of the flows", async function () {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-legacy-http-"));
    cleanups.push(() => fs.rmSync(userDir, { recursive: true, force: true }));
    helper.settings({ userDir });
    const port = await freePort();
    await loadFlow(NODES, flow(port, { persistence: "sqlite" }), CREDS());
    await webServer();
    await until(async () => (await call(`/${TOKEN}/isHardwareConnected`)).status === 200, 5000, "the device hosted");
    assert.deepEqual(await call(`/${TOKEN}/data/V1`), { status: 400, body: "No data for pin." });
    const now = Date.now();
    assert.equal((await json("PUT", `/${TOKEN}/extra/pin/V1`, [{ timestamp: now - 2000, value: "20" }, { timestamp: now - 1000, value: "20.5" }])).status, 200);
    assert.equal((await call(`/${TOKEN}/update/V1?value=21`)).status, 200);
    assert.ok(fs.existsSync(path.join(userDir, "iot-bridge", "b1.sqlite")));

    await helper.unload();
    await loadFlow(NODES, flow(port, { persistence: "sqlite" }), CREDS());
    await webServer();
    let csv;
    await until(async () => (csv = await call(`/${TOKEN}/data/V1`)).status === 200, 5000, "the history served again");
    const rows = csv.body.trimEnd().split("\n");
    assert.deepEqual(rows.slice(0, 2), [`20,${now - 2000},0`, `20.5,${now - 1000},0`]);
    assert.match(rows[2], /^21,\d+,0$/);
    assert.deepEqual(await call(`/${TOKEN}/get/V1`), { status: 200, body: '["21"]' });
  });
});
