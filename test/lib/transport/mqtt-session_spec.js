"use strict";
// MqttSession against real brokers (aedes) over loopback, with real MQTT.js clients as devices.
// No sleeps and no timing assertions: every step waits for the event it expects.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const net = require("node:net");
const path = require("node:path");
const tls = require("node:tls");
const { once } = require("node:events");
const mqtt = require("mqtt");
const { WebSocketServer, createWebSocketStream } = require("ws");
const { MqttSession } = require("../../../dist/nodes/lib/transport/mqtt-session.js");
const { Backoff } = require("../../../dist/nodes/lib/transport/backoff.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");
const { startTcpProxy } = require("../fixtures/tcp-proxy.js");
const { waitFor, until, untilStatus } = require("../../support/wait.js");

const CERTS = path.join(__dirname, "..", "fixtures", "certs");
const CA = fs.readFileSync(path.join(CERTS, "ca.crt"));
const CERT = fs.readFileSync(path.join(CERTS, "server.crt"));
const KEY = fs.readFileSync(path.join(CERTS, "server.key"));
const FAST = { initialMs: 10, maxMs: 50 };
const VERSIONS = [
  [4, "MQTT 3.1.1"],
  [5, "MQTT 5"],
];

const is = (state) => (status) => status.state === state;
const refuseLogin = (_client, _username, _password, done) => {
  const err = new Error("refused by the test");
  err.returnCode = 4;
  done(err, false);
};

/** Resolves once aedes has stored a subscription to `filter` (the SUBSCRIBE really arrived). */
function brokerSubscribed(aedes, filter) {
  return waitFor(aedes, "subscribe", (subs) => subs.some((s) => s.topic === filter));
}

function activeTimeouts() {
  return process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
}

