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
const { until } = require("../lib/fixtures/wait.js");

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

  it("runs the Blynk demo: the simulated device is online on the hosted one and its values arrive", async function () {
    // On first start the credentials are still the plain file start.mjs wrote (Node-RED encrypts on its next save).
    const creds = JSON.parse(fs.readFileSync(path.join(userDir, "flows_cred.json"), "utf8"));
    const hosted = Object.values(creds).find((c) => typeof c.token === "string");
    const api = (query) => fetch(`http://127.0.0.1:${uiPort}/external/api/${query}`).then((r) => r.text());
    await until(async () => (await api(`isHardwareConnected?token=${hosted.token}`)) === "true", 20000, "the simulated Blynk device to come online");
    await until(async () => Number.isFinite(JSON.parse(await api(`get?token=${hosted.token}&v1&v2`)).v1), 20000, "a Temperature value");
    assert.equal(await api("get?token=not-the-token&v1"), '{"error":{"message":"Invalid token."}}');
    const flows = await (await fetch(`http://127.0.0.1:${uiPort}/flows`)).text();
    assert.ok(!flows.includes(hosted.token), "the token is not in the flows");
    assert.ok(!output.includes(hosted.token), "the token is not in the log");
  });

  it("stops on Ctrl-C and frees both ports", async function () {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    await exited;
    assert.equal(await portIsClosed(mqttPort), true);
    assert.equal(await portIsClosed(uiPort), true);
  });
});
