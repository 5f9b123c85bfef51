"use strict";
// blynk-device in binary mode, in Node-RED: the flow nodes of mqtt mode, with the same message
// contract, over Blynk's binary protocol to a loopback stand-in of the legacy blynk-server
// (test/lib/fixtures/blynk-legacy-server.js): login, writes both ways, sync on connect, redirect
// followed, reconnect with the outbox flushed, invalid token, TLS through a tls-config node.
const assert = require("node:assert/strict");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startLegacyServer } = require("../lib/fixtures/blynk-legacy-server.js");
const { waitFor, until } = require("../support/wait.js");
const { blynkNodes, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "0123456789abcdef0123456789abcdef";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const tlsNode = require(require.resolve("@node-red/nodes/core/network/05-tls.js", { paths: [path.dirname(nodeRedPath)] }));

describe("blynk-device node, binary mode", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function server(options = {}) {
    const s = await startLegacyServer({ tokens: [TOKEN], ...options });
    cleanups.push(() => s.close());
    return s;
  }
  const device = (extra = {}) => ({ id: "dev1", type: "blynk-device", name: "Pi", connection: "binary", pins: "V1=Temperature, V2=Heater", templateId: "TMPL1", ...extra });
  const nodes = () => [
    onTab({ id: "w1", type: "blynk-write", device: "dev1", datastream: "" }),
    onTab({ id: "i1", type: "blynk-device-in", device: "dev1", datastream: "", sync: true, system: true, wires: [["out"]] }),
    onTab({ id: "e1", type: "blynk-event", device: "dev1", event: "", wires: [[]] }),
    sink("out"),
  ];

  it("logs in, syncs on connect, and carries writes both ways with mqtt mode's message contract", async function () {
    const s = await server();
    s.device(TOKEN).pins.set("V2", ["1"]);
    const login = waitFor(s.events, "login");
    const info = waitFor(s.events, "info");
    const { out } = await loadFlow(blynkNodes, [TAB, device({ server: s.url }), ...nodes()], { dev1: { token: TOKEN } }, ["out"]);
    await login;
    assert.equal((await info).tmpl, "TMPL1");
    for (const id of ["w1", "i1", "e1"]) await statusOf(helper.getNode(id), (st) => st.text === `${STATUS}connected` && st.fill === "green");

    // Sync on connect: the stored value comes back under its name, with the rtc asked for too.
    const synced = await out.next((m) => m.topic === "Heater");
    assert.deepEqual({ payload: synced.payload, blynk: synced.blynk }, { payload: 1, blynk: { device: "Pi", datastream: "Heater", raw: "1", source: "cloud", sync: true } });
    await out.next((m) => m.topic === "$system/rtc");

    // Flows -> server.
    const writes = [];
    s.events.on("write", (w) => writes.push(`${w.pin}=${w.values.join(",")}`));
    assert.equal(await inject(helper.getNode("w1"), { topic: "Temperature", payload: 21.5 }), undefined);
    assert.equal(await inject(helper.getNode("w1"), { payload: { Heater: false, V9: "x" } }), undefined);
    await until(() => writes.length === 3);
    assert.deepEqual(writes, ["V1=21.5", "V2=0", "V9=x"]);
    const event = waitFor(s.events, "frame", (m) => m.type === "event");
    assert.equal(await inject(helper.getNode("e1"), { topic: "overheat", payload: "too hot" }), undefined);
    assert.deepEqual(await event, { type: "event", id: (await event).id, code: "overheat", description: "too hot" });
    const erase = await inject(helper.getNode("w1"), { topic: "Temperature", payload: 1, blynk: { erase: true } });
    assert.match(erase.message, /^blynk-write\.errors\.binary-erase/);
    const unmapped = await inject(helper.getNode("w1"), { topic: "Humidity", payload: 1 });
    assert.match(unmapped.message, /names no pin/);

    // Server ("the app or HTTP API", id 111) -> flows.
    s.write(TOKEN, "V2", ["0"]);
    s.write(TOKEN, "V7", ["a", "b"]);
    const heater = await out.next((m) => m.topic === "Heater" && m.payload === 0);
    assert.equal(heater.blynk.sync, undefined);
    assert.deepEqual((await out.next((m) => m.topic === "V7")).payload, ["a", "b"]);
    assertNoToken(TOKEN, ["dev1", "w1", "i1", "e1"], out);
  });

  it("follows a redirect, reconnects after the server went with the queued writes sent in order, and syncs again", async function () {
    this.timeout(10_000);
    const s = await server();
    const port = s.port;
    const first = await server({ tokens: [], redirects: { [TOKEN]: { host: "127.0.0.1", port } } });
    const { out } = await loadFlow(blynkNodes, [TAB, device({ server: first.url }), ...nodes()], { dev1: { token: TOKEN } }, ["out"]);
    await waitFor(s.events, "login");
    await statusOf(helper.getNode("w1"), (st) => st.text === `${STATUS}connected`);
    assert.ok(helper.log().args.some((a) => JSON.stringify(a).includes(`127.0.0.1:${port}`)), "the redirect is logged");

    await s.close();
    await statusOf(helper.getNode("w1"), (st) => st.fill === "red" && st.text === `${STATUS}no-connection`);
    for (const v of [1, 2, 3]) assert.equal(await inject(helper.getNode("w1"), { topic: "Temperature", payload: v }), undefined);
    await statusOf(helper.getNode("w1"), (st) => st.text === `${STATUS}no-connection-queued ${JSON.stringify({ count: 3 })}`);

    const back = await startLegacyServer({ tokens: [TOKEN], port });
    cleanups.push(() => back.close());
    back.device(TOKEN).pins.set("V1", ["0"]);
    const writes = [];
    back.events.on("write", (w) => writes.push(w.values[0]));
    const syncAgain = waitFor(back.events, "frame", (m) => m.type === "sync", 8000);
    await until(() => writes.length === 3, 8000, "the queued writes");
    assert.deepEqual(writes, ["1", "2", "3"]);
    await syncAgain;
    await out.next((m) => m.topic === "Temperature" && m.blynk.sync === true);
  });

  it("shows an invalid token (status 9) as such on every node", async function () {
    const s = await server({ tokens: [] });
    await helper.load(blynkNodes, [TAB, device({ server: s.url }), ...nodes()], { dev1: { token: TOKEN } });
    for (const id of ["w1", "i1", "e1"]) await statusOf(helper.getNode(id), (st) => st.text === `${STATUS}auth-failed` && st.fill === "red");
    assertNoToken(TOKEN, ["dev1", "w1", "i1", "e1"]);
  });

  it("connects over TLS with a tls-config node's CA, and refuses a server URL of another mode", async function () {
    const s = await server({ tls: true });
    const info = waitFor(s.events, "info");
    await helper.load([tlsNode, ...blynkNodes], [
      TAB,
      { id: "tls1", type: "tls-config", cert: "", key: "", ca: path.join(__dirname, "../lib/fixtures/certs/ca.crt"), verifyservercert: true },
      device({ server: s.url, tls: "tls1" }),
      ...nodes(),
    ], { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("w1"), (st) => st.text === `${STATUS}connected`);
    assert.equal((await info).con, "TLS");

    await helper.unload();
    await helper.load(blynkNodes, [TAB, device({ server: "mqtt://127.0.0.1:1" }), ...nodes()], { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("w1"), (st) => st.text === `${STATUS}config-error`);
  });
});
