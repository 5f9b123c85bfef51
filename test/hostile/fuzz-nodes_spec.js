"use strict";
// Seeded fuzzing of every flow node's input in a real Node-RED, local mode on a real iot-broker
// with each platform's hosted device connected: arbitrary msg.payload, msg.topic and platform
// objects, and iot-history's msg.platform, device, key, subDevice, from, to, limit and format.
// Every message must end with done() or done(err) exactly once, errors are Errors with a message
// (no TypeError from a missing check, no token), nothing is left unhandled, and the broker and the
// flows keep working. Replay a failure with the FUZZ_SEED it prints.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { fc, checkAsync, anything, nastyText, nastyNumber, pollutingObject } = require("../lib/fixtures/fuzz.js");
const { loadHostedFlow, connect, control, BLYNK_TOKEN, TB_TOKEN, TS } = require("../lib/fixtures/hostile.js");
const { until, waitFor } = require("../support/wait.js");
const { brokers } = require("../../dist/nodes/lib/broker/registry.js");

helper.init(nodeRedPath);

const INPUTS = [
  { id: "bw", type: "blynk-write", device: "bdev", datastream: "" },
  { id: "bwf", type: "blynk-write", device: "bdev", datastream: "Temp" },
  { id: "be", type: "blynk-event", device: "bdev", event: "" },
  { id: "tt", type: "thingsboard-telemetry", device: "tdev" },
  { id: "ta", type: "thingsboard-attributes", device: "tdev" },
  { id: "trc", type: "thingsboard-rpc", device: "tdev", mode: "call", timeout: 1000 },
  { id: "trs", type: "thingsboard-rpc", device: "tdev", mode: "serve" },
  { id: "tsw", type: "thingspeak-field", channel: "sch", field: "", mode: "write" },
  { id: "tsw1", type: "thingspeak-field", channel: "sch", field: "1", mode: "write" },
  { id: "ihb", type: "iot-history", device: "bdev", key: "Temp", from: "-24h" },
  { id: "iht", type: "iot-history", device: "tdev", key: "temperature", format: "csv" },
  { id: "ihs", type: "iot-history", device: "sch", key: "1" },
  { id: "ihm", type: "iot-history", device: "", key: "" },
];
const IDS = INPUTS.map((n) => n.id);
/** Messages of a missing check rather than a refusal in words. */
const UNGUARDED = /Cannot read propert|is not a function|is not iterable|Cannot convert|call stack|undefined \(reading/;

const name = fc.constantFrom("Temp", "V1", "v2", "temperature", "field1", "field8", "1", "8", "reboot", "door", "setLed", "HostedBlynk", "HostedTb", "__proto__", "constructor");
const maybe = (arb) => fc.option(arb, { nil: undefined, freq: 2 });
const platform = fc.oneof(
  anything,
  pollutingObject,
  fc.record(
    { device: maybe(fc.oneof(name, anything)), datastream: maybe(name), property: maybe(fc.oneof(name, nastyText)), rpcId: maybe(fc.oneof(fc.integer(), anything)), method: maybe(fc.oneof(name, anything)), params: maybe(anything), request: maybe(anything), timestamp: maybe(fc.oneof(nastyNumber, nastyText)), field: maybe(fc.oneof(name, anything)), bulk: maybe(anything), created_at: maybe(anything), status: maybe(anything) },
    { requiredKeys: [] },
  ),
);
/** What an iot-history node takes from msg: names, times and limits, plausible and hostile. */
const historySetting = fc.oneof(name, anything, nastyText, nastyNumber, fc.constantFrom("bdev", "tdev", "sch", "HostedBlynk", "broker", "blynk", "ThingsBoard", "thingspeak", "-24h", "now", "2024-02-30", "-1h30m", "csv", "points", "0", "100001", ""), fc.date({ noInvalidDate: false }));
const payload = fc.oneof(anything, fc.integer(), fc.double(), fc.string({ maxLength: 20 }), fc.dictionary(fc.oneof(name, nastyText), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), anything), { maxKeys: 4 }), fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), { maxLength: 4 }));
const message = fc.record(
  {
    payload,
    topic: maybe(fc.oneof(name, nastyText)),
    blynk: maybe(platform),
    thingsboard: maybe(platform),
    thingspeak: maybe(platform),
    timestamp: maybe(fc.oneof(nastyNumber, nastyText)),
    ...Object.fromEntries(["platform", "device", "key", "subDevice", "from", "to", "limit", "format"].map((p) => [p, maybe(historySetting)])),
  },
  { requiredKeys: ["payload"] },
);
const batch = fc.array(fc.tuple(fc.constantFrom(...IDS), message), { minLength: 1, maxLength: 25 });

