"use strict";
// The iot-broker node's persistence: `sqlite` keeps sessions, retained messages and hosted
// devices' state in one file under the userDir, opened once per broker node, handed to the next
// engine on a redeploy and closed when the node goes; an unusable file stops the broker with one
// error naming it; `memory` keeps hosted devices' state across a redeploy that restarts the broker.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { fork } = require("node:child_process");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { openSqliteStore } = require("../../dist/nodes/lib/store/index.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort, portIsClosed } = require("../lib/fixtures/ports.js");
const { until, waitFor } = require("../support/wait.js");
const { withBroker, TAB } = require("./blynk-helpers.js");
const { onTab, statusOf, errorsOf } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "StorageBlynkToken_0123456789abcd";
const STORE_CHILD = path.join(__dirname, "..", "lib", "store", "store-child.js");

function flow(port, broker = {}) {
  return [
    TAB,
    onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: true, persistence: "sqlite", wires: [[]], ...broker }),
    { id: "dev", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1" },
  ];
}
/** Fresh each time: the runtime keeps (and changes) the object it is handed. */
const creds = () => ({ dev: { token: TOKEN } });

/** A Blynk device on the broker, once the broker's current engine hosts it (a new engine adds its devices as it starts). */
async function blynkDevice(url) {
  let device;
  await until(async () => {
    device = await connect(url, { username: "device", password: TOKEN, clientId: "" }).catch(() => undefined);
    return device !== undefined;
  }, 5000, "the hosted device to be accepted");
  await device.subscribeAsync("downlink/#");
  return device;
}

async function storedTemperature(url) {
  const device = await blynkDevice(url);
  try {
    const box = inbox(device);
    await device.publishAsync("get/ds", "Temperature", { qos: 1 });
    return (await box.next("downlink/ds/Temperature")).payload;
  } finally {
    await device.endAsync(true);
  }
}

