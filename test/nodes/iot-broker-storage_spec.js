"use strict";
// The iot-broker node's persistence: `sqlite` keeps sessions, retained messages and hosted
// devices' state in one file under the userDir, opened once per broker node, handed to the next
// engine on a redeploy and closed when the node goes; no deploy loses anything (a full deploy, a
// changed broker, changed device nodes); an unusable file stops the broker with one error naming
// it; `memory` keeps hosted devices' state across a redeploy that restarts the broker.
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
const { tbNodes } = require("./thingsboard-helpers.js");
const { tsNodes } = require("./thingspeak-helpers.js");
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

const TB_TOKEN = "StorageTbToken0123";
const TS_CHANNEL = 31337;
const TS = { clientId: "StorageTsClient00001", username: "StorageTsClient00001", password: "StorageTsPassword0000001", writeKey: "STORAGEWRITEKEY1" };
/** A broker with a device of each platform; `names` changes the devices' settings (a changed device node). */
function devicesFlow(port, broker = {}, names = "") {
  return [
    ...flow(port, broker).map((n) => (n.id === "dev" ? { ...n, name: `Greenhouse${names}` } : n)),
    { id: "tb", type: "thingsboard-device", name: `Thermostat${names}`, connection: "local", broker: "b1" },
    { id: "ts", type: "thingspeak-channel", name: `Weather${names}`, connection: "local", broker: "b1", channelId: String(TS_CHANNEL), updateInterval: "1" },
  ];
}
const devicesCreds = () => ({ dev: { token: TOKEN }, tb: { token: TB_TOKEN }, ts: { ...TS } });

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

  it("sqlite: retention applies to the running broker: history older than it goes, a redeploy that shortens it prunes at once, 0 keeps everything", async function () {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    await helper.load(withBroker, flow(port, { retention: "0" }), creds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const day = 86_400_000;
    const now = Date.now();
    const device = await blynkDevice(url);
    await device.publishAsync("ds/Temperature/timestamped_batch", JSON.stringify([[now - 400 * day, 1], [now - 10 * day, 2], [now - 3 * day, 3], [now - 1000, 4]]), { qos: 1 });
    await device.endAsync();
    const kept = async () => (await brokers.engine("b1").history.query("blynk", "dev", "Temperature")).map((p) => p.value);
    assert.deepEqual(await kept(), [1, 2, 3, 4], "retention 0: forever");
    await helper.setFlows(flow(port, { retention: "30" }), "nodes", creds());
    await until(async () => brokers.engine("b1") !== undefined && (await kept()).length === 3, 5000, "the 30-day retention");
    assert.deepEqual(await kept(), [2, 3, 4]);
    await helper.setFlows(flow(port, { retention: "5" }), "nodes", creds());
    await until(async () => brokers.engine("b1") !== undefined && (await kept()).length === 2, 5000, "the 5-day retention");
    assert.deepEqual(await kept(), [3, 4]);
  });

  for (const [how, without] of [
    ["deleted", () => [TAB]],
    ["disabled (how a backup copies the file while Node-RED runs)", (port) => flow(port).map((n) => (n.id === "b1" ? { ...n, d: true } : n))],
  ]) {
    it(`sqlite: closes the file when the broker node is ${how}`, async function () {
      const port = await freePort();
      await helper.load(withBroker, flow(port), creds());
      await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
      await helper.setFlows(without(port), "full", creds());
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
  }

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

  it("sqlite: no deploy loses anything: a full deploy of unchanged nodes, a changed broker (a new engine on the open file), changed device nodes", async function () {
    this.timeout(60_000);
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const nodes = [...withBroker, ...tbNodes, ...tsNodes];
    await helper.load(nodes, devicesFlow(port), devicesCreds());
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const sleeper = await connect(url, { clientId: "sleeper", clean: false });
    await sleeper.subscribeAsync("queued/#", { qos: 1 });
    await sleeper.endAsync();

    /** Stage `n`: a value of each device, a retained message, a message queued for the offline session. */
    async function write(n) {
      const blynk = await blynkDevice(url);
      await blynk.publishAsync("ds/Temperature", String(n), { qos: 1 });
      await blynk.endAsync();
      const tb = await connect(url, { username: TB_TOKEN, clientId: "thermostat" });
      await tb.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temperature: n }), { qos: 1 });
      await tb.publishAsync("v1/devices/me/attributes", JSON.stringify({ firmware: `1.${n}` }), { qos: 1 });
      await tb.endAsync();
      // One ThingSpeak entry per stage: sent again when the channel's 1 s interval refused it, once
      // the refusal says the next update is accepted (as a device does; more often would flood it).
      const ts = await connect(url, { clientId: TS.clientId, username: TS.username, password: TS.password });
      const engine = brokers.engine("b1");
      const feed = () => engine.deviceStores.open("thingspeak", "ts").size("feed");
      const had = feed();
      for (let attempt = 0; feed() === had; attempt++) {
        assert.ok(attempt < 10, "the ThingSpeak entry was not stored");
        const refused = waitFor(engine, "event", (e) => e.event === "plugin-error" && e.plugin === "thingspeak").catch(() => undefined);
        await ts.publishAsync(`channels/${TS_CHANNEL}/publish`, `field1=${n}`, { qos: 1 });
        if (feed() > had) break;
        const wait = Number(/accepted in (\d+) ms/.exec((await refused)?.error ?? "")?.[1] ?? 100);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      await ts.endAsync();
      const pub = await connect(url, { clientId: "publisher" });
      await pub.publishAsync("state/stage", String(n), { qos: 1, retain: true });
      await pub.publishAsync("queued/x", `q${n}`, { qos: 1 });
      await pub.endAsync();
    }

    /** Everything of stages 1..n is there, on whichever engine runs now. */
    async function check(n) {
      assert.equal(await storedTemperature(url), String(n));
      const engine = brokers.engine("b1");
      const values = async (plugin, device, stream) => (await engine.history.query(plugin, device, stream)).map((p) => p.value);
      const all = Array.from({ length: n }, (_, i) => i + 1);
      assert.deepEqual(await values("blynk", "dev", "Temperature"), all);
      assert.deepEqual(await values("thingsboard", "tb", "temperature"), all);
      assert.deepEqual(await values("thingspeak", "ts", "field1"), all);
      const tb = engine.deviceStores.open("thingsboard", "tb");
      assert.equal(tb.get("client", "firmware").value, `1.${n}`);
      assert.equal(tb.get("telemetry", "temperature").value, n);
      assert.deepEqual(engine.deviceStores.open("thingspeak", "ts").entries("feed").map(([, e]) => [e.value.entry_id, e.value.field1]), all.map((i) => [i, String(i)]));
      const reader = await connect(url, { clientId: "reader" });
      cleanups.push(() => reader.endAsync(true));
      const retained = waitFor(reader, "message");
      await reader.subscribeAsync("state/#");
      assert.equal((await retained)[1].toString(), String(n));
    }

    await write(1);
    const first = brokers.engine("b1");
    await helper.setFlows(devicesFlow(port), "full", devicesCreds());
    assert.equal(brokers.engine("b1"), first, "a full deploy of unchanged nodes keeps the engine");
    await check(1);
    await write(2);

    await helper.setFlows(devicesFlow(port, { maxQueuedMessages: "50" }), "nodes", devicesCreds());
    await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== first, 5000, "the new engine");
    await check(2);
    await write(3);

    const second = brokers.engine("b1");
    await helper.setFlows(devicesFlow(port, { maxQueuedMessages: "50" }, " (renamed)"), "nodes", devicesCreds());
    assert.equal(brokers.engine("b1"), second, "only the devices changed");
    await check(3);
    await write(4);
    await check(4);
    assert.deepEqual(errorsOf(helper.getNode("b1")), []);

    const back = mqtt.connect(url, { clientId: "sleeper", clean: false, reconnectPeriod: 0 });
    cleanups.push(() => back.endAsync(true));
    const got = [];
    back.on("message", (_topic, payload) => got.push(payload.toString()));
    assert.equal((await waitFor(back, "connect")).sessionPresent, true);
    await until(() => got.length >= 4, 5000, "the queued messages");
    assert.deepEqual(got, ["q1", "q2", "q3", "q4"]);
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
