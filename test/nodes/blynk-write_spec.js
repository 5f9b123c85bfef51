"use strict";
// blynk-write: msg -> Blynk writes in each mode, and every bad input refused with done(err)
// before anything is sent.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { startHttpServer } = require("../lib/fixtures/http-server.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { blynkNodes, TAB } = require("./blynk-helpers.js");
const { onTab, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "WriteTok_0123456789abcdefghijklm";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const API = "/external/api/";

describe("blynk-write node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function mqttDevice() {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    b.box = inbox(w);
    await w.subscribeAsync("#");
    await helper.load(
      blynkNodes,
      [
        TAB,
        { id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", server: b.url },
        onTab({ id: "fixed", type: "blynk-write", device: "dev1", datastream: "Temperature" }),
        onTab({ id: "topic", type: "blynk-write", device: "dev1", datastream: "" }),
      ],
      { dev1: { token: TOKEN } },
    );
    await statusOf(helper.getNode("fixed"), (s) => s.text === `${STATUS}connected`);
    return b;
  }

  it("mqtt mode: values, multi-values, objects as one batch, properties, timestamped data and erases", async function () {
    const b = await mqttDevice();
    const fixed = helper.getNode("fixed");
    const topic = helper.getNode("topic");
    const ts = Date.now() - 60_000;
    const sent = [
      [fixed, { payload: 21.5 }],
      [topic, { topic: "Set Temperature", payload: "22" }],
      [topic, { topic: "Color", payload: [255, 128, 0] }],
      [topic, { payload: { Temperature: 20, Power: true, Location: [13.4, 52.52] } }],
      [fixed, { payload: "#FF0000", blynk: { property: "color" } }],
      [fixed, { payload: [[ts, 19], [ts + 1000, 19.5]] }],
      [fixed, { payload: 18, timestamp: ts + 2000 }],
      [fixed, { blynk: { erase: true } }],
      [fixed, { blynk: { property: "color", erase: true } }],
      [topic, { topic: "done", payload: true }],
    ];
    for (const [node, msg] of sent) assert.equal(await inject(node, msg), undefined, JSON.stringify(msg));
    await b.box.next("ds/done");
    assert.deepEqual(b.box.messages.map((m) => [m.topic, m.payload]), [
      ["ds/Temperature", "21.5"],
      ["ds/Set Temperature", "22"],
      ["ds/Color", "255\u0000128\u00000"],
      ["batch_ds", JSON.stringify({ Temperature: 20, Power: true, Location: [13.4, 52.52] })],
      ["ds/Temperature/prop/color", "#FF0000"],
      ["ds/Temperature/timestamped_batch", JSON.stringify([[ts, 19], [ts + 1000, 19.5]])],
      ["ds/Temperature/timestamped_batch", JSON.stringify([[ts + 2000, 18]])],
      ["ds/Temperature/erase", ""],
      ["ds/Temperature/prop/color/erase", ""],
      ["ds/done", "1"],
    ]);
  });

  it("refuses bad input with one clear error each, before sending anything", async function () {
    const b = await mqttDevice();
    const fixed = helper.getNode("fixed");
    const topic = helper.getNode("topic");
    const cases = [
      [topic, { payload: 1 }, /^blynk-write\.errors\.no-datastream .*undefined/],
      [topic, { topic: "", payload: 1 }, /^blynk-write\.errors\.no-datastream/],
      [topic, { topic: "a/b", payload: 1 }, /^blynk-write\.errors\.invalid .*datastream name .*a\/b.*accepted/],
      [fixed, { payload: "" }, /^blynk-write\.errors\.empty/],
      [fixed, {}, /^blynk-write\.errors\.empty/],
      [fixed, { payload: null }, /^blynk-write\.errors\.empty/],
      [fixed, { payload: "x".repeat(1025) }, /^blynk-write\.errors\.invalid .*1024 bytes/],
      [fixed, { payload: { a: 1 } }, /^blynk-write\.errors\.object-with-datastream .*Temperature/],
      [topic, { payload: {} }, /^blynk-write\.errors\.invalid .*at least one datastream/],
      [topic, { payload: { Good: 1 }, timestamp: Date.now() }, /^blynk-write\.errors\.batch-timestamp/],
      [fixed, { payload: 1, blynk: { property: 7 } }, /^blynk-write\.errors\.invalid-property/],
      [fixed, { payload: 1, blynk: { property: "bad-name" } }, /^blynk-write\.errors\.invalid .*property name/],
      [fixed, { payload: 1, timestamp: "yesterday" }, /^blynk-write\.errors\.invalid .*timestamp/],
      [fixed, { payload: [[1, 2]] }, /^blynk-write\.errors\.invalid .*days before now/],
      [fixed, { payload: [1, [2]] }, /^blynk-write\.errors\.invalid .*nested array/],
    ];
    for (const [node, msg, expected] of cases) {
      const err = await inject(node, msg);
      assert.ok(err instanceof Error, `refused: ${JSON.stringify(msg)}`);
      assert.match(err.message, expected);
    }
    assert.equal(await inject(topic, { topic: "sentinel", payload: 1 }), undefined);
    await b.box.next("ds/sentinel");
    assert.deepEqual(b.box.messages.map((m) => m.topic), ["ds/sentinel"], "nothing of the refused messages was sent");
    assertNoToken(TOKEN, ["dev1", "fixed", "topic"]);
  });

  it("https mode: the matching HTTPS calls; erase refused", async function () {
    const s = await startHttpServer();
    cleanups.push(() => s.close());
    s.reply("GET", `${API}isHardwareConnected`, 200, "false");
    for (const path of ["update", "batch/update", "update/property"]) s.reply("*", API + path, 200, "");
    await helper.load(
      blynkNodes,
      [
        TAB,
        { id: "dev1", type: "blynk-device", connection: "https", server: s.origin },
        onTab({ id: "w", type: "blynk-write", device: "dev1", datastream: "" }),
      ],
      { dev1: { token: TOKEN } },
    );
    const w = helper.getNode("w");
    await statusOf(w, (s) => s.text === `${STATUS}device-offline` && s.fill === "green" && s.shape === "ring");
    const ts = Date.now() - 60_000;
    for (const msg of [
      { topic: "V1", payload: 21.5 },
      { payload: { V1: 1, V2: "on" } },
      { topic: "V1", payload: "red", blynk: { property: "color" } },
      { topic: "V1", payload: [[ts, 20]] },
    ]) {
      assert.equal(await inject(w, msg), undefined, JSON.stringify(msg));
    }
    assert.match((await inject(w, { topic: "V1", blynk: { erase: true } })).message, /^blynk-write\.errors\.https-erase/);
    assert.match((await inject(w, { topic: "Temperature", payload: 1 })).message, /^blynk-write\.errors\.invalid .*Wrong pin format/);
    const t = `token=${TOKEN}`;
    assert.deepEqual(s.requests.map((r) => [r.method, r.path.slice(API.length), r.rawQuery]), [
      ["GET", "isHardwareConnected", t],
      ["GET", "update", `${t}&v1=21.5`],
      ["GET", "batch/update", `${t}&v1=1&v2=on`],
      ["GET", "update/property", `${t}&pin=v1&color=red`],
      ["POST", "batch/update", `${t}&pin=v1`],
    ]);
    assertNoToken(TOKEN, ["dev1", "w"]);
  });
});
