"use strict";
// `npm start` as a user runs it (minus the build, which `pretest` did): Node-RED's real CLI
// comes up with the demo flow, and the demo broker accepts the demo login and nothing else.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { freePort, portIsClosed } = require("../lib/fixtures/ports.js");
const { readCredentials } = require("../lib/fixtures/node-red-credentials.js");
const { until } = require("../support/wait.js");

const root = path.join(__dirname, "..", "..");
// Ids of the demo's hosting config nodes (scripts/demo/*.mjs), whose credentials start.mjs generates.
const BLYNK_HOSTED = "b0d9e1a1c0de0102";
const TB_HOSTED = "b0d9e1a1c0de0202";
const TS_HOSTED = "b0d9e1a1c0de0302";
const TS_CHANNEL = 100001;
/** The demo's broker node (scripts/start.mjs), whose database is <userDir>/iot-bridge/<id>.sqlite. */
const DEMO_BROKER = "b0d9e1a1c0de0004";

describe("npm start (scripts/start.mjs)", function () {
  this.timeout(60000);
  let child;
  let userDir;
  let output = "";
  let uiPort;
  let mqttPort;
  /** The ThingSpeak channel's first entry and its last entry id before Ctrl-C. */
  let firstEntry;
  let lastEntryId;

  /** Runs `npm start` (start.mjs) on the test's userDir and resolves once it printed its banner. */
  async function startDemo() {
    output = "";
    child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
      cwd: root,
      env: { ...process.env, PORT: String(uiPort), MQTT_PORT: String(mqttPort), IOT_BRIDGE_USER_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    await new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`npm start did not come up within 45 s:\n${output}`)), 45000);
      const onData = (chunk) => {
        output += chunk;
        if (output.includes(" Stop:")) {
          clearTimeout(deadline);
          resolve();
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (code) => {
        clearTimeout(deadline);
        reject(new Error(`start.mjs exited with ${code}:\n${output}`));
      });
    });
  }

  before(async function () {
    [uiPort, mqttPort] = [await freePort(), await freePort()];
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-start-"));
    await startDemo();
  });

  after(async function () {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  it("serves the editor with the demo flow deployed, without any password in the flow", async function () {
    const res = await fetch(`http://127.0.0.1:${uiPort}/flows`, { headers: { "Node-RED-API-Version": "v2" } });
    assert.equal(res.status, 200);
    const { flows } = await res.json();
    for (const label of ["IoT Bridge demo", "Blynk demo", "ThingsBoard demo", "ThingSpeak demo"]) {
      assert.ok(flows.some((n) => n.type === "tab" && n.label === label), `tab "${label}"`);
    }
    const broker = flows.find((n) => n.type === "iot-broker");
    assert.equal(Number(broker.port), mqttPort);
    assert.equal(broker.allowAnonymous, false);
    assert.doesNotMatch(JSON.stringify(flows), /iot-bridge-demo/);
    assert.doesNotMatch(output, /\[error\]/);
  });

  it("accepts the demo login, delivers the simulated sensor, refuses anonymous clients", async function () {
    const url = `mqtt://127.0.0.1:${mqttPort}`;
    const client = await mqtt.connectAsync(url, { username: "demo", password: "iot-bridge-demo", reconnectPeriod: 0 });
    try {
      const message = new Promise((resolve) => client.once("message", (topic, payload) => resolve([topic, payload.toString()])));
      await client.subscribeAsync("demo/#");
      const [topic, payload] = await message;
      assert.equal(topic, "demo/sensor/temperature");
      assert.ok(Number.isFinite(Number(payload)), `a number, got ${payload}`);
    } finally {
      await client.endAsync();
    }
    // Refused: 0x05 (not authorized), or 0x04 (bad username or password) since the broker also hosts
    // the ThingsBoard demo's device, whose emulation answers an empty username as ThingsBoard does.
    await assert.rejects(mqtt.connectAsync(url, { reconnectPeriod: 0 }), (err) => err.code === 4 || err.code === 5);
  });

  /** The demo's generated credentials, from flows_cred.json (start.mjs writes it encrypted). */
  const firstStartCredentials = () => readCredentials(userDir);

  /** Asserts that none of `secrets` is in the deployed flows or in what start.mjs printed. */
  async function assertNotShown(secrets) {
    const flows = await (await fetch(`http://127.0.0.1:${uiPort}/flows`)).text();
    for (const secret of secrets) {
      assert.ok(typeof secret === "string" && secret.length >= 16, "a generated secret");
      assert.ok(!flows.includes(secret), "a generated secret is not in the flows");
      assert.ok(!output.includes(secret), "a generated secret is not in the log");
    }
  }

  it("runs the Blynk demo: the simulated device is online on the hosted one and its values arrive", async function () {
    const hosted = firstStartCredentials()[BLYNK_HOSTED];
    const api = (query) => fetch(`http://127.0.0.1:${uiPort}/external/api/${query}`).then((r) => r.text());
    await until(async () => (await api(`isHardwareConnected?token=${hosted.token}`)) === "true", 20000, "the simulated Blynk device to come online");
    await until(async () => Number.isFinite(JSON.parse(await api(`get?token=${hosted.token}&v1&v2`)).v1), 20000, "a Temperature value");
    assert.equal(await api("get?token=not-the-token&v1"), '{"error":{"message":"Invalid token."}}');
    const flows = await (await fetch(`http://127.0.0.1:${uiPort}/flows`)).text();
    assert.ok(!flows.includes(hosted.token), "the token is not in the flows");
    assert.ok(!output.includes(hosted.token), "the token is not in the log");
  });

  it("runs the ThingsBoard demo: telemetry reaches the hosted device's server side, the simulated device answers its RPC", async function () {
    const { token } = firstStartCredentials()[TB_HOSTED];
    // ThingsBoard's HTTP device API on Node-RED answers from what the hosted device's server keeps.
    const attributes = async (t) => {
      const res = await fetch(`http://127.0.0.1:${uiPort}/api/v1/${t}/attributes`);
      return res.status === 200 ? res.json() : { status: res.status };
    };
    let seen;
    const works = async () => {
      seen = await attributes(token);
      // `heating` is a shared attribute only the server's thermostat sets, from the simulated device's
      // telemetry; `gpio2` a client attribute the simulated device reports when it serves setGpio.
      return typeof seen.shared?.heating === "boolean" && typeof seen.client?.gpio2 === "boolean";
    };
    await until(works, 25000, "telemetry and an answered RPC at the hosted ThingsBoard device");
    assert.equal(seen.shared.targetTemperature, 22);
    assert.deepEqual(await attributes("NotTheAccessToken123"), { status: 401 });
    await assertNotShown([token]);
    assert.doesNotMatch(output, /\[error\]/);
  });

  it("runs the ThingSpeak demo: the simulated device's updates become entries of the hosted channel, readable with REST", async function () {
    const hosted = firstStartCredentials()[TS_HOSTED];
    const feeds = (key) => fetch(`http://127.0.0.1:${uiPort}/channels/${TS_CHANNEL}/feeds.json?api_key=${key}&results=10`);
    let body;
    await until(
      async () => {
        const res = await feeds(hosted.readKey);
        body = res.status === 200 ? await res.json() : undefined;
        return body !== undefined && body.feeds.length > 0;
      },
      20000,
      "an entry of the hosted ThingSpeak channel",
    );
    assert.deepEqual([body.channel.id, body.channel.field1, body.channel.field2], [TS_CHANNEL, "Temperature", "Humidity"]);
    assert.equal(body.feeds[0].entry_id, 1);
    firstEntry = body.feeds[0];
    assert.ok(Number.isFinite(Number(body.feeds[0].field1)), `a temperature, got ${body.feeds[0].field1}`);
    const refused = await feeds(hosted.writeKey);
    assert.equal(refused.status, 401);
    await refused.text();
    await assertNotShown([hosted.clientId, hosted.password, hosted.writeKey, hosted.readKey]);
    assert.doesNotMatch(output, /\[error\]/);
  });

  it("stops on Ctrl-C and frees both ports", async function () {
    const feed = await fetch(`http://127.0.0.1:${uiPort}/channels/${TS_CHANNEL}/feeds.json?api_key=${firstStartCredentials()[TS_HOSTED].readKey}&results=8000`);
    lastEntryId = (await feed.json()).channel.last_entry_id;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    await exited;
    assert.equal(await portIsClosed(mqttPort), true);
    assert.equal(await portIsClosed(uiPort), true);
  });

  it("after npm start again, the demo keeps its data (the broker is on sqlite): the channel's entries, the Blynk device's values", async function () {
    assert.ok(fs.existsSync(path.join(userDir, "iot-bridge", `${DEMO_BROKER}.sqlite`)), "the demo broker's database");
    await startDemo();
    const hosted = firstStartCredentials();
    // Until the broker's engine runs (a moment after the flows started), the channel is not on it
    // and REST answers what the hosting holds without a broker: nothing yet.
    let feed;
    await until(async () => {
      feed = await (await fetch(`http://127.0.0.1:${uiPort}/channels/${TS_CHANNEL}/feeds.json?api_key=${hosted[TS_HOSTED].readKey}&results=8000`)).json();
      return feed.feeds.length > 0;
    }, 20000, "the hosted channel's feed");
    assert.deepEqual(feed.feeds[0], firstEntry, "the first entry, as it was");
    assert.ok(feed.channel.last_entry_id >= lastEntryId, `entry ids continue (${feed.channel.last_entry_id} after ${lastEntryId})`);
    const values = JSON.parse(await (await fetch(`http://127.0.0.1:${uiPort}/external/api/get?token=${hosted[BLYNK_HOSTED].token}&v1&v2`)).text());
    assert.ok(Number.isFinite(values.v1), `a Temperature value, got ${JSON.stringify(values)}`);
    assert.doesNotMatch(output, /\[error\]/);
  });
});
