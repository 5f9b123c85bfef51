"use strict";
// MqttSessionPool: one MQTT connection per connection identity, shared by every user, against a
// real aedes over loopback with an MQTT.js client on the other side. CONNECTs are counted at the
// broker; every step waits for the event it expects.
const assert = require("node:assert/strict");
const { MqttSessionPool } = require("../../../dist/nodes/lib/transport/mqtt-pool.js");
const { Redactor } = require("../../../dist/nodes/lib/transport/redact.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");
const { connect } = require("../fixtures/engine.js");
const { waitFor, until, untilStatus } = require("../../support/wait.js");

const FAST = { initialMs: 10, maxMs: 50 };
const LOGIN = { clientId: "device-1", username: "device-user", password: "device-password-1" };
const isConnected = (s) => s.state === "connected";

describe("MqttSessionPool (one connection per identity)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  /** A bare broker counting CONNECTs and an MQTT.js publisher. */
  async function broker() {
    const b = await startBareBroker({ preConnect: (_client, packet, done) => (b.connects.push(packet.clientId), done(null, true)) });
    b.connects = [];
    cleanups.push(() => b.close());
    const device = await connect(b.url, { clientId: "publisher" });
    cleanups.push(() => device.endAsync(true));
    b.device = device;
    return b;
  }

  function shareOf(pool, b, extra = {}) {
    const share = pool.acquire({ url: b.url, ...LOGIN, reconnect: FAST, ...extra });
    cleanups.push(() => share.close());
    return share;
  }

  it("shares one connection between users of one identity, each with its own subscriptions, until the last one leaves", async function () {
    const b = await broker();
    const pool = new MqttSessionPool();
    const a = shareOf(pool, b);
    const c = shareOf(pool, b);
    assert.equal(pool.size, 1);
    const got = { a: [], c: [] };
    a.start();
    await untilStatus(a, isConnected);
    await a.subscribe("ch/1/#", (m) => got.a.push(m.topic));
    // A user joining a running session hears at once that it is connected.
    const joined = waitFor(c, "connected");
    c.start();
    await joined;
    assert.equal(c.status.state, "connected");
    await c.subscribe("ch/2/#", (m) => got.c.push(m.topic));

    await b.device.publishAsync("ch/1/x", "1");
    await b.device.publishAsync("ch/2/x", "2");
    await until(() => got.a.length === 1 && got.c.length === 1, 5000, "one message for each user");
    assert.deepEqual(got, { a: ["ch/1/x"], c: ["ch/2/x"] });
    const seen = [];
    await b.device.subscribeAsync("ch/#");
    b.device.on("message", (topic) => seen.push(topic));
    await Promise.all([a.publish("ch/1/up", "a"), c.publish("ch/2/up", "c")]);
    await until(() => seen.includes("ch/1/up") && seen.includes("ch/2/up"), 5000, "both users' publishes");
    assert.deepEqual(b.connects, ["publisher", LOGIN.clientId]);

    // The first user leaves: its filter goes, the connection and the other's subscription stay.
    await until(() => got.a.includes("ch/1/up"), 5000, "the broker's echo of the first user's publish");
    const before = [...got.a];
    const unsubscribed = waitFor(b.aedes, "unsubscribe", (topics) => topics.includes("ch/1/#"));
    await a.close();
    await unsubscribed;
    assert.equal(a.status.state, "closed");
    assert.equal(c.status.state, "connected");
    await assert.rejects(a.publish("ch/1/up", "late"), (err) => err.code === "closed");
    await b.device.publishAsync("ch/2/y", "3");
    await b.device.publishAsync("ch/1/y", "4");
    await until(() => got.c.length === 2, 5000, "the remaining user's next message");
    assert.deepEqual(got.a, before, "nothing for the user that left");
    assert.deepEqual(b.connects, ["publisher", LOGIN.clientId]);
    assert.equal(pool.size, 1);

    const gone = waitFor(b.aedes, "clientDisconnect", (client) => client.id === LOGIN.clientId);
    await c.close();
    await gone;
    assert.equal(pool.size, 0);
  });

  it("keeps identities apart (other password, other server) and reopens after the last user left", async function () {
    const b = await broker();
    const pool = new MqttSessionPool();
    const a = shareOf(pool, b);
    const other = shareOf(pool, b, { clientId: "device-2", password: "another-password" });
    const viaName = shareOf(pool, b, { url: b.url.replace("127.0.0.1", "localhost") });
    assert.equal(pool.size, 3);
    await a.close();
    await other.close();
    await viaName.close();
    assert.equal(pool.size, 0);
    const again = shareOf(pool, b);
    again.start();
    await untilStatus(again, isConnected);
    assert.deepEqual(b.connects, ["publisher", LOGIN.clientId]);
  });

  it("tells every share once when another identity has the same client id on the same host: other credentials, or another port", async function () {
    const b = await broker();
    const pool = new MqttSessionPool();
    const said = new Map();
    const share = (name, extra) => {
      const s = shareOf(pool, b, extra);
      said.set(name, []);
      s.on("conflict", (why) => said.get(name).push(why));
      return s;
    };
    const a = share("a");
    const a2 = share("a2");
    a.start();
    a2.start();
    await untilStatus(a, isConnected);
    // Not conflicts: another client id, another host name, the same identity again, an empty client id.
    share("other-id", { clientId: "device-2", password: "another-password" }).start();
    share("other-host", { url: b.url.replace("127.0.0.1", "localhost") }).start();
    share("empty-1", { clientId: "" }).start();
    share("empty-2", { clientId: "", password: "another-password" }).start();
    assert.ok([...said.values()].every((w) => w.length === 0));
    // Same client id, other password: both sides are told, the newcomer when it starts.
    const rival = share("rival", { password: "another-password" });
    assert.deepEqual([said.get("a"), said.get("a2"), said.get("rival")], [["credentials"], ["credentials"], []]);
    rival.start();
    share("rival-2", { username: "another-user" }).start();
    // Same host and login on another port (ThingSpeak's 1883 and 8883 are one broker): an endpoint conflict.
    const port = share("other-port", { url: `${b.url.replace(/:\d+$/, "")}:1` });
    port.start();
    assert.deepEqual(Object.fromEntries(said), {
      a: ["credentials"], a2: ["credentials"], "other-id": [], "other-host": [], "empty-1": [], "empty-2": [],
      rival: ["credentials"], "rival-2": ["credentials"], "other-port": ["endpoint"],
    });
  });

  it("a probe (connection test) shares only its own identity's session, else has a private one, and no share hears of a conflict", async function () {
    const b = await broker();
    const pool = new MqttSessionPool();
    const said = [];
    const deployed = shareOf(pool, b);
    deployed.on("conflict", (why) => said.push(["deployed", why]));
    deployed.start();
    await untilStatus(deployed, isConnected);
    // The same identity exactly: shared, no second CONNECT.
    const same = pool.acquire({ url: b.url, ...LOGIN, reconnect: FAST }, { probe: true });
    cleanups.push(() => same.close());
    same.start();
    await untilStatus(same, isConnected);
    assert.deepEqual(b.connects, ["publisher", LOGIN.clientId]);
    await same.close();
    assert.equal(deployed.status.state, "connected", "the deployed share stays");
    // Same client id, other password: a deployed rival would be a "credentials" conflict; a probe is not.
    const probe = pool.acquire({ url: b.url, ...LOGIN, password: "another-password", reconnect: FAST }, { probe: true });
    cleanups.push(() => probe.close());
    probe.on("conflict", (why) => said.push(["probe", why]));
    probe.start();
    assert.equal(pool.size, 1, "the probe's session is not in the pool");
    await probe.close();
    assert.deepEqual(said, []);
    assert.equal(pool.size, 1);
  });

  it("masks the credentials in each user's own redactor, not only the first one's", function () {
    const pool = new MqttSessionPool();
    const r1 = new Redactor();
    const r2 = new Redactor();
    const a = pool.acquire({ url: "mqtt://127.0.0.1:1", ...LOGIN, redactor: r1 });
    const c = pool.acquire({ url: "mqtt://127.0.0.1:1", ...LOGIN, redactor: r2 });
    cleanups.push(() => a.close(), () => c.close());
    for (const r of [r1, r2]) assert.equal(r.redact(`x ${LOGIN.password} ${LOGIN.username}`), "x *** ***");
  });
});
