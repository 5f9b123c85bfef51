"use strict";
// iot-history reads what the broker node's storage keeps, on `memory` and on `sqlite` (a real
// SQLite file in a temp userDir) alike, through the engine's DeviceHistory only: points that real
// devices of every platform sent over MQTT (a Blynk datastream by pin, ThingsBoard telemetry of
// a gateway and of its sub-device, a ThingSpeak field by its name), the same after a redeploy
// that restarts the broker (a new engine on the same storage), and on sqlite after a restart of
// Node-RED.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { brokers } = require("../../dist/nodes/lib/broker/registry.js");
const { connect } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { translatingFor, testTab, loadFlow, onTab, sink, statusOf, inject, assertNoSecret } = require("../support/node-harness.js");
const blynk = require("./blynk-helpers.js");
const tb = require("./thingsboard-helpers.js");
const ts = require("./thingspeak-helpers.js");

helper.init(nodeRedPath);

const historyNode = translatingFor({ RED: undefined })(require("../../dist/nodes/iot-history.js"));
const NODES = [...blynk.withBroker, ...tb.tbNodes, ...ts.tsNodes, historyNode];
const TAB = testTab("history storage");

const BLYNK_TOKEN = "StoredHistoryBlynkToken01";
const TB_TOKEN = "StoredHistoryTbToken001";
const TS = { clientId: "StoredHistoryTs00001", username: "StoredHistoryTs00001", password: "StoredHistoryTsPassword01", writeKey: "STOREDWRITEKEY01", readKey: "STOREDREADKEY001" };
const CHANNEL = "5150";
/** The telemetry's own times: within the broker's retention (older points are pruned). */
const T0 = Date.now() - 3_600_000;
const SECRETS = [BLYNK_TOKEN, TB_TOKEN, TS.password, TS.writeKey, TS.readKey];
/** Fresh each time: the runtime keeps (and changes) the object it is handed. */
const credentials = () => ({ bdev: { token: BLYNK_TOKEN }, tdev: { token: TB_TOKEN }, sch: { ...TS } });

function flow(port, persistence, broker = {}) {
  return [
    TAB,
    onTab({ id: "b1", type: "iot-broker", name: "Home", port, bind: "127.0.0.1", allowAnonymous: false, persistence, retention: "30", wires: [[]], ...broker }),
    { id: "bdev", type: "blynk-device", name: "Greenhouse", connection: "local", broker: "b1", pins: "V1=Temperature" },
    { id: "tdev", type: "thingsboard-device", name: "Gateway", connection: "local", broker: "b1", gateway: true },
    { id: "sch", type: "thingspeak-channel", name: "Weather", connection: "local", broker: "b1", channelId: CHANNEL, updateInterval: "1", fieldNames: "1=Temperature, 2=Humidity" },
    onTab({ id: "h", type: "iot-history", device: "", key: "", from: "", to: "", limit: "", format: "", wires: [["out"]] }),
    sink("out"),
  ];
}

