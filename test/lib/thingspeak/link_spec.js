"use strict";
// The ThingSpeak link in mqtt mode (Node-RED is an MQTT device of the channel) against our broker
// hosting the channel and a bare aedes, plus the pure parts every mode shares: config parsing
// and status views. No sleeps: every step waits for the event it expects; the update interval
// runs on a test clock.
const assert = require("node:assert/strict");
const { createThingSpeakLink } = require("../../../dist/nodes/lib/thingspeak/link.js");
const { parseThingSpeakChannel, parseFieldNames } = require("../../../dist/nodes/lib/thingspeak/link-config.js");
const { ConfigError } = require("../../../dist/nodes/lib/transport/link-config.js");
const { statusView } = require("../../../dist/nodes/lib/thingspeak/link-user.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");
const { connect, inbox } = require("../fixtures/engine.js");
const { WEATHER, hostedBroker } = require("./fixtures.js");
const { manualTimers, collect } = require("../../support/links.js");
const { waitFor, until, untilStatus } = require("../../support/wait.js");

const FAST = { initialMs: 10, maxMs: 50 };
const creds = (c) => ({ clientId: c.clientId, username: c.username, password: c.password });

describe("ThingSpeak link, mqtt mode (Node-RED is an MQTT device of the channel)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });
  function link(options) {
    const l = createThingSpeakLink({ connection: "mqtt", id: "ts1", channelId: WEATHER.channelId, ...creds(WEATHER), mqtt: { reconnect: FAST, authBackoff: FAST }, ...options });
    cleanups.push(() => l.close());
    return l;
  }

  it("connects with the MQTT device credentials and publishes form-encoded updates at QoS 0", async function () {
    const connects = [];
    const b = await startBareBroker({ preConnect: (_c, packet, done) => (connects.push(packet), done(null, true)) });
    cleanups.push(() => b.close());
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    const box = inbox(w);
    await w.subscribeAsync("#");
    const l = link({ server: b.url });
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    const receipt = await l.write({ field1: 21.5, field2: true, status: "a b&c=d", lat: 52.52, long: 13.4 });
    assert.deepEqual(receipt.update.fields, { 1: 21.5, 2: true });
    assert.equal(receipt.entryId, undefined, "QoS 0 has no answer");
    const m = await box.next("channels/1001/publish");
    assert.equal(m.payload, "field1=21.5&field2=1&lat=52.52&long=13.4&status=a%20b%26c%3Dd");
    assert.equal(m.qos, 0);
    assert.equal(m.retain, false);
    const packet = connects.find((p) => p.username === WEATHER.username);
    assert.equal(packet.clientId, WEATHER.clientId);
    assert.equal(packet.password.toString(), WEATHER.password);
    assert.equal(packet.clean, true);
    assert.equal(packet.protocolVersion, 4);
  });

  it("coalesces writes under the interval against a hosted channel and receives the entries it subscribed to", async function () {
    const ctx = await hostedBroker({ channels: [WEATHER] });
    cleanups.push(() => ctx.cleanup());
    const clock = manualTimers(ctx.clock);
    const l = link({ server: ctx.url, updateIntervalMs: 15000, now: ctx.clock.now, timers: clock.timers });
    const got = collect(l);
    const unwatchAll = l.watch();
    l.watch(2);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    // (A device with the same credentials would take the link's session over: watch the channel's handle.)

    await l.write(20, 1);
    const first = await got.next((m) => m.kind === "entry");
    assert.deepEqual([first.entry.entry_id, first.entry.field1, first.source], [1, "20", "cloud"]);
    const writes = [l.write(21, 1), l.write({ field2: 60, status: "ok" }), l.write("22.5", 1)];
    await untilStatus(l, (s) => s.pending?.writes === 3);
    assert.deepEqual(l.status.pending, { fields: 3, writes: 3, nextInMs: 15000 });
    await clock.advance(15000);
    const receipts = await Promise.all(writes);
    assert.ok(receipts.every((r) => r.coalesced === 3));
    const second = await got.next((m) => m.kind === "entry" && m.entry.entry_id === 2);
    assert.deepEqual([second.entry.field1, second.entry.field2, second.entry.status], ["22.5", "60", "ok"]);
    const field2 = await got.next((m) => m.kind === "field");
    assert.deepEqual([field2.field, field2.text, field2.entry], [2, "60", undefined]);
    assert.equal(got.incoming.filter((m) => m.kind === "field" && m.field === 1).length, 0, "field 1 was not watched");
    await ctx.entry(WEATHER, 2);
    assert.deepEqual(ctx.uplinks.get(WEATHER.id).map((e) => e.entry_id), [1, 2]);
    assert.deepEqual(ctx.pluginErrors(), [], "no update was dropped by the channel's own interval");
    unwatchAll();
    assert.equal(l.status.pending, undefined);
  });

  it("shares one connection between channels of one MQTT device: each gets its entries and writes, closing one keeps the other", async function () {
    const connects = [];
    const b = await startBareBroker({ preConnect: (_c, packet, done) => (connects.push(packet.clientId), done(null, true)) });
    cleanups.push(() => b.close());
    const w = await connect(b.url, { clientId: "watcher" });
    cleanups.push(() => w.endAsync(true));
    const box = inbox(w);
    await w.subscribeAsync("channels/+/publish");
    const channels = [1001, 2002].map((channelId) => {
      const l = link({ server: b.url, channelId, id: `ts${channelId}`, updateIntervalMs: 0 });
      const got = collect(l);
      l.watch();
      l.start();
      return { l, got, channelId };
    });
    const subscribed = waitFor(b.aedes, "subscribe", (subs) => subs.some((s) => s.topic === "channels/2002/subscribe"));
    for (const { l } of channels) await untilStatus(l, (s) => s.state === "connected");
    await subscribed;
    const entry = (channelId, n) => JSON.stringify({ channel_id: channelId, created_at: "2024-01-19T12:25:30Z", entry_id: n, field1: String(n) });
    for (const { channelId } of channels) await w.publishAsync(`channels/${channelId}/subscribe`, entry(channelId, 1));
    for (const { l, got, channelId } of channels) {
      assert.equal((await got.next((m) => m.kind === "entry")).entry.channel_id, channelId);
      await l.write(channelId, 1);
      assert.equal((await box.next(`channels/${channelId}/publish`)).payload, `field1=${channelId}`);
    }
    assert.deepEqual(connects, ["watcher", WEATHER.clientId], "one CONNECT for both channels");

    await channels[0].l.close();
    const { l, got } = channels[1];
    assert.equal(l.status.state, "connected");
    await w.publishAsync("channels/2002/subscribe", entry(2002, 2));
    assert.equal((await got.next((m) => m.kind === "entry" && m.entry.entry_id === 2)).entry.field1, "2");
    await l.write(7, 1);
    await until(() => box.messages.some((m) => m.payload === "field1=7"), 5000, "the remaining channel's write");
    assert.equal(channels[0].got.incoming.length, 1, "the closed channel hears nothing more");
    assert.deepEqual(connects, ["watcher", WEATHER.clientId]);
    assert.deepEqual([...channels[0].got.warnings, ...got.warnings], []);
  });

  it("refuses bad input before queueing it, and reports refused credentials without the password", async function () {
    const ctx = await hostedBroker({ channels: [WEATHER] });
    cleanups.push(() => ctx.cleanup());
    const l = link({ server: ctx.url, password: "wrong-password-123" });
    const got = collect(l);
    l.start();
    const refused = await untilStatus(l, (s) => s.state === "auth-failed");
    assert.ok(!JSON.stringify([refused, got]).includes("wrong-password-123"));
    for (const [input, field, message] of [
      [1, 9, /field9|field1 to field8/],
      [{}, undefined, /nothing to write/],
      ["x".repeat(3000), 1, /3000 bytes/],
      [5, undefined, /needs a field/],
      [{ field1: 1, nonsense: 2 }, undefined, /unknown key "nonsense"/],
    ]) {
      await assert.rejects(l.write(input, field), (err) => message.test(err.message), String(message));
    }
    assert.equal(l.status.pending, undefined, "nothing was queued");
    await assert.rejects(l.readNew(), /MQTT API only delivers new entries/);
  });
});

