"use strict";
// A broker process of its own, forked by engine-crash_spec.js: argv = [file, mode].
//   engine:    the iot-broker's engine on the node's `sqlite` storage of `file` (its QoS 1 PUBACK
//              waits for the store), anonymous clients allowed, on a loopback port; says {port}.
//   bare:      plain aedes on the same file's aedes persistence (aedes writes a QoS 1 PUBACK before
//              it stores the message): what the engine guards against, for comparison.
const { BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");
const { engineStorageOptions } = require("../../../dist/nodes/lib/broker/broker-storage.js");
const { openSqliteStorage } = require("../../../dist/nodes/lib/store/index.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");

const [file, mode] = process.argv.slice(2);
const storage = openSqliteStorage({ kind: "sqlite", file, retentionDays: 0 });

async function main() {
  if (mode === "engine") {
    const engine = new BrokerEngine({ allowAnonymous: true, authThrottle: false, ...engineStorageOptions(storage) });
    const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
    await engine.ready();
    process.send({ port: info.port });
  } else if (mode === "bare") {
    const broker = await startBareBroker({ persistence: storage.sessions ? (await storage.sessions.lease()).persistence : undefined });
    process.send({ port: broker.port });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}
main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err));
  process.exit(1);
});
