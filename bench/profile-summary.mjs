// Summarizes V8 CPU profiles written by `BENCH_PROFILE=1 npm run bench` (node --cpu-prof on the
// broker children): self time per function and per package, top N, for each profile given.
//
//   node bench/profile-summary.mjs bench/results/profiles/*.cpuprofile [--top 25] [--merge]
//
// --merge sums all the files given into one report (e.g. all QoS 1 windows of one broker).
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const TOP = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
const mergeAt = args.indexOf("--merge");
const MERGE = mergeAt >= 0;
if (MERGE) args.splice(mergeAt, 1);
if (!args.length) {
  console.error("usage: node bench/profile-summary.mjs <file.cpuprofile>... [--top N]");
  process.exit(2);
}

function where(url) {
  if (!url) return "(native/V8)";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split("/");
    return rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith("node:")) return "node core";
  if (url.includes("/dist/nodes/")) return "iot-bridge (dist/nodes)";
  if (url.includes("/bench/")) return "bench harness";
  return url;
}

const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);

function tally(file, acc) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Leave out the profiler's own start/stop (called from the bench harness inside the window).
  const harness = new Set();
  const mark = (n) => {
    harness.add(n.id);
    for (const c of n.children ?? []) mark(byId.get(c));
  };
  for (const n of profile.nodes) if (n.callFrame.url.endsWith("/bench/lib/broker-child.mjs")) mark(n);
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i] ?? 0;
    if (harness.has(profile.samples[i])) {
      acc.harness += us;
      continue;
    }
    const { callFrame: cf } = byId.get(profile.samples[i]);
    acc.total += us;
    if (cf.functionName === "(idle)" || cf.functionName === "(program)") {
      add(acc.pkgs, cf.functionName, us);
      continue;
    }
    const pkg = cf.functionName === "(garbage collector)" ? "(garbage collector)" : where(cf.url);
    add(acc.fns, `${cf.functionName || "(anonymous)"}  ${cf.url ? `${where(cf.url)}:${basename(cf.url)}:${cf.lineNumber + 1}` : ""}`, us);
    add(acc.pkgs, pkg, us);
  }
  return acc;
}

const fresh = () => ({ total: 0, harness: 0, fns: new Map(), pkgs: new Map() });
const groups = MERGE ? [[`${args.length} merged profile(s)`, args.reduce((acc, f) => tally(f, acc), fresh())]] : args.map((f) => [basename(f), tally(f, fresh())]);

for (const [title, { total, harness, fns, pkgs }] of groups) {
  const busy = total - (pkgs.get("(idle)") ?? 0);
  const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(
    `\n## ${title}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle (percentages of that; ` +
      `${(harness / 1e3).toFixed(0)} ms of profiler start/stop left out)`,
  );
  console.log("\nby package:");
  for (const [k, us] of [...pkgs].filter(([k]) => k !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pct(us)}  ${k}`);
  console.log(`\ntop ${TOP} functions by self time:`);
  for (const [k, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${pct(us)}  ${k}`);
}
