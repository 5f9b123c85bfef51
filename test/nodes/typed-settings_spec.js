"use strict";
// The flow nodes' typedInput settings (<name> + <name>Type) at run time: each kind (str, num, env
// read once; msg, flow, global read per message) on a node of each platform, a bad value refused
// with an error naming the setting, where it came from and what is accepted, a kind the setting
// does not take refused at the start, and flows saved before the typedInputs (no <name>Type)
// working as they did.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { onTab, statusOf, inject, errorsOf } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");
const ts = require("./thingspeak-helpers.js");

helper.init(nodeRedPath);

const BLYNK_STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";
const TS_STATUS = "@iot-bridge/node-red/thingspeak-channel:thingspeak-channel.status.";
const ENV = "IOTB_TYPED_SPEC_NAME";

describe("typedInput settings of the flow nodes", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    delete process.env[ENV];
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** A bare MQTT broker with a watcher subscribed to `filter`; what it sees is in `box`. */
  async function watchedBroker(filter) {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    b.box = inbox(w);
    await w.subscribeAsync(filter);
    return b;
  }

  it("blynk-write: datastream and fleet device from str, msg, flow, global and env; an old flow as before", async function () {
    process.env[ENV] = "FromEnv";
    const b = await watchedBroker("#");
    const write = (id, extra) => onTab({ id, type: "blynk-write", device: "dev1", ...extra });
    await helper.load(
      blynk.blynkNodes,
      [
        blynk.TAB,
        { id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", server: b.url },
        // Saved before the typedInputs: no datastreamType, no fleetDeviceType.
        write("old", { datastream: "Temperature", fleetDevice: "" }),
        write("oldTopic", { datastream: "" }),
        write("str", { datastream: "Typed", datastreamType: "str" }),
        write("msg", { datastream: "target.name", datastreamType: "msg" }),
        write("flow", { datastream: "stream", datastreamType: "flow" }),
        write("global", { datastream: "stream", datastreamType: "global" }),
        write("env", { datastream: ENV, datastreamType: "env" }),
        write("fleetMsg", { datastream: "X", fleetDeviceType: "msg", fleetDevice: "who" }),
      ],
      { dev1: { token: "TypedTok_0123456789abcdefghijklm" } },
    );
    await statusOf(helper.getNode("old"), (s) => s.text === `${BLYNK_STATUS}connected`);
    helper.getNode("flow").context().flow.set("stream", "FromFlow");
    helper.getNode("global").context().global.set("stream", "FromGlobal");
    const sent = [
      ["old", { payload: 1 }],
      ["oldTopic", { topic: "FromTopic", payload: 2 }],
      ["str", { payload: 3 }],
      ["msg", { target: { name: "FromMsg" }, payload: 4 }],
      // Unset per message: msg.topic names the datastream, as with an empty setting.
      ["msg", { topic: "Fallback", payload: 5 }],
      ["flow", { payload: 6 }],
      ["global", { payload: 7 }],
      ["env", { payload: 8 }],
      // Not a fleet: the fleet device is not needed, whatever it reads.
      ["fleetMsg", { who: "anyone", payload: 9 }],
    ];
    for (const [id, msg] of sent) assert.equal(await inject(helper.getNode(id), msg), undefined, `${id}: ${JSON.stringify(msg)}`);
    await b.box.next("ds/X");
    assert.deepEqual(
      b.box.messages.map((m) => [m.topic, m.payload]),
      [
        ["ds/Temperature", "1"],
        ["ds/FromTopic", "2"],
        ["ds/Typed", "3"],
        ["ds/FromMsg", "4"],
        ["ds/Fallback", "5"],
        ["ds/FromFlow", "6"],
        ["ds/FromGlobal", "7"],
        ["ds/FromEnv", "8"],
        ["ds/X", "9"],
      ],
    );

    // A value of the wrong kind: refused with the setting, its source and what is accepted; nothing sent.
    const err = await inject(helper.getNode("msg"), { target: { name: { a: 1 } }, payload: 10 });
    assert.ok(err instanceof Error);
    assert.match(err.message, /^blynk-write\.errors\.bad-setting /);
    assert.match(err.message, /"setting":"blynk-write\.label\.datastream"/);
    assert.match(err.message, /"source":"msg\.target\.name"/);
    assert.match(err.message, /"accepted":"blynk-write\.accepted\.name"/);
    helper.getNode("flow").context().flow.set("stream", ["not", "a", "name"]);
    assert.match((await inject(helper.getNode("flow"), { payload: 11 })).message, /bad-setting .*"source":"flow\.stream".*"got":"an array of 3"/);
    assert.equal(await inject(helper.getNode("str"), { payload: 12 }), undefined);
    await until(() => b.box.messages.some((m) => m.payload === "12"), 5000, "the write after the refusals");
    assert.equal(b.box.messages.length, 10, "the refused messages sent nothing");
  });

  it("blynk: a kind a setting does not take is refused when the node starts (device-in filters by a fixed name only)", async function () {
    const b = await watchedBroker("#");
    await helper.load(
      blynk.blynkNodes,
      [
        blynk.TAB,
        { id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", server: b.url },
        onTab({ id: "in", type: "blynk-device-in", device: "dev1", datastream: "topic", datastreamType: "msg", wires: [[]] }),
        onTab({ id: "json", type: "blynk-write", device: "dev1", datastream: "{}", datastreamType: "json" }),
        onTab({ id: "noEnv", type: "blynk-event", device: "dev1", event: "", eventType: "env" }),
      ],
      { dev1: { token: "TypedTok_0123456789abcdefghijklm" } },
    );
    for (const [id, source] of [["in", "msg.topic"], ["json", "json"], ["noEnv", "env "]]) {
      const node = helper.getNode(id);
      await statusOf(node, (s) => s.fill === "red");
      assert.match(errorsOf(node)[0], new RegExp(`errors\\.bad-setting-kind .*"source":"${source.replace(".", "\\.")}"`), id);
      assert.match((await inject(node, { payload: 1 })).message, /bad-setting-kind/);
    }
  });

  it("blynk-event, local mode: an event filter read per message (msg, flow, global) is refused when the node starts; str and env filter", async function () {
    process.env[ENV] = "door";
    const port = await freePort();
    const event = (id, extra) => onTab({ id, type: "blynk-event", device: "dev1", wires: [[]], ...extra });
    await helper.load(blynk.withBroker, [
      blynk.TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "dev1", type: "blynk-device", name: "Hosted", connection: "local", broker: "b1" },
      event("msg", { event: "code", eventType: "msg" }),
      event("flow", { event: "code", eventType: "flow" }),
      event("global", { event: "code", eventType: "global" }),
      event("env", { event: ENV, eventType: "env" }),
      event("str", { event: "door", eventType: "str" }),
    ], { dev1: { token: "TypedTok_0123456789abcdefghijklm" } });
    for (const kind of ["msg", "flow", "global"]) {
      const node = helper.getNode(kind);
      await statusOf(node, (s) => s.fill === "red", kind);
      assert.match(errorsOf(node)[0], new RegExp(`^blynk-event\\.errors\\.bad-setting-kind .*"source":"${kind}\\.code".*"kinds":"str, env"`), kind);
    }
    for (const kind of ["env", "str"]) assert.deepEqual(errorsOf(helper.getNode(kind)), [], kind);
  });

  it("thingsboard-rpc and -telemetry: timeout per message, sub-device from str, msg, flow, global and env; serve mode's timeout is fixed; an old flow as before", async function () {
    process.env[ENV] = "Greenhouse E";
    const b = await watchedBroker("v1/gateway/#");
    await helper.load(
      tb.tbNodes,
      [
        tb.TAB,
        { id: "dev1", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: b.url },
        { id: "gw", type: "thingsboard-device", name: "Gateway", connection: "mqtt", server: b.url, gateway: true },
        onTab({ id: "call", type: "thingsboard-rpc", device: "dev1", mode: "call", timeout: "wait", timeoutType: "msg", wires: [[]] }),
        onTab({ id: "old", type: "thingsboard-rpc", device: "dev1", mode: "call", timeout: "soon", wires: [[]] }),
        onTab({ id: "serve", type: "thingsboard-rpc", device: "dev1", mode: "serve", timeout: "wait", timeoutType: "msg", wires: [[]] }),
        onTab({ id: "tele", type: "thingsboard-telemetry", device: "gw", subDevice: "room", subDeviceType: "global", wires: [[]] }),
        onTab({ id: "teleFlow", type: "thingsboard-telemetry", device: "gw", subDevice: "room", subDeviceType: "flow", wires: [[]] }),
        onTab({ id: "teleEnv", type: "thingsboard-telemetry", device: "gw", subDevice: ENV, subDeviceType: "env", wires: [[]] }),
        onTab({ id: "teleStr", type: "thingsboard-telemetry", device: "gw", subDevice: "Greenhouse S", subDeviceType: "str", wires: [[]] }),
        onTab({ id: "teleOld", type: "thingsboard-telemetry", device: "gw", subDevice: "Greenhouse O", wires: [[]] }),
        onTab({ id: "teleMsg", type: "thingsboard-telemetry", device: "gw", subDevice: "where", subDeviceType: "msg", wires: [[]] }),
      ],
      { dev1: { token: "TbTypedToken00000001" }, gw: { token: "TbTypedToken00000002" } },
    );
    await statusOf(helper.getNode("call"), (s) => s.text === `${tb.STATUS}connected`);
    await statusOf(helper.getNode("tele"), (s) => s.text === `${tb.STATUS}connected`);

    const call = helper.getNode("call");
    // Nobody answers on the bare broker: the call ends after the message's timeout.
    assert.match((await inject(call, { topic: "getTime", wait: 50 })).message, /^thingsboard-rpc\.errors\.timeout/);
    const bad = await inject(call, { topic: "getTime", wait: "soon" });
    assert.match(bad.message, /^thingsboard-rpc\.errors\.bad-setting .*"setting":"thingsboard-rpc\.label\.timeout".*"source":"msg\.wait".*"got":"\\"soon\\" \(string\)".*"accepted":"thingsboard-rpc\.accepted\.timeout"/);
    // An old flow's bad timeout keeps its error.
    assert.match(errorsOf(helper.getNode("old"))[0], /^thingsboard-rpc\.errors\.invalid-timeout .*"value":"soon"/);
    assert.match(errorsOf(helper.getNode("serve"))[0], /^thingsboard-rpc\.errors\.bad-setting-kind .*"source":"msg\.wait".*"kinds":"num, env"/);

    const tele = helper.getNode("tele");
    tele.context().global.set("room", "Greenhouse G");
    tele.context().flow.set("room", "Greenhouse F");
    for (const [nodeId, msg] of [["tele", {}], ["teleFlow", {}], ["teleEnv", {}], ["teleStr", {}], ["teleOld", {}], ["teleMsg", { where: "Greenhouse M" }]]) {
      assert.equal(await inject(helper.getNode(nodeId), { ...msg, payload: { t: 20 } }), undefined, nodeId);
    }
    const telemetry = () => b.box.messages.filter((m) => m.topic === "v1/gateway/telemetry");
    await until(() => telemetry().length === 6, 5000, `six gateway telemetry messages; got ${JSON.stringify(b.box.messages)}`);
    assert.deepEqual(
      telemetry().map((m) => Object.keys(JSON.parse(m.payload))[0]),
      ["G", "F", "E", "S", "O", "M"].map((x) => `Greenhouse ${x}`),
    );
  });

  it("thingspeak-field: field as str, num, msg, flow, global and env; subscribe takes a fixed field only; an old flow as before", async function () {
    process.env[ENV] = "field4";
    const b = await watchedBroker("channels/#");
    const field = (id, extra) => onTab({ id, type: "thingspeak-field", channel: "ch1", mode: "write", wires: [[]], ...extra });
    await helper.load(
      ts.tsNodes,
      [
        ts.TAB,
        { id: "ch1", type: "thingspeak-channel", name: "Weather", connection: "mqtt", server: b.url, channelId: "1001", updateInterval: "1" },
        field("old", { field: "1" }),
        field("num", { field: "2", fieldType: "num" }),
        field("msg", { field: "which", fieldType: "msg" }),
        field("env", { field: ENV, fieldType: "env" }),
        field("str", { field: "field5", fieldType: "str" }),
        field("flow", { field: "which", fieldType: "flow" }),
        field("global", { field: "which", fieldType: "global" }),
        field("sub", { field: "which", fieldType: "msg", mode: "subscribe" }),
      ],
      { ch1: { clientId: "TSCLIENT000000000000001", username: "TSCLIENT000000000000001", password: "tspassword00000000000001", writeKey: "TSWRITEKEY000001" } },
    );
    await statusOf(helper.getNode("old"), (s) => s.text === `${TS_STATUS}connected`);
    assert.equal(await inject(helper.getNode("old"), { payload: 1 }), undefined);
    helper.getNode("flow").context().flow.set("which", "6");
    helper.getNode("global").context().global.set("which", 7);
    const later = ["num", "msg", "env", "str", "flow", "global"].map((nodeId, i) => inject(helper.getNode(nodeId), { which: 3, payload: i + 2 }));
    assert.deepEqual(await Promise.all(later), later.map(() => undefined));
    await until(() => b.box.messages.length === 2, 5000, "the first and the coalesced update");
    assert.deepEqual(b.box.messages.map((m) => m.payload), ["field1=1", "field2=2&field3=3&field4=4&field5=5&field6=6&field7=7"]);
    const bad = await inject(helper.getNode("msg"), { which: 9, payload: 1 });
    assert.match(bad.message, /^thingspeak-field\.errors\.bad-setting .*"source":"msg\.which".*"got":"9 \(number\)"/);
    assert.match(errorsOf(helper.getNode("sub"))[0], /^thingspeak-field\.errors\.bad-setting-kind .*"kinds":"str, num, env"/);
  });

  it("thingspeak-field: a field of spaces is unset (msg.topic names it), typed or from an old flow", async function () {
    const b = await watchedBroker("channels/#");
    const field = (id, extra) => onTab({ id, type: "thingspeak-field", channel: "ch1", mode: "write", wires: [[]], ...extra });
    await helper.load(
      ts.tsNodes,
      [
        ts.TAB,
        { id: "ch1", type: "thingspeak-channel", name: "Weather", connection: "mqtt", server: b.url, channelId: "1001", updateInterval: "1" },
        field("str", { field: "  ", fieldType: "str" }),
        field("old", { field: " " }),
        field("num", { field: " ", fieldType: "num" }),
      ],
      { ch1: { clientId: "TSCLIENT000000000000001", username: "TSCLIENT000000000000001", password: "tspassword00000000000001", writeKey: "TSWRITEKEY000001" } },
    );
    for (const id of ["str", "old", "num"]) assert.deepEqual(errorsOf(helper.getNode(id)), [], id);
    await statusOf(helper.getNode("str"), (s) => s.text === `${TS_STATUS}connected`);
    const sent = ["str", "old", "num"].map((id, i) => inject(helper.getNode(id), { topic: `field${i + 1}`, payload: i + 1 }));
    assert.deepEqual(await Promise.all(sent), [undefined, undefined, undefined]);
    const fields = () => b.box.messages.map((m) => m.payload).join("&").split("&").sort();
    await until(() => fields().length === 3, 5000, "the first and the coalesced update");
    assert.deepEqual(fields(), ["field1=1", "field2=2", "field3=3"]);
  });
  it("an env variable's value is never quoted in a refusal (it may be a secret): the error names the variable and what is accepted", async function () {
    process.env[ENV] = "tok_SuperSecret_0123456789";
    await helper.load(tb.tbNodes, [
      tb.TAB,
      { id: "dev1", type: "thingsboard-device", name: "Pi", connection: "mqtt", server: "mqtt://127.0.0.1:1" },
      onTab({ id: "call", type: "thingsboard-rpc", device: "dev1", mode: "call", timeout: ENV, timeoutType: "env", wires: [[]] }),
    ], { dev1: { token: "TbTypedToken00000001" } });
    const call = helper.getNode("call");
    await statusOf(call, (s) => s.fill === "red");
    const error = errorsOf(call)[0];
    assert.match(error, new RegExp(`^thingsboard-rpc\\.errors\\.bad-env-setting .*"source":"env ${ENV}".*"accepted":"thingsboard-rpc\\.accepted\\.timeout"`));
    assert.doesNotMatch(error, /SuperSecret/);
    assert.doesNotMatch((await inject(call, { topic: "getTime" })).message, /SuperSecret/);
  });
});
