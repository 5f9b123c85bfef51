"use strict";
// The ThingSpeak link in local mode: Node-RED serves a channel hosted on our broker engine,
// talking to it in-process, while plain MQTT.js clients speak ThingSpeak's documented topics as
// the channel's device. The update interval runs on the channel's test clock.
const assert = require("node:assert/strict");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { createThingSpeakLink } = require("../../../dist/nodes/lib/thingspeak/link.js");
const { hostedChannel } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { connectRefused } = require("../fixtures/engine.js");
const { BROKER_ID, WEATHER, GARDEN, SECRETS, hostedBroker, received, subackOf } = require("./fixtures.js");
const { manualTimers, collect } = require("../../support/links.js");
const { untilStatus } = require("../../support/wait.js");

describe("ThingSpeak link, local mode (Node-RED serves a hosted channel)", function () {
  let ctx;
  const links = [];
  function link(channel, options = {}) {
    const time = manualTimers(ctx.clock);
    const { id, channelId, name, clientId, username, password, writeKey, readKey, updateIntervalMs } = channel;
    const l = createThingSpeakLink({
      connection: "local", broker: BROKER_ID, id, channelId, name, clientId, username, password, writeKey, readKey, updateIntervalMs,
      now: ctx.clock.now, timers: time.timers, ...options,
    });
    l.advance = time.advance;
    links.push(l);
    return l;
  }
  afterEach(async function () {
    await Promise.all(links.splice(0).map((l) => l.close()));
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  it("hosts the channel: a device's publishes become entries for the flow, the flow's writes reach the device", async function () {
    ctx = await hostedBroker();
    const l = link(WEATHER);
    const got = collect(l);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    assert.equal(hostedChannel(WEATHER.id).running, true);
    const dev = await ctx.device(WEATHER, { protocolVersion: 4 });
    await dev.subscribeAsync(["channels/1001/subscribe", "channels/1001/subscribe/fields/+"]);

    // The device, as mosquitto_pub -t channels/1001/publish -m "field1=45&field2=60&status=hi" would.
    await dev.publishAsync("channels/1001/publish", "field1=45&field2=60&status=hi", { qos: 0 });
    const entry = await got.next((m) => m.kind === "entry");
    assert.deepEqual([entry.entry.entry_id, entry.entry.field1, entry.entry.field2, entry.entry.status, entry.source], [1, "45", "60", "hi", "device"]);
    const f2 = await got.next((m) => m.kind === "field" && m.field === 2);
    assert.deepEqual([f2.text, f2.entry.entry_id], ["60", 1]);

    // The flow writes under the same interval as the device: it waits for its turn, then is stored.
    const write = l.write({ field1: 21.5, status: "from flow" });
    // Sent at once (the link had not written yet), refused by the channel, waiting for the retry.
    await untilStatus(l, (s) => s.pending?.writes === 1 && s.pending.nextInMs === 15000);
    await l.advance(15000);
    const receipt = await write;
    assert.deepEqual([receipt.entryId, receipt.entry.field1, receipt.entry.status], [2, "21.5", "from flow"]);
    const json = await received(dev.box, "channels/1001/subscribe", 2);
    assert.equal(JSON.parse(json[1].payload).field1, "21.5");
    assert.equal((await received(dev.box, "channels/1001/subscribe/fields/field1", 2))[1].payload, "21.5");
    assert.deepEqual(got.incoming.filter((m) => m.kind === "entry").map((m) => m.entry.entry_id), [1], "the flow does not hear its own write");

    assert.deepEqual((await l.readNew()).map((e) => e.entry_id), [2]);
    assert.deepEqual((await l.readNew(0, 2)).map((e) => e.entry_id), [1]);
    const texts = JSON.stringify([got, ctx.events]);
    for (const secret of SECRETS) assert.ok(!texts.includes(secret));
  });

  it("retries a write the channel refused for its interval (a device updated just before)", async function () {
    ctx = await hostedBroker();
    const l = link(WEATHER);
    const got = collect(l);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    const dev = await ctx.device(WEATHER);
    await dev.subscribeAsync("channels/1001/subscribe");
    await dev.publishAsync("channels/1001/publish", "field1=1");
    await got.next((m) => m.kind === "entry");
    ctx.clock.advance(5000);
    const write = l.write(2, 1);
    await untilStatus(l, (s) => s.pending?.nextInMs === 15000);
    assert.match(got.warnings[0], /retrying in 15 s .*rate-limited.*10000 ms/);
    await l.advance(15000);
    assert.equal((await write).entryId, 2);
  });

  it("refuses devices without the credentials or outside their channel, and follows the broker across a restart", async function () {
    ctx = await hostedBroker();
    const l = link(WEATHER);
    link(GARDEN).start();
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    assert.equal((await connectRefused(ctx.url, { clientId: WEATHER.clientId, username: WEATHER.username, password: "nope" })).code, 5);
    const garden = await ctx.device(GARDEN);
    assert.deepEqual(await subackOf(garden, ["channels/1001/subscribe"]), [128], "Garden's credentials cannot read Weather");

    const stopped = untilStatus(l, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    assert.match((await stopped).reason, /iot-broker/);
    const waiting = l.write(7, 3);
    await untilStatus(l, (s) => s.queued === 1);
    brokers.attach(BROKER_ID, ctx.engine);
    assert.equal((await waiting).entry.field3, "7");
  });

  it("sends a write still waiting for the interval when it is closed, if its turn comes within closeFlushMs", async function () {
    ctx = await hostedBroker();
    const l = link(WEATHER, { closeFlushMs: 20_000 });
    const got = collect(l);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    assert.equal((await l.write(1, 1)).entryId, 1);
    const second = l.write(2, 1);
    await untilStatus(l, (s) => s.pending?.nextInMs === 15000);
    const closing = l.close();
    await l.advance(15000);
    assert.equal((await second).entryId, 2);
    await closing;
    assert.deepEqual(got.warnings.filter((w) => /discarded/.test(w)), []);
  });

  it("reads the feed while the broker is stopped (the hosting keeps it, as the REST API serves it)", async function () {
    ctx = await hostedBroker();
    const l = link(WEATHER);
    const got = collect(l);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    const dev = await ctx.device(WEATHER);
    await dev.publishAsync("channels/1001/publish", "field1=45&field2=60");
    await got.next((m) => m.kind === "entry");
    const stopped = untilStatus(l, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    await stopped;
    assert.deepEqual((await l.readNew()).map((e) => [e.entry_id, e.field1]), [[1, "45"]]);
    assert.deepEqual((await l.readNew(0, 2)).map((e) => e.field2), ["60"]);
    brokers.attach(BROKER_ID, ctx.engine);
    await untilStatus(l, (s) => s.state === "connected");
  });

  it("says why a channel that cannot be hosted is not served: in its status, its warnings and its reads", async function () {
    ctx = await hostedBroker();
    const l = link(WEATHER);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    const copy = link({ ...GARDEN, channelId: WEATHER.channelId });
    const got = collect(copy);
    copy.start();
    assert.equal(copy.status.state, "disconnected");
    assert.match(copy.status.reason, /"Garden" is not hosted: "Weather" has channel id 1001 too/);
    assert.match(got.warnings[0], /"Garden" is not hosted/);
    await assert.rejects(copy.readNew(), (err) => err.code === "network" && /not hosted/.test(err.message));
    assert.equal(hostedChannel(GARDEN.id), undefined);
  });
});