describe("iot-broker node: persistence", function () {
  this.timeout(20_000);
  let userDir;
  const cleanups = [];

  beforeEach(function (done) {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-node-store-"));
    helper.settings({ userDir });
    helper.startServer(done);
  });

  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    helper.settings({});
    await new Promise((resolve) => helper.stopServer(resolve));
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  const defaultFile = () => path.join(userDir, "iot-bridge", "b1.sqlite");

  it("sqlite: keeps a hosted device's values, retained messages and a persistent session's queued messages across a restart of Node-RED", async function () {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    await helper.load(withBroker, flow(port), creds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    assert.ok(fs.existsSync(defaultFile()), "the database is <userDir>/iot-bridge/<node id>.sqlite");

    const device = await blynkDevice(url);
    await device.publishAsync("ds/Temperature", "21.5", { qos: 1 });
    await device.endAsync();
    const sleeper = await connect(url, { clientId: "sleeper", clean: false });
    await sleeper.subscribeAsync("queued/#", { qos: 1 });
    await sleeper.endAsync();
    const publisher = await connect(url, { clientId: "publisher" });
    await publisher.publishAsync("state/lamp", "on", { qos: 1, retain: true });
    for (const n of [1, 2]) await publisher.publishAsync("queued/x", `m${n}`, { qos: 1 });
    await publisher.endAsync();

    // Node-RED stops (the file is closed, or the second load could not open it) and starts again.
    await helper.unload();
    assert.equal(await portIsClosed(port), true);
    await helper.load(withBroker, flow(port), creds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");

    assert.equal(await storedTemperature(url), "21.5");
    const back = mqtt.connect(url, { clientId: "sleeper", clean: false, reconnectPeriod: 0 });
    cleanups.push(() => back.endAsync(true));
    const got = [];
    back.on("message", (_topic, payload) => got.push(payload.toString()));
    assert.equal((await waitFor(back, "connect")).sessionPresent, true);
    await until(() => got.length >= 2, 5000, "the queued messages");
    assert.deepEqual(got, ["m1", "m2"]);
    const reader = await connect(url, { clientId: "reader" });
    cleanups.push(() => reader.endAsync(true));
    const retained = waitFor(reader, "message");
    await reader.subscribeAsync("state/#");
    assert.equal((await retained)[1].toString(), "on");
  });

  it("sqlite: a redeploy that changes the broker's settings hands the open database to the new engine, with an aedes id of its own", async function () {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    await helper.load(withBroker, flow(port), creds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const first = brokers.engine("b1");
    assert.match(first.id, /^node-red-b1-[0-9a-f]{8}$/);
    const device = await blynkDevice(url);
    await device.publishAsync("ds/Temperature", "19", { qos: 1 });
    await device.endAsync();

    await helper.setFlows(flow(port, { maxQueuedMessages: "50", retention: "7" }), "nodes", creds());
    await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== first, 5000, "the new engine");
    const second = brokers.engine("b1");
    assert.notEqual(second.id, first.id, "each engine has its own aedes id (FINDINGS 3)");
    assert.deepEqual(errorsOf(helper.getNode("b1")), [], "the file was not opened a second time");
    assert.equal(await storedTemperature(url), "19");
  });

  it("sqlite: closes the file when the broker node is deleted", async function () {
    const port = await freePort();
    await helper.load(withBroker, flow(port), creds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    await helper.setFlows([TAB], "full", {});
    await until(() => brokers.engine("b1") === undefined, 5000, "the broker to go");
    // Another opener in this process is refused while the node holds the file.
    await until(() => {
      try {
        openSqliteStore(defaultFile()).close();
        return true;
      } catch {
        return false;
      }
    }, 5000, "the file to be closed");
  });

  it("memory: a redeploy that restarts the broker keeps the hosted devices' state", async function () {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    await helper.load(withBroker, flow(port, { persistence: "memory" }), creds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const device = await blynkDevice(url);
    await device.publishAsync("ds/Temperature", "23", { qos: 1 });
    await device.endAsync();
    const first = brokers.engine("b1");
    await helper.setFlows(flow(port, { persistence: "memory", allowAnonymous: false }), "nodes", creds());
    await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== first, 5000, "the new engine");
    assert.equal(await storedTemperature(url), "23");
    assert.equal(fs.existsSync(path.join(userDir, "iot-bridge")), false, "memory writes no file");
  });

  describe("an unusable database file", function () {
    /** Loads a broker on `dbPath` and checks it stays stopped with one error naming the file. */
    async function refused(dbPath, reason) {
      const port = await freePort();
      await helper.load(withBroker, flow(port, { dbPath }), creds());
      const node = helper.getNode("b1");
      await statusOf(node, (s) => s.fill === "red" && s.text === "iot-broker.status.store-unusable");
      const errors = errorsOf(node);
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.ok(errors[0].startsWith("iot-broker.errors.store-unusable"), errors[0]);
      assert.ok(errors[0].includes(path.resolve(userDir, dbPath)), `the error names the file: ${errors[0]}`);
      assert.match(errors[0], reason);
      assert.equal(await portIsClosed(port), true, "the broker does not run on memory instead");
      assert.equal(brokers.engine("b1"), undefined);
      // Node-RED itself goes on: a deploy that fixes it starts the broker.
      await helper.setFlows(flow(port, { dbPath: "fixed.sqlite" }), "nodes", creds());
      await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    }

    it("a file that is not a database", async function () {
      fs.writeFileSync(path.join(userDir, "garbage.sqlite"), "not a database, just text ".repeat(200));
      await refused("garbage.sqlite", /corrupt|not a database/);
    });

    it("a folder that cannot be made (a file is in the way)", async function () {
      fs.writeFileSync(path.join(userDir, "taken"), "a file");
      await refused("taken/broker.sqlite", /cannot create the folder/);
    });

    it("a file another process has open", async function () {
      const file = path.join(userDir, "held.sqlite");
      const child = fork(STORE_CHILD, [file, "hold"], { stdio: "ignore" });
      cleanups.push(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = waitFor(child, "exit");
        child.send("close");
        await exited;
      });
      await waitFor(child, "message", (m) => m.ready === true, 10_000);
      const port = await freePort();
      await helper.load(withBroker, flow(port, { dbPath: "held.sqlite" }), creds());
      const node = helper.getNode("b1");
      await statusOf(node, (s) => s.fill === "red" && s.text === "iot-broker.status.store-unusable");
      const errors = errorsOf(node);
      assert.equal(errors.length, 1);
      assert.ok(errors[0].includes(file) && errors[0].includes(`process ${child.pid}`), errors[0]);
      assert.equal(await portIsClosed(port), true);
    });
  });
});
