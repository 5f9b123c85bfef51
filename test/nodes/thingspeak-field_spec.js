"use strict";
// thingspeak-field: writes coalesced under the channel's update interval, bad inputs refused with
// done(err) before anything is sent, and subscribe mode over MQTT and REST polling.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { startHttpServer } = require("../lib/fixtures/http-server.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { tsNodes, TAB, STATUS } = require("./thingspeak-helpers.js");
const { loadFlow, onTab, sink, statuses, statusOf, inject, assertNoSecret } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const CREDS = { clientId: "FieldClientId001", username: "FieldUser001", password: "FieldPassword001secret" };
const KEYS = { writeKey: "FIELDWRITEKEY001", readKey: "FIELDREADKEY0001" };
const SECRETS = [CREDS.password, KEYS.writeKey, KEYS.readKey];

/** A feed entry as ThingSpeak's REST reads give it. */
const entry = (id, values) => ({ created_at: new Date(Date.UTC(2024, 0, 1, 0, 0, id)).toISOString().replace(".000Z", "Z"), entry_id: id, ...values });

describe("thingspeak-field node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** Node-RED as an MQTT device on a bare broker with a watcher; a 1 s interval keeps the test short. */
  async function mqttChannel(extraNodes = [], sinks = []) {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    b.box = inbox(w);
    b.watcher = w;
    await w.subscribeAsync("channels/#");
    const got = await loadFlow(
      tsNodes,
      [
        TAB,
        { id: "ch1", type: "thingspeak-channel", name: "Weather", connection: "mqtt", server: b.url, channelId: "1001", updateInterval: "1" },
        onTab({ id: "fixed", type: "thingspeak-field", channel: "ch1", field: "1", mode: "write", wires: [["out"]] }),
        onTab({ id: "topic", type: "thingspeak-field", channel: "ch1", field: "", mode: "write", wires: [["out"]] }),
        onTab({ id: "obj", type: "thingspeak-field", channel: "ch1", field: "", mode: "write", wires: [["out"]] }),
        sink("out"),
        ...extraNodes,
      ],
      { ch1: CREDS },
      ["out", ...sinks],
    );
    await statusOf(helper.getNode("fixed"), (s) => s.text === `${STATUS}connected`);
    return { b, got };
  }

  it("write: coalesces writes under the interval into one update, calls done when sent and emits what was written", async function () {
    const { b, got } = await mqttChannel();
    const fixed = helper.getNode("fixed");
    const topic = helper.getNode("topic");
    assert.equal(await inject(fixed, { payload: 20 }), undefined);
    // One message in flight per node: the spec's inject() follows one message per node at a time.
    const later = [inject(fixed, { payload: 21 }), inject(topic, { topic: "field2", payload: 60 }), inject(helper.getNode("obj"), { payload: { field1: "22.5", status: "ok" } })];
    const pending = await statusOf(topic, (s) => s.text.startsWith(`${STATUS}pending`) && s.text.includes('"count":3'));
    assert.match(pending.text, /"seconds":1/);
    assert.equal(pending.fill, "blue");
    assert.deepEqual(await Promise.all(later), [undefined, undefined, undefined]);
    await until(() => b.box.messages.length === 2, 5000, "the coalesced update");
    assert.deepEqual(b.box.messages.map((m) => [m.topic, m.payload]), [
      ["channels/1001/publish", "field1=20"],
      ["channels/1001/publish", "field1=22.5&field2=60&status=ok"],
    ]);
    await got.out.next((m) => m.thingspeak.coalesced === 3);
    assert.deepEqual(got.out.map((m) => [m.topic, m.payload, m.thingspeak.coalesced, m.thingspeak.entryId]), [
      [undefined, { field1: "20" }, 1, null],
      [undefined, { field1: "22.5", field2: "60", status: "ok" }, 3, null],
      ["field2", { field1: "22.5", field2: "60", status: "ok" }, 3, null],
      [undefined, { field1: "22.5", field2: "60", status: "ok" }, 3, null],
    ]);
    await statusOf(topic, (s) => s === statuses(topic).at(-1) && s.text === `${STATUS}connected`);
    assertNoSecret(SECRETS, ["ch1", "fixed", "topic", "obj"], got);
  });

  it("write: refuses bad input with one clear error each, before sending anything", async function () {
    const { b } = await mqttChannel();
    const fixed = helper.getNode("fixed");
    const topic = helper.getNode("topic");
    const cases = [
      [fixed, { payload: "" }, /^thingspeak-field\.errors\.invalid .*empty string/],
      [fixed, {}, /^thingspeak-field\.errors\.invalid .*cannot write undefined/],
      [fixed, { payload: [1, 2] }, /^thingspeak-field\.errors\.invalid .*cannot write an array/],
      [fixed, { payload: "x".repeat(3000) }, /^thingspeak-field\.errors\.invalid .*3000 bytes/],
      [topic, { payload: {} }, /^thingspeak-field\.errors\.invalid .*nothing to write/],
      [topic, { payload: 5 }, /^thingspeak-field\.errors\.no-field .*undefined/],
      [topic, { topic: "field9", payload: 5 }, /^thingspeak-field\.errors\.invalid .*field 9 does not exist/],
      [topic, { payload: { field1: 1, humidity: 2 } }, /^thingspeak-field\.errors\.invalid .*unknown key .*humidity/],
      [topic, { payload: { field1: 1, lat: 91 } }, /^thingspeak-field\.errors\.invalid .*lat/],
    ];
    for (const [node, msg, expected] of cases) {
      const err = await inject(node, msg);
      assert.ok(err instanceof Error, `refused: ${JSON.stringify(msg).slice(0, 60)}`);
      assert.match(err.message, expected);
    }
    assert.equal(await inject(topic, { topic: "3", payload: "sentinel" }), undefined);
    await b.box.next("channels/1001/publish");
    assert.deepEqual(b.box.messages.map((m) => m.payload), ["field3=sentinel"], "nothing of the refused messages was sent");
  });

  it("subscribe over MQTT: the channel's entries and one field's values", async function () {
    const { b, got } = await mqttChannel(
      [
        onTab({ id: "all", type: "thingspeak-field", channel: "ch1", field: "", mode: "subscribe", wires: [["all-out"]] }),
        onTab({ id: "f2", type: "thingspeak-field", channel: "ch1", field: "2", mode: "subscribe", wires: [["f2-out"]] }),
        sink("all-out"),
        sink("f2-out"),
      ],
      ["all-out", "f2-out"],
    );
    const e = { channel_id: 1001, created_at: "2024-01-19T12:25:30Z", entry_id: 7, field1: "21.5", field2: "60", status: null };
    // The cloud's subscribe messages, as mqtt3.thingspeak.com sends them (again until the
    // node's subscription is in place: its SUBSCRIBE may still be on the way).
    const publishUntilSeen = async (topicName, payload, box) => {
      await until(async () => {
        await b.watcher.publishAsync(topicName, payload);
        return box.length > 0;
      }, 5000, `a message from ${topicName}`);
    };
    await publishUntilSeen("channels/1001/subscribe", JSON.stringify(e), got["all-out"]);
    await publishUntilSeen("channels/1001/subscribe/fields/field2", "60", got["f2-out"]);
    const [all] = got["all-out"];
    assert.deepEqual([all.topic, all.payload.entry_id, all.payload.field1, all.thingspeak.entryId, all.thingspeak.channelId], ["channel", 7, "21.5", 7, 1001]);
    const [f2] = got["f2-out"];
    assert.deepEqual([f2.topic, f2.payload, f2.thingspeak.entryId], ["field2", 60, null]);
  });

  it("subscribe over REST: polls with the read key, emits only new entry ids; an input reads the newest at once", async function () {
    const s = await startHttpServer();
    cleanups.push(() => s.close());
    const feeds = [entry(1, { field1: "10" }), entry(2, { field2: "x" })];
    s.route("GET", "/channels/1001/feeds.json", (req, res) => {
      const n = Number(req.query.get("results") ?? 8000);
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ channel: { id: 1001, name: "W" }, feeds: feeds.slice(-n) }));
    });
    s.route("GET", "/channels/1001/fields/1.json", (req, res) => {
      const n = Number(req.query.get("results") ?? 8000);
      const withField = feeds.filter((f) => f.field1 !== undefined).map((f) => ({ created_at: f.created_at, entry_id: f.entry_id, field1: f.field1 }));
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ channel: { id: 1001 }, feeds: withField.slice(-n) }));
    });
    const got = await loadFlow(
      tsNodes,
      [
        TAB,
        { id: "ch1", type: "thingspeak-channel", connection: "rest", server: s.origin, channelId: "1001" },
        onTab({ id: "all", type: "thingspeak-field", channel: "ch1", field: "", mode: "subscribe", interval: "1", wires: [["all-out"]] }),
        onTab({ id: "f1", type: "thingspeak-field", channel: "ch1", field: "1", mode: "subscribe", interval: "1", wires: [["f1-out"]] }),
        sink("all-out"),
        sink("f1-out"),
      ],
      { ch1: KEYS },
      ["all-out", "f1-out"],
    );
    const first = await got["all-out"].next();
    assert.equal(first.payload.entry_id, 2, "the newest entry first");
    assert.deepEqual([(await got["f1-out"].next()).payload], [10]);
    feeds.push(entry(3, { field1: "11" }), entry(4, { field1: "12", field2: "y" }));
    await got["all-out"].next((m) => m.payload.entry_id === 4);
    await got["f1-out"].next((m) => m.payload === 12);
    assert.deepEqual(got["all-out"].map((m) => m.thingspeak.entryId), [2, 3, 4], "each entry once");
    assert.deepEqual(got["f1-out"].map((m) => [m.topic, m.payload, m.thingspeak.entryId]), [["field1", 10, 1], ["field1", 11, 3], ["field1", 12, 4]]);
    assert.ok(s.requests.every((r) => r.query.get("api_key") === KEYS.readKey));

    assert.equal(await inject(helper.getNode("f1"), { payload: "now", extra: 1 }), undefined);
    const now = await got["f1-out"].next((m) => m.extra === 1);
    assert.deepEqual([now.payload, now.thingspeak.entryId], [12, 4]);
    assertNoSecret(SECRETS, ["ch1", "all", "f1"], got);
  });
});
