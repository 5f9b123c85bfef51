"use strict";
// The engine acknowledges a QoS 1 publish only once it is published (puback-after-publish.ts).
// Each publish settles in its own macrotask, so PUBACKs written one by one cost the broker a
// socket write per message (aedes' own PUBACKs for one read leave in one write): twice the system
// calls of bare aedes at QoS 1 (bench/README.md, issue 9). Checked here: the PUBACKs for one read
// of publishes leave in order and in a handful of writes, not one each.
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

describe("broker engine: QoS 1 acknowledgements of one read leave together", function () {
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
});

