"use strict";
// blynk-event: logs events (mqtt, https), honours Blynk's per-code interval with a warning
// instead of silent loss, and in local mode emits the events hosted devices log.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { startHttpServer } = require("../lib/fixtures/http-server.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { blynkNodes, withBroker, TAB } = require("./blynk-helpers.js");
const { loadFlow, warningsOf, onTab, sink, statusOf, inject, assertNoToken } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const TOKEN = "EventTok_0123456789abcdefghijklm";
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const API = "/external/api/";

describe("blynk-event node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("mqtt mode: logs events with a fixed code or msg.topic, and delays a too-early one with a warning", async function () {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    const box = inbox(w);
    await w.subscribeAsync("event/#");
    await helper.load(
      blynkNodes,
      [
        TAB,
        { id: "dev1", type: "blynk-device", connection: "mqtt", server: b.url },
        onTab({ id: "fixed", type: "blynk-event", device: "dev1", event: "overheat", wires: [[]] }),
        onTab({ id: "topic", type: "blynk-event", device: "dev1", event: "", wires: [[]] }),
      ],
      { dev1: { token: TOKEN } },
    );
    const fixed = helper.getNode("fixed");
    const topic = helper.getNode("topic");
    await statusOf(fixed, (s) => s.text === `${STATUS}connected`);
    assert.equal(await inject(fixed, { payload: "82 °C" }), undefined);
    assert.equal(await inject(topic, { topic: "door_open", payload: 3 }), undefined);
    assert.equal(await inject(topic, { topic: "idle" }), undefined);
    // Same code again at once: it waits for its slot (done comes when it was sent) and says so.
    assert.equal(await inject(fixed, { payload: "still hot" }), undefined);
    assert.match(warningsOf(fixed)[0], /^blynk-event\.warnings\.delayed .*"code":"overheat"/);
    await until(() => box.messages.length === 4, 5000, "the four events");
    assert.deepEqual(box.messages.map((m) => [m.topic, m.payload]), [
      ["event/overheat", "82 °C"],
      ["event/door_open", "3"],
      ["event/idle", ""],
      ["event/overheat", "still hot"],
    ]);

    const refused = [
      [topic, { payload: "x" }, /^blynk-event\.errors\.no-event/],
      [topic, { topic: "bad code", payload: "x" }, /^blynk-event\.errors\.invalid .*event code/],
      [fixed, { payload: { nested: true } }, /^blynk-event\.errors\.invalid-description/],
      [fixed, { payload: "x".repeat(1100) }, /^blynk-event\.errors\.invalid .*1024 bytes/],
    ];
    for (const [node, msg, expected] of refused) assert.match((await inject(node, msg)).message, expected);
    assertNoToken(TOKEN, ["dev1", "fixed", "topic"]);
  });

  it("https mode: logs through logEvent", async function () {
    const s = await startHttpServer();
    cleanups.push(() => s.close());
    s.reply("GET", `${API}isHardwareConnected`, 200, "true");
    s.reply("GET", `${API}logEvent`, 200, "");
    await helper.load(
      blynkNodes,
      [TAB, { id: "dev1", type: "blynk-device", connection: "https", server: s.origin }, onTab({ id: "e", type: "blynk-event", device: "dev1", event: "alarm", wires: [[]] })],
      { dev1: { token: TOKEN } },
    );
    assert.equal(await inject(helper.getNode("e"), { payload: "smoke" }), undefined);
    assert.ok(s.requests.some((r) => r.path === `${API}logEvent` && r.rawQuery === `token=${TOKEN}&code=alarm&description=smoke`));
  });

  it("local mode: emits the events a hosted device logs (all, or one code) and refuses input", async function () {
    const port = await freePort();
    const got = await loadFlow(
      withBroker,
      [
        TAB,
        onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
        { id: "dev1", type: "blynk-device", name: "Hosted", connection: "local", broker: "b1" },
        onTab({ id: "all", type: "blynk-event", device: "dev1", event: "", wires: [["o-all"]] }),
        onTab({ id: "one", type: "blynk-event", device: "dev1", event: "door", wires: [["o-one"]] }),
        sink("o-all"),
        sink("o-one"),
      ],
      { dev1: { token: TOKEN } },
      ["o-all", "o-one"],
    );
    await statusOf(helper.getNode("all"), (s) => s.text === `${STATUS}device-offline`);
    const device = await connect(`mqtt://127.0.0.1:${port}`, { username: "device", password: TOKEN, clientId: "" });
    cleanups.push(() => device.endAsync(true));
    await device.publishAsync("event/overheat", "too hot", { qos: 1 });
    await device.publishAsync("event/door", "", { qos: 1 });
    const door = await got["o-one"].next((m) => m.topic === "door");
    assert.deepEqual({ topic: door.topic, payload: door.payload, blynk: door.blynk }, { topic: "door", payload: "", blynk: { device: "Hosted", event: "door", source: "device" } });
    await got["o-all"].next((m) => m.topic === "door");
    assert.deepEqual(got["o-all"].map((m) => [m.topic, m.payload]), [["overheat", "too hot"], ["door", ""]]);
    assert.deepEqual(got["o-one"].map((m) => m.topic), ["door"]);
    assert.match((await inject(helper.getNode("all"), { topic: "x", payload: "y" })).message, /^blynk-event\.errors\.local-input/);
    assertNoToken(TOKEN, ["dev1", "all", "one", "b1"], got);
  });
});
