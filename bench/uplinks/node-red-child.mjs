// The Node-RED side of bench/uplinks.mjs: the devDependency's runtime embedded the way users run
// it (RED.init + RED.start, this package linked into a temporary userDir, a flows file) with the
// flow of ./flows.mjs. The orchestrator drives it over IPC:
//   arm {side, n, idleMs, every}  counts messages 0..n-1 at the side's counter, sending
//                                 {type: "progress", side, delivered} every `every` deliveries
//   result {side}                 waits for them (or idleMs without progress): tally + CPU ms
import { startEmbeddedNodeRed } from "../lib/embedded-node-red.mjs";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { COUNTER_NODE_HTML, COUNTER_NODE_JS } from "../platforms/flows.mjs";
import { rpc, sleep, Tally, wallMs } from "../platforms/rpc.mjs";
// BENCH_FLOWS: another flows module of the same shape (bench/binary-uplinks.mjs uses ../binary/flows.mjs).
const { SIDES, uplinkFlow } = await import(process.env.BENCH_FLOWS ?? "./flows.mjs");

if (!process.send) throw new Error("started by bench/uplinks.mjs only (it needs an IPC channel)");
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const ep = rpc(process, "node-red child");

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

const userDir = mkdtempSync(join(tmpdir(), "iot-bridge-bench-uplinks-"));
let RED;
let server;
let closing;
function close() {
  closing ??= (async () => {
    try {
      if (RED) await Promise.race([RED.stop(), sleep(5000)]);
      if (server) await new Promise((ok) => server.close(() => ok()));
    } finally {
      rmSync(userDir, { recursive: true, force: true });
    }
  })();
  return closing;
}
const exit = (code) => {
  setTimeout(() => process.exit(code), 6000).unref();
  close().finally(() => process.exit(code));
};
process.on("disconnect", () => exit(0));
process.on("SIGTERM", () => exit(0));

const port = await freePort();
const extraPort = await freePort();
let extra = {};
{
  const link = join(userDir, "node_modules", ...pkg.name.split("/"));
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(root, link, "dir");
  writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "bench-userdir", private: true, dependencies: { [pkg.name]: "file:" + root } }));
  mkdirSync(join(userDir, "nodes"));
  writeFileSync(join(userDir, "nodes", "bench-count.js"), COUNTER_NODE_JS);
  writeFileSync(join(userDir, "nodes", "bench-count.html"), COUNTER_NODE_HTML);
  const made = uplinkFlow(port, extraPort);
  const { flow, credentials } = made;
  extra = made.extra ?? {};
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow));
  writeFileSync(join(userDir, "flows_cred.json"), JSON.stringify(credentials)); // plain: credentialSecret false
}
const started = await startEmbeddedNodeRed({ userDir });
({ RED, server } = started);
const { nodeRedVersion } = started;

const getNode = (id) => RED.nodes.getNode(id);
const counters = [...new Set(Object.values(SIDES).map((s) => s.counter))];
for (const deadline = Date.now() + 60_000; counters.some((id) => !getNode(id)); await sleep(50)) {
  if (Date.now() > deadline) throw new Error("the flow did not start within 60 s");
}

/** The count under way per side: its tally, CPU baseline and progress reporting. */
const counting = new Map();
for (const [key, side] of Object.entries(SIDES)) {
  getNode(side.counter).onMessage = (msg) => {
    const c = counting.get(key);
    if (c === undefined) return;
    c.tally.deliver(side.seq(msg));
    if (c.tally.delivered % c.every === 0) process.send({ type: "progress", side: key, delivered: c.tally.delivered });
  };
}

ep.handle("arm", ({ side, n, idleMs, every }) => {
  if (SIDES[side] === undefined) throw new Error(`unknown side ${side}`);
  counting.get(side)?.tally.finish("replaced");
  counting.set(side, { tally: new Tally(n, { idleMs }), every, cpu0: process.cpuUsage() });
  return {};
});
ep.handle("result", async ({ side }) => {
  const c = counting.get(side);
  if (c === undefined) throw new Error(`${side} is not counting`);
  const result = await c.tally.done;
  const cpu = process.cpuUsage(c.cpu0);
  if (counting.get(side) === c) counting.delete(side);
  return { ...result, cpuMs: (cpu.user + cpu.system) / 1000 };
});
ep.handle("stop", ({ side }) => {
  counting.get(side)?.tally.finish("stopped");
  return {};
});
/** Waits until nothing arrived at any counter for `quietMs` (late messages of a probe). */
ep.handle("quiet", async ({ quietMs = 300, maxMs = 5000 }) => {
  let last = wallMs();
  const restore = counters.map((id) => {
    const node = getNode(id);
    const before = node.onMessage;
    node.onMessage = () => (last = wallMs());
    return () => (node.onMessage = before);
  });
  const until = wallMs() + maxMs;
  try {
    while (wallMs() - last < quietMs && wallMs() < until) await sleep(50);
  } finally {
    for (const r of restore) r();
  }
  return {};
});
ep.handle("close", () => {
  setImmediate(() => exit(0));
  return {};
});

process.send({ type: "ready", port, nodeRed: nodeRedVersion, ...extra });
