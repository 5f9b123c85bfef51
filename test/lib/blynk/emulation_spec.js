"use strict";
// Self-hosted Blynk over loopback: the real broker engine, hosted devices registered through the
// broker registry, and plain MQTT.js clients speaking Blynk's documented device topics.
const assert = require("node:assert/strict");
const { brokers, BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");
const { hostBlynkDevice, hostedTopics } = require("../../../dist/nodes/lib/blynk/emulation.js");
const { connect, connectRefused, inbox, startEngine } = require("../fixtures/engine.js");
const { waitFor, until, untilStatus } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker, spy, subackOf } = require("./fixtures.js");

const ALPHA = { id: "a1b2c3d4e5f60718", token: TOKENS.alpha, name: "Alpha", timeZone: "Europe/Berlin", templateId: "TMPL0001" };
const BETA = { id: "b1b2c3d4e5f60718", token: TOKENS.beta, name: "Beta" };
const up = (d, t) => hostedTopics.up(d.id) + t;
const down = (d, t) => hostedTopics.down(d.id) + t;

describe("self-hosted Blynk: broker emulation", function () {
  let ctx;

  afterEach(async function () {
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  /** Every token must stay out of events, topics and warnings. */
  function assertNoToken(...texts) {
    const all = JSON.stringify(texts);
    for (const token of Object.values(TOKENS)) assert.ok(!all.includes(token), "a token leaked");
  }

  describe("who a connection is", function () {
    for (const protocolVersion of [4, 5]) {
      it(`accepts username "device" + a hosted token as that device (MQTT ${protocolVersion === 4 ? "3.1.1" : "5"}, empty client id)`, async function () {
        ctx = await hostedBroker({ devices: [ALPHA] });
        const flows = await spy(ctx.engine);
        const handle = ctx.handles.get(ALPHA.id);
        const told = waitFor(handle, "info");
        const online = waitFor(handle, "online", (s) => s.online);
        const dev = await ctx.device(ALPHA.token, { protocolVersion });
        const [info] = ctx.engine.clients();
        assert.equal(info.identity.kind, "device");
        assert.equal(info.identity.plugin, "blynk");
        assert.equal(info.identity.deviceId, ALPHA.id);
        await dev.subscribeAsync("downlink/#");
        await dev.publishAsync("info/mcu", JSON.stringify({ tmpl: "TMPL0001", ver: "1.0.0", build: "Jan 19 2024 12:25:30", rxbuff: 1024 }), { qos: 1 });
        await dev.publishAsync("ds/Temp", "21.5", { qos: 1 });
        assert.equal((await flows.next(up(ALPHA, "ds/Temp"))).payload, "21.5");
        const stored = await told;
        assert.deepEqual(stored, { tmpl: "TMPL0001", ver: "1.0.0", build: "Jan 19 2024 12:25:30", rxbuff: 1024 });
        assert.equal((await online).protocolVersion, protocolVersion);
        assert.deepEqual(ctx.state(ALPHA.id).info, stored);
        assert.equal(ctx.state(ALPHA.id).online, true);
        assert.ok(ctx.events.some((e) => e.event === "client-connected" && e.plugin === "blynk" && e.deviceId === ALPHA.id));
        assertNoToken(ctx.events, flows.messages, ctx.warnings, ctx.uplinks.get(ALPHA.id));
      });
    }

    it("refuses username device with an unknown token with CONNACK 4 (v5: 0x86), naming no token", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const wrong = "WrongTok_0123456789abcdefghijkl";
      assert.equal((await connectRefused(ctx.url, { username: "device", password: wrong, clientId: "" })).code, 4);
      assert.equal((await connectRefused(ctx.url, { username: "device", clientId: "" })).code, 4);
      assert.equal((await connectRefused(ctx.url, { username: "device", password: wrong, protocolVersion: 5 })).code, 0x86);
      const refused = ctx.events.filter((e) => e.event === "auth-refused");
      assert.equal(refused.length, 3);
      assert.match(refused[0].reason, /no hosted Blynk device has the token/);
      assert.ok(!JSON.stringify(ctx.events).includes(wrong));
    });

    it("leaves other usernames to generic users and anonymous access", async function () {
      const users = [{ username: "dash", password: "dash-pass-1", publish: ["x/#"], subscribe: ["x/#"] }];
      ctx = await hostedBroker({ devices: [ALPHA], users });
      const dash = await connect(ctx.url, { username: "dash", password: "dash-pass-1" });
      ctx.clients.push(dash);
      await until(() => ctx.engine.clients().length === 1);
      assert.equal(ctx.engine.clients()[0].identity.kind, "user");
      // A token under another username is not a Blynk login.
      assert.equal((await connectRefused(ctx.url, { username: "other", password: ALPHA.token })).code, 4);
      assert.equal((await connectRefused(ctx.url, { clientId: "" })).code, 5);
      assert.match(ctx.events.find((e) => e.event === "auth-refused").reason, /^unknown user \(/);
    });

    it("lets a second connection with the same token replace the first (online stays true, a warning says so)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const first = await ctx.device(ALPHA.token);
      await first.subscribeAsync("downlink/#");
      const firstClosed = waitFor(first, "close");
      const second = await ctx.device(ALPHA.token, { protocolVersion: 5 });
      await firstClosed;
      await until(() => ctx.events.some((e) => e.event === "client-disconnected" && e.deviceId === ALPHA.id));
      assert.ok(second.connected);
      assert.equal(ctx.engine.connectedClients, 1);
      const now = ctx.state(ALPHA.id);
      assert.equal(now.online, true);
      assert.equal(now.clientId, ctx.engine.clients()[0].clientId);
      assert.equal(now.protocolVersion, 5);
      assert.match(ctx.warnings.join("\n"), /"Alpha": a new connection .* replaced .*one connection per token/);
      // The survivor works: a flow's write reaches it.
      await second.subscribeAsync("downlink/#");
      const flows = await spy(ctx.engine);
      await flows.local.publish(down(ALPHA, "downlink/ds/Power"), "1");
      assert.equal((await second.box.next("downlink/ds/Power")).payload, "1");
      // And when it leaves, the device is offline.
      const offline = waitFor(ctx.handles.get(ALPHA.id), "online", (s) => s.online === false);
      await second.endAsync();
      await offline;
      assert.equal(ctx.state(ALPHA.id).online, false);
      assertNoToken(ctx.warnings, ctx.events);
    });

    it("accepts a token only on the broker that hosts its device (the directory spans every broker)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const other = await startEngine();
      brokers.attach("blynk-test-broker-2", other.engine);
      const stop = hostBlynkDevice("blynk-test-broker-2", BETA, (e) => ctx.warnings.push(e.message));
      try {
        assert.equal((await connectRefused(other.url, { username: "device", password: ALPHA.token, clientId: "" })).code, 4);
        assert.equal((await connectRefused(ctx.url, { username: "device", password: BETA.token, clientId: "" })).code, 4);
        const beta = await connect(other.url, { username: "device", password: BETA.token, clientId: "" });
        await beta.endAsync();
        await ctx.device(ALPHA.token);
        assert.equal(ctx.engine.clients()[0].identity.deviceId, ALPHA.id);
        // A token hosted on another broker is still a duplicate: one token, one device.
        ctx.host({ ...ALPHA, id: "c1b2c3d4e5f60718", name: "Gamma", token: BETA.token });
        assert.match(ctx.warnings.join("\n"), /"Gamma" is not hosted: "Beta" already uses the same token/);
      } finally {
        stop();
        brokers.detach("blynk-test-broker-2", other.engine);
        await other.engine.close();
      }
    });

    it("refuses a second hosted device with a token already hosted, and keeps the first", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      ctx.host({ ...BETA, token: ALPHA.token });
      assert.match(ctx.warnings.join("\n"), /"Beta" is not hosted: "Alpha" already uses the same token/);
      await ctx.device(ALPHA.token);
      assert.equal(ctx.engine.clients()[0].identity.deviceId, ALPHA.id);
      assertNoToken(ctx.warnings);
    });
  });

  describe("namespaces", function () {
    it("allows subscriptions only under downlink/ with at most a trailing # and no +", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      const granted = await subackOf(dev, ["downlink/#", "downlink/ds/Power", "downlink/ds/#", "+/x", "ds/#", "#", "downlink/+/Power", "downlink", "downlinks/#"]);
      assert.deepEqual(granted, [0, 0, 0, 128, 128, 128, 128, 128, 128]);
    });

    it("refuses publishes outside Blynk's uplink topics (3.1.1: dropped; 5: PUBACK 0x87)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const flows = await spy(ctx.engine);
      const v3 = await ctx.device(ALPHA.token);
      await v3.publishAsync("downlink/ds/Power", "1", { qos: 1 });
      await v3.publishAsync("foo/bar", "1", { qos: 1 });
      await v3.publishAsync("ds/Temp", "2", { qos: 1 });
      await flows.next(up(ALPHA, "ds/Temp"));
      assert.deepEqual(flows.messages.filter((m) => m.topic.includes("/up/")).map((m) => m.topic), [up(ALPHA, "ds/Temp")]);
      assert.deepEqual(ctx.events.filter((e) => e.event === "publish-refused").map((e) => e.topic), ["downlink/ds/Power", "foo/bar"]);
      await v3.endAsync();
      const v5 = await ctx.device(ALPHA.token, { protocolVersion: 5 });
      await assert.rejects(v5.publishAsync("sys/x", "1", { qos: 1 }), (err) => err.code === 0x87);
    });

    it("keeps each device's traffic private: no cross-device leakage, no own uplink back, nothing for generic clients", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, BETA], allowAnonymous: true });
      const flows = await spy(ctx.engine);
      const a = await ctx.device(ALPHA.token);
      const b = await ctx.device(BETA.token);
      const anon = await connect(ctx.url, { clientId: "" });
      ctx.clients.push(anon);
      const anonBox = inbox(anon);
      await Promise.all([a.subscribeAsync("downlink/#"), b.subscribeAsync("downlink/#"), anon.subscribeAsync("#")]);
      await a.publishAsync("ds/Temp", "21", { qos: 1 });
      await b.publishAsync("ds/Temp", "99", { qos: 1 });
      await flows.local.publish(down(BETA, "downlink/ds/Power"), "1");
      await flows.local.publish(down(ALPHA, "downlink/ds/Power"), "0");
      assert.equal((await b.box.next("downlink/ds/Power")).payload, "1");
      assert.equal((await a.box.next("downlink/ds/Power")).payload, "0");
      // A asks for its values: it gets its own, never B's.
      await a.publishAsync("get/ds", "Temp", { qos: 1 });
      assert.equal((await a.box.next("downlink/ds/Temp")).payload, "21");
      await flows.next(up(BETA, "ds/Temp"));
      // Markers last: everything before them has been delivered by then.
      await anon.publishAsync("public/marker", "m", { qos: 1 });
      await anonBox.next("public/marker");
      await flows.local.publish(down(ALPHA, "downlink/ds/Marker"), "m");
      await flows.local.publish(down(BETA, "downlink/ds/Marker"), "m");
      await a.box.next("downlink/ds/Marker");
      await b.box.next("downlink/ds/Marker");
      assert.deepEqual(a.box.messages.map((m) => `${m.topic}=${m.payload}`), ["downlink/ds/Power=0", "downlink/ds/Temp=21", "downlink/ds/Marker=m"]);
      assert.deepEqual(b.box.messages.map((m) => `${m.topic}=${m.payload}`), ["downlink/ds/Power=1", "downlink/ds/Marker=m"]);
      assert.deepEqual(anonBox.messages.map((m) => m.topic), ["public/marker"]);
      assert.deepEqual(
        flows.messages.filter((m) => m.topic.includes("/up/")).map((m) => `${m.topic}=${m.payload}`).sort(),
        [`${up(ALPHA, "ds/Temp")}=21`, `${up(ALPHA, "get/ds")}=Temp`, `${up(BETA, "ds/Temp")}=99`].sort(),
      );
    });
  });

  describe("what the cloud would answer", function () {
    it("lets properties, events, metadata and erases reach the flows under up/", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const flows = await spy(ctx.engine, `${hostedTopics.up(ALPHA.id)}#`);
      const dev = await ctx.device(ALPHA.token, { protocolVersion: 5 });
      const sent = [
        ["ds/Temp/prop/color", "#D3435C"],
        ["ds/Menu/prop/labels", "a\u0000b"],
        ["ds/Temp/prop/label/erase", ""],
        ["event/overheat", "Too hot: 80 C"],
        ["event/door_open", ""],
        ["meta/Hotspot Name", "Blynk Alpha"],
        ["ds/Temp/erase", ""],
      ];
      for (const [topic, payload] of sent) await dev.publishAsync(topic, payload, { qos: 1 });
      await flows.next(up(ALPHA, "ds/Temp/erase"));
      assert.deepEqual(
        flows.messages.map((m) => [m.topic, m.payload]),
        sent.map(([topic, payload]) => [up(ALPHA, topic), payload]),
      );
      // The device's handle (what a local-mode link follows) gets each of them, parsed once.
      await ctx.uplink(ALPHA.id, (u) => u.message.kind === "erase");
      assert.deepEqual(
        ctx.uplinks.get(ALPHA.id).map((u) => [u.source, u.message.kind, u.text]),
        [
          ["device", "property", "#D3435C"],
          ["device", "property", "a\u0000b"],
          ["device", "property-erase", ""],
          ["device", "event", ""],
          ["device", "event", ""],
          ["device", "meta", ""],
          ["device", "erase", ""],
        ],
      );
      assert.deepEqual(ctx.uplinks.get(ALPHA.id)[3].message, { kind: "event", code: "overheat", description: "Too hot: 80 C" });
    });


    it("answers get/ds and get/ds/all from the device's values, batches, timestamped data and flows' writes", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const flows = await spy(ctx.engine);
      const writer = await ctx.device(ALPHA.token);
      const now = Date.now();
      await writer.publishAsync("ds/Temp", "21.50", { qos: 1 });
      await writer.publishAsync("batch_ds", JSON.stringify({ Humidity: 40, Location: [13.4, 52.52], Mode: "eco", Power: true }), { qos: 1 });
      await writer.publishAsync("ds/Counter/timestamped_batch", JSON.stringify([[now - 2000, 1], [now - 1000, 3], [now - 3000, 2]]), { qos: 1 });
      await writer.publishAsync("ds/Set Point/timestamped_batch", JSON.stringify([[now - 1000, 22]]), { qos: 1 });
      await writer.publishAsync("ds/Set Point/timestamped_batch", JSON.stringify([[now - 5000, 18]]), { qos: 1 }); // older: kept out
      await writer.publishAsync("ds/Terminal", "a\u0000b", { qos: 1 });
      await flows.next(up(ALPHA, "ds/Terminal"));
      // A flow's write, as the local-mode link makes it: sent through the device's handle.
      await ctx.handles.get(ALPHA.id).send({ kind: "ds", datastream: "Light", text: "1" });
      await writer.endAsync();

      // Subscribe and ask at once, without waiting for the SUBACK: the answer must not be lost.
      const dev = await ctx.device(ALPHA.token);
      void dev.subscribe("downlink/#");
      void dev.publish("get/ds", "Temp, Humidity,Missing,Set Point");
      assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "21.50");
      assert.equal((await dev.box.next("downlink/ds/Set Point")).payload, "22");
      assert.deepEqual(dev.box.messages.map((m) => m.topic), ["downlink/ds/Temp", "downlink/ds/Humidity", "downlink/ds/Set Point"]);
      dev.box.messages.length = 0;
      await dev.publishAsync("get/ds/all", "", { qos: 1 });
      await dev.box.next("downlink/ds/Light");
      assert.deepEqual(Object.fromEntries(dev.box.messages.map((m) => [m.topic.slice("downlink/ds/".length), m.payload])), {
        Temp: "21.50",
        Humidity: "40",
        Location: "13.4\u000052.52",
        Mode: "eco",
        Power: "1",
        Counter: "3",
        "Set Point": "22",
        Terminal: "a\u0000b",
        Light: "1",
      });
    });

    it("holds answers until the asking connection subscribes", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.publishAsync("ds/Temp", "7", { qos: 1 });
      await dev.publishAsync("get/ds", "Temp", { qos: 1 });
      await dev.publishAsync("get/utc/all/json", "", { qos: 1 });
      await dev.subscribeAsync("downlink/ds/#");
      assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "7");
      // The utc answer waits for a subscription that covers it.
      assert.ok(!dev.box.messages.some((m) => m.topic === "downlink/utc/all/json"));
      await dev.subscribeAsync("downlink/utc/all/json");
      await dev.box.next("downlink/utc/all/json");
    });

    it("forgets erased values", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.subscribeAsync("downlink/#");
      await dev.publishAsync("ds/Temp", "7", { qos: 1 });
      await dev.publishAsync("ds/Marker", "m", { qos: 1 });
      await dev.publishAsync("ds/Temp/erase", "", { qos: 1 });
      await dev.publishAsync("get/ds", "Temp,Marker", { qos: 1 });
      await dev.box.next("downlink/ds/Marker");
      assert.deepEqual(dev.box.messages.map((m) => m.topic), ["downlink/ds/Marker"]);
    });

    it("answers get/utc/all/json from Node-RED's clock in the device's time zone (Time Zone metadata first)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, BETA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.subscribeAsync("downlink/#");
      const before = Date.now();
      await dev.publishAsync("get/utc/all/json", "", { qos: 1 });
      const utc = JSON.parse((await dev.box.next("downlink/utc/all/json")).payload);
      assert.equal(utc.tz_name, "Europe/Berlin");
      assert.equal(utc.tz_offset, 60);
      assert.ok(utc.time >= before && utc.time <= Date.now());
      assert.match(utc.tz_rule, /^CET-1CEST/);
      dev.box.messages.length = 0;
      await dev.publishAsync("meta/Time Zone", "America/New_York", { qos: 1 });
      await dev.publishAsync("get/utc/all/json", "", { qos: 1 });
      assert.equal(JSON.parse((await dev.box.next("downlink/utc/all/json")).payload).tz_name, "America/New_York");
      // No zone configured: the Node-RED host's.
      const beta = await ctx.device(BETA.token);
      await beta.subscribeAsync("downlink/#");
      await beta.publishAsync("get/utc/all/json", "", { qos: 1 });
      assert.equal(JSON.parse((await beta.box.next("downlink/utc/all/json")).payload).tz_name, Intl.DateTimeFormat().resolvedOptions().timeZone);
    });

    it("answers get/meta with what it knows, and nothing for unknown fields", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const flows = await spy(ctx.engine);
      const dev = await ctx.device(ALPHA.token);
      await dev.subscribeAsync("downlink/#");
      await dev.publishAsync("meta/Hotspot Name", "Blynk Alpha", { qos: 1 });
      // A bare in-process publish reaches the device but is not remembered (no link writes metadata).
      await flows.local.publish(down(ALPHA, "downlink/meta/Owner"), "Ada");
      await dev.box.next("downlink/meta/Owner");
      dev.box.messages.length = 0;
      await dev.publishAsync("get/meta", "Unknown,Hotspot Name,Owner,Time Zone", { qos: 1 });
      await dev.box.next("downlink/meta/Time Zone");
      assert.deepEqual(dev.box.messages.map((m) => `${m.topic}=${m.payload}`), [
        "downlink/meta/Hotspot Name=Blynk Alpha",
        "downlink/meta/Time Zone=Europe/Berlin",
      ]);
    });

    it("keeps info/mcu as the device's info and tells its handle of it and of online/offline", async function () {
      ctx = await hostedBroker();
      ctx.host(ALPHA);
      const handle = ctx.handles.get(ALPHA.id);
      const seen = [];
      handle.on("online", (s) => seen.push(s.online));
      await untilStatus(handle, (s) => s.state === "connected");
      assert.deepEqual(ctx.state(ALPHA.id), { online: false });
      const told = waitFor(handle, "info");
      const dev = await ctx.device(ALPHA.token);
      await dev.publishAsync("info/mcu", JSON.stringify({ tmpl: "TMPLother", ver: "2.0" }), { qos: 1 });
      assert.deepEqual(await told, { tmpl: "TMPLother", ver: "2.0" });
      assert.match(ctx.warnings.join("\n"), /template "TMPLother", but is configured with "TMPL0001"/);
      // A handle that comes later (an adopting link) reads it from the store.
      assert.deepEqual(ctx.state(ALPHA.id).info, { tmpl: "TMPLother", ver: "2.0" });
      assert.deepEqual(handle.store.get("info", "mcu").value, { tmpl: "TMPLother", ver: "2.0" });
      const offline = waitFor(handle, "online", (s) => !s.online);
      await dev.endAsync();
      await offline;
      // The first is the state the handle announced once the broker hosted the device.
      assert.deepEqual(seen, [false, true, false]);
      assert.equal(ctx.state(ALPHA.id).online, false);
    });
  });

  describe("robustness and limits", function () {
    it("drops malformed uplinks with a plugin-error naming device and topic; the device stays connected", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.subscribeAsync("downlink/#");
      const errors = [];
      ctx.engine.on("event", (e) => e.event === "plugin-error" && errors.push(e));
      await dev.publishAsync("batch_ds", "{not json", { qos: 1 });
      await dev.publishAsync("info/mcu", "[1,2]", { qos: 1 });
      await dev.publishAsync("ds/Temp/timestamped_batch", "[[1, 2, 3]]", { qos: 1 });
      await dev.publishAsync("get/ds", " , ", { qos: 1 });
      await until(() => errors.length === 4);
      assert.ok(errors.every((e) => e.plugin === "blynk" && e.hook === "published"));
      assert.match(errors[0].error, /dropped "batch_ds" from hosted Blynk device "Alpha": .*not valid JSON/);
      assert.match(errors[1].error, /dropped "info\/mcu"/);
      assert.match(errors[2].error, /dropped "ds\/Temp\/timestamped_batch"/);
      assert.ok(dev.connected);
      await dev.publishAsync("ds/Temp", "5", { qos: 1 });
      await dev.publishAsync("get/ds", "Temp", { qos: 1 });
      assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "5");
    });

    it("bounds the store: values over 1024 bytes and more than 1000 datastreams are not remembered", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.subscribeAsync("downlink/#");
      const errors = [];
      ctx.engine.on("event", (e) => e.event === "plugin-error" && errors.push(e.error));
      await dev.publishAsync("ds/Big", "x".repeat(1025), { qos: 1 });
      const many = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`d${i}`, i]));
      await dev.publishAsync("batch_ds", JSON.stringify(many), { qos: 1 });
      await until(() => errors.length === 2);
      assert.match(errors[0], /"Big" is 1025 bytes; accepted: at most 1024 bytes/);
      assert.match(errors[1], /"d1000" not stored: the device already has 1000 datastreams/);
      // Not remembered, but the flows still hear what the device sent.
      assert.equal((await ctx.uplink(ALPHA.id, (u) => u.message.datastream === "Big")).text, "x".repeat(1025));
      assert.equal(Object.keys((await ctx.uplink(ALPHA.id, (u) => u.message.kind === "batch")).message.values).length, 1001);
      await dev.publishAsync("get/ds", "Big,d999", { qos: 1 });
      await dev.box.next("downlink/ds/d999");
      assert.deepEqual(dev.box.messages.map((m) => m.topic), ["downlink/ds/d999"]);
    });

    it("unhosting disconnects the device, clears its state and store; hosting again starts empty", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.publishAsync("ds/Temp", "7", { qos: 1 });
      await until(() => ctx.state(ALPHA.id)?.online);
      const closed = waitFor(dev, "close");
      ctx.unhost.get(ALPHA.id)();
      await closed;
      assert.equal(ctx.state(ALPHA.id), undefined);
      assert.equal((await connectRefused(ctx.url, { username: "device", password: ALPHA.token, clientId: "" })).code, 4);
      ctx.host(ALPHA);
      const again = await ctx.device(ALPHA.token);
      await again.subscribeAsync("downlink/#");
      await again.publishAsync("get/ds/all", "", { qos: 1 });
      await again.publishAsync("get/utc/all/json", "", { qos: 1 });
      await again.box.next("downlink/utc/all/json");
      assert.deepEqual(again.box.messages.map((m) => m.topic), ["downlink/utc/all/json"]);
    });

    it("keeps hosting across a broker restart (a new engine under the same broker id)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      const closed = waitFor(dev, "close");
      brokers.detach(BROKER_ID, ctx.engine);
      await ctx.engine.close();
      await closed;
      assert.equal(ctx.state(ALPHA.id), undefined);
      const engine = await BrokerEngine.create({});
      engine.on("event", (e) => ctx.events.push(e));
      const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
      ctx.engine = engine;
      ctx.url = `mqtt://127.0.0.1:${info.port}`;
      brokers.attach(BROKER_ID, engine);
      const again = await ctx.device(ALPHA.token);
      await again.subscribeAsync("downlink/#");
      await again.publishAsync("ds/Temp", "8", { qos: 1 });
      await again.publishAsync("get/ds", "Temp", { qos: 1 });
      assert.equal((await again.box.next("downlink/ds/Temp")).payload, "8");
      assert.equal(ctx.state(ALPHA.id).online, true);
    });

    it("reports a device object it cannot host instead of throwing", async function () {
      ctx = await hostedBroker();
      const stops = [
        hostBlynkDevice(BROKER_ID, { id: "bad/id", token: "t", name: "X" }, (e) => ctx.warnings.push(e.message)),
        hostBlynkDevice(BROKER_ID, { id: "ok1", token: "", name: "NoToken" }, (e) => ctx.warnings.push(e.message)),
      ];
      stops.forEach((stop) => stop());
      assert.equal(ctx.warnings.length, 2);
      assert.match(ctx.warnings[0], /device id "bad\/id" must .* contain none of/);
      assert.match(ctx.warnings[1], /"NoToken" has no token/);
    });
  });
});
