"use strict";
// Redeploys under load, in a real Node-RED (test helper) with real MQTT.js clients: QoS 1
// publishers and a clean:false QoS 1 subscriber keep going while the flows are deployed again
// (a) in full with nothing changed, (b) as a "modified flows" deploy changing another node on
// the broker's tab, (c) with the broker's settings changed. Every acknowledged message must reach
// the subscriber (duplicates are allowed at QoS 1, loss is not); in (a) and (b) no client and
// no hosted device (Blynk, ThingsBoard, ThingSpeak) may even be disconnected.
const assert = require("node:assert/strict");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { freePort, portIsClosed } = require("../lib/fixtures/ports.js");
const { until, waitFor } = require("../support/wait.js");

helper.init(nodeRedPath);

const nodeModules = ["iot-broker", "blynk-device", "thingsboard-device", "thingspeak-channel"].map((t) => require(`../../dist/nodes/${t}.js`));

const PUBLISHERS = 20;
const PER_PUBLISHER = 150;
const WINDOW = 5; // unacknowledged publishes per publisher
const TOTAL = PUBLISHERS * PER_PUBLISHER;

const USERS = [
  { username: "pub", password: "pub-password-1", publish: ["load/#"], subscribe: [] },
  { username: "sub", password: "sub-password-1", publish: [], subscribe: ["load/#"] },
];
const BLYNK_TOKEN = "RedeployBlynkToken_0123456789abc";
const TB_TOKEN = "RedeployTbToken0123";
const TS_DEVICE = { clientId: "RedeployClient01", username: "RedeployUser0001", password: "RedeployPassword01secret" };

function flow(port, { other = "idle", bind = "127.0.0.1" } = {}) {
  return [
    { id: "f1", type: "tab", label: "redeploy" },
    // The session queue's cap above every message of the run: a subscriber resuming while the
    // publishers go on may have more queued than the default 1,000, and drops there are by design.
    { id: "b1", type: "iot-broker", z: "f1", x: 100, y: 100, name: "load", port, bind, allowAnonymous: false, maxQueuedMessages: String(2 * TOTAL), wires: [[]] },
    { id: "other", type: "helper", z: "f1", x: 100, y: 200, name: other, wires: [] },
    { id: "dev-b", type: "blynk-device", name: "Blynk hosted", connection: "local", broker: "b1" },
    { id: "dev-t", type: "thingsboard-device", name: "TB hosted", connection: "local", broker: "b1" },
    { id: "dev-s", type: "thingspeak-channel", name: "TS hosted", connection: "local", broker: "b1", channelId: "4242", updateInterval: "1" },
  ];
}

function credentials(users = USERS) {
  return {
    b1: { users: JSON.stringify(users) },
    "dev-b": { token: BLYNK_TOKEN },
    "dev-t": { token: TB_TOKEN },
    "dev-s": { ...TS_DEVICE, writeKey: "REDEPLOYWRITE001" },
  };
}

/** Deploys like the editor does and waits until the new flows have started. */
async function deploy(nodes, type, creds) {
  const started = waitFor(helper._events, "flows:started", () => true, 10000);
  await helper._redNodes.setFlows(nodes, creds, type);
  await started;
}

