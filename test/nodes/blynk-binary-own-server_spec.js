"use strict";
// binary mode against the package's own binary server: a binary-mode blynk-device (Node-RED as
// the device) logs in on an iot-broker's blynkPort / blynkTlsPort, where a local-mode
// blynk-device with the same token hosts it; flows on each side reach the other. Skipped until
// the broker's binary server (iot-broker `blynkPort`, nodes/lib/blynk/binary-server/) is built.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { withBroker, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, inject, statusOf, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const HAS_SERVER = fs.existsSync(path.join(__dirname, "../../dist/nodes/lib/blynk/binary-server/server.js"));
const tlsNode = require(require.resolve("@node-red/nodes/core/network/05-tls.js", { paths: [path.dirname(nodeRedPath)] }));
const certs = path.join(__dirname, "..", "lib", "fixtures", "certs");
const TOKEN = "SelfTok_0123456789abcdefghijklmn";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";

describe("blynk-device binary mode against the package's own binary server (iot-broker blynkPort)", function () {
  before(function () {
    if (!HAS_SERVER) this.skip();
  });
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  for (const secure of [false, true]) {
    it(`logs in over ${secure ? "TLS (blynkTlsPort)" : "TCP (blynkPort)"} as the hosted device: values both ways, sync on connect`, async function () {
      this.timeout(10_000);
      const port = await freePort();
      const blynkPort = await freePort();
      const server = secure ? `tls://127.0.0.1:${blynkPort}` : `tcp://127.0.0.1:${blynkPort}`;
      const flow = [
        TAB,
        onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", ...(secure ? { blynkTlsPort: blynkPort, tls: "srv" } : { blynkPort }), wires: [[]] }),
        { id: "srv", type: "tls-config", cert: path.join(certs, "server.crt"), key: path.join(certs, "server.key"), ca: "", verifyservercert: false },
        { id: "cli", type: "tls-config", cert: "", key: "", ca: path.join(certs, "ca.crt"), verifyservercert: true },
        { id: "hosted", type: "blynk-device", name: "Hosted", connection: "local", broker: "b1", pins: "V1=Temperature, V2=Power" },
        { id: "client", type: "blynk-device", name: "Node-RED device", connection: "binary", server, ...(secure ? { tls: "cli" } : {}), pins: "V1=Temperature, V2=Power" },
        onTab({ id: "server-in", type: "blynk-device-in", device: "hosted", datastream: "", wires: [["at-server"]] }),
        onTab({ id: "server-write", type: "blynk-write", device: "hosted", datastream: "" }),
        onTab({ id: "device-in", type: "blynk-device-in", device: "client", datastream: "", sync: true, wires: [["at-device"]] }),
        onTab({ id: "device-write", type: "blynk-write", device: "client", datastream: "" }),
        sink("at-server"),
        sink("at-device"),
      ];
      const creds = { hosted: { token: TOKEN }, client: { token: TOKEN } };
      const got = await loadFlow([...withBroker, tlsNode], flow, creds, ["at-server", "at-device"]);
      await statusOf(helper.getNode("device-write"), (s) => s.text === `${STATUS}connected`);
      await statusOf(helper.getNode("server-write"), (s) => s.text === `${STATUS}device-online`);

      assert.equal(await inject(helper.getNode("device-write"), { topic: "Temperature", payload: 21.5 }), undefined);
      const temp = await got["at-server"].next((m) => m.topic === "Temperature");
      assert.equal(temp.payload, 21.5);

      assert.equal(await inject(helper.getNode("server-write"), { topic: "Power", payload: 1 }), undefined);
      const power = await got["at-device"].next((m) => m.topic === "Power" && m.payload === 1);
      assert.equal(power.blynk.source, "cloud");

      // A new login (the client node changed) asks for the stored values: both come back as sync answers.
      const changed = flow.map((n) => (n.id === "client" ? { ...n, name: "Node-RED device, renamed" } : n));
      const again = await loadFlow([...withBroker, tlsNode], changed, creds, ["at-device"], "nodes");
      const synced = await again["at-device"].next((m) => m.topic === "Temperature");
      assert.deepEqual([synced.payload, synced.blynk.sync], [21.5, true]);
      await again["at-device"].next((m) => m.topic === "Power" && m.blynk.sync === true);
      assertNoToken(TOKEN, ["hosted", "client", "server-in", "device-in", "server-write", "device-write"], got);
    });
  }
});
