"use strict";
// Issue 8, finding 3, in a real Node-RED: a hosted ThingsBoard device sending client-side RPC
// requests nobody answers made the thingsboard-rpc node warn once per request (10,000 lines for
// 10,000 requests). Now a few warnings, then one summary with the count.
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const helper = require("node-red-node-test-helper");
const mqtt = require("mqtt");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { withBroker, TAB } = require("../nodes/thingsboard-helpers.js");
const { onTab, lastStatus } = require("../support/node-harness.js");
const { DEFAULT_REPORT_BURST } = require("../../dist/nodes/lib/transport/report-throttle.js");

helper.init(nodeRedPath);

const TOKEN = "RpcFloodTOKEN0000001";
const COUNT = 200;

describe("hostile: unanswered RPC requests do not flood the log (finding 3)", function () {
  this.timeout(20_000);
  before(function (done) {
    helper.startServer(done);
  });
  after(function (done) {
    helper.stopServer(done);
  });

  it(`${COUNT} unanswered requests from a hosted device: at most ${DEFAULT_REPORT_BURST} warnings, then one summary with the count`, async function () {
    const port = await freePort();
    const flow = [
      TAB,
      onTab({ id: "b1", type: "iot-broker", port, bind: "127.0.0.1", wires: [[]] }),
      { id: "dev1", type: "thingsboard-device", name: "Hosted", connection: "local", broker: "b1" },
      onTab({ id: "s1", type: "thingsboard-rpc", device: "dev1", mode: "serve", timeout: 50, wires: [["out"]] }),
      onTab({ id: "out", type: "helper" }),
    ];
    await helper.load(withBroker, flow, { dev1: { token: TOKEN } });
    const serve = helper.getNode("s1");
    // Node-RED's log itself (the helper's spies are gone by the time nodes close and summarise).
    const logged = [];
    const handler = new EventEmitter();
    handler.on("log", (m) => logged.push(m));
    helper._log.addHandler(handler);
    let emitted = 0;
    helper.getNode("out").on("input", () => emitted++);
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: TOKEN, reconnectPeriod: 0 });
    try {
      for (let i = 1; i <= COUNT; i++) device.publish(`v1/devices/me/rpc/request/${i}`, JSON.stringify({ method: "nobodyAnswers", params: {} }));
      // Every request was emitted, and none waits any more (the status leaves "waiting" at 0).
      await until(() => emitted === COUNT && !/waiting/.test(lastStatus(serve)?.text ?? ""), 10_000, "every request to expire");
      const unanswered = () => logged.filter((m) => m.id === "s1" && /unanswered/.test(String(m.msg))).map((m) => String(m.msg));
      assert.equal(unanswered().length, DEFAULT_REPORT_BURST);
      await helper.unload(); // closing the node sends the summary still owed
      const summary = unanswered().find((w) => /unanswered-more/.test(w));
      assert.ok(summary, JSON.stringify(unanswered()));
      assert.match(summary, new RegExp(`"count":"${COUNT - DEFAULT_REPORT_BURST}"`));
    } finally {
      await device.endAsync(true);
      await helper.unload();
      helper._log.removeHandler(handler);
    }
  });
});
