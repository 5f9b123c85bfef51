"use strict";
// Issue 8: a ThingSpeak MQTT device authorised for several channels. Each thingspeak-channel used
// to open its own connection with the same client id, so the server kicked one off whenever the
// other connected, forever and silently. Now channels of one device share one connection, and a
// client id taken over again and again (other credentials, or another client) is said once.
// Real aedes over loopback, CONNECTs counted at the broker; no sleeps.
const assert = require("node:assert/strict");
const { createThingSpeakLink } = require("../../dist/nodes/lib/thingspeak/link.js");
const { createThingsBoardLink } = require("../../dist/nodes/lib/thingsboard/link.js");
const catalog = require("../../locales/en-US/thingspeak-channel.json");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { connect } = require("../lib/fixtures/engine.js");
const { waitFor, until } = require("../support/wait.js");

const FAST = { initialMs: 5, maxMs: 20, jitter: 0 };
const DEVICE = { clientId: "SharedDeviceClientId01", username: "SharedDeviceUser01", password: "SharedDevicePassword01" };
const entry = (channelId, n) => JSON.stringify({ channel_id: channelId, created_at: "2024-01-19T12:25:30Z", entry_id: n, field1: String(n) });

/** Seeded shuffle, so a failure replays. */
function shuffled(items, seed) {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe("hostile: ThingSpeak channels of one MQTT device (shared connection)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function broker() {
    const connects = [];
    const b = await startBareBroker({ preConnect: (_c, packet, done) => (connects.push(packet.clientId), done(null, true)) });
    b.connects = connects;
    b.of = (clientId) => connects.filter((id) => id === clientId).length;
    cleanups.push(() => b.close());
    b.publisher = await connect(b.url, { clientId: "publisher" });
    cleanups.push(() => b.publisher.endAsync(true));
    return b;
  }

  function channel(b, channelId, login = DEVICE) {
    const l = createThingSpeakLink({ connection: "mqtt", id: `c${channelId}`, channelId, server: b.url, ...login, mqtt: { reconnect: FAST } });
    cleanups.push(() => l.close());
    const got = [];
    const kicked = [];
    const warnings = [];
    l.on("incoming", (m) => got.push(m.entry.channel_id));
    l.on("kicked", (n) => kicked.push(n));
    l.on("warning", (w) => warnings.push(w));
    l.watch();
    return { l, channelId, got, kicked, warnings };
  }

  it("twelve channels on one device: one CONNECT, each gets only its own entries, closing them in any order keeps the rest served", async function () {
    const b = await broker();
    const ids = Array.from({ length: 12 }, (_, i) => 3001 + i);
    const subscribed = new Set();
    b.aedes.on("subscribe", (subs) => subs.forEach((s) => subscribed.add(s.topic)));
    const channels = ids.map((id) => channel(b, id));
    for (const c of channels) c.l.start();
    await until(() => ids.every((id) => subscribed.has(`channels/${id}/subscribe`)), 5000, "every channel's SUBSCRIBE");
    let n = 0;
    const deliver = async (c) => {
      n++;
      const before = c.got.length;
      await b.publisher.publishAsync(`channels/${c.channelId}/subscribe`, entry(c.channelId, n));
      await until(() => c.got.length === before + 1, 5000, `entry ${n} on channel ${c.channelId}`);
    };
    for (const c of channels) await deliver(c);
    let open = [...channels];
    for (const leaving of shuffled(channels, 8)) {
      open = open.filter((c) => c !== leaving);
      const ended = open.length === 0 ? waitFor(b.aedes, "clientDisconnect", (client) => client.id === DEVICE.clientId) : undefined;
      await leaving.l.close();
      if (ended !== undefined) await ended;
      for (const c of open.slice(0, 2)) await deliver(c);
    }
    for (const c of channels) assert.ok(c.got.every((id) => id === c.channelId), `channel ${c.channelId} got only its own entries`);
    assert.equal(b.of(DEVICE.clientId), 1, "one connection for all twelve channels, never re-made");
    assert.deepEqual(channels.flatMap((c) => [...c.kicked, ...c.warnings]), []);
  });

  it("after the shared connection drops, one reconnect restores every channel's subscription", async function () {
    const b = await broker();
    const channels = [4001, 4002].map((id) => channel(b, id));
    for (const c of channels) c.l.start();
    for (const c of channels) await until(() => c.l.status.state === "connected", 5000, "connected");
    const resubscribed = new Set();
    b.aedes.on("subscribe", (subs) => subs.forEach((s) => resubscribed.add(s.topic)));
    b.dropClients();
    await until(() => channels.every((c) => resubscribed.has(`channels/${c.channelId}/subscribe`)), 5000, "both SUBSCRIBEs on the new connection");
    // The publisher was dropped with everyone else: a new one checks the subscriptions.
    const p = await connect(b.url, { clientId: "publisher-2" });
    cleanups.push(() => p.endAsync(true));
    for (const c of channels) {
      await p.publishAsync(`channels/${c.channelId}/subscribe`, entry(c.channelId, 2));
      await until(() => c.got.length > 0, 5000, `channel ${c.channelId}'s entry after the reconnect`);
    }
    assert.equal(b.of(DEVICE.clientId), 2, "one reconnect for both channels");
  });

  it("two credential sets on one client id: each channel is told before connecting, as a conflict", async function () {
    const b = await broker();
    const conflicts = [];
    const a = channel(b, 6001);
    a.l.on("conflict", (why) => conflicts.push(`a ${why}`));
    a.l.start();
    const other = channel(b, 6002, { ...DEVICE, password: "OtherPassword0001" });
    other.l.on("conflict", (why) => conflicts.push(`other ${why}`));
    assert.deepEqual(conflicts, ["a credentials"], "the running channel hears of the newcomer at once");
    other.l.start();
    assert.deepEqual(conflicts, ["a credentials", "other credentials"]);
    // The same device on another port of the same host (ThingSpeak's 1883 and 8883: one broker).
    const tls = createThingSpeakLink({ connection: "mqtt", id: "c6003", channelId: 6003, server: b.url.replace(/:\d+$/, ":8883"), ...DEVICE, mqtt: { reconnect: FAST } });
    cleanups.push(() => tls.close());
    tls.on("conflict", (why) => conflicts.push(`tls ${why}`));
    tls.start();
    assert.deepEqual(conflicts, ["a credentials", "other credentials", "tls endpoint"]);
    assert.match(catalog["thingspeak-channel"].warnings["endpoint-conflict"], /__server__/);
    const text = catalog["thingspeak-channel"].warnings["credentials-conflict"];
    assert.match(text, /__server__/);
    assert.match(text, /same MQTT device Client ID but another Username or Password/);
  });

  it("a reconnect storm is said once by any platform's MQTT link (ThingsBoard here), with no secret", async function () {
    const b = await broker();
    const login = { clientId: "TbStormClient01", username: "TbStormUser01", password: "TbStormPassword01" };
    const l = createThingsBoardLink({ connection: "mqtt", id: "tb1", name: "Pump", server: b.url, token: "placeholder-token-0001", basic: login, mqtt: { reconnect: FAST } });
    cleanups.push(() => l.close());
    const warnings = [];
    l.on("warning", (w) => warnings.push(w));
    // Another client with the same client id connects whenever the link did.
    let intruding = true;
    const intruders = [];
    cleanups.push(() => Promise.all(intruders.map((c) => c.endAsync(true))));
    // The intruder's own arrival is the next one after the link's: skipped.
    let intruderNext = false;
    b.aedes.on("client", (c) => {
      if (c.id !== login.clientId) return;
      if (intruderNext) {
        intruderNext = false;
        return;
      }
      if (!intruding) return;
      intruderNext = true;
      connect(b.url, { clientId: login.clientId, reconnectPeriod: 0 }).then((c2) => intruders.push(c2), () => undefined);
    });
    l.start();
    await until(() => warnings.some((w) => w.includes("times in a row")), 8000, "the storm warning");
    intruding = false;
    const storm = warnings.filter((w) => w.includes("times in a row"));
    assert.equal(storm.length, 1);
    assert.match(storm[0], /dropped the connection 3 times in a row .* same client id/);
    assert.ok(!JSON.stringify(warnings).includes(login.password));
  });

  it("two credential sets on one client id: each channel says once that it keeps being taken over", async function () {
    const b = await broker();
    const a = channel(b, 5001);
    const other = channel(b, 5002, { ...DEVICE, username: "OtherUserName01", password: "OtherPassword0001" });
    a.l.start();
    other.l.start();
    await until(() => a.kicked.length > 0 && other.kicked.length > 0, 5000, "both channels to report the takeovers");
    // The server goes on kicking them off in turn; the report is not repeated.
    const seen = b.of(DEVICE.clientId);
    await until(() => b.of(DEVICE.clientId) >= seen + 10, 5000, "ten more takeovers");
    assert.deepEqual([a.kicked, other.kicked], [[3], [3]]);
    const text = catalog["thingspeak-channel"].warnings["client-id-conflict"];
    assert.deepEqual([a.warnings, other.warnings], [[], []], "said with the channel's own key, not as a plain warning too");
    assert.match(text, /__count__/);
    assert.match(text, /same MQTT device Client ID/);
  });
});
