"use strict";
// Offline queue: aedes 2.0.0-beta.1 queued every QoS 1/2 message for an offline persistent
// session (clean:false) with no bound, so a subscriber gone for good while a publisher kept
// sending grew Node-RED's memory without end. Now at most maxQueuedMessages per client id
// (default 1000, like mosquitto's max_queued_messages); newer ones are dropped, reported by one
// `queue-full` event per session a minute at most, and the count is released as the queue drains.
const assert = require("node:assert/strict");
const { BrokerEngine, SessionStore } = require("../../dist/nodes/lib/broker/index.js");
const { parseBrokerNode } = require("../../dist/nodes/lib/broker/node-config.js");
const { startEngine, connect, inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");

const USER = { username: "u", password: "p", publish: ["#"], subscribe: ["#"] };
const LOGIN = { username: "u", password: "p" };

describe("hostile: offline queue of a persistent session", function () {
  this.timeout(20000);
  let ctx;
  const cleanups = [];
  const fullEvents = () => ctx.events.filter((e) => e.event === "queue-full");

  afterEach(async function () {
    for (const c of cleanups.splice(0)) await c();
    await ctx?.engine.close();
    ctx = undefined;
  });

  async function client(options) {
    const c = await connect(ctx.url, { ...LOGIN, ...options });
    cleanups.push(() => c.endAsync(true));
    return c;
  }

  /** A clean:false subscriber to `q` that goes offline. */
  async function leaveSubscriber(clientId) {
    const sub = await connect(ctx.url, { ...LOGIN, clientId, clean: false });
    await sub.subscribeAsync("q", { qos: 1 });
    await sub.endAsync();
  }

  async function publishMany(publisher, from, count) {
    await Promise.all(Array.from({ length: count }, (_v, i) => publisher.publishAsync("q", `m${from + i}`, { qos: 1 })));
  }

  /** Resumes the session and returns the queued messages it got, ended by a live marker. */
  async function resume(clientId, publisher) {
    const sub = await client({ clientId, clean: false });
    const box = inbox(sub);
    await sub.subscribeAsync("marker", { qos: 1 });
    return { sub, box, settle: async (expected) => {
      await until(() => box.messages.filter((m) => m.topic === "q").length >= expected, 10000, `${expected} queued messages`);
      await publisher.publishAsync("marker", "end", { qos: 1 });
      await box.next("marker");
      return box.messages.filter((m) => m.topic === "q");
    } };
  }

  it("keeps at most 1000 (the default) of 5000 QoS 1 messages for an offline subscriber, and says so once", async function () {
    ctx = await startEngine({ users: [USER] });
    await leaveSubscriber("away");
    const publisher = await client({ clientId: "pub" });
    await publishMany(publisher, 1, 5000);
    await until(() => fullEvents().length > 0, 5000, "a queue-full event");
    assert.equal(fullEvents().length, 1, "one event for the burst, not one per message");
    const [event] = fullEvents();
    assert.deepEqual([event.clientId, event.max, event.dropped], ["away", 1000, 1]);
    const { settle } = await resume("away", publisher);
    const got = await settle(1000);
    assert.equal(got.length, 1000);
    assert.deepEqual([got[0].payload, got[999].payload], ["m1", "m1000"], "the oldest are kept, newer ones dropped (like mosquitto)");
  });

  it("releases the count as the queue is delivered, and keeps it across a redeploy on the same sessions", async function () {
    const sessions = new SessionStore();
    ctx = await startEngine({ users: [USER], maxQueuedMessages: 10, sessions });
    await leaveSubscriber("away");
    let publisher = await connect(ctx.url, { ...LOGIN, clientId: "pub" });
    await publishMany(publisher, 1, 10);
    assert.equal(fullEvents().length, 0, "up to the limit, nothing dropped");
    await publisher.endAsync();
    // A new engine on the same store: the 10 queued still count.
    await ctx.engine.close();
    ctx = await startEngine({ users: [USER], maxQueuedMessages: 10, sessions });
    publisher = await client({ clientId: "pub" });
    await publishMany(publisher, 11, 5);
    await until(() => fullEvents().length > 0, 5000, "a queue-full event");
    assert.equal(fullEvents()[0].clientId, "away");
    const first = await resume("away", publisher);
    assert.deepEqual((await first.settle(10)).map((m) => m.payload), Array.from({ length: 10 }, (_v, i) => `m${i + 1}`));
    await first.sub.endAsync();
    // Delivered and acknowledged: the session may queue 10 again.
    await publishMany(publisher, 100, 10);
    const second = await resume("away", publisher);
    assert.equal((await second.settle(10)).length, 10);
    assert.equal(fullEvents().length, 1, "the second round stayed within the limit");
  });

  it("drops nothing for an online subscriber (aedes delivers its copy), even past the limit", async function () {
    ctx = await startEngine({ users: [USER], maxQueuedMessages: 5 });
    const sub = await client({ clientId: "here", clean: false });
    const box = inbox(sub);
    await sub.subscribeAsync("q", { qos: 1 });
    const publisher = await client({ clientId: "pub" });
    await publishMany(publisher, 1, 200);
    await until(() => box.messages.length === 200, 10000, "200 messages");
    assert.equal(fullEvents().length, 0);
  });

  it("refuses a limit of 0 (unlimited) or over 100000, naming the setting", function () {
    for (const bad of [0, -1, 1.5, 100_001, "10"]) {
      assert.throws(() => new BrokerEngine({ maxQueuedMessages: bad }), /maxQueuedMessages must be a whole number from 1 to 100000/);
    }
  });

  describe("the iot-broker node's maxQueuedMessages", function () {
    const table = [
      [undefined, undefined],
      ["", undefined],
      ["  ", undefined],
      ["1", 1],
      [" 250 ", 250],
      [5000, 5000],
      ["100000", 100_000],
      ["0", "invalid-whole-number"],
      ["100001", "invalid-whole-number"],
      ["-5", "invalid-whole-number"],
      ["1.5", "invalid-whole-number"],
      ["1e3", "invalid-whole-number"],
      ["lots", "invalid-whole-number"],
    ];
    for (const [given, expected] of table) {
      it(`${JSON.stringify(given)} -> ${String(expected)}`, function () {
        if (typeof expected === "string") {
          assert.throws(() => parseBrokerNode({ maxQueuedMessages: given }), (err) => err.key === expected && err.params.field === "maxQueuedMessages" && err.params.max === "100000");
        } else {
          assert.equal(parseBrokerNode({ maxQueuedMessages: given }).options.maxQueuedMessages, expected);
        }
      });
    }
  });
});
