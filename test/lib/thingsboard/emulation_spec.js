"use strict";
// Self-hosted ThingsBoard over loopback: the real broker engine, hosted devices registered
// through the broker registry, plain MQTT.js clients speaking ThingsBoard's documented device
// topics, and an in-process client acting as the flow on the internal topics.
const assert = require("node:assert/strict");
const { brokers, BrokerEngine, deviceNamespace } = require("../../../dist/nodes/lib/broker/index.js");
const { hostThingsBoardDevice, hostThingsBoardDeviceHandle } = require("../../../dist/nodes/lib/thingsboard/emulation.js");
const { parseGatewayTelemetry } = require("../../../dist/nodes/lib/thingsboard/gateway-codec.js");
const { connect, connectRefused, inbox, startEngine } = require("../fixtures/engine.js");
const { latestTelemetry } = require("../../../dist/nodes/lib/thingsboard/hosted-state.js");
const { waitFor, until } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker, subackOf, up, assertNoToken } = require("./fixtures.js");

const ALPHA = { id: "a1b2c3d4e5f60718", name: "Alpha", token: TOKENS.alpha, gateway: false };
const BETA = { id: "b1b2c3d4e5f60718", name: "Beta", token: TOKENS.beta, gateway: false, basic: { clientId: "beta-client", username: "beta-user", password: "beta-pass" } };
const GATEWAY = { id: "c1b2c3d4e5f60718", name: "Gateway", token: TOKENS.gateway, gateway: true };
const ME = "v1/devices/me";
const json = (m) => JSON.parse(m.payload);

