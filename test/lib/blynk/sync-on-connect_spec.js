"use strict";
// Blynk's "sync with latest server value every time device connects" for hosted devices
// (FINDINGS 5): with `syncOnConnect`, each new connection gets the stored values on
// downlink/ds/<name> once its subscription covers them; without it, nothing unasked. Real
// engine, real MQTT.js devices; ordering proven by the answers' one queue, never by waiting.
const assert = require("node:assert/strict");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { until, untilStatus } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");

const SYNCED = { id: "e1b2c3d4e5f60718", token: TOKENS.alpha, name: "Synced", syncOnConnect: true };
const PLAIN = { id: "f1b2c3d4e5f60718", token: TOKENS.beta, name: "Plain" };

describe("self-hosted Blynk: sync on connect", function () {
  let ctx;

  beforeEach(async function () {
    ctx = await hostedBroker({ devices: [SYNCED, PLAIN] });
  });

  afterEach(async function () {
    await ctx.cleanup();
  });

  const send = (device, datastream, text) => ctx.handles.get(device.id).send({ kind: "ds", datastream, text });
  const dsTopics = (dev) => dev.box.messages.filter((m) => m.topic.startsWith("downlink/ds/"));
  /** Asks for the time and waits for the answer: every answer queued before it has arrived by then. */
  async function drained(dev) {
    await dev.publishAsync("get/utc/all/json", "", { qos: 1 });
    await dev.box.next("downlink/utc/all/json");
  }

  it("pushes every stored value to a device that connects, once it subscribed, each time it connects", async function () {
    await send(SYNCED, "Power", "1");
    await send(SYNCED, "Set Point", "21.50");
    await send(SYNCED, "Where", "13.4\u000052.52");
    for (let round = 0; round < 2; round++) {
      const dev = await ctx.device(SYNCED.token);
      await dev.subscribeAsync("downlink/#");
      await drained(dev);
      assert.deepEqual(
        dsTopics(dev).map((m) => [m.topic, m.payload]),
        [
          ["downlink/ds/Power", "1"],
          ["downlink/ds/Set Point", "21.50"],
          ["downlink/ds/Where", "13.4\u000052.52"],
        ],
        `connection ${round + 1}`,
      );
      await dev.endAsync();
    }
  });

  it("sends nothing unasked to a device without the setting (default off)", async function () {
    await send(PLAIN, "Power", "1");
    const dev = await ctx.device(PLAIN.token);
    await dev.subscribeAsync("downlink/#");
    await drained(dev);
    assert.deepEqual(dsTopics(dev), []);
    // Asking still works, as before.
    await dev.publishAsync("get/ds/all", "", { qos: 1 });
    assert.equal((await dev.box.next("downlink/ds/Power")).payload, "1");
  });

  it("waits for a subscription that covers each value: a narrow one gets its own first", async function () {
    await send(SYNCED, "Power", "1");
    await send(SYNCED, "Light", "0");
    const dev = await ctx.device(SYNCED.token);
    await dev.subscribeAsync("downlink/ds/Light");
    await dev.box.next("downlink/ds/Light");
    await dev.subscribeAsync("downlink/#");
    await drained(dev);
    assert.deepEqual(dsTopics(dev).map((m) => m.topic), ["downlink/ds/Light", "downlink/ds/Power"]);
  });

  it("sends the value current when it goes out: a flow's write before the subscription is not undone", async function () {
    await send(SYNCED, "Light", "0");
    const dev = await ctx.device(SYNCED.token);
    // Connected, not yet subscribed: the flow's write reaches no subscription, the sync waits.
    await send(SYNCED, "Light", "1");
    await dev.subscribeAsync("downlink/#");
    await drained(dev);
    assert.deepEqual(dsTopics(dev).map((m) => m.payload), ["1"]);
  });

  it("reaches a device resuming a persistent session, whose subscription was restored without a SUBSCRIBE", async function () {
    const options = { clientId: "greenhouse-esp32", clean: false };
    const first = await ctx.device(SYNCED.token, options);
    await first.subscribeAsync("downlink/#", { qos: 1 });
    await first.endAsync();
    await send(SYNCED, "Power", "1");
    const again = await ctx.device(SYNCED.token, options);
    assert.equal((await again.box.next("downlink/ds/Power")).payload, "1");
    await drained(again);
    // The QoS 1 write queued for the session and the sync may both bring it: the device ends on the current value.
    assert.ok(dsTopics(again).every((m) => m.topic === "downlink/ds/Power" && m.payload === "1"));
  });

  it("is a setting of the local-mode link: blynk-device's syncOnConnect reaches the hosted device", async function () {
    const id = "a9b2c3d4e5f60718";
    const link = createBlynkLink({ connection: "local", token: TOKENS.gamma, broker: BROKER_ID, deviceId: id, name: "Via link", syncOnConnect: true });
    try {
      link.start();
      await untilStatus(link, (s) => s.state === "connected");
      await link.write("Power", 1);
      const dev = await ctx.device(TOKENS.gamma);
      await dev.subscribeAsync("downlink/#");
      assert.equal((await dev.box.next("downlink/ds/Power")).payload, "1");
    } finally {
      await link.close();
    }
  });

  it("gives a device that left before subscribing the values on its next connection", async function () {
    await send(SYNCED, "Power", "1");
    const gone = await ctx.device(SYNCED.token);
    await gone.endAsync();
    await until(() => ctx.state(SYNCED.id)?.online === false, 5000, "the device offline");
    const dev = await ctx.device(SYNCED.token);
    await dev.subscribeAsync("downlink/#");
    await drained(dev);
    assert.deepEqual(dsTopics(dev).map((m) => m.payload), ["1"]);
  });
});
