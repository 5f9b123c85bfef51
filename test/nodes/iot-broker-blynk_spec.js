"use strict";
// iot-broker's blynkPort / blynkTlsPort in node-red-node-test-helper: the npm blynk-library as a
// real device over loopback (plain and TLS), flows reading and writing it through local-mode
// blynk-device nodes, a redeploy that keeps it connected, and the settings' errors.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { jsDevice } = require("../lib/fixtures/blynk-js-device.js");
const { CMD, frame } = require("../lib/fixtures/blynk-wire.js");
const { rawDevice } = require("../lib/blynk/binary-wire.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until, waitFor } = require("../support/wait.js");
const { withBroker, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, inject, errorsOf, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const tlsNode = require(require.resolve("@node-red/nodes/core/network/05-tls.js", { paths: [path.dirname(nodeRedPath)] }));
const certs = path.join(__dirname, "..", "lib", "fixtures", "certs");
const TOKEN = "BinTok_0123456789abcdefghijklmno";
const OTHER = "BinTok2_0123456789abcdefghijklmn";

describe("iot-broker node: Blynk binary protocol ports", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function ports() {
    return { port: await freePort(), blynkPort: await freePort(), blynkTlsPort: await freePort() };
  }

  function flow(p, broker = {}) {
    return [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port: p.port, bind: "127.0.0.1", blynkPort: p.blynkPort, blynkTlsPort: p.blynkTlsPort, tls: "tls1", wires: [["events"]], ...broker }),
      { id: "tls1", type: "tls-config", cert: path.join(certs, "server.crt"), key: path.join(certs, "server.key"), ca: "", verifyservercert: false },
      { id: "dev1", type: "blynk-device", name: "Hosted", connection: "local", broker: "b1", pins: "V1=Temperature, V2=Power" },
      { id: "dev2", type: "blynk-device", name: "Other", connection: "local", broker: "b1" },
      onTab({ id: "in", type: "blynk-device-in", device: "dev1", datastream: "", wires: [["out"]] }),
      onTab({ id: "w", type: "blynk-write", device: "dev1", datastream: "" }),
      sink("out"),
      sink("events"),
    ];
  }
  const creds = { dev1: { token: TOKEN }, dev2: { token: OTHER } };
  const modules = [...withBroker, tlsNode];

  it("hosts a JS-library device on blynkPort: values reach blynk-device-in, blynk-write reaches BLYNK_WRITE, a redeploy keeps it connected", async function () {
    const p = await ports();
    const { out, events } = await loadFlow(modules, flow(p), creds, ["out", "events"]);
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker");
    const dev = jsDevice({ port: p.blynkPort, token: TOKEN });
    cleanups.push(async () => dev.close());
    await waitFor(dev.blynk, "connect");
    await events.next((m) => m.topic === "client-connected" && m.payload.plugin === "blynk");

    dev.blynk.virtualWrite(1, 22.5);
    const temp = await out.next((m) => m.topic === "Temperature");
    assert.equal(temp.payload, 22.5);
    assert.equal(temp.blynk.source, "device");

    const power = new dev.blynk.VirtualPin(2);
    const wrote = waitFor(power, "write");
    await inject(helper.getNode("w"), { topic: "Power", payload: 1 });
    assert.deepEqual(await wrote, ["1"]);

    const engine = brokers.engine("b1");
    await helper.setFlows(flow(p), "full", creds);
    assert.equal(brokers.engine("b1"), engine, "a full deploy of unchanged nodes keeps the engine");
    const again = waitFor(power, "write");
    await inject(helper.getNode("w"), { topic: "Power", payload: 0 });
    assert.deepEqual(await again, ["0"]);
    assert.ok(!dev.events.includes("disconnect"), "the device stayed connected");
    assertNoToken(TOKEN, ["dev1", "b1"], out, events);
  });

  it("a redeploy that changes the broker's settings starts a new engine on the same Blynk port: devices log in again", async function () {
    const p = await ports();
    await loadFlow(modules, flow(p), creds);
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker");
    const first = brokers.engine("b1");
    const before = await rawDevice(p.blynkPort);
    cleanups.push(async () => before.end());
    assert.equal(await before.login(TOKEN), 200);
    await helper.setFlows(flow(p, { maxQueuedMessages: "50" }), "nodes", creds);
    await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== first, 5000, "the new engine");
    await before.untilClosed();
    let status;
    await until(async () => {
      const d = await rawDevice(p.blynkPort).catch(() => undefined);
      if (d === undefined) return false;
      cleanups.push(async () => d.end());
      status = await d.login(TOKEN).catch(() => undefined);
      return status === 200;
    }, 10_000, "a login on the new engine");
    assert.deepEqual(errorsOf(helper.getNode("b1")), []);
  });

  it("hosts devices over TLS on blynkTlsPort with the broker's tls-config", async function () {
    const p = await ports();
    const { out } = await loadFlow(modules, flow(p), creds, ["out"]);
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker");
    const d = await rawDevice(p.blynkTlsPort, { tls: { ca: fs.readFileSync(path.join(certs, "ca.crt")), servername: "localhost" } });
    cleanups.push(async () => d.end());
    assert.equal(await d.login(TOKEN), 200);
    d.send(frame(CMD.HARDWARE, 2, "vw", "1", "18"));
    assert.equal((await out.next((m) => m.topic === "Temperature")).payload, 18);
    // blynk-write's $system/... topics are commands to the device.
    await inject(helper.getNode("w"), { topic: "$system/pin-mode", payload: { 8: "out" } });
    await inject(helper.getNode("w"), { topic: "$system/read", payload: "D8" });
    await inject(helper.getNode("w"), { topic: "$system/ota", payload: "http://192.168.1.20/fw.bin" });
    await d.next((f) => f.command === CMD.INTERNAL);
    assert.deepEqual(d.frames.filter((f) => f.command !== CMD.RESPONSE).map((f) => f.body.split("\0")), [["pm", "8", "out"], ["dr", "8"], ["ota", "http://192.168.1.20/fw.bin"]]);
    d.send(frame(CMD.HARDWARE, 3, "dw", "8", "1"));
    assert.equal((await out.next((m) => m.topic === "D8")).payload, 1);
  });

  it("refuses a port used twice and a Blynk TLS port without TLS (i18n keys)", async function () {
    const p = await ports();
    await loadFlow(modules, flow(p, { blynkPort: p.port }), creds);
    await until(() => errorsOf(helper.getNode("b1")).length > 0);
    assert.match(errorsOf(helper.getNode("b1"))[0], /^iot-broker\.errors\.port-clash .*"field":"blynkPort".*"other":"port"/);
    await helper.unload();
    await loadFlow(modules, flow(await ports(), { tls: "" }), creds);
    await until(() => errorsOf(helper.getNode("b1")).length > 0);
    assert.match(errorsOf(helper.getNode("b1"))[0], /^iot-broker\.errors\.blynk-tls-missing/);
  });
});
