"use strict";
// The connection core's promise, end to end: the broker goes away and comes back on the same
// port; the session reconnects by itself, restores its subscriptions and loses nothing it was
// asked to send while the broker was down.
const assert = require("node:assert/strict");
const { MqttSession } = require("../../../dist/nodes/lib/transport/mqtt-session.js");
const { BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");
const { freePort } = require("../fixtures/ports.js");
const { waitFor, until } = require("../../support/wait.js");

async function brokerOn(port) {
  const engine = await BrokerEngine.create({ users: [{ username: "node-red", password: "restart-test-pw", publish: ["#"], subscribe: ["#"] }] });
  await engine.listen({ kind: "tcp", host: "127.0.0.1", port });
  return engine;
}

describe("MqttSession across a broker stop and restart", function () {
  let engine;
  let session;
  afterEach(async function () {
    await session?.close();
    await engine?.close();
  });

  for (const protocolVersion of [4, 5]) {
    it(`reconnects, restores subscriptions and delivers the outbox in order (MQTT ${protocolVersion === 4 ? "3.1.1" : "5"})`, async function () {
      const port = await freePort();
      engine = await brokerOn(port);
      session = new MqttSession({
        url: `mqtt://127.0.0.1:${port}`,
        username: "node-red",
        password: "restart-test-pw",
        protocolVersion,
        reconnect: { initialMs: 20, maxMs: 100 },
      });
      const got = [];
      await session.subscribe("plant/#", (m) => got.push(m.payload.toString()));
      session.start();
      await waitFor(session, "status", (s) => s.state === "connected");
      await session.publish("plant/a", "before", { qos: 1 });
      await until(() => got.includes("before"), 5000, "the first message");

      const lost = waitFor(session, "status", (s) => s.state === "disconnected");
      await engine.close();
      await lost;
      for (let i = 1; i <= 5; i++) await session.publish("plant/a", `offline-${i}`, { qos: 1 });
      assert.equal(session.status.queued, 5);

      const back = waitFor(session, "status", (s) => s.state === "connected", 10000);
      engine = await brokerOn(port);
      await back;
      await until(() => got.length === 6, 10000, "the queued messages");
      assert.deepEqual(got, ["before", "offline-1", "offline-2", "offline-3", "offline-4", "offline-5"]);
      assert.equal(session.status.queued, 0);
      await session.publish("plant/b", "after");
      await until(() => got.includes("after"), 5000, "a message after the restart");
    });
  }
});
