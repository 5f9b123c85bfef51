// A/B diagnostic for a shared machine: two brokers driven in turn, in short slices (default
// 300 ms), A B B A A B ..., by one MQTT.js load process (4 publishers -> 1 subscriber per broker,
// 100 B, flow-controlled like bench/load.mjs). Each broker's CPU time is read over IPC before
// and after its slices, so whatever else the machine runs hits both sides alike at this time
// scale, and neither sits idle long enough for V8 to shrink its young generation in between.
// Reports broker CPU per delivered message of each and the ratio. A diagnostic, not a verdict
// (bench/run.mjs gives the verdicts).
//
//   node bench/ab.mjs A B [slices] [qos] [sliceMs]       e.g. node bench/ab.mjs node-red engine 200 0
//     A, B: node-red | engine | engine-in-nr | engine-in-nr-pkg | bare-auth | bare (see the broker
//     scripts), or engine+MODULE[+MODULE]: the engine alone with those modules required first
//   Same two kinds as A and B (A/A) shows the spread between two processes of one configuration.
//   AB_NODE_ARGS_A / AB_NODE_ARGS_B: extra Node.js flags for that broker
//   AB_RECONNECT=1: new MQTT connections for every slice (as bench/run.mjs opens them per window);
//   AB_IDLE_MS=n: both brokers idle n ms before every slice (bench/run.mjs idles each between windows)
//   AB_ENV_A / AB_ENV_B: extra environment for that broker, as NAME=value,NAME=value
//   AB_LOG_DIR=dir: each broker's standard output to dir/<A|B>-<kind>.log (with e.g. --trace-deopt)
//   AB_HEAP_SAMPLE=dir: sampled allocations still uncollected at the end (V8 sampling heap profiler)
//   AB_PROFILE=dir: a V8 CPU profile of each broker over all its slices, as dir/A-<kind>.cpuprofile
//                   and dir/B-<kind>.cpuprofile (summarize: node bench/profile-summary.mjs FILE)
import { spawn } from "node:child_process";
import { mkdirSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_USER } from "./lib/broker-child.mjs";
import { deadline, endpoint, sleep } from "./lib/ipc.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, "..");
const PUBLISHERS = 4;
const WINDOW = 256;

if (process.argv[2] === "--load") {
  await loadProcess();
} else {
  await orchestrate();
}

async function loadProcess() {
  const { default: mqtt } = await import("mqtt");
  const ep = endpoint(process, "ab-load");
  process.on("disconnect", () => process.exit(0));
  const sides = new Map();
  ep.handle("open", async ({ key, port, auth, qos }) => {
    const url = `mqtt://127.0.0.1:${port}`;
    const base = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, clean: true, ...(auth ? { username: BENCH_USER.username, password: BENCH_USER.password } : {}) };
    const tag = `${key}-${Math.random().toString(36).slice(2, 8)}`;
    const sub = await mqtt.connectAsync(url, { ...base, clientId: `sub-${tag}` });
    await sub.subscribeAsync("bench/t/#", { qos });
    const pubs = [];
    for (let i = 0; i < PUBLISHERS; i++) pubs.push(await mqtt.connectAsync(url, { ...base, clientId: `pub${i}-${tag}` }));
    for (const c of [sub, ...pubs]) c.stream.setNoDelay?.(true);
    const side = { sub, pubs, qos, sent: new Array(PUBLISHERS).fill(0), got: new Array(PUBLISHERS).fill(0), sending: false, waiter: null, lost: 0 };
    const payload = Buffer.alloc(100, 0x61);
    side.pump = (i) => {
      while (side.sending && side.sent[i] - side.got[i] < WINDOW) {
        const p = Buffer.from(payload);
        p.writeUInt32LE(i, 8);
        pubs[i].publish(`bench/t/${i}`, p, { qos });
        side.sent[i]++;
      }
    };
    sub.on("message", (_t, buf) => {
      const i = buf.readUInt32LE(8);
      side.got[i]++;
      if (side.sending && side.sent[i] - side.got[i] <= WINDOW / 2) side.pump(i);
      if (side.waiter && sum(side.got) >= sum(side.sent)) side.waiter();
    });
    sides.set(key, side);
    return true;
  });
  ep.handle("reopen", async ({ key }) => {
    const old = sides.get(key);
    await Promise.allSettled([old.sub, ...old.pubs].map((c) => c.endAsync(true)));
    sides.delete(key);
    return true;
  });
  ep.handle("slice", async ({ key, ms }) => {
    const side = sides.get(key);
    const before = sum(side.got);
    side.sending = true;
    for (let i = 0; i < PUBLISHERS; i++) side.pump(i);
    await sleep(ms);
    side.sending = false;
    if (sum(side.got) < sum(side.sent)) {
      await Promise.race([new Promise((r) => (side.waiter = r)), sleep(5000)]);
      side.waiter = null;
    }
    return { delivered: sum(side.got) - before, inFlight: sum(side.sent) - sum(side.got) };
  });
  ep.handle("close", async () => {
    for (const s of sides.values()) await Promise.allSettled([s.sub, ...s.pubs].map((c) => c.endAsync(true)));
    setImmediate(() => process.exit(0));
    return true;
  });
  await ep.call("ready", { pid: process.pid }, 10_000);
}

