"use strict";
// The iot-broker node with persistence "redis" on a real redis-server: it starts on the Redis its
// URL and password credential name, shows an outage on its status (and as broker events, with a
// warning that names the server, never the password), refuses clients meanwhile, and comes back
// by itself; started while Redis is down it waits without holding clients, and a close while it
// waits does not wait for Redis.
const assert = require("node:assert/strict");
const net = require("node:net");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { translatingFor } = require("../support/node-harness.js");

// RED._ that shows the parameters: the warnings are checked for what they say and for the password.
const brokerNode = translatingFor({ RED: undefined })(require("../../dist/nodes/iot-broker.js"));
const { connect, connectRefused, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { startRedis, haveRedis } = require("../lib/fixtures/redis-server.js");
const { until } = require("../support/wait.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { statusOf, lastStatus } = require("../support/node-harness.js");

helper.init(nodeRedPath);

/** Resolves when the broker closes a new TCP connection on `port` without a word (it cannot serve it). */
function closedByBroker(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("the broker held the connection"));
    }, 5_000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const PASSWORD = "redis-Pa55word-for-the-node";

(haveRedis() ? describe : describe.skip)("iot-broker node on Redis (real redis-server)", function () {
  this.timeout(30_000);
  let redis;
  const clients = [];
  const track = (c) => (clients.push(c), c);

  before(async function () {
    redis = await startRedis({ password: PASSWORD });
  });
  after(async function () {
    await redis?.remove();
  });
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    if (!redis.running) await redis.start();
  });

  it("runs on Redis, shows an outage on its status and in events, refuses clients meanwhile, and recovers by itself", async function () {
    const port = await freePort();
    const flow = [
      { id: "f1", type: "tab", label: "test" },
      { id: "b1", type: "iot-broker", z: "f1", name: "shared", port, bind: "127.0.0.1", allowAnonymous: true, persistence: "redis", redisUrl: redis.url, wires: [["out"]] },
      { id: "out", type: "helper", z: "f1", wires: [] },
    ];
    await helper.load(brokerNode, flow, { b1: { redisPassword: PASSWORD } });
    const node = helper.getNode("b1");
    const events = [];
    helper.getNode("out").on("input", (msg) => events.push(msg));
    await statusOf(node, (s) => s.fill === "green");
    const url = `mqtt://127.0.0.1:${port}`;
    const sub = track(await connect(url, { clientId: "kept" }));
    const box = inbox(sub);
    await sub.subscribeAsync("a/#", { qos: 1 });
    const pub = track(await connect(url));
    await pub.publishAsync("a/1", "before", { qos: 1 });
    assert.equal((await box.next("a/1")).payload, "before");

    await redis.stop();
    await statusOf(node, (s) => s.fill === "red" && s.text === "iot-broker.status.store-unavailable");
    await until(() => events.some((m) => m.topic === "store-unavailable"), 5_000, "the store-unavailable event");
    assert.equal((await connectRefused(url)).code, 3);

    await redis.start();
    await until(() => events.some((m) => m.topic === "store-available"), 20_000, "the store-available event");
    await until(() => lastStatus(node).fill === "green", 5_000, "a green status again");
    const again = track(await connect(url));
    const box2 = inbox(again);
    await again.subscribeAsync("b/#", { qos: 1 });
    await again.publishAsync("b/1", "after", { qos: 1 });
    assert.equal((await box2.next("b/1")).payload, "after");

    const logged = JSON.stringify(helper.log().args);
    assert.match(logged, new RegExp(`iot-broker\\.log\\.store-unavailable .*${redis.url}`));
    assert.match(logged, /iot-broker\.log\.store-available/);
    assert.doesNotMatch(logged + JSON.stringify(events), new RegExp(PASSWORD));
  });

  it("started while Redis is down: shows it, starts by itself once Redis is up; closed while it waits, it closes at once", async function () {
    const port = await freePort();
    const flow = [
      { id: "f1", type: "tab", label: "test" },
      { id: "b1", type: "iot-broker", z: "f1", name: "shared", port, bind: "127.0.0.1", allowAnonymous: true, persistence: "redis", redisUrl: redis.url, retention: 7, wires: [[]] },
    ];
    await redis.stop();
    await helper.load(brokerNode, flow, { b1: { redisPassword: PASSWORD } });
    const node = helper.getNode("b1");
    await statusOf(node, (s) => s.text === "iot-broker.status.store-unavailable", "the outage on the status");
    await closedByBroker(port); // not held while the broker waits: a device tries another instance
    await redis.start();
    await until(() => lastStatus(node).fill === "green", 20_000, "the broker started on Redis");
    const client = track(await connect(`mqtt://127.0.0.1:${port}`));
    assert.equal(client.connected, true);
    await helper.unload();

    // Waiting for Redis again: unloading (a deploy, Node-RED stopping) does not wait for it.
    await redis.stop();
    await helper.load(brokerNode, flow, { b1: { redisPassword: PASSWORD } });
    await statusOf(helper.getNode("b1"), (s) => s.text === "iot-broker.status.store-unavailable", "the outage on the status");
    await helper.unload();
    assert.doesNotMatch(JSON.stringify(helper.log().args), /start-failed|stop-failed/, "a close while waiting is no failure");
  });

  it("a redeploy that changes the broker's settings hands the Redis storage to the new engine, which serves at once", async function () {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const flow = (extra = {}) => [
      { id: "f1", type: "tab", label: "test" },
      { id: "b1", type: "iot-broker", z: "f1", name: "shared", port, bind: "127.0.0.1", allowAnonymous: true, persistence: "redis", redisUrl: redis.url, wires: [[]], ...extra },
    ];
    await helper.load(brokerNode, flow(), { b1: { redisPassword: PASSWORD } });
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const first = brokers.engine("b1");
    const pub = track(await connect(url));
    await pub.publishAsync("kept/1", "before the redeploy", { qos: 1, retain: true });

    await helper.setFlows(flow({ maxQueuedMessages: "50" }), "nodes", { b1: { redisPassword: PASSWORD } });
    await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== first, 10_000, "the new engine");
    await until(() => lastStatus(helper.getNode("b1")).fill === "green", 10_000, "the new engine's status");
    const sub = track(await connect(url));
    const box = inbox(sub);
    await sub.subscribeAsync("kept/#", { qos: 1 });
    assert.equal((await box.next("kept/1")).payload, "before the redeploy");
    const again = track(await connect(url));
    await again.publishAsync("kept/2", "after", { qos: 1 });
    assert.equal((await box.next("kept/2")).payload, "after");
  });

  it("refuses an unusable Redis URL with a message that does not quote it", async function () {
    const flow = [
      { id: "f1", type: "tab", label: "test" },
      { id: "b1", type: "iot-broker", z: "f1", port: await freePort(), bind: "127.0.0.1", persistence: "redis", redisUrl: `redis://:${PASSWORD}@host/db`, wires: [[]] },
    ];
    await helper.load(brokerNode, flow, {});
    const node = helper.getNode("b1");
    await statusOf(node, (s) => s.fill === "red");
    const logged = JSON.stringify(helper.log().args);
    assert.match(logged, /iot-broker\.errors\.invalid-redis-url .*must be a number/);
    assert.doesNotMatch(logged, new RegExp(PASSWORD));
  });
});
