"use strict";
// Inbound QoS 2 in flight: a client that sends PUBLISH qos 2 and never PUBREL made the broker
// keep every message (aedes 2.0.0-beta.1 has no bound; aedes 1.2.0 has). Now at most
// maxInflightQos2 per session (default 1000), then a limit-exceeded event and a disconnect.
const assert = require("node:assert/strict");
const { startEngine, connect, inbox } = require("../lib/fixtures/engine.js");
const { rawClient } = require("../lib/fixtures/raw-mqtt.js");
const { until } = require("../support/wait.js");

const USER = { username: "u", password: "p", publish: ["#"], subscribe: ["#"] };
const LOGIN = { username: "u", password: Buffer.from("p") };
const publish2 = (messageId, extra = {}) => ({ cmd: "publish", topic: "q2", payload: Buffer.from(`m${messageId}`), qos: 2, messageId, retain: false, dup: false, ...extra });

describe("hostile: inbound QoS 2 messages awaiting PUBREL", function () {
  this.timeout(10000);
  let ctx;
  const pubrecs = (raw) => raw.packets.filter((p) => p.cmd === "pubrec").length;
  const limitEvents = () => ctx.events.filter((e) => e.event === "limit-exceeded");

  afterEach(async function () {
    await ctx?.engine.close();
    ctx = undefined;
  });

  /** Sends QoS 2 PUBLISHes with the given ids and waits for as many PUBRECs in total. */
  async function sendAll(raw, ids) {
    const before = pubrecs(raw);
    for (const id of ids) raw.send(publish2(id));
    await until(() => pubrecs(raw) >= before + ids.length, 5000, `${ids.length} PUBRECs`);
  }
  const range = (from, to) => Array.from({ length: to - from + 1 }, (_v, i) => from + i);

  it("disconnects a 3.1.1 client holding more than 1000 (the default) and keeps serving others", async function () {
    ctx = await startEngine({ users: [USER] });
    const other = await connect(ctx.url, { username: "u", password: "p", clientId: "other" });
    const box = inbox(other);
    await other.subscribeAsync("q2", { qos: 0 });
    const raw = await rawClient(ctx.port);
    await raw.login({ ...LOGIN, clientId: "hoarder" });
    await sendAll(raw, range(1, 1000));
    raw.send(publish2(1001));
    await raw.closedWithin();
    const [event] = limitEvents();
    assert.deepEqual([event.clientId, event.limit, event.max], ["hoarder", "inflight-qos2", 1000]);
    assert.equal(limitEvents().length, 1);
    assert.ok(!ctx.events.some((e) => e.event === "client-error"), "reported once, as the limit");
    assert.ok(!box.messages.some((m) => m.payload === "m1001"), "the message over the limit was not delivered");
    await other.publishAsync("q2", "still here", { qos: 2 });
    await until(() => box.messages.some((m) => m.payload === "still here"));
    await other.endAsync();
  });

  it("lets an MQTT.js burst of 300 QoS 2 messages through (every one delivered once)", async function () {
    ctx = await startEngine({ users: [USER] });
    const listener = await connect(ctx.url, { username: "u", password: "p", clientId: "listener" });
    const box = inbox(listener);
    await listener.subscribeAsync("burst", { qos: 0 });
    const sender = await connect(ctx.url, { username: "u", password: "p", clientId: "sender" });
    await Promise.all(range(1, 300).map((i) => sender.publishAsync("burst", `b${i}`, { qos: 2 })));
    await until(() => box.messages.length === 300, 5000, "300 messages");
    assert.equal(new Set(box.messages.map((m) => m.payload)).size, 300);
    assert.equal(limitEvents().length, 0);
    await sender.endAsync();
    await listener.endAsync();
  });

  it("counts a retransmitted message id once (acknowledged, not delivered again), and frees a place on PUBREL", async function () {
    ctx = await startEngine({ users: [USER], maxInflightQos2: 5 });
    const listener = await connect(ctx.url, { username: "u", password: "p", clientId: "listener" });
    const box = inbox(listener);
    await listener.subscribeAsync("q2", { qos: 0 });
    const raw = await rawClient(ctx.port);
    await raw.login({ ...LOGIN, clientId: "polite" });
    await sendAll(raw, range(1, 5));
    raw.send(publish2(3, { dup: true }));
    await until(() => pubrecs(raw) === 6, 5000, "a PUBREC for the retransmission");
    raw.send({ cmd: "pubrel", messageId: 3 });
    await raw.next("pubcomp");
    await sendAll(raw, [6]);
    assert.ok(!raw.socket.destroyed, "still connected");
    await until(() => box.messages.length === 6, 5000, "6 messages");
    assert.deepEqual(box.messages.map((m) => m.payload), ["m1", "m2", "m3", "m4", "m5", "m6"]);
    await listener.endAsync();
    assert.equal(limitEvents().length, 0);
    raw.send(publish2(7));
    await raw.closedWithin();
    assert.equal(limitEvents().length, 1);
  });

  it("starts a clean session empty: what a closed clean session held does not count again", async function () {
    ctx = await startEngine({ users: [USER], maxInflightQos2: 5 });
    const first = await rawClient(ctx.port);
    await first.login({ ...LOGIN, clientId: "again" });
    await sendAll(first, range(1, 5));
    first.end();
    await until(() => ctx.engine.clients().length === 0, 5000, "the first connection to go");
    const second = await rawClient(ctx.port);
    await second.login({ ...LOGIN, clientId: "again" });
    await sendAll(second, range(10, 14));
    assert.ok(!second.socket.destroyed);
    assert.equal(limitEvents().length, 0);
    second.end();
  });

  it("announces the limit to MQTT 5 clients (Receive Maximum) and says why it disconnects them (0x93)", async function () {
    ctx = await startEngine({ users: [USER], maxInflightQos2: 3 });
    const raw = await rawClient(ctx.port, { protocolVersion: 5 });
    const connack = await raw.login({ ...LOGIN, clientId: "v5" });
    assert.equal(connack.properties.receiveMaximum, 3);
    await sendAll(raw, range(1, 3));
    raw.send(publish2(4));
    assert.equal((await raw.next("disconnect")).reasonCode, 0x93);
    await raw.closedWithin();
    assert.equal(limitEvents()[0].limit, "inflight-qos2");
  });
});
