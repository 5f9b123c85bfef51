"use strict";
// Self-hosted ThingSpeak, one MQTT device authorised for several channels (ThingSpeak's device
// dialog: one client id / username / password, a list of channels with Allow Publish / Allow
// Subscribe). Hosted channels that give the same credentials are channels of one device.
// Real broker engine, plain MQTT.js clients with ONE credential, over loopback; no sleeps.
const assert = require("node:assert/strict");
const { hostThingSpeakChannel, hostedChannel, hostedEntries, hostedChannelsByCredentials } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { connectRefused } = require("../fixtures/engine.js");
const { waitFor, until } = require("../../support/wait.js");
const { BROKER_ID, WEATHER, GARDEN, SECRETS, hostedBroker, subackOf, received } = require("./fixtures.js");

const device = { clientId: WEATHER.clientId, username: WEATHER.username, password: WEATHER.password };
/** Channels of WEATHER's device: both ways, publish only, subscribe only. */
const SHED = { id: "c0ffee0000000003", channelId: 3003, name: "Shed", ...device, updateIntervalMs: 0 };
const LOG = { id: "c0ffee0000000004", channelId: 4004, name: "Log", ...device, updateIntervalMs: 0, allowSubscribe: false };
const DISPLAY = { id: "c0ffee0000000005", channelId: 5005, name: "Display", ...device, updateIntervalMs: 0, allowPublish: false };

