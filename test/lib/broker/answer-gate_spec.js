"use strict";
// The broker's "answer once the requester's subscription is in place" helper (AnswerGate) and the
// per-plugin connection table around it (DeviceConnections), platform-blind: plain answers, a
// recording publisher. The emulations' specs cover the same paths with real devices on a real broker.
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const { AnswerGate } = require("../../../dist/nodes/lib/broker/answer-gate.js");
const { DeviceConnections } = require("../../../dist/nodes/lib/broker/device-connections.js");
const { waitFor } = require("../../support/wait.js");

const PREFIX = "$iot/test/d1/down/";

/** A gate whose publishes are recorded (and announced on `sent`) and whose reports are kept. */
function recordingGate(options = {}) {
  const sent = [];
  const reports = [];
  const events = new EventEmitter();
  let hold;
  const gate = new AnswerGate({
    prefix: PREFIX,
    maxPending: 3,
    maxQueued: 2,
    publish: (topic, payload) => {
      sent.push({ topic, payload });
      events.emit("sent", sent.length);
      return hold ?? Promise.resolve();
    },
    report: (message, reason) => reports.push({ message, reason }),
    ...options,
  });
  return { gate, sent, reports, events, holdPublishes: (promise) => (hold = promise) };
}

const answer = (topic, payload = "x") => ({ topic, payload });

describe("broker: AnswerGate (answers wait for the asker's subscription)", function () {
  it("keeps answers until a subscription covers them, then sends them in order under the prefix, never synchronously", async function () {
    const { gate, sent, events } = recordingGate();
    gate.answer([answer("a/1", "one"), answer("b/1", "two"), answer("a/2", "three")]);
    gate.subscribed(["$iot/test/d1/down/a/+"]);
    assert.equal(sent.length, 0, "nothing is sent inside the call that asked");
    await waitFor(events, "sent", (n) => n === 2);
    assert.deepEqual(sent, [
      { topic: `${PREFIX}a/1`, payload: "one" },
      { topic: `${PREFIX}a/2`, payload: "three" },
    ]);
    assert.equal(gate.pending, 1, "the uncovered answer still waits");
    gate.subscribed(["$iot/test/d1/down/#"]);
    await waitFor(events, "sent", (n) => n === 3);
    assert.deepEqual(sent[2], { topic: `${PREFIX}b/1`, payload: "two" });
    assert.equal(gate.pending, 0);
  });

  it("sends at once (on a later turn) what an existing subscription covers", async function () {
    const { gate, sent, events } = recordingGate();
    gate.subscribed([`${PREFIX}#`]);
    gate.answer([answer("x")]);
    assert.equal(sent.length, 0);
    await waitFor(events, "sent");
    assert.equal(sent[0].topic, `${PREFIX}x`);
  });

  it("bounds the answers waiting for a subscription and reports each one dropped", function () {
    const { gate, reports } = recordingGate();
    gate.answer([1, 2, 3, 4, 5].map((n) => answer(`t/${n}`)));
    assert.equal(gate.pending, 3);
    assert.equal(reports.length, 2);
    assert.ok(reports.every((r) => r.reason === "unsubscribed"));
    assert.match(reports[0].message, /answer on "t\/4" not sent: 3 answers already wait/);
  });

  it("bounds the answers waiting to be sent: fits() refuses a request that would overflow, the overflow is reported", async function () {
    const { gate, sent, reports, events, holdPublishes } = recordingGate();
    let release;
    holdPublishes(new Promise((resolve) => (release = resolve)));
    gate.subscribed([`${PREFIX}#`]);
    gate.answer([answer("first")]);
    await waitFor(events, "sent"); // "first" is in flight and holds the queue
    gate.answer([answer("q/1"), answer("q/2")]);
    assert.equal(gate.queued, 2);
    assert.equal(gate.fits("get/ds", 1), false);
    assert.equal(gate.fits("get/ds", 0), true);
    assert.deepEqual(reports.map((r) => r.reason), ["unanswered"]);
    assert.match(reports[0].message, /"get\/ds" not answered: the device asks faster than it reads its answers \(2 wait to be sent, at most 2\)/);
    gate.answer([answer("q/3")]);
    assert.match(reports[1].message, /answer on "q\/3" not sent: the device asks faster than it reads/);
    release();
    await waitFor(events, "sent", (n) => n === 3);
    assert.deepEqual(sent.map((m) => m.topic.slice(PREFIX.length)), ["first", "q/1", "q/2"], "queued answers keep their order");
  });

  it("after close(): what waited is dropped, later answers are ignored without reports", async function () {
    const { gate, sent, reports } = recordingGate();
    gate.answer([answer("a")]);
    gate.close();
    gate.answer([answer("b")]);
    gate.subscribed([`${PREFIX}#`]);
    assert.equal(gate.fits("get/ds", 1), false);
    await new Promise((resolve) => setImmediate(resolve)); // a send would have been scheduled on this turn
    assert.equal(sent.length, 0);
    assert.equal(gate.pending, 0);
    assert.deepEqual(reports, []);
  });

  it("refuses a bound below 1", function () {
    assert.throws(() => recordingGate({ maxPending: 0 }), RangeError);
    assert.throws(() => recordingGate({ maxQueued: 0 }), RangeError);
  });
});

