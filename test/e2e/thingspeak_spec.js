"use strict";
// Whole ThingSpeak flows over loopback: an iot-broker node hosting a channel (local mode), a
// plain MQTT.js client as the channel's device (the documented mosquitto_pub form), the REST API
// on Node-RED's own HTTP server, and Node-RED in rest mode reading the hosted channel back.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { connect, connectRefused, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { runtime, withBroker, TAB, STATUS } = require("../nodes/thingspeak-helpers.js");
const { loadFlow, onTab, sink, statusOf, inject, assertNoSecret } = require("../support/node-harness.js");

helper.init(nodeRedPath);

const DEVICE = { clientId: "E2eClientId00001", username: "E2eUser000000001", password: "E2ePassword0000001secret" };
const KEYS = { writeKey: "E2EWRITEKEY00001", readKey: "E2EREADKEY000001" };
const SECRETS = [DEVICE.password, KEYS.writeKey, KEYS.readKey];
const IDS = ["b1", "hosted1", "l-all", "l-f1", "l-write"];

/** The hosted side: broker, local channel (1 s interval), subscribe nodes and a write node. */
function hosted(port) {
  return [
    TAB,
    onTab({ id: "b1", type: "iot-broker", name: "home", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] }),
    { id: "hosted1", type: "thingspeak-channel", name: "Greenhouse", connection: "local", broker: "b1", channelId: "4242", updateInterval: "1", fieldNames: "1=Temperature" },
    onTab({ id: "l-all", type: "thingspeak-field", channel: "hosted1", field: "", mode: "subscribe", wires: [["all-out"]] }),
    onTab({ id: "l-f1", type: "thingspeak-field", channel: "hosted1", field: "1", mode: "subscribe", wires: [["f1-out"]] }),
    onTab({ id: "l-write", type: "thingspeak-field", channel: "hosted1", field: "2", mode: "write", wires: [["w-out"]] }),
    sink("all-out"),
    sink("f1-out"),
    sink("w-out"),
  ];
}
const CREDS = { hosted1: { ...DEVICE, ...KEYS } };
const SINKS = ["all-out", "f1-out", "w-out"];

describe("ThingSpeak end to end", function () {
  const cleanups = [];
  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    while (cleanups.length > 0) await cleanups.pop()();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("a plain MQTT.js device (mosquitto_pub form) feeds the hosted channel; flows receive its entries and write back to it", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, hosted(port), CREDS, SINKS);
    await statusOf(helper.getNode("l-f1"), (s) => s.text === `${STATUS}connected`);
    const url = `mqtt://127.0.0.1:${port}`;
    // mosquitto_pub -h <node-red> -p <port> -V mqttv311 -i <client id> -u <username> -P <password> -t channels/4242/publish -m "field1=45&field2=60"
    const device = await connect(url, { ...DEVICE, protocolVersion: 4, clean: true });
    cleanups.push(() => device.endAsync(true));
    const box = inbox(device);
    await device.subscribeAsync("channels/4242/subscribe");
    await device.publishAsync("channels/4242/publish", "field1=45&field2=60", { qos: 0 });
    const all = await got["all-out"].next();
    assert.deepEqual([all.topic, all.payload.entry_id, all.payload.field1, all.payload.field2, all.thingspeak.channelId], ["channel", 1, "45", "60", 4242]);
    const f1 = await got["f1-out"].next();
    assert.deepEqual([f1.topic, f1.payload, f1.thingspeak.entryId], ["field1", 45, 1]);
    assert.equal(JSON.parse((await box.next("channels/4242/subscribe")).payload).entry_id, 1);

    // The flow's write waits for the channel's interval, then reaches the device as an entry.
    assert.equal(await inject(helper.getNode("l-write"), { payload: 61.5 }), undefined);
    const written = await got["w-out"].next();
    assert.deepEqual([written.payload.entry_id, written.payload.field2, written.thingspeak.entryId], [2, "61.5", 2]);
    await until(() => box.messages.filter((m) => m.topic === "channels/4242/subscribe").length === 2, 5000, "the flow's entry at the device");
    assert.equal(JSON.parse(box.messages.at(-1).payload).field2, "61.5");
    assert.equal(got["all-out"].length, 1, "the flow does not hear its own write");

    // Other credentials, and other channels, are refused.
    assert.equal((await connectRefused(url, { ...DEVICE, password: "not-the-password" })).code, 5);
    assertNoSecret(SECRETS, IDS, got);
  });

  it("serves ThingSpeak's REST API on Node-RED's HTTP server: updates with the write key, reads with the read key, others refused", async function () {
    const port = await freePort();
    const got = await loadFlow(withBroker, hosted(port), CREDS, SINKS);
    await statusOf(helper.getNode("l-all"), (s) => s.text === `${STATUS}connected`);
    const web = http.createServer(runtime.RED.httpNode);
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    cleanups.push(() => new Promise((resolve) => web.close(resolve)));
    const origin = `http://127.0.0.1:${web.address().port}`;

    const update = await fetch(`${origin}/update.json`, { method: "POST", headers: { THINGSPEAKAPIKEY: KEYS.writeKey, "Content-Type": "application/x-www-form-urlencoded" }, body: "field1=19.5&status=http" });
    assert.equal(update.status, 200);
    assert.equal((await update.json()).entry_id, 1);
    const seen = await got["all-out"].next();
    assert.deepEqual([seen.payload.field1, seen.payload.status], ["19.5", "http"]);

    // Node-RED in rest mode reads the hosted channel back through the same API.
    const reader = [
      { id: "api1", type: "thingspeak-channel", connection: "rest", server: origin, channelId: "4242" },
      onTab({ id: "r-f1", type: "thingspeak-field", channel: "api1", field: "1", mode: "subscribe", interval: "3600", wires: [["r-out"]] }),
      sink("r-out"),
    ];
    const more = await loadFlow(withBroker, [...hosted(port), ...reader], { ...CREDS, api1: { readKey: KEYS.readKey } }, ["r-out"], "nodes");
    const read = await more["r-out"].next();
    assert.deepEqual([read.topic, read.payload, read.thingspeak.entryId], ["field1", 19.5, 1]);

    const refusedWrite = await fetch(`${origin}/update?api_key=WRONGKEY00000001&field1=1`, { method: "POST" });
    assert.equal(refusedWrite.status, 401);
    const refusedRead = await fetch(`${origin}/channels/4242/feeds.json?api_key=${KEYS.writeKey}`);
    assert.equal(refusedRead.status, 401);
    assert.ok(!(await refusedRead.text()).includes(KEYS.writeKey));
    assertNoSecret(SECRETS, [...IDS, "api1", "r-f1"], got, more);
  });
});
