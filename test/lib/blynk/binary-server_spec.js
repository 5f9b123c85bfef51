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
const { BlynkDeviceStore } = require("../../../dist/nodes/lib/blynk/hosted-store.js");

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
      // The firmware's version and type (mcu, fw-type), as info/mcu carries them (issue 12: an OTA shows), not the library's 1.3.2.
      assert.deepEqual(await info, { tmpl: "TMPL1", ver: "0.1.0", build: "Jan 1 2025", type: "TMPL1", rxbuff: 256 });
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

  describe("every hardware command", function () {
    async function loggedIn(devices = [ALPHA, BETA], token = ALPHA.token) {
      ctx = await binaryBroker({ devices });
      const d = await ctx.raw();
      assert.equal(await d.login(token), 200);
      return d;
    }

    it("dw/aw writes reach flows as D8/A0, stored and kept in the history", async function () {
      const d = await loggedIn();
      d.send(frame(CMD.HARDWARE, 2, "dw", "8", "1"), frame(CMD.HARDWARE, 3, "aw", "0", "512"));
      await ctx.uplink(ALPHA.id, (u) => u.message.datastream === "D8" && u.message.value === 1);
      await ctx.uplink(ALPHA.id, (u) => u.message.datastream === "A0" && u.message.value === 512);
      const points = await ctx.engine.history.query("blynk", ALPHA.id, "A0");
      assert.deepEqual(points.map((p) => p.value), [512]);
    });

    it("PROPERTY, EVENT_LOG, EVENT_CLEAR and the legacy NOTIFY/EMAIL/SMS/TWEET reach flows", async function () {
      const d = await loggedIn();
      d.send(
        frame(CMD.PROPERTY, 2, "1", "color", "#D3435C"),
        frame(CMD.EVENT_LOG, 3, "overheat", "too hot"),
        frame(CMD.EVENT_CLEAR, 4, "overheat", "all"),
        frame(CMD.NOTIFY, 5, "hello"),
        frame(CMD.EMAIL, 6, "a@example.com", "Subject", "Body"),
        frame(CMD.SMS, 7, "sms text"),
        frame(CMD.TWEET, 8, "tweet text"),
      );
      const prop = await ctx.uplink(ALPHA.id, (u) => u.message.kind === "property");
      assert.deepEqual(prop.message, { kind: "property", datastream: "Temp", property: "color", value: "#D3435C" });
      const stored = new BlynkDeviceStore(ctx.handles.get(ALPHA.id).store).properties();
      assert.deepEqual(stored.map((p) => [p.datastream, p.property, p.text]), [["Temp", "color", "#D3435C"]]);
      const events = () => ctx.uplinks.get(ALPHA.id).filter((u) => u.message.kind === "event").map((u) => [u.message.code, u.message.description]);
      await until(() => events().length === 6);
      assert.deepEqual(events(), [["overheat", "too hot"], ["clear:overheat", "all"], ["notify", "hello"], ["email", "Body"], ["sms", "sms text"], ["tweet", "tweet text"]]);
    });

    it("GROUP with a timestamp makes its writes points at that time", async function () {
      const d = await loggedIn();
      const at = Date.UTC(2025, 0, 1);
      d.send(frame(CMD.GROUP, 2, "t", String(at)), frame(CMD.HARDWARE, 3, "vw", "1", "5"), frame(CMD.GROUP, 4, "e"), frame(CMD.HARDWARE, 5, "vw", "1", "6"));
      const point = await ctx.uplink(ALPHA.id, (u) => u.message.kind === "timestamped");
      assert.deepEqual(point.message, { kind: "timestamped", datastream: "Temp", points: [[at, 5]] });
      await ctx.uplink(ALPHA.id, (u) => u.message.kind === "ds" && u.message.value === 6);
      const points = await ctx.engine.history.query("blynk", ALPHA.id, "Temp");
      assert.equal(points[0].ts, at);
    });

    it("answers rtc and utc from Node-RED's clock and the device's zone; meta set is stored", async function () {
      const d = await loggedIn([{ ...ALPHA, timeZone: "Europe/Berlin" }]);
      const before = Math.floor(Date.now() / 1000);
      d.send(frame(CMD.INTERNAL, 2, "rtc", "sync"), frame(CMD.INTERNAL, 3, "utc", "tz_name"), frame(CMD.INTERNAL, 4, "meta", "set", "Location", "Lab"));
      const rtc = await d.next((f) => f.id === 2);
      assert.equal(rtc.command, CMD.INTERNAL);
      assert.equal(rtc.fields[0], "rtc");
      assert.ok(Number(rtc.fields[1]) >= before);
      assert.deepEqual((await d.next((f) => f.id === 3)).fields, ["utc", "tz_name", "Europe/Berlin"]);
      await ctx.uplink(ALPHA.id, (u) => u.message.kind === "meta" && u.message.value === "Lab");
    });

    it("flows send pin modes, digital/analog reads and an ota URL; a value over buff-in is never sent", async function () {
      const d = await loggedIn();
      const handle = ctx.handles.get(ALPHA.id);
      await handle.send({ kind: "hardware", op: { op: "pin-mode", modes: [{ pin: 8, mode: "out" }] } });
      await handle.send({ kind: "hardware", op: { op: "read", pinType: "D", pin: 8 } });
      await handle.send({ kind: "ota", url: "http://example.com/fw.bin" });
      await d.next((f) => f.command === CMD.INTERNAL && f.fields[0] === "ota");
      const bodies = d.frames.filter((f) => f.command !== CMD.RESPONSE).map((f) => [f.command, f.fields]);
      assert.deepEqual(bodies, [[CMD.HARDWARE, ["pm", "8", "out"]], [CMD.HARDWARE, ["dr", "8"]], [CMD.INTERNAL, ["ota", "http://example.com/fw.bin"]]]);
      d.send(frame(CMD.INTERNAL, 9, "ver", "0.6.1", "h-beat", "10", "buff-in", "32"));
      assert.equal((await d.next((f) => f.id === 9)).status, 200);
      await handle.send({ kind: "ds", datastream: "Power", text: "x".repeat(40) });
      await handle.send({ kind: "ds", datastream: "Power", text: "short" });
      const writes = await d.next((f) => f.command === CMD.HARDWARE && f.fields[0] === "vw");
      assert.deepEqual(writes.fields, ["vw", "2", "short"]);
      assert.ok(ctx.warnings.some((w) => /was not sent: .*limit is 32 bytes/.test(w)));
    });

    it("BRIDGE between two hosted devices, through the server (the JS library's WidgetBridge)", async function () {
      ctx = await binaryBroker({ devices: [ALPHA, BETA] });
      const alpha = ctx.js(ALPHA.token);
      const beta = ctx.js(BETA.token);
      await Promise.all([waitFor(alpha.blynk, "connect"), waitFor(beta.blynk, "connect")]);
      const target = new beta.blynk.VirtualPin(3);
      const wrote = waitFor(target, "write");
      const bridge = new alpha.blynk.WidgetBridge(10);
      bridge.setAuthToken(BETA.token);
      bridge.virtualWrite(3, "from alpha");
      assert.deepEqual(await wrote, ["from alpha"]);
      assert.equal(ctx.handles.get(BETA.id).store.get("ds", "V3").value, "from alpha");
      assertNoToken(ctx.events, ctx.warnings);
    });

    it("a bridge to an unknown token is answered INVALID_TOKEN; a write on an unbound channel NOT_ALLOWED", async function () {
      const d = await loggedIn();
      d.send(frame(CMD.BRIDGE, 2, "10", "i", "NoSuchTok_0123456789abcdefghijk"), frame(CMD.BRIDGE, 3, "11", "vw", "1", "2"));
      assert.equal((await d.next((f) => f.id === 2)).status, 9);
      assert.equal((await d.next((f) => f.id === 3)).status, 6);
    });

    it("answers a second login on a logged-in connection with ALREADY_REGISTERED and a bad body with its status", async function () {
      const d = await loggedIn();
      d.send(frame(CMD.HW_LOGIN, 2, ALPHA.token), frame(CMD.HARDWARE, 3, "xx", "1"), frame(CMD.HARDWARE, 4, "vw", "999", "1"));
      assert.equal((await d.next((f) => f.id === 2)).status, 4);
      assert.equal((await d.next((f) => f.id === 3)).status, 2);
      assert.equal((await d.next((f) => f.id === 4)).status, 11);
      assert.equal(d.closed, false);
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

  it("an MQTT login replaces a binary connection of the device; flows' values then go over MQTT", async function () {
    ctx = await binaryBroker({ devices: [ALPHA] });
    const d = await ctx.raw();
    assert.equal(await d.login(ALPHA.token), 200);
    const mqttDevice = await ctx.device(ALPHA.token);
    await d.untilClosed();
    await mqttDevice.subscribeAsync("downlink/#");
    await ctx.handles.get(ALPHA.id).send({ kind: "ds", datastream: "Power", text: "3" });
    assert.equal((await mqttDevice.box.next("downlink/ds/Power")).payload, "3");
    assert.equal(ctx.state(ALPHA.id).online, true);
    assert.ok(ctx.warnings.some((w) => /replaced client id "blynk:/.test(w)));
  });

  describe("the engine's extra protocol listener", function () {
    it("closes connections with a no-server event while no Blynk device is hosted, and serves them once one is", async function () {
      ctx = await binaryBroker({ devices: [] });
      const early = await ctx.raw();
      await early.untilClosed();
      assert.ok(closedEvent(ctx, "no-server"));
      ctx.host(ALPHA);
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 200);
    });

    it("unhosting the device closes its binary connection; closing the engine closes the rest", async function () {
      ctx = await binaryBroker({ devices: [ALPHA, BETA] });
      const a = await ctx.raw();
      const b = await ctx.raw();
      assert.equal(await a.login(ALPHA.token), 200);
      assert.equal(await b.login(BETA.token), 200);
      assert.equal(ctx.engine.clients().length, 2);
      ctx.unhost.get(ALPHA.id)();
      await a.untilClosed();
      assert.equal(b.closed, false);
      assert.deepEqual(ctx.engine.clients().map((c) => c.identity.deviceId), [BETA.id]);
      await ctx.engine.close();
      await b.untilClosed();
      assert.equal(ctx.engine.connectedClients, 0);
    });

    it("reports online, offline and last seen to the device's listeners as over MQTT", async function () {
      ctx = await binaryBroker({ devices: [ALPHA] });
      const handle = ctx.handles.get(ALPHA.id);
      const online = waitFor(handle, "online", (s) => s.online);
      const d = await ctx.raw();
      assert.equal(await d.login(ALPHA.token), 200);
      const state = await online;
      assert.equal(state.protocolVersion, 0);
      assert.match(state.clientId, /^blynk:127\.0\.0\.1:\d+$/);
      const offline = waitFor(handle, "online", (s) => !s.online);
      d.end();
      assert.ok((await offline).lastSeen > 0);
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
