"use strict";
// iot-history: reads the history of self-hosted devices of every platform on a real iot-broker
// engine (points appended through engine.history, as the platforms' producers do), as points or
// CSV, with every setting overridable by msg; refusals in words (done(err) once) with a red status;
// the same reads on a SQLite history; the editor's key list; and a bound on reads in flight.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { brokers } = require("../../dist/nodes/lib/broker/registry.js");
const { BrokerEngine } = require("../../dist/nodes/lib/broker/index.js");
const { historyStream } = require("../../dist/nodes/lib/thingsboard/hosted-state.js");
const { until } = require("../support/wait.js");
const { translatingFor, testTab, loadFlow, onTab, sink, statuses, statusOf, lastStatus, inject, errorsOf, assertNoSecret } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");
const ts = require("./thingspeak-helpers.js");

helper.init(nodeRedPath);

const historyNode = translatingFor({ RED: undefined })(require("../../dist/nodes/iot-history.js"));
const NODES = [...blynk.withBroker, ...tb.tbNodes, ...ts.tsNodes, historyNode];
const TAB = testTab("history");

const BLYNK_TOKEN = "HistoryBlynkToken0000001";
const TB_TOKEN = "HistoryTbToken000000001";
const TS = { clientId: "HistoryTsClient001", username: "HistoryTsUser00001", password: "HistoryTsPassword001secret", writeKey: "HISTORYWRITEKEY1", readKey: "HISTORYREADKEY01" };
const SECRETS = [BLYNK_TOKEN, TB_TOKEN, TS.password, TS.writeKey, TS.readKey];
const CREDENTIALS = { bdev: { token: BLYNK_TOKEN }, tdev: { token: TB_TOKEN }, sch: TS, cloud: { token: "CloudBlynkToken000000001" } };

const MIN = 60_000;
const HOUR = 60 * MIN;
const HISTORY_IDS = ["fixed", "open", "tbh", "tsh", "csv"];

/** The devices: one per platform on the broker, a cloud one, and one on a broker that cannot start. */
function devices(port) {
  return [
    onTab({ id: "broker", type: "iot-broker", name: "Home", port, bind: "127.0.0.1", allowAnonymous: false }),
    onTab({ id: "dead", type: "iot-broker", name: "Broken", port: "1883", bind: "127.0.0.1", d: true }),
    { id: "bdev", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "broker", pins: "V1=Temp" },
    { id: "tdev", type: "thingsboard-device", name: "Gateway", connection: "local", broker: "broker", gateway: true },
    { id: "sch", type: "thingspeak-channel", name: "Weather", connection: "local", broker: "broker", channelId: "4711", updateInterval: "1", fieldNames: "1=Temperature, 2=Humidity" },
    { id: "cloud", type: "blynk-device", name: "Cloud", connection: "mqtt", server: "mqtt://127.0.0.1:9" },
    { id: "orphan", type: "blynk-device", name: "Orphan", connection: "local", broker: "dead" },
  ];
}

/** The history nodes: fixed settings per platform, one that takes everything from msg, one for CSV. */
function historyNodes() {
  return [
    onTab({ id: "fixed", type: "iot-history", device: "bdev", key: "Temp", from: "-24h", to: "", limit: "1000", format: "points", wires: [["out"]] }),
    onTab({ id: "open", type: "iot-history", device: "", key: "", from: "", to: "", limit: "", format: "", wires: [["out"]] }),
    onTab({ id: "tbh", type: "iot-history", device: "tdev", key: "temperature", from: "", wires: [["out"]] }),
    onTab({ id: "tsh", type: "iot-history", device: "sch", key: "Temperature", from: "", wires: [["out"]] }),
    onTab({ id: "csv", type: "iot-history", device: "bdev", key: "Temp", from: "", format: "csv", wires: [["out"]] }),
    sink("out"),
  ];
}

