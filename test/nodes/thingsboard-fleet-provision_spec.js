"use strict";
// Self-hosted ThingsBoard provisioning through Node-RED flows: an iot-broker, a local-mode
// thingsboard-device hosting a fleet with provisioning on, a thingsboard-rpc serve node that
// approves or vetoes, and a thingsboard-telemetry node that gets the provisioned devices'
// telemetry. Devices: MQTT.js with ThingsBoard's documented request, the HTTP form, and
// Node-RED itself as a device (an mqtt-mode thingsboard-device provisioning itself against
// our own broker).
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const request = require("supertest");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { connect } = require("../lib/fixtures/engine.js");
const { runtime, withBroker, TAB, STATUS } = require("./thingsboard-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, warningsOf, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const KEY = "fleetProvisionKey01";
const SECRET = "fleetProvisionSecret01";

describe("thingsboard-device fleet: provisioning through flows", function () {
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

  function flow(port, extra = {}, more = []) {
    return [
      TAB,
      onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
      { id: "profile", type: "thingsboard-device", name: "Boilers", connection: "local", broker: "b1", hosting: "fleet", provision: true, provisionKey: KEY, provisionStrategy: "allow-new", ...extra },
      onTab({ id: "tel", type: "thingsboard-telemetry", device: "profile", wires: [["tel-out"]] }),
      sink("tel-out"),
      ...more,
    ];
  }
  const serve = [onTab({ id: "serve", type: "thingsboard-rpc", device: "profile", mode: "serve", wires: [["serve-out"]] }), sink("serve-out")];

  async function provision(port, body, login = { username: "provision" }) {
    const client = await connect(`mqtt://127.0.0.1:${port}`, login);
    cleanups.push(() => client.endAsync(true));
    const answer = new Promise((resolve) => client.once("message", (_t, payload) => resolve(JSON.parse(payload.toString()))));
    await client.subscribeAsync("/provision/response");
    await client.publishAsync("/provision/request", JSON.stringify(body));
    return answer;
  }
  const req = (name, extra = {}) => ({ deviceName: name, provisionDeviceKey: KEY, provisionDeviceSecret: SECRET, ...extra });

  it("allow new devices: a device joins with the documented request, connects with its new token, and its telemetry reaches the flow", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, flow(port), { profile: { provisionSecret: SECRET } }, ["tel-out"]);
    await statusOf(helper.getNode("tel"), (s) => s.text.startsWith(`${STATUS}fleet-online `), "the fleet running");
    const answer = await provision(port, req("Boiler 1"));
    assert.equal(answer.status, "SUCCESS");
    assert.equal(answer.credentialsType, "ACCESS_TOKEN");
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: answer.credentialsValue });
    cleanups.push(() => device.endAsync(true));
    await device.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temperature: 55 }), { qos: 1 });
    const m = await got["tel-out"].next((x) => x.payload.temperature === 55);
    assert.equal(m.thingsboard.device.name, "Boiler 1");
    assert.deepEqual(await provision(port, req("Boiler 2", { provisionDeviceSecret: "wrong" })), { status: "FAILURE", errorMsg: "Failed to provision device!" });
    // The HTTP form, on Node-RED's own HTTP server.
    const res = await request(runtime.RED.httpNode).post("/api/v1/provision").set("content-type", "application/json").send(JSON.stringify(req("Boiler 3"))).expect(200);
    assert.equal(JSON.parse(res.text).status, "SUCCESS");
    assertNoToken(answer.credentialsValue, ["profile", "tel"]);
    assertNoToken(SECRET, ["profile", "tel"]);
  });

  it("a serve node vetoes or approves (an approval adds a device that pre-provisioned-only would refuse)", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, flow(port, { provisionStrategy: "pre-provisioned", provisionWait: "3000" }, serve), { profile: { provisionSecret: SECRET } }, ["serve-out", "tel-out"]);
    await statusOf(helper.getNode("tel"), (s) => s.text.startsWith(`${STATUS}fleet-online `), "the fleet running");
    const serveNode = helper.getNode("serve");
    const decide = (approve) => got["serve-out"].next((q) => q.thingsboard.provision && !q.answered).then(async (q) => {
      q.answered = true;
      assert.equal(await inject(serveNode, { ...q, payload: approve }), undefined);
      return q;
    });
    const [approved, q1] = await Promise.all([provision(port, req("Approved")), decide(true)]);
    assert.equal(approved.status, "SUCCESS");
    assert.deepEqual([q1.topic, q1.payload], ["provision", { deviceName: "Approved", credentialsType: "ACCESS_TOKEN", known: false, byStrategy: "deny", via: "mqtt" }]);
    const [vetoed] = await Promise.all([provision(port, req("Vetoed")), decide(false)]);
    assert.equal(vetoed.status, "FAILURE");
    const bad = await inject(serveNode, { payload: "yes", thingsboard: { provision: true, provisionId: 99 } });
    assert.match(bad.message, /invalid-provision-answer/);
    assert.equal(await inject(serveNode, { payload: true, thingsboard: { provision: true, provisionId: 99, device: "Late" } }), undefined);
    assert.match(warningsOf(serveNode).join("\n"), /stale-provision/);
  });

  it("Node-RED as a device provisions itself against our own broker and its telemetry reaches the fleet's flow", async function () {
    const port = await freePort();
    const asDevice = [
      { id: "me", type: "thingsboard-device", name: "Node-RED boiler", connection: "mqtt", server: `mqtt://127.0.0.1:${port}`, provision: true, provisionKey: KEY },
      onTab({ id: "me-tel", type: "thingsboard-telemetry", device: "me", wires: [[]] }),
    ];
    const got = await loadFlow(withBroker, flow(port, {}, asDevice), { profile: { provisionSecret: SECRET }, me: { provisionSecret: SECRET } }, ["tel-out"]);
    await statusOf(helper.getNode("me-tel"), (s) => s.text === `${STATUS}connected`, "the device provisioned and connected");
    assert.equal(await inject(helper.getNode("me-tel"), { payload: { pressure: 1.5 } }), undefined);
    const m = await got["tel-out"].next((x) => x.payload.pressure === 1.5);
    assert.equal(m.thingsboard.device.name, "Node-RED boiler");
    assert.match(helper._RED.nodes.getCredentials("me").token, /^[A-Za-z0-9]{20}$/);
    // and as a device it claims: the fleet's flow gets the claim
    assert.equal(await inject(helper.getNode("me-tel"), { payload: { secretKey: "k" }, thingsboard: { claim: true } }), undefined);
    const claim = await got["tel-out"].next((x) => x.thingsboard.claim === true);
    assert.deepEqual([claim.payload, claim.thingsboard.device.name], [{ secretKey: "k" }, "Node-RED boiler"]);
  });

  it("a provisioning setting problem is a warning by catalog key; the fleet itself runs", async function () {
    const port = await freePort();
    await helper.load(withBroker, [...flow(port, { provisionStrategy: "sometimes" })], { profile: { provisionSecret: SECRET } });
    assert.match(warningsOf(helper.getNode("profile")).join("\n"), /warnings\.provisioning-off.*errors\.invalid-provision-strategy/);
    await statusOf(helper.getNode("tel"), (s) => s.text.startsWith(`${STATUS}fleet-online `), "the fleet itself runs");
  });
});
