"use strict";
// The Blynk link in local mode: Node-RED serves a device hosted on the broker engine, talking
// to it in-process, while a plain MQTT.js client speaks Blynk's documented topics as the device.
const assert = require("node:assert/strict");
const { brokers } = require("../../../dist/nodes/lib/broker/index.js");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { startEngine } = require("../fixtures/engine.js");
const { until, untilStatus } = require("../../support/wait.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");
const { collect } = require("../../support/links.js");
const { statusView } = require("../../../dist/nodes/lib/blynk/link-user.js");

const ID = "a1b2c3d4e5f60718";
const OTHER = "b1b2c3d4e5f60718";

describe("Blynk link, local mode (Node-RED serves a hosted device)", function () {
  let ctx;
  const links = [];
  function link(options = {}) {
    const l = createBlynkLink({ connection: "local", token: TOKENS.alpha, broker: BROKER_ID, deviceId: ID, name: "Alpha", ...options });
    links.push(l);
    return l;
  }
  afterEach(async function () {
    await Promise.all(links.splice(0).map((l) => l.close()));
    if (ctx) await ctx.cleanup();
    ctx = undefined;
  });

  it("hosts the device, sees what it publishes and writes to it; its values never leak to another device", async function () {
    ctx = await hostedBroker();
    const l = link();
    const other = link({ token: TOKENS.beta, deviceId: OTHER, name: "Beta" });
    const got = collect(l);
    const otherGot = collect(other);
    l.start();
    other.start();
    await untilStatus(l, (s) => s.state === "connected" && s.deviceOnline === false);
    const dev = await ctx.device(TOKENS.alpha);
    const otherDev = await ctx.device(TOKENS.beta);
    await untilStatus(l, (s) => s.deviceOnline === true);
    await dev.subscribeAsync("downlink/#");
    await otherDev.subscribeAsync("downlink/#");

    await dev.publishAsync("info/mcu", JSON.stringify({ tmpl: "TMPL1", ver: "1.0" }), { qos: 1 });
    await dev.publishAsync("ds/Temp", "21.5", { qos: 1 });
    await dev.publishAsync("ds/Color", "1\u00002", { qos: 1 });
    await dev.publishAsync("batch_ds", JSON.stringify({ Hum: 40, Where: [13.4, 52.52] }), { qos: 1 });
    await dev.publishAsync("ds/Temp/prop/color", "#00FF00", { qos: 1 });
    await dev.publishAsync("event/overheat", "too hot", { qos: 1 });
    await dev.publishAsync("meta/Serial", "SN-1", { qos: 1 });
    await got.next((m) => m.topic === "$system/meta/Serial", "the last uplink");
    const summary = got.incoming.map((m) =>
      m.kind === "value" ? ["value", m.datastream, m.value, m.property ?? "", m.batch ?? false, m.source] : m.kind === "event" ? ["event", m.code, m.description] : [m.topic, m.value],
    );
    assert.deepEqual(summary, [
      ["$system/online", false],
      ["$system/online", true],
      ["$system/info", { tmpl: "TMPL1", ver: "1.0" }],
      ["value", "Temp", 21.5, "", false, "device"],
      ["value", "Color", [1, 2], "", false, "device"],
      ["value", "Hum", 40, "", true, "device"],
      ["value", "Where", [13.4, 52.52], "", true, "device"],
      ["value", "Temp", "#00FF00", "color", false, "device"],
      ["event", "overheat", "too hot"],
      ["$system/meta/Serial", "SN-1"],
    ]);
    assert.deepEqual(otherGot.incoming.filter((m) => m.kind !== "system"), [], "nothing of Alpha reaches Beta's link");

    await l.write("Power", 1);
    await l.writeBatch({ Mode: "eco", Where: [13.4, 52.52] });
    await dev.box.next("downlink/ds/Where");
    assert.deepEqual(dev.box.messages.map((m) => [m.topic, m.payload]), [
      ["downlink/ds/Power", "1"],
      ["downlink/ds/Mode", "eco"],
      ["downlink/ds/Where", "13.4\u000052.52"],
    ]);
    // What a flow wrote is what the broker answers get/ds with.
    await dev.publishAsync("get/ds", "Power", { qos: 1 });
    await until(() => dev.box.messages.filter((m) => m.topic === "downlink/ds/Power").length === 2, 5000, "the get/ds answer");
    assert.deepEqual(otherDev.box.messages, [], "nothing for Alpha reaches Beta");

    // The stored state: values, then widget properties of the datastreams asked for; with system, online, info and metadata.
    const synced = await l.sync({ datastreams: ["Temp", "Power"], system: true });
    assert.deepEqual(synced.map((m) => (m.kind === "value" ? [m.datastream, m.property ?? "", m.value, m.sync, m.source] : [m.topic, m.value])), [
      ["Temp", "", 21.5, true, "cache"],
      ["Power", "", 1, true, "cache"],
      ["Temp", "color", "#00FF00", true, "cache"],
      ["$system/online", true],
      ["$system/info", { tmpl: "TMPL1", ver: "1.0" }],
      ["$system/meta/Serial", "SN-1"],
    ]);
    assert.equal(typeof synced.find((m) => m.topic === "$system/online").details.lastSeen, "number", "with when the device was last seen");
    assert.doesNotMatch(JSON.stringify([got, otherGot, l.status]), new RegExp(`${TOKENS.alpha}|${TOKENS.beta}`));
  });

  it("refuses what a device cannot receive, in words, before sending", async function () {
    ctx = await hostedBroker();
    const l = link();
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    const dev = await ctx.device(TOKENS.alpha);
    await dev.subscribeAsync("downlink/#");
    const refused = [
      [() => l.setProperty("Temp", "color", "#FFF"), /property is not possible in local mode/],
      [() => l.writeTimestamped("Temp", [[Date.now(), 1]]), /timestamped data is not possible in local mode/],
      [() => l.write("Temp", 1, { timestamp: Date.now() }), /timestamped data/],
      [() => l.erase("Temp"), /erasing is not possible in local mode/],
      [() => l.logEvent("overheat", "x"), /logging an event is not possible in local mode/],
      [() => l.write("a/b", 1), /datastream name/],
      [() => l.writeBatch({ Good: 1, "Bad/Name": 2 }), /datastream name/],
      [() => l.write("Big", "x".repeat(2000)), /1024 bytes/],
    ];
    for (const [call, message] of refused) await assert.rejects(call(), (err) => message.test(err.message), String(message));
    await l.write("sentinel", 1);
    await dev.box.next("downlink/ds/sentinel");
    assert.deepEqual(dev.box.messages.map((m) => m.topic), ["downlink/ds/sentinel"]);
  });

  it("reads what the broker remembers while it runs, and the values it saw itself while it does not", async function () {
    ctx = await hostedBroker();
    const l = link();
    const got = collect(l);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    const dev = await ctx.device(TOKENS.alpha);
    await dev.publishAsync("ds/Temp", "100.00000", { qos: 1 });
    await got.next((m) => m.datastream === "Temp", "the uplink");
    await l.write("Power", 1);
    const values = (list) => list.map((m) => [m.datastream, m.value, m.text, m.source, m.sync]);
    // The store: the device's value as sent, and what flows wrote (get/ds answers with both).
    assert.deepEqual(values(await l.read()), [["Temp", 100, "100.00000", "cache", true], ["Power", 1, "1", "cache", true]]);
    const stopped = untilStatus(l, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    await stopped;
    assert.deepEqual(values(await l.read()), [["Temp", 100, "100.00000", "cache", true]]);
    brokers.attach(BROKER_ID, ctx.engine);
    await untilStatus(l, (s) => s.state === "connected");
  });

  it("shows a device that is not hosted (another has its token) as such, not as a stopped broker", async function () {
    ctx = await hostedBroker();
    const first = link();
    first.start();
    await untilStatus(first, (s) => s.state === "connected");
    const twin = link({ deviceId: OTHER, name: "Twin" });
    twin.start();
    assert.equal(twin.status.state, "disconnected");
    assert.match(twin.status.reason, /"Twin" is not hosted: "Alpha" already uses the same token/);
    const view = statusView(twin.status, "local");
    assert.deepEqual(view, { fill: "red", shape: "ring", key: "not-hosted" }, "short: the config node warns the reason");
    assert.doesNotMatch(JSON.stringify([twin.status, view]), new RegExp(TOKENS.alpha));
    // A broker that is not running is still said so.
    const stopped = untilStatus(first, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    assert.equal(statusView(await stopped, "local").key, "broker-stopped");
    brokers.attach(BROKER_ID, ctx.engine);
  });

  it("follows the broker node across a restart: stopped, then serving the device again (ready again, so flows sync from its store)", async function () {
    ctx = await hostedBroker();
    const l = link();
    let readyEdges = 0;
    l.on("ready", () => readyEdges++);
    l.start();
    await untilStatus(l, (s) => s.state === "connected");
    assert.equal(l.ready, true);
    assert.equal(readyEdges, 1);
    const stopped = untilStatus(l, (s) => s.state === "disconnected");
    brokers.detach(BROKER_ID, ctx.engine);
    assert.match((await stopped).reason, /iot-broker/);
    assert.equal(l.ready, false, "not ready while no broker serves the device");
    await l.write("Power", 1); // waits in the outbox until the broker is back
    assert.equal(l.status.queued, 1);
    const next = await startEngine();
    const mqtt = require("mqtt");
    let dev;
    try {
      brokers.attach(BROKER_ID, next.engine);
      await untilStatus(l, (s) => s.state === "connected" && s.queued === 0);
      assert.equal(readyEdges, 2, "a (re)connect: blynk-device-in syncs again");
      dev = await mqtt.connectAsync(next.url, { username: "device", password: TOKENS.alpha, clientId: "", reconnectPeriod: 0 });
      await untilStatus(l, (s) => s.deviceOnline === true);
      // The queued write was delivered to the new engine and remembered there: get/ds answers with it.
      const answers = [];
      dev.on("message", (topic, payload) => answers.push(`${topic}=${payload.toString()}`));
      await dev.subscribeAsync("downlink/#");
      await dev.publishAsync("get/ds", "Power", { qos: 1 });
      await until(() => answers.includes("downlink/ds/Power=1"), 5000, "the get/ds answer with the queued write");
    } finally {
      await dev?.endAsync(true);
      brokers.detach(BROKER_ID, next.engine);
      await next.engine.close();
    }
  });
});
