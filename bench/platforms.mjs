// The platform nodes against Node-RED's own core `mqtt out`, in one run, side by side, each as
// a RATIO to the baseline measured in the same run (never absolute times as verdicts). See
// bench/PLATFORMS.md for what is measured, how, and the figures.
//
//   node bench/platforms.mjs          (builds dist/ first when it is older than nodes/)
//
//   BENCH_QUICK=1        ~30 s smoke run (2,000 messages per trial instead of 20,000)
//   BENCH_VERBOSE=1      the children's own output and every trial
//   PLATFORMS_ONLY=blynk-mqtt,blynk-local,tb   which comparisons (default all)
//   PLATFORMS_N=n        messages per measured trial;  PLATFORMS_REPS=n  repetitions (default 3)
//   PLATFORMS_WINDOW=n   messages waiting for done() at most per writer (default 100)
//   PLATFORMS_PROFILE=side   V8 CPU profile of Node-RED over each measured trial of one side
//                        (e.g. tb:ours) in bench/results/profiles/platforms-*.cpuprofile;
//                        summarize with: node bench/profile-summary.mjs FILES --merge
//
// Processes: this orchestrator; one Node-RED runtime (bench/platforms/node-red-child.mjs) with
// the iot-broker, the platform nodes and the core mqtt nodes; one device process
// (bench/platforms/device-child.mjs) with the MQTT.js devices. Loopback only, ephemeral ports,
// every wait bounded, children killed on exit. Exit code 0 whatever the verdicts (this is a
// measurement); 1 only when the benchmark itself could not run.
import { positiveIntEnv, QUICK, VERBOSE } from "./lib/env.mjs";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rpc, sleep } from "./platforms/rpc.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, "..");
const resultsDir = join(benchDir, "results");
const int = positiveIntEnv;
const CONFIG = {
  n: int("PLATFORMS_N", QUICK ? 2_000 : 20_000),
  warmup: QUICK ? 3_000 : 10_000,
  reps: int("PLATFORMS_REPS", 3),
  window: int("PLATFORMS_WINDOW", 100),
  idleMs: 5_000, // a trial ends early when nothing progressed for this long (the rest counts as lost)
  probeIdleMs: 800,
  readyWithinMs: 30_000,
  timeLimitMs: QUICK ? 150_000 : 420_000,
};
const PROFILE = process.env.PLATFORMS_PROFILE || undefined;

/** What is compared: ours against a baseline, both measured in every repetition. */
const COMPARISONS = [
  {
    key: "blynk-mqtt", group: "blynk-mqtt", issue: "3a", goal: 0.9,
    label: "blynk-write, mqtt mode (TCP) -> hosted device's blynk-device-in (local)",
    baseLabel: "core mqtt out ds/Temperature QoS 0 -> core mqtt in",
    ours: "blynk-mqtt:ours", base: "blynk-mqtt:base",
  },
  {
    key: "blynk-local", group: "blynk-local", issue: "3b", goal: 1.3,
    label: "blynk-write, local mode (in-process) -> MQTT.js device on downlink/#",
    baseLabel: "core mqtt out downlink/ds/Temperature QoS 0 -> MQTT.js client",
    ours: "blynk-local:ours", base: "blynk-local:base",
  },
  {
    key: "tb", group: "tb", issue: "4", goal: 0.9,
    label: "thingsboard-telemetry, mqtt mode, device qos \"0\" -> hosted device's thingsboard-telemetry",
    baseLabel: "core mqtt out v1/devices/me/telemetry QoS 0 -> core mqtt in",
    ours: "tb:ours", base: "tb:base",
  },
  {
    key: "tb-qos1", group: "tb", issue: "4 (diag.)", goal: null,
    label: "thingsboard-telemetry, mqtt mode, device qos \"1\" (the default) -> a second hosted device",
    baseLabel: "core mqtt out v1/devices/me/telemetry QoS 1 -> core mqtt in",
    ours: "tb:ours-qos1", base: "tb:base-qos1",
  },
];
/** Sides counted by a device of the device child, not in Node-RED. */
const EXTERNAL = { "blynk-local:ours": "blynk", "blynk-local:base": "plain" };

