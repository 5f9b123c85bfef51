#!/usr/bin/env node
// Issue 10, "Measured": the iot-broker's persistence kinds side by side in one run (bench/README.md,
// "Issue 10: storage"). Every broker is built as the node builds it (bench/storage/broker-child.mjs).
//
//   npm run build && node bench/storage.mjs     full run (~4-5 min on 2 cores)
//   BENCH_QUICK=1 node bench/storage.mjs        smoke run (~1 min: 8 slices, 10 s of devices, 100,000 stored values)
//
//   STORAGE_KINDS=memory,sqlite,redis   which kinds (default: these three; a kind this build or machine lacks is reported
//                                       "not measured"); sqlite-normal: a diagnostic, synchronous=NORMAL
//   STORAGE_ONLY=throughput,devices,startup
//   STORAGE_SLICES=n  STORAGE_SLICE_MS=n          throughput: measured slices per kind and variant (40), slice length (300 ms)
//   STORAGE_VARIANTS=clean,persistent,hosted      throughput variants (bench/storage/load.mjs)
//   STORAGE_DEVICES=n  STORAGE_DEVICE_SECONDS=n   devices: fleet size (1,000) and minutes' worth (60 s)
//   STORAGE_VALUES=n  STORAGE_STARTUPS=n          start-up: stored values (1,000,000), fresh processes timed (3)
//   STORAGE_BENCH_DIR=<folder on the disk to measure> (default: the OS temp folder)
//   STORAGE_PROFILE=dir   a V8 CPU profile of each broker over each variant's measured slices, as
//                         dir/<variant>-<kind>.cpuprofile (node bench/profile-summary.mjs FILE); do not
//                         compare the figures of a profiled run
//   STORAGE_COMMITS=1     throughput: also count the SQLite commits per message (a diagnostic)
//
// 1. Throughput at QoS 1, each kind vs memory: the brokers are driven in turn in short slices
//    (as bench/ab.mjs), the order changing every round, so load from elsewhere falls on all alike.
// 2. Hosted devices: a fleet of Blynk devices per kind, all kinds at once, each device one value a
//    second; p99 of publish -> PUBACK (after the flush); every value counted in the history
//    after the storage was closed and opened again.
// 3. Start-up with N stored values (history + 1,000 devices' state): fresh processes, opening the
//    storage -> the first CONNACK; then the 1,000 devices hosted.
// 4. Size: the database after the fill, while open (file + WAL) and closed (checkpointed).
// Exit code 0 whatever the verdicts; 1 if the bench broke. Results: bench/results/storage.json.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { QUICK } from "./lib/env.mjs";
import { fmt, median } from "./sqlite/common.mjs";
import { killAll, runToResult, spawnChild, stopChild } from "./storage/children.mjs";
import { DIST_STORE, NODE_IDS, SIZES, root } from "./storage/common.mjs";
import { KINDS, bytesOf } from "./storage/kinds.mjs";
import { printReport } from "./storage/report.mjs";

const GOALS = { sqlite: 0.8, redis: 0.6 };
const pick = (env, all) => {
  const wanted = (process.env[env] ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length) throw new Error(`${env}: unknown ${unknown.join(", ")} (known: ${all.join(", ")})`);
  return wanted.length ? all.filter((x) => wanted.includes(x)) : all;
};
const WANTED = process.env.STORAGE_KINDS ? pick("STORAGE_KINDS", Object.keys(KINDS)) : Object.keys(KINDS).filter((k) => !KINDS[k].optIn);
const SCENARIOS = new Set(pick("STORAGE_ONLY", ["throughput", "devices", "startup"]));
const VARIANTS = pick("STORAGE_VARIANTS", ["clean", "persistent", "hosted"]);
const PROFILE = process.env.STORAGE_PROFILE;
const COMMITS = process.env.STORAGE_COMMITS === "1";
const TIME_LIMIT_MS = QUICK ? 600_000 : 1_800_000;

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`\n[storage] ${sig}: stopping the children`);
    killAll("SIGTERM");
    setTimeout(() => process.exit(130), 1500);
  });
}
process.on("exit", () => killAll());
setTimeout(() => {
  console.error(`[storage] time limit of ${TIME_LIMIT_MS / 1000} s reached; stopping`);
  killAll();
  process.exit(1);
}, TIME_LIMIT_MS).unref();

