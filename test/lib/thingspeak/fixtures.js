"use strict";
// Shared by the self-hosted ThingSpeak specs: a broker engine registered under a test broker id,
// hosted channels on an injected clock (each with its hosted-device handle, recording the
// entries the flows would get), ThingSpeak-speaking MQTT.js devices and an in-process spy on
// `$iot/thingspeak/...`.
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { hostThingSpeakDevice } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { startEngine, connect, inbox } = require("../fixtures/engine.js");
const { until } = require("../../support/wait.js");

const BROKER_ID = "thingspeak-test-broker";
/** 2024-01-19T12:25:30Z: where every test clock starts. */
const T0 = Date.UTC(2024, 0, 19, 12, 25, 30);

/** Two channels with MQTT device credentials shaped like ThingSpeak's generated ones. */
const WEATHER = {
  id: "c0ffee0000000001",
  channelId: 1001,
  name: "Weather",
  clientId: "MQg3OgwQHBEJKA8kMjEsCTs",
  username: "MQg3OgwQHBEJKA8kMjEsCTs",
  password: "pW7vYq2sRk9xLm4Tn8bZc1Hd",
  writeKey: "WRITEWEATHER0001",
  readKey: "READWEATHER00001",
  updateIntervalMs: 15000,
  fieldNames: { 1: "Temperature", 2: "Humidity" },
};
const GARDEN = {
  id: "c0ffee0000000002",
  channelId: 2002,
  name: "Garden",
  clientId: "GARDENclientIdAAAAAAAAAA",
  username: "GARDENusernameAAAAAAAAAA",
  password: "GARDENpasswordAAAAAAAAAA",
  writeKey: "WRITEGARDEN00002",
  updateIntervalMs: 1000,
};
const SECRETS = [WEATHER, GARDEN].flatMap((c) => [c.password, c.writeKey, c.readKey].filter(Boolean));

/** A clock the specs move by hand: the update interval never depends on real time. */
function testClock(start = T0) {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
    set(ms) {
      t = ms;
    },
  };
}

/**
 * An engine attached as BROKER_ID with hosted channels; `cleanup()` undoes everything.
 * @param {object} [options] engine options, plus `channels` (HostedChannel list)
 */
async function hostedBroker(options = {}) {
  const { channels = [], ...engineOptions } = options;
  const ctx = await startEngine(engineOptions);
  brokers.attach(BROKER_ID, ctx.engine);
  ctx.clock = testClock();
  ctx.warnings = [];
  ctx.clients = [];
  ctx.unhost = new Map();
  /** Each hosted channel's handle, and the entries it delivered (what a local-mode link gets). */
  ctx.handles = new Map();
  ctx.uplinks = new Map();
  ctx.host = (channel) => {
    const handle = hostThingSpeakDevice(BROKER_ID, channel, (err) => ctx.warnings.push(err.message), { now: ctx.clock.now });
    const uplinks = [];
    handle.on("uplink", (e) => uplinks.push(e));
    ctx.handles.set(channel.id, handle);
    ctx.uplinks.set(channel.id, uplinks);
    const stop = () => void handle.close();
    ctx.unhost.set(channel.id, stop);
    return stop;
  };
  /** Waits for the n-th (1-based) new entry of `channel` that its handle delivered (made by a device or REST client). */
  ctx.entry = async (channel, n = 1) => {
    const got = () => ctx.uplinks.get(channel.id) ?? [];
    await until(() => got().length >= n, 5000, `entry ${n} of ${channel.name}; got ${got().length}`);
    return got()[n - 1];
  };
  for (const c of channels) ctx.host(c);
  /** A device with the channel's MQTT device credentials (clean session, as ThingSpeak asks). */
  ctx.device = async (channel, extra = {}) => {
    const connected = () => ctx.events.filter((e) => e.event === "client-connected").length;
    const before = connected();
    const client = await connect(ctx.url, { clientId: channel.clientId, username: channel.username, password: channel.password, clean: true, ...extra });
    ctx.clients.push(client);
    client.box = inbox(client);
    // CONNACK reaches the client before the broker announces the client as ready.
    await until(() => connected() > before, 5000, "the broker to report the device connected");
    return client;
  };
  /** Plugin errors (dropped publishes) as they arrive. */
  ctx.pluginErrors = () => ctx.events.filter((e) => e.event === "plugin-error").map((e) => e.error);
  ctx.cleanup = async () => {
    await Promise.all(ctx.clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    for (const stop of ctx.unhost.values()) stop();
    brokers.detach(BROKER_ID, ctx.engine);
    await ctx.engine.close();
  };
  return ctx;
}

/** Collects what an in-process client sees under `filter`, with a waiter for a topic. */
async function spy(engine, filter = "$iot/thingspeak/#") {
  const local = engine.createLocalClient();
  const messages = [];
  await local.subscribe(filter, (m) => messages.push({ topic: m.topic, payload: m.payload.toString(), retain: m.retain }));
  return {
    local,
    messages,
    /** Waits for the n-th (1-based) message on `topic`. */
    async nth(topic, n = 1) {
      const on = () => messages.filter((m) => m.topic === topic);
      await until(() => on().length >= n, 5000, `message ${n} on ${topic}; got ${JSON.stringify(messages.map((m) => m.topic))}`);
      return on()[n - 1];
    },
  };
}

/** The granted list of a SUBACK, also when MQTT.js rejects because an entry failed. */
async function subackOf(client, filters) {
  try {
    return (await client.subscribeAsync(filters)).map((g) => g.qos);
  } catch (err) {
    if (!err.packet) throw err;
    return err.packet.granted;
  }
}

/** ms -> the created_at text of an entry (UTC, whole seconds). */
const at = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");

/** Waits until an inbox holds `n` messages on `topic`; returns them. */
async function received(box, topic, n = 1) {
  const on = () => box.messages.filter((m) => m.topic === topic);
  await until(() => on().length >= n, 5000, `${n} message(s) on ${topic}; got ${JSON.stringify(box.messages.map((m) => m.topic))}`);
  return on();
}

/** The entry JSON with every key, as a device's subscription receives it. */
function entry(channelId, entryId, createdAt, values = {}) {
  const e = { channel_id: channelId, created_at: createdAt, entry_id: entryId };
  for (let n = 1; n <= 8; n++) e[`field${n}`] = values[`field${n}`] ?? null;
  for (const k of ["latitude", "longitude", "elevation", "status"]) e[k] = values[k] ?? null;
  return e;
}

module.exports = { BROKER_ID, T0, WEATHER, GARDEN, SECRETS, testClock, hostedBroker, spy, subackOf, entry, at, received };
