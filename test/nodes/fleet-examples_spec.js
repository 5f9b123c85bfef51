"use strict";
// The fleet examples (examples/blynk/06, examples/thingsboard/06) run as shipped, with only the
// broker's ports moved to free loopback ones: no account, no credentials, no red status; the
// onboarding inject answers a token, a device using it reaches the automation, and the answer goes
// back to that device.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fleetOf } = require("../../dist/nodes/lib/broker/index.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { testTab, statuses, translatingFor } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");

helper.init(nodeRedPath);

const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/90-comment.js", "function/10-function.js"].map(core);

function example(platform, name) {
  return JSON.parse(fs.readFileSync(path.join(__dirname, `../../examples/${platform}/${name}.json`), "utf8")).filter((n) => n.type !== "tab");
}

/** Loads an example on the test tab with its broker on free loopback ports; resolves with its nodes by type. */
async function run(modules, flow) {
  const tab = testTab("example");
  const port = await freePort();
  const blynkPort = await freePort();
  const nodes = flow.map((n) => {
    if (n.type === "iot-broker") return { ...n, z: tab.id, port: String(port), bind: "127.0.0.1", ...(n.blynkPort ? { blynkPort: String(blynkPort) } : {}) };
    return n.type.endsWith("-device") ? n : { ...n, z: tab.id };
  });
  await helper.load([...CORE, ...modules], [tab, ...nodes], {});
  const byType = (type) => flow.filter((n) => n.type === type).map((n) => helper.getNode(n.id));
  const debugOf = (prefix) => {
    const node = helper.getNode(flow.find((n) => n.type === "debug" && n.name.startsWith(prefix)).id);
    const seen = [];
    node.on("input", (m) => seen.push(m));
    return seen;
  };
  return { port, byType, debugOf };
}

function assertNoRed(flow) {
  for (const n of flow) {
    const node = helper.getNode(n.id);
    if (node?.status?.getCalls === undefined) continue;
    // What it shows once deployed and running (a node may show the broker as stopped while it starts).
    const now = statuses(node).at(-1);
    assert.notEqual(now?.fill, "red", `${n.type} "${n.name ?? n.id}" shows a red status: ${JSON.stringify(now)}`);
  }
}

describe("fleet examples run as shipped", function () {
  this.timeout(30_000);
  const clients = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("Blynk: onboard Kitchen, its cold Temperature switches its own Heater on", async function () {
    const flow = example("blynk", "06 - A fleet of devices on one template");
    const fleetNode = translatingFor(blynk.runtime)(require("../../dist/nodes/blynk-fleet.js"));
    const { port, byType, debugOf } = await run([...blynk.withBroker, fleetNode], flow);
    const config = flow.find((n) => n.type === "blynk-device");
    await until(() => fleetOf(config.id)?.available === true, 5000, "the fleet");
    const answers = debugOf("answer");
    byType("inject").find((n) => n.name === "onboard Kitchen").receive({});
    await until(() => answers.length === 1, 5000, "the onboarding answer");
    const token = answers[0].payload.credentials.token;
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: "device", password: token, clientId: "", reconnectPeriod: 0 });
    clients.push(device);
    const box = inbox(device);
    await device.subscribeAsync("downlink/#");
    await device.publishAsync("ds/Temperature", "17.5", { qos: 1 });
    assert.equal((await box.next("downlink/ds/Heater")).payload, "1");
    assertNoRed(flow);
  });

  it("ThingsBoard: onboard Pump 1, its pressure opens its own valve, its getTime is answered", async function () {
    const flow = example("thingsboard", "06 - A fleet of devices on one device profile");
    const fleetNode = translatingFor(tb.runtime)(require("../../dist/nodes/thingsboard-fleet.js"));
    const { port, byType, debugOf } = await run([...tb.withBroker, fleetNode], flow);
    const config = flow.find((n) => n.type === "thingsboard-device");
    await until(() => fleetOf(config.id)?.available === true, 5000, "the fleet");
    const answers = debugOf("answer");
    byType("inject")[0].receive({});
    await until(() => answers.length === 1, 5000, "the onboarding answer");
    const token = answers[0].payload.credentials.token;
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: token, clientId: "", reconnectPeriod: 0 });
    clients.push(device);
    const box = inbox(device);
    await device.subscribeAsync(["v1/devices/me/attributes", "v1/devices/me/rpc/response/+"]);
    await device.publishAsync("v1/devices/me/telemetry", JSON.stringify({ pressure: 6 }), { qos: 1 });
    assert.deepEqual(JSON.parse((await box.next("v1/devices/me/attributes")).payload), { valve: "open" });
    await device.publishAsync("v1/devices/me/rpc/request/1", JSON.stringify({ method: "getTime", params: {} }), { qos: 1 });
    assert.match(JSON.parse((await box.next("v1/devices/me/rpc/response/1")).payload).time, /^\d{4}-/);
    assertNoRed(flow);
  });
});
