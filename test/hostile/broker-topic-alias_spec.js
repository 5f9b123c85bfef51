"use strict";
// MQTT 5 topic aliases: aedes refuses every alias unless topicAliasMaximum is set, and its CONNACK
// then announces none, so clients that use them (MQTT.js's autoUseTopicAlias/autoAssignTopicAlias,
// an explicit topicAlias) were disconnected. Aliases now work for generic users and for hosted
// devices (an alias stands for the client-visible topic, rewritten into the namespace after).
const assert = require("node:assert/strict");
const { connect, inbox, startEngine } = require("../lib/fixtures/engine.js");
const { rawClient } = require("../lib/fixtures/raw-mqtt.js");
const { until } = require("../support/wait.js");
const { TOKENS, hostedBroker } = require("../lib/thingsboard/fixtures.js");

const USER = { username: "u", password: "p", publish: ["#"], subscribe: ["#"] };
const DEVICE = { id: "f1b2c3d4e5f60718", name: "Aliased", token: TOKENS.beta, gateway: false };
const V5 = { username: "u", password: "p", protocolVersion: 5 };

describe("hostile: MQTT 5 topic aliases", function () {
  this.timeout(10000);
  let ctx;

  afterEach(async function () {
    await ctx?.cleanup();
    ctx = undefined;
  });

  it("announces a Topic Alias Maximum (10) in CONNACK", async function () {
    ctx = await hostedBroker({ users: [USER] });
    const client = await ctx.connect(V5);
    assert.equal(client.connackPacket.properties.topicAliasMaximum, 10);
  });

  it("delivers what a generic user publishes through aliases (MQTT.js auto-assigned and explicit), with full topics", async function () {
    ctx = await hostedBroker({ users: [USER] });
    const listener = await ctx.connect({ ...V5, clientId: "listener", properties: { topicAliasMaximum: 5 } });
    await listener.subscribeAsync("sensors/#", { qos: 1 });
    const box = inbox(listener);
    const auto = await ctx.connect({ ...V5, clientId: "auto", autoAssignTopicAlias: true });
    for (let i = 0; i < 3; i++) await auto.publishAsync("sensors/auto", `a${i}`, { qos: 1 });
    const explicit = await ctx.connect({ ...V5, clientId: "explicit" });
    await explicit.publishAsync("sensors/explicit", "e0", { qos: 1, properties: { topicAlias: 3 } });
    await explicit.publishAsync("", "e1", { qos: 1, properties: { topicAlias: 3 } });
    await until(() => box.messages.length === 5, 5000, `5 messages; got ${JSON.stringify(box.messages)}`);
    assert.deepEqual(
      box.messages.map((m) => `${m.topic}=${m.payload}`),
      ["sensors/auto=a0", "sensors/auto=a1", "sensors/auto=a2", "sensors/explicit=e0", "sensors/explicit=e1"],
    );
    assert.ok(auto.connected && explicit.connected && listener.connected);
    assert.ok(!ctx.events.some((e) => e.event === "client-error" || e.event === "publish-refused"), JSON.stringify(ctx.events));
  });

  it("maps a hosted device's alias to its own topic before the namespace rewrite", async function () {
    ctx = await hostedBroker({ devices: [DEVICE] });
    const device = await ctx.device(DEVICE.token, { protocolVersion: 5, autoUseTopicAlias: true });
    await device.publishAsync("v1/devices/me/telemetry", '{"n":1}', { qos: 1, properties: { topicAlias: 1 } });
    await device.publishAsync("v1/devices/me/telemetry", '{"n":2}', { qos: 1 }); // MQTT.js sends alias 1 and an empty topic
    await ctx.flows.uplink(DEVICE, "v1/devices/me/telemetry", (m) => m.payload === '{"n":1}');
    await ctx.flows.uplink(DEVICE, "v1/devices/me/telemetry", (m) => m.payload === '{"n":2}');
    assert.ok(device.connected);
  });

  it("disconnects (0x94) only the client that uses an alias over the maximum", async function () {
    ctx = await startEngine({ users: [USER] });
    ctx.cleanup = () => ctx.engine.close();
    const bystander = await connect(ctx.url, { ...V5, clientId: "bystander" });
    const raw = await rawClient(ctx.port, { protocolVersion: 5 });
    await raw.login({ username: "u", password: Buffer.from("p"), clientId: "greedy" });
    raw.send({ cmd: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, dup: false, properties: { topicAlias: 11 } });
    assert.equal((await raw.next("disconnect")).reasonCode, 0x94);
    await raw.closedWithin();
    await bystander.publishAsync("t", "fine", { qos: 1 });
    assert.ok(bystander.connected);
    await bystander.endAsync();
  });
});
