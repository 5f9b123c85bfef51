"use strict";
// thingspeak-channel (config node): one connection per channel shared by its nodes, status pushed
// to all of them, bad settings reported clearly, and no password or key anywhere in sight.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { waitFor, until } = require("../support/wait.js");
const { tsNodes, TAB, STATUS } = require("./thingspeak-helpers.js");
const { errorsOf, warningsOf, onTab, sink, loadFlow, statusOf, inject, assertNoSecret } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const CREDS = { clientId: "ChanClientId0001", username: "ChanUser0001", password: "ChanPassword0001secret", writeKey: "CHANWRITEKEY0001", readKey: "CHANREADKEY00001" };
const SECRETS = [CREDS.password, CREDS.writeKey, CREDS.readKey];

describe("thingspeak-channel node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  const channel = (extra = {}) => ({ id: "ch1", type: "thingspeak-channel", name: "Weather", connection: "mqtt", channelId: "1001", ...extra });
  const users = (name = "") => [
    onTab({ id: "w1", type: "thingspeak-field", name, channel: "ch1", field: "1", mode: "write", wires: [[]] }),
    onTab({ id: "s1", type: "thingspeak-field", channel: "ch1", field: "", mode: "subscribe", wires: [[]] }),
  ];

  it("opens one connection for all its nodes, keeps it across a redeploy of the nodes and closes it with the last one", async function () {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const clients = [];
    b.aedes.on("client", (c) => clients.push(c.id));
    const flow = (name) => [TAB, channel({ server: b.url }), ...users(name)];
    await helper.load(tsNodes, flow(""), { ch1: CREDS });
    for (const id of ["w1", "s1"]) await statusOf(helper.getNode(id), (s) => s.text === `${STATUS}connected` && s.fill === "green");
    assert.deepEqual(clients, [CREDS.clientId]);
    await helper.setFlows(flow("renamed"), "nodes", { ch1: CREDS });
    await statusOf(helper.getNode("w1"), (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(helper.getNode("w1"), { payload: 21.5 }), undefined);
    assert.equal(clients.length, 1, "the write went over the connection that was already open");
    const gone = waitFor(b.aedes, "clientDisconnect", (c) => c.id === CREDS.clientId);
    await helper.setFlows([TAB, channel({ server: b.url })], "nodes", { ch1: CREDS });
    await gone;
    assertNoSecret(SECRETS, ["ch1"]);
  });

  it("shares one connection between channels of one MQTT device; redeploying or removing one leaves the other subscribed", async function () {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const connects = [];
    b.aedes.on("client", (c) => connects.push(c.id));
    const dropped = [];
    b.aedes.on("clientDisconnect", (c) => dropped.push(c.id));
    const unsubscribed = [];
    b.aedes.on("unsubscribe", (topics) => unsubscribed.push(...topics));
    const w = await connect(b.url, { clientId: "watcher" });
    cleanups.push(() => w.endAsync(true));
    const box = inbox(w);
    await w.subscribeAsync("channels/+/publish");
    const channelNodes = (name) => [
      channel({ id: "ch1", name, server: b.url, updateInterval: "1" }),
      onTab({ id: "w1", type: "thingspeak-field", channel: "ch1", field: "1", mode: "write", wires: [[]] }),
      onTab({ id: "s1", type: "thingspeak-field", channel: "ch1", field: "", mode: "subscribe", wires: [["o1"]] }),
      sink("o1"),
    ];
    const garden = [
      channel({ id: "ch2", name: "Garden", server: b.url, channelId: "2002", updateInterval: "1" }),
      onTab({ id: "w2", type: "thingspeak-field", channel: "ch2", field: "1", mode: "write", wires: [[]] }),
      onTab({ id: "s2", type: "thingspeak-field", channel: "ch2", field: "", mode: "subscribe", wires: [["o2"]] }),
      sink("o2"),
    ];
    const creds = { ch1: CREDS, ch2: CREDS };
    const entry = (channelId, n) => JSON.stringify({ channel_id: channelId, created_at: "2024-01-19T12:25:30Z", entry_id: n, field1: String(n) });
    // The subscription may still be on its way when the node says connected: publish until it arrives.
    const publishUntilSeen = (channelId, n, box) => until(async () => {
      await w.publishAsync(`channels/${channelId}/subscribe`, entry(channelId, n));
      return box.some((m) => m.payload.entry_id === n);
    }, 5000, `entry ${n} of channel ${channelId}`);

    let got = await loadFlow(tsNodes, [TAB, ...channelNodes("Weather"), ...garden], creds, ["o1", "o2"]);
    for (const id of ["s1", "s2"]) await statusOf(helper.getNode(id), (st) => st.text === `${STATUS}connected`);
    await publishUntilSeen(1001, 1, got.o1);
    await publishUntilSeen(2002, 1, got.o2);
    assert.equal(await inject(helper.getNode("w1"), { payload: 11 }), undefined);
    assert.equal(await inject(helper.getNode("w2"), { payload: 22 }), undefined);
    assert.equal((await box.next("channels/1001/publish")).payload, "field1=11");
    assert.equal((await box.next("channels/2002/publish")).payload, "field1=22");
    assert.deepEqual(connects, ["watcher", CREDS.clientId], "one connection for both channels");

    // Redeploying the first channel: the second keeps its subscription on the same connection.
    got = await loadFlow(tsNodes, [TAB, ...channelNodes("Weather 2"), ...garden], creds, ["o1", "o2"], "nodes");
    await statusOf(helper.getNode("s1"), (st) => st.text === `${STATUS}connected`);
    await publishUntilSeen(1001, 2, got.o1);
    await w.publishAsync("channels/2002/subscribe", entry(2002, 2));
    await got.o2.next((m) => m.payload.entry_id === 2, "the untouched channel's entry, published once");
    assert.ok(!unsubscribed.includes("channels/2002/subscribe"), "the untouched channel's subscription stayed");

    // Removing the first channel: the second goes on; removing it too ends the connection.
    got = await loadFlow(tsNodes, [TAB, ...garden], creds, ["o2"], "nodes");
    await w.publishAsync("channels/2002/subscribe", entry(2002, 3));
    await got.o2.next((m) => m.payload.entry_id === 3, "the remaining channel's entry");
    assert.deepEqual(connects, ["watcher", CREDS.clientId], "no reconnect through the redeploys");
    assert.deepEqual(dropped, []);
    for (const id of ["ch2", "s2", "w2"]) assert.deepEqual(warningsOf(helper.getNode(id)), [], id);
    const gone = waitFor(b.aedes, "clientDisconnect", (c) => c.id === CREDS.clientId);
    await helper.setFlows([TAB], "nodes", {});
    await gone;
  });

  it("says once, with its catalog key, that another client keeps taking its client id over", async function () {
    const b = await startBareBroker({ preConnect: (_c, packet, done) => (logins.push(packet.username), done(null, true)) });
    const logins = [];
    cleanups.push(() => b.close());
    // Another client with the same client id (e.g. the device itself) connects whenever the channel did.
    let kicking = true;
    const intruders = [];
    cleanups.push(() => Promise.all(intruders.map((c) => c.endAsync(true))));
    b.aedes.on("client", (c) => {
      if (kicking && c.id === CREDS.clientId && logins.at(-1) === CREDS.username) {
        connect(b.url, { clientId: CREDS.clientId, username: "intruder" }).then((c2) => intruders.push(c2), () => undefined);
      }
    });
    await helper.load(tsNodes, [TAB, channel({ server: b.url }), ...users()], { ch1: CREDS });
    const ch = helper.getNode("ch1");
    await until(() => warningsOf(ch).length > 0, 8000, "the channel's warning");
    kicking = false;
    const warned = warningsOf(ch);
    assert.equal(warned.length, 1);
    assert.match(warned[0], /^thingspeak-channel\.warnings\.client-id-conflict .*"count":"3"/);
    assert.ok(warned[0].includes(b.url));
    assertNoSecret(SECRETS, ["ch1", "w1", "s1"]);
  });

  it("reports unusable settings on the channel and on every node using it", async function () {
    const cases = [
      // Something not filled in yet is a short yellow status of its own; the rest a red "configuration error".
      [channel({ channelId: "" }), { ch1: CREDS }, /^thingspeak-channel\.errors\.missing-channel-id$/, "config-error", "red"],
      [channel(), { ch1: { ...CREDS, password: "" } }, /^thingspeak-channel\.errors\.missing-mqtt-credentials .*password/, "no-credentials", "yellow"],
      [channel({ connection: "local" }), { ch1: CREDS }, /^thingspeak-channel\.errors\.missing-broker$/, "no-broker", "yellow"],
      [channel({ updateInterval: "0" }), { ch1: CREDS }, /^thingspeak-channel\.errors\.invalid-update-interval/, "config-error", "red"],
    ];
    for (const [config, credentials, expected, status, fill] of cases) {
      await helper.load(tsNodes, [TAB, config, ...users()], credentials);
      const ch = helper.getNode("ch1");
      // Not filled in yet: the channel warns once and its nodes show only the yellow status (no error each).
      const yellow = fill === "yellow";
      assert.match((yellow ? warningsOf(ch) : errorsOf(ch))[0], expected);
      if (yellow) assert.deepEqual(errorsOf(ch), []);
      for (const id of ["w1", "s1"]) {
        const node = helper.getNode(id);
        await statusOf(node, (s) => s.text === `${STATUS}${status}` && s.fill === fill);
        if (yellow) assert.deepEqual(errorsOf(node), []);
        else assert.match(errorsOf(node)[0], /^thingspeak-field\.errors\.channel-invalid .*thingspeak-channel\.errors\./);
      }
      const err = await inject(helper.getNode("w1"), { payload: 1 });
      assert.match(err.message, /^thingspeak-field\.errors\.channel-invalid/);
      assertNoSecret(SECRETS, ["ch1", "w1", "s1"]);
      await helper.unload();
    }
  });

  it("rest mode without a write key: write nodes say so, subscribe nodes still work", async function () {
    await helper.load(tsNodes, [TAB, channel({ connection: "rest", server: "http://127.0.0.1:9" }), ...users()], { ch1: { readKey: CREDS.readKey } });
    assert.match(errorsOf(helper.getNode("w1"))[0], /^thingspeak-field\.errors\.no-write-key$/);
    await statusOf(helper.getNode("s1"), (s) => s.text === `${STATUS}connected`);
    assertNoSecret(SECRETS, ["ch1", "w1", "s1"]);
  });
});
