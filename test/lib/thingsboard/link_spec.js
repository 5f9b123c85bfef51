"use strict";
// The ThingsBoard link over loopback: Node-RED as a device (mqtt mode) connected over TCP to our
// broker engine, which hosts the same device for a local-mode link (Node-RED as the server);
// gateway round trips; CONNACK refusals in words; config parsing. No sleeps: every step waits
// for the event it expects.
const assert = require("node:assert/strict");
const { createThingsBoardLink, StaleReplyError } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { parseThingsBoardDevice } = require("../../../dist/nodes/lib/thingsboard/link-config.js");
const { ConfigError } = require("../../../dist/nodes/lib/transport/link-config.js");
const { statusView, refusalDetail } = require("../../../dist/nodes/lib/thingsboard/link-user.js");
const { until, untilStatus } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");
const { collect } = require("../../support/links.js");

const FAST = { initialMs: 10, maxMs: 50 };
const HOSTED = { id: "a1b2c3d4e5f60718", name: "Alpha" };
const GW = { id: "c1b2c3d4e5f60718", name: "Gateway" };

describe("ThingsBoard link: mqtt (Node-RED as the device) against local (Node-RED as ThingsBoard)", function () {
  let ctx;
  const links = [];
  function link(options) {
    const l = createThingsBoardLink({ mqtt: { reconnect: FAST, authBackoff: FAST }, ...options });
    links.push(l);
    return l;
  }
  /** A hosted device (local link) and Node-RED as that device over TCP (mqtt link), both ready. */
  async function pair(hosted = HOSTED, token = TOKENS.alpha, extra = {}) {
    ctx = await hostedBroker();
    const server = link({ connection: "local", token, broker: BROKER_ID, deviceId: hosted.id, name: hosted.name, ...extra });
    const serverGot = collect(server);
    server.start();
    await untilStatus(server, (s) => s.state === "connected"); // hosted on the running engine from here
    const device = link({ connection: "mqtt", token, server: ctx.url, name: "Pi", ...extra });
    const deviceGot = collect(device);
    device.start();
    await untilStatus(device, (s) => s.state === "connected");
    await untilStatus(server, (s) => s.deviceOnline === true);
    // As with ThingsBoard, what the server sends before a device subscribed is not delivered.
    const last = extra.gateway === true ? "v1/gateway/rpc" : "v1/devices/me/rpc/response/+";
    await until(() => ctx.events.some((e) => e.event === "subscribe" && e.topics.includes(last)), 5000, `the device's subscription to ${last}`);
    return { server, serverGot, device, deviceGot };
  }
  afterEach(async function () {
    await Promise.all(links.splice(0).map((l) => l.close()));
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  it("carries telemetry in every form up, and attributes both ways; a device never gets its own uplink back", async function () {
    const { server, serverGot, device, deviceGot } = await pair();
    const ts = Date.now() - 60_000;
    await device.sendTelemetry({ temperature: 21.5 });
    await device.sendTelemetry({ ts, values: { humidity: 40 } });
    await device.sendTelemetry([{ ts, values: { a: 1 } }, { ts: ts + 1, values: { a: 2 } }]);
    await serverGot.next((m) => m.kind === "telemetry" && m.values.a === 2, "the last telemetry");
    const telemetry = serverGot.incoming.filter((m) => m.kind === "telemetry");
    assert.deepEqual(telemetry.map((m) => [m.device, m.values, m.ts === ts || m.ts === ts + 1 ? "given" : "arrival"]), [
      ["Alpha", { temperature: 21.5 }, "arrival"],
      ["Alpha", { humidity: 40 }, "given"],
      ["Alpha", { a: 1 }, "given"],
      ["Alpha", { a: 2 }, "given"],
    ]);

    await device.publishAttributes({ firmware: "1.0", active: true });
    const client = await serverGot.next((m) => m.kind === "attributes");
    assert.deepEqual([client.scope, client.device, client.values], ["client", "Alpha", { firmware: "1.0", active: true }]);

    await server.publishAttributes({ targetTemperature: 22 });
    const shared = await deviceGot.next((m) => m.kind === "attributes");
    assert.deepEqual([shared.scope, shared.values, shared.deleted], ["shared", { targetTemperature: 22 }, []]);
    assert.deepEqual(deviceGot.incoming.filter((m) => m.kind === "attributes").length, 1, "the device's own client attributes never came back to it");

    // The device asks; the broker answers from what it remembers (client: from the device, shared: from the flow).
    assert.deepEqual(await device.requestAttributes({ clientKeys: "firmware", sharedKeys: ["targetTemperature", "missing"] }, { timeoutMs: 2000 }), {
      client: { firmware: "1.0" },
      shared: { targetTemperature: 22 },
    });
    assert.deepEqual(await device.requestAttributes({}), { client: { firmware: "1.0", active: true }, shared: { targetTemperature: 22 } });
    // The flow reads the same store.
    assert.deepEqual(await server.requestAttributes({ clientKeys: ["active"] }), { client: { active: true }, shared: {} });
    assert.deepEqual(serverGot.warnings, []);
    assert.deepEqual(deviceGot.warnings, []);
    assert.doesNotMatch(JSON.stringify([serverGot, deviceGot, server.status, device.status]), new RegExp(TOKENS.alpha));
  });

  it("RPC both ways with the right ids: server-side (flow calls device) and client-side (device calls flow)", async function () {
    const { server, serverGot, device, deviceGot } = await pair();
    // Node-RED as ThingsBoard calls the device; the device's serve side answers.
    device.on("incoming", (m) => {
      if (m.kind === "rpc") device.replyRpc({ id: m.id, device: m.device }, { echo: m.params, method: m.method }).catch(assert.fail);
    });
    assert.deepEqual(await server.callRpc("setGpio", { pin: 4, value: 1 }, { timeoutMs: 2000 }), { echo: { pin: 4, value: 1 }, method: "setGpio" });
    assert.deepEqual(await server.callRpc("ping", undefined, { timeoutMs: 2000 }), { echo: {}, method: "ping" });

    // The device calls ThingsBoard (client-side RPC); the flow answers.
    server.on("incoming", (m) => {
      if (m.kind === "rpc") server.replyRpc({ id: m.idText, device: m.device }, { time: 1700000000000 }).catch(assert.fail);
    });
    assert.deepEqual(await device.callRpc("getTime", {}, { timeoutMs: 2000 }), { time: 1700000000000 });
    const seen = serverGot.incoming.filter((m) => m.kind === "rpc");
    assert.deepEqual(seen.map((m) => [m.method, m.params, m.device]), [["getTime", {}, "Alpha"]]);
    // getSessionLimits is ThingsBoard's own answer, never the flow's.
    const limits = await device.callRpc("getSessionLimits", {}, { timeoutMs: 2000 });
    assert.equal(limits.maxPayloadSize, 65536);
    assert.equal(serverGot.incoming.filter((m) => m.kind === "rpc").length, 1);
    assert.deepEqual(deviceGot.warnings, []);
  });

  it("times out: calls nobody answers reject in words; served requests expire; late and second replies are refused", async function () {
    const { server, serverGot, device, deviceGot } = await pair(HOSTED, TOKENS.alpha, { serveTimeoutMs: 50 });
    await assert.rejects(server.callRpc("noAnswer", {}, { timeoutMs: 30 }), (err) => err.code === "timeout" && /RPC "noAnswer" \(id \d+\) to "Alpha"/.test(err.message));
    const request = await deviceGot.next((m) => m.kind === "rpc");
    await assert.rejects(device.awaitReply(request, 20), (err) => err.code === "timeout" && /not answered within/.test(err.message));
    await assert.rejects(device.replyRpc({ id: request.id }, "late"), (err) => err instanceof StaleReplyError && err.reason === "expired");
    await assert.rejects(device.replyRpc({ id: 999 }, "x"), (err) => err instanceof StaleReplyError && err.reason === "unknown");

    const calling = device.callRpc("twice", {}, { timeoutMs: 2000 });
    const asked = await serverGot.next((m) => m.kind === "rpc");
    const waiting = server.awaitReply(asked, 2000);
    await server.replyRpc({ id: asked.id }, 1);
    await waiting;
    await assert.rejects(server.replyRpc({ id: asked.id }, 2), (err) => err.reason === "answered");
    assert.equal(await calling, 1);
    await assert.rejects(server.replyRpc({ id: "x1" }, 2), /whole number/);
    await assert.rejects(device.callRpc("", {}), /non-empty text/);
    await assert.rejects(device.sendTelemetry({ bad: null }), /null/);
    await assert.rejects(server.sendTelemetry({ a: 1 }), /telemetry is not possible in local mode/);
    await assert.rejects(device.publishAttributes({ a: 1 }, { device: "Other" }), /only a gateway has/);

    // Close rejects what still waits.
    const pending = device.callRpc("pending", {}, { timeoutMs: 5000 });
    await serverGot.next((m) => m.kind === "rpc" && m.method === "pending");
    await device.close();
    await assert.rejects(pending, (err) => err.code === "closed");
  });

  it("speaks the gateway API: sub-devices connected on first use, telemetry, attributes, requests and RPC with the device named", async function () {
    const { server, serverGot, device, deviceGot } = await pair(GW, TOKENS.gateway, { gateway: true });
    await device.sendTelemetry({ temperature: 20 }, { device: "Sensor A" });
    await device.publishAttributes({ model: "X1" }, { device: "Sensor A" });
    await device.sendTelemetry({ own: 1 }); // the gateway itself
    const subTelemetry = await serverGot.next((m) => m.kind === "telemetry" && m.subDevice);
    assert.deepEqual([subTelemetry.device, subTelemetry.values], ["Sensor A", { temperature: 20 }]);
    const own = await serverGot.next((m) => m.kind === "telemetry" && !m.subDevice);
    assert.deepEqual([own.device, own.values], ["Gateway", { own: 1 }]);
    const connects = ctx.flows.messages.filter((m) => m.topic.endsWith("/up/v1/gateway/connect")).map((m) => JSON.parse(m.payload));
    assert.deepEqual(connects, [{ device: "Sensor A" }]);
    await serverGot.next((m) => m.kind === "attributes" && m.device === "Sensor A");

    await server.publishAttributes({ interval: 5 }, { device: "Sensor A" });
    const update = await deviceGot.next((m) => m.kind === "attributes");
    assert.deepEqual([update.device, update.subDevice, update.values], ["Sensor A", true, { interval: 5 }]);
    assert.deepEqual(await device.requestAttributes({ clientKeys: "model", sharedKeys: ["interval"] }, { device: "Sensor A", timeoutMs: 2000 }), {
      client: { model: "X1" },
      shared: { interval: 5 },
    });
    await assert.rejects(device.requestAttributes({}, { device: "Sensor A" }), /names no key/);

    device.on("incoming", (m) => {
      if (m.kind === "rpc") device.replyRpc({ id: m.id, device: m.device }, { ok: m.device }).catch(assert.fail);
    });
    assert.deepEqual(await server.callRpc("reboot", { delay: 1 }, { device: "Sensor A", timeoutMs: 2000 }), { ok: "Sensor A" });
    await assert.rejects(device.callRpc("getTime", {}, { device: "Sensor A" }), /gateway API has none/);
    await device.close();
    const bye = await ctx.flows.next(`$iot/thingsboard/${GW.id}/up/v1/gateway/disconnect`);
    assert.deepEqual(JSON.parse(bye.payload), { device: "Sensor A" });
    assert.deepEqual(deviceGot.warnings, []);
  });

  it("shows CONNACK refusals in ThingsBoard's words and never the token", async function () {
    ctx = await hostedBroker();
    const server = link({ connection: "local", token: TOKENS.alpha, broker: BROKER_ID, deviceId: HOSTED.id, name: HOSTED.name });
    server.start();
    await untilStatus(server, (s) => s.state === "connected");
    const wrong = "WrongTOKEN0123456789";
    const device = link({ connection: "mqtt", token: wrong, server: ctx.url });
    device.start();
    const refused = await untilStatus(device, (s) => s.state === "auth-failed");
    assert.match(refused.reason, /not authorized — ThingsBoard does not know this access token.*\(code 0x05\)/);
    assert.equal(refused.refusal, 5);
    assert.doesNotMatch(JSON.stringify(refused), new RegExp(wrong));
    assert.deepEqual(statusView(refused, "mqtt"), { fill: "red", shape: "ring", key: "refused" }, "a short status: the words go to the warning");
    assert.match(refusalDetail(refused, "mqtt"), /not authorized — ThingsBoard does not know this access token.*\(code 0x05\)/);
  });
});

describe("ThingsBoard link: config parsing", function () {
  const fails = (props, creds, key) => assert.throws(() => parseThingsBoardDevice("n1", props, creds), (err) => err instanceof ConfigError && err.key === key, key);

  it("fills defaults and refuses unusable settings by catalog key, never echoing the token", function () {
    const mqtt = parseThingsBoardDevice("n1", { name: "Pi" }, { token: " tok12345678 " });
    assert.deepEqual([mqtt.connection, mqtt.server, mqtt.token, mqtt.name, mqtt.gateway], ["mqtt", "mqtts://thingsboard.cloud:8883", "tok12345678", "Pi", false]);
    assert.equal(parseThingsBoardDevice("n1", { connection: "http", server: "http://127.0.0.1:8080/" }, { token: "t0123456" }).server, "http://127.0.0.1:8080");
    const local = parseThingsBoardDevice("n1", { connection: "local", broker: "b1", gateway: true }, { token: "t0123456" });
    assert.deepEqual([local.broker, local.deviceId, local.gateway, local.name], ["b1", "n1", true, "n1"]);
    const basic = parseThingsBoardDevice("n1", { auth: "basic" }, { clientId: "c1", username: "u", password: "p" });
    assert.deepEqual(basic.basic, { clientId: "c1", username: "u", password: "p" });
    fails({ connection: "coap" }, { token: "t" }, "invalid-connection");
    fails({}, {}, "missing-token");
    fails({}, { token: "has space" }, "invalid-token");
    fails({ connection: "local" }, { token: "t0123456" }, "missing-broker");
    fails({ server: "http://x" }, { token: "t0123456" }, "invalid-mqtt-server");
    fails({ connection: "http", server: "mqtt://x" }, { token: "t0123456" }, "invalid-http-server");
    fails({ server: "mqtt://user:secret@x" }, { token: "t0123456" }, "server-credentials");
    fails({ connection: "http", gateway: true }, { token: "t0123456" }, "gateway-needs-mqtt");
    fails({ auth: "basic" }, { username: "u" }, "invalid-basic");
    fails({ auth: "x509" }, { token: "t" }, "invalid-auth");
    fails({ connection: "http", auth: "basic" }, { token: "t" }, "basic-needs-mqtt");
  });

  it("gives a basic-credentials device without a token the same placeholder token for the same node (a redeploy finds the same settings), another for another node", function () {
    const basic = { clientId: "c1", username: "u", password: "p" };
    const parse = (id) => parseThingsBoardDevice(id, { connection: "local", broker: "b1", auth: "basic" }, { ...basic }).token;
    const first = parse("n1");
    assert.ok(first.length >= 16, "never empty, and not guessable from its length");
    assert.equal(parse("n1"), first);
    assert.notEqual(parse("n2"), first);
  });

  it("reads the telemetry and attributes QoS: 1 by default, \"0\" or \"1\", anything else refused", function () {
    assert.equal(parseThingsBoardDevice("n1", {}, { token: "t0123456" }).qos, 1);
    assert.equal(parseThingsBoardDevice("n1", { qos: "" }, { token: "t0123456" }).qos, 1);
    assert.equal(parseThingsBoardDevice("n1", { qos: "0" }, { token: "t0123456" }).qos, 0);
    assert.equal(parseThingsBoardDevice("n1", { qos: 0 }, { token: "t0123456" }).qos, 0);
    assert.equal(parseThingsBoardDevice("n1", { qos: "1" }, { token: "t0123456" }).qos, 1);
    for (const qos of ["2", "x", 2, -1, "0.5"]) fails({ qos }, { token: "t0123456" }, "invalid-qos");
    assert.throws(() => parseThingsBoardDevice("n1", { qos: "2" }, { token: "t0123456" }), (err) => err.params.value === "2");
  });
});

describe("ThingsBoard link: status views", function () {
  const refused = "the server refused the credentials (bad user name or password)";
  const table = [
    // [status, connection, key, the refusal's words for the config node's warning (undefined: the status is no refusal)]
    [{ state: "auth-failed", queued: 0, reason: refused, refusal: 4 }, "mqtt", "refused", /^refused: bad user name or password — ThingsBoard sends this when the user name is empty.*\(code 0x04\)$/],
    [{ state: "auth-failed", queued: 0, reason: refused, refusal: 0x86 }, "mqtt", "refused", /user name is empty.*\(code 0x86\)$/],
    [{ state: "auth-failed", queued: 2, reason: "anything", refusal: 5 }, "mqtt", "refused-queued", /^refused: not authorized — ThingsBoard does not know this access token.*\(code 0x05\)$/],
    [{ state: "auth-failed", queued: 0, reason: "anything", refusal: 0x87 }, "mqtt", "refused", /not authorized.*\(code 0x87\)$/],
    [{ state: "auth-failed", queued: 0, reason: "anything", refusal: 0x9f }, "mqtt", "refused", /^refused \(code 0x9f\)$/],
    [{ state: "auth-failed", queued: 0, reason: "anything", refusal: 401 }, "http", "refused", /^unauthorized: ThingsBoard does not know this access token \(HTTP 401\)$/],
    [{ state: "auth-failed", queued: 0, reason: "said in words only" }, "mqtt", "refused", /^said in words only$/],
    [{ state: "auth-failed", queued: 0 }, "mqtt", "refused", /^$/],
    [{ state: "disconnected", queued: 0, reason: "server unavailable (code 0x03)", refusal: 3 }, "mqtt", "no-connection", undefined],
    [{ state: "connected", queued: 0, refusal: 5 }, "mqtt", "connected", undefined],
  ];
  for (const [status, connection, key, words] of table) {
    it(`shows ${JSON.stringify(status)} (${connection}) as ${key}${words ? `, warning ${words}` : ""}`, function () {
      const view = statusView(status, connection);
      assert.equal(view.key, key);
      assert.equal(view.params?.reason, undefined, "no reason in a status");
      if (words !== undefined) assert.match(refusalDetail(status, connection), words);
      if (status.queued > 0) assert.equal(view.params.count, status.queued);
    });
  }

  it("words the refusal from its code, not from the reason's text", function () {
    assert.match(refusalDetail({ state: "auth-failed", queued: 0, reason: "(code 0x05) bad user name or password", refusal: 4 }, "mqtt"), /\(code 0x04\)$/);
  });
});
