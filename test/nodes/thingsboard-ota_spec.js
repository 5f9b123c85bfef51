"use strict";
// Firmware updates through the nodes (docs/PROTOCOLS.md 4.6): a tb attributes node in local mode
// takes a firmware Buffer for the hosted device; a second thingsboard-device in mqtt mode with
// "Download firmware updates" is that device (over the broker's TCP port), downloads and verifies
// it and emits it from its tb attributes node; the device's fw_state comes out of tb telemetry.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { withBroker, TAB } = require("./thingsboard-helpers.js");
const { onTab, sink, loadFlow, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "NodeTbOtaTOKEN012345";

describe("ThingsBoard firmware updates through the nodes", function () {
  this.timeout(20000);
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("a Buffer into tb attributes (local) reaches the device role's tb attributes verified; fw_state reaches tb telemetry", async function () {
    const port = await freePort();
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "hosted", type: "thingsboard-device", name: "Hosted", connection: "local", broker: "b1" },
      { id: "pi", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: `mqtt://127.0.0.1:${port}`, firmware: true, firmwareChunk: "8192", firmwareMaxKb: "512" },
      onTab({ id: "ship", type: "thingsboard-attributes", device: "hosted", wires: [[]] }),
      onTab({ id: "states", type: "thingsboard-telemetry", device: "hosted", wires: [["seen"]] }),
      onTab({ id: "fw", type: "thingsboard-attributes", device: "pi", wires: [["got"]] }),
      sink("seen"),
      sink("got"),
    ];
    const got = await loadFlow(withBroker, flow, { hosted: { token: TOKEN }, pi: { token: TOKEN } }, ["seen", "got"]);
    const image = crypto.randomBytes(100 * 1024);
    // The device role may not be connected yet: it asks for the fw_* attributes when it connects.
    assert.equal(await inject(helper.getNode("ship"), { payload: image, thingsboard: { firmware: { title: "pi-app", version: "7", algorithm: "MD5" } } }), undefined);
    const firmware = await got.got.next((m) => Buffer.isBuffer(m.payload), "the firmware");
    assert.ok(firmware.payload.equals(image));
    assert.deepEqual(firmware.thingsboard, {
      device: "Pi",
      firmware: { type: "firmware", title: "pi-app", version: "7", checksum: crypto.createHash("md5").update(image).digest("hex"), algorithm: "MD5", size: image.length },
    });
    await got.seen.next((m) => JSON.stringify(m.payload).includes("VERIFIED"), "fw_state VERIFIED");
    assert.match((await inject(helper.getNode("ship"), { payload: image, thingsboard: { firmware: { title: "pi-app" } } })).message, /version must be text/);
    assert.match((await inject(helper.getNode("fw"), { payload: image, thingsboard: { firmware: { title: "x", version: "1" } } })).message, /only a device hosted on an iot-broker node/);
    assertNoToken(TOKEN, ["hosted", "pi", "ship", "states", "fw"]);
  });
});