describe("hostile: flow node input fuzzing (fast-check, seeded)", function () {
  this.timeout(60_000);
  let broker;
  let health;
  const devices = [];
  const completions = new Map(); // _msgid -> [{ id, err }]
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);

  before(async function () {
    process.on("unhandledRejection", onUnhandled);
    await new Promise((resolve) => helper.startServer(resolve));
    broker = await loadHostedFlow(INPUTS);
    // Some history, so that the iot-history nodes' reads get as far as the query.
    const history = brokers.engine("broker").history;
    for (let i = 0; i < 50; i++) {
      history.append("blynk", "bdev", "Temp", Date.now() - i * 60_000, 20 + i / 10);
      history.append("thingsboard", "tdev", "temperature", Date.now() - i * 60_000, { nested: [i, "=x"] });
      history.append("thingspeak", "sch", "field1", Date.now() - i * 60_000, String(i));
    }
    for (const id of IDS) {
      const node = helper.getNode(id);
      const original = node._complete;
      node._complete = function (msg, err) {
        original.call(this, msg, err);
        const list = completions.get(msg._msgid) ?? [];
        list.push({ id, err });
        completions.set(msg._msgid, list);
      };
    }
    // Each platform's device online, as its firmware would be: the ThingsBoard one answers RPCs.
    const blynk = await connect(broker.url, "blynk");
    await blynk.subscribeAsync("downlink/#");
    const tb = await connect(broker.url, "thingsboard");
    tb.on("message", (topic, body) => {
      if (topic.startsWith("v1/devices/me/rpc/request/")) tb.publish(topic.replace("request", "response"), body);
    });
    await tb.subscribeAsync(["v1/devices/me/rpc/request/+", "v1/devices/me/attributes"]);
    const ts = await connect(broker.url, "thingspeak");
    await ts.subscribeAsync(`channels/${TS.channelId}/subscribe`);
    devices.push(blynk, tb, ts);
    health = await control(broker.url);
  });

  after(async function () {
    process.off("unhandledRejection", onUnhandled);
    await Promise.all([...devices, health?.client].filter(Boolean).map((c) => c.endAsync(true)));
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** Sends the batch into the nodes at once; resolves when each message has completed once. */
  async function run(messages) {
    const ids = messages.map(([id, msg], i) => {
      const msgid = `fuzz-${Date.now().toString(36)}-${i}-${Math.random().toString(36).slice(2)}`;
      helper.getNode(id).receive({ ...msg, _msgid: msgid });
      return [msgid, id, msg];
    });
    const pending = () => ids.filter(([msgid]) => !completions.has(msgid));
    await until(() => pending().length === 0, 15_000, `done() for every message; never completed: ${pending().map(([, id, msg]) => `${id} <- ${fc.stringify(msg).slice(0, 200)}`).join("; ")}`);
    for (const [msgid, id, msg] of ids) {
      const ends = completions.get(msgid);
      const what = `${id} <- ${fc.stringify(msg).slice(0, 300)}`;
      assert.equal(ends.length, 1, `${what}: done called ${ends.length} times`);
      const { err } = ends[0];
      if (err === undefined || err === null) continue;
      assert.ok(err instanceof Error, `${what}: done() got a non-Error ${String(err)}`);
      assert.ok(typeof err.message === "string" && err.message.length > 0, `${what}: an error without a message`);
      assert.doesNotMatch(err.message, UNGUARDED, `${what}: an unguarded failure instead of a refusal in words`);
      for (const secret of [BLYNK_TOKEN, TB_TOKEN, TS.password, TS.writeKey]) assert.ok(!err.message.includes(secret), `${what}: a secret in the error`);
    }
    assert.deepEqual(unhandled.map(String), [], "no unhandled promise rejection");
  }

  it("every message ends with exactly one done(); errors are refusals in words; the broker keeps serving", async function () {
    await checkAsync(
      fc.asyncProperty(batch, async (messages) => {
        await run(messages);
        await health.roundTrip("after a batch of fuzzed messages");
      }),
      15,
    );
  });

  it("after the fuzzing, ordinary writes still reach the hosted devices", async function () {
    const [blynk] = devices;
    const arrived = waitFor(blynk, "message", (topic, body) => topic === "downlink/ds/Temp" && body.toString() === "21.5");
    await run([["bwf", { payload: 21.5 }]]);
    await arrived;
    const ts = devices[2];
    const entry = waitFor(ts, "message", (topic, body) => topic === `channels/${TS.channelId}/subscribe` && JSON.parse(body.toString()).field1 === "42", 5000);
    await run([["tsw1", { payload: 42 }]]);
    await entry;
  });
});
