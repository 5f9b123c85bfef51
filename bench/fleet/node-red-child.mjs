// The Node-RED side of bench/fleet.mjs: the devDependency's runtime embedded as users run it
// (this package linked into a temporary userDir), with ONE of the two flows the bench compares:
//   side "fleet"   one local-mode blynk-device hosting a fleet of N devices, one blynk-device-in
//   side "singles" N local-mode blynk-device config nodes (the old way), one blynk-device-in each
// Every blynk-device-in feeds one counter node. The orchestrator drives it over IPC:
//   tokens {}         -> the N tokens (fleet: added through the fleet's table, as blynk-fleet does;
//                        singles: their nodes deployed now, next to the running broker)
//   sample {}         -> RSS and V8 heap used after a full GC, and the process's CPU time so far
//   count {}          -> messages the counter has seen
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { linkPackage, startEmbeddedNodeRed } from "../lib/embedded-node-red.mjs";
import { COUNTER_NODE_HTML, COUNTER_NODE_JS } from "../platforms/flows.mjs";
import { rpc, sleep } from "../platforms/rpc.mjs";

if (!process.send) throw new Error("started by bench/fleet.mjs only (it needs an IPC channel)");
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(import.meta.url);
const side = process.env.FLEET_SIDE;
const n = Number(process.env.FLEET_N);
if (side !== "fleet" && side !== "singles") throw new Error(`FLEET_SIDE must be fleet or singles, got ${side}`);
const ep = rpc(process, `node-red child (${side})`);
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createNetServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const userDir = mkdtempSync(join(tmpdir(), "iot-bridge-bench-fleet-"));
let RED;
let server;
const exit = (code) => {
  setTimeout(() => process.exit(code), 6000).unref();
  Promise.resolve(RED ? Promise.race([RED.stop(), sleep(5000)]) : undefined)
    .then(() => server && new Promise((ok) => server.close(() => ok())))
    .finally(() => {
      rmSync(userDir, { recursive: true, force: true });
      process.exit(code);
    });
};
process.on("disconnect", () => exit(0));
process.on("SIGTERM", () => exit(0));

const port = await freePort();
const TAB = "fleetbenchtab001";
const BROKER = "fleetbenchbroker";
const FLEET = "fleetbenchfleet1";
const tokenOf = (i) => `BenchTok_${String(i).padStart(6, "0")}_0123456789abcdef`;
const flow = [
  { id: TAB, type: "tab", label: "fleet bench" },
  { id: BROKER, type: "iot-broker", z: TAB, port, bind: "127.0.0.1", allowAnonymous: false, persistence: "memory", wires: [[]] },
  { id: "counter", type: "bench-count", z: TAB, wires: [] },
];
// The singles' config and flow nodes are deployed by "tokens", after the "before" sample, as the
// fleet's devices are added after it: both sides' per-device figures include the hosting itself.
const singles = [];
if (side === "fleet") {
  flow.push({ id: FLEET, type: "blynk-device", connection: "local", broker: BROKER, hosting: "fleet", pins: "V1=Temperature" });
  flow.push({ id: "in", type: "blynk-device-in", z: TAB, device: FLEET, datastream: "", sync: false, wires: [["counter"]] });
} else {
  for (let i = 0; i < n; i++) {
    const id = `single${String(i).padStart(8, "0")}`;
    singles.push({ id, type: "blynk-device", connection: "local", broker: BROKER, name: `Device ${i}`, pins: "V1=Temperature", credentials: { token: tokenOf(i) } });
    singles.push({ id: `in${String(i).padStart(8, "0")}`, type: "blynk-device-in", z: TAB, device: id, datastream: "", sync: false, wires: [["counter"]] });
  }
}
linkPackage(userDir);
mkdirSync(join(userDir, "nodes"));
writeFileSync(join(userDir, "nodes", "bench-count.js"), COUNTER_NODE_JS);
writeFileSync(join(userDir, "nodes", "bench-count.html"), COUNTER_NODE_HTML);
writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow));
({ RED, server } = await startEmbeddedNodeRed({ userDir }));

for (const deadline = Date.now() + 120_000; !RED.nodes.getNode("counter"); await sleep(50)) {
  if (Date.now() > deadline) throw new Error("the flow did not start within 120 s");
}
let delivered = 0;
RED.nodes.getNode("counter").onMessage = () => {
  delivered++;
};
// The same module instance Node-RED loaded (the package is linked: Node resolves the real path).
const { fleetOf } = require(join(root, "dist", "nodes", "lib", "broker", "index.js"));

ep.handle("port", () => port);
ep.handle("tokens", async () => {
  if (side === "singles") {
    // A "nodes" deploy adds them next to the running broker (unchanged, so it keeps its engine).
    await RED.runtime.flows.setFlows({ flows: { flows: [...flow, ...singles] }, deploymentType: "nodes" });
    for (const deadline = Date.now() + 120_000; !RED.nodes.getNode(singles[singles.length - 1].id); await sleep(50)) {
      if (Date.now() > deadline) throw new Error("the single-device nodes did not start within 120 s");
    }
    return Array.from({ length: n }, (_v, i) => tokenOf(i));
  }
  for (const deadline = Date.now() + 60_000; fleetOf(FLEET)?.available !== true; await sleep(50)) {
    if (Date.now() > deadline) throw new Error("the fleet's table did not load within 60 s");
  }
  const fleet = fleetOf(FLEET);
  const tokens = [];
  for (let i = 0; i < n; i++) tokens.push((await fleet.add({ name: `Device ${i}`, credentials: { token: tokenOf(i) } })).credentials.token);
  return tokens;
});
ep.handle("sample", () => {
  gc();
  gc();
  const cpu = process.cpuUsage();
  return { rss: process.memoryUsage().rss, heap: v8.getHeapStatistics().used_heap_size, cpuMs: (cpu.user + cpu.system) / 1000 };
});
ep.handle("count", () => delivered);
process.send({ type: "ready" });
