"use strict";
// `npm start` as a user runs it (minus the build, which `pretest` did): Node-RED's real CLI
// comes up with the demo flow, and the demo broker accepts the demo login and nothing else.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { freePort, portIsClosed } = require("../lib/fixtures/ports.js");

const root = path.join(__dirname, "..", "..");

describe("npm start (scripts/start.mjs)", function () {
  this.timeout(60000);
  let child;
  let userDir;
  let output = "";
  let uiPort;
  let mqttPort;

  before(async function () {
    [uiPort, mqttPort] = [await freePort(), await freePort()];
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-start-"));
    child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
      cwd: root,
      env: { ...process.env, PORT: String(uiPort), MQTT_PORT: String(mqttPort), IOT_BRIDGE_USER_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`npm start did not come up within 45 s:\n${output}`)), 45000);
      const onData = (chunk) => {
        output += chunk;
        if (output.includes(" Stop:")) {
          clearTimeout(deadline);
          resolve();
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (code) => {
        clearTimeout(deadline);
        reject(new Error(`start.mjs exited with ${code}:\n${output}`));
      });
    });
  });

  after(async function () {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("serves the editor with the demo flow deployed, without any password in the flow", async function () {
    const res = await fetch(`http://127.0.0.1:${uiPort}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
    assert.equal(res.status, 200);
    const { flows } = await res.json();
    assert.ok(flows.some((n) => n.type === "tab" && n.label === "IoT Bridge demo"));
    const broker = flows.find((n) => n.type === "iot-broker");
    assert.equal(Number(broker.port), mqttPort);
    assert.equal(broker.allowAnonymous, false);
    assert.doesNotMatch(JSON.stringify(flows), /iot-bridge-demo/);
    assert.doesNotMatch(output, /\[error\]/);
  });

  it("accepts the demo login, delivers the simulated sensor, refuses anonymous clients", async function () {
    const url = `mqtt://127.0.0.1:${mqttPort}`;
    const client = await mqtt.connectAsync(url, { username: "demo", password: "iot-bridge-demo", reconnectPeriod: 0 });
    try {
      const message = new Promise((resolve) => client.once("message", (topic, payload) => resolve([topic, payload.toString()])));
      await client.subscribeAsync("demo/#");
      const [topic, payload] = await message;
      assert.equal(topic, "demo/sensor/temperature");
      assert.ok(Number.isFinite(Number(payload)), `a number, got ${payload}`);
    } finally {
      await client.endAsync();
    }
    await assert.rejects(mqtt.connectAsync(url, { reconnectPeriod: 0 }), (err) => err.code === 5);
  });

  it("stops on Ctrl-C and frees both ports", async function () {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    await exited;
    assert.equal(await portIsClosed(mqttPort), true);
    assert.equal(await portIsClosed(uiPort), true);
  });
});
