"use strict";
// examples/dashboard/01 "A self-hosted house" runs as shipped, with its broker moved to a free
// loopback port and Dashboard 2.0's nodes (not installed here) replaced by sinks at their ids:
// the living room's, the boiler's and the garden's values reach their ui-text, the Lamp and Heating
// switches' messages reach the simulated devices, the history charts get points, and no node
// shows a red status or reports an error.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { testTab, loadFlow, errorsOf, statuses, translatingFor } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");
const ts = require("./thingspeak-helpers.js");

helper.init(nodeRedPath);

const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/90-comment.js", "function/10-function.js", "function/15-change.js"].map(core);
const history = translatingFor({ RED: undefined })(require("../../dist/nodes/iot-history.js"));
const NODES = [...blynk.withBroker, ...tb.tbNodes, ...ts.tsNodes, history, ...CORE];
const FILE = path.join(__dirname, "../../examples/dashboard/01 - A self-hosted house (install Dashboard 2.0 first).json");

describe("example: a self-hosted house on Dashboard 2.0", function () {
  this.timeout(30_000);
  let userDir;
  beforeEach(function (done) {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-house-"));
    helper.settings({ userDir });
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    helper.settings({});
    await new Promise((resolve) => helper.stopServer(resolve));
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("serves the devices' values, switches and history to its dashboard with no red status", async function () {
    const shipped = JSON.parse(fs.readFileSync(FILE, "utf8"));
    const tab = testTab("house");
    const broker = shipped.find((n) => n.type === "iot-broker");
    const port = String(await freePort());
    const named = (type, label) => shipped.find((n) => n.type === type && (n.label === label || n.name === label));
    const ui = shipped.filter((n) => n.type.startsWith("ui-") && n.z !== undefined);
    const nodes = [];
    const credentials = {};
    for (const n of shipped) {
      if (n.type === "tab" || n.type === "global-config" || (n.type.startsWith("ui-") && n.z === undefined)) continue;
      const { credentials: given, ...node } = n;
      if (given) credentials[n.id] = given;
      const onTab = node.z === undefined ? node : { ...node, z: tab.id };
      // A widget becomes a sink at its id, keeping its wires: the switches send through them.
      if (node.type.startsWith("ui-")) nodes.push({ id: node.id, type: "helper", z: tab.id, wires: node.wires ?? [] });
      else if (node.type === "iot-broker") nodes.push({ ...onTab, port, bind: "127.0.0.1" });
      else if (typeof node.server === "string") nodes.push({ ...onTab, server: node.server.replace(`:${broker.port}`, `:${port}`) });
      else nodes.push(onTab);
    }
    assert.ok(ui.length >= 8, "the example has its widgets");
    const living = named("ui-text", "Temperature (°C)");
    const water = named("ui-text", "Water (°C)");
    const garden = shipped.find((n) => n.type === "ui-text" && n.group !== living.group && n.label === "Temperature (°C)");
    const charts = shipped.filter((n) => n.type === "ui-chart").map((n) => n.id);
    const lamp = named("ui-switch", "Lamp");
    const heating = named("ui-switch", "Heating");
    const lampSeen = named("debug", "lamp");
    const heatingSeen = named("debug", "heating");
    const got = await loadFlow(NODES, [tab, ...nodes], credentials, [living.id, water.id, garden.id, lampSeen.id, heatingSeen.id, ...charts]);

    const number = (id, what) => until(() => got[id].some((m) => typeof m.payload === "number"), 20_000, what);
    await number(living.id, "the living room's temperature on the dashboard");
    await number(water.id, "the boiler's water temperature on the dashboard");
    await number(garden.id, "the garden's temperature on the dashboard");

    // The switches write to the hosted devices; their simulated firmware receives it.
    helper.getNode(lamp.id).send({ topic: "Lamp", payload: 1 });
    await until(() => got[lampSeen.id].some((m) => Number(m.payload) === 1), 10_000, "the lamp switched on at the device");
    helper.getNode(heating.id).send({ topic: "heating", payload: 1 });
    await until(() => got[heatingSeen.id].some((m) => m.payload === true), 10_000, "heating on at the boiler");

    // Each chart's history read, as its minute inject does: points of what the devices sent.
    for (const reader of shipped.filter((n) => n.type === "iot-history")) helper.getNode(reader.id).receive({ payload: Date.now() });
    for (const chart of charts) {
      await until(() => got[chart].some((m) => Array.isArray(m.payload) && m.payload.length > 0 && typeof m.payload[0].value === "number"), 10_000, `points for chart ${chart}`);
    }

    for (const n of nodes) {
      const running = helper.getNode(n.id);
      if (!running?.status?.getCalls) continue;
      assert.deepEqual(errorsOf(running), [], `${n.type} "${n.name ?? n.id}" reported an error`);
      assert.notEqual(statuses(running).at(-1)?.fill, "red", `${n.type} "${n.name ?? n.id}" shows a red status`);
    }
  });
});
