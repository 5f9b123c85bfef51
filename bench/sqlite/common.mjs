// What the SQLite benchmark's parts share: sizes, paths, small statistics (bench/sqlite-store.mjs).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { positiveIntEnv, QUICK } from "../lib/env.mjs";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const require = createRequire(import.meta.url);
export const DIST = join(root, "dist", "nodes", "lib", "store", "index.js");
export const SIZES = {
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
export const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");
export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};
export const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
export const now = () => process.hrtime.bigint();
