"use strict";
// The ThingsBoard example "Devices join a self-hosted fleet (provisioning)" runs as shipped:
// deployed as imported (no credentials) it shows no red status and only warns that provisioning
// waits for its secret; with the secret a device joins with ThingsBoard's documented request
// (its name approved by the flow), a name the flow vetoes is refused, and the joined device's
// telemetry and claims reach their debug nodes. The port is the only thing changed.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { connect } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { testTab, lastStatus } = require("../support/node-harness.js");
const { withBroker } = require("./thingsboard-helpers.js");

helper.init(nodeRedPath);

const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/25-catch.js", "common/90-comment.js", "function/10-function.js", "function/10-switch.js"].map(core);
const EXAMPLE = path.join(__dirname, "../../examples/thingsboard/07 - Devices join a self-hosted fleet (provisioning).json");
const SECRET = "example-provision-secret";

describe("ThingsBoard example: devices join a self-hosted fleet (provisioning)", function () {
  this.timeout(20_000);
  const clients = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function load(credentials) {
    const port = await freePort();
    const flow = JSON.parse(fs.readFileSync(EXAMPLE, "utf8")).filter((n) => n.type !== "tab");
    const tab = testTab("example");
    const nodes = flow.map((n) => (n.type === "iot-broker" ? { ...n, port, bind: "127.0.0.1", z: tab.id } : n.type === "thingsboard-device" ? n : { ...n, z: tab.id }));
    const device = flow.find((n) => n.type === "thingsboard-device");
    await helper.load([...CORE, ...withBroker], [tab, ...nodes], credentials === undefined ? {} : { [device.id]: credentials });
    const debug = (name) => {
      const node = helper.getNode(flow.find((n) => n.type === "debug" && n.name === name).id);
      const seen = [];
      node.on("input", (msg) => seen.push(msg));
      return seen;
    };
    return { port, flow, device, debug };
  }

  async function provision(port, name) {
    const client = await connect(`mqtt://127.0.0.1:${port}`, { username: "provision" });
    clients.push(client);
    const answer = new Promise((resolve) => client.once("message", (_t, payload) => resolve(JSON.parse(payload.toString()))));
    await client.subscribeAsync("/provision/response");
    await client.publishAsync("/provision/request", JSON.stringify({ deviceName: name, provisionDeviceKey: "boilers-provision-key", provisionDeviceSecret: SECRET }));
    return answer;
  }

  it("deploys as imported with no red status; provisioning waits for its secret, with a warning", async function () {
    const { flow, device } = await load();
    const tb = flow.filter((n) => n.type.startsWith("thingsboard-") && n.type !== "thingsboard-device");
    // Settled: the fleet is served once the broker runs (before that, a moment of "broker not running").
    // Served: "0 of 0 online" (yellow: no device yet), never red.
    await until(() => tb.every((n) => /status\.fleet-online /.test(lastStatus(helper.getNode(n.id))?.text ?? "")), 5000, `the ThingsBoard nodes showing the fleet; saw ${JSON.stringify(tb.map((n) => lastStatus(helper.getNode(n.id))))}`);
    for (const n of tb) assert.notEqual(lastStatus(helper.getNode(n.id)).fill, "red", `${n.type} shows no red status`);
    const node = helper.getNode(device.id);
    const warned = node.warn.getCalls().filter((c) => c.thisValue === node).map((c) => c.args[0]).join("\n");
    assert.match(warned, /provisioning-off.*missing-provision-secret/);
  });

  it("with its secret: a boiler joins (approved by the flow), a heater is vetoed, the boiler's telemetry and claim reach the debug nodes", async function () {
    const { port, debug } = await load({ provisionSecret: SECRET });
    const telemetry = debug("telemetry");
    const claims = debug("claims");
    const joined = await provision(port, "Boiler 1");
    assert.equal(joined.status, "SUCCESS");
    assert.deepEqual(await provision(port, "Heater 1"), { status: "FAILURE", errorMsg: "Failed to provision device!" });
    const boiler = await connect(`mqtt://127.0.0.1:${port}`, { username: joined.credentialsValue });
    clients.push(boiler);
    await boiler.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temperature: 61 }), { qos: 1 });
    await boiler.publishAsync("v1/devices/me/claim", JSON.stringify({ secretKey: "abc", durationMs: 60000 }), { qos: 1 });
    await until(() => telemetry.length > 0 && claims.length > 0, 5000, "telemetry and a claim");
    assert.deepEqual([telemetry[0].payload, telemetry[0].thingsboard.device.name], [{ temperature: 61 }, "Boiler 1"]);
    assert.deepEqual(claims[0].payload, { secretKey: "abc", durationMs: 60000 });
  });
});
