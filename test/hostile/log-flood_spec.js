"use strict";
// Issue 8, finding 3: one device must not flood the log. 2,000 malformed messages from a hosted
// device used to give 2,000 plugin-error events (each one a log line or an output message) and
// as many warnings; now the first few are reported, the rest counted and summarised (once a
// minute, or when hosting ends, which this test uses instead of waiting a minute).
const assert = require("node:assert/strict");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { hostBlynkDevice } = require("../../dist/nodes/lib/blynk/emulation.js");
const { hostThingsBoardDevice } = require("../../dist/nodes/lib/thingsboard/emulation.js");
const { hostThingSpeakChannel } = require("../../dist/nodes/lib/thingspeak/emulation.js");
const { DEFAULT_REPORT_BURST } = require("../../dist/nodes/lib/transport/report-throttle.js");
const { startEngine } = require("../lib/fixtures/engine.js");
const { rawDevice } = require("../lib/fixtures/raw-device.js");
const { until } = require("../support/wait.js");

const BROKER_ID = "hostile-flood-broker";
const COUNT = 2000;

const CASES = [
  {
    name: "Blynk: malformed batch_ds",
    host: (warn) => hostBlynkDevice(BROKER_ID, { id: "f0000000000000001", name: "Flood", token: "FloodTok_0123456789abcdefghijklm" }, warn),
    login: { username: "device", password: "FloodTok_0123456789abcdefghijklm" },
    message: (i) => ["batch_ds", `{not json ${i}`],
    marker: ["ds/Done", "1"],
    markerTopic: "ds/Done",
  },
  {
    name: "ThingsBoard: malformed telemetry",
    host: (warn) => hostThingsBoardDevice(BROKER_ID, { id: "f0000000000000002", name: "TbFlood", token: "TbFloodTOKEN00000001" }, warn),
    login: { username: "TbFloodTOKEN00000001" },
    message: (i) => ["v1/devices/me/telemetry", `{not json ${i}`],
    marker: ["v1/devices/me/telemetry", '{"done":1}'],
    markerTopic: "v1/devices/me/telemetry",
  },
  {
    name: "ThingSpeak: empty updates",
    host: (warn) =>
      hostThingSpeakChannel(BROKER_ID, { id: "f0000000000000003", channelId: 6161, name: "TsFlood", clientId: "FloodClient00000000001", username: "FloodClient00000000001", password: "FloodPassword00000001", updateIntervalMs: 0 }, warn),
    login: { clientId: "FloodClient00000000001", username: "FloodClient00000000001", password: "FloodPassword00000001" },
    message: () => ["channels/6161/publish", ""],
    marker: ["channels/6161/publish", "field1=1"],
    markerTopic: "channels/6161/publish",
  },
];

describe("hostile: a device flooding the log (finding 3)", function () {
  this.timeout(20_000);

  for (const c of CASES) {
    it(`${c.name} x ${COUNT}: at most ${DEFAULT_REPORT_BURST} reports, then one summary with the count`, async function () {
      // Rate limits off: the flood must reach the emulation to test its reports (rate-limit_spec.js tests the limit).
      const { engine, port, events } = await startEngine({ deviceRateLimit: 0 });
      brokers.attach(BROKER_ID, engine);
      const warnings = [];
      const unhost = c.host((err) => warnings.push(err.message));
      const seen = [];
      const local = engine.createLocalClient();
      await local.subscribe("$iot/#", (m) => seen.push(m.topic));
      const dev = await rawDevice(port, c.login);
      try {
        dev.burst(Array.from({ length: COUNT }, (_, i) => c.message(i)), 20);
        dev.burst([c.marker]);
        // Uplinks reach flows in order: once the marker is there, the emulation saw every message.
        await until(() => seen.some((t) => t.endsWith(`/up/${c.markerTopic}`)) && seen.filter((t) => t.includes("/up/")).length >= COUNT + 1, 10_000, "the burst to reach flows");
        const reports = events.filter((e) => e.event === "plugin-error").length + warnings.length;
        assert.ok(reports <= DEFAULT_REPORT_BURST, `${reports} reports for ${COUNT} bad messages`);
        assert.ok(reports >= 1, "the first one is reported");
      } finally {
        dev.destroy();
        unhost(); // hosting ends: the summary still owed goes out now
        brokers.detach(BROKER_ID, engine);
        await engine.close();
      }
      const summary = warnings.find((w) => /more like this were not reported one by one/.test(w));
      assert.ok(summary, `no summary among ${JSON.stringify(warnings)}`);
      const reported = Number(/(\d+) more like this/.exec(summary)[1]);
      assert.equal(reported + DEFAULT_REPORT_BURST, COUNT, summary);
    });
  }
});
