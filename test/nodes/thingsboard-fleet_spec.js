"use strict";
// A ThingsBoard fleet in node-red-node-test-helper (docs/ARCHITECTURE.md 3.8): one local-mode
// thingsboard-device (a device profile) hosting 50 devices onboarded by thingsboard-fleet; the
// telemetry node receives every device with msg.thingsboard.device = {name, id}; attributes and
// RPC reach each device by name; a client RPC is answered back to the device that asked;
// unknown names refused; the HTTP device API works per fleet device.
const assert = require("node:assert/strict");
const http = require("node:http");
const mqtt = require("mqtt");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fleetOf } = require("../../dist/nodes/lib/broker/index.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { withBroker, runtime, TAB } = require("./thingsboard-helpers.js");
const { loadFlow, onTab, sink, inject, assertNoToken, translatingFor } = require("../support/node-harness.js");

helper.init(nodeRedPath);
const fleetNode = translatingFor(runtime)(require("../../dist/nodes/thingsboard-fleet.js"));
const NODES = [...withBroker, fleetNode];
const ME = "v1/devices/me";

describe("thingsboard-device hosting a fleet, with thingsboard-fleet", function () {
  this.timeout(60_000);
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  function flow(port) {
    return [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "prof", type: "thingsboard-device", name: "Meters", connection: "local", broker: "b1", hosting: "fleet" },
      onTab({ id: "tel", type: "thingsboard-telemetry", device: "prof", wires: [["telemetry"]] }),
      onTab({ id: "attr", type: "thingsboard-attributes", device: "prof", wires: [["attrs"]] }),
      onTab({ id: "serve", type: "thingsboard-rpc", device: "prof", mode: "serve", timeout: "5000", wires: [["requests"]] }),
      onTab({ id: "call", type: "thingsboard-rpc", device: "prof", mode: "call", timeout: "5000", wires: [["replies"]] }),
      onTab({ id: "ctl", type: "thingsboard-fleet", device: "prof", wires: [["answers"], ["events"]] }),
      sink("telemetry"),
      sink("attrs"),
      sink("requests"),
      sink("replies"),
      sink("answers"),
      sink("events"),
    ];
  }

  it("50 devices: telemetry names each device, attributes and RPC reach each by name, client RPC replies go back, unknown names refused", async function () {
    const port = await freePort();
    const got = await loadFlow(NODES, flow(port), {}, ["telemetry", "attrs", "requests", "replies", "answers", "events"]);
    await until(() => fleetOf("prof")?.available === true, 5000, "the fleet's table");
    const devices = [];
    for (let i = 0; i < 50; i++) {
      assert.equal(await inject(helper.getNode("ctl"), { topic: "add", payload: { name: `Meter ${i}` } }), undefined);
      devices.push((await got.answers.next((m) => m.payload.name === `Meter ${i}`)).payload);
    }
    const conns = [];
    for (let i = 0; i < 50; i++) {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: devices[i].credentials.token, clientId: "", reconnectPeriod: 0 });
      cleanups.push(() => c.endAsync(true));
      c.box = inbox(c);
      await c.subscribeAsync([`${ME}/attributes`, `${ME}/rpc/request/+`, `${ME}/rpc/response/+`]);
      c.on("message", (topic, payload) => {
        if (topic.startsWith(`${ME}/rpc/request/`)) c.publish(`${ME}/rpc/response/${topic.split("/").pop()}`, JSON.stringify({ me: i, got: JSON.parse(payload.toString()).params }));
      });
      conns.push(c);
    }
    for (let i = 0; i < 50; i++) await conns[i].publishAsync(`${ME}/telemetry`, JSON.stringify({ power: i }), { qos: 1 });
    await until(() => got.telemetry.length === 50, 10_000, "50 telemetry messages");
    for (const m of got.telemetry) assert.deepEqual(m.thingsboard.device, { name: `Meter ${m.payload.power}`, id: devices[m.payload.power].id });

    // Shared attributes to each device: the round-trip msg names it.
    for (const m of got.telemetry) assert.equal(await inject(helper.getNode("attr"), { payload: { limit: m.payload.power }, thingsboard: m.thingsboard }), undefined);
    for (let i = 0; i < 50; i++) assert.deepEqual(JSON.parse((await conns[i].box.next(`${ME}/attributes`)).payload), { limit: i });
    // Server RPC by name; the reply names the device.
    assert.equal(await inject(helper.getNode("call"), { topic: "whoAmI", payload: { x: 1 }, thingsboard: { device: "Meter 17" } }), undefined);
    const reply = await got.replies.next();
    assert.deepEqual(reply.payload, { me: 17, got: { x: 1 } });
    assert.deepEqual(reply.thingsboard.device, { name: "Meter 17", id: devices[17].id });
    // Client RPC from device 33, answered by the flow: back to device 33 only.
    await conns[33].publishAsync(`${ME}/rpc/request/5`, JSON.stringify({ method: "getTime", params: {} }), { qos: 1 });
    const request = await got.requests.next();
    assert.deepEqual(request.thingsboard.device, { name: "Meter 33", id: devices[33].id });
    assert.equal(await inject(helper.getNode("serve"), { ...request, payload: { time: "noon" } }), undefined);
    assert.deepEqual(JSON.parse((await conns[33].box.next(`${ME}/rpc/response/5`)).payload), { time: "noon" });

    const unknown = await inject(helper.getNode("attr"), { payload: { a: 1 }, thingsboard: { device: "Cellar" } });
    assert.match(String(unknown), /fleet-unknown-device.*Cellar/);
    const unnamed = await inject(helper.getNode("call"), { topic: "x", payload: {} });
    assert.match(String(unnamed), /fleet-no-device/);

    // The HTTP device API serves fleet devices too (by their token).
    // The helper does not serve RED.httpNode: a loopback server of our own does.
    const web = http.createServer(runtime.RED.httpNode);
    await new Promise((resolve) => web.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => web.close(resolve)));
    const res = await fetch(`http://127.0.0.1:${web.address().port}/api/v1/${devices[2].credentials.token}/telemetry`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ viaHttp: 1 }) });
    assert.equal(res.status, 200);
    const viaHttp = await got.telemetry.next((m) => m.payload.viaHttp === 1);
    assert.deepEqual(viaHttp.thingsboard.device, { name: "Meter 2", id: devices[2].id });
    assertNoToken(devices[5].credentials.token, ["prof", "tel", "attr", "serve", "call", "ctl"], got.telemetry, got.events);
  });
});
