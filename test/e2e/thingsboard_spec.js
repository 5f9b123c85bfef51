"use strict";
// Whole ThingsBoard flows over loopback: an iot-broker node hosting a device (local mode: Node-RED
// is ThingsBoard), Node-RED as that device over MQTT (TCP to the broker) or over the HTTP device
// API that Node-RED serves itself, and a gateway with sub-devices. RPC feels like http in /
// http response: the msg a serve node emitted goes back into a serve node with the result.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { runtime, withBroker, TAB, STATUS } = require("../nodes/thingsboard-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, warningsOf, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "E2eTbTOKEN0123456789";

/** The hosted side (Node-RED is ThingsBoard): broker, local device and its four kinds of node. */
function hosted(port, extra = {}) {
  return [
    TAB,
    onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
    { id: "hosted1", type: "thingsboard-device", name: "Greenhouse", connection: "local", broker: "b1", ...extra },
    onTab({ id: "l-tel", type: "thingsboard-telemetry", device: "hosted1", wires: [["l-tel-out"]] }),
    onTab({ id: "l-attr", type: "thingsboard-attributes", device: "hosted1", wires: [["l-attr-out"]] }),
    onTab({ id: "l-serve", type: "thingsboard-rpc", device: "hosted1", mode: "serve", timeout: 300, wires: [["l-serve-out"]] }),
    onTab({ id: "l-call", type: "thingsboard-rpc", device: "hosted1", mode: "call", timeout: 5000, wires: [["l-call-out"]] }),
    ...["l-tel-out", "l-attr-out", "l-serve-out", "l-call-out"].map(sink),
  ];
}
/** Node-RED as the device, over `connection` to `server`. */
function asDevice(connection, server, extra = {}) {
  return [
    { id: "device1", type: "thingsboard-device", name: "Pi", connection, server, ...extra },
    onTab({ id: "m-tel", type: "thingsboard-telemetry", device: "device1", subDevice: "Sensor A", wires: [[]] }),
    onTab({ id: "m-attr", type: "thingsboard-attributes", device: "device1", timeout: 5000, wires: [["m-attr-out"]] }),
    onTab({ id: "m-serve", type: "thingsboard-rpc", device: "device1", mode: "serve", wires: [["m-serve-out"]] }),
    onTab({ id: "m-call", type: "thingsboard-rpc", device: "device1", mode: "call", timeout: 5000, wires: [["m-call-out"]] }),
    onTab({ id: "m-call-fast", type: "thingsboard-rpc", device: "device1", mode: "call", timeout: 50, wires: [[]] }),
    ...["m-attr-out", "m-serve-out", "m-call-out"].map(sink),
  ];
}
const SINKS = ["l-tel-out", "l-attr-out", "l-serve-out", "l-call-out", "m-attr-out", "m-serve-out", "m-call-out"];
const CREDS = { hosted1: { token: TOKEN }, device1: { token: TOKEN } };
const node = (id) => helper.getNode(id);

