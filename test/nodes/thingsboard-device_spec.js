"use strict";
// thingsboard-device (config node) and its flow nodes: one connection shared by all nodes of a
// device, bad settings reported by catalog key with a red status, bad inputs refused clearly
// with done(err), and the token kept out of sight.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { tbNodes, withBroker, TAB, STATUS } = require("./thingsboard-helpers.js");
const { errorsOf, onTab, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "NodeTbTOKEN012345678";

describe("thingsboard-device node and its flow nodes", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function broker() {
    const connects = [];
    const b = await startBareBroker({ preConnect: (_client, packet, done) => (connects.push(packet), done(null, true)) });
    cleanups.push(() => b.close());
    b.connects = connects;
    return b;
  }
  const users = (extra = {}) => [
    onTab({ id: "t1", type: "thingsboard-telemetry", device: "dev1", wires: [[]], ...extra }),
    onTab({ id: "a1", type: "thingsboard-attributes", device: "dev1", wires: [[]] }),
    onTab({ id: "r1", type: "thingsboard-rpc", device: "dev1", mode: "call", timeout: 1000, wires: [[]] }),
  ];

  it("opens one connection for all nodes of a device (token as user name) and keeps it across a redeploy of the nodes", async function () {
    const b = await broker();
    const flow = (name) => [TAB, { id: "dev1", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: b.url }, ...users({ name })];
    await helper.load(tbNodes, flow(""), { dev1: { token: TOKEN } });
    for (const id of ["t1", "a1", "r1"]) await statusOf(helper.getNode(id), (s) => s.text === `${STATUS}connected` && s.fill === "green");
    assert.equal(b.connects.length, 1);
    assert.deepEqual([b.connects[0].username, b.connects[0].password], [TOKEN, undefined]);
    await helper.setFlows(flow("renamed"), "nodes", { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("t1"), (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(helper.getNode("t1"), { payload: { temperature: 1 } }), undefined);
    assert.equal(b.connects.length, 1, "still one connection");
    assertNoToken(TOKEN, ["dev1", "t1", "a1", "r1"]);
  });

  it("publishes telemetry and attributes at the device's QoS (0 here); refuses an invalid QoS", async function () {
    const b = await broker();
    const seen = [];
    b.aedes.on("publish", (packet, client) => {
      if (client) seen.push({ topic: packet.topic, qos: packet.qos });
    });
    await helper.load(tbNodes, [TAB, { id: "dev1", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: b.url, qos: "0" }, { id: "dev2", type: "thingsboard-device", connection: "mqtt", server: b.url, qos: "2" }, ...users(), onTab({ id: "t2", type: "thingsboard-telemetry", device: "dev2" })], {
      dev1: { token: TOKEN },
      dev2: { token: TOKEN },
    });
    await statusOf(helper.getNode("t1"), (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(helper.getNode("t1"), { payload: { temperature: 1 } }), undefined);
    assert.equal(await inject(helper.getNode("a1"), { payload: { firmware: "1.0" } }), undefined);
    await until(() => seen.length >= 2, 5000, `two publishes; got ${JSON.stringify(seen)}`);
    assert.deepEqual(seen, [{ topic: "v1/devices/me/telemetry", qos: 0 }, { topic: "v1/devices/me/attributes", qos: 0 }]);
    assert.match(errorsOf(helper.getNode("dev2"))[0], /thingsboard-device\.errors\.invalid-qos.*"value":"2"/);
    const err = await inject(helper.getNode("t2"), { payload: { a: 1 } });
    assert.match(err.message, /device-invalid.*invalid-qos/);
  });

  it("publishes telemetry at QoS 1 by default", async function () {
    const b = await broker();
    const seen = [];
    b.aedes.on("publish", (packet, client) => {
      if (client) seen.push({ topic: packet.topic, qos: packet.qos });
    });
    await helper.load(tbNodes, [TAB, { id: "dev1", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: b.url }, ...users()], { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("t1"), (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(helper.getNode("t1"), { payload: { temperature: 1 } }), undefined);
    assert.deepEqual(seen, [{ topic: "v1/devices/me/telemetry", qos: 1 }]);
  });

  it("refuses bad inputs clearly, before anything is sent", async function () {
    const b = await broker();
    await helper.load(tbNodes, [TAB, { id: "dev1", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: b.url }, ...users()], { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("t1"), (s) => s.text === `${STATUS}connected`);
    const cases = [
      ["t1", { payload: 21.5 }, /thingsboard-telemetry\.errors\.no-key/],
      ["t1", { topic: "t", payload: null }, /thingsboard-telemetry\.errors\.empty/],
      ["t1", { payload: [{ a: 1 }], timestamp: Date.now() }, /timestamp-conflict/],
      ["t1", { payload: { a: Number.NaN } }, /thingsboard-telemetry\.errors\.invalid.*NaN/],
      ["t1", { payload: { a: 1 }, timestamp: "yesterday" }, /is not a time/],
      ["t1", { payload: { a: 1 }, thingsboard: { device: "Other" } }, /only a gateway has/],
      ["t1", { payload: { a: 1 }, thingsboard: { device: 7 } }, /invalid-sub-device/],
      ["a1", { payload: "x" }, /thingsboard-attributes\.errors\.no-key/],
      ["a1", { thingsboard: { request: "all" } }, /invalid-request/],
      ["a1", { payload: {} }, /is empty/],
      ["r1", { payload: 1 }, /thingsboard-rpc\.errors\.no-method/],
      ["r1", { topic: "m", payload: () => 1 }, /thingsboard-rpc\.errors\.invalid/],
    ];
    for (const [id, msg, expected] of cases) {
      const err = await inject(helper.getNode(id), msg);
      assert.ok(err instanceof Error, `${JSON.stringify(msg)} was refused`);
      assert.match(err.message, expected);
    }
  });

  it("reports bad settings by catalog key with a red status on every user; a missing tls node too", async function () {
    await helper.load(tbNodes, [TAB, { id: "dev1", type: "thingsboard-device", connection: "mqtt", server: "http://wrong" }, { id: "dev2", type: "thingsboard-device", connection: "mqtt", tls: "nope" }, ...users(), onTab({ id: "t2", type: "thingsboard-telemetry", device: "dev2" }), onTab({ id: "t3", type: "thingsboard-telemetry", device: "missing" }), onTab({ id: "r2", type: "thingsboard-rpc", device: "dev2", mode: "both" })], {
      dev1: { token: TOKEN },
      dev2: { token: TOKEN },
    });
    assert.match(errorsOf(helper.getNode("dev1"))[0], /thingsboard-device\.errors\.invalid-mqtt-server/);
    assert.match(errorsOf(helper.getNode("dev2"))[0], /thingsboard-device\.errors\.tls-missing/);
    await statusOf(helper.getNode("t1"), (s) => s.fill === "red" && s.text === `${STATUS}config-error`);
    await statusOf(helper.getNode("t3"), (s) => s.fill === "red" && s.text === `${STATUS}no-device`);
    assert.match(errorsOf(helper.getNode("r2"))[0], /invalid-mode/);
    const err = await inject(helper.getNode("t2"), { payload: { a: 1 } });
    assert.match(err.message, /device-invalid.*tls-missing/);
    assertNoToken(TOKEN, ["dev1", "dev2", "t1", "t2", "t3", "a1", "r1", "r2"]);
  });

  it("serve mode: a message that is no reply is refused; in local mode telemetry input is refused", async function () {
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port: await freePort(), bind: "127.0.0.1", wires: [[]] }),
      { id: "dev1", type: "thingsboard-device", name: "Hosted", connection: "local", broker: "b1" },
      ...users(),
      onTab({ id: "s1", type: "thingsboard-rpc", device: "dev1", mode: "serve", wires: [[]] }),
    ];
    await helper.load(withBroker, flow, { dev1: { token: TOKEN } });
    assert.match((await inject(helper.getNode("s1"), { payload: 1 })).message, /no-rpc-id/);
    assert.equal(await inject(helper.getNode("s1"), { payload: 1, thingsboard: { rpcId: 5 } }), undefined, "an unknown id only warns");
    assert.match((await inject(helper.getNode("t1"), { payload: { a: 1 } })).message, /local-input/);
    assert.match(JSON.stringify(helper.getNode("s1").warn.args), /stale-reply.*no RPC id 5/);
  });
});
