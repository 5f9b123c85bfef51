"use strict";
// Shared by the self-hosted ThingsBoard specs: a broker engine registered under a test broker
// id, hosted devices, ThingsBoard-speaking MQTT.js devices and a "flow": an in-process client
// on `$iot/thingsboard/...` (where the broker puts MQTT uplinks) plus the hosted devices'
// handles (what a local-mode link holds: parsed uplinks, online states, sends to the device).
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { hostThingsBoardDeviceHandle, hostedTopics } = require("../../../dist/nodes/lib/thingsboard/emulation.js");
const { tbDown } = require("../../../dist/nodes/lib/thingsboard/hosted-types.js");
const { startEngine, connect, inbox } = require("../fixtures/engine.js");
const { until, untilStatus } = require("../../support/wait.js");

const BROKER_ID = "thingsboard-test-broker";

/** 20-character tokens, like ThingsBoard's generated ones. */
const TOKENS = {
  alpha: "A1phaTOKEN0123456789",
  beta: "BetaTOKEN98765432100",
  gateway: "GatewayTOKEN00112233",
};

const up = (d, t) => hostedTopics.up(d.id) + t;
const down = (d, t) => hostedTopics.down(d.id) + t;
const ME = "v1/devices/me";

/** What a flow sends on the device-relative `topic`, as the local link hands it to the handle (tbDown). */
function downlinkOf(topic, payload) {
  const json = typeof payload === "string" ? JSON.parse(payload) : payload;
  if (topic === `${ME}/attributes`) {
    const { deleted, ...values } = json;
    return tbDown.attributes(values, undefined, deleted);
  }
  if (topic === "v1/gateway/attributes") return tbDown.attributes(json.data, json.device);
  if (topic === "v1/gateway/rpc") return tbDown.rpcRequest(json.data.id, json.data.method, json.data.params, json.device);
  const request = /^v1\/devices\/me\/rpc\/request\/(\d+)$/.exec(topic);
  if (request) return tbDown.rpcRequest(Number(request[1]), json.method, json.params);
  const response = /^v1\/devices\/me\/rpc\/response\/(\d+)$/.exec(topic);
  if (response) return tbDown.rpcResponse(response[1], json);
  throw new Error(`flows send nothing on ${topic}`);
}

/**
 * Collects what an in-process client sees under `filter`, with a waiter for a topic; with
 * `handles` (device id -> handle), also what the hosted devices' handles tell (`uplinks`,
 * `onlines`), and sends to the devices through them.
 */
async function spy(engine, filter = "$iot/thingsboard/#", handles = new Map()) {
  const local = engine.createLocalClient();
  const messages = [];
  await local.subscribe(filter, (m) => messages.push({ topic: m.topic, payload: m.payload.toString(), retain: m.retain }));
  return {
    local,
    messages,
    /** Parsed uplinks from the handles: {id, message}. */
    uplinks: [],
    /** Online states from the handles: {id, online, clientId?, remoteAddress?, protocolVersion?}. */
    onlines: [],
    /** Follows a device's handle. */
    follow(device, handle) {
      handles.set(device.id, handle);
      handle.on("uplink", (message) => this.uplinks.push({ id: device.id, message }));
      handle.on("online", (state) => this.onlines.push({ id: device.id, ...state }));
    },
    /** The first parsed uplink of `device` passing `predicate` (already received or still to come). */
    async parsed(device, predicate = () => true) {
      let found;
      await until(() => (found = this.uplinks.find((u) => u.id === device.id && predicate(u.message))) !== undefined, 5000, `an uplink of ${device.name}`);
      return found.message;
    },
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
    /** A flow sends the device something (device-relative topic), through its handle. */
    send(device, topic, payload) {
      return handles.get(device.id).send(downlinkOf(topic, payload));
    },
  };
}

/**
 * An engine attached as BROKER_ID with hosted devices and a flow spy (`ctx.flows`); each
 * `ctx.host(device)` resolves with the device's handle once the broker runs it (its first
 * online state is known then). `cleanup()` undoes everything.
 * @param {object} [options] engine options, plus `devices` (HostedTbDevice list)
 */
async function hostedBroker(options = {}) {
  const { devices = [], ...engineOptions } = options;
  const ctx = await startEngine(engineOptions);
  brokers.attach(BROKER_ID, ctx.engine);
  ctx.warnings = [];
  ctx.clients = [];
  ctx.unhost = new Map();
  ctx.handles = new Map();
  ctx.flows = await spy(ctx.engine, undefined, ctx.handles);
  ctx.host = async (device) => {
    const handle = hostThingsBoardDeviceHandle(BROKER_ID, device, (err) => ctx.warnings.push(err.message));
    ctx.flows.follow(device, handle);
    ctx.unhost.set(device.id, () => handle.close());
    await untilStatus(handle, (s) => s.state === "connected");
    return handle;
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
    for (const stop of ctx.unhost.values()) await stop();
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

module.exports = { BROKER_ID, TOKENS, hostedBroker, spy, subackOf, up, down, assertNoToken };
