"use strict";
// Hosted Blynk devices over the binary hardware protocol (docs/ARCHITECTURE.md 3.7): the real
// engine with a `protocol: "blynk"` listener on loopback, the npm blynk-library as a real device,
// raw frames for everything the library cannot send.
const assert = require("node:assert/strict");
const { CMD, frame } = require("../fixtures/blynk-wire.js");
const { jsDevice } = require("../fixtures/blynk-js-device.js");
const { until, waitFor } = require("../../support/wait.js");
const { TOKENS, hostedBroker } = require("./fixtures.js");
const { rawDevice } = require("./binary-wire.js");

const ALPHA = { id: "a1b2c3d4e5f60718", token: TOKENS.alpha, name: "Alpha", pins: { v1: "Temp", v2: "Power" } };
const BETA = { id: "b1b2c3d4e5f60718", token: TOKENS.beta, name: "Beta" };

/** A broker with hosted devices and a Blynk binary listener; `ctx.blynkPort`, `ctx.raw()`, `ctx.js()`. */
async function binaryBroker(options = {}) {
  const ctx = await hostedBroker(options);
  const info = await ctx.engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0, protocol: "blynk" });
  ctx.blynkPort = info.port;
  ctx.raws = [];
  ctx.jss = [];
  ctx.raw = async () => {
    const d = await rawDevice(ctx.blynkPort);
    ctx.raws.push(d);
    return d;
  };
  ctx.js = (token) => {
    const d = jsDevice({ port: ctx.blynkPort, token });
    ctx.jss.push(d);
    return d;
  };
  const cleanup = ctx.cleanup;
  ctx.cleanup = async () => {
    for (const d of ctx.jss) d.close();
    for (const d of ctx.raws) d.end();
    await cleanup();
  };
  return ctx;
}

const closedEvent = (ctx, code) => ctx.events.find((e) => e.event === "protocol-closed" && e.code === code);

