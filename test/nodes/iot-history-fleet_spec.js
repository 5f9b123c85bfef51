"use strict";
// iot-history on a config node hosting a fleet (docs/ARCHITECTURE.md 3.8): the fleet device whose
// history is read comes from the node's Fleet device or msg.fleetDevice (a name, {name} or {id});
// none, or a name the fleet lacks, is refused in words; the editor's key list answers per fleet device.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fleetOf } = require("../../dist/nodes/lib/broker/index.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { withBroker, runtime, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, inject, statusOf, translatingFor } = require("../support/node-harness.js");

helper.init(nodeRedPath);
const NODES = [...withBroker, translatingFor(runtime)(require("../../dist/nodes/blynk-fleet.js")), translatingFor(runtime)(require("../../dist/nodes/iot-history.js"))];

describe("iot-history on a fleet", function () {
  this.timeout(30_000);
  const cleanups = [];
  let userDir;
  beforeEach(function (done) {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-history-fleet-"));
    helper.settings({ userDir });
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
    helper.settings({});
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("reads the named fleet device's history; refuses no name and an unknown one", async function () {
    const port = await freePort();
    const history = (id, extra) => onTab({ id, type: "iot-history", device: "fleet1", key: "Temp", from: "", to: "", limit: "100", format: "points", wires: [["out"]], ...extra });
    const { out, answers } = await loadFlow(
      NODES,
      [
        TAB,
        onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
        { id: "fleet1", type: "blynk-device", name: "Thermostats", connection: "local", broker: "b1", hosting: "fleet", pins: "V1=Temp" },
        onTab({ id: "ctl", type: "blynk-fleet", device: "fleet1", wires: [["answers"], []] }),
        history("kitchen", { fleetDevice: "Kitchen" }),
        history("fromMsg", { fleetDevice: "" }),
        sink("out"),
        sink("answers"),
      ],
      {},
      ["out", "answers"],
    );
    await until(() => fleetOf("fleet1")?.available === true, 5000, "the fleet's table");
    await statusOf(helper.getNode("ctl"), (s) => s.fill === "green");
    const added = {};
    for (const name of ["Kitchen", "Hall"]) {
      assert.equal(await inject(helper.getNode("ctl"), { topic: "add", payload: { name } }), undefined);
      added[name] = (await answers.next((m) => m.payload.name === name)).payload;
    }
    for (const [name, value] of [["Kitchen", "21.5"], ["Hall", "18"]]) {
      const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: "device", password: added[name].credentials.token, clientId: "", reconnectPeriod: 0 });
      cleanups.push(() => device.endAsync(true));
      await device.publishAsync("ds/Temp", value, { qos: 1 });
    }

    // The history is written as the values arrive: read until the point is there.
    let msg;
    await until(async () => {
      const before = out.length;
      if ((await inject(helper.getNode("kitchen"), { topic: "read" })) !== undefined) return false;
      await until(() => out.length > before, 5000, "the answer");
      msg = out.at(-1);
      return msg.payload.length === 1;
    }, 10_000, "Kitchen's point in the history");
    assert.equal(msg.payload[0].value, 21.5);
    assert.deepEqual([msg.history.device, msg.history.name], [`fleet1.${added.Kitchen.id}`, "Thermostats / Kitchen"]);

    // msg.fleetDevice names it when the node does not: by name or as {id}.
    assert.equal(await inject(helper.getNode("fromMsg"), { fleetDevice: { id: added.Hall.id } }), undefined);
    await until(() => out.at(-1).history.name === "Thermostats / Hall", 5000, "Hall's history");
    assert.equal(out.at(-1).payload[0].value, 18);

    const none = await inject(helper.getNode("fromMsg"), {});
    assert.match(String(none), /iot-history\.errors\.fleet-no-device .*Thermostats/);
    const unknown = await inject(helper.getNode("fromMsg"), { fleetDevice: "Attic" });
    assert.match(String(unknown), /iot-history\.errors\.fleet-unknown-device .*Attic/);

    // The editor's key list for one fleet device.
    const res = await helper.request().get("/iot-history/keys").query({ device: "fleet1", fleetDevice: "Kitchen" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.keys.map((k) => k.key), ["Temp"]);
    const noName = await helper.request().get("/iot-history/keys").query({ device: "fleet1" });
    assert.equal(noName.status, 404);
  });
});
