"use strict";
// Shared by the self-hosted Blynk specs: a broker engine registered under a test broker id,
// hosted devices (with their handles, as a local-mode link holds them), Blynk-speaking MQTT.js
// devices and an in-process spy on `$iot/blynk/...`.
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { hostBlynkDeviceHandle } = require("../../../dist/nodes/lib/blynk/emulation.js");
const { startEngine, connect, inbox } = require("../fixtures/engine.js");
const { until } = require("../../support/wait.js");

const BROKER_ID = "blynk-test-broker";

/** 32-character tokens, like Blynk's. */
const TOKENS = {
  alpha: "AlphaTok_0123456789abcdefghijklm",
  beta: "BetaTok_0123456789abcdefghijklmn",
  gamma: "GammaTok_0123456789abcdefghijkl",
};

/**
 * An engine attached as BROKER_ID with hosted devices; `cleanup()` undoes everything.
 * @param {object} [options] engine options, plus `devices` (HostedBlynkDevice list)
 */
async function hostedBroker(options = {}) {
  const { devices = [], ...engineOptions } = options;
  const ctx = await startEngine(engineOptions);
  brokers.attach(BROKER_ID, ctx.engine);
  ctx.warnings = [];
  ctx.clients = [];
  ctx.unhost = new Map();
  /** Handles by device id, and what each one heard (`uplinks`: every BlynkUp, in order). */
  ctx.handles = new Map();
  ctx.uplinks = new Map();
  ctx.host = (device) => {
    const handle = hostBlynkDeviceHandle(BROKER_ID, device, (err) => ctx.warnings.push(err.message));
    const heard = [];
    handle.on("uplink", (up) => heard.push(up));
    ctx.handles.set(device.id, handle);
    ctx.uplinks.set(device.id, heard);
    const stop = () => void handle.close();
    ctx.unhost.set(device.id, stop);
    return stop;
  };
  /** The first uplink of device `id` that passes `predicate` (heard already, or waited for). */
  ctx.uplink = async (id, predicate = () => true) => {
    let found;
    const heard = () => ctx.uplinks.get(id) ?? [];
    await until(() => (found = heard().find(predicate)) !== undefined, 5000, `an uplink of ${id}; got ${JSON.stringify(heard())}`);
    return found;
  };
  /** What the handle of device `id` says of it now (online state and info), or undefined while it is not running. */
  ctx.state = (id) => {
    const handle = ctx.handles.get(id);
    const online = handle?.online;
    if (online === undefined) return undefined;
    const info = handle.info;
    return { ...online, ...(info === undefined ? {} : { info }) };
  };
  for (const d of devices) ctx.host(d);
  /** A Blynk device over MQTT: username "device", password token, empty client id. */
  ctx.device = async (token, extra = {}) => {
    const connected = () => ctx.events.filter((e) => e.event === "client-connected").length;
    const before = connected();
    const client = await connect(ctx.url, { username: "device", password: token, clientId: "", keepalive: 45, clean: true, ...extra });
    ctx.clients.push(client);
    client.box = inbox(client);
    // CONNACK reaches the client before the broker announces the client as ready.
    await until(() => connected() > before, 5000, "the broker to report the device connected");
    return client;
  };
  ctx.cleanup = async () => {
    await Promise.all(ctx.clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    for (const stop of ctx.unhost.values()) stop();
    brokers.detach(BROKER_ID, ctx.engine);
    await ctx.engine.close();
  };
  return ctx;
}

/** Collects what an in-process client sees under `filter`, with a waiter for a topic. */
async function spy(engine, filter = "$iot/blynk/#") {
  const local = engine.createLocalClient();
  const messages = [];
  await local.subscribe(filter, (m) => messages.push({ topic: m.topic, payload: m.payload.toString(), retain: m.retain }));
  return {
    local,
    messages,
    async next(topic, predicate = () => true) {
      let found;
      await until(() => (found = messages.find((m) => m.topic === topic && predicate(m))) !== undefined, 5000, `a message on ${topic}; got ${JSON.stringify(messages.map((m) => m.topic))}`);
      return found;
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

module.exports = { BROKER_ID, TOKENS, hostedBroker, spy, subackOf };
