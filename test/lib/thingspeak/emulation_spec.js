"use strict";
// Self-hosted ThingSpeak over loopback: the real broker engine, hosted channels registered
// through the broker registry on an injected clock, and plain MQTT.js clients speaking
// ThingSpeak's documented device topics (mqtt3.thingspeak.com).
const assert = require("node:assert/strict");
const { brokers, BrokerEngine, MemoryDeviceStore } = require("../../../dist/nodes/lib/broker/index.js");
const { hostThingSpeakChannel, hostedTopics, hostedChannel, hostedEntries, hostedByCredentials } = require("../../../dist/nodes/lib/thingspeak/emulation.js");
const { connect, connectRefused, inbox } = require("../fixtures/engine.js");
const { waitFor, until, untilStatus } = require("../../support/wait.js");
const { BROKER_ID, T0, WEATHER, GARDEN, SECRETS, hostedBroker, spy, subackOf, entry, at, received } = require("./fixtures.js");

describe("self-hosted ThingSpeak: broker emulation", function () {
  let ctx;

  afterEach(async function () {
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  /** No password or API key may show up in events, topics, payloads or warnings. */
  function assertNoSecret(...texts) {
    const all = JSON.stringify(texts);
    for (const secret of SECRETS) assert.ok(!all.includes(secret), "a secret leaked");
  }

  describe("who a connection is", function () {
    for (const protocolVersion of [4, 5]) {
      it(`accepts a channel's MQTT device credentials as its device (MQTT ${protocolVersion === 4 ? "3.1.1" : "5"})`, async function () {
        ctx = await hostedBroker({ channels: [WEATHER] });
        assert.equal(hostedChannel(WEATHER.id).connected, false);
        await ctx.device(WEATHER, { protocolVersion });
        const [info] = ctx.engine.clients();
        assert.equal(info.identity.kind, "device");
        assert.equal(info.identity.plugin, "thingspeak");
        assert.equal(info.identity.deviceId, WEATHER.id);
        assert.deepEqual(hostedChannel(WEATHER.id), {
          id: WEATHER.id, channelId: 1001, name: "Weather", brokerId: BROKER_ID, running: true, connected: true, lastEntryId: null,
        });
        assert.ok(ctx.events.some((e) => e.event === "client-connected" && e.plugin === "thingspeak" && e.deviceId === WEATHER.id));
        assertNoSecret(ctx.events);
      });
    }

    it("refuses a known username with a wrong password or client id with CONNACK 5 (v5: 0x87); unknown usernames get 4", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const creds = { clientId: WEATHER.clientId, username: WEATHER.username, password: WEATHER.password };
      assert.equal((await connectRefused(ctx.url, { ...creds, password: "wrong-password" })).code, 5);
      assert.equal((await connectRefused(ctx.url, { ...creds, clientId: "someone-else" })).code, 5);
      assert.equal((await connectRefused(ctx.url, { ...creds, password: undefined })).code, 5);
      assert.equal((await connectRefused(ctx.url, { ...creds, clientId: "" })).code, 5);
      assert.equal((await connectRefused(ctx.url, { ...creds, password: "wrong-password", protocolVersion: 5 })).code, 0x87);
      assert.equal((await connectRefused(ctx.url, { ...creds, username: "nobody" })).code, 4);
      const reasons = ctx.events.filter((e) => e.event === "auth-refused").map((e) => e.reason);
      assert.equal(reasons.length, 6);
      assert.match(reasons[0], /^not authorized for hosted ThingSpeak channel "Weather": wrong password$/);
      assert.match(reasons[1], /client id "someone-else" is not the one of these MQTT device credentials/);
      assert.match(reasons[2], /no password given/);
      assert.match(reasons[3], /client id ".*" is not the one/);
      assert.match(reasons[5], /^unknown user \(/);
      assert.ok(!JSON.stringify(ctx.events).includes("wrong-password"));
      assertNoSecret(ctx.events);
    });

    it("lets a second connection with the same credentials take over (MQTT client id rule): the newest one stays", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const first = await ctx.device(WEATHER);
      await first.subscribeAsync("channels/1001/subscribe");
      const firstClosed = waitFor(first, "close");
      const second = await ctx.device(WEATHER, { protocolVersion: 5 });
      await firstClosed;
      await until(() => ctx.events.some((e) => e.event === "client-disconnected" && e.deviceId === WEATHER.id));
      assert.ok(second.connected);
      assert.equal(ctx.engine.connectedClients, 1);
      assert.equal(hostedChannel(WEATHER.id).connected, true);
      await second.subscribeAsync("channels/1001/subscribe");
      second.publish("channels/1001/publish", "field1=1");
      assert.equal(JSON.parse((await second.box.next("channels/1001/subscribe")).payload).entry_id, 1);
    });

    it("reports channels it cannot host instead of throwing, and hosts none of them", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const warnings = [];
      const bad = [
        { ...GARDEN, channelId: 1001 },
        { ...GARDEN, username: WEATHER.username },
        { ...GARDEN, writeKey: WEATHER.writeKey },
        { ...WEATHER, name: "Weather again" },
        { ...GARDEN, id: "bad/id" },
        { ...GARDEN, password: "" },
        { ...GARDEN, storeLimit: 0 },
        { ...GARDEN, channelId: "x" },
        { ...GARDEN, updateIntervalMs: -1 },
      ];
      for (const channel of bad) hostThingSpeakChannel(BROKER_ID, channel, (e) => warnings.push(e.message))();
      assert.equal(warnings.length, bad.length);
      assert.match(warnings[0], /"Garden" is not hosted: "Weather" has channel id 1001 too/);
      assert.match(warnings[1], /"Weather" uses the same MQTT username/);
      assert.match(warnings[2], /"Weather" uses the same write API key/);
      assert.match(warnings[3], /"Weather again" is not hosted: "Weather" is hosted already/);
      assert.match(warnings[4], /device id "bad\/id" must .* contain none of/);
      assert.match(warnings[5], /"Garden" has no MQTT password/);
      assert.match(warnings[6], /store limit/);
      assert.match(warnings[7], /channel id/);
      assert.match(warnings[8], /update interval/);
      assert.equal(hostedChannel(GARDEN.id), undefined);
      assert.equal(hostedChannel(WEATHER.id).name, "Weather");
      assertNoSecret(warnings);
    });

    it("finds a hosted channel by its exact MQTT device credentials", async function () {
      ctx = await hostedBroker({ channels: [WEATHER, GARDEN] });
      assert.equal(hostedByCredentials(GARDEN.clientId, GARDEN.username, GARDEN.password).id, GARDEN.id);
      assert.equal(hostedByCredentials(GARDEN.clientId, GARDEN.username, "wrong"), undefined);
      assert.equal(hostedByCredentials("other", GARDEN.username, GARDEN.password), undefined);
      assert.equal(hostedByCredentials(GARDEN.clientId, "nobody", GARDEN.password), undefined);
    });
  });

  describe("channel feed over MQTT", function () {
    it("takes the documented mosquitto_pub form and sends subscribers ThingSpeak's JSON entry", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const flows = await spy(ctx.engine);
      // mosquitto_pub -h <nodered> -p <port> -i <clientId> -u <username> -P <password> -t channels/1001/publish -m "..."
      const dev = await ctx.device(WEATHER);
      await dev.subscribeAsync("channels/1001/subscribe");
      dev.publish("channels/1001/publish", "field1=45&field2=60&status=MQTTPUBLISH"); // QoS 0, as mosquitto_pub sends it
      const got = await dev.box.next("channels/1001/subscribe");
      const expected = entry(1001, 1, "2024-01-19T12:25:30Z", { field1: "45", field2: "60", status: "MQTTPUBLISH" });
      assert.equal(got.payload, JSON.stringify(expected));
      assert.equal(got.qos, 0);
      assert.equal(got.retain, false);
      // Flows get the entry (parsed, from the handle) and see the raw publish; the store keeps it.
      assert.deepEqual(await ctx.entry(WEATHER), expected);
      assert.equal((await flows.nth(`${hostedTopics.up(WEATHER.id)}channels/1001/publish`)).payload, "field1=45&field2=60&status=MQTTPUBLISH");
      assert.deepEqual(hostedEntries(WEATHER.id), [expected]);
      assert.equal(hostedChannel(WEATHER.id).lastEntryId, 1);
      assertNoSecret(ctx.events, flows.messages, ctx.warnings);
    });

    it("stores the publish of a client that connects, publishes at QoS 0 and leaves at once (mosquitto_pub)", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const pub = await ctx.device(WEATHER);
      pub.publish("channels/1001/publish", "field1=45&field2=60&status=MQTTPUBLISH");
      await pub.endAsync();
      assert.equal((await ctx.entry(WEATHER)).status, "MQTTPUBLISH");
    });

    it("delivers field values on subscribe/fields/fieldN and /+, takes publish/fields/fieldN, numbers entries and dates them", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const dev = await ctx.device(WEATHER);
      assert.deepEqual(await subackOf(dev, ["channels/1001/subscribe/fields/+"]), [0]);
      dev.publish("channels/1001/publish", "field1=21.5&field2=40&status=ok");
      await received(dev.box, "channels/1001/subscribe/fields/field2");
      // Only the fields the entry has: no message for empty fields or the status.
      assert.deepEqual(dev.box.messages.map((m) => `${m.topic}=${m.payload}`), ["channels/1001/subscribe/fields/field1=21.5", "channels/1001/subscribe/fields/field2=40"]);

      await dev.unsubscribeAsync("channels/1001/subscribe/fields/+");
      dev.box.messages.length = 0;
      await dev.subscribeAsync(["channels/1001/subscribe", "channels/1001/subscribe/fields/field1"]);
      ctx.clock.advance(15_000);
      dev.publish("channels/1001/publish/fields/field2", "41.25");
      const [second] = await received(dev.box, "channels/1001/subscribe");
      assert.deepEqual(JSON.parse(second.payload), entry(1001, 2, at(T0 + 15_000), { field2: "41.25" }));
      ctx.clock.advance(15_000);
      dev.publish("channels/1001/publish", "field1=19&created_at=2024-01-01T08:00:00%2B01:00&field9=ignored&twitter=x");
      const [, third] = await received(dev.box, "channels/1001/subscribe", 2);
      assert.deepEqual(JSON.parse(third.payload), entry(1001, 3, "2024-01-01T07:00:00Z", { field1: "19" }));
      await received(dev.box, "channels/1001/subscribe/fields/field1");
      // field1 only: the field2-only entry sent nothing on subscribe/fields/field1.
      assert.deepEqual(dev.box.messages.filter((m) => m.topic.includes("/fields/")).map((m) => m.payload), ["19"]);
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => e.entry_id), [1, 2, 3]);
    });

    it("drops updates within the update interval (a plugin-error says when the next is accepted) and numbers on without a gap", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1");
      await ctx.entry(WEATHER);
      ctx.clock.advance(14_999);
      dev.publish("channels/1001/publish", "field1=2");
      await until(() => ctx.pluginErrors().length === 1);
      assert.match(
        ctx.pluginErrors()[0],
        /^dropped "channels\/1001\/publish" from the device of hosted ThingSpeak channel "Weather" \(rate-limited\): over the channel's update interval of 15000 ms: the next update is accepted in 1 ms$/,
      );
      assert.ok(ctx.events.some((e) => e.event === "plugin-error" && e.plugin === "thingspeak" && e.hook === "published"));
      ctx.clock.advance(1);
      dev.publish("channels/1001/publish", "field1=3");
      const second = (await ctx.entry(WEATHER, 2));
      assert.equal(second.entry_id, 2);
      // A clock set back does not lock the channel for that long.
      ctx.clock.advance(-3_600_000);
      dev.publish("channels/1001/publish", "field1=4");
      await ctx.entry(WEATHER, 3);
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => e.field1), ["1", "3", "4"]);
      assert.ok(dev.connected);
    });

    it("accepts QoS 1 publishes (acknowledged, stored) and delivers entries at QoS 0", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const dev = await ctx.device(WEATHER);
      await dev.subscribeAsync("channels/1001/subscribe", { qos: 1 });
      await dev.publishAsync("channels/1001/publish", "field1=7", { qos: 1 });
      const got = await dev.box.next("channels/1001/subscribe");
      assert.equal(got.qos, 0);
      assert.equal(JSON.parse(got.payload).field1, "7");
    });

    it("bounds the store (oldest dropped) and answers in-process entry queries", async function () {
      const small = { ...GARDEN, updateIntervalMs: 0, storeLimit: 3 };
      ctx = await hostedBroker({ channels: [small] });
      const dev = await ctx.device(small);
      for (let i = 1; i <= 5; i++) {
        dev.publish("channels/2002/publish", `field1=${i}`);
        await ctx.entry(small, i);
        ctx.clock.advance(60_000);
      }
      assert.deepEqual(hostedEntries(small.id).map((e) => [e.entry_id, e.field1, e.created_at]), [
        [3, "3", at(T0 + 120_000)],
        [4, "4", at(T0 + 180_000)],
        [5, "5", at(T0 + 240_000)],
      ]);
      assert.equal(hostedChannel(small.id).lastEntryId, 5);
      assert.deepEqual(hostedEntries(small.id, { afterEntryId: 3 }).map((e) => e.entry_id), [4, 5]);
      assert.deepEqual(hostedEntries(small.id, { results: 1 }).map((e) => e.entry_id), [5]);
      assert.deepEqual(hostedEntries(small.id, { start: at(T0 + 180_000), end: new Date(T0 + 180_000) }).map((e) => e.entry_id), [4]);
      // The clock is at T0 + 300 s: the last 2 minutes start at T0 + 180 s (inclusive), the last one at T0 + 240 s.
      assert.deepEqual(hostedEntries(small.id, { minutes: 2 }).map((e) => e.entry_id), [4, 5]);
      assert.deepEqual(hostedEntries(small.id, { minutes: 1 }).map((e) => e.entry_id), [5]);
      assert.equal(hostedEntries("not-hosted"), undefined);
      // The feed lives in the engine's DeviceStore, keyed by entry id (what the link reads through its handle).
      const store = ctx.handles.get(small.id).store;
      assert.equal(store, ctx.engine.deviceStores.open("thingspeak", small.id));
      assert.deepEqual(store.entries("feed").map(([id, v]) => [id, v.value.field1]), [["3", "3"], ["4", "4"], ["5", "5"]]);
      assert.equal(store.get("channel", "lastEntryId").value, 5);
    });

    it("drops malformed and empty updates with a plugin-error naming channel and reason; the device stays connected", async function () {
      ctx = await hostedBroker({ channels: [{ ...WEATHER, updateIntervalMs: 0 }] });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "lat=123&field1=1");
      dev.publish("channels/1001/publish", "");
      dev.publish("channels/1001/publish", "created_at=2024-01-01T00:00:00Z");
      dev.publish("channels/1001/publish/fields/field1", "");
      dev.publish("channels/1001/publish/fields/field1", "x".repeat(3001));
      dev.publish("channels/1001/publish", Buffer.from("field1=\xff", "latin1"));
      dev.publish("channels/1001/publish", "field1=%FF");
      dev.publish("channels/1001/publish", "created_at=yesterday&field1=1");
      await until(() => ctx.pluginErrors().length === 8);
      const errors = ctx.pluginErrors();
      assert.ok(errors.every((e) => e.startsWith('dropped "channels/1001/publish') && e.includes('hosted ThingSpeak channel "Weather"')));
      assert.match(errors[0], /\(invalid\): .*lat/);
      assert.match(errors[1], /\(no-action\): nothing to store/);
      assert.match(errors[2], /\(no-action\)/);
      assert.match(errors[3], /fields\/field1" .*\(no-action\)/);
      assert.match(errors[4], /\(too-large\): .*3001 bytes/);
      assert.match(errors[5], /\(invalid\): .*UTF-8/);
      assert.match(errors[6], /\(invalid\): .*UTF-8/);
      assert.match(errors[7], /\(invalid\): created_at/);
      assert.ok(dev.connected);
      dev.publish("channels/1001/publish", "field1=ok");
      assert.equal((await ctx.entry(WEATHER)).entry_id, 1);
    });

    it("refuses a created_at that is stored already (unique per channel)", async function () {
      ctx = await hostedBroker({ channels: [{ ...WEATHER, updateIntervalMs: 0 }] });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1&created_at=2024-01-19T10:00:00Z");
      dev.publish("channels/1001/publish", "field1=2&created_at=2024-01-19 10:00:00");
      dev.publish("channels/1001/publish", "field1=3&created_at=2024-01-19T10:00:01Z");
      await ctx.entry(WEATHER, 2);
      assert.match(ctx.pluginErrors()[0], /\(conflict\): an entry with created_at 2024-01-19T10:00:00Z is stored already/);
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => [e.entry_id, e.field1]), [[1, "1"], [2, "3"]]);
    });
  });

  describe("authorisation and isolation", function () {
    it("lets a device subscribe and publish only its own channel's ThingSpeak topics", async function () {
      ctx = await hostedBroker({ channels: [WEATHER, GARDEN] });
      const flows = await spy(ctx.engine);
      const dev = await ctx.device(WEATHER);
      const granted = await subackOf(dev, [
        "channels/1001/subscribe",
        "channels/1001/subscribe/fields/field8",
        "channels/1001/subscribe/fields/+",
        "channels/2002/subscribe",
        "channels/2002/subscribe/fields/+",
        "channels/1001/subscribe/#",
        "channels/+/subscribe",
        "#",
        "channels/1001/publish",
        "channels/1001/subscribe/fields/field9",
        "$iot/thingspeak/#",
      ]);
      assert.deepEqual(granted, [0, 0, 0, 128, 128, 128, 128, 128, 128, 128, 128]);
      dev.publish("channels/2002/publish", "field1=1");
      dev.publish("channels/2002/publish/fields/field1", "1");
      dev.publish("channels/1001/publish/fields/field9", "1");
      dev.publish("channels/1001/subscribe", "field1=1");
      dev.publish("foo/bar", "1");
      dev.publish("channels/1001/publish", "field1=mine");
      await ctx.entry(WEATHER);
      assert.deepEqual(
        ctx.events.filter((e) => e.event === "publish-refused").map((e) => e.topic),
        ["channels/2002/publish", "channels/2002/publish/fields/field1", "channels/1001/publish/fields/field9", "channels/1001/subscribe", "foo/bar"],
      );
      assert.deepEqual(hostedEntries(GARDEN.id), []);
      assert.deepEqual(flows.messages.filter((m) => m.topic.includes("/up/")).map((m) => m.topic), [`${hostedTopics.up(WEATHER.id)}channels/1001/publish`]);
      await dev.endAsync();
      const v5 = await ctx.device(WEATHER, { protocolVersion: 5 });
      await assert.rejects(v5.publishAsync("channels/2002/publish", "field1=1", { qos: 1 }), (err) => err.code === 0x87);
    });

    it("keeps channels apart: a device gets only its channel's entries, generic clients nothing", async function () {
      ctx = await hostedBroker({ channels: [WEATHER, GARDEN], allowAnonymous: true });
      const flows = await spy(ctx.engine);
      const a = await ctx.device(WEATHER);
      const b = await ctx.device(GARDEN);
      const anon = await connect(ctx.url, { clientId: "" });
      ctx.clients.push(anon);
      const anonBox = inbox(anon);
      await Promise.all([
        a.subscribeAsync(["channels/1001/subscribe", "channels/1001/subscribe/fields/+"]),
        b.subscribeAsync(["channels/2002/subscribe", "channels/2002/subscribe/fields/+"]),
        anon.subscribeAsync(["#", "channels/+/subscribe"]),
      ]);
      a.publish("channels/1001/publish", "field1=10");
      b.publish("channels/2002/publish", "field1=20");
      await received(a.box, "channels/1001/subscribe/fields/field1");
      await received(b.box, "channels/2002/subscribe/fields/field1");
      // Anonymous clients may use the same topic names: those are plain topics, not the channels.
      await anon.publishAsync("channels/1001/publish", "field1=99", { qos: 1 });
      await anon.publishAsync("public/marker", "m", { qos: 1 });
      await anonBox.next("public/marker");
      assert.deepEqual(a.box.messages.map((m) => `${m.topic}=${m.topic.endsWith("subscribe") ? JSON.parse(m.payload).field1 : m.payload}`), [
        "channels/1001/subscribe=10",
        "channels/1001/subscribe/fields/field1=10",
      ]);
      assert.deepEqual(b.box.messages.map((m) => m.topic), ["channels/2002/subscribe", "channels/2002/subscribe/fields/field1"]);
      assert.deepEqual(anonBox.messages.map((m) => m.topic), ["channels/1001/publish", "public/marker"]);
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => e.field1), ["10"]);
      assert.deepEqual(hostedEntries(GARDEN.id).map((e) => e.field1), ["20"]);
      assert.deepEqual(await ctx.entry(GARDEN), entry(2002, 1, at(T0), { field1: "20" }));
      assert.deepEqual(ctx.uplinks.get(WEATHER.id).map((e) => e.field1), ["10"], "each handle gets its own channel's entries only");
      assertNoSecret(flows.messages, ctx.events);
    });
  });

  describe("flows", function () {
    it("stores what the flows send through the handle as an entry for subscribers and the store, answers with it, and does not send it back", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const handle = ctx.handles.get(WEATHER.id);
      await untilStatus(handle, (s) => s.state === "connected");
      const dev = await ctx.device(WEATHER);
      await dev.subscribeAsync("channels/1001/subscribe");
      const expected = entry(1001, 1, at(T0), { field1: "22.5", status: "from a flow" });
      assert.deepEqual(await handle.send({ fields: { 1: 22.5 }, status: "from a flow" }), { ok: true, entry: expected });
      assert.deepEqual(JSON.parse((await dev.box.next("channels/1001/subscribe")).payload), expected);
      assert.deepEqual(hostedEntries(WEATHER.id), [expected]);

      // Devices and flows share the channel's interval; refusals say why and when to retry.
      ctx.clock.advance(5000);
      assert.deepEqual(await handle.send({ fields: { 1: "23" } }), { ok: false, code: "rate-limited", retryInMs: 10_000, message: "over the channel's update interval of 15000 ms: the next update is accepted in 10000 ms" });
      ctx.clock.advance(10_000);
      const results = [
        await handle.send({ fields: {}, lat: 123 }),
        await handle.send({ fields: {} }),
        await handle.send({ fields: { 1: "x".repeat(3001) } }),
        await handle.send({ fields: { 1: 24 } }),
      ];
      assert.deepEqual(results.map((r) => [r.ok, r.code]), [[false, "invalid"], [false, "no-action"], [false, "too-large"], [true, undefined]]);
      assert.match(results[0].message, /lat/);
      assert.equal(results[3].entry.entry_id, 2);
      const delivered = await received(dev.box, "channels/1001/subscribe", 2);
      assert.deepEqual(delivered.map((m) => JSON.parse(m.payload).field1), ["22.5", "24"]);
      assert.deepEqual(ctx.uplinks.get(WEATHER.id), [], "the flows do not get their own entries back");
    });

    it("delivers the entries of devices and REST clients to the handle, parsed once, in order", async function () {
      ctx = await hostedBroker({ channels: [{ ...WEATHER, updateIntervalMs: 0 }] });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1");
      await ctx.entry(WEATHER);
      await ctx.handles.get(WEATHER.id).send({ fields: { 1: 2 } });
      dev.publish("channels/1001/publish/fields/field2", "3");
      const third = await ctx.entry(WEATHER, 2);
      assert.deepEqual([third.entry_id, third.field1, third.field2], [3, null, "3"]);
      assert.deepEqual(ctx.uplinks.get(WEATHER.id).map((e) => e.entry_id), [1, 3]);
    });
  });

  describe("lifecycle", function () {
    it("keeps the feed across a broker restart: entry ids go on, devices reconnect", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1");
      await ctx.entry(WEATHER);
      const closed = waitFor(dev, "close");
      brokers.detach(BROKER_ID, ctx.engine);
      await ctx.engine.close();
      await closed;
      assert.deepEqual(hostedChannel(WEATHER.id), { id: WEATHER.id, channelId: 1001, name: "Weather", brokerId: BROKER_ID, running: false, connected: false, lastEntryId: 1 });
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => e.entry_id), [1]);
      const handle = ctx.handles.get(WEATHER.id);
      await assert.rejects(handle.send({ fields: { 1: 9 } }), (err) => err.code === "network");
      const engine = await BrokerEngine.create({});
      engine.on("event", (e) => ctx.events.push(e));
      const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
      ctx.engine = engine;
      ctx.url = `mqtt://127.0.0.1:${info.port}`;
      brokers.attach(BROKER_ID, engine);
      assert.equal(hostedChannel(WEATHER.id).running, true);
      await untilStatus(handle, (s) => s.state === "connected");
      // The update interval goes on too (the last update was at T0).
      assert.equal((await handle.send({ fields: { 1: 9 } })).code, "rate-limited");
      const again = await ctx.device(WEATHER);
      await again.subscribeAsync("channels/1001/subscribe");
      ctx.clock.advance(15_000);
      again.publish("channels/1001/publish", "field1=2");
      assert.equal(JSON.parse((await again.box.next("channels/1001/subscribe")).payload).entry_id, 2);
      assert.equal((await ctx.entry(WEATHER, 2)).entry_id, 2, "the handle follows the new engine");
    });

    it("takes the feed from a DeviceStore provider that keeps it (as a durable one would): entry ids and the interval go on", async function () {
      const kept = new Map();
      const deviceStores = {
        open: (plugin, id) => kept.get(`${plugin}/${id}`) ?? kept.set(`${plugin}/${id}`, new MemoryDeviceStore()).get(`${plugin}/${id}`),
        close: () => undefined,
      };
      ctx = await hostedBroker({ channels: [WEATHER], deviceStores });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1");
      await ctx.entry(WEATHER);
      ctx.unhost.get(WEATHER.id)();
      await until(() => !dev.connected);
      ctx.clock.advance(5000);
      ctx.host(WEATHER);
      const handle = ctx.handles.get(WEATHER.id);
      await untilStatus(handle, (s) => s.state === "connected");
      assert.deepEqual(hostedEntries(WEATHER.id).map((e) => e.field1), ["1"]);
      assert.equal((await handle.send({ fields: { 1: 2 } })).retryInMs, 10_000);
      ctx.clock.advance(10_000);
      assert.equal((await handle.send({ fields: { 1: 2 } })).entry.entry_id, 2);
    });

    it("unhosting disconnects the device and forgets the feed; hosting again starts empty", async function () {
      ctx = await hostedBroker({ channels: [WEATHER] });
      const dev = await ctx.device(WEATHER);
      dev.publish("channels/1001/publish", "field1=1");
      await ctx.entry(WEATHER);
      const closed = waitFor(dev, "close");
      ctx.unhost.get(WEATHER.id)();
      await closed;
      assert.equal(hostedChannel(WEATHER.id), undefined);
      assert.equal(hostedEntries(WEATHER.id), undefined);
      const creds = { clientId: WEATHER.clientId, username: WEATHER.username, password: WEATHER.password };
      assert.equal((await connectRefused(ctx.url, creds)).code, 4);
      ctx.host(WEATHER);
      const again = await ctx.device(WEATHER);
      await again.subscribeAsync("channels/1001/subscribe");
      again.publish("channels/1001/publish", "field1=2");
      assert.equal(JSON.parse((await again.box.next("channels/1001/subscribe")).payload).entry_id, 1);
    });
  });
});
