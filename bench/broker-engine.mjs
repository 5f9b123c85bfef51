// The iot-broker's engine (dist/nodes/lib/broker) without the node, built exactly as the node
// builds it: the flow properties and users credential of bench/broker-node-red.mjs go through the
// node's own parseBrokerNode(), with a SessionStore, the node's engine id and event listeners, and
// a TCP listener on 127.0.0.1. A diagnostic line: it tells the engine's cost from the runtime's.
//
//   node broker-engine.mjs                  the engine alone (`engine` in bench/run.mjs)
//   node broker-engine.mjs in-node-red      the same engine in a started Node-RED runtime whose
//                                           flow has no node (`engine-in-nr`; this package not
//                                           installed in its userDir)
//   node broker-engine.mjs in-node-red-pkg  the same, this package installed (all its node types
//                                           loaded, none in the flow)
//   ... preload=mod1,mod2                   (any of the above) require these modules first: what
//                                           else loaded in the process costs (bench/ab.mjs `engine+mod`)
//   BENCH_DIST=folder                       the engine of another build (see below)
// Started by bench/run.mjs or bench/ab.mjs, which talk to it over IPC (see lib/broker-child.mjs).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BENCH_BROKER_ID, BENCH_USER, runBrokerChild } from "./lib/broker-child.mjs";
import { linkPackage, startEmbeddedNodeRed } from "./lib/embedded-node-red.mjs";

const require = createRequire(import.meta.url);
const [where = "alone", ...rest] = process.argv.slice(2);
for (const arg of rest) if (arg.startsWith("preload=")) for (const m of arg.slice("preload=".length).split(",")) require(m);
// BENCH_DIST: another build's dist/ folder (inside this repository, so it finds node_modules), to
// compare two builds of the engine with bench/ab.mjs (AB_ENV_A=BENCH_DIST=bench/results/dist-before).
const dist = process.env.BENCH_DIST ? resolve(process.env.BENCH_DIST) : new URL("../dist", import.meta.url).pathname;
const { BrokerEngine } = require(join(dist, "nodes/lib/broker/index.js"));
const { parseBrokerNode } = require(join(dist, "nodes/lib/broker/node-config.js"));
const { SessionStore } = require(join(dist, "nodes/lib/broker/session-store.js"));
const inNodeRed = where === "in-node-red" || where === "in-node-red-pkg";

/** A Node-RED runtime with an empty flow; returns how to stop it and its userDir. */
async function emptyNodeRed(withPackage) {
  const userDir = mkdtempSync(join(tmpdir(), "iot-bridge-bench-nr-"));
  try {
    writeFileSync(join(userDir, "flows.json"), JSON.stringify([{ id: "bench0tab0000001", type: "tab", label: "bench" }]));
    if (withPackage) linkPackage(userDir);
    const { RED, server } = await startEmbeddedNodeRed({ userDir });
    const stop = async () => {
      try {
        await RED.stop();
        await new Promise((ok) => server.close(() => ok()));
      } finally {
        rmSync(userDir, { recursive: true, force: true });
      }
    };
    return { stop, userDir };
  } catch (err) {
    rmSync(userDir, { recursive: true, force: true });
    throw err;
  }
}

await runBrokerChild(inNodeRed ? "engine-in-nr" : "engine", async () => {
  const nodeRed = inNodeRed ? await emptyNodeRed(where === "in-node-red-pkg") : undefined;
  // What the flow of broker-node-red.mjs gives the node (the port: any free one here).
  const users = [{ ...BENCH_USER, publish: ["#"], subscribe: ["#"] }];
  const settings = parseBrokerNode({ port: "1", bind: "127.0.0.1", allowAnonymous: false }, { users: JSON.stringify(users) });
  const sessions = new SessionStore();
  const engine = new BrokerEngine({ id: `node-red-${BENCH_BROKER_ID}`, ...settings.options, sessions });
  engine.on("event", () => undefined);
  engine.on("clients", () => undefined);
  const info = await engine.listen({ kind: "tcp", host: settings.host, port: 0 });
  await engine.ready();
  return {
    port: info.port,
    // userDir: so the orchestrator can remove it should this process be killed before close().
    ...(nodeRed ? { info: { userDir: nodeRed.userDir } } : {}),
    clients: () => engine.connectedClients,
    close: async () => {
      try {
        await engine.close();
        sessions.destroy();
      } finally {
        await nodeRed?.stop();
      }
    },
  };
});
