"use strict";
// examples/blynk/04 "Replace your legacy Blynk server" runs as shipped (ports moved to free ones,
// bound to loopback): two npm blynk-library devices log in on its blynkPort with the tokens a user
// enters, the automation switches the greenhouse fan, the flow bridge and a firmware bridge reach
// the pump, the greenhouse's notify reaches blynk-event, and the chart page draws its history.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { jsDevice } = require("../lib/fixtures/blynk-js-device.js");
const { brokers } = require("../../dist/nodes/lib/broker/registry.js");
const { until, waitFor } = require("../support/wait.js");
const { translatingFor, testTab, loadFlow, errorsOf } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");

helper.init(nodeRedPath);

const runtime = { RED: undefined };
const historyNode = translatingFor(runtime)(require("../../dist/nodes/iot-history.js"));
const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/21-debug.js", "common/90-comment.js", "function/10-function.js", "function/15-change.js", "function/rbe.js", "network/21-httpin.js"].map(core);
const NODES = [...blynk.withBroker, historyNode, ...CORE];
const FILE = path.join(__dirname, "../../examples/blynk/04 - Replace your legacy Blynk server.json");

const GREENHOUSE = "Greenhouse_0123456789abcdefghij";
const PUMP = "PumpTok_0123456789abcdefghijklm";

describe("example: Replace your legacy Blynk server", function () {
  let userDir;
  const devices = [];
  beforeEach(function (done) {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-legacy-example-"));
    helper.settings({ userDir });
    helper.startServer(done);
  });
  afterEach(async function () {
    for (const d of devices.splice(0)) d.close();
    await helper.unload();
    helper.settings({});
    await new Promise((resolve) => helper.stopServer(resolve));
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("is what the issue asks for: a broker with blynkPort 8080, two hosted devices, a bridge, an automation, a history chart", function () {
    const flow = JSON.parse(fs.readFileSync(FILE, "utf8")).filter((n) => n.type !== "tab");
    const broker = flow.find((n) => n.type === "iot-broker");
    assert.equal(broker.blynkPort, "8080");
    const hosted = flow.filter((n) => n.type === "blynk-device");
    assert.equal(hosted.length, 2);
    assert.ok(hosted.every((d) => d.connection === "local" && d.broker === broker.id));
    assert.ok(flow.some((n) => n.type === "iot-history" && n.device === hosted[0].id));
    const ids = new Set(flow.map((n) => n.id));
    assert.equal(ids.size, flow.length, "ids are unique");
    for (const n of flow) for (const target of (n.wires ?? []).flat()) assert.ok(ids.has(target), `${n.id} is wired to a node of the flow`);
  });

  it("deploys without errors and serves two legacy-firmware devices end to end", async function () {
    const flow = JSON.parse(fs.readFileSync(FILE, "utf8")).filter((n) => n.type !== "tab");
    const tab = testTab("example");
    const [port, blynkPort] = [await freePort(), await freePort()];
    const isConfig = (n) => n.type === "blynk-device";
    const nodes = flow.map((n) => (isConfig(n) ? n : { ...n, z: tab.id, ...(n.type === "iot-broker" ? { port: String(port), blynkPort: String(blynkPort), bind: "127.0.0.1" } : {}) }));
    const [greenhouse, pump] = flow.filter(isConfig);
    const broker = flow.find((n) => n.type === "iot-broker");
    const events = flow.find((n) => n.type === "blynk-event");
    const credentials = { [greenhouse.id]: { token: GREENHOUSE }, [pump.id]: { token: PUMP } };
    await loadFlow(NODES, [tab, ...nodes], credentials);
    await until(() => brokers.engine(broker.id) !== undefined, 5000, "the example's broker");
    for (const n of nodes) {
      const running = helper.getNode(n.id);
      if (running) assert.deepEqual(errorsOf(running), [], `${n.type} ${n.name ?? n.id} reported an error at deploy`);
    }
    const notified = [];
    helper.getNode(events.id).on("call:send", (call) => notified.push(call.args[0]));

    const gh = jsDevice({ port: blynkPort, token: GREENHOUSE });
    const pu = jsDevice({ port: blynkPort, token: PUMP });
    devices.push(gh, pu);
    await Promise.all([waitFor(gh.blynk, "connect"), waitFor(pu.blynk, "connect")]);

    // The automation: 31.5 °C on V1 switches the fan (V2) on.
    const fan = waitFor(new gh.blynk.VirtualPin(2), "write");
    gh.blynk.virtualWrite(1, 31.5);
    assert.deepEqual(await fan, ["1"]);

    // The flow bridge (greenhouse V3 -> pump V1), then a firmware bridge on V10.
    const pumpPin = new pu.blynk.VirtualPin(1);
    const watered = waitFor(pumpPin, "write");
    gh.blynk.virtualWrite(3, 1);
    assert.deepEqual(await watered, ["1"]);
    const bridged = waitFor(pumpPin, "write");
    const bridge = new gh.blynk.WidgetBridge(10);
    bridge.setAuthToken(PUMP);
    bridge.virtualWrite(1, 0);
    assert.deepEqual(await bridged, ["0"]);

    // The legacy notify reaches blynk-event.
    gh.blynk.notify("door open");
    await until(() => notified.some((m) => m.topic === "notify" && m.payload === "door open"), 5000, "the notify event");

    // The chart page draws the history the broker kept.
    await until(async () => (await brokers.engine(broker.id).history.query("blynk", greenhouse.id, "Temperature")).length > 0, 5000, "the history");
    const page = await request(runtime.RED.httpNode).get("/greenhouse/chart").expect(200);
    assert.match(page.headers["content-type"], /^text\/html/);
    assert.match(page.text, /<polyline points="[\d., ]+"/);
  });
});
