"use strict";
// thingspeak-channel (config node): one connection per channel shared by its nodes, status pushed
// to all of them, bad settings reported clearly, and no password or key anywhere in sight.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { waitFor } = require("../lib/fixtures/wait.js");
const { errorsOf, tsNodes, TAB, onTab, statusOf, inject, STATUS, assertNoSecret } = require("./thingspeak-helpers.js");

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

  it("reports unusable settings on the channel and on every node using it", async function () {
    const cases = [
      [channel({ channelId: "" }), { ch1: CREDS }, /^thingspeak-channel\.errors\.missing-channel-id$/],
      [channel(), { ch1: { ...CREDS, password: "" } }, /^thingspeak-channel\.errors\.missing-mqtt-credentials .*password/],
      [channel({ connection: "local" }), { ch1: CREDS }, /^thingspeak-channel\.errors\.missing-broker$/],
      [channel({ updateInterval: "0" }), { ch1: CREDS }, /^thingspeak-channel\.errors\.invalid-update-interval/],
    ];
    for (const [config, credentials, expected] of cases) {
      await helper.load(tsNodes, [TAB, config, ...users()], credentials);
      const ch = helper.getNode("ch1");
      assert.match(errorsOf(ch)[0], expected);
      for (const id of ["w1", "s1"]) {
        const node = helper.getNode(id);
        await statusOf(node, (s) => s.text === `${STATUS}config-error` && s.fill === "red");
        assert.match(errorsOf(node)[0], /^thingspeak-field\.errors\.channel-invalid .*thingspeak-channel\.errors\./);
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