describe("MqttSession", function () {
  const cleanups = [];
  /** Registers an undo step; they run after each test, last registered first. */
  const later = (fn) => cleanups.push(fn);
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function broker(options) {
    const b = await startBareBroker(options);
    later(() => b.close());
    return b;
  }
  function session(options) {
    const s = new MqttSession({ reconnect: FAST, ...options });
    later(() => s.close());
    return s;
  }
  async function device(url, options = {}) {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
    later(() => client.endAsync(true));
    return client;
  }
  async function proxyTo(port) {
    const proxy = await startTcpProxy(port);
    later(() => proxy.close());
    return proxy;
  }
  /** Listens on an ephemeral loopback port and undoes it after the test, live sockets included. */
  async function serve(server) {
    const sockets = new Set();
    server.on("connection", (s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    later(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    });
    return server.address().port;
  }
  async function closedPort() {
    const server = net.createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address();
    await new Promise((resolve) => server.close(() => resolve()));
    return port;
  }
  /** Subscribes the session to `topic`, publishes to it and waits for the echo. */
  async function echo(s, topic) {
    const got = [];
    const sub = await s.subscribe(topic, (m) => got.push(m.payload.toString()));
    await s.publish(topic, "echo", { qos: 1 });
    await until(() => got.length === 1, 5000, `the echo on ${topic}`);
    await sub.unsubscribe();
    assert.deepEqual(got, ["echo"]);
  }

  describe("connecting", function () {
    for (const [protocolVersion, name] of VERSIONS) {
      it(`round-trips messages on ${name} with an empty client id`, async function () {
        const b = await broker();
        const ids = [];
        b.aedes.on("client", (c) => ids.push(c.id));
        const s = session({ url: b.url, clientId: "", protocolVersion });
        s.start();
        await untilStatus(s, is("connected"));
        assert.equal(ids.length, 1);
        assert.ok(ids[0].length > 0, "the broker assigned a client id");

        const inbound = [];
        await s.subscribe("lab/in/#", (m) => inbound.push(m), { qos: 1 });
        const dev = await device(b.url, { protocolVersion });
        await dev.subscribeAsync("lab/out/#", { qos: 2 });
        const outbound = [];
        dev.on("message", (topic, payload) => outbound.push(`${topic}=${payload}`));
        await s.publish("lab/out/0", "zero");
        await s.publish("lab/out/1", Buffer.from("one"), { qos: 1 });
        await s.publish("lab/out/2", "two", { qos: 2 });
        await until(() => outbound.length === 3);
        assert.deepEqual(outbound, ["lab/out/0=zero", "lab/out/1=one", "lab/out/2=two"]);

        const seen = waitFor(s, "message", (m) => m.topic === "lab/in/x");
        await dev.publishAsync("lab/in/x", "hi", { qos: 1 });
        await seen;
        assert.equal(inbound.length, 1);
        assert.ok(Buffer.isBuffer(inbound[0].payload));
        assert.equal(inbound[0].payload.toString(), "hi");
        assert.equal(inbound[0].qos, 1);
        assert.equal(inbound[0].retain, false);
      });
    }

    it("accepts tcp:// as mqtt:// and exposes the url without credentials", async function () {
      const b = await broker();
      const s = session({ url: `tcp://user:secret-in-url@127.0.0.1:${b.port}` });
      assert.equal(s.url, `mqtt://127.0.0.1:${b.port}`);
      assert.deepEqual(s.status, { state: "disconnected", reason: "not started", queued: 0 });
      s.start();
      await untilStatus(s, is("connected"));
    });

    it("rejects unusable options in the constructor", function () {
      assert.throws(() => new MqttSession({ url: "http://127.0.0.1:80" }), { code: "invalid", message: /mqtt:\/\/host:port/ });
      assert.throws(() => new MqttSession({ url: "not a url" }), { code: "invalid" });
      assert.throws(() => new MqttSession({ url: "mqtt://h", clean: false }), { code: "invalid", message: /client id/ });
      assert.throws(() => new MqttSession({ url: "mqtt://h", protocolVersion: 3 }), { code: "invalid" });
    });
  });

  describe("TLS and WebSocket", function () {
    async function tlsBroker() {
      const b = await broker();
      const port = await serve(tls.createServer({ key: KEY, cert: CERT }, (socket) => b.aedes.handle(socket)));
      return `mqtts://127.0.0.1:${port}`;
    }
    async function wsBroker(secure) {
      const b = await broker();
      const server = secure ? https.createServer({ key: KEY, cert: CERT }) : http.createServer();
      const wss = new WebSocketServer({ server });
      wss.on("connection", (ws) => b.aedes.handle(createWebSocketStream(ws)));
      const port = await serve(server);
      later(() => new Promise((resolve) => wss.close(() => resolve())));
      return `${secure ? "wss" : "ws"}://127.0.0.1:${port}/mqtt`;
    }

    it("mqtts: verifies the server against the given CA", async function () {
      const s = session({ url: await tlsBroker(), tls: { ca: CA } });
      s.start();
      await untilStatus(s, is("connected"));
      await echo(s, "tls/echo");
    });

    it("mqtts: refuses an untrusted certificate and says so", async function () {
      const s = session({ url: await tlsBroker() });
      const states = [];
      s.on("status", (st) => states.push(st.state));
      s.start();
      const st = await untilStatus(s, is("disconnected"));
      assert.match(st.reason, /certificate/i);
      assert.ok(st.retryInMs > 0);
      assert.ok(!states.includes("connected"));
    });

    it("mqtts: connects unverified when rejectUnauthorized is false", async function () {
      const s = session({ url: await tlsBroker(), tls: { rejectUnauthorized: false } });
      s.start();
      await untilStatus(s, is("connected"));
    });

    it("mqtts: passes servername on for verification", async function () {
      const url = await tlsBroker();
      const good = session({ url, tls: { ca: CA, servername: "localhost" } });
      const bad = session({ url, tls: { ca: CA, servername: "wrong.example" } });
      good.start();
      bad.start();
      await untilStatus(good, is("connected"));
      const st = await untilStatus(bad, is("disconnected"));
      assert.match(st.reason, /certificate/i);
    });

    it("ws: connects to aedes served over the ws package", async function () {
      const s = session({ url: await wsBroker(false) });
      s.start();
      await untilStatus(s, is("connected"));
      await echo(s, "ws/echo");
    });

    it("wss: uses the TLS options (CA on, and refused without it)", async function () {
      const url = await wsBroker(true);
      const good = session({ url, tls: { ca: CA } });
      const bad = session({ url });
      good.start();
      bad.start();
      await untilStatus(good, is("connected"));
      await echo(good, "wss/echo");
      const st = await untilStatus(bad, is("disconnected"));
      assert.match(st.reason, /certificate/i);
    });
  });

  describe("refusals and secrets", function () {
    for (const [protocolVersion, name] of VERSIONS) {
      it(`${name}: a credential refusal is "auth-failed", retried on the auth backoff only`, async function () {
        const log = [];
        const b = await broker({
          authenticate: (client, username, password, done) => {
            log.push("CONNECT");
            refuseLogin(client, username, password, done);
          },
        });
        const authBackoff = { initialMs: 40, maxMs: 1000, factor: 2, jitter: 0.5 };
        const random = () => 0.5;
        const s = session({ url: b.url, username: "user", password: "pw-1234", protocolVersion, authBackoff, random });
        s.on("status", (st) => log.push(st));
        s.start();
        await waitFor(s, "status", () => log.filter((e) => e.state === "auth-failed").length === 2);

        // Every CONNECT is preceded by a scheduled retry: no second attempt before the backoff ran out.
        const names = log.map((e) => (typeof e === "string" ? e : e.state));
        assert.deepEqual(names, ["connecting", "CONNECT", "auth-failed", "connecting", "CONNECT", "auth-failed"]);
        const failed = log.filter((e) => e.state === "auth-failed");
        const expected = new Backoff({ ...authBackoff, random });
        assert.deepEqual(failed.map((f) => f.retryInMs), [expected.next(), expected.next()]);
        assert.notEqual(failed[0].retryInMs, new Backoff({ ...FAST, random }).next());
        assert.equal(failed[0].reason, "the server refused the credentials (bad user name or password)");
        assert.equal(failed[0].refusal, protocolVersion === 5 ? 0x86 : 4, "the CONNACK code travels with the status");
        assert.equal(log.filter((e) => e.state === "connecting")[1].refusal, undefined, "a new attempt is about no refusal");
      });
    }

    it("never shows the password in a status, warning or the url", async function () {
      const password = "pa55-w0rd/that must stay hidden";
      const seen = [];
      const b = await broker({
        authenticate: (client, username, pass, done) => {
          seen.push(`${username}:${pass}`);
          refuseLogin(client, username, pass, done);
        },
      });
      const texts = [];
      const s = session({ url: `mqtt://thing:${encodeURIComponent(password)}@127.0.0.1:${b.port}`, authBackoff: FAST });
      s.on("status", (st) => texts.push(JSON.stringify(st)));
      s.on("warning", (w) => texts.push(w));
      s.start();
      await untilStatus(s, is("auth-failed"));
      assert.deepEqual(seen, [`thing:${password}`], "the credentials from the URL were sent");
      s.redirect(`mqtt://thing:${encodeURIComponent(password)}@127.0.0.1:${await closedPort()}`);
      const st = await untilStatus(s, is("disconnected"));
      assert.match(st.reason, /connection refused/);
      texts.push(s.url);
      assert.ok(texts.length >= 5);
      for (const text of texts) {
        assert.ok(!text.includes(password) && !text.includes(encodeURIComponent(password)), text);
      }
    });

    for (const [protocolVersion, name] of VERSIONS) {
      it(`${name}: a refused subscription rejects in words and is not kept`, async function () {
        const b = await broker({
          authorizeSubscribe: (_client, sub, done) => done(null, sub.topic.startsWith("deny/") ? null : sub),
        });
        const s = session({ url: b.url, protocolVersion });
        s.start();
        await untilStatus(s, is("connected"));
        await assert.rejects(s.subscribe("deny/#", () => {}), (err) => {
          assert.ok(err instanceof TransportError);
          assert.match(err.message, /the server refused the subscription to "deny\/#"/);
          assert.equal(err.status, protocolVersion === 5 ? 0x87 : 0x80);
          return true;
        });
        await echo(s, "allowed/echo");
      });
    }
  });

  describe("staying connected", function () {
    it("reconnects after the network drops and restores subscriptions", async function () {
      const b = await broker();
      const proxy = await proxyTo(b.port);
      const s = session({ url: proxy.url });
      const got = [];
      await s.subscribe("cmd/#", (m) => got.push(m.payload.toString()));
      let restored = brokerSubscribed(b.aedes, "cmd/#");
      s.start();
      await restored;
      await untilStatus(s, is("connected"));

      restored = brokerSubscribed(b.aedes, "cmd/#");
      const lost = waitFor(s, "status", is("disconnected"));
      proxy.dropAll();
      const st = await lost;
      assert.match(st.reason, /^connection lost/);
      assert.ok(st.retryInMs > 0);
      await restored;
      await untilStatus(s, is("connected"));
      assert.equal(proxy.accepted, 2);

      const dev = await device(b.url);
      await dev.publishAsync("cmd/1", "after", { qos: 1 });
      await until(() => got.includes("after"));
    });

    it("keeps backing off when connections do not hold (two clients kicking each other off)", async function () {
      const b = await broker();
      const proxy = await proxyTo(b.port);
      const s = session({ url: proxy.url, reconnect: { initialMs: 10, maxMs: 1000, jitter: 0 }, stableAfterMs: 3600000 });
      s.start();
      const delays = [];
      for (let i = 0; i < 3; i++) {
        await untilStatus(s, is("connected"));
        const lost = waitFor(s, "status", is("disconnected"));
        proxy.dropAll();
        delays.push((await lost).retryInMs);
      }
      assert.deepEqual(delays, [10, 20, 40]);
    });

    it("says once that it keeps being kicked off, and counts only connections that did not hold", async function () {
      const b = await broker();
      const proxy = await proxyTo(b.port);
      const s = session({ url: proxy.url, reconnect: FAST, stableAfterMs: 3600000 });
      const kicked = [];
      s.on("kicked", (n) => kicked.push(n));
      s.start();
      for (let i = 0; i < 5; i++) {
        await untilStatus(s, is("connected"));
        const lost = waitFor(s, "status", is("disconnected"));
        proxy.dropAll();
        await lost;
        assert.deepEqual(kicked, i < 2 ? [] : [3], `after ${i + 1} drops`);
      }
      // Attempts that never got in (the server is away) are not takeovers.
      const quiet = session({ url: proxy.url, reconnect: FAST, stableAfterMs: 3600000 });
      quiet.on("kicked", (n) => kicked.push(n));
      proxy.pause();
      quiet.start();
      for (let i = 0; i < 4; i++) await waitFor(quiet, "status", is("disconnected"));
      assert.deepEqual(kicked, [3]);
      proxy.resume();
    });

    it("queues publishes while offline and sends them in order before newer ones", async function () {
      const b = await broker();
      const proxy = await proxyTo(b.port);
      const dev = await device(b.url);
      await dev.subscribeAsync("out/#", { qos: 2 });
      const received = [];
      dev.on("message", (_t, payload) => received.push(payload.toString()));
      const s = session({ url: proxy.url });
      s.start();
      await untilStatus(s, is("connected"));

      proxy.pause();
      proxy.dropAll();
      await untilStatus(s, is("disconnected"));
      const counted = waitFor(s, "status", (st) => st.queued === 3);
      // MQTT orders messages per QoS level only (a broker may overtake QoS 1 with QoS 0), so one level.
      await s.publish("out/1", "m1", { qos: 1 });
      await s.publish("out/2", "m2", { qos: 1 });
      await s.publish("out/3", "m3", { qos: 1 });
      assert.equal(s.status.queued, 3);
      await counted;

      let newer;
      s.once("connected", () => {
        newer = s.publish("out/4", "m4", { qos: 1 });
      });
      const flushed = waitFor(s, "status", (st) => st.state === "connected" && st.queued === 0);
      proxy.resume();
      await flushed;
      await newer;
      await until(() => received.length === 4);
      assert.deepEqual(received, ["m1", "m2", "m3", "m4"]);
    });

    it("drops the oldest queued message with a warning when the outbox is full", async function () {
      const b = await broker();
      const proxy = await proxyTo(b.port);
      const dev = await device(b.url);
      await dev.subscribeAsync("out/#", { qos: 1 });
      const received = [];
      dev.on("message", (_t, payload) => received.push(payload.toString()));
      const s = session({ url: proxy.url, outboxLimit: 2 });
      const warnings = [];
      s.on("warning", (w) => warnings.push(w));
      proxy.pause();
      s.start();
      await untilStatus(s, is("disconnected"));
      for (const n of [1, 2, 3, 4]) await s.publish(`out/${n}`, `m${n}`, { qos: 1 });
      assert.equal(s.status.queued, 2);
      assert.equal(warnings.length, 1, "one warning for the first drop, not one per message");
      assert.match(warnings[0], /outbox is full \(2 messages\): dropped the oldest message, to "out\/1"; 1 dropped/);

      proxy.resume();
      await until(() => received.length === 2);
      assert.deepEqual(received, ["m3", "m4"]);
      assert.equal(warnings.length, 2);
      assert.match(warnings[1], /^2 message\(s\) were dropped/);
    });

    it("resends a QoS 1 message left unacknowledged by a dropped connection", async function () {
      let held = 0;
      const b = await broker({
        authorizePublish: (_client, packet, done) => {
          if (packet.topic === "slow/1" && held++ === 0) return; // never answer the first copy
          done(null);
        },
      });
      const proxy = await proxyTo(b.port);
      const dev = await device(b.url);
      await dev.subscribeAsync("slow/#", { qos: 1 });
      const received = [];
      dev.on("message", (_t, payload) => received.push(payload.toString()));
      const s = session({ url: proxy.url });
      s.start();
      await untilStatus(s, is("connected"));

      let settled = false;
      const publishing = s.publish("slow/1", "once more", { qos: 1 }).finally(() => (settled = true));
      await until(() => held === 1);
      const requeued = waitFor(s, "status", (st) => st.state === "disconnected" && st.queued === 1);
      proxy.dropAll();
      await requeued;
      assert.equal(settled, false, "still waiting for the acknowledgement");
      await publishing;
      await until(() => received.length === 1);
      assert.deepEqual(received, ["once more"]);
    });

    it("MQTT 5: says why the server disconnected it (session taken over)", async function () {
      const b = await broker();
      const s = session({ url: b.url, clientId: "same-token", protocolVersion: 5, reconnect: { initialMs: 60_000 } });
      s.start();
      await untilStatus(s, is("connected"));
      const lost = waitFor(s, "status", is("disconnected"));
      await device(b.url, { clientId: "same-token", protocolVersion: 5 });
      const st = await lost;
      assert.match(st.reason, /^connection lost: 127\.0\.0\.1:\d+ disconnected us: session taken over/);
    });

    it("gives up an attempt the server never answers after connectTimeoutMs", async function () {
      const port = await serve(net.createServer(() => {})); // accepts TCP, never speaks MQTT
      const s = session({ url: `mqtt://127.0.0.1:${port}`, connectTimeoutMs: 50, reconnect: { initialMs: 60_000 } });
      s.start();
      const st = await untilStatus(s, is("disconnected"));
      assert.match(st.reason, /^could not connect: 127\.0\.0\.1:\d+ did not answer the MQTT CONNECT in time/);
    });

    it("redirects to another server, keeping subscriptions", async function () {
      const first = await broker();
      const second = await broker();
      const s = session({ url: first.url });
      const got = [];
      await s.subscribe("dev/#", (m) => got.push(m.payload.toString()));
      const onFirst = brokerSubscribed(first.aedes, "dev/#");
      s.start();
      await onFirst;
      await untilStatus(s, is("connected"));

      const onSecond = brokerSubscribed(second.aedes, "dev/#");
      const leftFirst = waitFor(first.aedes, "clientDisconnect");
      s.redirect(second.url);
      assert.equal(s.url, second.url);
      await untilStatus(s, is("connected"));
      await onSecond;
      await leftFirst;

      const dev = await device(second.url);
      await dev.subscribeAsync("up/#", { qos: 1 });
      const up = waitFor(dev, "message", (topic) => topic === "up/1");
      await s.publish("up/1", "hello", { qos: 1 });
      await up;
      await dev.publishAsync("dev/1", "cmd", { qos: 1 });
      await until(() => got.includes("cmd"));
    });

    it("follows a redirect requested from inside a message handler (the Blynk way)", async function () {
      const first = await broker();
      const second = await broker();
      const s = session({ url: first.url });
      await s.subscribe("downlink/redirect", (m) => s.redirect(m.payload.toString()), { qos: 1 });
      const onFirst = brokerSubscribed(first.aedes, "downlink/redirect");
      s.start();
      await onFirst;
      await untilStatus(s, is("connected"));
      const onSecond = brokerSubscribed(second.aedes, "downlink/redirect");
      const dev = await device(first.url);
      await dev.publishAsync("downlink/redirect", second.url, { qos: 1 });
      await onSecond;
      await untilStatus(s, (st) => st.state === "connected" && s.url === second.url);
      await echo(s, "after/redirect");
    });

    it("leaves its will when the connection is lost, but not on close()", async function () {
      const authorized = [];
      const b = await broker({
        authorizePublish: (_client, packet, done) => {
          authorized.push(packet.topic);
          done(null);
        },
      });
      const proxy = await proxyTo(b.port);
      const dev = await device(b.url);
      await dev.subscribeAsync("will/#", { qos: 1 });
      const will = { topic: "will/w1", payload: "gone", qos: 1 };
      const s = session({ url: proxy.url, clientId: "w1", will });
      s.start();
      await untilStatus(s, is("connected"));

      const delivered = waitFor(dev, "message", (topic) => topic === "will/w1");
      const lost = waitFor(s, "status", is("disconnected"));
      proxy.dropAll();
      await delivered;
      await lost;
      await untilStatus(s, is("connected"));

      // aedes asks authorizePublish for a will before it emits clientDisconnect.
      authorized.length = 0;
      const gone = waitFor(b.aedes, "clientDisconnect", (client) => client.id === "w1");
      await s.close();
      await gone;
      assert.deepEqual(authorized, []);
    });

    it("redirects while offline, keeping the outbox", async function () {
      const target = await broker();
      const dev = await device(target.url);
      await dev.subscribeAsync("q/#", { qos: 1 });
      const received = [];
      dev.on("message", (_t, payload) => received.push(payload.toString()));
      const s = session({ url: `mqtt://127.0.0.1:${await closedPort()}` });
      s.start();
      await untilStatus(s, is("disconnected"));
      await s.publish("q/1", "kept", { qos: 1 });
      s.redirect(target.url);
      await untilStatus(s, is("connected"));
      await until(() => received.length === 1);
      assert.deepEqual(received, ["kept"]);
    });
  });

  describe("subscriptions and handlers", function () {
    it("shares one broker subscription between handlers of the same filter", async function () {
      const b = await broker();
      const subscribes = [];
      const unsubscribes = [];
      b.aedes.on("subscribe", (subs) => subscribes.push(...subs.map((x) => x.topic)));
      b.aedes.on("unsubscribe", (topics) => unsubscribes.push(...topics));
      const s = session({ url: b.url });
      s.start();
      await untilStatus(s, is("connected"));
      const a = [];
      const c = [];
      const subA = await s.subscribe("f/#", (m) => a.push(m.topic));
      const subC = await s.subscribe("f/#", (m) => c.push(m.topic));
      assert.deepEqual(subscribes, ["f/#"]);

      const dev = await device(b.url);
      await dev.publishAsync("f/1", "x", { qos: 1 });
      await until(() => a.length === 1 && c.length === 1);
      await subA.unsubscribe();
      assert.deepEqual(unsubscribes, []);
      await dev.publishAsync("f/2", "x", { qos: 1 });
      await until(() => c.length === 2);
      assert.deepEqual(a, ["f/1"]);
      await subC.unsubscribe();
      await subC.unsubscribe(); // idempotent
      await until(() => unsubscribes.length === 1);
      assert.deepEqual(unsubscribes, ["f/#"]);
    });

    it("survives throwing and rejecting handlers, reporting them as redacted warnings", async function () {
      const password = "handler-secret-pw";
      const b = await broker();
      const s = session({ url: b.url, username: "u", password });
      const warnings = [];
      s.on("warning", (w) => warnings.push(w));
      s.start();
      await untilStatus(s, is("connected"));
      const got = [];
      await s.subscribe("h/#", () => {
        throw new Error(`boom ${password}`);
      });
      await s.subscribe("h/#", async () => {
        throw new Error("async boom");
      });
      await s.subscribe("h/#", (m) => got.push(m.topic));
      await s.publish("h/1", "x", { qos: 1 });
      await until(() => got.length === 1 && warnings.length === 2);
      assert.match(warnings[0], /the handler for "h\/#" failed on a message to "h\/1": boom \*\*\*/);
      assert.ok(!warnings[0].includes(password));
      assert.match(warnings[1], /async boom/);
      await echo(s, "still/alive");
    });
  });

  describe("limits and validation", function () {
    it("rejects oversized payloads and invalid topics or filters before sending", async function () {
      const s = session({ url: "mqtt://127.0.0.1:1", maxPayloadBytes: 1024 });
      assert.equal(s.maxPayloadBytes, 1024);
      await assert.rejects(s.publish("v/1", "x".repeat(1025)), (err) => {
        assert.ok(err instanceof TransportError);
        assert.equal(err.code, "too-large");
        assert.match(err.message, /1025 bytes, over this link's limit of 1024 bytes/);
        return true;
      });
      await assert.rejects(s.publish("v/1", "é".repeat(600)), { code: "too-large", message: /1200 bytes/ });
      await assert.rejects(s.publish("v/+", "x"), { code: "invalid", message: /wildcards/ });
      await assert.rejects(s.publish("", "x"), { code: "invalid" });
      await assert.rejects(s.publish("v/1", 42), { code: "invalid", message: /string or a Buffer/ });
      await assert.rejects(s.publish("v/1", "x", { qos: 3 }), { code: "invalid", message: /qos/ });
      await assert.rejects(s.subscribe("a/#/b", () => {}), { code: "invalid", message: /#/ });
      await assert.rejects(s.subscribe("a/b+", () => {}), { code: "invalid", message: /\+/ });
      await assert.rejects(s.subscribe("a/b", "not a function"), { code: "invalid" });
      assert.equal(s.status.queued, 0);
      await s.publish("v/1", "x".repeat(1024)); // exactly at the limit: queued
      assert.equal(s.status.queued, 1);
    });
  });

  describe("closing", function () {
    it("close() during the backoff resolves and stops retrying", async function () {
      const url = `mqtt://127.0.0.1:${await closedPort()}`;
      const before = activeTimeouts();
      const s = session({ url, reconnect: { initialMs: 60_000, maxMs: 60_000 } });
      s.start();
      const st = await untilStatus(s, (x) => x.state === "disconnected" && x.retryInMs !== undefined);
      assert.match(st.reason, /^could not connect: connection refused by 127\.0\.0\.1:\d+/);
      assert.ok(activeTimeouts() > before, "a retry is scheduled");
      const states = [];
      s.on("status", (x) => states.push(x.state));
      await s.close();
      assert.deepEqual(states, ["closed"]);
      assert.deepEqual(s.status, { state: "closed", queued: 0 });
      assert.equal(activeTimeouts(), before, "no timer left behind");
      assert.throws(() => s.start(), { code: "closed" });
      await assert.rejects(s.publish("a", "b"), { code: "closed" });
      await s.close(); // idempotent
    });

    it("close() resolves while the server never answers, discarding the outbox with a warning", async function () {
      const silent = net.createServer(() => {}); // accepts TCP, never speaks MQTT
      const port = await serve(silent);
      const s = session({ url: `mqtt://127.0.0.1:${port}` });
      const warnings = [];
      s.on("warning", (w) => warnings.push(w));
      const accepted = once(silent, "connection");
      s.start();
      await accepted;
      assert.equal(s.status.state, "connecting");
      await s.publish("q/1", "x");
      await s.close();
      assert.equal(s.status.state, "closed");
      assert.deepEqual(warnings, ["1 queued message(s) were discarded because the link was closed"]);
    });

    it("close() rejects a publish still waiting for its acknowledgement", async function () {
      let asked = false;
      const b = await broker({
        authorizePublish: () => {
          asked = true; // and never answer
        },
      });
      const s = session({ url: b.url });
      s.start();
      await untilStatus(s, is("connected"));
      const rejected = assert.rejects(s.publish("p/1", "x", { qos: 1 }), {
        code: "closed",
        message: /closed before the message to "p\/1" was sent/,
      });
      await until(() => asked);
      await s.close();
      await rejected;
    });
  });
});
