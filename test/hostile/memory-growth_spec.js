"use strict";
// Memory that grew with traffic in the soak (bench/soak.mjs, SOAK_HEAP_SNAPSHOTS=1 and
// bench/heap-diff.mjs): proven by structure, not by measuring the heap.
const assert = require("node:assert/strict");
const { PacedQueue } = require("../../dist/nodes/lib/transport/paced-queue.js");
const { until } = require("../support/wait.js");

describe("hostile: memory that grows with traffic", function () {
  it("a paced queue keeps no sent item: idle after 3000 answers, it holds no slot", async function () {
    const sent = [];
    const queue = new PacedQueue({ limit: 64, send: async (n) => void sent.push(n) });
    // The emulations' pattern: a few answers at a time, the queue running empty in between.
    for (let round = 0; round < 1000; round++) {
      for (let i = 0; i < 3; i++) assert.ok(queue.offer(round * 3 + i));
      await until(() => sent.length === (round + 1) * 3);
    }
    assert.equal(queue.waiting, 0);
    assert.equal(queue.held, 0, `an idle queue still holds ${queue.held} slots of sent answers`);
  });
});

describe("hostile: memory that grows with redeploys", function () {
  this.timeout(30000);
  const helper = require("node-red-node-test-helper");
  helper.init(require("../lib/fixtures/node-red-path.js"));
  const { brokers } = require("../../dist/nodes/lib/broker/index.js");
  const { freePort } = require("../lib/fixtures/ports.js");
  const { waitFor } = require("../support/wait.js");
  const nodeModules = ["iot-broker", "blynk-device", "thingsboard-device", "thingspeak-channel"].map((t) => require(`../../dist/nodes/${t}.js`));

  beforeEach(function (done) {
    helper.startServer(done);
  });
  afterEach(async function () {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  /** Listener counts of everything a deploy could attach to and forget: the kept engine, RED.events, the process. */
  function listenerCounts(engine) {
    const count = (emitter) => Object.fromEntries(emitter.eventNames().map((e) => [String(e), emitter.listenerCount(e)]));
    return { engine: { event: engine.listenerCount("event"), clients: engine.listenerCount("clients") }, red: count(helper._events), process: count(process) };
  }

  it("a broker kept across 12 full deploys (with its hosted devices re-created) gains no listener", async function () {
    const port = await freePort();
    const flow = (n) => [
      { id: "f1", type: "tab", label: `deploy ${n}` },
      { id: "b1", type: "iot-broker", z: "f1", x: 100, y: 100, name: "kept", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] },
      { id: "dev-b", type: "blynk-device", name: "Blynk hosted", connection: "local", broker: "b1" },
      { id: "dev-t", type: "thingsboard-device", name: "TB hosted", connection: "local", broker: "b1" },
      { id: "dev-s", type: "thingspeak-channel", name: "TS hosted", connection: "local", broker: "b1", channelId: "4243", updateInterval: "1" },
    ];
    const credentials = {
      b1: { users: JSON.stringify([{ username: "u", password: "u-password-1", publish: ["x/#"], subscribe: ["x/#"] }]) },
      "dev-b": { token: "MemoryBlynkToken_0123456789abcd" },
      "dev-t": { token: "MemoryTbToken0123" },
      "dev-s": { clientId: "MemoryClient0001", username: "MemoryUser000001", password: "MemoryPassword01secret", writeKey: "MEMORYWRITE00001" },
    };
    await helper.load(nodeModules, flow(0), credentials);
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker to run");
    const engine = brokers.engine("b1");
    const deploy = async (n) => {
      const started = waitFor(helper._events, "flows:started", () => true, 10000);
      await helper._redNodes.setFlows(flow(n), credentials, "full");
      await started;
    };
    await deploy(1);
    const after1 = listenerCounts(engine);
    for (let n = 2; n <= 12; n++) await deploy(n);
    assert.equal(brokers.engine("b1"), engine, "the engine was kept (same settings)");
    assert.deepEqual(listenerCounts(engine), after1);
  });
});
