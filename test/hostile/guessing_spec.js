"use strict";
// Guessing credentials: failed-login throttling per source address on the MQTT broker (engine and
// iot-broker node) and on the three HTTP device APIs Node-RED serves. "Another source" is a client
// bound to 127.0.0.2; no forwarded-for header is involved.
const assert = require("node:assert/strict");
const http = require("node:http");
const { EventEmitter, once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const brokerNode = require("../../dist/nodes/iot-broker.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { AuthThrottle, sourceOf } = require("../../dist/nodes/lib/transport/auth-throttle.js");
const { httpAuthThrottle } = require("../../dist/nodes/lib/transport/http-auth.js");
const { LoginLog } = require("../../dist/nodes/lib/broker/login-log.js");
const { blynkHttpApi } = require("../../dist/nodes/lib/blynk/http-api.js");
const { thingsBoardHttpApi } = require("../../dist/nodes/lib/thingsboard/http-api.js");
const { thingSpeakRestApi } = require("../../dist/nodes/lib/thingspeak/rest-api.js");
const { startEngine, connect, connectRefused } = require("../lib/fixtures/engine.js");
const { connectFrom, requestFrom } = require("../lib/fixtures/sources.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const blynk = require("../lib/blynk/fixtures.js");
const tb = require("../lib/thingsboard/fixtures.js");
const ts = require("../lib/thingspeak/fixtures.js");

helper.init(nodeRedPath);

const ALICE = { username: "alice", password: "alice-password-1", publish: ["#"], subscribe: ["#"] };
const OTHER_SOURCE = "127.0.0.2";

describe("hostile: guessing credentials", function () {
  this.timeout(20000);

  describe("MQTT broker engine", function () {
    let ctx;
    const clients = [];
    afterEach(async function () {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
      await ctx?.engine.close();
    });

    it("after N wrong passwords refuses the address unchecked (even the right password), while another address gets in", async function () {
      ctx = await startEngine({ users: [ALICE], authThrottle: { maxFailures: 3 } });
      const refused = () => ctx.events.filter((e) => e.event === "auth-refused");
      for (let i = 0; i < 3; i++) {
        const err = await connectRefused(ctx.url, { username: "alice", password: `guess-${i}`, clientId: `g${i}` });
        assert.equal(err.code, 4, "checked and refused: bad user name or password");
      }
      const throttled = ctx.events.filter((e) => e.event === "auth-throttled");
      assert.equal(throttled.length, 1);
      assert.equal(throttled[0].remoteAddress, "127.0.0.1");
      assert.equal(throttled[0].failures, 3);
      assert.ok(throttled[0].lockedForMs > 0);
      assert.equal(refused().length, 3);

      // Locked out: refused as "not authorized" without a check, the right password included; no more events.
      for (let i = 0; i < 20; i++) {
        const err = await connectRefused(ctx.url, { username: "alice", password: i === 7 ? ALICE.password : `more-${i}`, clientId: `m${i}` });
        assert.equal(err.code, 5);
      }
      assert.equal(refused().length, 3, "no credential was checked while locked out");
      assert.equal(ctx.events.filter((e) => e.event === "auth-throttled").length, 1);

      // Another source is not affected, and its success does not unlock the first one.
      clients.push(await connectFrom(OTHER_SOURCE, ctx.url, { username: "alice", password: ALICE.password, clientId: "from-2" }));
      assert.equal((await connectRefused(ctx.url, { username: "alice", password: ALICE.password, clientId: "again" })).code, 5);
      assert.doesNotMatch(JSON.stringify(ctx.events), /guess-|more-|alice-password-1/);
    });

    it("a successful login resets the count of its address", async function () {
      ctx = await startEngine({ users: [ALICE], authThrottle: { maxFailures: 3 } });
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 2; i++) await connectRefused(ctx.url, { username: "alice", password: "wrong", clientId: `w${round}${i}` });
        const ok = await connect(ctx.url, { username: "alice", password: ALICE.password, clientId: `ok${round}` });
        await ok.endAsync();
      }
      assert.equal(ctx.events.filter((e) => e.event === "auth-throttled").length, 0);
    });

    it("on loopback counts failures per username: one local client's wrong password locks out neither another username nor, once forgotten, itself", async function () {
      const BOB = { username: "bob", password: "bob-password-1", publish: ["#"], subscribe: ["#"] };
      ctx = await startEngine({ users: [ALICE, BOB], authThrottle: { maxFailures: 3 } });
      for (let i = 0; i < 10; i++) await connectRefused(ctx.url, { username: "alice", password: `guess-${i}`, clientId: `g${i}` });
      assert.equal(ctx.events.filter((e) => e.event === "auth-throttled").length, 1);
      clients.push(await connectFrom("127.0.0.1", ctx.url, { username: "bob", password: BOB.password, clientId: "bob" }));
      assert.equal((await connectRefused(ctx.url, { username: "alice", password: ALICE.password, clientId: "locked" })).code, 5, "the same username stays locked");
      ctx.engine.forgetFailedLogins();
      clients.push(await connect(ctx.url, { username: "alice", password: ALICE.password, clientId: "forgiven" }));
    });

    it("throttling off (authThrottle: false) never locks out", async function () {
      ctx = await startEngine({ users: [ALICE], authThrottle: false });
      for (let i = 0; i < 15; i++) assert.equal((await connectRefused(ctx.url, { username: "alice", password: "x", clientId: `x${i}` })).code, 4);
      clients.push(await connect(ctx.url, { username: "alice", password: ALICE.password, clientId: "in" }));
    });
  });

  describe("iot-broker node", function () {
    // Every log entry, also those written while the flow stops (the helper's own spy ends first).
    const logged = [];
    const recorder = new EventEmitter().on("log", (entry) => logged.push(entry));
    beforeEach(function (done) {
      logged.length = 0;
      helper.startServer(done);
    });
    afterEach(async function () {
      helper._log.removeHandler(recorder);
      await helper.unload();
      await new Promise((resolve) => helper.stopServer(resolve));
    });

    it("logs one line for the first refusal and one summary per address, not one line per guess", async function () {
      const port = await freePort();
      const flow = [
        { id: "f1", type: "tab", label: "guessing" },
        { id: "b1", type: "iot-broker", z: "f1", port, bind: "127.0.0.1", maxAuthFailures: "4", wires: [["out"]] },
        { id: "out", type: "helper", z: "f1", wires: [] },
      ];
      await helper.load(brokerNode, flow, { b1: { users: JSON.stringify([ALICE]) } });
      helper._log.addHandler(recorder); // after load: starting the runtime resets the log handlers
      const events = [];
      helper.getNode("out").on("input", (msg) => events.push(msg.payload));
      const url = `mqtt://127.0.0.1:${port}`;
      await until(async () => {
        try {
          await connectRefused(url, { username: "alice", password: "guess-0", clientId: "probe" });
          return true;
        } catch {
          return false;
        }
      }, 5000, "the broker to listen");
      for (let i = 1; i < 12; i++) await connectRefused(url, { username: "alice", password: `guess-${i}`, clientId: `g${i}` });
      await until(() => events.some((e) => e.event === "auth-throttled"), 5000, "the auth-throttled event");
      assert.equal(events.filter((e) => e.event === "auth-refused").length, 4);

      const loginLines = () => logged.filter((entry) => /auth-(refused|locked|summary|others)/.test(String(entry.msg)));
      assert.equal(loginLines().length, 1, "only the first refusal is logged while it happens");
      await helper.unload(); // stopping flushes the summary
      const lines = loginLines();
      assert.equal(lines.length, 2, JSON.stringify(lines));
      assert.equal(lines[1].level, helper._log.WARN, "a lockout is a warning");
      assert.match(String(lines[1].msg), /auth-locked/);
      assert.doesNotMatch(JSON.stringify(logged), /guess-|alice-password-1/);
    });

    /** Loads one broker node (3 failures lock out) and waits until it listens. */
    async function loadBroker(extraUsers = []) {
      const port = await freePort();
      const flow = [
        { id: "f1", type: "tab", label: "guessing" },
        { id: "b1", type: "iot-broker", z: "f1", port, bind: "127.0.0.1", maxAuthFailures: "3", wires: [["out"]] },
        { id: "out", type: "helper", z: "f1", wires: [] },
      ];
      const credentials = { b1: { users: JSON.stringify([ALICE, ...extraUsers]) } };
      await helper.load(brokerNode, flow, credentials);
      helper._log.addHandler(recorder);
      const events = [];
      helper.getNode("out").on("input", (msg) => events.push(msg.payload));
      const url = `mqtt://127.0.0.1:${port}`;
      await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");
      return { flow, credentials, events, url };
    }

    it("lets a locked-out local user in again after a deploy that keeps the broker as it was", async function () {
      const { flow, credentials, url } = await loadBroker();
      for (let i = 0; i < 3; i++) await connectRefused(url, { username: "alice", password: `guess-${i}`, clientId: `g${i}` });
      assert.equal((await connectRefused(url, { username: "alice", password: ALICE.password, clientId: "locked" })).code, 5);
      const engine = brokers.engine("b1");
      const started = new Promise((resolve) => helper._events.once("flows:started", resolve));
      await helper._redNodes.setFlows(flow, credentials, "full");
      await started;
      assert.equal(brokers.engine("b1"), engine, "the engine was kept");
      const alice = await connect(url, { username: "alice", password: ALICE.password, clientId: "after-deploy" });
      await alice.endAsync();
    });

    it("never names an unclaimed username (it may be a device's access token) in an event or a log line", async function () {
      const token = "UnhostedTbAccessToken0123";
      const { events, url } = await loadBroker();
      for (let i = 0; i < 4; i++) await connectRefused(url, { username: token, clientId: `tb-${i}` });
      await until(() => events.some((e) => e.event === "auth-throttled"), 5000, "the auth-throttled event");
      assert.ok(events.some((e) => e.event === "auth-refused"));
      await helper.unload(); // stopping flushes the summary
      const lines = logged.filter((entry) => /auth-(refused|locked|summary|others)/.test(String(entry.msg)));
      assert.doesNotMatch(JSON.stringify(events), new RegExp(token));
      assert.doesNotMatch(JSON.stringify(logged), new RegExp(token));
      assert.match(String(lines[0]?.msg), /auth-refused-unnamed/, "logged without a user");
    });
  });

  describe("HTTP device APIs", function () {
    const servers = [];
    let cleanup;
    afterEach(async function () {
      for (const server of servers.splice(0)) {
        server.closeAllConnections();
        server.close();
      }
      await cleanup?.();
      cleanup = undefined;
    });

    /** The handler on a plain HTTP server on 127.0.0.1 (as Node-RED mounts it), with a 3-failure throttle. */
    async function serve(makeHandler) {
      const handler = makeHandler({ authThrottle: new AuthThrottle({ maxFailures: 3 }) });
      const server = http.createServer((req, res) =>
        handler(req, res, () => {
          res.statusCode = 404;
          res.end("next");
        }),
      );
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      servers.push(server);
      return `http://127.0.0.1:${server.address().port}`;
    }

    /** N wrong credentials get the API's own refusal, then 429 with Retry-After; the right one from another address works. */
    async function guess({ origin, wrong, right, refusedStatus, okStatus = 200 }) {
      for (let i = 0; i < 3; i++) assert.equal((await requestFrom("127.0.0.1", origin + wrong(i))).status, refusedStatus);
      for (let i = 3; i < 10; i++) {
        const res = await requestFrom("127.0.0.1", origin + wrong(i));
        assert.equal(res.status, 429);
        assert.match(res.headers["retry-after"], /^[1-9]\d*$/);
      }
      assert.equal((await requestFrom("127.0.0.1", origin + right)).status, 429, "the locked address is refused before any check");
      const other = await requestFrom(OTHER_SOURCE, origin + right);
      assert.equal(other.status, okStatus, other.body);
    }

    it("Blynk: 429 after N invalid tokens; a valid token from another address still works", async function () {
      const device = { id: "c1b2c3d4e5f60718", token: blynk.TOKENS.alpha, name: "Greenhouse" };
      const ctx = await blynk.hostedBroker({ devices: [device] });
      cleanup = ctx.cleanup;
      const origin = await serve(blynkHttpApi);
      await guess({
        origin,
        wrong: (i) => `/external/api/isHardwareConnected?token=WrongTok_${i}_0123456789abcdefghij`,
        right: `/external/api/isHardwareConnected?token=${device.token}`,
        refusedStatus: 400,
      });
    });

    it("ThingsBoard: 429 after N unknown access tokens; a valid token from another address still works", async function () {
      const device = { id: "tb-guess-1", token: tb.TOKENS.alpha, name: "Boiler" };
      const ctx = await tb.hostedBroker({ devices: [device] });
      cleanup = ctx.cleanup;
      const origin = await serve(thingsBoardHttpApi);
      await guess({
        origin,
        wrong: (i) => `/api/v1/WrongToken${i}/attributes`,
        right: `/api/v1/${device.token}/attributes`,
        refusedStatus: 401,
      });
    });

    it("one throttle per Node-RED HTTP app, shared by the three APIs mounted on it", function () {
      const app = {};
      assert.equal(httpAuthThrottle(app), httpAuthThrottle(app));
      assert.notEqual(httpAuthThrottle(app), httpAuthThrottle({}));
    });

    it("ThingSpeak: 429 after N wrong write keys; the right key from another address still works", async function () {
      const ctx = await ts.hostedBroker({ channels: [ts.WEATHER] });
      cleanup = ctx.cleanup;
      const origin = await serve(thingSpeakRestApi);
      await guess({
        origin,
        wrong: (i) => `/update?api_key=WRONGKEY000${i}&field1=1`,
        right: `/update?api_key=${ts.WEATHER.writeKey}&field1=1`,
        refusedStatus: 401,
      });
      const locked = await requestFrom("127.0.0.1", `${origin}/update.json?api_key=WRONGKEY0009&field1=1`);
      assert.equal(JSON.parse(locked.body).error.error_code, "error_too_many_requests");
    });
  });

  describe("AuthThrottle (injected clock)", function () {
    it("locks out after N failures in the window, doubles each lockout up to the cap, forgets after a success", function () {
      let t = 0;
      const throttle = new AuthThrottle({ maxFailures: 3, windowMs: 1000, lockoutMs: 100, maxLockoutMs: 250, now: () => t });
      assert.equal(throttle.failed("10.0.0.1").lockedMs, 0);
      t = 1500; // the window passed: counting starts over
      assert.deepEqual([1, 2, 3].map(() => throttle.failed("10.0.0.1").lockedMs), [0, 0, 100]);
      assert.equal(throttle.retryAfterMs("10.0.0.1"), 100);
      assert.equal(throttle.retryAfterMs("10.0.0.2"), 0);
      t += 100;
      assert.equal(throttle.retryAfterMs("10.0.0.1"), 0);
      assert.deepEqual([1, 2, 3].map(() => throttle.failed("10.0.0.1").lockedMs), [0, 0, 200]);
      t += 200;
      assert.deepEqual([1, 2, 3].map(() => throttle.failed("10.0.0.1").lockedMs), [0, 0, 250], "capped");
      throttle.succeeded("10.0.0.1");
      assert.equal(throttle.retryAfterMs("10.0.0.1"), 0);
      assert.equal(throttle.size, 0);
    });

    it("stays bounded under a spray from many addresses, and counts an IPv6 /64 as one source", function () {
      const throttle = new AuthThrottle({ maxFailures: 3, maxSources: 100 });
      for (let i = 0; i < 5000; i++) throttle.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      assert.equal(throttle.size, 100);
      assert.equal(sourceOf("::ffff:192.0.2.7"), "192.0.2.7");
      assert.equal(sourceOf("2001:db8:1:2:aaaa::1"), sourceOf("2001:db8:1:2:bbbb:cccc:dddd:eeee"));
      assert.notEqual(sourceOf("2001:db8:1:2::1"), sourceOf("2001:db8:1:3::1"));
      for (let i = 0; i < 3; i++) throttle.failed(`2001:db8:1:2::${i + 1}`);
      assert.ok(throttle.retryAfterMs("2001:db8:1:2::ffff") > 0);
    });
  });

  describe("LoginLog", function () {
    it("logs the first refusal per address at once, then one summary per address per flush, bounded", function () {
      const lines = [];
      const log = new LoginLog((line) => lines.push(line), { maxSources: 2 });
      const refused = (address, n) => ({ event: "auth-refused", clientId: `c${n}`, remoteAddress: address, returnCode: 4, reason: `reason ${n}` });
      for (let i = 0; i < 50; i++) log.note(refused("10.0.0.1", i));
      log.note({ event: "auth-throttled", remoteAddress: "10.0.0.1", source: "10.0.0.1", failures: 10, lockedForMs: 60000, reason: "reason 9" });
      log.note(refused("10.0.0.2", 0));
      for (let i = 0; i < 7; i++) log.note(refused(`10.0.1.${i}`, i));
      assert.deepEqual(lines.map((l) => l.kind), ["refused", "refused"]);
      log.flush();
      assert.deepEqual(lines.slice(2), [
        { kind: "summary", address: "10.0.0.1", count: 49, reason: "reason 49", lockedForMs: 60000 },
        { kind: "others", count: 7 },
      ]);
      log.flush();
      assert.equal(lines.length, 4, "quiet sources write nothing");
    });
  });
});
