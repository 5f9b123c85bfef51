"use strict";
// `npm start` with a port another program holds: it stops before starting anything and names the
// variable that moves the port (PORT for the editor, MQTT_PORT for the demo broker).
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const { freePort } = require("../lib/fixtures/ports.js");

const root = path.join(__dirname, "..", "..");

/** Runs start.mjs to its exit; resolves with its exit code and everything it printed. */
function runStart(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c) => (output += c));
    child.stderr.on("data", (c) => (output += c));
    const deadline = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`start.mjs did not stop at the busy port:\n${output}`));
    }, 20000);
    child.on("exit", (code) => {
      clearTimeout(deadline);
      resolve({ code, output });
    });
  });
}

async function occupy() {
  const server = net.createServer((s) => s.destroy());
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

describe("npm start (scripts/start.mjs) with a busy port", function () {
  this.timeout(30000);
  let userDir;
  let holder;
  beforeEach(async function () {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-start-ports-"));
    holder = await occupy();
  });
  afterEach(async function () {
    await new Promise((resolve) => holder.close(resolve));
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("the editor's port: says so, names PORT, starts nothing and prints no banner", async function () {
    const busy = holder.address().port;
    const { code, output } = await runStart({ PORT: String(busy), MQTT_PORT: String(await freePort()), IOT_BRIDGE_USER_DIR: userDir });
    assert.equal(code, 1);
    assert.match(output, new RegExp(`port ${busy} \\(the editor, PORT\\) is in use`));
    assert.match(output, new RegExp(`PORT=${busy + 1} npm start`));
    assert.doesNotMatch(output, /is running|Stop:/);
    assert.equal(fs.existsSync(path.join(userDir, "flows.json")), false);
  });

  it("the demo broker's port on a first start: says so, names MQTT_PORT, writes no flow", async function () {
    const busy = holder.address().port;
    const { code, output } = await runStart({ PORT: String(await freePort()), MQTT_PORT: String(busy), IOT_BRIDGE_USER_DIR: userDir });
    assert.equal(code, 1);
    assert.match(output, new RegExp(`port ${busy} \\(the demo MQTT broker, MQTT_PORT\\) is in use`));
    assert.match(output, new RegExp(`MQTT_PORT=${busy + 1} npm start`));
    assert.doesNotMatch(output, /is running|Stop:/);
    assert.equal(fs.existsSync(path.join(userDir, "flows.json")), false, "a later MQTT_PORT still applies");
  });

  it("the demo broker's port in a kept flow: Node-RED starts, the banner waits until the broker listens", async function () {
    this.timeout(60000);
    const busy = holder.address().port;
    const uiPort = await freePort();
    // A kept demo flow (start.mjs knows its broker by the demo tab's id) whose broker port is taken.
    const tab = "b0d9e1a1c0de0001";
    const flow = [
      { id: tab, type: "tab", label: "IoT Bridge demo" },
      { id: "b0d9e1a1c0de0004", type: "iot-broker", z: tab, name: "Local broker (demo)", port: busy, bind: "127.0.0.1", allowAnonymous: true, x: 170, y: 160, wires: [[]] },
    ];
    fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flow));
    const child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
      cwd: root,
      env: { ...process.env, PORT: String(uiPort), IOT_BRIDGE_USER_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const seen = (pattern, what) =>
      new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`no ${what} within 45 s:\n${output}`)), 45000);
        const check = () => {
          if (!pattern.test(output)) return;
          clearTimeout(deadline);
          child.stdout.off("data", check);
          resolve();
        };
        child.stdout.on("data", check);
        check();
      });
    child.stdout.on("data", (c) => (output += c));
    child.stderr.on("data", (c) => (output += c));
    try {
      await seen(/the demo broker waits for port/, "note that the broker waits");
      assert.match(output, new RegExp(`port ${busy} of the demo broker is in use`));
      assert.match(output, /MQTT_PORT=/);
      assert.doesNotMatch(output, /is running|Stop:/, "no banner while the broker waits");
      await new Promise((resolve) => holder.close(resolve));
      holder = await occupy(); // for afterEach: another port, closed there
      await seen(/ Stop: /, "banner once the broker listens");
      assert.match(output, /IoT Bridge for Node-RED is running/);
      assert.ok(output.indexOf("listening on mqtt://127.0.0.1:" + busy) < output.indexOf("is running"), "the banner follows the broker");
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
  });
});