describe("ThingsBoard end to end", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** Both sides ready: the device connected and subscribed, the hosted device online. */
  async function ready() {
    await statusOf(node("m-attr"), (s) => s.text === `${STATUS}connected`, "the device connected");
    await statusOf(node("l-attr"), (s) => s.text === `${STATUS}device-online`, "the hosted device online");
  }

  it("telemetry, attributes, requests and RPC both ways between a cloud-mode device and a local-mode flow", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, [...hosted(port), ...asDevice("mqtt", `mqtt://127.0.0.1:${port}`)], CREDS, SINKS);
    await ready();
    const ts = Date.now() - 60_000;
    assert.equal(await inject(node("m-tel"), { topic: "temperature", payload: 21.5 }), undefined);
    assert.equal(await inject(node("m-tel"), { payload: { humidity: 40 }, timestamp: ts }), undefined);
    await got["l-tel-out"].next((m) => m.payload.humidity === 40);
    assert.deepEqual(got["l-tel-out"].map((m) => [m.topic, m.payload, m.thingsboard.device, m.thingsboard.ts === ts]), [
      ["Greenhouse", { temperature: 21.5 }, "Greenhouse", false],
      ["Greenhouse", { humidity: 40 }, "Greenhouse", true],
    ]);

    assert.equal(await inject(node("m-attr"), { payload: { firmware: "1.0" } }), undefined);
    const client = await got["l-attr-out"].next();
    assert.deepEqual([client.payload, client.thingsboard.scope], [{ firmware: "1.0" }, "client"]);
    assert.equal(await inject(node("l-attr"), { topic: "target", payload: 22 }), undefined);
    const shared = await got["m-attr-out"].next();
    assert.deepEqual([shared.payload, shared.thingsboard.scope], [{ target: 22 }, "shared"]);
    assert.equal(await inject(node("m-attr"), { topic: "req-1", thingsboard: { request: { clientKeys: "firmware", sharedKeys: ["target"] } } }), undefined);
    const response = await got["m-attr-out"].next((m) => m.topic === "req-1");
    assert.deepEqual([response.payload, response.thingsboard.response], [{ client: { firmware: "1.0" }, shared: { target: 22 } }, true]);

    // Server-side RPC: the flow on the hosted side calls the device; the device's flow answers.
    const calling = inject(node("l-call"), { topic: "setGpio", payload: { pin: 4, value: 1 } });
    const request = await got["m-serve-out"].next();
    assert.deepEqual([request.topic, request.payload, typeof request.thingsboard.rpcId], ["setGpio", { pin: 4, value: 1 }, "number"]);
    await statusOf(node("m-serve"), (s) => s.text === 'thingsboard-rpc.status.waiting {"count":1}');
    assert.equal(await inject(node("m-serve"), { ...request, payload: { pin: 4, state: "on" } }), undefined);
    assert.equal(await calling, undefined);
    assert.deepEqual((await got["l-call-out"].next()).payload, { pin: 4, state: "on" });
    // A second reply is refused with a warning, not an error.
    assert.equal(await inject(node("m-serve"), { ...request, payload: "again" }), undefined);
    assert.match(warningsOf(node("m-serve")).at(-1), /stale-reply.*answered already/);

    // Client-side RPC: the device calls ThingsBoard; the hosted side's flow answers.
    const asking = inject(node("m-call"), { payload: { method: "getTime", params: {} } });
    const asked = await got["l-serve-out"].next();
    assert.equal(asked.topic, "getTime");
    assert.equal(await inject(node("l-serve"), { ...asked, payload: { time: 1700000000000 } }), undefined);
    assert.equal(await asking, undefined);
    assert.deepEqual((await got["m-call-out"].next()).payload, { time: 1700000000000 });

    // Timeouts: the call fails catchably; the unanswered served request warns.
    const err = await inject(node("m-call-fast"), { topic: "nobodyAnswers" });
    assert.match(err.message, /thingsboard-rpc\.errors\.timeout.*no answer to RPC/);
    await got["l-serve-out"].next((m) => m.topic === "nobodyAnswers");
    await until(() => warningsOf(node("l-serve")).some((w) => /unanswered.*nobodyAnswers/.test(w)), 5000, "the unanswered warning");
    assertNoToken(TOKEN, ["b1", "hosted1", "device1", ...SINKS, "l-tel", "l-attr", "l-serve", "l-call", "m-tel", "m-attr", "m-serve", "m-call", "m-call-fast"], got);
  });

  it("a gateway: every message names its sub-device, which the hosted gateway's flows see by name", async function () {
    const port = await freePort();
    const flow = [...hosted(port, { gateway: true }), ...asDevice("mqtt", `mqtt://127.0.0.1:${port}`, { gateway: true })];
    const got = await loadFlow(withBroker, flow, CREDS, SINKS);
    await ready();
    assert.equal(await inject(node("m-tel"), { payload: { temperature: 19 } }), undefined); // the node's sub-device
    assert.equal(await inject(node("m-tel"), { payload: { temperature: 20 }, thingsboard: { device: "Sensor B" } }), undefined);
    await got["l-tel-out"].next((m) => m.topic === "Sensor B");
    assert.deepEqual(got["l-tel-out"].map((m) => [m.topic, m.payload, m.thingsboard.subDevice]), [
      ["Sensor A", { temperature: 19 }, true],
      ["Sensor B", { temperature: 20 }, true],
    ]);
    const calling = inject(node("l-call"), { topic: "reboot", payload: {}, thingsboard: { device: "Sensor B" } });
    const request = await got["m-serve-out"].next();
    assert.deepEqual([request.thingsboard.device, request.thingsboard.subDevice], ["Sensor B", true]);
    assert.equal(await inject(node("m-serve"), { ...request, payload: "rebooting" }), undefined);
    assert.equal(await calling, undefined);
    assert.equal((await got["l-call-out"].next()).payload, "rebooting");
  });

  it("http mode: Node-RED as a device over the HTTP device API that Node-RED serves for the hosted device", async function () {
    const port = await freePort();
    // Node-RED's HTTP nodes' app, on a loopback port of its own (the API is mounted on it).
    let web;
    const serve = async () => {
      web = http.createServer(runtime.RED.httpNode);
      web.listen(0, "127.0.0.1");
      await once(web, "listening");
      return `http://127.0.0.1:${web.address().port}`;
    };
    cleanups.push(async () => {
      web?.closeAllConnections();
      await new Promise((resolve) => (web ? web.close(() => resolve()) : resolve()));
    });
    await loadFlow(withBroker, [TAB], {}, []); // registers the node types, so RED is known
    const origin = await serve();
    const got = await loadFlow(withBroker, [...hosted(port), ...asDevice("http", origin)], CREDS, SINKS, "full");
    await statusOf(node("l-attr"), (s) => s.text === `${STATUS}connected` || s.text === `${STATUS}device-offline`, "the broker running");
    assert.equal(await inject(node("m-tel"), { topic: "temperature", payload: 18 }), undefined);
    assert.deepEqual((await got["l-tel-out"].next()).payload, { temperature: 18 });
    await statusOf(node("m-attr"), (s) => s.text === `${STATUS}connected`, "a poll answered");
    // Long polls: a shared attribute update and a server-side RPC reach the device.
    const calling = inject(node("l-call"), { topic: "setMode", payload: { mode: "eco" } });
    const request = await got["m-serve-out"].next();
    assert.equal(await inject(node("m-serve"), { ...request, payload: "ok" }), undefined);
    assert.equal(await calling, undefined);
    assert.equal((await got["l-call-out"].next()).payload, "ok");
    assert.equal(await inject(node("l-attr"), { payload: { interval: 30 } }), undefined);
    assert.deepEqual((await got["m-attr-out"].next((m) => m.thingsboard.scope === "shared")).payload, { interval: 30 });
  });

  it("shows a refused token in words (CONNACK 0x05) and keeps it out of every status and log", async function () {
    const port = await freePort();
    const flow = [...hosted(port), ...asDevice("mqtt", `mqtt://127.0.0.1:${port}`)];
    const wrong = "WrongTbTOKEN01234567";
    await loadFlow(withBroker, flow, { hosted1: { token: TOKEN }, device1: { token: wrong } }, []);
    // A short status; the words (CONNACK 0x05 in ThingsBoard's terms) are in the config node's one warning.
    await statusOf(node("m-attr"), (s) => s.text === `${STATUS}refused` && s.fill === "red", "the refusal");
    await until(() => warningsOf(node("device1")).some((w) => /auth-failed/.test(w)), 5000, "the warning");
    const warned = warningsOf(node("device1")).filter((w) => /auth-failed/.test(w));
    assert.equal(warned.length, 1, "once, not on every retry");
    assert.match(warned[0], /not authorized — ThingsBoard does not know this access token.*0x05/);
    assertNoToken(wrong, ["device1", "m-tel", "m-attr", "m-serve", "m-call"]);
  });
});
