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

});