async function orchestrate() {
  const BROKERS = {
    "node-red": ["broker-node-red.mjs"],
    engine: ["broker-engine.mjs"],
    "engine-in-nr": ["broker-engine.mjs", "in-node-red"],
    "engine-in-nr-pkg": ["broker-engine.mjs", "in-node-red-pkg"],
    "bare-auth": ["broker-bare.mjs", "auth"],
    bare: ["broker-bare.mjs", "none"],
  };
  // engine+m1+m2: the engine alone with those modules loaded first (see broker-engine.mjs).
  for (const k of process.argv.slice(2, 4)) if (k.startsWith("engine+")) BROKERS[k] = ["broker-engine.mjs", "alone", `preload=${k.slice(7).split("+").join(",")}`];
  const [a = "node-red", b = "engine", slicesArg = "200", qosArg = "0", sliceArg = "300"] = process.argv.slice(2);
  for (const k of [a, b]) if (!BROKERS[k]) throw new Error(`unknown broker ${k} (known: ${Object.keys(BROKERS).join(", ")})`);
  const slices = Number(slicesArg);
  const qos = Number(qosArg);
  const sliceMs = Number(sliceArg);
  const procs = [];
  const child = (name, script, args, nodeArgs = [], env = process.env) => {
    const logDir = process.env.AB_LOG_DIR;
    let out = "ignore";
    if (logDir && name !== "load") {
      mkdirSync(logDir, { recursive: true });
      out = openSync(join(logDir, `${name.replace(/[^a-zA-Z0-9+-]+/g, "-")}.log`), "w");
    }
    const proc = spawn(process.execPath, [...nodeArgs, join(benchDir, script), ...args], { cwd: root, env, stdio: ["ignore", out, "inherit", "ipc"] });
    procs.push(proc);
    const ep = endpoint(proc, name);
    const ready = new Promise((res) => ep.handle("ready", (info) => (res(info), true)));
    return Promise.race([ready, deadline(60_000).then(() => Promise.reject(new Error(`${name} not ready`)))]).then((info) => ({ name, info, ep }));
  };
  const nodeArgs = (side) => ["--expose-gc", ...(process.env[`AB_NODE_ARGS_${side}`] ?? "").split(/\s+/).filter(Boolean)];
  const envOf = (side) => ({ ...process.env, ...Object.fromEntries((process.env[`AB_ENV_${side}`] ?? "").split(",").filter(Boolean).map((kv) => kv.split("="))) });
  const sides = {
    A: await child(`A:${a}`, BROKERS[a][0], BROKERS[a].slice(1), nodeArgs("A"), envOf("A")),
    B: await child(`B:${b}`, BROKERS[b][0], BROKERS[b].slice(1), nodeArgs("B"), envOf("B")),
  };
  const load = await child("load", "ab.mjs", ["--load"]);
  try {
    for (const [key, kind] of [["A", a], ["B", b]]) await load.ep.call("open", { key, port: sides[key].info.port, auth: kind !== "bare", qos });
    const tally = { A: { cpu: 0, sys: 0, msgs: 0, per: [], syscr: 0, syscw: 0 }, B: { cpu: 0, sys: 0, msgs: 0, per: [], syscr: 0, syscw: 0 } };
    const cpuOf = (key) => sides[key].ep.call("cpu", {}, 5000);
    // Warm-up: 2 s each.
    for (const key of ["A", "B"]) for (let i = 0; i < 4; i++) await load.ep.call("slice", { key, ms: 500 }, 30_000);
    // Heap used after forced GCs, before and after the slices: what the load left behind.
    const heapBefore = {};
    for (const key of ["A", "B"]) heapBefore[key] = (await sides[key].ep.call("mem", { gc: true }, 60_000)).heapUsed;
    const profileDir = process.env.AB_PROFILE;
    const heapDir = process.env.AB_HEAP_SAMPLE;
    if (heapDir) for (const key of ["A", "B"]) await sides[key].ep.call("heapSampleStart", {}, 5000);
    if (profileDir) for (const key of ["A", "B"]) await sides[key].ep.call("profileStart", {}, 5000);
    const t0 = Date.now();
    const reconnect = process.env.AB_RECONNECT === "1";
    const idleMs = Number(process.env.AB_IDLE_MS ?? 0);
    for (let s = 0; s < slices; s++) {
      const key = (s & 1) ^ ((s >> 1) & 1) ? "B" : "A"; // A B B A A B B A ...
      if (idleMs > 0) await sleep(idleMs);
      if (reconnect) {
        await load.ep.call("reopen", { key }, 30_000);
        await load.ep.call("open", { key, port: sides[key].info.port, auth: (key === "A" ? a : b) !== "bare", qos }, 30_000);
      }
      const c0 = await cpuOf(key);
      const r = await load.ep.call("slice", { key, ms: sliceMs }, 30_000);
      const c1 = await cpuOf(key);
      const used = c1.user + c1.system - (c0.user + c0.system);
      tally[key].cpu += used;
      tally[key].sys += c1.system - c0.system;
      tally[key].syscr += c1.syscr - c0.syscr;
      tally[key].syscw += c1.syscw - c0.syscw;
      tally[key].msgs += r.delivered;
      tally[key].per.push(used / r.delivered);
      if ((s + 1) % 40 === 0) {
        const ra = tally.A.cpu / tally.A.msgs;
        const rb = tally.B.cpu / tally.B.msgs;
        console.log(`[ab] ${s + 1}/${slices} slices: A ${a} ${ra.toFixed(2)} µs/msg, B ${b} ${rb.toFixed(2)} µs/msg, A/B ${(ra / rb).toFixed(3)}`);
      }
    }
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      for (const [key, kind] of [["A", a], ["B", b]]) await sides[key].ep.call("profileStop", { file: join(profileDir, `${key}-${kind}.cpuprofile`) }, 60_000);
    }
    if (heapDir) {
      mkdirSync(heapDir, { recursive: true });
      for (const [key, kind] of [["A", a], ["B", b]]) await sides[key].ep.call("heapSampleStop", { file: join(heapDir, `${key}-${kind}.heapprofile`) }, 60_000);
    }
    for (const [key, kind] of [["A", a], ["B", b]]) {
      const after = (await sides[key].ep.call("mem", { gc: true }, 60_000)).heapUsed;
      console.log(`[ab] ${key} ${kind}: heap used after GC ${(heapBefore[key] / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB over ${tally[key].msgs} messages`);
    }
    const ra = tally.A.cpu / tally.A.msgs;
    const rb = tally.B.cpu / tally.B.msgs;
    const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const pairs = tally.A.per.map((x, i) => x / tally.B.per[i]);
    console.log(
      `[ab] QoS ${qos}, ${slices} slices of ${sliceMs} ms in ${((Date.now() - t0) / 1000).toFixed(0)} s: ` +
        `A ${a} ${ra.toFixed(3)} µs/msg (${tally.A.msgs} msgs), B ${b} ${rb.toFixed(3)} µs/msg (${tally.B.msgs} msgs); ` +
        `A/B ${(ra / rb).toFixed(3)} (median of per-slice pairs ${med(pairs).toFixed(3)})`,
    );
    // User and system time apart: system time is the kernel's (socket writes and reads, page faults).
    const split = (key) => {
      const t = tally[key];
      // Socket reads and writes per delivered message (/proc/self/io; NaN where there is none).
      return `${((t.cpu - t.sys) / t.msgs).toFixed(3)} user + ${(t.sys / t.msgs).toFixed(3)} system (${(t.syscw / t.msgs).toFixed(3)} writes, ${(t.syscr / t.msgs).toFixed(3)} reads per message)`;
    };
    const userRatio = (tally.A.cpu - tally.A.sys) / tally.A.msgs / ((tally.B.cpu - tally.B.sys) / tally.B.msgs);
    console.log(`[ab] µs/msg: A ${split("A")}, B ${split("B")}; A/B user ${userRatio.toFixed(3)}, system ${(tally.A.sys / tally.A.msgs / (tally.B.sys / tally.B.msgs)).toFixed(3)}`);
  } finally {
    await load.ep.call("close", {}, 5000).catch(() => undefined);
    for (const s of Object.values(sides)) await s.ep.call("close", {}, 5000).catch(() => undefined);
    for (const s of Object.values(sides)) {
      const dir = s.info.userDir;
      if (typeof dir === "string" && dir.startsWith(join(tmpdir(), "iot-bridge-bench-nr-"))) rmSync(dir, { recursive: true, force: true });
    }
    setTimeout(() => {
      for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
      process.exit(0);
    }, 3000).unref();
  }
}

function sum(xs) {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
