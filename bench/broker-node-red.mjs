// The `iot-broker` node inside a real, embedded Node-RED runtime (the devDependency), the way
// users run it: RED.init() + RED.start() on an HTTP server (editor and admin API on loopback),
// this package linked into a temporary userDir's node_modules (as `npm start` does), and a flow
// file with one iot-broker: anonymous off, one user whose patterns allow `#` both ways.
// Started by bench/run.mjs, which talks to it over IPC (see lib/broker-child.mjs).
import { linkPackage, startEmbeddedNodeRed } from "./lib/embedded-node-red.mjs";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_BROKER_ID as BROKER_ID, BENCH_USER, runBrokerChild } from "./lib/broker-child.mjs";
import { sleep } from "./lib/ipc.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

await runBrokerChild("node-red", async () => {
  const userDir = mkdtempSync(join(tmpdir(), "iot-bridge-bench-nr-"));
  const cleanup = () => rmSync(userDir, { recursive: true, force: true });
  try {
    linkPackage(userDir);

    const port = await freePort();
    const flow = [
      { id: "bench0tab0000001", type: "tab", label: "bench" },
      {
        id: BROKER_ID,
        type: "iot-broker",
        z: "bench0tab0000001",
        name: "bench broker",
        port: String(port),
        bind: "127.0.0.1",
        allowAnonymous: false,
        x: 120,
        y: 80,
        wires: [[]],
      },
    ];
    const users = [{ ...BENCH_USER, publish: ["#"], subscribe: ["#"] }];
    writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow, null, 2));
    // credentialSecret: false keeps flows_cred.json in plain JSON (a throwaway userDir).
    writeFileSync(join(userDir, "flows_cred.json"), JSON.stringify({ [BROKER_ID]: { users: JSON.stringify(users) } }));

    const { RED, server, nodeRedVersion } = await startEmbeddedNodeRed({ userDir });

    // The node registers its running engine here once it listens (same module instance: Node-RED
    // loads the package through the symlink, and require() resolves it to this repository).
    const { brokers } = require(join(root, "dist/nodes/lib/broker/index.js"));
    const deadline = Date.now() + 30_000;
    while (!brokers.engine(BROKER_ID)) {
      if (Date.now() > deadline) throw new Error("the iot-broker node did not start within 30 s (see the Node-RED log above)");
      await sleep(50);
    }
    const engine = brokers.engine(BROKER_ID);
    return {
      port,
      // userDir: so the orchestrator can remove it should this process be killed before close().
      info: { nodeRed: nodeRedVersion, editor: `http://127.0.0.1:${server.address().port}/`, userDir },
      clients: () => engine.connectedClients,
      close: async () => {
        try {
          await RED.stop();
          await new Promise((ok) => server.close(() => ok()));
        } finally {
          cleanup();
        }
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
});