describe("self-hosted Blynk: the binary protocol server", function () {
  let ctx;

  afterEach(async function () {
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  function assertNoToken(...texts) {
    const all = JSON.stringify(texts);
    for (const token of Object.values(TOKENS)) assert.ok(!all.includes(token), "a token leaked");
  }

  describe("login", function () {
    it("the npm blynk-library logs in with HW_LOGIN and is the hosted device: online, values both ways", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const handle = ctx.handles.get(ALPHA.id);
      const online = waitFor(handle, "online", (s) => s.online);
      const info = waitFor(handle, "info");
      const dev = ctx.js(ALPHA.token);
      await waitFor(dev.blynk, "connect");
      await online;
      assert.deepEqual(await info, { ver: "0.5.4", type: "js", rxbuff: 4096 });
      assert.ok(ctx.events.some((e) => e.event === "client-connected" && e.plugin === "blynk" && e.deviceId === ALPHA.id));
      assert.equal(ctx.engine.clients().length, 1);

      // Device -> flows: mapped pin by its name, unmapped pin as V<n>.
      dev.blynk.virtualWrite(1, 21.5);
      dev.blynk.virtualWrite(7, ["a", "b"]);
      const temp = await ctx.uplink(ALPHA.id, (u) => u.message.datastream === "Temp");
      assert.deepEqual(temp, { source: "device", message: { kind: "ds", datastream: "Temp", value: 21.5 }, text: "21.5" });
      const v7 = await ctx.uplink(ALPHA.id, (u) => u.message.datastream === "V7");
      assert.deepEqual(v7.message.value, ["a", "b"]);
      assert.equal(handle.store.get("ds", "Temp").value, "21.5");

      // Flows -> device: BLYNK_WRITE(V2) for "Power", V9 for "V9".
      const pin2 = new dev.blynk.VirtualPin(2);
      const pin9 = new dev.blynk.VirtualPin(9);
      const wrote2 = waitFor(pin2, "write");
      const wrote9 = waitFor(pin9, "write");
      await handle.send({ kind: "ds", datastream: "Power", text: "1" });
      await handle.send({ kind: "ds", datastream: "V9", text: "x\0y" });
      assert.deepEqual(await wrote2, ["1"]);
      assert.deepEqual(await wrote9, ["x", "y"]);
      assertNoToken(ctx.events, ctx.warnings);
    });

    for (const legacy of [false, true]) {
      it(`answers ${legacy ? "LOGIN (2)" : "HW_LOGIN (29)"} with 200 on id 1 and PING with 200 on its id`, async function () {
        ctx = await binaryBroker({ devices: [ALPHA] });
        const d = await ctx.raw();
        assert.equal(await d.login(ALPHA.token, legacy), 200);
        d.send(frame(CMD.PING, 7));
        assert.equal((await d.next((f) => f.id === 7)).status, 200);
        await until(() => ctx.state(ALPHA.id).online === true);
      });
    }

    it("refuses an unknown token with status 9, closes, and reports auth-refused without the token", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const d = await ctx.raw();
      const wrong = "WrongTok_0123456789abcdefghijkl";
      assert.equal(await d.login(wrong), 9);
      await d.untilClosed();
      const refused = ctx.events.find((e) => e.event === "auth-refused");
      assert.match(refused.reason, /no hosted Blynk device has the token/);
      assert.ok(!JSON.stringify(ctx.events).includes(wrong));
    });

    it("counts invalid tokens in the broker's failed-login throttle", async function () {
      ctx = await binaryBroker({ devices: [ALPHA], authThrottle: { maxFailures: 2, lockoutMs: 60_000 } });
      for (let i = 0; i < 2; i++) {
        const d = await ctx.raw();
        assert.equal(await d.login("WrongTok_0123456789abcdefghijkl"), 9);
      }
      await until(() => ctx.events.some((e) => e.event === "auth-throttled"));
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 6); // locked out: refused unchecked
    });

    it("closes a connection whose login never comes, with a login-timeout event", async function () {
      ctx = await binaryBroker({ devices: [ALPHA], connectTimeoutMs: 200 });
      const d = await ctx.raw();
      await d.untilClosed();
      assert.ok(closedEvent(ctx, "login-timeout"));
    });

    it("closes a connection that sends anything but a login first", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const d = await ctx.raw();
      d.send(frame(CMD.HARDWARE, 1, "vw", "1", "2"));
      await d.untilClosed();
      assert.ok(closedEvent(ctx, "before-login"));
      assert.equal(ctx.uplinks.get(ALPHA.id).length, 0);
    });
  });

  describe("info, heartbeat, sync", function () {
    it("parses the info message in any key order, answers 200 and closes a silent device after ~2.3 heartbeats", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const handle = ctx.handles.get(ALPHA.id);
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 200);
      const info = waitFor(handle, "info");
      d.send(frame(CMD.INTERNAL, 2, "mcu", "0.1.0", "fw-type", "TMPL1", "build", "Jan 1 2025", "blynk", "1.3.2", "h-beat", "1", "buff-in", "256", "tmpl", "TMPL1"));
      assert.equal((await d.next((f) => f.id === 2)).status, 200);
      assert.deepEqual(await info, { tmpl: "TMPL1", ver: "1.3.2", build: "Jan 1 2025", rxbuff: 256 });
      const offline = waitFor(handle, "online", (s) => !s.online, 8000);
      await d.untilClosed(8000);
      await offline;
      assert.ok(closedEvent(ctx, "idle-timeout"));
    });

    it("answers HARDWARE_SYNC from stored values (all, or the listed pins), with the request's id", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const handle = ctx.handles.get(ALPHA.id);
      await handle.send({ kind: "ds", datastream: "Temp", text: "20" });
      await handle.send({ kind: "ds", datastream: "V5", text: "on" });
      await handle.send({ kind: "ds", datastream: "NoPin", text: "1" });
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 200);
      d.send(frame(CMD.HARDWARE_SYNC, 3, "vr", "5"));
      const one = await d.next((f) => f.id === 3);
      assert.deepEqual(one.fields, ["vw", "5", "on"]);
      d.send(Buffer.from([CMD.HARDWARE_SYNC, 0, 4, 0, 0]));
      await until(() => d.frames.filter((f) => f.id === 4).length === 2);
      assert.deepEqual(d.frames.filter((f) => f.id === 4).map((f) => f.body).sort(), ["vw\u00001\u000020", "vw\u00005\u0000on"]);
    });

    it("sends every stored value after login when syncOnConnect is on (the JS library's BLYNK_WRITE)", async function () {
      ctx = await binaryBroker({ devices: [{ ...ALPHA, syncOnConnect: true }] });
      await ctx.handles.get(ALPHA.id).send({ kind: "ds", datastream: "Power", text: "42" });
      const dev = ctx.js(ALPHA.token);
      const pin2 = new dev.blynk.VirtualPin(2);
      assert.deepEqual(await waitFor(pin2, "write"), ["42"]);
    });

    it("the JS library's syncVirtual and syncAll are answered", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      await ctx.handles.get(ALPHA.id).send({ kind: "ds", datastream: "Temp", text: "19.5" });
      const dev = ctx.js(ALPHA.token);
      await waitFor(dev.blynk, "connect");
      const pin1 = new dev.blynk.VirtualPin(1);
      const first = waitFor(pin1, "write");
      dev.blynk.syncVirtual(1);
      assert.deepEqual(await first, ["19.5"]);
      const second = waitFor(pin1, "write");
      dev.blynk.syncAll();
      assert.deepEqual(await second, ["19.5"]);
    });
  });

  describe("a second login with the same token", function () {
    it("a healthy device (it answers the PING) keeps its connection; the newcomer gets 6 and is closed", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const dev = ctx.js(ALPHA.token);
      await waitFor(dev.blynk, "connect");
      const stray = await ctx.raw();
      assert.equal(await stray.login(ALPHA.token), 6);
      await stray.untilClosed();
      assert.ok(closedEvent(ctx, "duplicate-refused"));
      assert.ok(!dev.events.includes("disconnect"));
      assert.equal(ctx.state(ALPHA.id).online, true);
      assert.ok(ctx.warnings.some((w) => /second binary-protocol login/.test(w)));
    });

    it("a dead connection (no answer: a rebooted board's old socket) is replaced by the new login", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const old = await ctx.raw();
      assert.equal(await old.login(ALPHA.token), 200);
      old.socket.pause(); // reads nothing, answers nothing
      const rebooted = await ctx.raw();
      assert.equal(await rebooted.login(ALPHA.token), 200);
      await until(() => old.closed || ctx.engine.clients().length === 1);
      assert.equal(ctx.engine.clients().length, 1);
      assert.equal(ctx.state(ALPHA.id).online, true);
      rebooted.send(frame(CMD.HARDWARE, 2, "vw", "1", "7"));
      await ctx.uplink(ALPHA.id, (u) => u.message.datastream === "Temp" && u.message.value === 7);
    });

    it("a binary login replaces an MQTT connection of the device (one connection per token)", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const mqttDevice = await ctx.device(ALPHA.token);
      const gone = new Promise((resolve) => mqttDevice.once("close", resolve));
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 200);
      await gone;
      await until(() => ctx.engine.clients().length === 1 && ctx.engine.clients()[0].protocolVersion === 0);
      assert.equal(ctx.state(ALPHA.id).online, true);
    });
  });

  describe("hostile input", function () {
    it("closes a connection sending garbage, an unknown command or a wrong length; other devices go on", async function () {
      ctx = await binaryBroker({ devices: [ALPHA, BETA] });
      const good = await ctx.raw();
      assert.equal(await good.login(BETA.token), 200);
      const cases = [Buffer.from("GET / HTTP/1.1\r\n\r\n"), Buffer.from([99, 0, 1, 0, 0]), Buffer.from([CMD.PING, 0, 2, 0, 3, 1, 2, 3])];
      for (const bytes of cases) {
        const d = await ctx.raw();
        if (bytes[0] === CMD.PING) assert.equal(await d.login(ALPHA.token), 200);
        d.send(bytes);
        await d.untilClosed();
      }
      assert.ok(ctx.events.filter((e) => e.event === "protocol-closed" && e.code === "bad-frame").length >= 2);
      good.send(frame(CMD.PING, 9));
      assert.equal((await good.next((f) => f.id === 9)).status, 200);
    });

    it("drops messages over the 100/s quota (QUOTA_LIMIT once) and cuts off a flood", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 200);
      const frames = [];
      for (let i = 0; i < 2500; i++) frames.push(frame(CMD.HARDWARE, (i % 60000) + 2, "vw", "3", String(i)));
      d.send(...frames);
      await d.untilClosed();
      assert.ok(d.frames.some((f) => f.command === CMD.RESPONSE && f.status === 1));
      assert.ok(closedEvent(ctx, "flood"));
      await until(() => ctx.state(ALPHA.id).online === false);
    });
  });
});
