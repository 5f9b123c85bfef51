"use strict";
// blynk-device-in: values from the other side as messages, in each mode; options raw, system,
// one datastream or all, sync on (re)connect, https reads on input and on an interval.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { startHttpServer } = require("../lib/fixtures/http-server.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { blynkNodes, withBroker, TAB } = require("./blynk-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "InTok_0123456789abcdefghijklmnop";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const API = "/external/api/";

describe("blynk-device-in node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("mqtt mode: emits what the cloud writes; raw, one datastream, system messages; syncs on every (re)connect", async function () {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const cloud = await connect(b.url);
    cleanups.push(() => cloud.endAsync(true));
    const asked = inbox(cloud);
    await cloud.subscribeAsync("get/#");
    // The "cloud" answers get/ds/all with the current value.
    cloud.on("message", (topic) => {
      if (topic === "get/ds/all") cloud.publish("downlink/ds/Power", "1");
    });
    const got = await loadFlow(
      blynkNodes,
      [
        TAB,
        { id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", server: b.url },
        onTab({ id: "all", type: "blynk-device-in", device: "dev1", datastream: "", sync: true, wires: [["o-all"]] }),
        onTab({ id: "power", type: "blynk-device-in", device: "dev1", datastream: "Power", sync: true, wires: [["o-power"]] }),
        onTab({ id: "raw", type: "blynk-device-in", device: "dev1", datastream: "", raw: true, sync: false, system: true, wires: [["o-raw"]] }),
        sink("o-all"),
        sink("o-power"),
        sink("o-raw"),
      ],
      { dev1: { token: TOKEN } },
      ["o-all", "o-power", "o-raw"],
    );
    const { "o-all": all, "o-power": power, "o-raw": raw } = got;
    await asked.next("get/ds/all");
    const synced = await power.next((m) => m.topic === "Power");
    assert.deepEqual({ topic: synced.topic, payload: synced.payload, blynk: synced.blynk }, {
      topic: "Power", payload: 1, blynk: { device: "Pi", datastream: "Power", raw: "1", source: "cloud" },
    });
    assert.deepEqual(asked.messages.map((m) => m.topic), ["get/ds/all"], "one request for both nodes");

    await cloud.publishAsync("downlink/ds/Color", "255\u0000128\u00000");
    await cloud.publishAsync("downlink/utc/all/json", JSON.stringify({ tz_name: "UTC", tz_rule: "UTC0", tz_offset: 0, dst_offset: 0, time: 1, iso8601: "1970-01-01T00:00:00+00:00" }));
    await cloud.publishAsync("downlink/ds/Power", "0");
    await power.next((m) => m.payload === 0);
    await all.next((m) => m.topic === "Color");
    const rawColor = await raw.next((m) => m.topic === "Color");
    assert.deepEqual(rawColor.payload, ["255", "128", "0"]);
    assert.deepEqual((await all.next((m) => m.topic === "Color")).payload, [255, 128, 0]);
    const utc = await raw.next((m) => m.topic === "$system/utc");
    assert.equal(utc.payload.tz_name, "UTC");
    assert.equal(utc.blynk.system, "utc");
    await raw.next((m) => m.topic === "Power" && m.payload === "0");
    assert.ok(power.every((m) => m.topic === "Power"), "the Power node emits only Power");
    assert.ok(!all.some((m) => m.topic.startsWith("$system/")), "system messages only when asked for");

    // A reconnect asks again: drop the device's connection only (the Blynk one, username "device").
    const linkClient = Object.values(b.aedes.clients).find((c) => c.id !== cloud.options.clientId);
    linkClient.conn.destroy();
    await until(() => asked.messages.filter((m) => m.topic === "get/ds/all").length === 2, 5000, "a second get/ds/all");
    assertNoToken(TOKEN, ["dev1", "all", "power", "raw"], all, power, raw);
  });

  it("https mode: reads on input (keeping the message), on start, and on an interval", async function () {
    const s = await startHttpServer();
    cleanups.push(() => s.close());
    s.reply("GET", `${API}isHardwareConnected`, 200, "true");
    s.reply("GET", `${API}getAll`, 200, { v1: 21.5, v2: "on" });
    s.reply("GET", `${API}get`, 200, "100.00000");
    const got = await loadFlow(
      blynkNodes,
      [
        TAB,
        { id: "dev1", type: "blynk-device", connection: "https", server: s.origin },
        onTab({ id: "all", type: "blynk-device-in", device: "dev1", datastream: "", sync: true, system: true, wires: [["o-all"]] }),
        onTab({ id: "v1", type: "blynk-device-in", device: "dev1", datastream: "V1", sync: false, raw: true, interval: "1", wires: [["o-v1"]] }),
        sink("o-all"),
        sink("o-v1"),
      ],
      { dev1: { token: TOKEN } },
      ["o-all", "o-v1"],
    );
    const { "o-all": all, "o-v1": v1 } = got;
    await statusOf(helper.getNode("all"), (st) => st.text === `${STATUS}device-online`);
    await all.next((m) => m.topic === "$system/online" && m.payload === true, "the sync at start");
    assert.deepEqual(all.filter((m) => !m.topic.startsWith("$")).map((m) => [m.topic, m.payload, m.blynk.source]), [["v1", 21.5, "read"], ["v2", "on", "read"]]);

    assert.equal(await inject(helper.getNode("v1"), { payload: "go", correlation: 7 }), undefined);
    const answer = await v1.next((m) => m.correlation === 7);
    assert.equal(answer.topic, "v1");
    assert.equal(answer.payload, "100.00000", "raw keeps the text");
    await until(() => v1.filter((m) => m.correlation === undefined).length > 0, 5000, "a read on the interval");
    assert.ok(s.requests.some((r) => r.rawQuery === `token=${TOKEN}&v1`));
    assertNoToken(TOKEN, ["dev1", "all", "v1"], all, v1);
  });

  it("local mode: emits what the hosted device publishes, its online state, and the stored values on start", async function () {
    const port = await freePort();
    const flow = (extra = []) => [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
      { id: "dev1", type: "blynk-device", name: "Hosted", connection: "local", broker: "b1" },
      onTab({ id: "in", type: "blynk-device-in", device: "dev1", datastream: "", system: true, wires: [["out"]] }),
      sink("out"),
      ...extra,
    ];
    const { out } = await loadFlow(withBroker, flow(), { dev1: { token: TOKEN } }, ["out"]);
    await statusOf(helper.getNode("in"), (st) => st.text === `${STATUS}device-offline`);
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: "device", password: TOKEN, clientId: "", keepalive: 45 });
    cleanups.push(() => device.endAsync(true));
    await statusOf(helper.getNode("in"), (st) => st.text === `${STATUS}device-online` && st.fill === "green");
    await device.publishAsync("ds/Temperature", "21.5", { qos: 1 });
    const temp = await out.next((m) => m.topic === "Temperature");
    assert.deepEqual(temp.blynk, { device: "Hosted", datastream: "Temperature", raw: "21.5", source: "device" });
    assert.equal(temp.payload, 21.5);
    await out.next((m) => m.topic === "$system/online" && m.payload === true);

    // A node deployed later starts from the stored values.
    const lateFlow = flow([onTab({ id: "late", type: "blynk-device-in", device: "dev1", datastream: "Temperature", wires: [["late-out"]] }), sink("late-out")]);
    const { "late-out": late } = await loadFlow(withBroker, lateFlow, { dev1: { token: TOKEN } }, ["late-out"], "nodes");
    const synced = await late.next((m) => m.topic === "Temperature");
    assert.equal(synced.payload, 21.5);
    assert.equal(synced.blynk.sync, true);
    assert.equal(await inject(helper.getNode("late"), { payload: 1 }), undefined, "input is ignored outside https mode");
    assertNoToken(TOKEN, ["dev1", "in", "late", "b1"], out, late);
  });
});
