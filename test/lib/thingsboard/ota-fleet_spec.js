"use strict";
// Firmware for a whole ThingsBoard fleet (docs/PROTOCOLS.md 4.6, docs/ARCHITECTURE.md 3.8): one
// send with no device named gives every device of the fleet the package; the image is kept
// once; devices download it as the Arduino library does (one connecting only later); a named
// device alone gets a newer one.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { SecretBox } = require("../../../dist/nodes/lib/transport/secret-box.js");
const { fleetOf, firmwareShelf } = require("../../../dist/nodes/lib/broker/index.js");
const { until, untilStatus } = require("../../support/wait.js");
const { BROKER_ID, hostedBroker } = require("./fixtures.js");
const { arduinoOta } = require("../fixtures/tb-ota-device.js");

const FLEET_ID = "0a1b2c3d4e5f6072";
const IMAGE = crypto.randomBytes(64 * 1024);

describe("ThingsBoard fleet OTA", function () {
  this.timeout(30_000);
  let ctx;
  let link;
  afterEach(async function () {
    await link?.close();
    link = undefined;
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  it("one send reaches every device of the fleet with one copy of the image; a named device alone gets the next", async function () {
    ctx = await hostedBroker();
    link = createThingsBoardLink({ connection: "local", token: "", broker: BROKER_ID, deviceId: FLEET_ID, name: "Meters", fleet: { box: new SecretBox("ota fleet spec") } });
    link.start();
    await untilStatus(link, (s) => s.state === "connected");
    const devices = [];
    for (let i = 0; i < 5; i++) devices.push(await fleetOf(FLEET_ID).add({ name: `Meter ${i}` }));
    await until(() => link.fleet.size === 5, 5000, "5 members");
    for (const [, member] of link.fleet.entries()) await untilStatus(member, (s) => s.state === "connected");
    const before = { size: firmwareShelf.size, bytes: firmwareShelf.totalBytes };
    await link.sendFirmware(IMAGE, { title: "meter", version: "5" });
    assert.equal(firmwareShelf.size - before.size, 1, "one image for the fleet");
    assert.equal(firmwareShelf.totalBytes - before.bytes, IMAGE.length);
    for (const i of [0, 3, 4]) {
      const result = await arduinoOta(await ctx.device(devices[i].credentials.token), { chunkSize: 8192 });
      assert.equal(result.verified, true, `Meter ${i}`);
      assert.equal(result.info.fw_version, "5");
    }
    const next = crypto.randomBytes(1000);
    await link.sendFirmware(next, { title: "meter", version: "6" }, { device: "Meter 1" });
    assert.equal((await arduinoOta(await ctx.device(devices[1].credentials.token), { chunkSize: 512 })).info.fw_version, "6");
    assert.equal((await arduinoOta(await ctx.device(devices[2].credentials.token), { chunkSize: 512 })).info.fw_version, "5");
    await assert.rejects(link.sendFirmware(next, { title: "meter", version: "6" }, { device: "Nobody" }), /Nobody/);
  });
});
