"use strict";
// Shared by the self-hosted ThingsBoard specs: a broker engine registered under a test broker
// id, hosted devices, ThingsBoard-speaking MQTT.js devices and an in-process "flow" on
// `$iot/thingsboard/...` (what a local-mode link sees and sends).
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { hostThingsBoardDevice, hostedTopics } = require("../../../dist/nodes/lib/thingsboard/emulation.js");
const { startEngine, connect, inbox } = require("../fixtures/engine.js");
const { until } = require("../../support/wait.js");

const BROKER_ID = "thingsboard-test-broker";

/** 20-character tokens, like ThingsBoard's generated ones. */
const TOKENS = {
  alpha: "A1phaTOKEN0123456789",
  beta: "BetaTOKEN98765432100",
  gateway: "GatewayTOKEN00112233",
};

const up = (d, t) => hostedTopics.up(d.id) + t;
const down = (d, t) => hostedTopics.down(d.id) + t;
const online = (d) => `${hostedTopics.state(d.id)}online`;

/** Collects what an in-process client sees under `filter`, with a waiter for a topic. */
async function spy(engine, filter = "$iot/thingsboard/#") {
  const local = engine.createLocalClient();
  const messages = [];
  await local.subscribe(filter, (m) => messages.push({ topic: m.topic, payload: m.payload.toString(), retain: m.retain }));
  return {
    local,
    messages,
    /** The first message on `topic` passing `predicate` (already received or still to come). */
    async next(topic, predicate = () => true) {
      let found;
      await until(() => (found = messages.find((m) => m.topic === topic && predicate(m))) !== undefined, 5000, `a message on ${topic}; got ${JSON.stringify(messages.map((m) => m.topic))}`);
      return found;
    },
    /** What the device published on `topic` (device-relative), as flows see it. */
    uplink(device, topic, predicate) {
      return this.next(up(device, topic), predicate);
    },
    /** A flow sends the device something (device-relative topic). */
    send(device, topic, payload) {
      return local.publish(down(device, topic), typeof payload === "string" ? payload : JSON.stringify(payload));
    },
  };
}

/**
 * An engine attached as BROKER_ID with hosted devices and a flow spy (`ctx.flows`); each
 * `ctx.host(device)` resolves once the device's online state is published, i.e. once the
 * emulation follows what flows send it. `cleanup()` undoes everything.
 * @param {object} [options] engine options, plus `devices` (HostedTbDevice list)
 */
async function hostedBroker(options = {}) {
  const { devices = [], ...engineOptions } = options;
  const ctx = await startEngine(engineOptions);
  brokers.attach(BROKER_ID, ctx.engine);
  ctx.warnings = [];
  ctx.clients = [];
  ctx.unhost = new Map();
  ctx.flows = await spy(ctx.engine);
  ctx.host = async (device) => {
    const seen = ctx.flows.messages.length;
    const stop = hostThingsBoardDevice(BROKER_ID, device, (err) => ctx.warnings.push(err.message));
    ctx.unhost.set(device.id, stop);
    await until(() => ctx.flows.messages.slice(seen).some((m) => m.topic === online(device)), 5000, `the online state of ${device.name}`);
    return stop;
  };
  for (const d of devices) await ctx.host(d);
  /** An MQTT client, tracked for cleanup, resolved once the broker reports it connected. */
  ctx.connect = async (options) => {
    const connected = () => ctx.events.filter((e) => e.event === "client-connected").length;
    const before = connected();
    const client = await connect(ctx.url, { clientId: "", clean: true, ...options });
    ctx.clients.push(client);
    client.box = inbox(client);
    // CONNACK reaches the client before the broker announces the client as ready.
    await until(() => connected() > before, 5000, "the broker to report the client connected");
    return client;
  };
  /** A ThingsBoard device over MQTT: the access token as username, no password, empty client id (as mosquitto_pub). */
  ctx.device = (token, extra = {}) => ctx.connect({ username: token, ...extra });
  ctx.cleanup = async () => {
    await Promise.all(ctx.clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    for (const stop of ctx.unhost.values()) stop();
    brokers.detach(BROKER_ID, ctx.engine);
    await ctx.engine.close();
  };
  return ctx;
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

/** Every token must stay out of events, topics, warnings and answers. */
function assertNoToken(assert, ...texts) {
  const all = JSON.stringify(texts);
  for (const token of Object.values(TOKENS)) assert.ok(!all.includes(token), `a token leaked: ${token}`);
}

module.exports = { BROKER_ID, TOKENS, hostedBroker, spy, subackOf, up, down, online, assertNoToken };