describe("redeploy under load", function () {
  this.timeout(30000);
  const clients = [];

  beforeEach(function (done) {
    helper.startServer(done);
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** A reconnecting MQTT.js client that records every close and every CONNACK. */
  async function client(url, name, options) {
    const c = mqtt.connect(url, { reconnectPeriod: 20, connectTimeout: 5000, ...options });
    c.label = name;
    c.closes = 0;
    c.connacks = [];
    c.on("close", () => c.closes++);
    c.on("connect", (connack) => c.connacks.push(connack));
    c.on("error", () => undefined); // refused while the broker restarts: MQTT.js retries
    clients.push(c);
    await waitFor(c, "connect", () => true, 5000);
    return c;
  }

  it("keeps every acknowledged QoS 1 message, and keeps clients and hosted devices connected when the broker's settings stay the same", async function () {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    await helper.load(nodeModules, flow(port), credentials());
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");

    const received = new Set();
    const subscriber = await client(url, "subscriber", { clientId: "redeploy-sub", clean: false, username: "sub", password: USERS[1].password });
    subscriber.on("message", (_topic, payload) => received.add(payload.toString()));
    await subscriber.subscribeAsync("load/#", { qos: 1 });

    const devices = [
      await client(url, "blynk device", { clientId: "blynk-dev", username: "device", password: BLYNK_TOKEN, keepalive: 45 }),
      await client(url, "thingsboard device", { clientId: "tb-dev", username: TB_TOKEN }),
      await client(url, "thingspeak device", { ...TS_DEVICE, protocolVersion: 4 }),
    ];
    const publishers = [];
    for (let i = 0; i < PUBLISHERS; i++) {
      publishers.push(await client(url, `publisher ${i}`, { clientId: `redeploy-pub-${i}`, username: "pub", password: USERS[0].password }));
    }
    const everyone = [subscriber, ...devices, ...publishers];

    // Each publisher keeps WINDOW publishes in flight; a PUBACK (the callback) counts as acknowledged.
    const acked = new Set();
    const failures = [];
    const publishing = publishers.map(
      (p, i) =>
        new Promise((resolve) => {
          let next = 0;
          let done = 0;
          const send = () => {
            const payload = `${i}:${next++}`;
            p.publish(`load/${i}`, payload, { qos: 1 }, (err) => {
              if (err) failures.push(`${payload}: ${err.message}`);
              else acked.add(payload);
              done++;
              if (next < PER_PUBLISHER) send();
              else if (done === PER_PUBLISHER) resolve();
            });
          };
          for (let k = 0; k < WINDOW; k++) send();
        }),
    );
    const ackedAtLeast = (share) => until(() => acked.size >= TOTAL * share, 15000, `${share * 100}% of the publishes acknowledged`);
    const engine = brokers.engine("b1");
    const stillConnected = async (what) => {
      for (const c of everyone) assert.equal(c.closes, 0, `${c.label} was disconnected by ${what}`);
      // The hosted devices are still served: each one's publish is acknowledged on its session.
      await devices[0].publishAsync("ds/Temperature", "21", { qos: 1 });
      await devices[1].publishAsync("v1/devices/me/telemetry", JSON.stringify({ t: 21 }), { qos: 1 });
      await devices[2].publishAsync("channels/4242/publish", "field1=21", { qos: 1 });
      for (const c of everyone) assert.equal(c.closes, 0, `${c.label} was disconnected by ${what}`);
      assert.equal(brokers.engine("b1"), engine, `the engine was kept through ${what}`);
    };

    // (a) a full deploy with nothing changed: Node-RED closes and re-creates every node.
    await ackedAtLeast(0.2);
    const before = helper.getNode("b1");
    await deploy(flow(port), "full", credentials());
    assert.notEqual(helper.getNode("b1"), before, "the broker node was re-created");
    await stillConnected("a full deploy with unchanged settings");

    // (b) a "modified flows" deploy that changes another node on the broker's tab.
    await ackedAtLeast(0.4);
    await deploy(flow(port, { other: "changed" }), "flows", credentials());
    await stillConnected("a deploy changing another node");

    // A retained message, to be found again after the restart below.
    await publishers[0].publishAsync("load/retained", "kept", { qos: 1, retain: true });

    // (c) the broker's settings change (one more user): a new engine on the same sessions.
    await ackedAtLeast(0.6);
    const connacksBefore = subscriber.connacks.length;
    const deviceConnacks = devices.map((d) => d.connacks.length);
    const moreUsers = [...USERS, { username: "extra", password: "extra-password-1", publish: [], subscribe: ["load/#"] }];
    await deploy(flow(port), "full", credentials(moreUsers));
    await until(() => subscriber.connacks.length > connacksBefore, 10000, "the subscriber to reconnect");
    assert.notEqual(brokers.engine("b1"), engine, "the changed settings started a new engine");
    assert.equal(subscriber.connacks.at(-1).sessionPresent, true, "the subscriber's session was carried over to the new engine");
    for (const [i, d] of devices.entries()) await until(() => d.connacks.length > deviceConnacks[i], 10000, `${d.label} to be hosted on the new engine`);
    await Promise.all(publishing);
    assert.deepEqual(failures, []);
    assert.equal(acked.size, TOTAL);
    await until(() => [...acked].every((m) => received.has(m)), 10000, "every acknowledged message at the subscriber").catch((err) => {
      const missing = [...acked].filter((m) => !received.has(m));
      throw new Error(`${err.message}: ${missing.length} of ${acked.size} acknowledged messages never arrived, e.g. ${missing.slice(0, 5).join(", ")}`);
    });


    const late = await client(url, "late reader", { clientId: "late-reader", username: "extra", password: "extra-password-1" });
    const retained = waitFor(late, "message", (topic) => topic === "load/retained", 5000);
    await late.subscribeAsync("load/retained", { qos: 1 });
    assert.equal((await retained)[1].toString(), "kept", "retained messages were carried over");

    await helper.unload();
    assert.equal(await portIsClosed(port), true, "a stopped Node-RED holds no port");
    assert.equal(brokers.engine("b1"), undefined);
  });

  it("re-hosts a device whose settings changed, without a conflict with the one it replaces", async function () {
    const port = await freePort();
    await helper.load(nodeModules, flow(port), credentials());
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");
    const device = await client(`mqtt://127.0.0.1:${port}`, "blynk device", { clientId: "blynk-dev", username: "device", password: BLYNK_TOKEN, keepalive: 45 });
    const renamed = flow(port).map((n) => (n.id === "dev-b" ? { ...n, name: "Blynk renamed" } : n));
    await deploy(renamed, "full", credentials());
    // The device is served with its new settings: it was let go and is accepted again.
    await until(() => device.closes > 0 && device.connacks.length > 1, 5000, "the device to reconnect");
    assert.deepEqual(helper.getNode("dev-b").warn.args, [], "no warning (such as a token conflict with the replaced hosting)");
    await device.publishAsync("ds/Temperature", "22", { qos: 1 });
  });

  it("hosts a device moved to another broker there at once (its token is not still held by the old broker)", async function () {
    const [port, port2] = [await freePort(), await freePort()];
    const second = { id: "b2", type: "iot-broker", z: "f1", x: 100, y: 300, name: "second", port: port2, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] };
    await helper.load(nodeModules, [...flow(port), second], credentials());
    await until(() => brokers.engine("b2") !== undefined, 5000, "the second broker to run");
    await client(`mqtt://127.0.0.1:${port}`, "thingsboard device", { clientId: "tb-dev", username: TB_TOKEN, reconnectPeriod: 0 });
    const moved = [...flow(port), second].map((n) => (n.id === "dev-t" ? { ...n, broker: "b2" } : n));
    await deploy(moved, "full", credentials());
    assert.deepEqual(helper.getNode("dev-t").warn.args, [], "no warning (such as the token being in use by the parked hosting)");
    await client(`mqtt://127.0.0.1:${port2}`, "thingsboard device on the new broker", { clientId: "tb-dev-2", username: TB_TOKEN, reconnectPeriod: 0 });
  });

  it("keeps a hosted basic-credentials ThingsBoard device (no token) connected through a full deploy with nothing changed", async function () {
    const port = await freePort();
    const basic = { clientId: "tb-basic-client", username: "tb-basic-user", password: "tb-basic-password-1" };
    const basicFlow = flow(port).map((n) => (n.id === "dev-t" ? { ...n, auth: "basic" } : n));
    const basicCredentials = () => ({ ...credentials(), "dev-t": { ...basic } });
    await helper.load(nodeModules, basicFlow, basicCredentials());
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");
    const device = await client(`mqtt://127.0.0.1:${port}`, "basic-credentials device", basic);
    await deploy(basicFlow, "full", basicCredentials());
    await device.publishAsync("v1/devices/me/telemetry", JSON.stringify({ t: 21 }), { qos: 1 });
    assert.equal(device.closes, 0, "the device was kept connected (the same placeholder token, so the same settings)");
  });

  it("frees the port and drops the sessions at once when the broker node is deleted", async function () {
    const port = await freePort();
    await helper.load(nodeModules, flow(port), credentials());
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");
    const device = await client(`mqtt://127.0.0.1:${port}`, "blynk device", { clientId: "blynk-dev", username: "device", password: BLYNK_TOKEN, reconnectPeriod: 0 });
    const gone = waitFor(device, "close", () => true, 5000);
    await deploy([{ id: "f1", type: "tab", label: "redeploy" }], "full", {});
    await gone;
    assert.equal(await portIsClosed(port), true);
    assert.equal(brokers.engine("b1"), undefined);
  });
});

describe("parked brokers and devices while the old flows are still stopping", function () {
  const { ParkingLot, FALLBACK_MS, followDeploys, sweepAll } = require("../../dist/nodes/lib/transport/parking.js");
  const { EventEmitter } = require("node:events");
  const sinon = require("sinon");
  let clock;
  beforeEach(function () {
    sweepAll(); // no fallback timer left from other specs (armed on the real clock)
    clock = sinon.useFakeTimers();
  });
  afterEach(function () {
    sweepAll();
    clock.restore();
  });

  it("waits out a slow node close: the short fallback starts only once the flows have stopped for a deploy", function () {
    const runtime = new EventEmitter(); // stands in for RED.events
    followDeploys(runtime);
    const lot = new ParkingLot();
    const discarded = [];
    runtime.emit("flows:stopping");
    lot.park("b1", "digest", "engine", (v) => discarded.push(v));
    // A node that takes longer than FALLBACK_MS to close (Node-RED allows 15 s) delays the stop event.
    clock.tick(FALLBACK_MS + 5000);
    assert.equal(lot.size, 1, "still parked while the flows are stopping");
    runtime.emit("runtime-event", { id: "runtime-state", payload: { state: "stop", deploy: true } });
    clock.tick(FALLBACK_MS - 1);
    assert.equal(lot.size, 1, "the new flows get the whole fallback to start");
    clock.tick(1);
    assert.equal(lot.size, 0, "a deploy whose flows never start: swept after the fallback");
    assert.deepEqual(discarded, ["engine"]);
  });
});