describe("thingspeak-channel settings", function () {
  const ok = { clientId: "cid", username: "user", password: "secret-pass" };
  it("parses each connection's settings", function () {
    assert.deepEqual(parseThingSpeakChannel("n1", { connection: "mqtt", channelId: "1001", updateInterval: "1" }, ok), {
      connection: "mqtt", id: "n1", channelId: 1001, name: "n1", updateIntervalMs: 1000, ...ok, server: "mqtts://mqtt3.thingspeak.com:8883",
    });
    assert.deepEqual(parseThingSpeakChannel("n1", { connection: "rest", channelId: 7, name: " Weather " }, { writeKey: " WK12345 " }), {
      connection: "rest", id: "n1", channelId: 7, name: "Weather", updateIntervalMs: 15000, writeKey: "WK12345", server: "https://api.thingspeak.com",
    });
    const local = parseThingSpeakChannel("n1", { connection: "local", channelId: "3", broker: "b1", fieldNames: "1=Temperature; 2 = Humidity" }, { ...ok, readKey: "RK12345" });
    assert.deepEqual([local.broker, local.fieldNames, local.readKey, local.server], ["b1", { 1: "Temperature", 2: "Humidity" }, "RK12345", undefined]);
  });

  it("refuses unusable settings with a catalog key and no secret in the parameters", function () {
    const cases = [
      [{ connection: "carrier-pigeon", channelId: 1 }, ok, "invalid-connection"],
      [{ connection: "mqtt" }, ok, "missing-channel-id"],
      [{ connection: "mqtt", channelId: "01" }, ok, "invalid-channel-id"],
      [{ connection: "mqtt", channelId: "-4" }, ok, "invalid-channel-id"],
      [{ connection: "mqtt", channelId: 1 }, { ...ok, password: "" }, "missing-mqtt-credentials"],
      [{ connection: "local", channelId: 1 }, ok, "missing-broker"],
      [{ connection: "mqtt", channelId: 1, updateInterval: "0.5" }, ok, "invalid-update-interval"],
      [{ connection: "mqtt", channelId: 1, server: "http://x" }, ok, "invalid-mqtt-server"],
      [{ connection: "rest", channelId: 1, server: "https://u:secret-pass@x" }, ok, "server-credentials"],
      [{ connection: "rest", channelId: 1 }, { writeKey: "has space" }, "invalid-credential"],
      [{ connection: "local", channelId: 1, broker: "b", fieldNames: "9=Nine" }, ok, "invalid-field-names"],
    ];
    for (const [props, credentials, key] of cases) {
      assert.throws(() => parseThingSpeakChannel("n1", props, credentials), (err) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.key, key, JSON.stringify(props));
        assert.ok(!JSON.stringify(err.params).includes("secret-pass"));
        return true;
      });
    }
    assert.deepEqual(parseFieldNames(""), {});
  });

  it("shows pending writes while connected, and the shared views otherwise", function () {
    const pending = { fields: 3, writes: 5, nextInMs: 11200 };
    assert.deepEqual(statusView({ state: "connected", queued: 0, pending }, "mqtt"), { fill: "blue", shape: "dot", key: "pending-short", params: { count: 3, seconds: 12 } });
    assert.deepEqual(statusView({ state: "connected", queued: 0 }, "rest"), { fill: "green", shape: "dot", key: "connected" });
    assert.deepEqual(statusView({ state: "disconnected", reason: "x", queued: 5, pending }, "mqtt"), { fill: "red", shape: "ring", key: "no-connection-queued", params: { count: 5 } });
    assert.deepEqual(statusView({ state: "disconnected", queued: 0 }, "local"), { fill: "red", shape: "ring", key: "broker-stopped" });
    assert.equal(statusView({ state: "closed", queued: 0 }, "mqtt"), undefined);
  });
});

