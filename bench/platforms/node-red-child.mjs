// The Node-RED side of bench/platforms.mjs: the devDependency's runtime embedded the way users
// run it (RED.init + RED.start, this package linked into a temporary userDir's node_modules,
// a flows file), deploying bench/platforms/flows.mjs. The orchestrator drives it over IPC:
//
//   trial {side, n, window, idleMs, profile?}  feeds message 0..n-1 into the side's writer with
//     node.receive(), never more than `window` of them waiting for done() (refilled in halves
//     on a later turn of the event loop), and for a side counted here waits for the deliveries.
//
// Node-RED's done() ends in node._complete(msg, err): wrapping it on each writer instance counts
// completions (and errors) without touching the nodes.
import { startEmbeddedNodeRed } from "../lib/embedded-node-red.mjs";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { benchFlow, COUNTER_NODE_HTML, COUNTER_NODE_JS, SIDES } from "./flows.mjs";
import { rpc, sleep, Tally, wallMs } from "./rpc.mjs";

if (!process.send) throw new Error("started by bench/platforms.mjs only (it needs an IPC channel)");
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

const userDir = mkdtempSync(join(tmpdir(), "iot-bridge-bench-platforms-"));
let RED;
let server;
let closing;
async function close() {
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
  const hard = setTimeout(() => process.exit(code), 6000);
  hard.unref();
  close().finally(() => process.exit(code));
};
process.on("disconnect", () => exit(0)); // the orchestrator went away
process.on("SIGTERM", () => exit(0));

// ---- start Node-RED --------------------------------------------------------------------------

const port = await freePort();
{
  const link = join(userDir, "node_modules", ...pkg.name.split("/"));
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(root, link, "dir");
  writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "bench-userdir", private: true, dependencies: { [pkg.name]: "file:" + root } }));
  mkdirSync(join(userDir, "nodes"));
  writeFileSync(join(userDir, "nodes", "bench-count.js"), COUNTER_NODE_JS);
  writeFileSync(join(userDir, "nodes", "bench-count.html"), COUNTER_NODE_HTML);
  const { flow, credentials } = benchFlow(port);
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow, null, 2));
  writeFileSync(join(userDir, "flows_cred.json"), JSON.stringify(credentials)); // plain: credentialSecret false
}
const started = await startEmbeddedNodeRed({ userDir });
({ RED, server } = started);
const { nodeRedVersion } = started;

const getNode = (id) => RED.nodes.getNode(id);
const wanted = [...new Set(Object.values(SIDES).flatMap((s) => [s.writer, s.sink].filter(Boolean)))];
for (const deadline = Date.now() + 30_000; wanted.some((id) => !getNode(id)); await sleep(50)) {
  if (Date.now() > deadline) throw new Error(`the flow did not start within 30 s; missing ${wanted.filter((id) => !getNode(id)).join(", ")}`);
}

// Completions of each writer go to whichever pump owns the message.
const pumps = new Map(); // pump id -> Pump
for (const id of new Set(Object.values(SIDES).map((s) => s.writer))) {
  const node = getNode(id);
  const original = node._complete;
  node._complete = function (msg, err) {
    original.call(this, msg, err);
    pumps.get(msg?._benchPump)?.complete(err);
  };
}
// Deliveries at each counter go to the tally of the trial now counting there.
const counting = new Map(); // sink id -> { tally, seq }
for (const id of new Set(Object.values(SIDES).map((s) => s.sink).filter(Boolean))) {
  getNode(id).onMessage = (msg) => {
    const c = counting.get(id);
    if (c !== undefined) c.tally.deliver(c.seq(msg));
  };
}

let nextPump = 1;
/** Feeds n messages into a writer, at most `window` waiting for done(); resolves when all completed or none did for idleMs. */
class Pump {
  constructor(node, n, window, make, idleMs) {
    this.id = nextPump++;
    Object.assign(this, { node, n, window, make, idleMs });
    this.refill = Math.max(1, Math.floor(window / 2));
    this.sent = 0;
    this.completed = 0;
    this.errors = 0;
    this.firstError = undefined;
    this.scheduled = false;
    this.done = new Promise((ok) => (this._resolve = ok));
    pumps.set(this.id, this);
  }

  start() {
    this.startedAt = wallMs();
    this._arm();
    this.fill();
  }

