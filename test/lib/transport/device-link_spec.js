"use strict";
const assert = require("node:assert/strict");
const { DeviceLink, linkFor, assertCredential } = require("../../../dist/nodes/lib/transport/device-link.js");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { createThingSpeakLink } = require("../../../dist/nodes/lib/thingspeak/link.js");

const SECRET = "s3cret-T0KEN-0123456789";

/** The smallest platform link: records what the generic base asks of it. */
class ToyLink extends DeviceLink {
  connection = "toy";
  calls = [];
  constructor(options = {}) {
    super(options, { platform: "Toy", thing: "gadget" }, [SECRET]);
  }
  start() {
    if (this.firstStart()) this.calls.push("started");
  }
  async shutdown() {
    this.calls.push("shutdown");
    if (this.failShutdown) throw new Error(`could not stop ${SECRET}`);
  }
  afterShutdown() {
    this.calls.push(`after (status ${this.status.state})`);
  }
  // Test access to the protected members.
  set(status) { this.setStatus(status); }
  readyNow(ready) { return this.setReady(ready); }
  give(message) { this.deliver(message); }
  answered(online) { this.reachable(online); }
  failed(reason, auth, refusal) { this.unreachable(reason, auth, refusal); }
}

function record(link) {
  const seen = { status: [], incoming: [], warning: [], ready: 0 };
  link.on("status", (s) => seen.status.push(s));
  link.on("incoming", (m) => seen.incoming.push(m));
  link.on("warning", (w) => seen.warning.push(w));
  link.on("ready", () => seen.ready++);
  return seen;
}

