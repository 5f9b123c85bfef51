"use strict";
// The OTA examples run as shipped, with only what a user fills in (the tokens; here free ports
// instead of 1887/1889): ThingsBoard's "ship firmware" reaches the device side, which verifies
// it, emits it and reports UPDATED; Blynk's "ship firmware", "reboot" and "set metadata" reach
// an MQTT.js device, and its info after the update comes out as $system/info. No red status.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { testTab, statuses } = require("../support/node-harness.js");
const tb = require("./thingsboard-helpers.js");
const blynk = require("./blynk-helpers.js");

helper.init(nodeRedPath);

const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/25-catch.js", "common/90-comment.js", "function/10-function.js", "function/10-switch.js"].map(core);
const example = (platform, name) => JSON.parse(fs.readFileSync(path.join(__dirname, "../../examples", platform, `${name}.json`), "utf8")).filter((n) => n.type !== "tab");

/** The example on a test tab, with `patch` applied to nodes by type. */
function onTestTab(flow, patch) {
  const tab = testTab("example");
  return [tab, ...flow.map((n) => ({ ...n, ...(patch[n.type] ? patch[n.type](n) : {}), ...(n.wires === undefined ? {} : { z: tab.id }) }))]; // config nodes (no wires) stay global
}

/** Everything reaching a debug node named `name`. */
function debugged(flow, name) {
  const node = helper.getNode(flow.find((n) => n.type === "debug" && n.name === name).id);
  const seen = [];
  node.on("input", (msg) => seen.push(msg));
  return seen;
}
const press = (flow, name) => helper.getNode(flow.find((n) => n.type === "inject" && n.name === name).id).receive({});
/** No node ends red (a broker that starts after its users shows "broker not running" for a moment). */
const noRed = (flow) => {
  for (const n of flow) {
    const node = helper.getNode(n.id);
    if (node?.status?.getCalls === undefined) continue;
    assert.notEqual(statuses(node).at(-1)?.fill, "red", `${n.type} "${n.name}" shows a red status: ${JSON.stringify(statuses(node).at(-1))}`);
  }
};

describe("OTA examples", function () {
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

  it("ThingsBoard: firmware shipped by the flow is downloaded by the device side, verified, applied, reported UPDATED", async function () {
    const port = await freePort();
    const shipped = example("thingsboard", "09 - Firmware updates (OTA) both ways");
    const flow = onTestTab(shipped, {
      "iot-broker": () => ({ port: String(port), bind: "127.0.0.1" }),
      "thingsboard-device": (n) => (n.connection === "mqtt" ? { server: `mqtt://127.0.0.1:${port}` } : {}),
    });
    const token = "ExampleOtaTOKEN01234";
    const creds = Object.fromEntries(flow.filter((n) => n.type === "thingsboard-device").map((n) => [n.id, { token }]));
    await helper.load([...CORE, ...tb.withBroker], flow, creds);
    const states = debugged(flow, "fw_state from the device");
    const firmware = debugged(flow, "firmware received");
    const errors = debugged(flow, "errors");
    press(flow, "ship firmware");
    await until(() => states.some((m) => m.payload.fw_state === "UPDATED"), 10000, `UPDATED; got ${JSON.stringify(states.map((m) => m.payload))}`);
    assert.deepEqual(states.map((m) => m.payload.fw_state), ["DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATED"]);
    assert.equal(states.at(-1).payload.current_fw_title, "demo-sensor");
    assert.equal(firmware.filter((m) => Buffer.isBuffer(m.payload)).length, 1);
    assert.deepEqual(errors, []);
    noRed(flow);
  });

  it("Blynk: firmware, reboot and metadata reach an MQTT device; its info after the update comes out", async function () {
    const port = await freePort();
    const shipped = example("blynk", "07 - Firmware updates and commands to a self-hosted device");
    const flow = onTestTab(shipped, { "iot-broker": () => ({ port: String(port), bind: "127.0.0.1" }) });
    const token = "ExampleOta_0123456789abcdefghijk";
    const device = flow.find((n) => n.type === "blynk-device");
    await helper.load([...CORE, ...blynk.withBroker], flow, { [device.id]: { token } });
    const info = debugged(flow, "device info (firmware version)");
    const errors = debugged(flow, "errors");
    let dev;
    await until(async () => {
      dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: "device", password: token, reconnectPeriod: 0 }).catch(() => undefined);
      return dev !== undefined;
    }, 5000, "the device connected");
    cleanups.push(() => dev.endAsync(true));
    const inbox = [];
    dev.on("message", (topic, payload) => inbox.push([topic, payload.toString()]));
    await dev.subscribeAsync("downlink/#", { qos: 1 });
    press(flow, "ship firmware");
    press(flow, "reboot");
    press(flow, "set metadata");
    await until(() => inbox.length >= 3, 5000, `three downlinks; got ${JSON.stringify(inbox)}`);
    // The function node is one hop more than the injects: the order of arrival is not the order of the presses.
    assert.deepEqual(inbox.map(([topic]) => topic).sort(), ["downlink/meta/Device Name", "downlink/ota/json", "downlink/reboot"]);
    const ota = JSON.parse(inbox.find(([topic]) => topic === "downlink/ota/json")[1]);
    assert.match(ota.url, /\/iot-bridge\/blynk\/ota\/[A-Za-z0-9_-]{22}$/);
    await dev.publishAsync("info/mcu", JSON.stringify({ ver: ota.ver, build: ota.build }), { qos: 1 });
    await until(() => info.some((m) => m.payload.ver === ota.ver), 5000, "the new version as $system/info");
    assert.deepEqual(errors, []);
    noRed(flow);
  });
});
