"use strict";
// A fleet's flow nodes with a Fleet device setting read per message (msg/flow/global) or from an
// env variable: the answer of a call names the device it went to, and a source that reads as
// unset never means "every device" (only a Fleet device left empty in the dialog does).
const assert = require("node:assert/strict");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fleetOf } = require("../../dist/nodes/lib/broker/index.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const tb = require("./thingsboard-helpers.js");
const blynk = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, inject, translatingFor } = require("../support/node-harness.js");

helper.init(nodeRedPath);
const tbFleet = translatingFor(tb.runtime)(require("../../dist/nodes/thingsboard-fleet.js"));
const blynkFleet = translatingFor(blynk.runtime)(require("../../dist/nodes/blynk-fleet.js"));
const ME = "v1/devices/me";
const ENV = "IOTB_TYPED_FLEET_SPEC";

describe("typedInput Fleet device settings of a fleet's flow nodes", function () {
  this.timeout(30_000);
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    delete process.env[ENV];
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** A ThingsBoard fleet with `nodes` on it and `count` devices added and connected (subscribed to `filter`). */
  async function tbFleetWith(nodes, count, filter) {
    const port = await freePort();
    const got = await loadFlow([...tb.withBroker, tbFleet], [
      tb.TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "prof", type: "thingsboard-device", name: "Meters", connection: "local", broker: "b1", hosting: "fleet" },
      onTab({ id: "ctl", type: "thingsboard-fleet", device: "prof", wires: [["answers"], ["events"]] }),
      ...nodes.map(onTab),
      sink("out"), sink("answers"), sink("events"),
    ], {}, ["out", "answers", "events"]);
    await until(() => fleetOf("prof")?.available === true, 5000, "the fleet");
    const devices = [];
    for (let i = 0; i < count; i++) {
      await inject(helper.getNode("ctl"), { topic: "add", payload: { name: `Meter ${i}` } });
      const device = (await got.answers.next((m) => m.payload.name === `Meter ${i}`)).payload;
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: device.credentials.token, clientId: "", reconnectPeriod: 0 });
      cleanups.push(() => c.endAsync(true));
      c.box = inbox(c);
      await c.subscribeAsync(filter);
      devices.push({ ...device, client: c });
    }
    return { got, devices };
  }

  it("thingsboard-rpc call: the answer names the device the call went to, though flow.target changed while it waited", async function () {
    const { got, devices } = await tbFleetWith([
      { id: "call", type: "thingsboard-rpc", device: "prof", mode: "call", timeout: "5000", fleetDevice: "target", fleetDeviceType: "flow", wires: [["out"]] },
    ], 2, `${ME}/rpc/request/+`);
    const ctx = helper.getNode("call").context().flow;
    for (const [i, next] of ["Meter 1", "Nobody"].entries()) {
      ctx.set("target", "Meter 0");
      const result = inject(helper.getNode("call"), { topic: "whoAmI", payload: {} });
      const req = await devices[0].client.box.next(`${ME}/rpc/request/${i + 1}`);
      // While the call waits the flow points the node at another device (or at one the fleet lacks).
      ctx.set("target", next);
      await devices[0].client.publishAsync(`${ME}/rpc/response/${req.topic.split("/").pop()}`, JSON.stringify({ me: 0 }), { qos: 1 });
      assert.equal(await result, undefined, `answered call (then ${next})`);
      const reply = await got.out.next();
      assert.deepEqual(reply.payload, { me: 0 });
      assert.deepEqual(reply.thingsboard.device, { name: "Meter 0", id: devices[0].id });
    }
  });

  it("thingsboard-attributes: firmware with flow.target unset goes to no device; msg.thingsboard.device names one instead; an empty typed Fleet device still means every device", async function () {
    const { devices } = await tbFleetWith([
      { id: "flowDev", type: "thingsboard-attributes", device: "prof", fleetDevice: "target", fleetDeviceType: "flow", wires: [["out"]] },
      { id: "all", type: "thingsboard-attributes", device: "prof", fleetDevice: "", fleetDeviceType: "str", wires: [["out"]] },
    ], 2, `${ME}/attributes`);
    const firmware = (version) => ({ payload: Buffer.from(`image ${version}`), thingsboard: { firmware: { title: "fw", version } } });
    const err = await inject(helper.getNode("flowDev"), firmware("1"));
    assert.match(String(err), /fleet-no-device-source.*flow\.target/);
    // msg.thingsboard.device names the device when the setting reads as unset.
    assert.equal(await inject(helper.getNode("flowDev"), { ...firmware("2"), thingsboard: { ...firmware("2").thingsboard, device: "Meter 1" } }), undefined);
    assert.equal(await inject(helper.getNode("all"), firmware("3")), undefined);
    const versions = async (d, count) => {
      await until(() => d.client.box.messages.length >= count, 5000, `${count} announcements to ${d.name}`);
      return d.client.box.messages.map((m) => JSON.parse(m.payload).fw_version);
    };
    assert.deepEqual(await versions(devices[1], 2), ["2", "3"], "Meter 1 got 2, then 3");
    assert.deepEqual(await versions(devices[0], 1), ["3"], "Meter 0 got version 3 only");
  });

  it("blynk-write: a $system command with the Fleet device unset (msg, env) goes to no device, with an error naming the source", async function () {
    process.env[ENV] = "";
    const port = await freePort();
    await loadFlow([...blynk.withBroker, blynkFleet], [
      blynk.TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", blynkPort: await freePort(), wires: [[]] }),
      { id: "fleet1", type: "blynk-device", name: "Thermostats", connection: "local", broker: "b1", hosting: "fleet", pins: "V1=Temp" },
      onTab({ id: "msgDev", type: "blynk-write", device: "fleet1", datastream: "", fleetDevice: "target", fleetDeviceType: "msg" }),
      onTab({ id: "envDev", type: "blynk-write", device: "fleet1", datastream: "", fleetDevice: ENV, fleetDeviceType: "env" }),
      onTab({ id: "all", type: "blynk-write", device: "fleet1", datastream: "", fleetDevice: "" }),
    ], {});
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet");
    assert.match(String(await inject(helper.getNode("msgDev"), { topic: "$system/reboot", payload: "" })), /fleet-no-device-source.*msg\.target/);
    assert.match(String(await inject(helper.getNode("envDev"), { topic: "$system/reboot", payload: "" })), /fleet-no-device-source.*env IOTB_TYPED_FLEET_SPEC/);
    // msg.blynk.device names the device instead (one the fleet lacks: refused by name, not sent to all).
    assert.match(String(await inject(helper.getNode("msgDev"), { topic: "$system/reboot", payload: "", blynk: { device: "Attic" } })), /fleet-unknown-device.*Attic/);
    // Left empty in the dialog (an old flow): every device of the fleet, none here.
    assert.equal(await inject(helper.getNode("all"), { topic: "$system/reboot", payload: "" }), undefined);
  });
});
