"use strict";
// The history examples run as shipped: example 01 (core nodes only) deploys with no error once
// the channel has the credentials its Generate button gives (Node-RED never exports them), keeps
// the history in a SQLite file under the userDir, and serves its chart page and its CSV downloads
// from it; example 02's Dashboard 2.0 chart is set up for iot-history's output (it needs
// @flowfuse/node-red-dashboard, which this package does not depend on, so it is checked as JSON
// and otherwise is example 01).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { brokers } = require("../../dist/nodes/lib/broker/registry.js");
const { until } = require("../support/wait.js");
const { translatingFor, testTab, loadFlow, errorsOf } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const ts = require("./thingspeak-helpers.js");

helper.init(nodeRedPath);

const runtime = { RED: undefined };
const historyNode = translatingFor(runtime)(require("../../dist/nodes/iot-history.js"));
const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/90-comment.js", "common/25-catch.js", "function/10-function.js", "function/15-change.js", "network/21-httpin.js"].map(core);
const NODES = [blynk.modules.broker, ...ts.tsNodes.slice(0, 2), historyNode, ...CORE];

const EXAMPLES = path.join(__dirname, "../../examples/history");
const example = (name) => JSON.parse(fs.readFileSync(path.join(EXAMPLES, name), "utf8")).filter((n) => n.type !== "tab");
const CONFIG_TYPES = new Set(["thingspeak-channel", "ui-group", "ui-page", "ui-base", "ui-theme"]);

describe("iot-history examples", function () {
  let preloadCatch;
  let userDir;
  beforeEach(function (done) {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-history-examples-"));
    helper.settings({ userDir });
    // The test helper loads its core catch node once per catch node of a flow (the second load
    // throws "already registered"): the examples have two, so the catch module comes with NODES.
    preloadCatch = helper._nodeModules.catch;
    delete helper._nodeModules.catch;
    helper.startServer(done);
  });
  afterEach(async function () {
    helper._nodeModules.catch = preloadCatch;
    await helper.unload();
    helper.settings({});
    await new Promise((resolve) => helper.stopServer(resolve));
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("01 serves the chart page and the CSV downloads of the channel's history", async function () {
    const flow = example("01 - Chart a self-hosted channel's history.json");
    const tab = testTab("example");
    const port = await freePort();
    const broker = flow.find((n) => n.type === "iot-broker");
    const channel = flow.find((n) => n.type === "thingspeak-channel");
    const nodes = flow.map((n) => (CONFIG_TYPES.has(n.type) ? n : { ...n, z: tab.id, ...(n.type === "iot-broker" ? { port: String(port), bind: "127.0.0.1" } : {}) }));
    // What the channel's Generate button would give (credentials are not part of an exported flow).
    const credentials = { [channel.id]: { clientId: "ExampleClient00001", username: "ExampleUser000001", password: "ExamplePassword00000001" } };
    await loadFlow(NODES, [tab, ...nodes], credentials);
    await until(() => brokers.engine(broker.id) !== undefined, 5000, "the example's broker");
    for (const n of nodes) {
      const running = helper.getNode(n.id);
      if (running) assert.deepEqual(errorsOf(running), [], `${n.type} ${n.name ?? n.id} reported an error at deploy`);
    }
    assert.ok(fs.existsSync(path.join(userDir, "iot-bridge", `${broker.id}.sqlite`)), "the history is in a SQLite file under the userDir");
    const history = brokers.engine(broker.id).history;
    const now = Date.now();
    for (let i = 5; i >= 1; i--) {
      history.append("thingspeak", channel.id, "field1", now - i * 60_000, 20 + i);
      history.append("thingspeak", channel.id, "field2", now - i * 60_000, 60 + i);
    }
    const app = runtime.RED.httpNode;
    const page = await request(app).get("/garden/chart").expect(200);
    assert.match(page.headers["content-type"], /^text\/html/);
    assert.match(page.text, /<polyline points="[\d., ]+"/);
    assert.match(page.text, /Garden \(self-hosted\): Temperature, last 6 hours \(\d+ points\)/);
    const csv = await request(app).get("/garden/history.csv").expect(200);
    assert.match(csv.headers["content-type"], /^text\/csv/);
    assert.equal(csv.headers["content-disposition"], "attachment; filename=garden.csv");
    const rows = csv.text.trimEnd().split("\n");
    assert.equal(rows[0], "time,ts,value");
    for (let i = 5; i >= 1; i--) assert.ok(rows.includes(`${new Date(now - i * 60_000).toISOString()},${now - i * 60_000},${20 + i}`), `row of ${20 + i}`);
    const humidity = await request(app).get("/garden/humidity.csv").expect(200);
    assert.ok(humidity.text.includes(`,${now - 60_000},61\n`), humidity.text);
  });

  it("01 answers a page whose read is refused with the reason (no hanging request)", async function () {
    const flow = example("01 - Chart a self-hosted channel's history.json");
    const tab = testTab("example");
    const channel = flow.find((n) => n.type === "thingspeak-channel");
    // Without its broker the channel's history cannot be read.
    const nodes = flow.filter((n) => n.type !== "iot-broker").map((n) => (CONFIG_TYPES.has(n.type) ? n : { ...n, z: tab.id }));
    await loadFlow(NODES, [tab, ...nodes], { [channel.id]: { clientId: "ExampleClient00001", username: "ExampleUser000001", password: "ExamplePassword00000001" } });
    const res = await request(runtime.RED.httpNode).get("/garden/chart").expect(503);
    assert.match(res.text, /^Error: iot-history\.errors\.broker-missing /);
  });

  it("02 sets up its Dashboard 2.0 chart for iot-history's output, and is example 01 plus the dashboard", function () {
    const two = example("02 - Dashboard 2.0 chart (install Dashboard 2.0 first).json");
    const one = example("01 - Chart a self-hosted channel's history.json");
    const chart = two.find((n) => n.type === "ui-chart");
    assert.deepEqual(
      [chart.xAxisProperty, chart.xAxisPropertyType, chart.yAxisProperty, chart.yAxisPropertyType, chart.category, chart.categoryType, chart.action, chart.xAxisType, chart.chartType],
      ["ts", "property", "value", "property", "topic", "msg", "replace", "time", "line"],
    );
    const reader = two.find((n) => n.type === "iot-history" && n.wires[0].includes(chart.id));
    assert.equal(reader.format, "points");
    assert.match(two.find((n) => n.type === "comment").info, /install `@flowfuse\/node-red-dashboard`/);
    // global-config: the hint that makes the editor offer to install Dashboard 2.0 on import.
    const ours = (flow) => flow.filter((n) => !n.type.startsWith("ui-") && n.type !== "comment" && n.type !== "global-config").map((n) => n.type).sort();
    assert.deepEqual(ours(two), ours(one));
    for (const [name, flow] of [["01", one], ["02", two]]) {
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length, `${name}: ids are unique`);
      for (const n of flow) for (const target of (n.wires ?? []).flat()) assert.ok(ids.has(target), `${name}: ${n.id} is wired to a node of the flow`);
      for (const n of flow.filter((x) => x.type === "iot-history")) assert.ok(ids.has(n.device), `${name}: ${n.id} reads a device of the flow`);
    }
  });
});