const groups = (() => {
  const all = [...new Set(COMPARISONS.map((c) => c.group))];
  const wanted = (process.env.PLATFORMS_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length) {
    console.error(`PLATFORMS_ONLY: unknown ${unknown.join(", ")} (known: ${all.join(", ")})`);
    process.exit(1);
  }
  return wanted.length ? all.filter((g) => wanted.includes(g)) : all;
})();
const comparisons = COMPARISONS.filter((c) => groups.includes(c.group));
/** Sides of one group, in the order they run in repetition 0 (rotated in later ones). */
const sidesOf = (group) => [...new Set(comparisons.filter((c) => c.group === group).flatMap((c) => [c.base, c.ours]))];
if (PROFILE !== undefined && !groups.some((g) => sidesOf(g).includes(PROFILE))) {
  console.error(`PLATFORMS_PROFILE: "${PROFILE}" is not a side of this run (${groups.flatMap(sidesOf).join(", ")})`);
  process.exit(1);
}

// ---- children: always killed -----------------------------------------------------------------

const children = new Set();
const tempDirs = new Set();
function killAll(signal = "SIGKILL") {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}
function removeTempDirs() {
  for (const dir of tempDirs) if (dir.startsWith(join(tmpdir(), "iot-bridge-bench-platforms-"))) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", () => {
  killAll();
  removeTempDirs();
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`\n[platforms] ${sig}: stopping the children`);
    killAll("SIGTERM");
    setTimeout(() => process.exit(130), 1500);
  });
}
process.on("uncaughtException", (err) => {
  console.error(`[platforms] ${err?.stack ?? err}`);
  process.exit(1);
});
setTimeout(() => {
  console.error(`[platforms] time limit of ${CONFIG.timeLimitMs / 1000} s reached; stopping`);
  process.exit(1);
}, CONFIG.timeLimitMs).unref();