for (const persistence of ["memory", "sqlite"]) {
  describe(`iot-history on a broker with persistence ${persistence}`, function () {
    this.timeout(20_000);
    let userDir;
    let got;
    const clients = [];

    beforeEach(function (done) {
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-history-store-"));
      helper.settings({ userDir });
      helper.startServer(done);
    });

    afterEach(async function () {
      await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
      await helper.unload();
      helper.settings({});
      await new Promise((resolve) => helper.stopServer(resolve));
      fs.rmSync(userDir, { recursive: true, force: true });
    });

    async function deploy(port, broker = {}, type = undefined) {
      const before = brokers.engine("b1");
      const sinks = await loadFlow(NODES, flow(port, persistence, broker), credentials(), ["out"], type);
      got = sinks.out ?? got;
      await until(() => brokers.engine("b1") !== undefined && brokers.engine("b1") !== before, 5000, "a new engine of the broker");
      await statusOf(helper.getNode("b1"), (s) => s.fill === "green");
    }

    /** A device client that the broker accepted (a new engine adds its hosted devices as it starts). */
    async function device(url, options) {
      let c;
      await until(async () => {
        c = await connect(url, options).catch(() => undefined);
        return c !== undefined;
      }, 5000, `the hosted device ${options.username} to be accepted`);
      clients.push(c);
      return c;
    }

    /** Each device sends over MQTT at QoS 1: acknowledged once stored (history included). */
    async function send(url, round) {
      const greenhouse = await device(url, { username: "device", password: BLYNK_TOKEN, clientId: "" });
      await greenhouse.publishAsync("ds/Temperature", `2${round}.5`, { qos: 1 });
      const gateway = await device(url, { username: TB_TOKEN, clientId: "gateway" });
      await gateway.publishAsync("v1/devices/me/telemetry", JSON.stringify({ ts: T0 + 1000 * round, values: { temperature: 20 + round } }), { qos: 1 });
      await gateway.publishAsync("v1/gateway/telemetry", JSON.stringify({ "Pump 1": [{ ts: T0 + 1000 * round, values: { rpm: 1000 + round } }] }), { qos: 1 });
      if (round === 1) {
        const weather = await device(url, { clientId: TS.clientId, username: TS.username, password: TS.password });
        await weather.publishAsync(`channels/${CHANNEL}/publish`, "field1=12.5&field2=80", { qos: 1 });
      }
    }

    /** The values node "h" reads for `msg`. */
    async function values(msg) {
      const before = got.length;
      const err = await inject(helper.getNode("h"), { payload: "go", ...msg });
      if (err !== undefined) throw err;
      await until(() => got.length > before, 5000, "the history node's output");
      const out = got.at(-1);
      assert.deepEqual(Object.keys(out.payload[0] ?? { ts: 0, value: 0 }), ["ts", "value"]);
      return out.payload.map((p) => p.value);
    }

    async function readsRounds(rounds) {
      assert.deepEqual(await values({ platform: "blynk", device: "Greenhouse", key: "V1" }), rounds.map((r) => Number(`2${r}.5`)));
      assert.deepEqual(await values({ platform: "thingsboard", device: "Gateway", key: "temperature" }), rounds.map((r) => 20 + r));
      assert.deepEqual(await values({ device: "tdev", key: "rpm", subDevice: "Pump 1" }), rounds.map((r) => 1000 + r));
      assert.deepEqual(await values({ device: "Weather", key: "Temperature" }), [12.5]);
    }

    it("reads what devices of every platform sent over MQTT, and all of it again after a redeploy that restarts the broker", async function () {
      const port = await freePort();
      const url = `mqtt://127.0.0.1:${port}`;
      await deploy(port);
      await send(url, 1);
      await readsRounds([1]);

      await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
      const first = brokers.engine("b1");
      await deploy(port, { maxQueuedMessages: "50" }, "nodes");
      assert.notEqual(brokers.engine("b1"), first);
      await send(url, 2);
      await readsRounds([1, 2]);
      assert.deepEqual(await values({ device: "Greenhouse", key: "Temperature", limit: 1 }), [22.5], "the newest point of the range");
      assert.equal(fs.existsSync(path.join(userDir, "iot-bridge", "b1.sqlite")), persistence === "sqlite");
      assertNoSecret(SECRETS, ["h"], got);
    });

    if (persistence === "sqlite") {
      it("reads the history after a restart of Node-RED (from the file under the userDir)", async function () {
        const port = await freePort();
        const url = `mqtt://127.0.0.1:${port}`;
        await deploy(port);
        await send(url, 1);
        await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
        await helper.unload();
        await deploy(port);
        await readsRounds([1]);
        for (const file of fs.readdirSync(path.join(userDir, "iot-bridge")).filter((f) => fs.statSync(path.join(userDir, "iot-bridge", f)).isFile())) {
          const text = fs.readFileSync(path.join(userDir, "iot-bridge", file)).toString("latin1");
          for (const secret of SECRETS) assert.ok(!text.includes(secret), `no credential in ${file}`);
        }
      });
    }
  });
}
