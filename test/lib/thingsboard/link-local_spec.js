"use strict";
// The ThingsBoard link in local mode (Node-RED is ThingsBoard for a hosted device) against
// plain MQTT.js clients that speak ThingsBoard's documented topics exactly as the docs' sample
// scripts do (mqtt-js-rpc-from-server.js, mqtt-js-attributes-request.js,
// mqtt-js-rpc-from-client.js): publish right after subscribe, ids in topics, echo replies.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const mqtt = require("mqtt");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { startEngine, inbox } = require("../fixtures/engine.js");
const { untilStatus } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");
const { collect } = require("../../support/links.js");

const ALPHA = { id: "a1b2c3d4e5f60718", name: "Alpha" };
const BETA = { id: "b1b2c3d4e5f60718", name: "Beta" };
const ME = "v1/devices/me";

describe("ThingsBoard link, local mode, with ThingsBoard's documented device scripts", function () {
  let ctx;
  const links = [];
  async function hosted(device = ALPHA, token = TOKENS.alpha, extra = {}) {
    const l = createThingsBoardLink({ connection: "local", token, broker: BROKER_ID, deviceId: device.id, name: device.name, ...extra });
    links.push(l);
    const got = collect(l);
    l.start();
    await untilStatus(l, (s) => s.state === "connected"); // the device's runtime on the engine is followed from here
    return { link: l, got };
  }
  beforeEach(async function () {
    ctx = await hostedBroker();
  });
  afterEach(async function () {
    await Promise.all(links.splice(0).map((l) => l.close()));
    await ctx.cleanup();
  });

  it("mqtt-js-rpc-from-server.js: the device echoes server-side RPC; the flow gets the reply with the same id", async function () {
    const { link } = await hosted();
    const dev = await ctx.device(TOKENS.alpha);
    dev.on("message", (topic, message) => {
      const requestId = topic.slice(`${ME}/rpc/request/`.length);
      dev.publish(`${ME}/rpc/response/${requestId}`, message);
    });
    await dev.subscribeAsync(`${ME}/rpc/request/+`);
    await untilStatus(link, (s) => s.deviceOnline === true);
    assert.deepEqual(await link.callRpc("setGpio", { pin: 2, enabled: true }, { timeoutMs: 2000 }), { method: "setGpio", params: { pin: 2, enabled: true } });
    assert.deepEqual(await link.callRpc("getGpioStatus", undefined, { timeoutMs: 2000 }), { method: "getGpioStatus", params: {} });
    const ids = dev.box.messages.map((m) => m.topic);
    assert.deepEqual(ids, [`${ME}/rpc/request/1`, `${ME}/rpc/request/2`]);
  });

  it("mqtt-js-attributes-request.js: answered by the broker from the device's client and the flow's shared attributes", async function () {
    const { link, got } = await hosted();
    await link.publishAttributes({ shared1: "s-one", shared2: 2, other: true });
    const dev = await ctx.device(TOKENS.alpha);
    await dev.publishAsync(`${ME}/attributes`, JSON.stringify({ attribute1: "a-one", attribute2: 42 }), { qos: 1 });
    const client = await got.next((m) => m.kind === "attributes");
    assert.deepEqual([client.scope, client.values], ["client", { attribute1: "a-one", attribute2: 42 }]);
    // As the script: subscribe and publish at once, without waiting for the SUBACK.
    dev.subscribe(`${ME}/attributes/response/+`);
    dev.publish(`${ME}/attributes/request/1`, '{"clientKeys":"attribute1,attribute2", "sharedKeys":"shared1,shared2"}');
    const answer = await dev.box.next(`${ME}/attributes/response/1`);
    assert.deepEqual(JSON.parse(answer.payload), { client: { attribute1: "a-one", attribute2: 42 }, shared: { shared1: "s-one", shared2: 2 } });
    assert.equal(got.incoming.filter((m) => m.kind === "rpc").length, 0, "attribute requests are the broker's to answer");
  });

  it("mqtt-js-rpc-from-client.js: the device's client-side RPC is served by the flow with its id; a device never gets its own uplink", async function () {
    const { link, got } = await hosted();
    link.on("incoming", (m) => {
      if (m.kind === "rpc") link.replyRpc({ id: m.idText, device: m.device }, { time: "2024-01-19T12:25:30Z" }).catch(assert.fail);
    });
    const dev = await ctx.device(TOKENS.alpha);
    dev.subscribe(`${ME}/rpc/response/+`);
    dev.subscribe(`${ME}/attributes`);
    dev.publish(`${ME}/rpc/request/7`, JSON.stringify({ method: "getCurrentTime", params: {} }));
    const reply = await dev.box.next(`${ME}/rpc/response/7`);
    assert.deepEqual(JSON.parse(reply.payload), { time: "2024-01-19T12:25:30Z" });
    const request = await got.next((m) => m.kind === "rpc");
    assert.deepEqual([request.method, request.id, request.device], ["getCurrentTime", 7, "Alpha"]);
    await dev.publishAsync(`${ME}/attributes`, '{"mine":1}', { qos: 1 });
    await dev.publishAsync(`${ME}/telemetry`, '{"t":1}', { qos: 1 });
    await got.next((m) => m.kind === "telemetry");
    assert.deepEqual(dev.box.messages.map((m) => m.topic), [`${ME}/rpc/response/7`], "nothing the device sent came back to it");
  });

  it("keeps devices apart and follows the broker node across a restart", async function () {
    const alpha = await hosted();
    const beta = await hosted(BETA, TOKENS.beta);
    const a = await ctx.device(TOKENS.alpha);
    const b = await ctx.device(TOKENS.beta);
    await b.subscribeAsync(`${ME}/attributes`);
    await a.subscribeAsync(`${ME}/attributes`);
    await a.publishAsync(`${ME}/telemetry`, '{"from":"alpha"}', { qos: 1 });
    await alpha.got.next((m) => m.kind === "telemetry");
    await alpha.link.publishAttributes({ onlyFor: "alpha" });
    await a.box.next(`${ME}/attributes`);
    assert.deepEqual(beta.got.incoming, []);
    assert.deepEqual(b.box.messages, []);

    const stopped = untilStatus(alpha.link, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    assert.match((await stopped).reason, /iot-broker/);
    await assert.rejects(alpha.link.requestAttributes({}), /not running/);
    const next = await startEngine();
    let dev;
    try {
      brokers.attach(BROKER_ID, next.engine);
      await untilStatus(alpha.link, (s) => s.state === "connected");
      dev = await mqtt.connectAsync(next.url, { username: TOKENS.alpha, clientId: "", reconnectPeriod: 0 });
      inbox(dev);
      await untilStatus(alpha.link, (s) => s.deviceOnline === true);
    } finally {
      await dev?.endAsync(true);
      brokers.detach(BROKER_ID, next.engine);
      await next.engine.close();
    }
  });

  it("queues what flows send while the broker is stopped and delivers it, in order, to the device's state on the next engine", async function () {
    const { link } = await hosted();
    const stopped = untilStatus(link, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    await stopped;
    await link.publishAttributes({ mode: "eco", level: 1 });
    await link.publishAttributes({ level: 2 });
    assert.equal(link.status.queued, 2);
    const next = await startEngine();
    try {
      brokers.attach(BROKER_ID, next.engine);
      await untilStatus(link, (s) => s.state === "connected" && s.queued === 0);
      assert.deepEqual(await link.requestAttributes({ sharedKeys: "mode,level" }), { client: {}, shared: { mode: "eco", level: 2 } });
    } finally {
      brokers.detach(BROKER_ID, next.engine);
      await next.engine.close();
    }
  });

  it("says why in its status when the device cannot be hosted (another device has its token), never showing the token", async function () {
    await hosted();
    const twin = createThingsBoardLink({ connection: "local", token: TOKENS.alpha, broker: BROKER_ID, deviceId: BETA.id, name: "Twin" });
    links.push(twin);
    const got = collect(twin);
    twin.start();
    assert.equal(twin.status.state, "disconnected");
    assert.match(twin.status.reason, /"Twin" is not hosted: "Alpha" already uses the same access token/);
    assert.match(got.warnings.join("\n"), /already uses the same access token/);
    assert.doesNotMatch(JSON.stringify([twin.status, got.warnings]), new RegExp(TOKENS.alpha));
  });

  it("is a thin adapter over the hosted-device handle: no emulation, store, parser or PubSub of its own", function () {
    const source = fs.readFileSync(path.join(__dirname, "../../../nodes/lib/thingsboard/link-local.ts"), "utf8");
    const imports = [...source.matchAll(/from "([^"]+)"/g)].map((m) => m[1]).sort();
    assert.deepEqual(imports, ["../transport/errors.js", "../transport/pubsub.js", "./codec.js", "./hosted-state.js", "./hosted-types.js", "./link-base.js"]);
    assert.doesNotMatch(source, /\bparse[A-Z]\w*\(|BrokerPubSub|hostedByToken/);
  });
});