describe("iot-history node", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** Loads the flow and waits for the broker's engine; resolves with it and the sink's messages. */
  async function start(extra = []) {
    const port = await freePort();
    const got = await loadFlow(NODES, [TAB, ...devices(port), ...historyNodes(), ...extra], CREDENTIALS, ["out"]);
    await until(() => brokers.engine("broker") !== undefined, 5000, "the broker's engine");
    return { engine: brokers.engine("broker"), got };
  }

  /** Sends `msg` into node `id`: resolves with the message it emitted, or rejects with its error. */
  async function read(got, id, msg = {}) {
    const before = got.out.length;
    const err = await inject(helper.getNode(id), { payload: "go", ...msg });
    if (err !== undefined) throw err;
    await until(() => got.out.length > before, 5000, `the output of ${id}`);
    return got.out.at(-1);
  }

  /** Sends `msg` into node `id` and resolves with the error it was refused with. */
  async function refusal(id, msg = {}) {
    const err = await inject(helper.getNode(id), { payload: "go", ...msg });
    assert.ok(err instanceof Error, `${id} did not refuse ${JSON.stringify(msg)}`);
    return err.message;
  }

  it("reads a Blynk datastream's points of the last 24 h, oldest first, as [{ts, value}] with the key as topic", async function () {
    const { engine, got } = await start();
    const now = Date.now();
    engine.history.append("blynk", "bdev", "Temp", now - 25 * HOUR, 10);
    for (const [ago, value] of [[3, 21.5], [2, 22], [1, "n/a"]]) engine.history.append("blynk", "bdev", "Temp", now - ago * HOUR, value);
    engine.history.append("blynk", "bdev", "Other", now - HOUR, 1);
    const msg = await read(got, "fixed", { topic: "was here", extra: 7 });
    assert.deepEqual(msg.payload, [
      { ts: now - 3 * HOUR, value: 21.5 },
      { ts: now - 2 * HOUR, value: 22 },
      { ts: now - HOUR, value: "n/a" },
    ]);
    assert.equal(msg.topic, "Temp");
    assert.equal(msg.extra, 7, "the rest of the message passes on");
    const { from, ...details } = msg.history;
    assert.ok(Math.abs(from - (now - 24 * HOUR)) < 60_000, "from is 24 h before the read");
    assert.deepEqual(details, { platform: "blynk", device: "bdev", name: "Greenhouse", key: "Temp", stream: "Temp", to: null, limit: 1000, count: 3, limited: false, format: "points" });
    assert.deepEqual(lastStatus(helper.getNode("fixed")), { fill: "green", shape: "dot", text: 'iot-history.status.points {"count":"3"}' });
    assertNoSecret(SECRETS, HISTORY_IDS, got.out);
  });

  it("with more points than the limit gives the newest of the range, and says the limit was reached", async function () {
    const { engine, got } = await start();
    const t0 = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 10; i++) engine.history.append("blynk", "bdev", "Temp", t0 + i * MIN, i);
    const msg = await read(got, "open", { device: "Greenhouse", key: "Temp", limit: 3 });
    assert.deepEqual(msg.payload.map((p) => p.value), [7, 8, 9]);
    assert.equal(msg.history.limited, true);
    assert.equal(lastStatus(helper.getNode("open")).text, 'iot-history.status.points-limited {"count":"3"}');
    const ranged = await read(got, "open", { device: "bdev", key: "V1", from: new Date(t0 + 2 * MIN).toISOString(), to: t0 + 5 * MIN, limit: "2" });
    assert.deepEqual(ranged.payload.map((p) => p.value), [4, 5], "an ISO from, an epoch to, a pin the device maps to the datastream");
    assert.deepEqual([ranged.history.from, ranged.history.to, ranged.history.key, ranged.history.stream], [t0 + 2 * MIN, t0 + 5 * MIN, "V1", "Temp"]);
  });

  it("a msg property overrides its setting for that message only; null or missing does not", async function () {
    const { engine, got } = await start();
    const now = Date.now();
    engine.history.append("blynk", "bdev", "Temp", now - 2 * 24 * HOUR, "old");
    engine.history.append("blynk", "bdev", "Temp", now - HOUR, "new");
    engine.history.append("blynk", "bdev", "Hum", now - HOUR, 55);
    assert.deepEqual((await read(got, "fixed", { from: null, key: null })).payload.map((p) => p.value), ["new"]);
    assert.equal(lastStatus(helper.getNode("fixed")).text, 'iot-history.status.point {"count":"1"}', "one point, not 1 points");
    assert.deepEqual((await read(got, "fixed", { from: "-3d" })).payload.map((p) => p.value), ["old", "new"]);
    assert.deepEqual((await read(got, "fixed", { key: "Hum" })).payload.map((p) => p.value), [55]);
    assert.deepEqual((await read(got, "fixed")).payload.map((p) => p.value), ["new"], "the next message reads the settings again");
    const csv = await read(got, "fixed", { format: "csv", from: "" });
    assert.equal(csv.payload, `time,ts,value\n${new Date(now - 2 * 24 * HOUR).toISOString()},${now - 2 * 24 * HOUR},old\n${new Date(now - HOUR).toISOString()},${now - HOUR},new\n`);
  });

  it("reads ThingsBoard telemetry of the device and of a gateway's sub-device, and ThingSpeak fields by name or number", async function () {
    const { engine, got } = await start();
    engine.history.append("thingsboard", "tdev", historyStream("temperature"), 1000, 20.5);
    engine.history.append("thingsboard", "tdev", historyStream("temperature", "Greenhouse A"), 2000, 18);
    engine.history.append("thingspeak", "sch", "field1", 3000, 12.25);
    engine.history.append("thingspeak", "sch", "field2", 4000, 80);
    assert.deepEqual((await read(got, "tbh")).payload, [{ ts: 1000, value: 20.5 }]);
    const sub = await read(got, "tbh", { subDevice: "Greenhouse A" });
    assert.deepEqual(sub.payload, [{ ts: 2000, value: 18 }]);
    assert.equal(sub.history.subDevice, "Greenhouse A");
    assert.deepEqual((await read(got, "tsh")).payload, [{ ts: 3000, value: 12.25 }]);
    assert.deepEqual((await read(got, "tsh", { key: "2" })).payload, [{ ts: 4000, value: 80 }]);
    assert.deepEqual((await read(got, "tsh", { key: "Humidity" })).payload, [{ ts: 4000, value: 80 }]);
    const empty = await read(got, "tsh", { key: "field8" });
    assert.deepEqual([empty.payload, empty.history.stream, empty.history.count], [[], null, 0], "a ThingSpeak field without points yet answers []");
  });

  it("writes CSV: a header, then time, ts and value per point", async function () {
    const { engine, got } = await start();
    engine.history.append("blynk", "bdev", "Temp", Date.UTC(2024, 5, 1, 8), 21.5);
    engine.history.append("blynk", "bdev", "Temp", Date.UTC(2024, 5, 1, 9), "a, b");
    const msg = await read(got, "csv");
    assert.equal(msg.payload, 'time,ts,value\n2024-06-01T08:00:00.000Z,1717228800000,21.5\n2024-06-01T09:00:00.000Z,1717232400000,"a, b"\n');
    assert.equal(msg.history.format, "csv");
  });

  it("tells an unknown key (listing the keys the device has) from one of a device with no history yet", async function () {
    const { engine } = await start();
    let text = await refusal("fixed");
    assert.match(text, /^iot-history\.errors\.no-keys-yet /);
    assert.match(text, /"device":"Greenhouse","key":"Temp"/);
    engine.history.append("blynk", "bdev", "Humidity", 1, 50);
    engine.history.append("blynk", "bdev", "Light", 1, 300);
    text = await refusal("fixed");
    assert.match(text, /^iot-history\.errors\.unknown-key /);
    assert.match(text, /"known":"Humidity, Light"/);
    assert.deepEqual(lastStatus(helper.getNode("fixed")), { fill: "red", shape: "ring", text: "iot-history.status.key" });
    engine.history.append("thingsboard", "tdev", historyStream("t", "Sub/1"), 1, 1);
    assert.match(await refusal("tbh"), /"known":"t \(sub-device Sub\/1\)"/);
  });

  const refusals = [
    [{}, "no-device", "device"],
    [{ device: "nobody", key: "k" }, "unknown-device", "device"],
    [{ device: 42, key: "k" }, "invalid-device", "device"],
    [{ device: "broker", key: "k" }, "not-a-device", "device"],
    [{ device: "Cloud", key: "k" }, "not-local", "device"],
    [{ device: "Orphan", key: "k" }, "broker-not-running", "broker"],
    [{ platform: "mqtt", device: "bdev", key: "k" }, "invalid-platform", "device"],
    [{ platform: "thingspeak", device: "bdev", key: "k" }, "wrong-platform", "device"],
    [{ platform: "thingsboard", device: "Greenhouse", key: "k" }, "unknown-platform-device", "device"],
    [{ device: "bdev" }, "no-key", "key"],
    [{ device: "bdev", key: ["Temp"] }, "invalid-key", "key"],
    [{ device: "sch", key: "field9" }, "invalid-field", "key"],
    [{ device: "bdev", key: "Temp", subDevice: "x" }, "sub-device-not-thingsboard", "key"],
    [{ device: "bdev", key: "Temp", from: "yesterday" }, "invalid-time", "request"],
    [{ device: "bdev", key: "Temp", to: { at: 1 } }, "invalid-time", "request"],
    [{ device: "bdev", key: "Temp", from: "-1h", to: "-2h" }, "reversed-range", "request"],
    [{ device: "bdev", key: "Temp", limit: 0 }, "invalid-limit", "request"],
    [{ device: "bdev", key: "Temp", format: "xml" }, "invalid-format", "request"],
  ];
  for (const [msg, key, status] of refusals) {
    it(`refuses ${JSON.stringify(msg)} with done(err) ${key} and a red status`, async function () {
      await start();
      const text = await refusal("open", msg);
      assert.match(text, new RegExp(`^iot-history\\.errors\\.${key}( |$)`));
      assert.deepEqual(lastStatus(helper.getNode("open")), { fill: "red", shape: "ring", text: `iot-history.status.${status}` });
    });
  }

  it("msg.platform (or the Platform setting) tells apart devices of one name on different platforms", async function () {
    const { engine, got } = await start([
      { id: "twinb", type: "blynk-device", name: "Twin", connection: "local", broker: "broker" },
      { id: "twins", type: "thingspeak-channel", name: "Twin", connection: "local", broker: "broker", channelId: "99", updateInterval: "1", fieldNames: "" },
      onTab({ id: "tsonly", type: "iot-history", platform: "thingspeak", device: "", key: "1", from: "", wires: [["out"]] }),
    ]);
    engine.history.append("blynk", "twinb", "field1", 1, "blynk");
    engine.history.append("thingspeak", "twins", "field1", 2, "thingspeak");
    assert.match(await refusal("open", { device: "Twin", key: "field1" }), /^iot-history\.errors\.ambiguous-device /);
    const msg = await read(got, "open", { platform: "ThingSpeak", device: "Twin", key: "field1" });
    assert.deepEqual([msg.payload, msg.history.platform, msg.history.device], [[{ ts: 2, value: "thingspeak" }], "thingspeak", "twins"]);
    assert.deepEqual((await read(got, "open", { platform: "blynk", device: "Twin", key: "field1" })).payload, [{ ts: 1, value: "blynk" }]);
    assert.deepEqual((await read(got, "tsonly", { device: "Twin" })).payload, [{ ts: 2, value: "thingspeak" }], "the node's Platform applies to msg.device");
    assert.match(await refusal("tsonly", { device: "Twin", platform: "" }), /ambiguous-device/, "msg.platform \"\" overrides with any platform");
    assert.match(await refusal("tsonly", { device: "twinb" }), /wrong-platform \{"device":"Twin","platform":"Blynk","wanted":"ThingSpeak"\}/);
    assert.deepEqual((await read(got, "tsonly", { device: "twinb", platform: "blynk", key: "field1" })).payload, [{ ts: 1, value: "blynk" }], "msg.platform overrides the setting");
  });

  it("a read while the broker has no engine yet waits for it (a deploy or start in progress)", async function () {
    const { engine, got } = await start();
    engine.history.append("blynk", "bdev", "Temp", Date.now() - MIN, 7);
    brokers.detach("broker", engine);
    cleanups.push(() => {
      if (brokers.engine("broker") === undefined) brokers.attach("broker", engine);
    });
    const use = brokers.use;
    let waiting = 0;
    brokers.use = function (...args) {
      waiting++;
      return use.apply(this, args);
    };
    const node = helper.getNode("fixed");
    const before = got.out.length;
    try {
      const answered = inject(node, { payload: "go" });
      await until(() => waiting === 1, 5000, "the read to wait for the broker");
      brokers.attach("broker", engine);
      assert.equal(await answered, undefined);
    } finally {
      brokers.use = use;
    }
    await until(() => got.out.length > before, 5000, "the answer");
    assert.deepEqual(got.out.at(-1).payload.map((p) => p.value), [7]);
  });

  it("refuses a read after waiting 5 s for a deployed broker that did not start, at once for a disabled one", async function () {
    this.timeout(20_000);
    await start([
      onTab({ id: "failing", type: "iot-broker", name: "Failing", port: "99999", bind: "127.0.0.1" }),
      { id: "fdev", type: "blynk-device", name: "On failing", connection: "local", broker: "failing" },
    ]);
    assert.match(await refusal("open", { device: "fdev", key: "Temp" }), /broker-not-running \{"device":"On failing","broker":"Failing"\}/);
    // The disabled broker has no node at all: nothing to wait for.
    const use = brokers.use;
    let waits = 0;
    brokers.use = function (...args) {
      waits++;
      return use.apply(this, args);
    };
    try {
      assert.match(await refusal("open", { device: "orphan", key: "Temp" }), /broker-not-running \{"device":"Orphan","broker":"Broken"\}/);
    } finally {
      brokers.use = use;
    }
    assert.equal(waits, 0, "no wait for a disabled broker");
    assert.deepEqual(lastStatus(helper.getNode("open")), { fill: "red", shape: "ring", text: "iot-history.status.broker" });
  });

  it("names the broker that is not running, and says so when the device's broker is not in the flows", async function () {
    await start([{ id: "lost", type: "thingspeak-channel", name: "Lost", connection: "local", broker: "gone", channelId: "5", fieldNames: "" }]);
    assert.match(await refusal("open", { device: "orphan", key: "Temp" }), /broker-not-running \{"device":"Orphan","broker":"Broken"\}/);
    assert.match(await refusal("open", { device: "lost", key: "1" }), /broker-missing \{"device":"Lost"\}/);
  });

  it("says at the start which settings are unusable, and still reads when a message overrides them", async function () {
    const { engine, got } = await start([
      onTab({ id: "badfrom", type: "iot-history", device: "bdev", key: "Temp", from: "last week", wires: [["out"]] }),
      onTab({ id: "badkey", type: "iot-history", device: "sch", key: "field12", wires: [["out"]] }),
    ]);
    const badFrom = helper.getNode("badfrom");
    assert.deepEqual(errorsOf(badFrom).map((e) => e.split(" ")[0]), ["iot-history.errors.invalid-time"]);
    assert.deepEqual(statuses(badFrom).at(0), { fill: "red", shape: "ring", text: "iot-history.status.request" });
    assert.deepEqual(errorsOf(helper.getNode("badkey")).map((e) => e.split(" ")[0]), ["iot-history.errors.invalid-field"]);
    assert.deepEqual(errorsOf(helper.getNode("fixed")), [], "a usable node says nothing at the start");
    engine.history.append("blynk", "bdev", "Temp", 5, 1);
    assert.deepEqual((await read(got, "badfrom", { from: "" })).payload, [{ ts: 5, value: 1 }]);
  });

  it("refuses reads beyond 8 at once, ends each waiting read when the history answers, and turns a failed read into words", async function () {
    const waiting = [];
    const slow = {
      append() {},
      flush: () => Promise.resolve(),
      streams: () => Promise.resolve(["Temp", "Broken"]),
      query: (_plugin, _device, stream) => (stream === "Broken" ? Promise.reject(new Error("disk on fire")) : new Promise((resolve) => waiting.push(resolve))),
    };
    const engine = await BrokerEngine.create({ history: slow });
    brokers.attach("slowbroker", engine);
    cleanups.push(async () => {
      brokers.detach("slowbroker", engine);
      await engine.close();
    });
    const { got } = await start([{ id: "slowdev", type: "blynk-device", name: "Slow", connection: "local", broker: "slowbroker" }]);
    const node = helper.getNode("open");
    // inject() follows one message at a time: here nine are in flight, so completions are recorded by id.
    const ends = new Map();
    const complete = node._complete;
    node._complete = function (msg, err) {
      complete.call(this, msg, err);
      ends.set(msg._msgid, err);
    };
    for (let i = 0; i < 9; i++) node.receive({ _msgid: `r${i}`, device: "slowdev", key: "Temp" });
    await until(() => waiting.length === 8 && ends.size === 1, 5000, "8 reads waiting for the history and the 9th refused");
    assert.match(ends.get("r8").message, /^iot-history\.errors\.busy \{"count":"8"\}/);
    for (const resolve of waiting) resolve([{ ts: 1, value: 1 }]);
    await until(() => ends.size === 9, 5000, "every read ended");
    assert.deepEqual([...ends].filter(([, err]) => err !== undefined && err !== null).map(([id]) => id), ["r8"]);
    await until(() => got.out.length === 8, 5000, "the 8 answers");
    node._complete = complete;
    assert.match(await refusal("open", { device: "slowdev", key: "Broken" }), /^iot-history\.errors\.history-failed \{"device":"Slow","error":"disk on fire"\}/);
    assert.deepEqual(lastStatus(node), { fill: "red", shape: "ring", text: "iot-history.status.request" });
  });

  it("lists a deployed device's keys for the editor (with ThingsBoard sub-devices), and nothing while its broker is not running", async function () {
    const { engine } = await start();
    engine.history.append("thingsboard", "tdev", historyStream("temperature"), 1, 1);
    engine.history.append("thingsboard", "tdev", historyStream("rpm", "Pump/2"), 1, 1);
    let res = await helper.request().get("/iot-history/keys").query({ device: "tdev" }).expect(200);
    assert.deepEqual(res.body, { running: true, keys: [{ key: "temperature" }, { key: "rpm", subDevice: "Pump/2" }] });
    res = await helper.request().get("/iot-history/keys").query({ device: "orphan" }).expect(200);
    assert.deepEqual(res.body, { running: false, keys: [] });
    res = await helper.request().get("/iot-history/keys").query({ device: "cloud" }).expect(404);
    assert.match(res.body.error, /not-local/);
    await helper.request().get("/iot-history/keys").expect(404);
    await helper.request().get("/iot-history/keys").query({ device: ["a", "b"] }).expect(404);
  });

  it("keeps working across a redeploy of the broker (the next engine's history is read)", async function () {
    const { got } = await start();
    const first = brokers.engine("broker");
    first.history.append("blynk", "bdev", "Temp", Date.now() - MIN, "first");
    assert.deepEqual((await read(got, "fixed")).payload.map((p) => p.value), ["first"]);
    const flows = helper._redNodes.getFlows().flows.map((n) => (n.id === "broker" ? { ...n, maxQueuedMessages: "500" } : n));
    await loadFlow(NODES, flows, CREDENTIALS, [], "nodes");
    await until(() => brokers.engine("broker") !== undefined && brokers.engine("broker") !== first, 5000, "the new engine");
    brokers.engine("broker").history.append("blynk", "bdev", "Temp", Date.now() - MIN, "second");
    const msg = await read(got, "fixed");
    assert.ok(msg.payload.some((p) => p.value === "second"), JSON.stringify(msg.payload));
    await statusOf(helper.getNode("fixed"), (s) => s.fill === "green");
  });

  it("has a message in its catalog for every refusal and status it can give, with the parameters each passes", function () {
    const catalog = JSON.parse(fs.readFileSync(path.join(__dirname, "../../locales/en-US/iot-history.json"), "utf8"))["iot-history"];
    const sources = ["nodes/iot-history.ts", "nodes/lib/broker/history-read.ts", "nodes/lib/node-red/history-devices.ts"].map((f) => fs.readFileSync(path.join(__dirname, "../..", f), "utf8")).join("\n");
    const refusals = [...sources.matchAll(/new HistoryRefusal\("([a-z-]+)"(?:, \{([^}]*)\})?/g)];
    assert.ok(refusals.length > 20, "the refusals were found in the sources");
    for (const [, key, params] of refusals) {
      assert.equal(typeof catalog.errors[key], "string", `errors.${key} is missing`);
      // Each parameter name starts a segment: "device: device.name, broker: nameOf(def)", "which, got: ...".
      for (const [, param] of (params ?? "").trim().matchAll(/(?:^|,)\s*([a-zA-Z]+)\s*(?=[:,]|$)/g)) {
        assert.ok(catalog.errors[key].includes(`__${param}__`), `errors.${key} does not show __${param}__`);
      }
    }
    for (const [, status] of sources.matchAll(/iot-history\.status\.([a-z-]+)/g)) assert.equal(typeof catalog.status[status], "string", `status.${status} is missing`);
    for (const status of ["device", "broker", "key", "request", "failed"]) assert.equal(typeof catalog.status[status], "string", `status.${status} is missing`);
    // A status is read at a glance under the node: short, with the largest count it can show.
    for (const [key, text] of Object.entries(catalog.status)) assert.ok(text.replace("__count__", "100000").length <= 30, `status.${key} is longer than 30 characters`);
  });
});