describe("DeviceLink (what every platform's link base is)", function () {
  it("starts disconnected, redacts reasons, hands out copies of its status", function () {
    const link = new ToyLink();
    const seen = record(link);
    assert.deepEqual(link.status, { state: "disconnected", reason: "not started", queued: 0 });
    link.set({ state: "disconnected", reason: `lost ${SECRET}`, queued: 2, pending: { writes: 1 } });
    assert.equal(seen.status[0].reason, "lost ***");
    seen.status[0].pending.writes = 99;
    assert.equal(link.status.pending.writes, 1, "a listener changing its copy changes nothing");
  });

  it("emits ready on each rising edge only, and never while closing", async function () {
    const link = new ToyLink();
    const seen = record(link);
    assert.equal(link.readyNow(true), true);
    assert.equal(link.readyNow(true), false);
    link.readyNow(false);
    link.readyNow(true);
    assert.equal(seen.ready, 2);
    assert.equal(link.ready, true);
    const closing = link.close();
    assert.equal(link.ready, false);
    link.readyNow(false);
    assert.equal(link.readyNow(true), false);
    await closing;
    assert.equal(seen.ready, 2);
  });

  it("closes once: no incoming after close, the mode's shutdown, the platform's part, 'closed' last", async function () {
    const link = new ToyLink();
    const seen = record(link);
    link.start();
    link.start();
    link.give({ n: 1 });
    const first = link.close();
    assert.equal(link.close(), first, "a second close gets the same promise");
    link.give({ n: 2 });
    await first;
    assert.deepEqual(seen.incoming, [{ n: 1 }]);
    assert.deepEqual(link.calls, ["started", "shutdown", "after (status disconnected)"]);
    assert.equal(seen.status.at(-1).state, "closed");
    assert.throws(() => link.start(), (err) => err.code === "closed" && err.message === "this Toy gadget link is closed");
  });

  it("turns a failing shutdown into a redacted warning, still ending 'closed'", async function () {
    const link = new ToyLink();
    link.failShutdown = true;
    const seen = record(link);
    await link.close();
    assert.deepEqual(seen.warning, ["closing the Toy link failed: could not stop ***"]);
    assert.equal(link.status.state, "closed");
  });

  const http = [
    // [what the mode calls, the status it gives, ready]
    [(l) => l.answered(), { state: "connected", queued: 0 }, true],
    [(l) => l.answered(true), { state: "connected", queued: 0, deviceOnline: true }, true],
    [(l) => l.failed("unreachable"), { state: "disconnected", reason: "unreachable", queued: 0 }, false],
    [(l) => l.failed("HTTP 401", true, 401), { state: "auth-failed", reason: "HTTP 401", queued: 0, refusal: 401 }, false],
    [(l) => l.failed("invalid token", true), { state: "auth-failed", reason: "invalid token", queued: 0 }, false],
  ];
  for (const [call, status, ready] of http) {
    it(`an HTTP mode's answer gives ${JSON.stringify(status)}`, function () {
      const link = new ToyLink();
      link.answered(false);
      call(link);
      assert.deepEqual(link.status, status);
      assert.equal(link.ready, ready);
    });
  }

  it("announces a reachable HTTP link once, until something changes", function () {
    const link = new ToyLink();
    const seen = record(link);
    link.answered();
    link.answered();
    link.answered(true);
    assert.deepEqual(seen.status.map((s) => s.deviceOnline), [undefined, true]);
  });

  it("picks the mode's factory, refusing unknown connections and local links without their ids", function () {
    class A { constructor(o) { this.o = o; } }
    class L { constructor(o) { this.o = o; } }
    const modes = { mqtt: (o) => new A(o), local: (o) => new L(o) };
    assert.ok(linkFor({ connection: "mqtt" }, modes, { thing: "device", id: undefined }) instanceof A);
    assert.ok(linkFor({ connection: "local", broker: "b" }, modes, { thing: "device", id: "d1" }) instanceof L);
    const refusals = [
      [{ connection: "x" }, { thing: "device", id: "d" }, 'connection must be "mqtt" or "local", got "x"'],
      [{ connection: "toString" }, { thing: "device", id: "d" }, 'connection must be "mqtt" or "local", got "toString"'],
      [{ connection: 3 }, { thing: "device", id: "d" }, 'connection must be "mqtt" or "local", got 3'],
      [{ connection: "local" }, { thing: "device", id: "d" }, "local mode needs the id of an iot-broker node"],
      [{ connection: "local", broker: "b" }, { thing: "channel", id: "" }, "local mode needs the hosted channel's id"],
    ];
    for (const [options, localId, message] of refusals) {
      assert.throws(() => linkFor(options, modes, localId), (err) => err.code === "invalid" && err.message === message, message);
    }
    assert.throws(() => assertCredential(undefined, "needs a token"), /needs a token/);
  });

  const factories = [
    [() => createBlynkLink({ connection: "mqtt" }), "a Blynk device link needs the device's auth token"],
    [() => createBlynkLink({ connection: "carrier-pigeon", token: SECRET }), 'connection must be "mqtt", "https", "local" or "binary", got "carrier-pigeon"'],
    [() => createBlynkLink({ connection: "local", token: SECRET, broker: "b" }), "local mode needs the hosted device's id"],
    [() => createThingsBoardLink({ connection: "http", token: SECRET, gateway: true }), "a ThingsBoard gateway needs mqtt"],
    [() => createThingsBoardLink({ connection: "coap", token: SECRET }), 'connection must be "mqtt", "http" or "local", got "coap"'],
    [() => createThingsBoardLink({ connection: "local", token: SECRET, deviceId: "d" }), "local mode needs the id of an iot-broker node"],
    [() => createThingSpeakLink({ connection: "mqtt", channelId: 1, id: "n", clientId: "c", username: "u" }), "mqtt mode needs the MQTT device credentials (password is missing)"],
    [() => createThingSpeakLink({ connection: "local", channelId: 1, id: "", clientId: "c", username: "u", password: "p", broker: "b" }), "local mode needs the hosted channel's id"],
    [() => createThingSpeakLink({ connection: "mqttt", channelId: 1, id: "n" }), 'connection must be "mqtt", "rest" or "local", got "mqttt"'],
  ];
  for (const [create, message] of factories) {
    it(`each platform's factory refuses: ${message}`, function () {
      assert.throws(create, (err) => err.name === "TransportError" && err.code === "invalid" && err.message === message && !err.message.includes(SECRET));
    });
  }
});