describe("self-hosted ThingsBoard: broker emulation", function () {
  let ctx;

  afterEach(async function () {
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  describe("who a connection is", function () {
    for (const protocolVersion of [4, 5]) {
      it(`accepts a hosted access token as username (MQTT ${protocolVersion === 4 ? "3.1.1" : "5"}, empty client id) and reports it online`, async function () {
        ctx = await hostedBroker({ devices: [ALPHA] });
        const dev = await ctx.device(ALPHA.token, { protocolVersion });
        const [info] = ctx.engine.clients();
        assert.deepEqual([info.identity.kind, info.identity.plugin, info.identity.deviceId, info.identity.username], ["device", "thingsboard", ALPHA.id, undefined]);
        await dev.publishAsync(`${ME}/telemetry`, '{"temperature":21.5}', { qos: 1 });
        assert.equal((await ctx.flows.uplink(ALPHA, `${ME}/telemetry`)).payload, '{"temperature":21.5}');
        const onlineNow = () => ctx.flows.onlines.find((o) => o.id === ALPHA.id && o.online);
        await until(onlineNow, 5000, "the device online");
        assert.equal(onlineNow().protocolVersion, protocolVersion);
        assertNoToken(assert, ctx.events, ctx.flows.messages, ctx.flows.onlines, ctx.warnings);
      });
    }

    it("accepts ThingsBoard's basic MQTT credentials (client id + username + password) and refuses a wrong password", async function () {
      const CLIENT_ONLY = { id: "d1b2c3d4e5f60718", name: "ClientOnly", token: "ClientOnlyTOKEN00000", gateway: false, basic: { clientId: "only-client-id" } };
      ctx = await hostedBroker({ devices: [BETA, CLIENT_ONLY] });
      await ctx.connect({ clientId: "beta-client", username: "beta-user", password: "beta-pass" });
      await ctx.connect({ clientId: "only-client-id" });
      assert.deepEqual(ctx.engine.clients().map((c) => c.identity.deviceId).sort(), [BETA.id, CLIENT_ONLY.id].sort());
      assert.equal((await connectRefused(ctx.url, { clientId: "beta-client", username: "beta-user", password: "wrong" })).code, 5);
      assert.equal((await connectRefused(ctx.url, { clientId: "other", username: "beta-user", password: "beta-pass" })).code, 5);
      assert.ok(!JSON.stringify(ctx.events).includes("beta-user"), "a refused username is kept out of events");
    });

    it("refuses an empty username with 0x04 and an unknown token with 0x05 (MQTT 5: 0x86, 0x87), naming no token", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const typo = "A1phaTOKEN0123456788";
      assert.equal((await connectRefused(ctx.url, { clientId: "" })).code, 4);
      assert.equal((await connectRefused(ctx.url, { username: typo })).code, 5);
      assert.equal((await connectRefused(ctx.url, { clientId: "x", protocolVersion: 5 })).code, 0x86);
      assert.equal((await connectRefused(ctx.url, { username: typo, protocolVersion: 5 })).code, 0x87);
      const refused = ctx.events.filter((e) => e.event === "auth-refused");
      assert.deepEqual(refused.map((e) => e.returnCode), [4, 5, 4, 5]);
      assert.match(refused[0].reason, /empty user name/);
      assert.match(refused[1].reason, /not authorized/);
      assert.ok(!JSON.stringify(ctx.events).includes(typo));
    });

    it("leaves broker users, other platforms and anonymous access alone; without hosted devices the engine answers as before", async function () {
      const users = [{ username: "dash", password: "dash-pass-1", publish: ["x/#"], subscribe: ["x/#"] }];
      ctx = await hostedBroker({ devices: [ALPHA], users, allowAnonymous: true });
      // Another platform plugged in after ThingsBoard: its devices still reach it.
      ctx.engine.addPlugin({
        name: "other",
        authenticate: (req) =>
          req.username === "other-device"
            ? { accept: true, identity: { kind: "device", plugin: "other", deviceId: "o1", namespace: deviceNamespace({ plugin: "other", deviceId: "o1" }) } }
            : undefined,
      });
      await ctx.connect({ username: "dash", password: "dash-pass-1" });
      await ctx.connect({ username: "other-device" });
      await ctx.connect({ clientId: "anon-1" });
      assert.deepEqual(ctx.engine.clients().map((c) => c.identity.plugin ?? c.identity.kind).sort(), ["anonymous", "other", "user"]);
      assert.equal((await connectRefused(ctx.url, { username: "dash", password: "wrong" })).code, 4);
      await ctx.unhost.get(ALPHA.id)();
      assert.equal((await connectRefused(ctx.url, { username: "stranger" })).code, 4);
      assert.match(ctx.events.filter((e) => e.event === "auth-refused").at(-1).reason, /^unknown user \(/);
    });

    it("lets a second connection of the same device replace the first, with a warning", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const first = await ctx.device(ALPHA.token);
      const closed = waitFor(first, "close");
      const second = await ctx.device(ALPHA.token, { protocolVersion: 5 });
      await closed;
      assert.ok(second.connected);
      assert.match(ctx.warnings.join("\n"), /"Alpha": a new connection .* replaced .*one session per device/);
      await second.subscribeAsync(`${ME}/attributes`);
      await ctx.flows.send(ALPHA, `${ME}/attributes`, { led: true });
      assert.equal((await second.box.next(`${ME}/attributes`)).payload, '{"led":true}');
      assertNoToken(assert, ctx.warnings, ctx.events);
    });

    it("does not host a second device with a token or basic credentials already hosted, nor a bad definition", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, BETA] });
      const report = (e) => ctx.warnings.push(e.message);
      const stops = [
        hostThingsBoardDevice(BROKER_ID, { ...BETA, id: "x1", name: "Copy", basic: undefined, token: ALPHA.token }, report),
        hostThingsBoardDevice(BROKER_ID, { ...BETA, id: "x2", name: "Twin", token: "OtherTOKEN0000000000" }, report),
        hostThingsBoardDevice(BROKER_ID, { id: "bad/id", name: "X", token: "t0000", gateway: false }, report),
        hostThingsBoardDevice(BROKER_ID, { id: "x3", name: "NoToken", token: "", gateway: false }, report),
        hostThingsBoardDevice(BROKER_ID, { id: "x4", name: "HalfBasic", token: "HalfTOKEN", gateway: false, basic: { username: "u" } }, report),
      ];
      stops.forEach((stop) => stop());
      assert.match(ctx.warnings[0], /"Copy" is not hosted: "Alpha" already uses the same access token/);
      assert.match(ctx.warnings[1], /"Twin" is not hosted: "Beta" already uses the same basic MQTT credentials/);
      assert.match(ctx.warnings[2], /device id "bad\/id" must .* contain none of/);
      assert.match(ctx.warnings[3], /"NoToken": access token must be non-empty/);
      assert.match(ctx.warnings[4], /"HalfBasic": basic MQTT credentials are incomplete/);
      assertNoToken(assert, ctx.warnings);
    });

    it("finds only devices hosted on the engine a login reaches, also with credentials hosted on another broker", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const other = await startEngine();
      brokers.attach("thingsboard-other-broker", other.engine);
      const handle = hostThingsBoardDeviceHandle("thingsboard-other-broker", BETA, (e) => ctx.warnings.push(e.message));
      try {
        await until(() => handle.status.state === "connected", 5000, "Beta hosted on the other broker");
        assert.equal((await connectRefused(ctx.url, { username: BETA.token })).code, 5);
        assert.equal((await connectRefused(ctx.url, { clientId: "beta-client", username: "beta-user", password: "beta-pass" })).code, 5);
        const there = await connect(other.url, { username: BETA.token });
        await there.endAsync();
        const alphaThere = await connectRefused(other.url, { username: ALPHA.token });
        assert.equal(alphaThere.code, 5);
        assert.deepEqual(ctx.warnings, []);
      } finally {
        await handle.close();
        brokers.detach("thingsboard-other-broker", other.engine);
        await other.engine.close();
      }
    });
  });

  describe("namespaces", function () {
    it("allows subscriptions only within ThingsBoard's downlink topics (gateway topics for gateways)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, GATEWAY] });
      const filters = [`${ME}/attributes`, `${ME}/attributes/response/+`, `${ME}/rpc/request/+`, `${ME}/rpc/response/+`, `${ME}/rpc/request/7`, "v1/gateway/rpc", `${ME}/#`, "#", "v2/fw/request/+/chunk/+", "v2/fw/response/+/chunk/+"];
      // OTA chunks are a downlink since issue 12 (docs/PROTOCOLS.md 4.6); their request topic is not.
      assert.deepEqual(await subackOf(await ctx.device(ALPHA.token), filters), [0, 0, 0, 0, 0, 128, 128, 128, 128, 0]);
      assert.deepEqual(await subackOf(await ctx.device(GATEWAY.token), filters), [0, 0, 0, 0, 0, 0, 128, 128, 128, 0]);
    });

    it("refuses publishes outside ThingsBoard's uplink topics (3.1.1: dropped; 5: PUBACK 0x87)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const v3 = await ctx.device(ALPHA.token);
      for (const topic of ["v1/gateway/telemetry", `${ME}/rpc/request/abc`, `${ME}/attributes/response/1`, "foo/bar", `${ME}/telemetry`]) {
        await v3.publishAsync(topic, '{"a":1}', { qos: 1 });
      }
      await ctx.flows.uplink(ALPHA, `${ME}/telemetry`);
      assert.deepEqual(ctx.flows.messages.filter((m) => m.topic.includes("/up/")).map((m) => m.topic), [up(ALPHA, `${ME}/telemetry`)]);
      assert.equal(ctx.events.filter((e) => e.event === "publish-refused").length, 4);
      const v5 = await ctx.device(ALPHA.token, { protocolVersion: 5 });
      await assert.rejects(v5.publishAsync("v1/gateway/connect", '{"device":"x"}', { qos: 1 }), (err) => err.code === 0x87);
    });

    it("never returns a device's own uplink on topics ThingsBoard uses both ways, and isolates devices", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, BETA], allowAnonymous: true });
      const a = await ctx.device(ALPHA.token);
      const b = await ctx.device(BETA.token);
      const anon = await ctx.connect({ clientId: "anon" });
      const both = [`${ME}/attributes`, `${ME}/rpc/request/+`, `${ME}/rpc/response/+`];
      await Promise.all([a.subscribeAsync(both), b.subscribeAsync(both), anon.subscribeAsync("#")]);
      await a.publishAsync(`${ME}/attributes`, '{"fw":"1.0"}', { qos: 1 });
      await a.publishAsync(`${ME}/rpc/request/1`, '{"method":"getTime","params":{}}', { qos: 1 });
      await a.publishAsync(`${ME}/rpc/response/9`, '{"ok":true}', { qos: 1 });
      await ctx.flows.uplink(ALPHA, `${ME}/rpc/response/9`);
      // Markers last: everything before them has been delivered by then.
      await anon.publishAsync("public/marker", "m", { qos: 1 });
      await anon.box.next("public/marker");
      await ctx.flows.send(ALPHA, `${ME}/attributes`, { marker: "a" });
      await ctx.flows.send(BETA, `${ME}/attributes`, { marker: "b" });
      await a.box.next(`${ME}/attributes`);
      await b.box.next(`${ME}/attributes`);
      assert.deepEqual(a.box.messages.map((m) => m.payload), ['{"marker":"a"}']);
      assert.deepEqual(b.box.messages.map((m) => m.payload), ['{"marker":"b"}']);
      assert.deepEqual(anon.box.messages.map((m) => m.topic), ["public/marker"]);
    });
  });

  describe("what ThingsBoard would do", function () {
    it("passes telemetry in every documented form, client attributes and claims up unchanged", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      const sent = [
        [`${ME}/telemetry`, '{"temperature":42,"humidity":73}'],
        [`${ME}/telemetry`, '[{"key1":"value1"},{"key2":true}]'],
        [`${ME}/telemetry`, '{"ts":1451649600512,"values":{"key1":"value1"}}'],
        [`${ME}/telemetry`, '[{"ts":1451649600512,"values":{"a":1}},{"ts":1451649600513,"values":{"a":2}}]'],
        [`${ME}/attributes`, '{"firmware_version":"1.0.3","serial":"SN-001"}'],
        [`${ME}/claim`, '{"secretKey":"abc","durationMs":60000}'],
      ];
      for (const [topic, payload] of sent) await dev.publishAsync(topic, payload, { qos: 1 });
      await ctx.flows.uplink(ALPHA, `${ME}/claim`);
      assert.deepEqual(ctx.flows.messages.filter((m) => m.topic.includes("/up/")).map((m) => [m.topic, m.payload]), sent.map(([t, p]) => [up(ALPHA, t), p]));
      // Parsed once, for the handle: telemetry entries, attributes, the claim (flows get it as an event).
      await ctx.flows.parsed(ALPHA, (m) => m.kind === "claim");
      const parsed = ctx.flows.uplinks.map((u) => u.message);
      assert.deepEqual(parsed.map((m) => m.kind), ["telemetry", "telemetry", "telemetry", "telemetry", "attributes", "claim"]);
      assert.deepEqual(parsed[5].claim, { secretKey: "abc", durationMs: 60000 });
      assert.deepEqual(parsed[1].entries.map((e) => e.values), [{ key1: "value1" }, { key2: true }]);
      assert.deepEqual(parsed[3].entries, [{ ts: 1451649600512, values: { a: 1 } }, { ts: 1451649600513, values: { a: 2 } }]);
      assert.deepEqual(parsed[4].values, { firmware_version: "1.0.3", serial: "SN-001" });
    });

    it("remembers the latest value of each telemetry key, of the device and of a gateway's sub-devices, in the device's store", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, GATEWAY] });
      const dev = await ctx.device(ALPHA.token);
      await dev.publishAsync(`${ME}/telemetry`, '[{"ts":1000,"values":{"t":1,"h":40}},{"ts":2000,"values":{"t":2}}]', { qos: 1 });
      await dev.publishAsync(`${ME}/telemetry`, '{"ts":1500,"values":{"t":99}}', { qos: 1 });
      const gw = await ctx.device(GATEWAY.token);
      await gw.publishAsync("v1/gateway/telemetry", '{"Sensor A":[{"ts":3000,"values":{"t":7}}]}', { qos: 1 });
      await ctx.flows.parsed(GATEWAY, (m) => m.kind === "telemetry");
      await ctx.flows.parsed(ALPHA, (m) => m.kind === "telemetry" && m.entries[0].ts === 1500);
      assert.deepEqual(latestTelemetry(ctx.handles.get(ALPHA.id).store), { t: { ts: 2000, value: 2 }, h: { ts: 1000, value: 40 } });
      assert.deepEqual(latestTelemetry(ctx.handles.get(GATEWAY.id).store, "Sensor A"), { t: { ts: 3000, value: 7 } });
      assert.deepEqual(ctx.flows.uplinks.find((u) => u.id === GATEWAY.id).message, { kind: "telemetry", device: "Sensor A", entries: [{ ts: 3000, values: { t: 7 } }] });
    });

    it("RPC-echo script: a flow's server-side RPC reaches the device, whose reply with the same id reaches the flow", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      dev.on("message", (topic, payload) => {
        if (topic.startsWith(`${ME}/rpc/request/`)) dev.publish(topic.replace("request", "response"), payload);
      });
      await dev.subscribeAsync(`${ME}/rpc/request/+`);
      const request = { method: "setGpio", params: { pin: 4, enabled: true } };
      await ctx.flows.send(ALPHA, `${ME}/rpc/request/42`, request);
      assert.deepEqual(json(await ctx.flows.uplink(ALPHA, `${ME}/rpc/response/42`)), request);
      assert.deepEqual(await ctx.flows.parsed(ALPHA, (m) => m.kind === "rpc-response"), { kind: "rpc-response", id: 42, result: request });
      assert.deepEqual(dev.box.messages.map((m) => m.topic), [`${ME}/rpc/request/42`]);
    });

    it("attribute-request script: answers from client and flow-set shared attributes, right after SUBSCRIBE, with the request's id", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const writer = await ctx.device(ALPHA.token);
      await writer.publishAsync(`${ME}/attributes`, '{"fw":"1.0","model":"T1"}', { qos: 1 });
      await ctx.flows.uplink(ALPHA, `${ME}/attributes`);
      await ctx.flows.send(ALPHA, `${ME}/attributes`, { led: true, interval: 5, gone: 1 });
      await ctx.flows.send(ALPHA, `${ME}/attributes`, { interval: 10, deleted: ["gone"] });
      await writer.endAsync();
      const dev = await ctx.device(ALPHA.token);
      // Subscribe and ask at once, without waiting for the SUBACK (as the documented script does).
      void dev.subscribe(`${ME}/attributes/response/+`);
      void dev.publish(`${ME}/attributes/request/1`, '{"clientKeys":"fw,model","sharedKeys":"led,missing"}');
      assert.deepEqual(json(await dev.box.next(`${ME}/attributes/response/1`)), { client: { fw: "1.0", model: "T1" }, shared: { led: true } });
      await dev.publishAsync(`${ME}/attributes/request/007`, "", { qos: 1 });
      assert.deepEqual(json(await dev.box.next(`${ME}/attributes/response/007`)), { client: { fw: "1.0", model: "T1" }, shared: { led: true, interval: 10 } });
      await dev.publishAsync(`${ME}/attributes/request/2`, '{"sharedKeys":"nothing"}', { qos: 1 });
      assert.deepEqual(json(await dev.box.next(`${ME}/attributes/response/2`)), {});
      // The requests reached the flows too.
      await ctx.flows.uplink(ALPHA, `${ME}/attributes/request/007`);
    });

    it("holds an answer until a subscription of the asking connection covers it", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.publishAsync(`${ME}/attributes/request/5`, "{}", { qos: 1 });
      await dev.publishAsync(`${ME}/rpc/request/6`, '{"method":"getSessionLimits","params":{}}', { qos: 1 });
      await dev.subscribeAsync(`${ME}/rpc/response/+`);
      const limits = json(await dev.box.next(`${ME}/rpc/response/6`));
      assert.equal(limits.maxPayloadSize, 65536);
      assert.equal(typeof limits.rateLimits.messages, "string");
      assert.ok(!dev.box.messages.some((m) => m.topic.includes("attributes")));
      await dev.subscribeAsync(`${ME}/attributes/response/5`);
      assert.deepEqual(json(await dev.box.next(`${ME}/attributes/response/5`)), {});
    });

    it("client-side RPC: the flow answers the device's request on the same id", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token, { protocolVersion: 5 });
      await dev.subscribeAsync(`${ME}/rpc/response/+`);
      await dev.publishAsync(`${ME}/rpc/request/17`, '{"method":"getTime","params":{}}', { qos: 1 });
      assert.deepEqual(json(await ctx.flows.uplink(ALPHA, `${ME}/rpc/request/17`)), { method: "getTime", params: {} });
      assert.deepEqual(await ctx.flows.parsed(ALPHA, (m) => m.kind === "rpc-request"), { kind: "rpc-request", id: 17, idText: "17", method: "getTime", params: {} });
      await ctx.flows.send(ALPHA, `${ME}/rpc/response/17`, { time: "2024-01-01T00:00:00Z" });
      assert.deepEqual(json(await dev.box.next(`${ME}/rpc/response/17`)), { time: "2024-01-01T00:00:00Z" });
    });

    it("tells online/offline as it changes, and keeps the state for a late observer", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const states = () => ctx.flows.onlines.filter((o) => o.id === ALPHA.id).map((o) => o.online);
      const dev = await ctx.device(ALPHA.token);
      await until(() => states().length === 2, 5000, "the online state");
      await dev.endAsync();
      await until(() => states().length === 3, 5000, "the offline state");
      assert.deepEqual(states(), [false, true, false]);
      assert.deepEqual(ctx.handles.get(ALPHA.id).online, { online: false });
    });
  });

  describe("gateway API", function () {
    it("round trips: connect, telemetry for 2 sub-devices, attributes and their requests, RPC to a sub-device and its reply", async function () {
      ctx = await hostedBroker({ devices: [GATEWAY] });
      const gw = await ctx.device(GATEWAY.token);
      await gw.subscribeAsync(["v1/gateway/attributes", "v1/gateway/rpc", "v1/gateway/attributes/response"]);
      await gw.publishAsync("v1/gateway/connect", '{"device":"Sensor A","type":"thermometer"}', { qos: 1 });
      await gw.publishAsync("v1/gateway/connect", '{"device":"Sensor B"}', { qos: 1 });
      const telemetry = { "Sensor A": [{ ts: 1483228800000, values: { temperature: 42 } }], "Sensor B": [{ ts: 1483228800000, values: { humidity: 60 } }] };
      await gw.publishAsync("v1/gateway/telemetry", JSON.stringify(telemetry), { qos: 1 });
      const seen = await ctx.flows.uplink(GATEWAY, "v1/gateway/telemetry");
      assert.deepEqual(parseGatewayTelemetry(seen.payload).map((t) => [t.device, t.entries[0].values]), [["Sensor A", { temperature: 42 }], ["Sensor B", { humidity: 60 }]]);
      assert.deepEqual(json(await ctx.flows.uplink(GATEWAY, "v1/gateway/connect")), { device: "Sensor A", type: "thermometer" });

      // Shared attributes a flow sets for Sensor A reach the gateway, and answer its requests.
      await ctx.flows.send(GATEWAY, "v1/gateway/attributes", { device: "Sensor A", data: { target: 21, mode: "eco" } });
      assert.deepEqual(json(await gw.box.next("v1/gateway/attributes")), { device: "Sensor A", data: { target: 21, mode: "eco" } });
      await gw.publishAsync("v1/gateway/attributes", '{"Sensor A":{"fw":"2.1"},"Sensor B":{"fw":"9"}}', { qos: 1 });
      await ctx.flows.uplink(GATEWAY, "v1/gateway/attributes");
      await gw.publishAsync("v1/gateway/attributes/request", '{"id":1,"device":"Sensor A","client":false,"key":"target"}', { qos: 1 });
      assert.deepEqual(json(await gw.box.next("v1/gateway/attributes/response")), { id: 1, device: "Sensor A", value: 21 });
      gw.box.messages.length = 0;
      await gw.publishAsync("v1/gateway/attributes/request", '{"id":2,"device":"Sensor A","client":["fw"],"shared":["mode"]}', { qos: 1 });
      assert.deepEqual(json(await gw.box.next("v1/gateway/attributes/response")), { id: 2, device: "Sensor A", values: { fw: "2.1", mode: "eco" } });

      // RPC to Sensor B; the gateway's reply reaches the flow, never the gateway itself.
      await ctx.flows.send(GATEWAY, "v1/gateway/rpc", { device: "Sensor B", data: { id: 5, method: "setState", params: { on: true } } });
      const rpc = json(await gw.box.next("v1/gateway/rpc"));
      assert.deepEqual(rpc, { device: "Sensor B", data: { id: 5, method: "setState", params: { on: true } } });
      await gw.publishAsync("v1/gateway/rpc", JSON.stringify({ device: "Sensor B", id: rpc.data.id, data: { ok: true } }), { qos: 1 });
      assert.deepEqual(json(await ctx.flows.uplink(GATEWAY, "v1/gateway/rpc")), { device: "Sensor B", id: 5, data: { ok: true } });
      await gw.publishAsync("v1/gateway/disconnect", '{"device":"Sensor B"}', { qos: 1 });
      await ctx.flows.uplink(GATEWAY, "v1/gateway/disconnect");
      assert.deepEqual(gw.box.messages.map((m) => m.topic).filter((t) => t === "v1/gateway/rpc"), ["v1/gateway/rpc"]);
      assert.ok(!gw.box.messages.some((m) => m.topic === "v1/gateway/attributes" && m.payload.includes("fw")));
    });
  });

  describe("robustness", function () {
    it("reports malformed uplinks as plugin-errors naming device and topic; the device stays connected", async function () {
      ctx = await hostedBroker({ devices: [ALPHA, GATEWAY] });
      const errors = [];
      ctx.engine.on("event", (e) => e.event === "plugin-error" && errors.push(e));
      const dev = await ctx.device(ALPHA.token);
      const gw = await ctx.device(GATEWAY.token);
      await dev.publishAsync(`${ME}/telemetry`, "{not json", { qos: 1 });
      await dev.publishAsync(`${ME}/attributes/request/3`, '{"clientKeys":42}', { qos: 1 });
      await gw.publishAsync("v1/gateway/attributes/request", '{"device":"A"}', { qos: 1 });
      await until(() => errors.length === 3);
      assert.ok(errors.every((e) => e.plugin === "thingsboard" && e.hook === "published"));
      assert.match(errors[0].error, /"v1\/devices\/me\/telemetry" from hosted ThingsBoard device "Alpha" was not understood .*not valid JSON/);
      assert.match(errors[2].error, /"Gateway".*"id"/);
      assert.ok(dev.connected && gw.connected);
      assertNoToken(assert, errors);
    });

    it("unhosting disconnects the device and clears its state; hosting again starts with an empty store", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      await dev.publishAsync(`${ME}/attributes`, '{"fw":"1"}', { qos: 1 });
      await ctx.flows.uplink(ALPHA, `${ME}/attributes`);
      const closed = waitFor(dev, "close");
      await ctx.unhost.get(ALPHA.id)();
      await closed;
      assert.equal(ctx.handles.get(ALPHA.id).status.state, "closed");
      await ctx.host(ALPHA);
      const again = await ctx.device(ALPHA.token);
      await again.subscribeAsync(`${ME}/attributes/response/+`);
      await again.publishAsync(`${ME}/attributes/request/1`, "", { qos: 1 });
      assert.deepEqual(json(await again.box.next(`${ME}/attributes/response/1`)), {});
    });

    it("keeps hosting across a broker restart (a new engine under the same broker id)", async function () {
      ctx = await hostedBroker({ devices: [ALPHA] });
      const dev = await ctx.device(ALPHA.token);
      const closed = waitFor(dev, "close");
      brokers.detach(BROKER_ID, ctx.engine);
      await ctx.engine.close();
      await closed;
      const engine = await BrokerEngine.create({});
      engine.on("event", (e) => ctx.events.push(e));
      const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
      Object.assign(ctx, { engine, url: `mqtt://127.0.0.1:${info.port}` });
      brokers.attach(BROKER_ID, engine);
      const again = await connect(ctx.url, { username: ALPHA.token, reconnectPeriod: 0 });
      ctx.clients.push(again);
      const box = inbox(again);
      await again.subscribeAsync(`${ME}/attributes/response/+`);
      await again.publishAsync(`${ME}/attributes/request/1`, "", { qos: 1 });
      assert.deepEqual(JSON.parse((await box.next(`${ME}/attributes/response/1`)).payload), {});
    });
  });
});
