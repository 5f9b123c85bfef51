"use strict";
// Settings read per message from an asynchronous context store (redis, localfilesystem without
// cache), whose answers come in any order: a flow node still sends its messages in the order
// they arrived, and at most MAX_WAITING messages wait for their reads.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");
const { onTab, statusOf } = require("../support/node-harness.js");
const { MAX_WAITING } = require("../../dist/nodes/lib/node-red/typed-setting.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");

helper.init(nodeRedPath);
const BLYNK_STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";

describe("typedInput settings read per message from an asynchronous context store", function () {
  this.timeout(20_000);
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  async function watchedBroker(filter) {
    const b = await startBareBroker();
    cleanups.push(() => b.close());
    const w = await connect(b.url);
    cleanups.push(() => w.endAsync(true));
    b.box = inbox(w);
    await w.subscribeAsync(filter);
    return b;
  }

  /** Gives `node` a flow context whose reads answer `value` when the test calls answer(i) (i: the read's index). */
  function heldContext(node, value) {
    const held = [];
    node.context = () => ({ flow: { get: (_key, _store, cb) => held.push(() => cb(null, value)) } });
    return held;
  }

  /** Sends `msg` into `node`; resolves with the error it was done with, or undefined (many at once). */
  let sent = 0;
  function receive(node, msg) {
    if (node.waiters === undefined) {
      node.waiters = new Map();
      const original = node._complete;
      node._complete = function (m, err) {
        original.call(this, m, err);
        node.waiters.get(m?._msgid)?.(err ?? undefined);
      };
    }
    const id = `order${++sent}`;
    return new Promise((resolve) => {
      node.waiters.set(id, resolve);
      node.receive({ ...msg, _msgid: id });
    });
  }

  it("blynk-write: the reads answer 2, 4, 3, 1; the payloads are still written 1, 2, 3, 4", async function () {
    const b = await watchedBroker("#");
    await helper.load(blynk.blynkNodes, [
      blynk.TAB,
      { id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", server: b.url },
      onTab({ id: "w", type: "blynk-write", device: "dev1", datastream: "stream", datastreamType: "flow" }),
    ], { dev1: { token: "TypedTok_0123456789abcdefghijklm" } });
    const node = helper.getNode("w");
    await statusOf(node, (s) => s.text === `${BLYNK_STATUS}connected`);
    const held = heldContext(node, "S");
    const dones = [1, 2, 3, 4].map((payload) => receive(node, { payload }));
    await until(() => held.length === 4, 5000, "four reads");
    for (const i of [1, 3, 2, 0]) held[i]();
    assert.deepEqual(await Promise.all(dones), [undefined, undefined, undefined, undefined]);
    await until(() => b.box.messages.length === 4, 5000, "four writes");
    assert.deepEqual(b.box.messages.map((m) => m.payload), ["1", "2", "3", "4"]);
  });

  it("thingsboard-telemetry, gateway: a message naming its sub-device (no read) waits for an earlier one's read", async function () {
    const b = await watchedBroker("v1/gateway/#");
    await helper.load(tb.tbNodes, [
      tb.TAB,
      { id: "gw", type: "thingsboard-device", name: "Gateway", connection: "mqtt", server: b.url, gateway: true },
      onTab({ id: "tele", type: "thingsboard-telemetry", device: "gw", subDevice: "room", subDeviceType: "flow", wires: [[]] }),
    ], { gw: { token: "TbTypedToken00000002" } });
    const node = helper.getNode("tele");
    await statusOf(node, (s) => s.text === `${tb.STATUS}connected`);
    const held = heldContext(node, "Greenhouse F");
    const first = receive(node, { payload: { n: 1 } });
    const second = receive(node, { payload: { n: 2 }, thingsboard: { device: "Greenhouse N" } });
    await until(() => held.length === 1, 5000, "the first message's read");
    held[0]();
    assert.deepEqual(await Promise.all([first, second]), [undefined, undefined]);
    const telemetry = () => b.box.messages.filter((m) => m.topic === "v1/gateway/telemetry");
    await until(() => telemetry().length === 2, 5000, "two telemetry messages");
    assert.deepEqual(telemetry().map((m) => Object.keys(JSON.parse(m.payload))[0]), ["Greenhouse F", "Greenhouse N"]);
  });

  it(`blynk-write: beyond ${MAX_WAITING} messages waiting for their reads, one is refused with an error naming the limit`, async function () {
    const b = await watchedBroker("#");
    await helper.load(blynk.blynkNodes, [
      blynk.TAB,
      { id: "dev1", type: "blynk-device", name: "Pi", connection: "mqtt", server: b.url },
      onTab({ id: "w", type: "blynk-write", device: "dev1", datastream: "stream", datastreamType: "flow" }),
    ], { dev1: { token: "TypedTok_0123456789abcdefghijklm" } });
    const node = helper.getNode("w");
    await statusOf(node, (s) => s.text === `${BLYNK_STATUS}connected`);
    const held = heldContext(node, "S");
    const dones = Array.from({ length: MAX_WAITING }, (_, i) => receive(node, { payload: i + 1 }));
    await until(() => held.length === MAX_WAITING, 5000, "every read asked");
    const refused = await receive(node, { payload: "one too many" });
    assert.match(String(refused), new RegExp(`blynk-write\\.errors\\.queue-full .*"limit":"${MAX_WAITING}"`));
    for (const answer of held) answer();
    assert.ok((await Promise.all(dones)).every((err) => err === undefined));
    // The queue is free again.
    const next = receive(node, { payload: "again" });
    await until(() => held.length === MAX_WAITING + 1, 5000, "the next read");
    held[MAX_WAITING]();
    assert.equal(await next, undefined);
  });
});
