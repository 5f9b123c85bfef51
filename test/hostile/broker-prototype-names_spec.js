"use strict";
// Client ids and topics that are Object.prototype member names (constructor, __proto__, toString,
// ...) used to end the process: aedes 2.0.0-beta.1 keeps clients and subscriptions in plain
// objects (GHSA-52qw-whmv-87c5). Every such name, as a generic user and as a hosted ThingsBoard
// device, through connect, publish, subscribe, takeover, persistent sessions and disconnect;
// the broker keeps serving a bystander throughout.
const assert = require("node:assert/strict");
const mqtt = require("mqtt");
const { inbox } = require("../lib/fixtures/engine.js");
const { waitFor, until } = require("../support/wait.js");
const { TOKENS, hostedBroker, subackOf } = require("../lib/thingsboard/fixtures.js");

const NAMES = Object.getOwnPropertyNames(Object.prototype);
const USER = { username: "u", password: "p", publish: ["#"], subscribe: ["#"] };
const DEVICE = { id: "e1b2c3d4e5f60718", name: "Proto", token: TOKENS.alpha, gateway: false };
const ME = "v1/devices/me";

describe("hostile: Object.prototype names as client ids and topics", function () {
  this.timeout(30000);
  let ctx;
  let bystander;
  let heard;

  beforeEach(async function () {
    ctx = await hostedBroker({ devices: [DEVICE], users: [USER] });
    bystander = await ctx.connect({ clientId: "bystander", username: "u", password: "p" });
    await bystander.subscribeAsync("alive", { qos: 1 });
    heard = inbox(bystander);
  });

  afterEach(async function () {
    await ctx?.cleanup();
    ctx = undefined;
  });

  /** The broker still serves others: the bystander hears its own message. */
  async function stillServing(label) {
    await bystander.publishAsync("alive", label, { qos: 1 });
    await until(() => heard.messages.some((m) => m.payload === label), 5000, `the bystander to hear "${label}"`);
  }

  it("has a name list to test (Object.prototype has its usual members)", function () {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__"]) {
      assert.ok(NAMES.includes(name), name);
    }
  });

  it("serves a generic user whose client id and topics are each name (publish, subscribe, takeover, session, disconnect)", async function () {
    const user = { username: "u", password: "p" };
    for (const name of NAMES) {
      // Connect, subscribe to the name as a topic (alone, and among other filters), publish to it at every QoS.
      const first = await ctx.connect({ ...user, clientId: name });
      const box = inbox(first);
      assert.deepEqual((await first.subscribeAsync(name, { qos: 2 })).map((g) => g.qos), [2], `${name}: subscribe`);
      assert.deepEqual(await subackOf(first, [`${name}/a`, `b/${name}`]), [0, 0], `${name}: multi-filter subscribe`);
      for (const qos of [0, 1, 2]) {
        await first.publishAsync(name, `q${qos}`, { qos });
        await until(() => box.messages.some((m) => m.topic === name && m.payload === `q${qos}`), 5000, `${name}: q${qos}`);
      }
      assert.ok(box.messages.filter((m) => m.topic === name).every((m, i) => m.qos === i), `${name}: delivered at the published QoS`);

      // Takeover: the same client id again, persistent this time; the first connection is closed.
      const closed = waitFor(first, "close");
      const second = await ctx.connect({ ...user, clientId: name, clean: false });
      await closed;
      await second.subscribeAsync(name, { qos: 1 });
      await second.endAsync();

      // A message for the persistent session while it is away arrives when it resumes.
      await bystander.publishAsync(name, "queued", { qos: 1 });
      // Listening before it connects: the queued message follows CONNACK at once.
      const resumed = mqtt.connect(ctx.url, { ...user, clientId: name, clean: false, reconnectPeriod: 0 });
      ctx.clients.push(resumed);
      await waitFor(resumed, "message", (topic, payload) => topic === name && payload.toString() === "queued");
      await resumed.unsubscribeAsync(name);
      await resumed.endAsync();
      await stillServing(`after ${name}`);
    }
    assert.deepEqual(ctx.engine.clients().map((c) => c.clientId), ["bystander"]);
  });

  it("refuses only a `__proto__` filter that shares its SUBSCRIBE with others (aedes dedupes them in a plain object)", async function () {
    const client = await ctx.connect({ username: "u", password: "p", clientId: "multi" });
    assert.deepEqual(await subackOf(client, ["x", "__proto__", "y"]), [0, 128, 0]);
    assert.ok(ctx.events.some((e) => e.event === "subscribe-refused" && e.topic === "__proto__"));
    await stillServing("after a multi-filter __proto__");
  });

  it("serves a hosted device whose client id is each name (publish, subscribe, takeover, session, disconnect)", async function () {
    for (const name of NAMES) {
      for (const protocolVersion of [4, 5]) {
        const first = await ctx.device(DEVICE.token, { clientId: name, protocolVersion });
        await first.subscribeAsync(`${ME}/attributes`, { qos: 1 });
        await first.publishAsync(`${ME}/telemetry`, `{"n":"${name}"}`, { qos: 1 });
        await ctx.flows.uplink(DEVICE, `${ME}/telemetry`, (m) => m.payload === `{"n":"${name}"}`);
        const closed = waitFor(first, "close");
        const second = await ctx.device(DEVICE.token, { clientId: name, protocolVersion, clean: false });
        await closed;
        await second.subscribeAsync(`${ME}/attributes`, { qos: 1 });
        await second.endAsync();
        const resumed = await ctx.device(DEVICE.token, { clientId: name, protocolVersion, clean: false });
        await resumed.publishAsync(`${ME}/telemetry`, `{"again":"${name}"}`, { qos: 2 });
        await ctx.flows.uplink(DEVICE, `${ME}/telemetry`, (m) => m.payload === `{"again":"${name}"}`);
        await resumed.endAsync();
      }
      await stillServing(`after device ${name}`);
    }
    assert.deepEqual(ctx.engine.clients().map((c) => c.clientId), ["bystander"]);
  });

  it("keeps $SYS for the broker: a user cannot make it close another client (not even one named `constructor`)", async function () {
    const victim = await ctx.connect({ username: "u", password: "p", clientId: "constructor" });
    const attacker = await ctx.connect({ username: "u", password: "p", clientId: "attacker" });
    for (const payload of ["constructor", "bystander", "__proto__", "toString"]) {
      await attacker.publishAsync("$SYS/another-broker/new/clients", payload, { qos: 1 });
    }
    await attacker.publishAsync("$SYS/another-broker/heartbeat", "__proto__", { qos: 1 });
    await stillServing("after $SYS publishes");
    assert.ok(victim.connected, "the victim is still connected");
    assert.ok(ctx.events.some((e) => e.event === "publish-refused" && e.topic === "$SYS/another-broker/new/clients"));
  });
});
