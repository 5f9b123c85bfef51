"use strict";
// ThingsBoard provisioning and claiming as a device (mqtt / http mode) against a raw MQTT
// stand-in that answers like ThingsBoard (docs/PROTOCOLS.md 4.3: `provision` login,
// /provision/request -> /provision/response), and self-hosted claims reaching flows out of the
// thingsboard-telemetry node (MQTT, HTTP and gateway claims).
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const mqtt = require("mqtt");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const request = require("supertest");
const { runtime, tbNodes, withBroker, TAB, STATUS } = require("./thingsboard-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, warningsOf, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const KEY = "profileKey123";
const SECRET = "profileSecret456";
const ISSUED = "IssuedTOKEN0123456789";
const HOSTED_TOKEN = "HostedClaimTOKEN01234";

/**
 * A raw MQTT broker plus a responder that answers provisioning requests as ThingsBoard does
 * (allow-new-devices strategy): the right key and secret get an access token (or the MQTT_BASIC
 * credentials the device asked for), anything else FAILURE.
 */
async function thingsBoardStandIn() {
  const connects = [];
  const published = [];
  const b = await startBareBroker({ preConnect: (_client, packet, done) => (connects.push(packet), done(null, true)) });
  b.aedes.on("publish", (packet, client) => {
    if (client) published.push({ topic: packet.topic, payload: packet.payload.toString(), client: client.id });
  });
  const requests = [];
  const responder = await mqtt.connectAsync(b.url, { clientId: "tb-standin", reconnectPeriod: 0 });
  await responder.subscribeAsync("/provision/request", { qos: 1 });
  responder.on("message", (_topic, payload) => {
    const request = JSON.parse(payload.toString());
    requests.push(request);
    let answer;
    if (request.provisionDeviceKey !== KEY || request.provisionDeviceSecret !== SECRET) answer = { status: "FAILURE", errorMsg: "Failed to provision device!" };
    else if (request.credentialsType === "MQTT_BASIC") answer = { status: "SUCCESS", credentialsType: "MQTT_BASIC", credentialsValue: { clientId: request.clientId, userName: request.username, password: request.password } };
    else answer = { status: "SUCCESS", credentialsType: "ACCESS_TOKEN", credentialsValue: ISSUED };
    responder.publish("/provision/response", JSON.stringify(answer), { qos: 1 });
  });
  return {
    ...b,
    connects,
    published,
    requests,
    async close() {
      await responder.endAsync(true);
      await b.close();
    },
  };
}

describe("thingsboard-device provisioning and claiming", function () {
  this.timeout(20_000);
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function standIn() {
    const s = await thingsBoardStandIn();
    cleanups.push(() => s.close());
    return s;
  }
  const device = (server, extra = {}) => ({ id: "dev1", type: "thingsboard-device", name: "Boiler 7", connection: "mqtt", server, provision: true, provisionKey: KEY, ...extra });
  const telemetry = onTab({ id: "t1", type: "thingsboard-telemetry", device: "dev1", wires: [[]] });

  it("provisions itself with ThingsBoard's documented request, keeps the token and connects with it; its telemetry and claims follow", async function () {
    const s = await standIn();
    await helper.load(tbNodes, [TAB, device(s.url), telemetry], { dev1: { provisionSecret: SECRET } });
    const sent = inject(helper.getNode("t1"), { payload: { temperature: 21 } }); // waits in the outbox meanwhile
    await statusOf(helper.getNode("t1"), (st) => st.text === `${STATUS}connected`, "connected after provisioning");
    assert.deepEqual(s.requests, [{ deviceName: "Boiler 7", provisionDeviceKey: KEY, provisionDeviceSecret: SECRET }]);
    const logins = s.connects.filter((c) => c.clientId !== "tb-standin").map((c) => c.username);
    assert.deepEqual(logins, ["provision", ISSUED]);
    assert.equal(await sent, undefined);
    // The credentials are the node's now: the next deploy writes them to flows_cred.json.
    assert.equal(helper._RED.nodes.getCredentials("dev1").token, ISSUED);
    assert.equal(helper._RED.nodes.getCredentials("dev1").provisionSecret, SECRET);
    assert.equal(await inject(helper.getNode("t1"), { payload: { secretKey: "abc", durationMs: 60000 }, thingsboard: { claim: true } }), undefined);
    assert.equal(await inject(helper.getNode("t1"), { thingsboard: { claim: {} } }), undefined);
    await until(() => s.published.filter((p) => p.topic === "v1/devices/me/claim").length === 2, 5000, "two claims");
    const fromDevice = s.published.filter((p) => p.client !== "tb-standin" && p.topic !== "/provision/request");
    assert.deepEqual(fromDevice.map((p) => [p.topic, JSON.parse(p.payload)]), [
      ["v1/devices/me/telemetry", { temperature: 21 }],
      ["v1/devices/me/claim", { secretKey: "abc", durationMs: 60000 }],
      ["v1/devices/me/claim", {}],
    ]);
    const bad = await inject(helper.getNode("t1"), { payload: 5, thingsboard: { claim: true } });
    assert.match(bad.message, /thingsboard-telemetry\.errors\.invalid-claim/);
    assertNoToken(ISSUED, ["dev1", "t1"]);
    assertNoToken(SECRET, ["dev1", "t1"]);
  });

  it("a redeployed node with the token it was given connects without provisioning again", async function () {
    const s = await standIn();
    await helper.load(tbNodes, [TAB, device(s.url), telemetry], { dev1: { provisionSecret: SECRET } });
    await statusOf(helper.getNode("t1"), (st) => st.text === `${STATUS}connected`);
    await helper.setFlows([TAB, device(s.url, { qos: "0" }), telemetry], "full");
    await until(() => s.connects.filter((c) => c.username === ISSUED).length === 2, 5000, "a second login with the token");
    assert.equal(s.requests.length, 1, "provisioned once");
  });

  it("asks for MQTT_BASIC credentials it generates and logs in with what ThingsBoard answers", async function () {
    const s = await standIn();
    await helper.load(tbNodes, [TAB, device(s.url, { provisionType: "MQTT_BASIC" }), telemetry], { dev1: { provisionSecret: SECRET } });
    await statusOf(helper.getNode("t1"), (st) => st.text === `${STATUS}connected`);
    const [request] = s.requests;
    assert.equal(request.credentialsType, "MQTT_BASIC");
    for (const k of ["clientId", "username", "password"]) assert.match(request[k], /^[\w-]{20}$/);
    const login = s.connects.at(-1);
    assert.deepEqual([login.clientId, login.username, login.password.toString()], [request.clientId, request.username, request.password]);
    const kept = helper._RED.nodes.getCredentials("dev1");
    assert.deepEqual([kept.clientId, kept.username, kept.password], [request.clientId, request.username, request.password]);
    assertNoToken(request.password, ["dev1", "t1"]);
  });

  it("a wrong secret: ThingsBoard's FAILURE is shown (refused, with its errorMsg) and warned once; nothing else is tried", async function () {
    const s = await standIn();
    await helper.load(tbNodes, [TAB, device(s.url), telemetry], { dev1: { provisionSecret: "wrong" } });
    const st = await statusOf(helper.getNode("t1"), (x) => x.fill === "red", "a red status");
    // A short status; ThingsBoard's answer is in the device's warning, once.
    assert.equal(st.text, "@iot-bridge/node-red/thingsboard-device:thingsboard-device.status.refused");
    const warned = warningsOf(helper.getNode("dev1")).filter((w) => /FAILURE \(Failed to provision device!\)/.test(w));
    assert.equal(warned.length, 1, JSON.stringify(warningsOf(helper.getNode("dev1"))));
    assert.deepEqual(s.connects.filter((c) => c.clientId !== "tb-standin").map((c) => c.username), ["provision"]);
    assertNoToken("wrong", ["dev1", "t1"]);
  });

  it("settings problems are reported by catalog key: no name, no key, no secret, a bad type", async function () {
    const s = await standIn();
    const flow = [
      TAB,
      device(s.url, { id: "d1", name: "" }),
      device(s.url, { id: "d2", provisionKey: "" }),
      device(s.url, { id: "d3" }),
      device(s.url, { id: "d4", provisionType: "X509" }),
    ];
    await helper.load(tbNodes, flow, { d1: { provisionSecret: SECRET }, d2: { provisionSecret: SECRET }, d4: { provisionSecret: SECRET } });
    const errors = (id) => helper.getNode(id).error.getCalls().filter((c) => c.thisValue === helper.getNode(id)).map((c) => c.args[0]).join("\n");
    assert.match(errors("d1"), /errors\.provision-needs-name/);
    assert.match(errors("d2"), /errors\.missing-provision-key/);
    assert.match(errors("d3"), /errors\.missing-provision-secret/);
    assert.match(errors("d4"), /errors\.invalid-provision-type/);
    assert.equal(s.requests.length, 0);
  });

  it("self-hosted: MQTT, HTTP and gateway claims come out of thingsboard-telemetry with msg.thingsboard.claim", async function () {
    const port = await freePort();
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
      { id: "hosted1", type: "thingsboard-device", name: "Greenhouse", connection: "local", broker: "b1", gateway: true },
      onTab({ id: "l-tel", type: "thingsboard-telemetry", device: "hosted1", wires: [["out"]] }),
      sink("out"),
    ];
    const got = await loadFlow(withBroker, flow, { hosted1: { token: HOSTED_TOKEN } }, ["out"]);
    await statusOf(helper.getNode("l-tel"), (st) => st.text === `${STATUS}device-offline`);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: HOSTED_TOKEN, reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    await client.publishAsync("v1/devices/me/claim", JSON.stringify({ secretKey: "s3cr3t", durationMs: 30000 }), { qos: 1 });
    await client.publishAsync("v1/devices/me/claim", "", { qos: 1 });
    await client.publishAsync("v1/gateway/claim", JSON.stringify({ "Sensor A": { secretKey: "a" }, "Sensor B": { durationMs: 5000 } }), { qos: 1 });
    await request(runtime.RED.httpNode).post(`/api/v1/${HOSTED_TOKEN}/claim`).set("content-type", "application/json").send(JSON.stringify({ secretKey: "web" })).expect(200);
    await until(() => got.out.length === 5, 5000, `five claims; got ${JSON.stringify(got.out.map((m) => m.payload))}`);
    assert.deepEqual(got.out.map((m) => [m.topic, m.payload, m.thingsboard]), [
      ["Greenhouse", { secretKey: "s3cr3t", durationMs: 30000 }, { device: "Greenhouse", claim: true }],
      ["Greenhouse", {}, { device: "Greenhouse", claim: true }],
      ["Sensor A", { secretKey: "a" }, { device: "Sensor A", claim: true, subDevice: true }],
      ["Sensor B", { durationMs: 5000 }, { device: "Sensor B", claim: true, subDevice: true }],
      ["Greenhouse", { secretKey: "web" }, { device: "Greenhouse", claim: true }],
    ]);
    const refused = await inject(helper.getNode("l-tel"), { payload: {}, thingsboard: { claim: true } });
    assert.match(refused.message, /local-input/);
  });
});
