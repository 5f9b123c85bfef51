"use strict";
// The engine acknowledges a QoS 1 publish only once it is published (puback-after-publish.ts).
// Each publish settles in its own macrotask, so PUBACKs written one by one cost the broker a
// socket write per message (aedes' own PUBACKs for one read leave in one write): twice the system
// calls of bare aedes at QoS 1 (bench/README.md, issue 9). Checked here: the PUBACKs for one read
// of publishes leave in order and in a handful of writes, not one each; so do the deliveries one
// read of publishes makes to a subscriber (turn-cork.ts).
const assert = require("node:assert/strict");
const { readFileSync } = require("node:fs");
const mqttPacket = require("mqtt-packet");
const { startEngine } = require("../fixtures/engine.js");
const { rawDevice } = require("../fixtures/raw-device.js");
const { until } = require("../../support/wait.js");

/** Write system calls of this process so far (Linux), else undefined. */
function writeCalls() {
  try {
    return Number(/^syscw: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
}

describe("broker engine: what one read of publishes makes the broker write leaves together", function () {
  this.timeout(20_000);
  const COUNT = 200;
  let engine;

  afterEach(async function () {
    await engine?.close();
    engine = undefined;
  });

  it(`acknowledges ${COUNT} publishes sent in one write in order, with a handful of socket writes`, async function () {
    if (writeCalls() === undefined) this.skip(); // no /proc/self/io on this system
    const users = [{ username: "u", password: "p", publish: ["#"], subscribe: ["#"] }];
    const started = await startEngine({ users });
    engine = started.engine;
    const device = await rawDevice(started.port, { clientId: "batch", username: "u", password: "p" });
    try {
      const acked = [];
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on("packet", (packet) => {
        if (packet.cmd === "puback") acked.push(packet.messageId);
      });
      device.socket.on("data", (chunk) => parser.parse(chunk));
      const burst = [];
      for (let id = 1; id <= COUNT; id++) burst.push(mqttPacket.generate({ cmd: "publish", topic: "t/batch", payload: String(id), qos: 1, messageId: id }));
      const before = writeCalls();
      device.socket.write(Buffer.concat(burst));
      await until(() => acked.length >= COUNT, 10_000, `${COUNT} PUBACKs`);
      const writes = writeCalls() - before;
      assert.deepEqual(acked, Array.from({ length: COUNT }, (_, i) => i + 1));
      // The test's own burst is one write; one PUBACK per write would be COUNT more.
      assert.ok(writes < COUNT / 10, `${writes} write system calls for ${COUNT} PUBACKs`);
    } finally {
      device.destroy();
    }
  });
  for (const qos of [0, 1]) {
    it(`delivers ${COUNT} QoS ${qos} messages of one read to a subscriber in order, with a handful of socket writes, and the last one without waiting for more`, async function () {
      if (writeCalls() === undefined) this.skip();
      const users = [{ username: "u", password: "p", publish: ["#"], subscribe: ["#"] }];
      const started = await startEngine({ users });
      engine = started.engine;
      const subscriber = await rawDevice(started.port, { clientId: "reader", username: "u", password: "p" });
      const publisher = await rawDevice(started.port, { clientId: "writer", username: "u", password: "p" });
      try {
        const received = [];
        const parser = mqttPacket.parser({ protocolVersion: 4 });
        parser.on("packet", (packet) => {
          if (packet.cmd === "suback") received.push("suback");
          if (packet.cmd !== "publish") return;
          received.push(Number(packet.payload.toString())); // rawDevice acknowledges QoS 1
        });
        subscriber.socket.on("data", (chunk) => parser.parse(chunk));
        subscriber.socket.write(mqttPacket.generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "t/#", qos }] }));
        await until(() => received.includes("suback"), 5_000, "the SUBACK");
        received.length = 0;
        const burst = [];
        for (let id = 1; id <= COUNT; id++) burst.push(mqttPacket.generate({ cmd: "publish", topic: "t/fan", payload: String(id), qos, ...(qos === 1 ? { messageId: id } : {}) }));
        const before = writeCalls();
        publisher.socket.write(Buffer.concat(burst));
        await until(() => received.length >= COUNT, 10_000, `${COUNT} deliveries`);
        const writes = writeCalls() - before;
        assert.deepEqual(received, Array.from({ length: COUNT }, (_, i) => i + 1));
        // The test's own writes count too: the burst, and at QoS 1 the subscriber's PUBACK for each message.
        const own = 1 + (qos === 1 ? COUNT : 0);
        assert.ok(writes - own < COUNT / 10, `${writes - own} write system calls of the broker for ${COUNT} deliveries`);
        // A lone message after the burst is not held back waiting for company.
        publisher.socket.write(mqttPacket.generate({ cmd: "publish", topic: "t/fan", payload: "999", qos: 0 }));
        await until(() => received.at(-1) === 999, 5_000, "the lone message");
      } finally {
        subscriber.destroy();
        publisher.destroy();
      }
    });
  }
});