describe("self-hosted ThingSpeak: one MQTT device, several channels", function () {
  let ctx;
  afterEach(async function () {
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  it("one credential publishes to and subscribes on each of its channels as their flags allow; refused elsewhere", async function () {
    ctx = await hostedBroker({ channels: [WEATHER, SHED, LOG, DISPLAY, GARDEN] });
    const dev = await ctx.device(WEATHER);
    assert.equal(ctx.engine.connectedClients, 1);
    const [info] = ctx.engine.clients();
    assert.equal(info.identity.deviceId, WEATHER.id, "events name the device's first channel");
    for (const c of [WEATHER, SHED, LOG, DISPLAY]) assert.equal(hostedChannel(c.id).connected, true, `${c.name} has its device`);
    assert.equal(hostedChannel(GARDEN.id).connected, false);

    const granted = await subackOf(dev, [
      "channels/1001/subscribe",
      "channels/3003/subscribe",
      "channels/3003/subscribe/fields/+",
      "channels/4004/subscribe",
      "channels/5005/subscribe",
      "channels/5005/subscribe/fields/field1",
      "channels/2002/subscribe",
    ]);
    assert.deepEqual(granted, [0, 0, 0, 128, 0, 0, 128], "Allow Subscribe off on Log; Garden is another device's");

    // Device -> channels: each publish becomes an entry of the channel it names.
    dev.publish("channels/1001/publish", "field1=10");
    dev.publish("channels/3003/publish", "field1=30&field2=31");
    dev.publish("channels/4004/publish/fields/field1", "40");
    dev.publish("channels/5005/publish", "field1=50");
    dev.publish("channels/2002/publish", "field1=20");
    assert.equal((await ctx.entry(WEATHER)).field1, "10");
    assert.equal((await ctx.entry(SHED)).field2, "31");
    assert.equal((await ctx.entry(LOG)).field1, "40");
    assert.deepEqual(JSON.parse((await received(dev.box, "channels/1001/subscribe"))[0].payload).field1, "10");
    assert.deepEqual((await received(dev.box, "channels/3003/subscribe/fields/field2"))[0].payload, "31");
    await until(() => ctx.events.filter((e) => e.event === "publish-refused").length === 2, 5000, "two refusals");
    assert.deepEqual(ctx.events.filter((e) => e.event === "publish-refused").map((e) => e.topic), ["channels/5005/publish", "channels/2002/publish"]);
    assert.deepEqual([hostedEntries(DISPLAY.id), hostedEntries(GARDEN.id)], [[], []]);
    assert.ok(dev.connected, "a refused publish does not cost the device its other channels");

    // Flows -> device, on each channel it may subscribe to.
    assert.equal((await ctx.handles.get(DISPLAY.id).send({ fields: { 1: "shown" } })).ok, true);
    assert.equal((await ctx.handles.get(SHED.id).send({ fields: { 1: "32" } })).ok, true);
    assert.equal((await ctx.handles.get(LOG.id).send({ fields: { 1: "41" } })).ok, true);
    assert.equal((await received(dev.box, "channels/5005/subscribe/fields/field1"))[0].payload, "shown");
    assert.equal(JSON.parse((await received(dev.box, "channels/3003/subscribe", 2))[1].payload).field1, "32");
    assert.ok(!dev.box.messages.some((m) => m.topic.startsWith("channels/4004/")), "nothing of a channel it may not subscribe to");

    // MQTT 5 says why a publish was refused.
    const v5 = await ctx.device(WEATHER, { protocolVersion: 5 });
    await assert.rejects(v5.publishAsync("channels/5005/publish", "field1=1", { qos: 1 }), (err) => err.code === 0x87);
    await v5.publishAsync("channels/3003/publish", "field1=33", { qos: 1 });
    assert.equal((await ctx.entry(SHED, 2)).field1, "33");
    assert.ok(!JSON.stringify(ctx.events).includes(WEATHER.password));
  });

  it("refuses half-equal credentials at hosting, lists a device's channels, checks the flags", async function () {
    ctx = await hostedBroker({ channels: [WEATHER, SHED] });
    const warnings = [];
    const bad = [
      { ...LOG, password: "AnotherPasswordAAAAAAAAA" },
      { ...LOG, clientId: "AnotherClientIdAAAAAAAAA" },
      { ...LOG, username: "AnotherUsernameAAAAAAAAA" },
      { ...LOG, allowPublish: "yes" },
    ];
    for (const channel of bad) hostThingSpeakChannel(BROKER_ID, channel, (e) => warnings.push(e.message))();
    assert.equal(warnings.length, bad.length);
    assert.match(warnings[0], /"Log" is not hosted: "Weather" uses the same MQTT username with another client id or password/);
    assert.match(warnings[1], /"Weather" uses the same MQTT username with another client id or password/);
    assert.match(warnings[2], /"Weather" uses the same MQTT client id with another username/);
    assert.match(warnings[3], /allowPublish must be true or false/);
    for (const w of warnings) for (const s of SECRETS) assert.ok(!w.includes(s));
    assert.deepEqual(hostedChannelsByCredentials(device.clientId, device.username, device.password).map((v) => v.name), ["Weather", "Shed"]);
    assert.deepEqual(hostedChannelsByCredentials(device.clientId, device.username, "wrong"), []);
    // A refused login names every channel of the device (never a secret).
    assert.equal((await connectRefused(ctx.url, { ...device, password: "wrong-password" })).code, 5);
    const refused = ctx.events.find((e) => e.event === "auth-refused");
    assert.match(refused.reason, /^not authorized for hosted ThingSpeak channel "Weather", "Shed": wrong password$/);
  });

  it("a channel hosted while the device is connected is its at once; unhosting one reconnects the device to the rest", async function () {
    ctx = await hostedBroker({ channels: [WEATHER] });
    const dev = await ctx.device(WEATHER);
    ctx.host(SHED);
    await until(() => hostedChannel(SHED.id)?.connected === true, 5000, "Shed to see its device");
    assert.deepEqual(await subackOf(dev, ["channels/3003/subscribe"]), [0]);
    dev.publish("channels/3003/publish", "field1=1");
    assert.equal(JSON.parse((await received(dev.box, "channels/3003/subscribe"))[0].payload).field1, "1");

    const closed = waitFor(dev, "close");
    ctx.unhost.get(SHED.id)();
    await closed;
    const again = await ctx.device(WEATHER);
    assert.deepEqual(await subackOf(again, ["channels/1001/subscribe", "channels/3003/subscribe"]), [0, 128]);
    assert.equal(hostedChannel(WEATHER.id).connected, true);
    ctx.unhost.get(WEATHER.id)();
    await waitFor(again, "close");
    assert.equal((await connectRefused(ctx.url, device)).code, 4, "no channel left: an unknown user");
  });
});
