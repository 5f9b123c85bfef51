// The iot-broker's engine (dist/nodes/lib/broker) on its own, without Node-RED: the same options
// the node gives it (anonymous off, one user allowed `#`), a TCP listener on 127.0.0.1.
// A diagnostic line: it separates the engine's own cost from the Node-RED runtime's.
// Started by bench/run.mjs, which talks to it over IPC (see lib/broker-child.mjs).
import { createRequire } from "node:module";
import { BENCH_USER, runBrokerChild } from "./lib/broker-child.mjs";

const require = createRequire(import.meta.url);
const { BrokerEngine } = require("../dist/nodes/lib/broker/index.js");

await runBrokerChild("engine", async () => {
  const engine = await BrokerEngine.create({
    id: "bench-engine",
    allowAnonymous: false,
    users: [{ ...BENCH_USER, publish: ["#"], subscribe: ["#"] }],
    persistence: { kind: "memory" },
  });
  const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
  return {
    port: info.port,
    clients: () => engine.connectedClients,
    close: () => engine.close(),
  };
});