async function spawnChild(name, script, args = []) {
  const child = spawn(process.execPath, [join(benchDir, "platforms", script), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  children.add(child);
  const tail = [];
  const onOutput = (chunk) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line === "") continue;
      if (VERBOSE) console.error(`[${name}] ${line}`);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout.on("data", onOutput);
  child.stderr.on("data", onOutput);
  const ep = rpc(child, name);
  const exited = new Promise((ok) =>
    child.on("exit", (code, signal) => {
      children.delete(child);
      ep.abort(`exited (${signal ?? `code ${code}`}):\n  ${tail.join("\n  ")}`);
      ok({ code, signal });
    }),
  );
  const ready = new Promise((ok) => child.on("message", (m) => m?.type === "ready" && ok(m)));
  const info = await Promise.race([
    ready,
    exited.then(({ code, signal }) => {
      throw new Error(`${name} exited before it was ready (${signal ?? `code ${code}`}):\n  ${tail.join("\n  ")}`);
    }),
    sleep(60_000).then(() => {
      throw new Error(`${name} was not ready within 60 s:\n  ${tail.join("\n  ")}`);
    }),
  ]);
  if (typeof info.userDir === "string") tempDirs.add(info.userDir);
  return {
    ep, info, tail, exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await ep.call("close", {}, 5000).catch(() => undefined);
      await Promise.race([exited, sleep(8000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

// ---- build -----------------------------------------------------------------------------------

function newest(dir, test, acc = { max: 0, min: Infinity, count: 0 }) {
  if (!existsSync(dir)) return acc;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest(p, test, acc);
    else if (test(entry.name)) {
      const t = statSync(p).mtimeMs;
      acc.max = Math.max(acc.max, t);
      acc.min = Math.min(acc.min, t);
      acc.count++;
    }
  }
  return acc;
}
async function ensureBuilt() {
  const stale = () => {
    const src = newest(join(root, "nodes"), (f) => f.endsWith(".ts") || f.endsWith(".html") || f.endsWith(".json"));
    const out = newest(join(root, "dist", "nodes"), (f) => f.endsWith(".js"));
    return out.count === 0 || src.max > out.min;
  };
  if (!stale()) return;
  for (let attempt = 1; ; attempt++) {
    console.log(`[platforms] dist/ is older than nodes/: npm run build (attempt ${attempt})`);
    const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: VERBOSE ? "inherit" : "pipe", encoding: "utf8" });
    if (r.status === 0) return;
    if (attempt === 3) throw new Error(`npm run build failed 3 times:\n${r.stdout ?? ""}${r.stderr ?? ""}`);
    console.log("[platforms] the build failed (someone may be mid-edit); retrying in 20 s");
    await sleep(20_000);
  }
}

// ---- measuring ---------------------------------------------------------------------------------

let nr;
let dev;

/** Busy and total CPU time of the whole machine so far (Linux /proc/stat, in clock ticks); undefined elsewhere. */
function machineTicks() {
  try {
    const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
    const total = cpu.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** One trial of one side: n messages; where they are counted depends on the side. */
async function trial(side, n, { window = CONFIG.window, idleMs = CONFIG.idleMs, profile } = {}) {
  const ticks0 = machineTicks();
  const result = await oneTrial(side, n, { window, idleMs, profile });
  const ticks1 = machineTicks();
  if (ticks0 !== undefined && ticks1 !== undefined && ticks1.total > ticks0.total) {
    // Cores busy over the trial, whole machine; minus Node-RED's own share = everything else
    // (this orchestrator, the device process in 3b, and whatever else runs on the machine).
    const cores = cpus().length;
    const busyCores = ((ticks1.busy - ticks0.busy) / (ticks1.total - ticks0.total)) * cores;
    result.machineBusyCores = busyCores;
    result.otherBusyCores = Math.max(0, busyCores - result.nrCores);
  }
  return result;
}

async function oneTrial(side, n, { window, idleMs, profile }) {
  const timeout = 120_000;
  const device = EXTERNAL[side];
  if (device === undefined) {
    const r = await nr.ep.call("trial", { side, n, window, idleMs, profile }, timeout);
    return summarize(side, n, r.accepted, r.delivered, r.cpuMs);
  }
  await dev.ep.call("arm", { device, n, idleMs }, 10_000);
  const r = await nr.ep.call("trial", { side, n, window, idleMs, profile }, timeout);
  if (r.accepted.completed === 0) await dev.ep.call("stop", { device }, 10_000);
  const delivered = await dev.ep.call("result", { device }, timeout);
  const { cpuMs } = await nr.ep.call("end", {}, 30_000); // Node-RED's CPU up to the last delivery, as for the others
  return summarize(side, n, r.accepted, delivered, cpuMs);
}

function summarize(side, n, accepted, delivered, cpuMs) {
  const seconds = delivered.lastAt === undefined ? NaN : (delivered.lastAt - accepted.startedAt) / 1000;
  return {
    side, n,
    rate: delivered.delivered / seconds,
    acceptRate: accepted.completed / ((accepted.acceptedAt - accepted.startedAt) / 1000),
    seconds,
    delivered: delivered.delivered, lost: n - delivered.delivered, duplicates: delivered.duplicates, strays: delivered.strays,
    errors: accepted.errors, firstError: accepted.firstError, notCompleted: n - accepted.completed,
    cpuUsPerMsg: (cpuMs * 1000) / n,
    nrCores: cpuMs / 1000 / seconds,
    ended: delivered.how,
  };
}

/** Sends single messages until one gets through: connections up, devices online, paths working. */
async function probe(side) {
  const deadline = Date.now() + CONFIG.readyWithinMs;
  for (let attempt = 1; ; attempt++) {
    const r = await trial(side, 1, { window: 1, idleMs: CONFIG.probeIdleMs });
    if (r.delivered === 1) return attempt;
    if (Date.now() > deadline) throw new Error(`${side}: no message got through within ${CONFIG.readyWithinMs / 1000} s (${JSON.stringify(r)})`);
    await sleep(200);
  }
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtRate = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "-");
const fmtRatio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : "-");

async function main() {
  const started = Date.now();
  await ensureBuilt();
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavgAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
  console.log(
    `[platforms] ${QUICK ? "quick" : "full"} run: ${CONFIG.n.toLocaleString("en-US")} messages x ${CONFIG.reps} repetitions per side, ` +
      `window ${CONFIG.window}; ${machine.nproc} x ${machine.cpu}, Node ${machine.node}`,
  );
  if (PROFILE) console.log(`[platforms] profiling ${PROFILE}: its figures are slowed by the profiler, do not read its ratio`);

  nr = await spawnChild("node-red", "node-red-child.mjs");
  const port = nr.info.port;
  if (groups.includes("blynk-local")) dev = await spawnChild("devices", "device-child.mjs", [`mqtt://127.0.0.1:${port}`]);

  const sides = groups.flatMap(sidesOf);
  for (const side of sides) {
    const attempts = await probe(side);
    if (VERBOSE) console.error(`[platforms] ${side}: ready after ${attempts} probe(s)`);
  }
  await nr.ep.call("quiet", { quietMs: 300, maxMs: 5000 }, 10_000);
  await sleep(300);

  // Warm-up (JIT, buffers, connections): every side once, not recorded.
  for (const side of sides) {
    const w = await trial(side, CONFIG.warmup);
    if (VERBOSE) console.error(`[platforms] warm-up ${side}: ${fmtRate(w.rate)} msg/s, lost ${w.lost}`);
  }

  const trials = [];
  for (let rep = 0; rep < CONFIG.reps; rep++) {
    for (const group of groups) {
      const order = sidesOf(group);
      const rotated = order.map((_, i) => order[(i + rep) % order.length]); // no side always first
      for (const side of rotated) {
        const profile = side === PROFILE ? join(resultsDir, "profiles", `platforms-${side.replace(":", "-")}-rep${rep + 1}.cpuprofile`) : undefined;
        const t = { rep: rep + 1, ...(await trial(side, CONFIG.n, { profile })) };
        trials.push(t);
        if (VERBOSE || t.lost > 0 || t.errors > 0) {
          console.error(
            `[platforms] rep ${t.rep} ${side}: ${fmtRate(t.rate)} msg/s delivered (${fmtRate(t.acceptRate)} accepted), ` +
              `${t.cpuUsPerMsg.toFixed(1)} us CPU/msg in Node-RED, other load ${t.otherBusyCores?.toFixed(2) ?? "?"} cores, ` +
              `lost ${t.lost}, errors ${t.errors}${t.firstError ? ` (${t.firstError})` : ""}`,
          );
        }
      }
    }
  }

  // Per comparison: medians of each side, and the median of the per-repetition ratios (each
  // ratio pairs two trials run back to back, so slow drifts of the machine cancel out).
  const results = comparisons.map((c) => {
    const of = (side) => trials.filter((t) => t.side === side);
    const ours = of(c.ours);
    const base = of(c.base);
    const ratios = ours.map((o) => o.rate / (base.find((b) => b.rep === o.rep)?.rate ?? NaN));
    const ratio = median(ratios);
    const lost = { ours: ours.reduce((a, t) => a + t.lost, 0), base: base.reduce((a, t) => a + t.lost, 0) };
    const errors = { ours: ours.reduce((a, t) => a + t.errors, 0), base: base.reduce((a, t) => a + t.errors, 0) };
    const verdict = c.goal === null ? "info" : ratio >= c.goal && lost.ours === 0 && errors.ours === 0 ? "PASS" : "FAIL";
    return {
      key: c.key, issue: c.issue, label: c.label, baseline: c.baseLabel, goal: c.goal,
      baseRate: median(base.map((t) => t.rate)), oursRate: median(ours.map((t) => t.rate)),
      ratio, ratios, verdict, lost, errors,
      cpuUsPerMsg: { ours: median(ours.map((t) => t.cpuUsPerMsg)), base: median(base.map((t) => t.cpuUsPerMsg)) },
    };
  });

  const header = ["issue", "config", "baseline msg/s", "ours msg/s", "ratio", "goal", "verdict", "lost ours/base", "NR CPU us/msg ours/base"];
  const rows = results.map((r) => [
    r.issue, r.key, fmtRate(r.baseRate), fmtRate(r.oursRate), fmtRatio(r.ratio), r.goal === null ? "-" : `>= ${r.goal}x`, r.verdict,
    `${r.lost.ours}/${r.lost.base}`, `${r.cpuUsPerMsg.ours.toFixed(1)}/${r.cpuUsPerMsg.base.toFixed(1)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  console.log(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of rows) console.log(line(row));
  console.log("");
  for (const r of results) console.log(`  ${r.key}: ours = ${r.label}; baseline = ${r.baseline}; per-rep ratios ${r.ratios.map((x) => x.toFixed(2)).join(", ")}`);
  console.log(
    `\n  msg/s = messages delivered at the receiving side / (last delivery - first input), median of ${CONFIG.reps}; ratio = median of the ` +
      `per-repetition ratios ours/baseline. NR CPU = CPU time of the Node-RED process (broker included) per message, ` +
      `first input to last delivery; the device process of 3b is not in it.`,
  );

  const out = {
    when: new Date(started).toISOString(), durationS: Math.round((Date.now() - started) / 1000), quick: QUICK, profile: PROFILE ?? null,
    machine: { ...machine, nodeRed: nr.info.nodeRed, loadavgAtEnd: loadavg().map((x) => Number(x.toFixed(2))) },
    config: { ...CONFIG }, results, trials,
  };
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, "platforms.json");
  writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`\n[platforms] ${Math.round((Date.now() - started) / 1000)} s; results in ${file}`);
}

let code = 0;
try {
  await main();
} catch (err) {
  console.error(`[platforms] the benchmark could not run: ${err?.stack ?? err}`);
  code = 1;
} finally {
  await Promise.allSettled([nr?.stop(), dev?.stop()]);
}
process.exit(code);