  fill() {
    this.scheduled = false;
    while (this.sent < this.n && this.sent - this.completed < this.window) {
      const msg = this.make(this.sent++);
      msg._benchPump = this.id;
      this.node.receive(msg);
    }
  }

  complete(err) {
    this.completed++;
    if (err) {
      this.errors++;
      this.firstError ??= String(err?.message ?? err);
    }
    if (this.completed === this.n) return this._finish("complete");
    if ((this.completed & 255) === 0) this._arm();
    if (!this.scheduled && this.sent < this.n && this.sent - this.completed <= this.window - this.refill) {
      this.scheduled = true;
      setImmediate(() => this.fill());
    }
  }

  _arm() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._finish("idle"), this.idleMs);
  }

  _finish(how) {
    if (this.how !== undefined) return;
    this.how = how;
    this.acceptedAt = wallMs();
    clearTimeout(this.timer);
    pumps.delete(this.id);
    this._resolve({ sent: this.sent, completed: this.completed, errors: this.errors, firstError: this.firstError, how, startedAt: this.startedAt, acceptedAt: this.acceptedAt });
  }
}

let inspector;
async function startProfile() {
  if (inspector === undefined) {
    inspector = new Session();
    inspector.connect();
    await inspector.post("Profiler.enable");
    await inspector.post("Profiler.setSamplingInterval", { interval: 200 });
  }
  await inspector.post("Profiler.start");
}
async function stopProfile(file) {
  const { profile } = await inspector.post("Profiler.stop");
  // The first sample carries the profiler's own start-up (inspector dispatch): not the trial's.
  if (profile.timeDeltas.length > 0) profile.timeDeltas[0] = 0;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(profile));
}

/** The trial under way: its CPU baseline and profile file, until `end` (counted elsewhere) or its own end. */
let current;
async function end() {
  const trial = current;
  current = undefined;
  if (trial === undefined) throw new Error("no trial under way");
  const cpu = process.cpuUsage(trial.cpu0);
  if (trial.profile !== undefined) await stopProfile(trial.profile);
  return { cpuMs: (cpu.user + cpu.system) / 1000 };
}

ep.handle("trial", async ({ side: key, n, window, idleMs, profile }) => {
  const side = SIDES[key];
  if (side === undefined) throw new Error(`unknown side ${key}`);
  if (current !== undefined) throw new Error("a trial is under way already");
  let tally;
  if (side.sink !== undefined) {
    if (counting.has(side.sink)) throw new Error(`${side.sink} is counting for another trial`);
    tally = new Tally(n, { idleMs });
    counting.set(side.sink, { tally, seq: side.seq });
  }
  try {
    if (profile !== undefined) await startProfile();
    current = { cpu0: process.cpuUsage(), profile };
    const pump = new Pump(getNode(side.writer), n, window, side.msg, idleMs);
    pump.start();
    const accepted = await pump.done;
    // Counted by a device: the orchestrator calls `end` once the device has them all.
    if (tally === undefined) return { accepted };
    // A writer that accepted nothing delivers nothing: do not wait for the counter's idle time too.
    if (accepted.completed === 0) tally.finish("idle");
    const delivered = await tally.done;
    return { accepted, delivered, ...(await end()) };
  } catch (err) {
    if (current !== undefined) await end().catch(() => undefined);
    throw err;
  } finally {
    if (tally !== undefined) counting.delete(side.sink);
  }
});
ep.handle("end", end);

/** Waits until nothing arrived at any counter for `quietMs` (late messages of a failed probe). */
ep.handle("quiet", async ({ quietMs = 300, maxMs = 5000 }) => {
  let last = wallMs();
  const restore = [];
  for (const id of new Set(Object.values(SIDES).map((s) => s.sink).filter(Boolean))) {
    const node = getNode(id);
    const before = node.onMessage;
    node.onMessage = () => (last = wallMs());
    restore.push(() => (node.onMessage = before));
  }
  const until = wallMs() + maxMs;
  try {
    while (wallMs() - last < quietMs && wallMs() < until) await sleep(50);
  } finally {
    for (const r of restore) r();
  }
  return {};
});

ep.handle("close", async () => {
  setImmediate(() => exit(0));
  return {};
});

process.send({ type: "ready", port, userDir, nodeRed: nodeRedVersion });
