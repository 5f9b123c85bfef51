"use strict";
// blynk-device (config node): one connection per device shared by its nodes, status pushed to
// all of them, bad settings reported clearly, and the token kept out of sight.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { unusedPort, startHttpServer } = require("../lib/fixtures/http-server.js");
const { waitFor, until } = require("../support/wait.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { blynkNodes, TAB } = require("./blynk-helpers.js");
const { errorsOf, warningsOf, statuses, onTab, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "DevTok_0123456789abcdefghijklmno";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";

describe("blynk-device node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function broker(options, watch = true) {
    const b = await startBareBroker(options);
    cleanups.push(() => b.close());
    const devices = [];
    b.aedes.on("client", (client) => devices.push(client.id));
    b.devices = devices;
    if (!watch) return b;
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    b.box = inbox(w);
    await w.subscribeAsync("#");
    devices.length = 0;
    return b;
  }
  const device = (extra = {}) => ({ id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", ...extra });
  const users = (name = "") => [
    onTab({ id: "w1", type: "blynk-write", name, device: "dev1", datastream: "Temperature" }),
    onTab({ id: "i1", type: "blynk-device-in", device: "dev1", datastream: "", sync: false, wires: [[]] }),
    onTab({ id: "e1", type: "blynk-event", device: "dev1", event: "", wires: [[]] }),
  ];

  it("opens one connection for all nodes of a device, keeps it across a redeploy of the nodes and closes it when the last one is removed", async function () {
    const b = await broker();
    const flow = (name) => [TAB, device({ server: b.url }), ...users(name)];
    await helper.load(blynkNodes, flow(""), { dev1: { token: TOKEN } });
    for (const id of ["w1", "i1", "e1"]) await statusOf(helper.getNode(id), (s) => s.text === `${STATUS}connected` && s.fill === "green");
    assert.equal(b.devices.length, 1);

    await helper.setFlows(flow("renamed"), "nodes", { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("w1"), (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(helper.getNode("w1"), { payload: 21.5 }), undefined);
    await b.box.next("ds/Temperature");
    assert.equal(b.devices.length, 1, "the write went over the connection that was already open");

    const gone = waitFor(b.aedes, "clientDisconnect", (client) => client.id === b.devices[0]);
    await helper.setFlows([TAB, device({ server: b.url })], "nodes", { dev1: { token: TOKEN } });
    await gone;
  });

  it("pushes the link's status to every node: connecting, disconnected with the reason, invalid token", async function () {
    const port = await unusedPort();
    await helper.load(blynkNodes, [TAB, device({ server: `mqtt://127.0.0.1:${port}` }), ...users()], { dev1: { token: TOKEN } });
    for (const id of ["w1", "i1", "e1"]) {
      const node = helper.getNode(id);
      await statusOf(node, (s) => s.text === `${STATUS}connecting` && s.fill === "yellow" && s.shape === "ring");
      await statusOf(node, (s) => s.fill === "red" && s.text === `${STATUS}no-connection`);
    }
    // The short status leaves the reason to one warning of the config node, not one per retry.
    const dev = helper.getNode("dev1");
    await until(() => warningsOf(dev).length > 0, 5000, "the device's warning");
    const downs = () => statuses(helper.getNode("w1")).filter((s) => s.text === `${STATUS}no-connection`).length;
    await until(() => downs() >= 2, 10_000, "a retry that failed again");
    const warned = warningsOf(dev);
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.match(warned[0], /^blynk-device\.warnings\.disconnected .*connection refused/);
    await helper.unload();
    const refusing = await broker({
      authenticate: (_c, _u, _p, done) => {
        const err = new Error("no");
        err.returnCode = 4;
        done(err, false);
      },
    }, false);
    await helper.load(blynkNodes, [TAB, device({ server: refusing.url }), ...users()], { dev1: { token: TOKEN } });
    for (const id of ["w1", "i1", "e1"]) await statusOf(helper.getNode(id), (s) => s.text === `${STATUS}auth-failed` && s.fill === "red");
    // Blynk warns of a refused token as ThingsBoard does: once, in words.
    await until(() => warningsOf(helper.getNode("dev1")).length > 0, 5000, "the refusal's warning");
    assert.deepEqual(warningsOf(helper.getNode("dev1")).map((w) => w.replace(/ .*/, "")), ["blynk-device.warnings.auth-failed"]);
    assertNoToken(TOKEN, ["dev1", "w1", "i1", "e1"]);
  });

  it("https mode: a refused token is warned once, in words true of a mode that does not retry on its own", async function () {
    const http = await startHttpServer();
    try {
      http.reply("GET", "/external/api/isHardwareConnected", 400, { error: { message: "Invalid token." } });
      await helper.load(blynkNodes, [TAB, device({ connection: "https", server: http.origin }), ...users()], { dev1: { token: TOKEN } });
      await until(() => warningsOf(helper.getNode("dev1")).length > 0, 5000, "the refusal's warning");
      assert.deepEqual(warningsOf(helper.getNode("dev1")).map((w) => w.replace(/ .*/, "")), ["blynk-device.warnings.auth-failed"]);
      // One text for every mode: https only tries the token again with its next request, so no "retrying".
      const catalog = require("../../locales/en-US/blynk-device.json");
      assert.doesNotMatch(catalog["blynk-device"].warnings["auth-failed"], /retrying/);
    } finally {
      await helper.unload();
      await http.close();
    }
  });

  it("reports bad settings clearly instead of connecting: missing token, bad URL, missing device", async function () {
    const flow = [
      TAB,
      device(),
      device({ id: "dev2", server: "https://blynk.cloud" }),
      onTab({ id: "w1", type: "blynk-write", device: "dev1", datastream: "T" }),
      onTab({ id: "w2", type: "blynk-write", device: "dev2", datastream: "T" }),
      onTab({ id: "w3", type: "blynk-write", device: "", datastream: "T" }),
      onTab({ id: "i3", type: "blynk-device-in", device: "nope", wires: [[]] }),
      onTab({ id: "e3", type: "blynk-event", wires: [[]] }),
      device({ id: "dev4", connection: "https", server: "http://127.0.0.1:9" }),
      onTab({ id: "i4", type: "blynk-device-in", device: "dev4", datastream: "Temperature", wires: [[]] }),
    ];
    await helper.load(blynkNodes, flow, { dev2: { token: TOKEN }, dev4: { token: TOKEN } });
    const i4 = helper.getNode("i4");
    assert.match(errorsOf(i4)[0], /^blynk-device-in\.errors\.invalid-datastream .*Wrong pin format/);
    await statusOf(i4, (s) => s.fill === "red" && s.text === `${STATUS}config-error`);
    assert.match((await inject(i4, { payload: 1 })).message, /^blynk-device-in\.errors\.invalid-datastream/);
    // No token yet: the config node warns once (no error); its flow nodes only show a yellow "no token".
    assert.deepEqual([errorsOf(helper.getNode("dev1")), warningsOf(helper.getNode("dev1"))], [[], ["blynk-device.errors.missing-token"]]);
    assert.match(errorsOf(helper.getNode("dev2"))[0], /^blynk-device\.errors\.invalid-mqtt-server .*https:\/\/blynk\.cloud/);
    // No token yet is something to fill in: a short yellow "no token"; a bad URL is an error.
    for (const [id, status, fill] of [["w1", "no-token", "yellow"], ["w2", "config-error", "red"]]) {
      const node = helper.getNode(id);
      if (fill === "yellow") assert.deepEqual(errorsOf(node), [], "no error per flow node for a token not filled in yet");
      else assert.match(errorsOf(node)[0], /^blynk-write\.errors\.device-invalid /);
      await statusOf(node, (s) => s.fill === fill && s.shape === "ring" && s.text === `${STATUS}${status}`);
      const err = await inject(node, { payload: 1 });
      assert.match(err.message, /^blynk-write\.errors\.device-invalid/);
    }
    assert.equal(errorsOf(helper.getNode("w3"))[0], "blynk-write.errors.no-device");
    assert.equal(errorsOf(helper.getNode("i3"))[0], "blynk-device-in.errors.no-device");
    assert.equal(errorsOf(helper.getNode("e3"))[0], "blynk-event.errors.no-device");
    for (const id of ["w3", "i3", "e3"]) await statusOf(helper.getNode(id), (s) => s.fill === "red" && s.text === `${STATUS}no-device`);
    assert.match((await inject(helper.getNode("e3"), { topic: "x" })).message, /^blynk-event\.errors\.no-device/);
    assertNoToken(TOKEN, ["dev1", "dev2", "dev4", "w1", "w2", "w3", "i3", "e3", "i4"]);
  });

  it("connects over mqtts with the CA of a tls-config node, and says so when the tls-config node is missing", async function () {
    const fs = require("node:fs");
    const path = require("node:path");
    const certs = path.join(__dirname, "..", "lib", "fixtures", "certs");
    const tlsNode = require(require.resolve("@node-red/nodes/core/network/05-tls.js", { paths: [path.dirname(nodeRedPath)] }));
    const port = await unusedPort();
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", tls: "srv", wires: [[]] }),
      { id: "srv", type: "tls-config", cert: path.join(certs, "server.crt"), key: path.join(certs, "server.key"), ca: "", verifyservercert: false },
      { id: "cli", type: "tls-config", cert: "", key: "", ca: path.join(certs, "ca.crt"), verifyservercert: true },
      { id: "hosted", type: "blynk-device", name: "Hosted", connection: "local", broker: "b1" },
      device({ server: `mqtts://127.0.0.1:${port}`, tls: "cli" }),
      onTab({ id: "w1", type: "blynk-write", device: "dev1", datastream: "Temperature" }),
      onTab({ id: "in1", type: "blynk-device-in", device: "hosted", datastream: "Temperature", sync: false, wires: [["got"]] }),
      onTab({ id: "got", type: "helper" }),
    ];
    await helper.load([require("./blynk-helpers.js").modules.broker, tlsNode, ...blynkNodes], flow, { hosted: { token: TOKEN }, dev1: { token: TOKEN } });
    const got = new Promise((resolve) => helper.getNode("got").once("input", resolve));
    await statusOf(helper.getNode("w1"), (s) => s.text === `${STATUS}connected`);
    await inject(helper.getNode("w1"), { payload: 21.5 });
    assert.equal((await got).payload, 21.5);
    assert.ok(fs.existsSync(path.join(certs, "ca.crt")));
    await helper.unload();
    await helper.load([tlsNode, ...blynkNodes], [TAB, device({ server: "mqtts://127.0.0.1:1", tls: "gone" }), ...users()], { dev1: { token: TOKEN } });
    const dev = helper.getNode("dev1");
    assert.match(errorsOf(dev).join("\n"), /blynk-device\.errors\.tls-missing/);
  });

  it("keeps the token in credentials only: a password credential, never in the flow, log, status or errors", async function () {
    const b = await broker();
    await helper.load(blynkNodes, [TAB, device({ server: b.url }), ...users()], { dev1: { token: TOKEN } });
    await statusOf(helper.getNode("w1"), (s) => s.text === `${STATUS}connected`);
    assert.deepEqual(helper._redNodes.getCredentialDefinition("blynk-device"), { token: { type: "password" } });
    const err = await inject(helper.getNode("w1"), { payload: "x".repeat(2000) });
    assert.match(err.message, /1024 bytes/);
    assertNoToken(TOKEN, ["dev1", "w1", "i1", "e1"], err);
  });
});