describe("broker: DeviceConnections (which connection is which hosted device)", function () {
  const info = (clientId, deviceId, plugin = "test") => ({ clientId, identity: { kind: "device", plugin, deviceId }, protocolVersion: 4, remoteAddress: "10.0.0.9" });

  function table() {
    const devices = new Map();
    const connected = new Set();
    const reports = [];
    const sent = [];
    const device = (id) => ({ id, name: id, current: undefined, report: (message, kind) => reports.push({ id, message, kind }) });
    const engine = {
      disconnectClients: (which) => {
        const picked = [...connected].filter(which);
        for (const c of picked) connected.delete(c);
        return picked.length;
      },
    };
    const connections = new DeviceConnections(engine, devices, {
      plugin: "test",
      platform: "Test",
      index: { add: () => true, delete: () => undefined },
      credential: "token",
      maxPending: 10,
      maxQueued: 10,
      publish: async (d, topic, payload) => void sent.push({ device: d.id, topic, payload }),
      onePerDevice: "one connection per device",
    });
    return { devices, connected, reports, sent, device, connections };
  }

  it("makes a connection's state on first use, for hosted devices of its plugin only", function () {
    const t = table();
    t.devices.set("d1", t.device("d1"));
    const c = info("c1", "d1");
    const state = t.connections.of(c);
    assert.equal(state.device, t.devices.get("d1"));
    assert.equal(t.connections.of(c), state, "the same state on later hooks");
    assert.equal(t.connections.of(info("c2", "nope")), undefined);
    assert.equal(t.connections.of(info("c3", "d1", "other")), undefined);
    t.devices.delete("d1");
    assert.equal(t.connections.of(c), undefined, "a removed device's connection has no state");
  });

  it("ready(): the newest connection replaces the older one, which is disconnected and reported", function () {
    const t = table();
    const d1 = t.device("d1");
    t.devices.set("d1", d1);
    const first = info("c1", "d1");
    const second = info("c2", "d1");
    t.connected.add(first);
    assert.equal(t.connections.ready(first), d1);
    assert.equal(d1.current, first);
    assert.deepEqual(t.reports, []);
    t.connected.add(second);
    assert.equal(t.connections.ready(second), d1);
    assert.equal(d1.current, second);
    assert.deepEqual([...t.connected], [second]);
    assert.equal(t.reports.length, 1);
    assert.equal(t.reports[0].message, 'a new connection (client id "c2" from 10.0.0.9) replaced client id "c1": one connection per device');
    assert.equal(t.connections.gone(first), undefined, "the replaced connection going away leaves the device online");
    assert.equal(d1.current, second);
    assert.equal(t.connections.gone(second), d1, "the current one going away takes it offline");
    assert.equal(d1.current, undefined);
  });

  it("ready() of a device removed between CONNECT and CONNACK closes that connection", function () {
    const t = table();
    const orphan = info("c9", "gone");
    t.connected.add(orphan);
    assert.equal(t.connections.ready(orphan), undefined);
    assert.equal(t.connected.size, 0);
  });

  it("uplink() gives the device-relative topic of a device's own publishes; subscribed() opens its gate", async function () {
    const t = table();
    t.devices.set("d1", t.device("d1"));
    const c = info("c1", "d1");
    const up = t.connections.uplink(c, "$iot/test/d1/up/get/ds");
    assert.equal(up.topic, "get/ds");
    assert.equal(t.connections.uplink(c, "$iot/test/d2/up/get/ds"), undefined);
    up.connection.answers.answer([{ topic: "ds/a", payload: "1" }]);
    t.connections.subscribed(c, ["$iot/test/d1/down/#"]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(t.sent, [{ device: "d1", topic: "$iot/test/d1/down/ds/a", payload: "1" }]);
  });
});
