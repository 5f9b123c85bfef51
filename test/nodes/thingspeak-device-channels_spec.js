"use strict";
// Issue 12, ThingSpeak: one MQTT device, several channels, both roles in one real Node-RED
// (node-red-node-test-helper). An iot-broker hosts two channels authorised for ONE set of MQTT
// device credentials (local-mode thingspeak-channel nodes); two mqtt-mode thingspeak-channel
// nodes with those credentials are the device. Both channels work both ways over ONE
// connection: CONNECTs are counted from the broker's own events over every step, redeploys
// included. No sleeps: every step waits for the message it expects.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { connect } = require("../lib/fixtures/engine.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { until } = require("../support/wait.js");
const { withBroker, TAB, STATUS } = require("./thingspeak-helpers.js");
const { onTab, sink, loadFlow, statusOf, inject, warningsOf, errorsOf, assertNoSecret } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/90-comment.js"].map(core);
const EXAMPLE = path.join(__dirname, "../../examples/thingspeak/04 - One MQTT device, two channels, both ways.json");

const DEVICE = { clientId: "OneDeviceClientId00001", username: "OneDeviceUsername00001", password: "OneDevicePassword000001" };
const SECRETS = [DEVICE.password];

describe("ThingSpeak: one MQTT device credential, two channels, both ways (iot-broker + mqtt-mode channels)", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** The hosted side: the broker (events to `ev`), channels 1001 and 2002 for DEVICE, a reader and a writer on each. */
  function hostedSide(port, extra = {}) {
    return [
      onTab({ id: "b1", type: "iot-broker", name: "ThingSpeak server", port, bind: "127.0.0.1", allowAnonymous: false, persistence: "memory", wires: [["ev"]] }),
      sink("ev"),
      { id: "h1", type: "thingspeak-channel", name: "Hosted weather", connection: "local", broker: "b1", channelId: "1001", updateInterval: "1", ...extra.h1 },
      { id: "h2", type: "thingspeak-channel", name: "Hosted garden", connection: "local", broker: "b1", channelId: "2002", updateInterval: "1", ...extra.h2 },
      onTab({ id: "hs1", type: "thingspeak-field", channel: "h1", field: "", mode: "subscribe", wires: [["ho1"]] }),
      onTab({ id: "hs2", type: "thingspeak-field", channel: "h2", field: "", mode: "subscribe", wires: [["ho2"]] }),
      onTab({ id: "hw1", type: "thingspeak-field", channel: "h1", field: "2", mode: "write", wires: [[]] }),
      onTab({ id: "hw2", type: "thingspeak-field", channel: "h2", field: "2", mode: "write", wires: [[]] }),
      sink("ho1"),
      sink("ho2"),
    ];
  }

  /** The device side: two mqtt-mode channels with the same credentials, a writer and a subscriber on each. */
  function deviceSide(port, name = "Weather") {
    const server = `mqtt://127.0.0.1:${port}`;
    return [
      { id: "d1", type: "thingspeak-channel", name, connection: "mqtt", server, channelId: "1001", updateInterval: "1" },
      { id: "d2", type: "thingspeak-channel", name: "Garden", connection: "mqtt", server, channelId: "2002", updateInterval: "1" },
      onTab({ id: "dw1", type: "thingspeak-field", channel: "d1", field: "1", mode: "write", wires: [[]] }),
      onTab({ id: "dw2", type: "thingspeak-field", channel: "d2", field: "1", mode: "write", wires: [[]] }),
      onTab({ id: "ds1", type: "thingspeak-field", channel: "d1", field: "", mode: "subscribe", wires: [["do1"]] }),
      onTab({ id: "ds2", type: "thingspeak-field", channel: "d2", field: "", mode: "subscribe", wires: [["do2"]] }),
      sink("do1"),
      sink("do2"),
    ];
  }

  const creds = () => ({ h1: { ...DEVICE }, h2: { ...DEVICE }, d1: { ...DEVICE }, d2: { ...DEVICE } });
  const SINKS = ["ev", "ho1", "ho2", "do1", "do2"];
  /** Every ThingSpeak device CONNECT the broker accepts, on its current engine and every later one (registered before the flow starts). */
  function countConnects(brokerId) {
    const connects = [];
    const unuse = brokers.use(brokerId, (engine) => {
      const on = (e) => {
        if (e.event === "client-connected" && e.plugin === "thingspeak") connects.push(e.clientId);
      };
      engine.on("event", on);
      return () => engine.off("event", on);
    }, () => undefined);
    cleanups.push(unuse);
    return connects;
  }

  it("two channel nodes share one connection and both channels work both ways, across a redeploy of one of them and a full deploy", async function () {
    const port = await freePort();
    const connects = countConnects("b1");
    let got = await loadFlow(withBroker, [TAB, ...hostedSide(port), ...deviceSide(port)], creds(), SINKS);
    for (const id of ["dw1", "dw2"]) await statusOf(helper.getNode(id), (s) => s.text === `${STATUS}connected`);

    // Device -> hosted channels: each write becomes an entry of its own channel, and the device
    // (subscribed to both) hears each entry back on the right channel node.
    assert.equal(await inject(helper.getNode("dw1"), { payload: 11 }), undefined);
    assert.equal(await inject(helper.getNode("dw2"), { payload: 22 }), undefined);
    const h1 = await got.ho1.next((m) => m.payload.field1 === "11", "channel 1001's entry from the device");
    const h2 = await got.ho2.next((m) => m.payload.field1 === "22", "channel 2002's entry from the device");
    assert.deepEqual([h1.payload.channel_id, h2.payload.channel_id], [1001, 2002]);
    await got.do1.next((m) => m.payload.field1 === "11", "the device hears channel 1001's entry");
    await got.do2.next((m) => m.payload.field1 === "22", "the device hears channel 2002's entry");

    // Hosted channels -> device: the flows' writes reach the one connection, each on its channel node.
    assert.equal(await inject(helper.getNode("hw1"), { payload: 33 }), undefined);
    assert.equal(await inject(helper.getNode("hw2"), { payload: 44 }), undefined);
    const d1 = await got.do1.next((m) => m.payload.field2 === "33", "channel 1001's flow write at the device");
    const d2 = await got.do2.next((m) => m.payload.field2 === "44", "channel 2002's flow write at the device");
    assert.deepEqual([d1.payload.channel_id, d2.payload.channel_id], [1001, 2002]);
    assert.ok(got.do1.every((m) => m.payload.channel_id === 1001) && got.do2.every((m) => m.payload.channel_id === 2002));
    assert.equal(connects.length, 1, "one CONNECT for both channels over all of that");

    // Redeploying one device channel keeps the connection: the other one still holds it.
    got = await loadFlow(withBroker, [TAB, ...hostedSide(port), ...deviceSide(port, "Weather 2")], creds(), SINKS, "nodes");
    await statusOf(helper.getNode("dw1"), (s) => s.text === `${STATUS}connected`);
    // The flows' write waits for the channel's interval (the hosted channel retries it), then reaches the re-created node.
    assert.equal(await inject(helper.getNode("hw1"), { payload: 55 }), undefined);
    await got.do1.next((m) => m.payload.field2 === "55", "channel 1001's entry at the re-created device node");
    assert.equal(connects.length, 1, "no new CONNECT after the redeploy");

    // A full deploy restarts both device channels: one new CONNECT for the two (the old one is gone first), both served.
    got = await loadFlow(withBroker, [TAB, ...hostedSide(port), ...deviceSide(port, "Weather 2")], creds(), SINKS, "full");
    for (const id of ["dw1", "dw2"]) await statusOf(helper.getNode(id), (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(helper.getNode("hw2"), { payload: 66 }), undefined);
    await got.do2.next((m) => m.payload.field2 === "66", "channel 2002's entry after the full deploy");
    assert.equal(await inject(helper.getNode("hw1"), { payload: 77 }), undefined);
    await got.do1.next((m) => m.payload.field2 === "77", "channel 1001's entry after the full deploy");
    assert.equal(connects.length, 2, "one new CONNECT for both channels after the full deploy");
    assert.equal(brokers.engine("b1").clients().filter((c) => c.identity.plugin === "thingspeak").length, 1);
    for (const id of ["b1", "h1", "h2", "d1", "d2", "dw1", "dw2", "ds1", "ds2"]) {
      // A flow write within the channel's interval is retried, and says so: expected, not a problem.
      const said = [...warningsOf(helper.getNode(id)), ...errorsOf(helper.getNode(id))].filter((w) => !/\(rate-limited\)/.test(w));
      assert.deepEqual(said, [], id);
    }
    assertNoSecret(SECRETS, ["b1", "h1", "h2", "d1", "d2", "dw1", "dw2", "ds1", "ds2"], got.ev);
  });

  it("two channel nodes with the same client id but another password each say so at once, by catalog key, with no secret", async function () {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const flow = [TAB, ...deviceSide(b.url.replace("mqtt://127.0.0.1:", ""))];
    await helper.load(withBroker, flow, { d1: { ...DEVICE }, d2: { ...DEVICE, password: "AnotherPassword000001" } });
    const said = (id) => warningsOf(helper.getNode(id)).filter((w) => w.startsWith("thingspeak-channel.warnings.credentials-conflict"));
    await until(() => said("d1").length > 0 && said("d2").length > 0, 5000, "both channels' conflict warnings");
    assert.deepEqual([said("d1").length, said("d2").length], [1, 1]);
    assert.ok(said("d1")[0].includes(b.url), "names the server");
    assertNoSecret([...SECRETS, "AnotherPassword000001"], ["d1", "d2", "dw1", "dw2"]);
  });

  it("the example flow runs as shipped with one credential entered: one connection, both channels both ways", async function () {
    const port = await freePort();
    const flow = JSON.parse(fs.readFileSync(EXAMPLE, "utf8")).filter((n) => n.type !== "tab");
    const tab = { id: "ex", type: "tab", label: "example" };
    const nodes = flow.map((n) => {
      if (n.type === "iot-broker") return { ...n, port: String(port), bind: "127.0.0.1", z: tab.id };
      if (n.type === "thingspeak-channel") return n.connection === "mqtt" ? { ...n, server: `mqtt://127.0.0.1:${port}` } : n;
      // The test presses the injects itself (and the harness's RED._ cannot log a repeating inject's setup).
      if (n.type === "inject") return { ...n, repeat: "", z: tab.id };
      return { ...n, z: tab.id };
    });
    const channels = flow.filter((n) => n.type === "thingspeak-channel");
    assert.deepEqual(channels.map((n) => `${n.connection} ${n.channelId}`).sort(), ["local 101", "local 102", "mqtt 101", "mqtt 102"]);
    const byName = (type, name) => flow.find((n) => n.type === type && n.name === name).id;
    const seen = {};
    const watch = (name) => {
      seen[name] = [];
      helper.getNode(byName("debug", name)).on("input", (msg) => seen[name].push(msg));
    };
    await helper.load([...CORE, ...withBroker], [tab, ...nodes], Object.fromEntries(channels.map((c) => [c.id, { ...DEVICE }])));
    for (const name of ["device: greenhouse entries", "device: shed entries", "hosted: greenhouse entries", "hosted: shed entries"]) watch(name);
    const deviceChannels = new Set(channels.filter((c) => c.connection === "mqtt").map((c) => c.id));
    const writers = flow.filter((n) => n.type === "thingspeak-field" && n.mode === "write" && deviceChannels.has(n.channel));
    for (const w of writers) await statusOf(helper.getNode(w.id), (s) => s.text === `${STATUS}connected`);
    // Ticks of the sensors (as the device) and presses of the set points (on the hosted side).
    for (const name of ["greenhouse sensor", "shed sensor"]) helper.getNode(byName("inject", name)).receive({});
    await until(() => seen["hosted: greenhouse entries"].length > 0 && seen["hosted: shed entries"].length > 0, 5000, "each sensor's entry on its hosted channel");
    assert.deepEqual([seen["hosted: greenhouse entries"][0].payload.channel_id, seen["hosted: shed entries"][0].payload.channel_id], [101, 102]);
    for (const name of ["greenhouse set point", "shed set point"]) helper.getNode(byName("inject", name)).receive({});
    await until(() => seen["device: greenhouse entries"].some((m) => m.payload.field2 === "21") && seen["device: shed entries"].some((m) => m.payload.field2 === "8"), 8000, "each set point at the device, on its channel");
    const engineClients = brokers.engine(byName("iot-broker", "ThingSpeak server"))?.clients() ?? [];
    assert.equal(engineClients.filter((c) => c.identity.plugin === "thingspeak").length, 1, "one device connection for both channels");
  });

  it("a channel's Allow Publish / Allow Subscribe refuse the device there, and the editor's settings reach the broker", async function () {
    const port = await freePort();
    const hosted = hostedSide(port, { h2: { allowPublish: false, allowSubscribe: false } });
    const got = await loadFlow(withBroker, [TAB, ...hosted], { h1: { ...DEVICE }, h2: { ...DEVICE } }, ["ev", "ho1", "ho2"]);
    await statusOf(helper.getNode("hs2"), (s) => s.text.startsWith(STATUS) && s.fill !== "red");
    let dev;
    await until(async () => {
      dev = await connect(`mqtt://127.0.0.1:${port}`, { ...DEVICE, clean: true }).catch(() => undefined);
      return dev !== undefined;
    }, 5000, "the hosted device to be accepted");
    cleanups.push(() => dev.endAsync(true));
    let granted;
    try {
      granted = (await dev.subscribeAsync(["channels/1001/subscribe", "channels/2002/subscribe"])).map((g) => g.qos);
    } catch (err) {
      if (!err.packet) throw err;
      granted = err.packet.granted;
    }
    assert.deepEqual(granted, [0, 128], "Allow Subscribe is off on channel 2002");
    dev.publish("channels/2002/publish", "field1=1");
    dev.publish("channels/1001/publish", "field1=2");
    await got.ho1.next((m) => m.payload.field1 === "2", "channel 1001's entry");
    await got.ev.next((m) => m.topic === "publish-refused" && m.payload.topic === "channels/2002/publish", "the refusal on channel 2002");
    assert.equal(got.ho2.length, 0, "nothing stored on channel 2002");

    // What the editor shows: the hosted channels of this channel's device, with their flags, and no secret.
    const res = await helper.request().get("/thingspeak-channel/device-channels").query({ channel: "h1" }).expect(200);
    assert.deepEqual(res.body, {
      hosted: true,
      channels: [
        { id: "h1", channelId: 1001, name: "Hosted weather", allowPublish: true, allowSubscribe: true },
        { id: "h2", channelId: 2002, name: "Hosted garden", allowPublish: false, allowSubscribe: false },
      ],
    });
    assert.deepEqual((await helper.request().get("/thingspeak-channel/device-channels").query({ channel: "nope" }).expect(200)).body, { hosted: false, channels: [] });
    assert.ok(!JSON.stringify(res.body).includes(DEVICE.password) && !JSON.stringify(res.body).includes(DEVICE.username));
  });
});
