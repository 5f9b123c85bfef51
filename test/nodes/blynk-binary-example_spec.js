"use strict";
// The Blynk example "Node-RED as a device of a legacy server" runs as shipped, with only what a
// user fills in (the token, and the server: here a loopback stand-in of the legacy blynk-server,
// test/lib/fixtures/blynk-legacy-server.js): sensor values arrive on V0/V1, the Heater button's
// value is synced on login and followed, and the app's reads of a pin are answered by the flow.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startLegacyServer } = require("../lib/fixtures/blynk-legacy-server.js");
const { waitFor, until } = require("../support/wait.js");
const { testTab } = require("../support/node-harness.js");
const { blynkNodes } = require("./blynk-helpers.js");

helper.init(nodeRedPath);

const core = (file) => require(require.resolve(`@node-red/nodes/core/${file}`, { paths: [path.dirname(nodeRedPath)] }));
const CORE = ["common/20-inject.js", "common/21-debug.js", "common/90-comment.js", "function/10-function.js", "function/10-switch.js", "function/15-change.js"].map(core);
const EXAMPLE = path.join(__dirname, "../../examples/blynk/05 - Node-RED as a device of a legacy server.json");
const TOKEN = "0123456789abcdef0123456789abcdef";

describe("Blynk example: Node-RED as a device of a legacy server", function () {
  let server;
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await server?.close();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("sends the sensor values, follows the Heater button (synced on login) and answers reads", async function () {
    server = await startLegacyServer({ tokens: [TOKEN] });
    server.device(TOKEN).pins.set("V2", ["1"]);
    const flow = JSON.parse(fs.readFileSync(EXAMPLE, "utf8")).filter((n) => n.type !== "tab");
    const tab = testTab("example");
    const device = flow.find((n) => n.type === "blynk-device");
    assert.equal(device.connection, "binary");
    const nodes = flow.map((n) => (n.type === "blynk-device" ? { ...n, server: server.url } : { ...n, z: tab.id }));
    const writes = [];
    server.events.on("write", (w) => writes.push(w));
    const synced = waitFor(server.events, "frame", (m) => m.type === "sync");
    await helper.load([...CORE, ...blynkNodes], [tab, ...nodes], { [device.id]: { token: TOKEN } });

    await until(() => writes.some((w) => w.pin === "V0") && writes.some((w) => w.pin === "V1"), 5000, "the sensor values on V0 and V1");
    assert.ok(Number.isFinite(Number(writes.find((w) => w.pin === "V0").values[0])));
    const sync = await synced;
    assert.deepEqual([sync.all, sync.pinType, sync.pins], [false, "V", [2]], "the Heater's pin is asked for on login");

    const heater = helper.getNode(flow.find((n) => n.type === "debug" && n.name.startsWith("Heater")).id);
    const seen = [];
    heater.on("input", (msg) => seen.push(msg));
    server.write(TOKEN, "V2", ["0"]);
    await until(() => seen.some((m) => m.topic === "Heater" && m.payload === 0), 5000, "the button's change");

    // The app reads V5: the flow answers with Node-RED's clock time (a fresh vw on V5).
    const answered = waitFor(server.events, "write", (w) => w.pin === "V5");
    server.send(TOKEN, { type: "hardware", id: 9, op: "read", pinType: "V", pin: 5 });
    const answer = await answered.catch((err) => {
      const errors = helper.log().args.filter((a) => a[0]?.level <= 30).map((a) => JSON.stringify(a[0]).slice(0, 300));
      throw new Error(`${err.message}; log: ${errors.join("\n")}`);
    });
    assert.match(answer.values[0], /^\d{2}:\d{2}:\d{2}$/);
  });
});
