"use strict";
const assert = require("node:assert/strict");
const net = require("node:net");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const brokerNode = require("../../dist/nodes/iot-broker.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { connect, connectRefused, inbox } = require("../lib/fixtures/engine.js");
const { freePort, portIsClosed } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { callsOf, statusOf } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const mqttNodes = require(require.resolve("@node-red/nodes/core/network/10-mqtt.js", { paths: [path.dirname(nodeRedPath)] }));
const tlsNode = require(require.resolve("@node-red/nodes/core/network/05-tls.js", { paths: [path.dirname(nodeRedPath)] }));
const certs = path.join(__dirname, "..", "lib", "fixtures", "certs");
const USERS = JSON.stringify([{ username: "alice", password: "alice-password-1", publish: ["home/#"], subscribe: ["home/#"] }]);

function brokerFlow(port, extra = {}) {
  return [
    { id: "f1", type: "tab", label: "test" },
    { id: "b1", type: "iot-broker", z: "f1", x: 100, y: 100, name: "test broker", port, bind: "127.0.0.1", allowAnonymous: false, wires: [["out"]], ...extra },
    { id: "out", type: "helper", z: "f1", x: 300, y: 100, wires: [] },
  ];
}

describe("iot-broker node", function () {
  const clients = [];
  const track = (c) => (clients.push(c), c);

  beforeEach(function (done) {
    helper.startServer(done);
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("starts, accepts a user, refuses anonymous clients and emits broker events", async function () {
    const port = await freePort();
    await helper.load(brokerNode, brokerFlow(port), { b1: { users: USERS } });
    const node = helper.getNode("b1");
    const out = helper.getNode("out");
    const events = [];
    out.on("input", (msg) => events.push(msg));
    await statusOf(node, (s) => s.fill === "green");

    const err = await connectRefused(`mqtt://127.0.0.1:${port}`);
    assert.equal(err.code, 5);
    const alice = track(await connect(`mqtt://127.0.0.1:${port}`, { username: "alice", password: "alice-password-1", clientId: "alice-1" }));
    const box = inbox(alice);
    await alice.subscribeAsync("home/#");
    await alice.publishAsync("home/lamp", "on", { qos: 1 });
    await box.next("home/lamp");
    await until(() => events.some((m) => m.topic === "subscribe"), 5000, "the subscribe event");

    const topics = events.map((m) => m.topic);
    assert.ok(topics.includes("auth-refused"));
    assert.ok(topics.includes("client-connected"));
    const connected = events.find((m) => m.topic === "client-connected");
    assert.equal(connected.payload.clientId, "alice-1");
    assert.equal(connected.payload.username, "alice");
    await statusOf(node, (s) => s.text === "iot-broker.status.client");
    assert.ok(brokers.engine("b1"), "the running engine is registered for platform nodes");
    const logged = JSON.stringify(helper.log().args);
    assert.doesNotMatch(logged, /alice-password-1/);
    assert.doesNotMatch(JSON.stringify(events), /alice-password-1/);
  });

  it("shows the number of clients after a burst of connects and disconnects as one status with the latest count", async function () {
    const port = await freePort();
    await helper.load(brokerNode, brokerFlow(port), { b1: { users: USERS } });
    const node = helper.getNode("b1");
    await statusOf(node, (s) => s.fill === "green");
    const url = `mqtt://127.0.0.1:${port}`;
    const login = (i) => connect(url, { username: "alice", password: "alice-password-1", clientId: `burst-${i}` });
    const burst = await Promise.all([0, 1, 2, 3, 4].map(login));
    await Promise.all(burst.slice(1).map((c) => c.endAsync()));
    track(burst[0]);
    await until(() => brokers.engine("b1")?.connectedClients === 1, 5000, "four disconnects");
    const texts = () => node.status.args.map((a) => a[0].text);
    await until(() => texts().at(-1) === "iot-broker.status.client", 5000, `the status of the one client left; saw ${JSON.stringify(texts())}`);
    // Ten changes of the count: the first shows at once, the rest as far fewer statuses.
    assert.ok(texts().filter((t) => t?.startsWith("iot-broker.status.client")).length < 10, JSON.stringify(texts()));
  });

  it("accepts MQTT 5 clients and anonymous ones when allowed, with a warning", async function () {
    const port = await freePort();
    await helper.load(brokerNode, brokerFlow(port, { allowAnonymous: true }));
    const node = helper.getNode("b1");
    await statusOf(node, (s) => s.fill === "green");
    const c = track(await connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: "" }));
    assert.ok(c.connected);
    assert.ok(node.warn.args.some((a) => a[0] === "iot-broker.log.anonymous-on"));
  });

  it("frees its port when the flow is stopped, so a redeploy can bind it again", async function () {
    const port = await freePort();
    await helper.load(brokerNode, brokerFlow(port, { allowAnonymous: true }));
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const c = await connect(`mqtt://127.0.0.1:${port}`);
    await helper.setFlows(brokerFlow(port, { allowAnonymous: true, name: "changed" }), "nodes");
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    c.end(true);
    track(await connect(`mqtt://127.0.0.1:${port}`));
    await helper.unload();
    assert.equal(await portIsClosed(port), true);
    assert.equal(brokers.engine("b1"), undefined);
  });

  it("binds its port before the next node starts, so MQTT nodes in the same flow connect at the first attempt", async function () {
    const port = await freePort();
    // With retries pushed out of reach, only a first attempt that succeeds can connect.
    helper.settings({ mqttReconnectTime: 3600000 });
    try {
      const flow = [
        ...brokerFlow(port, { allowAnonymous: true }),
        { id: "mb", type: "mqtt-broker", broker: "127.0.0.1", port: String(port), clientid: "", autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true },
        { id: "min", type: "mqtt in", z: "f1", x: 100, y: 300, topic: "demo/#", qos: "0", datatype: "utf8", broker: "mb", nl: false, rap: true, rh: 0, inputs: 0, wires: [["sink"]] },
        { id: "mout", type: "mqtt out", z: "f1", x: 100, y: 400, topic: "demo/t", qos: "0", retain: "false", broker: "mb", wires: [] },
        { id: "sink", type: "helper", z: "f1", x: 300, y: 300, wires: [] },
      ];
      await helper.load([brokerNode, mqttNodes], flow);
      const received = new Promise((resolve) => helper.getNode("sink").once("input", resolve));
      await statusOf(helper.getNode("min"), (s) => s.text === "node-red:common.status.connected");
      helper.getNode("mout").receive({ payload: "first try" });
      assert.equal((await received).payload, "first try");
    } finally {
      helper.settings({});
    }
  });

  it("reports a busy port with one warning and a short status, and listens once the port is free, without a redeploy", async function () {
    const holder = net.createServer((socket) => socket.destroy());
    await new Promise((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = holder.address().port;
    await helper.load(brokerNode, brokerFlow(port, { allowAnonymous: true }));
    const node = helper.getNode("b1");
    await statusOf(node, (s) => s.fill === "red" && s.text === "iot-broker.status.port-busy");
    const busyWarnings = () => callsOf(node, "warn").filter((a) => a[0] === "iot-broker.log.port-busy");
    assert.equal(busyWarnings().length, 1);
    assert.equal(callsOf(node, "error").length, 0);
    await new Promise((resolve) => holder.close(resolve));
    await statusOf(node, (s) => s.fill === "green");
    const client = track(await connect(`mqtt://127.0.0.1:${port}`, { clientId: "after-the-wait" }));
    assert.ok(client.connected);
    assert.equal(busyWarnings().length, 1, "still one warning");
  });

  it("two brokers on one port: the second waits for it; closing it while it waits takes nothing", async function () {
    const port = await freePort();
    const flow = [
      ...brokerFlow(port, { allowAnonymous: true }),
      { id: "b2", type: "iot-broker", z: "f1", x: 100, y: 200, port, bind: "127.0.0.1", allowAnonymous: true, wires: [[]] },
    ];
    await helper.load(brokerNode, flow);
    const nodes = [helper.getNode("b1"), helper.getNode("b2")];
    const busy = (n) => callsOf(n, "warn").some((a) => a[0] === "iot-broker.log.port-busy");
    await until(() => nodes.some(busy), 5000, "the port-busy warning");
    const loser = nodes.find(busy);
    await statusOf(loser, (s) => s.fill === "red" && s.text === "iot-broker.status.port-busy");
    await helper.unload();
    // Both closed: the winner freed the port, and the waiting one must not take it afterwards.
    assert.equal(await portIsClosed(port), true);
    const again = net.createServer();
    await new Promise((resolve, reject) => {
      again.once("error", reject);
      again.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => again.close(resolve));
  });

  it("reports invalid settings instead of starting", async function () {
    await helper.load(brokerNode, brokerFlow("70000"));
    const node = helper.getNode("b1");
    await until(() => node.error.called, 5000, "the error");
    assert.equal(node.error.args[0][0], "iot-broker.errors.invalid-port");
    await helper.unload();
    const port = await freePort();
    await helper.load(brokerNode, brokerFlow(port), { b1: { users: "[{not json" } });
    const node2 = helper.getNode("b1");
    await until(() => node2.error.called, 5000, "the error");
    assert.equal(node2.error.args[0][0], "iot-broker.errors.invalid-users");
    assert.equal(await portIsClosed(port), true);
  });

  it("serves MQTT over WebSocket on a path of Node-RED's HTTP server and on its own port", async function () {
    const [port, wsPort] = [await freePort(), await freePort()];
    await helper.load(brokerNode, brokerFlow(port, { allowAnonymous: true, wsPath: "/mqtt", wsPort }));
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const viaPath = track(await connect(`${helper.url().replace("http", "ws")}/mqtt`));
    const viaPort = track(await connect(`ws://127.0.0.1:${wsPort}`, { protocolVersion: 5 }));
    const box = inbox(viaPort);
    await viaPort.subscribeAsync("ws/#");
    await viaPath.publishAsync("ws/hello", "world", { qos: 1 });
    assert.equal((await box.next("ws/hello")).payload, "world");
  });

  it("speaks MQTT over TLS with a tls-config node", async function () {
    const port = await freePort();
    const flow = [
      ...brokerFlow(port, { allowAnonymous: true, tls: "tls1" }),
      { id: "tls1", type: "tls-config", cert: path.join(certs, "server.crt"), key: path.join(certs, "server.key"), ca: "", verifyservercert: false },
    ];
    await helper.load([brokerNode, tlsNode], flow);
    await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    const c = track(await connect(`mqtts://127.0.0.1:${port}`, { ca: require("node:fs").readFileSync(path.join(certs, "ca.crt")), rejectUnauthorized: true }));
    assert.ok(c.connected);
    // A plain-TCP MQTT CONNECT is not TLS: the listener drops it.
    const plain = require("node:net").connect(port, "127.0.0.1");
    plain.on("error", () => undefined);
    plain.write(Buffer.from("101000044d5154540402003c0004746573740000", "hex"));
    await require("node:events").once(plain, "close");
  });

  it("says so when the TLS configuration has no certificate", async function () {
    const port = await freePort();
    const flow = [...brokerFlow(port, { tls: "tls1" }), { id: "tls1", type: "tls-config", verifyservercert: true }];
    await helper.load([brokerNode, tlsNode], flow);
    const node = helper.getNode("b1");
    await until(() => node.error.called, 5000, "the error");
    assert.equal(node.error.args[0][0], "iot-broker.errors.tls-missing");
  });
});
