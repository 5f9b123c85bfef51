"use strict";
// A ThingsBoard fleet (docs/ARCHITECTURE.md 3.8): one local-mode link (a device profile) hosts
// every device of its table. 50 MQTT.js devices (some with basic MQTT credentials) on one link:
// telemetry arrives naming its device, attributes and RPC reach each device by name, a client
// RPC is answered back to the device that asked; devices change at run time.
const assert = require("node:assert/strict");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { SecretBox } = require("../../../dist/nodes/lib/transport/secret-box.js");
const { fleetOf } = require("../../../dist/nodes/lib/broker/index.js");
const { connectRefused } = require("../fixtures/engine.js");
const { until, untilStatus, waitFor } = require("../../support/wait.js");
const { BROKER_ID, hostedBroker } = require("./fixtures.js");

const FLEET_ID = "0a1b2c3d4e5f6071";
const BOX = new SecretBox("tb fleet spec secret");
const ME = "v1/devices/me";

describe("ThingsBoard fleet: one config node hosts many devices", function () {
  this.timeout(30_000);
  let ctx;
  let link;

  afterEach(async function () {
    await link?.close();
    link = undefined;
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  async function fleetBroker() {
    ctx = await hostedBroker();
    link = createThingsBoardLink({ connection: "local", token: "", broker: BROKER_ID, deviceId: FLEET_ID, name: "Sensor profile", fleet: { box: BOX } });
    link.got = [];
    link.on("incoming", (m) => link.got.push(m));
    link.start();
    await untilStatus(link, (s) => s.state === "connected");
  }

  it("50 devices on one link: telemetry names its device; attributes, server RPC and client-RPC replies reach each device only", async function () {
    await fleetBroker();
    const table = fleetOf(FLEET_ID);
    const devices = [];
    for (let i = 0; i < 50; i++) {
      const basic = i % 10 === 0 ? { credentials: { clientId: `client-${i}`, username: `user-${i}`, password: `pass-${i}` } } : {};
      devices.push(await table.add({ name: `Meter ${i}`, ...basic }));
    }
    await until(() => link.fleet.size === 50, 5000, "50 members");
    const conns = [];
    for (let i = 0; i < 50; i++) {
      const c = devices[i].credentials;
      const client = i % 10 === 0 ? await ctx.connect({ clientId: c.clientId, username: c.username, password: c.password }) : await ctx.device(c.token);
      await client.subscribeAsync([`${ME}/attributes`, `${ME}/rpc/request/+`, `${ME}/rpc/response/+`]);
      client.on("message", (topic, payload) => {
        if (topic.startsWith(`${ME}/rpc/request/`)) client.publish(`${ME}/rpc/response/${topic.split("/").pop()}`, JSON.stringify({ me: i, asked: JSON.parse(payload.toString()).method }));
      });
      conns.push(client);
    }
    await untilStatus(link, (s) => s.fleet?.online === 50 && s.fleet.total === 50);
    for (let i = 0; i < 50; i++) await conns[i].publishAsync(`${ME}/telemetry`, JSON.stringify({ power: i }), { qos: 1 });
    const telemetry = () => link.got.filter((m) => m.kind === "telemetry");
    await until(() => telemetry().length === 50, 10_000, "50 telemetry messages");
    for (const m of telemetry()) {
      const i = m.values.power;
      assert.deepEqual(m.fleet, { name: `Meter ${i}`, id: devices[i].id });
      assert.equal(m.device, `Meter ${i}`);
    }

    for (let i = 0; i < 50; i++) await link.fleet.member({ id: devices[i].id })[1].publishAttributes({ target: i });
    for (let i = 0; i < 50; i++) {
      assert.deepEqual(JSON.parse((await conns[i].box.next(`${ME}/attributes`)).payload), { target: i });
      assert.equal(conns[i].box.messages.filter((m) => m.topic === `${ME}/attributes`).length, 1);
    }
    const answers = await Promise.all(devices.map((d) => link.callRpc("whoAmI", {}, { device: d.name, timeoutMs: 5000 })));
    assert.deepEqual(answers.map((a) => a.me), devices.map((_d, i) => i));

    // Client-side RPC from device 7: the fleet link routes the reply back to it.
    await conns[7].publishAsync(`${ME}/rpc/request/42`, JSON.stringify({ method: "getTime", params: {} }), { qos: 1 });
    await until(() => link.got.some((m) => m.kind === "rpc"));
    const request = link.got.find((m) => m.kind === "rpc");
    assert.deepEqual(request.fleet, { name: "Meter 7", id: devices[7].id });
    const waited = link.awaitReply(request, 5000);
    await link.replyRpc({ id: request.id, device: request.fleet }, { time: "12:00" });
    await waited;
    assert.deepEqual(JSON.parse((await conns[7].box.next(`${ME}/rpc/response/42`)).payload), { time: "12:00" });

    await assert.rejects(link.publishAttributes({ a: 1 }), /hosts a fleet: name the device/);
    await assert.rejects(link.publishAttributes({ a: 1 }, { device: "Cellar" }), (err) => err.code === "unknown-device" && /"Cellar"/.test(err.message));
  });

  it("run time: add, change credentials, remove; basic credentials work for an added device", async function () {
    await fleetBroker();
    const table = fleetOf(FLEET_ID);
    const a = await table.add({ name: "Pump", credentials: { token: "PumpToken0123456789A" } });
    await until(() => link.fleet.size === 1);
    const c = await ctx.device(a.credentials.token);
    const closed = waitFor(c, "close");
    await table.change({ name: "Pump" }, { credentials: { token: "PumpToken0123456789B" } });
    await closed;
    const refused = await connectRefused(ctx.url, { username: "PumpToken0123456789A", clientId: "" });
    assert.ok([5, 135].includes(refused.code), `refused with ${refused.code}`);
    await until(() => link.fleet.size === 1);
    await ctx.device("PumpToken0123456789B");
    await table.remove("Pump");
    await until(() => link.fleet.size === 0);
    const refused2 = await connectRefused(ctx.url, { username: "PumpToken0123456789B", clientId: "" });
    // The last ThingsBoard device gone, the plugin is out too: the engine itself refuses (bad user name or password).
    assert.ok([4, 5, 134, 135].includes(refused2.code), `refused with ${refused2.code}`);
  });
});