/** Linux' CPU pressure (share of the last 10 s in which some task waited for a CPU), when there is one. */
function cpuPressure() {
  try {
    return Number(/some avg10=([\d.]+)/.exec(readFileSync("/proc/pressure/cpu", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat), for the share of CPU others used. */
function machineCpu() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}
const since = (m0) => {
  const m1 = machineCpu();
  return m0 && m1 ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * cpus().length : undefined; // cores busy
};
const cpuOf = async (c) => {
  const x = await c.ep.call("cpu", {}, 10_000);
  return x.user + x.system;
};

/** Starts what a kind needs for one scenario: its server (Redis), a folder, the broker child. */
async function openKind(base, kind, scenario) {
  const server = KINDS[kind].server ? await KINDS[kind].server() : undefined;
  const dir = join(base, `${scenario}-${kind}`);
  mkdirSync(dir, { recursive: true });
  const cfg = { kind, dir, nodeId: NODE_IDS[scenario], ...(server ? { server: { url: server.url } } : {}) };
  return { kind, dir, server, cfg };
}

async function throughput(base, kinds, load) {
  const sides = [];
  try {
    for (const kind of kinds) {
      const k = await openKind(base, kind, "throughput");
      k.broker = await spawnChild(`broker-${kind}`, "storage/broker-child.mjs", ["serve", JSON.stringify(k.cfg)]);
      if (VARIANTS.includes("hosted")) await k.broker.ep.call("host", { from: 0, count: 4 }, 60_000);
      sides.push(k);
    }
    const out = {};
    for (const variant of VARIANTS) {
      console.log(`[storage] throughput, QoS 1, ${variant}: ${kinds.join(" / ")}, ${SIZES.slices} slices of ${SIZES.sliceMs} ms each ...`);
      const m0 = machineCpu();
      const t0 = performance.now();
      const tally = Object.fromEntries(kinds.map((k) => [k, { msgs: 0, ms: 0, cpu: 0, perRound: [], missing: 0, errors: 0 }]));
      for (const s of sides) await load.ep.call("open", { key: `${s.kind}-${variant}`, port: s.broker.info.port, variant }, 60_000);
      for (let round = -4; round < SIZES.slices; round++) {
        if (round === 0 && PROFILE) for (const s of sides) await s.broker.ep.call("profileStart", {}, 10_000);
        // Every order of the kinds in turn (A B, B A; with three: all six), so none is always first.
        const r = round + 4;
        let order = sides.slice(Math.floor(r / 2) % sides.length).concat(sides.slice(0, Math.floor(r / 2) % sides.length));
        if (r % 2) order = order.reverse();
        for (const s of order) {
          if (round === 0 && COMMITS) s.commits0 = await s.broker.ep.call("commits", {}, 10_000);
          const c0 = await cpuOf(s.broker);
          const res = await load.ep.call("slice", { key: `${s.kind}-${variant}`, ms: SIZES.sliceMs }, 60_000);
          const c1 = await cpuOf(s.broker);
          if (round < 0) continue; // warm-up
          const t = tally[s.kind];
          t.msgs += res.delivered;
          t.ms += res.ms;
          t.cpu += c1 - c0;
          t.perRound.push(res.delivered / res.ms);
          t.missing = res.missing;
          t.errors = res.errors;
        }
      }
      if (PROFILE) {
        mkdirSync(PROFILE, { recursive: true });
        for (const s of sides) await s.broker.ep.call("profileStop", { file: join(PROFILE, `${variant}-${s.kind}.cpuprofile`) }, 60_000);
      }
      if (COMMITS) {
        for (const s of sides) {
          const c = await s.broker.ep.call("commits", {}, 10_000);
          const n = c.count - s.commits0.count;
          tally[s.kind].commits = { count: n, perMsg: n / tally[s.kind].msgs, writesPerCommit: (c.writes - s.commits0.writes) / n, msPerCommit: (c.ms - s.commits0.ms) / n };
          console.log(`[storage] ${variant} ${s.kind}: ${JSON.stringify(tally[s.kind].commits)}`);
        }
      }
      const rows = {};
      for (const kind of kinds) {
        const t = tally[kind];
        const ratios = t.perRound.map((x, i) => x / tally.memory?.perRound[i]);
        rows[kind] = { msgPerSec: (t.msgs * 1000) / t.ms, cpuUsPerMsg: t.cpu / t.msgs, msgs: t.msgs, missing: t.missing, errors: t.errors, medianPairRatio: tally.memory ? median(ratios) : undefined };
      }
      out[variant] = { rows, seconds: (performance.now() - t0) / 1000, otherCores: since(m0), cpuPressure: cpuPressure() };
    }
    return out;
  } finally {
    for (const s of sides) {
      await stopChild(s.broker);
      await s.server?.stop();
    }
  }
}

async function devices(base, kinds, load) {
  const fleet = [];
  const n = SIZES.devices;
  try {
    for (const kind of kinds) {
      const k = await openKind(base, kind, "devices");
      k.broker = await spawnChild(`broker-${kind}`, "storage/broker-child.mjs", ["serve", JSON.stringify(k.cfg)]);
      k.hosted = await k.broker.ep.call("host", { from: 0, count: n }, 120_000);
      k.connect = await load.ep.call("fleetOpen", { key: kind, port: k.broker.info.port, from: 0, count: n }, 300_000);
      fleet.push(k);
    }
    console.log(`[storage] devices: ${n} hosted Blynk devices per kind (${kinds.join(", ")}, at once), one value a second each for ${SIZES.deviceSeconds} s ...`);
    const m0 = machineCpu();
    const load0 = loadavg()[0];
    const cpu0 = await Promise.all(fleet.map((k) => cpuOf(k.broker)));
    await Promise.all(fleet.map((k) => k.broker.ep.call("latency", { on: true }, 10_000)));
    const runs = await Promise.all(fleet.map((k) => load.ep.call("fleetRun", { key: k.kind, seconds: SIZES.deviceSeconds }, (SIZES.deviceSeconds + 120) * 1000)));
    const brokerSide = await Promise.all(fleet.map((k) => k.broker.ep.call("latency", { on: false }, 10_000)));
    const cpu1 = await Promise.all(fleet.map((k) => cpuOf(k.broker)));
    const otherCores = since(m0);
    const out = { devices: n, seconds: SIZES.deviceSeconds, load: [load0, loadavg()[0]], machineCores: otherCores, cpuPressure: cpuPressure(), rows: {} };
    for (const [i, k] of fleet.entries()) {
      const bytesLive = bytesOf(k.kind, k);
      // Durable kinds: counted after the storage was closed and opened again (what a restart finds).
      const counted = await k.broker.ep.call("history", { count: n, reopen: KINDS[k.kind].durable }, 300_000);
      const bytesClosed = bytesOf(k.kind, k);
      out.rows[k.kind] = { ...runs[i], brokerSide: brokerSide[i], hostMs: k.hosted.hostMs, connectMs: k.connect.connectMs, brokerCpuCores: (cpu1[i] - cpu0[i]) / 1e6 / SIZES.deviceSeconds, history: counted, bytesLive, bytesClosed };
    }
    return out;
  } finally {
    for (const k of fleet) {
      await stopChild(k.broker);
      await k.server?.stop();
    }
  }
}

async function startup(base, kinds) {
  const out = {};
  const startOnce = async (name, cfg) => {
    const b = await spawnChild(name, "storage/broker-child.mjs", ["serve", JSON.stringify(cfg)]);
    const hosted = await b.ep.call("host", { from: 0, count: SIZES.storedDevices }, 120_000);
    await stopChild(b);
    return { ...b.info.timings, spawnToReadyMs: b.readyAt - b.spawnedAt, hostMs: hosted.hostMs, withValue: hosted.withValue };
  };
  const medians = (starts) => Object.fromEntries(Object.keys(starts[0]).map((key) => [key, median(starts.map((s) => s[key]))]));
  for (const kind of kinds) {
    const k = await openKind(base, kind, "startup");
    try {
      // The same start with nothing stored (memory: the engine's own start-up), in turn with the stored one.
      const emptyDir = join(base, `startup-empty-${kind}`);
      mkdirSync(emptyDir, { recursive: true });
      const empty = { ...k.cfg, dir: emptyDir, nodeId: NODE_IDS.startupEmpty };
      let filled;
      if (KINDS[kind].durable) {
        console.log(`[storage] start-up (${kind}): storing ${fmt(SIZES.storedValues)} values over ${fmt(SIZES.storedDevices)} devices ...`);
        filled = await runToResult(`fill-${kind}`, "storage/broker-child.mjs", ["fill", JSON.stringify({ ...k.cfg, devices: SIZES.storedDevices, values: SIZES.storedValues })]);
        filled.closed = bytesOf(kind, k) ?? filled.closed;
      }
      const starts = [];
      const emptyStarts = [];
      for (let r = 0; r < SIZES.startups; r++) {
        emptyStarts.push(await startOnce(`startup-empty-${kind}`, empty));
        if (filled) starts.push(await startOnce(`startup-${kind}`, k.cfg));
      }
      out[kind] = { empty: { starts: emptyStarts, median: medians(emptyStarts) }, cpuPressure: cpuPressure() };
      if (filled) {
        Object.assign(out[kind], { values: filled.values, fillMs: filled.fillMs, bytesLive: filled.live, bytesClosed: filled.closed, problems: filled.problems, starts, median: medians(starts) });
      }
    } finally {
      await k.server?.stop();
    }
  }
  return out;
}

async function main() {
  if (!existsSync(DIST_STORE)) throw new Error("dist/ is missing: run `npm run build` first");
  const notMeasured = {};
  const kinds = [];
  for (const kind of WANTED) {
    const why = KINDS[kind].missing();
    if (why === undefined) kinds.push(kind);
    else notMeasured[kind] = why;
  }
  for (const [kind, why] of Object.entries(notMeasured)) console.log(`[storage] ${kind}: not measured yet: ${why}`);
  if (!kinds.includes("memory") && (SCENARIOS.has("throughput") || SCENARIOS.has("devices"))) throw new Error("the memory kind is the baseline: keep it in STORAGE_KINDS");
  const baseRoot = process.env.STORAGE_BENCH_DIR ?? tmpdir();
  mkdirSync(baseRoot, { recursive: true });
  const base = mkdtempSync(join(baseRoot, "iot-bridge-bench-storage-"));
  const head = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const results = {
    quick: QUICK,
    at: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memGiB: totalmem() / 2 ** 30,
    deps: Object.fromEntries(["aedes", "node-sqlite3-wasm", "mqtt"].map((d) => [d, head.dependencies?.[d]])),
    dir: base,
    sizes: SIZES,
    goals: GOALS,
    kinds,
    notMeasured,
    load: [loadavg()[0]],
  };
  let load;
  const t0 = performance.now();
  try {
    if (SCENARIOS.has("throughput") || SCENARIOS.has("devices")) load = await spawnChild("load", "storage/load.mjs", [], { nodeArgs: [] });
    if (SCENARIOS.has("throughput")) results.throughput = await throughput(base, kinds, load);
    if (SCENARIOS.has("devices")) results.devices = await devices(base, kinds, load);
    if (SCENARIOS.has("startup")) results.startup = await startup(base, kinds);
  } finally {
    if (load) await stopChild(load);
    rmSync(base, { recursive: true, force: true });
  }
  results.load.push(loadavg()[0]);
  results.seconds = (performance.now() - t0) / 1000;
  const out = join(root, "bench", "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "storage.json"), JSON.stringify(results, null, 2));
  printReport(results);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`[storage] ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
