"use strict";
// Restarting a real Node-RED (its CLI, in a child process) on the same userDir with a broker on
// `sqlite`: a Blynk device, a ThingsBoard device and a ThingSpeak channel hosted on it, a
// retained message and a persistent session with QoS 1 messages queued. After SIGTERM, and
// after kill -9, Node-RED comes back with all of it: get/ds answers the earlier value, attribute
// requests are answered, the channel's entry ids continue, the retained and queued messages arrive.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { connect, inbox } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { prepareUserDir, startNodeRed, stopNodeRed } = require("../lib/fixtures/node-red-process.js");
const { until, waitFor } = require("../support/wait.js");

const BLYNK_TOKEN = "RestartBlynkToken_0123456789abcd";
const TB_TOKEN = "RestartTbToken01234";
const TS = { clientId: "RestartTsClient0001", username: "RestartTsClient0001", password: "RestartTsPassword0000001", writeKey: "RESTARTWRITEKEY1", readKey: "RESTARTREADKEY01" };
const CHANNEL = 424242;

function flows(mqttPort) {
  return [
    { id: "t1", type: "tab", label: "restart" },
    { id: "b1", type: "iot-broker", z: "t1", x: 120, y: 60, name: "home", port: mqttPort, bind: "127.0.0.1", allowAnonymous: true, persistence: "sqlite", dbPath: "", retention: 30, wires: [[]] },
    { id: "blynk", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1", server: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
    { id: "tb", type: "thingsboard-device", name: "Thermostat", connection: "local", broker: "b1", server: "", gateway: false, auth: "token", tls: "" },
    { id: "ts", type: "thingspeak-channel", name: "Weather", connection: "local", broker: "b1", server: "", channelId: String(CHANNEL), updateInterval: "1", fieldNames: "1=Temperature" },
  ];
}
const credentials = { blynk: { token: BLYNK_TOKEN }, tb: { token: TB_TOKEN }, ts: { ...TS } };

describe("Node-RED restarts with a broker on sqlite (real Node-RED process)", function () {
  this.timeout(120_000);
  let userDir;
  let running;
  let mqttUrl;
  let httpBase;
  const clients = [];

  before(async function () {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-restart-"));
    const [uiPort, mqttPort] = [await freePort(), await freePort()];
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    httpBase = `http://127.0.0.1:${uiPort}`;
    prepareUserDir(userDir, { uiPort, flows: flows(mqttPort), credentials });
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  });

  after(async function () {
    if (running) await stopNodeRed(running.child, "SIGKILL");
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  /** Starts Node-RED and waits until its broker hosts the Blynk device (the last thing a start does). */
  async function start() {
    running = await startNodeRed(userDir);
    await until(async () => {
      const c = await connect(mqttUrl, { username: "device", password: BLYNK_TOKEN, clientId: "" }).catch(() => undefined);
      await c?.endAsync(true);
      return c !== undefined;
    }, 20_000, "the broker to host the Blynk device");
  }

  async function client(options) {
    const c = await connect(mqttUrl, options);
    clients.push(c);
    return c;
  }

  const blynk = () => client({ username: "device", password: BLYNK_TOKEN, clientId: "" });
  const thingsboard = () => client({ username: TB_TOKEN, clientId: "thermostat" });
  /** A ThingSpeak REST update; resolves with the new entry id (0 when refused). */
  const tsUpdate = async (value) => Number(await (await fetch(`${httpBase}/update?api_key=${TS.writeKey}&field1=${value}`)).text());

  /** The device writes; a client leaves a retained message and messages queued for an offline session. */
  async function write(round) {
    const device = await blynk();
    await device.publishAsync("ds/Temperature", `2${round}.5`, { qos: 1 }); // acknowledged once stored
    const tb = await thingsboard();
    await tb.publishAsync("v1/devices/me/attributes", JSON.stringify({ firmware: `1.${round}` }), { qos: 1 });
    await tb.publishAsync("v1/devices/me/telemetry", JSON.stringify({ temperature: 20 + round }), { qos: 1 });
    const sleeper = await client({ clientId: "sleeper", clean: false });
    await sleeper.subscribeAsync("queued/#", { qos: 1 });
    await sleeper.endAsync();
    const publisher = await client({ clientId: "publisher" });
    await publisher.publishAsync("state/round", String(round), { qos: 1, retain: true });
    for (const n of [1, 2]) await publisher.publishAsync("queued/x", `r${round}m${n}`, { qos: 1 });
    // Entry ids: one update per round (the channel's interval is 1 s and a restart takes longer).
    let entry = 0;
    await until(async () => (entry = await tsUpdate(round)) > 0, 5000, "the ThingSpeak update to be accepted");
    return entry;
  }

  /** Everything written in `round` is there again. */
  async function check(round, lastEntry) {
    const device = await blynk();
    await device.subscribeAsync("downlink/#");
    const box = inbox(device);
    await device.publishAsync("get/ds", "Temperature", { qos: 1 });
    assert.equal((await box.next("downlink/ds/Temperature")).payload, `2${round}.5`, "get/ds answers the earlier value");

    const tb = await thingsboard();
    const response = waitFor(tb, "message", (topic) => topic === "v1/devices/me/attributes/response/7");
    await tb.subscribeAsync("v1/devices/me/attributes/response/+", { qos: 1 });
    await tb.publishAsync("v1/devices/me/attributes/request/7", JSON.stringify({ clientKeys: "firmware" }), { qos: 1 });
    assert.deepEqual(JSON.parse((await response)[1].toString()), { client: { firmware: `1.${round}` } }, "the attribute request is answered");

    let entry = 0;
    await until(async () => (entry = await tsUpdate(round + 100)) > 0, 5000, "the ThingSpeak update to be accepted");
    assert.equal(entry, lastEntry + 1, "the channel's entry ids continue");
    const feed = await (await fetch(`${httpBase}/channels/${CHANNEL}/feeds.json?api_key=${TS.readKey}&results=100`)).json();
    assert.deepEqual(feed.feeds.map((f) => f.entry_id), Array.from({ length: entry }, (_, i) => i + 1), "the feed kept every entry");

    const back = mqtt.connect(mqttUrl, { clientId: "sleeper", clean: false, reconnectPeriod: 0 });
    clients.push(back);
    const queued = [];
    back.on("message", (_topic, payload) => queued.push(payload.toString()));
    assert.equal((await waitFor(back, "connect")).sessionPresent, true, "the persistent session is there");
    await until(() => queued.length >= 2, 5000, "the queued messages");
    assert.deepEqual(queued, [`r${round}m1`, `r${round}m2`]);

    const reader = await client({ clientId: "reader" });
    const retained = waitFor(reader, "message", (topic) => topic === "state/round");
    await reader.subscribeAsync("state/#");
    assert.equal((await retained)[1].toString(), String(round), "the retained message is there");
    return entry;
  }

  it("keeps everything across a SIGTERM stop and a kill -9", async function () {
    await start();
    assert.ok(fs.existsSync(path.join(userDir, "iot-bridge", "b1.sqlite")), "the database is <userDir>/iot-bridge/<broker id>.sqlite");
    let entry = await write(1);
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));

    const stopped = await stopNodeRed(running.child, "SIGTERM");
    assert.equal(stopped.code, 0, running.output());
    await start();
    entry = await check(1, entry);

    entry = await write(2);
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    const killed = await stopNodeRed(running.child, "SIGKILL");
    assert.equal(killed.signal, "SIGKILL");
    await start();
    await check(2, entry);
    assert.doesNotMatch(running.output(), /\[error\]/);
  });
});
