"use strict";
// A Blynk fleet (docs/ARCHITECTURE.md 3.8): one local-mode link hosts every device of its table.
// 50 devices on one link: MQTT.js devices, raw binary frames and the npm blynk-library mixed,
// each received with its device named and written to by name; unknown names refused; devices
// added, re-tokened and removed while running.
const assert = require("node:assert/strict");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { SecretBox } = require("../../../dist/nodes/lib/transport/secret-box.js");
const { fleetOf } = require("../../../dist/nodes/lib/broker/index.js");
const { CMD, frame } = require("../fixtures/blynk-wire.js");
const { jsDevice } = require("../fixtures/blynk-js-device.js");
const { connectRefused } = require("../fixtures/engine.js");
const { until, untilStatus, waitFor } = require("../../support/wait.js");
const { BROKER_ID, hostedBroker } = require("./fixtures.js");
const { rawDevice } = require("./binary-wire.js");

const FLEET_ID = "f1e2d3c4b5a69788";
const BOX = new SecretBox("fleet spec secret");

describe("Blynk fleet: one config node hosts many devices", function () {
  this.timeout(30_000);
  let ctx;
  let link;
  const raws = [];
  const jss = [];

  afterEach(async function () {
    for (const d of jss.splice(0)) d.close();
    for (const d of raws.splice(0)) d.end?.() ?? d.socket.destroy();
    await link?.close();
    link = undefined;
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  async function fleetBroker() {
    ctx = await hostedBroker();
    const info = await ctx.engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0, protocol: "blynk" });
    ctx.blynkPort = info.port;
    link = createBlynkLink({ connection: "local", token: "", broker: BROKER_ID, deviceId: FLEET_ID, name: "Thermostat template", pins: { v1: "Temp", v2: "Power" }, fleet: { box: BOX } });
    link.got = [];
    link.on("incoming", (m) => link.got.push(m));
    link.start();
    await untilStatus(link, (s) => s.state === "connected");
    return link;
  }

  async function rawLogin(token) {
    const d = await rawDevice(ctx.blynkPort);
    raws.push(d);
    d.send(frame(CMD.HW_LOGIN, 1, token));
    const answer = await d.next((f) => f.command === CMD.RESPONSE && f.id === 1);
    assert.equal(answer.status, 200);
    return d;
  }

  it("50 devices (25 MQTT, 20 raw binary, 5 blynk-library) on one link: every value arrives naming its device, a write to each reaches only that device", async function () {
    await fleetBroker();
    const table = fleetOf(FLEET_ID);
    assert.equal(table, link.table);
    const devices = [];
    for (let i = 0; i < 50; i++) devices.push(await table.add({ name: `Room ${i}` }));
    await until(() => link.fleet.size === 50, 5000, "50 members");

    const conns = [];
    for (let i = 0; i < 50; i++) {
      const token = devices[i].credentials.token;
      if (i < 25) {
        const c = await ctx.device(token);
        await c.subscribeAsync("downlink/#");
        conns.push({ kind: "mqtt", c });
      } else if (i < 45) {
        conns.push({ kind: "raw", c: await rawLogin(token) });
      } else {
        const js = jsDevice({ port: ctx.blynkPort, token });
        jss.push(js);
        js.power = [];
        new js.blynk.VirtualPin(2).on("write", (param) => js.power.push(param[0]));
        await waitFor(js.blynk, "connect", () => true, 10_000);
        conns.push({ kind: "js", c: js });
      }
    }
    // The fleet's status counts its connected devices.
    await untilStatus(link, (s) => s.state === "connected" && s.fleet?.online === 50 && s.fleet.total === 50);
    for (let i = 0; i < 50; i++) {
      const { kind, c } = conns[i];
      if (kind === "mqtt") await c.publishAsync("ds/Temp", String(i), { qos: 1 });
      else if (kind === "raw") c.send(frame(CMD.HARDWARE, 2, "vw", "1", String(i)));
      else c.blynk.virtualWrite(1, i);
    }
    const temps = () => link.got.filter((m) => m.kind === "value" && m.datastream === "Temp");
    await until(() => temps().length === 50, 10_000, "50 Temp values");
    for (const m of temps()) {
      const i = Number(m.value);
      assert.deepEqual(m.device, { name: `Room ${i}`, id: devices[i].id }, `value ${i} names its device`);
    }

    for (let i = 0; i < 50; i++) await link.fleet.member({ name: `Room ${i}` })[1].write("Power", 100 + i);
    for (let i = 0; i < 50; i++) {
      const { kind, c } = conns[i];
      if (kind === "mqtt") assert.equal((await c.box.next("downlink/ds/Power")).payload, String(100 + i));
      else if (kind === "raw") assert.deepEqual((await c.next((f) => f.command === CMD.HARDWARE && f.fields[0] === "vw")).fields, ["vw", "2", String(100 + i)]);
      else await until(() => c.power.length > 0, 5000, `device ${i}'s pin handler`).then(() => assert.deepEqual(c.power, [String(100 + i)]));
    }
    // Nobody got another device's write.
    for (const { kind, c } of conns) if (kind === "mqtt") assert.equal(c.box.messages.filter((m) => m.topic === "downlink/ds/Power").length, 1);

    // The fleet's own link writes nowhere: a device must be named, and an unknown name is refused in words.
    await assert.rejects(link.write("Power", 1), /hosts a fleet: name the device/);
    assert.throws(() => link.fleet.member("Attic"), (err) => err.code === "unknown-device" && /"Attic"/.test(err.message));
    // What the stored state says, per device, tagged.
    const synced = await link.sync({ datastreams: ["Power"] });
    assert.equal(synced.length, 50);
    assert.ok(synced.every((m) => m.device.name === `Room ${Number(m.value) - 100}`));
  });

  it("run time: an added device can log in at once; a new token locks the old one out; a removed device is disconnected and refused", async function () {
    await fleetBroker();
    const table = fleetOf(FLEET_ID);
    const a = await table.add({ name: "Attic", credentials: { token: "AtticToken_0123456789abcdefghij" } });
    await until(() => link.fleet.size === 1);
    const c = await ctx.device(a.credentials.token);
    await c.publishAsync("ds/Temp", "5", { qos: 1 });
    await until(() => link.got.some((m) => m.datastream === "Temp" && m.device?.name === "Attic"));

    const closed = waitFor(c, "close");
    const changed = await table.change("Attic", { credentials: { token: "AtticToken2_0123456789abcdefghi" } });
    await closed;
    const refused = await connectRefused(ctx.url, { username: "device", password: a.credentials.token, clientId: "" });
    assert.ok([4, 5, 134, 135].includes(refused.code), `the old token is refused (got ${refused.code})`);
    await until(() => link.fleet.size === 1);
    const again = await ctx.device(changed.credentials.token);

    const gone = waitFor(again, "close");
    await table.remove({ id: a.id });
    await gone;
    await until(() => link.fleet.size === 0);
    const refusedAgain = await connectRefused(ctx.url, { username: "device", password: changed.credentials.token, clientId: "" });
    assert.ok([4, 5, 134, 135].includes(refusedAgain.code));
    assert.ok(!JSON.stringify(ctx.warnings).includes("AtticToken"), "no token in a warning");
  });
});
