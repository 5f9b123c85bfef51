#!/usr/bin/env node
// Uplink benchmark: DEVICES hosted devices of each platform publish device-relative topics over
// TCP into the flows (blynk-device-in, thingsboard-telemetry, thingspeak-field in subscribe
// mode, all in local mode on the iot-broker), against Node-RED's core `mqtt in` node on the same
// broker receiving the same number of publishes, on plain topics, from as many clients of a
// generic user. Every figure is a ratio to the baseline measured in the same run, alternating
// sides and taking medians. See bench/README.md ("Uplinks from hosted devices").
//
//   node bench/uplinks.mjs                 # full run
//   BENCH_QUICK=1 node bench/uplinks.mjs   # smoke run
//   UPLINKS_N, UPLINKS_REPS, UPLINKS_WINDOW, UPLINKS_ONLY=blynk,tb,ts
import { positiveIntEnv, QUICK, VERBOSE } from "./lib/env.mjs";
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { rpc, sleep } from "./platforms/rpc.mjs";
import { DEVICES, SIDES, TS_PERIOD_MS } from "./uplinks/flows.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(benchDir, "results");
const int = positiveIntEnv;
const CONFIG = {
  n: int("UPLINKS_N", QUICK ? 5_000 : 30_000),
  warmup: QUICK ? 2_000 : 10_000,
  reps: int("UPLINKS_REPS", QUICK ? 1 : 5),
  window: int("UPLINKS_WINDOW", 2_000), // messages sent but not yet counted in the flow, all devices together
  burst: 10, // consecutive messages per device before the next device's turn
  tsRounds: int("UPLINKS_TS_ROUNDS", QUICK ? 2 : 5), // ThingSpeak: updates per channel per trial
  idleMs: 5_000,
  timeLimitMs: QUICK ? 180_000 : 600_000,
};
const PLATFORMS = (() => {
  const all = ["blynk", "tb", "ts"];
  const wanted = (process.env.UPLINKS_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length) throw new Error(`UPLINKS_ONLY: unknown ${unknown.join(", ")} (known: ${all.join(", ")})`);
  return wanted.length ? all.filter((p) => wanted.includes(p)) : all;
})();
const LABELS = {
  blynk: "Blynk: device publishes ds/Temperature -> blynk-device-in",
  tb: "ThingsBoard: device publishes v1/devices/me/telemetry -> thingsboard-telemetry",
  ts: "ThingSpeak: device publishes channels/<id>/publish -> thingspeak-field (subscribe)",
};

const log = (...a) => console.log("[uplinks]", ...a);
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---- the Node-RED child, and cleanup on every exit path -----------------------------------------
let child;
let ep;
const progress = new Map(); // side -> callback(delivered)
const cleanup = () => {
  try {
    child?.kill("SIGTERM");
  } catch {
    // gone
  }
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(130));
const watchdog = setTimeout(() => {
  console.error(`[uplinks] the run took longer than ${CONFIG.timeLimitMs / 1000} s: stopped`);
  process.exit(1);
}, CONFIG.timeLimitMs);
watchdog.unref();

async function startNodeRed() {
  // UPLINKS_PROFILE=1: a V8 CPU profile of the whole Node-RED process (start-up included) in bench/results/profiles/.
  const execArgv = process.env.UPLINKS_PROFILE === "1" ? ["--cpu-prof", `--cpu-prof-dir=${join(resultsDir, "profiles")}`, "--cpu-prof-interval=200"] : [];
  child = fork(join(benchDir, "uplinks", "node-red-child.mjs"), [], { execArgv, stdio: VERBOSE ? "inherit" : ["ignore", "ignore", "inherit", "ipc"] });
  ep = rpc(child, "node-red child");
  child.on("exit", (code) => ep.abort(`exited with ${code}`));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error("Node-RED did not start within 90 s")), 90_000);
    child.on("message", (m) => {
      if (m?.type === "ready") {
        clearTimeout(timer);
        ok(m);
      } else if (m?.type === "progress") progress.get(m.side)?.(m.delivered);
    });
    child.once("exit", (code) => fail(new Error(`Node-RED child exited with ${code} before it was ready`)));
  });
}

// ---- devices: one MQTT.js client per device and side ---------------------------------------------
async function connectDevices(url) {
  const clients = {};
  for (const key of Object.keys(SIDES).filter((k) => PLATFORMS.includes(k.split(":")[0]))) {
    const side = SIDES[key];
    clients[key] = [];
    for (let i = 0; i < DEVICES; i += 20) {
      const batch = [];
      for (let d = i; d < Math.min(DEVICES, i + 20); d++) {
        batch.push(mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 20_000, clean: true, protocolVersion: 4, keepalive: 60, clientId: "", ...side.login(d) }));
      }
      const connected = await Promise.all(batch);
      for (const c of connected) {
        c.stream.setNoDelay?.(true); // the load generator's own Nagle would add delay (as in bench/load.mjs)
        c.on("error", (err) => console.error(`[uplinks] ${key} device: ${err.message}`));
      }
      clients[key].push(...connected);
    }
  }
  return clients;
}

/**
 * One trial: n messages, message i from device floor(i / burst) % DEVICES, at most `window`
 * sent and not yet counted. Paced sides (ThingSpeak) send one update per device every TS_PERIOD_MS.
 */
async function trial(key, devices, n, { record = true } = {}) {
  const side = SIDES[key];
  const every = Math.max(1, Math.min(250, Math.floor(CONFIG.window / 4)));
  await ep.call("arm", { side: key, n, idleMs: CONFIG.idleMs, every });
  let sent = 0;
  let delivered = 0;
  const send = (seq) => {
    const d = side.paced ? seq % DEVICES : Math.floor(seq / CONFIG.burst) % DEVICES;
    devices[d].publish(side.topic(d), side.payload(seq), { qos: 0 });
  };
  const startedAt = performance.now();
  if (side.paced) {
    for (let round = 0; sent < n; round++) {
      const due = startedAt + round * TS_PERIOD_MS;
      if (performance.now() < due) await sleep(due - performance.now());
      for (let d = 0; d < DEVICES && sent < n; d++) send(sent++);
    }
  } else {
    await new Promise((done) => {
      let waiting = false;
      const fill = () => {
        waiting = false;
        while (sent < n && sent - delivered < CONFIG.window) send(sent++);
        if (sent >= n) done();
      };
      progress.set(key, (count) => {
        delivered = count;
        if (!waiting && sent < n && sent - delivered <= CONFIG.window / 2) {
          waiting = true;
          setImmediate(fill);
        }
      });
      fill();
    });
  }
  const result = await ep.call("result", { side: key }, 120_000);
  progress.delete(key);
  const spanMs = result.lastAt - result.firstAt;
  const out = { side: key, n, delivered: result.delivered, lost: result.lost, duplicates: result.duplicates, strays: result.strays, how: result.how, msgPerSec: (result.delivered - 1) / (spanMs / 1000), cpuUsPerMsg: (result.cpuMs * 1000) / result.delivered };
  if (record && VERBOSE) log(`${key}: ${fmt(out.msgPerSec)} msg/s, ${fmt(out.cpuUsPerMsg, 1)} µs NR CPU/msg, lost ${out.lost}`);
  return out;
}

async function probe(key, devices) {
  // One message per device until all arrive: the hosted devices' links are up, the baseline subscribed.
  for (let attempt = 1; ; attempt++) {
    const r = await trial(key, devices, DEVICES, { record: false }).catch((err) => ({ lost: DEVICES, err }));
    if (r.lost === 0) return;
    if (attempt >= 10) throw new Error(`${key}: ${r.lost} of ${DEVICES} probe messages did not reach the flow after 10 attempts${r.err ? ` (${r.err.message})` : ""}`);
    await ep.call("quiet", {});
    await sleep(SIDES[key].paced ? TS_PERIOD_MS : 500);
  }
}

// ---- main ------------------------------------------------------------------------------------------
const loadBefore = loadavg();
const t0 = Date.now();
const ready = await startNodeRed();
log(`Node-RED ${ready.nodeRed}, broker on port ${ready.port}; ${DEVICES} devices per side; ${QUICK ? "quick" : "full"} run`);
const devices = await connectDevices(`mqtt://127.0.0.1:${ready.port}`);
const keys = Object.keys(devices);
for (const key of keys) await probe(key, devices[key]);
const sizeOf = (key) => (SIDES[key].paced ? DEVICES * CONFIG.tsRounds : CONFIG.n);
for (const key of keys) if (!SIDES[key].paced) await trial(key, devices[key], CONFIG.warmup, { record: false });
const trials = [];
for (let rep = 0; rep < CONFIG.reps; rep++) {
  for (const platform of PLATFORMS) {
    // Alternate which side goes first.
    const order = rep % 2 === 0 ? ["ours", "base"] : ["base", "ours"];
    for (const which of order) {
      const key = `${platform}:${which}`;
      if (SIDES[key].paced) await sleep(TS_PERIOD_MS); // every channel's interval has passed
      const r = await trial(key, devices[key], sizeOf(key));
      trials.push({ rep, platform, which, ...r });
      log(`rep ${rep + 1}/${CONFIG.reps} ${key}: ${fmt(r.msgPerSec)} msg/s into the flow, ${fmt(r.cpuUsPerMsg, 1)} µs Node-RED CPU/msg, lost ${r.lost}`);
    }
  }
}

const rows = PLATFORMS.map((platform) => {
  const of = (which) => trials.filter((t) => t.platform === platform && t.which === which);
  const ratios = [];
  const cpuRatios = [];
  for (let rep = 0; rep < CONFIG.reps; rep++) {
    const o = of("ours").find((t) => t.rep === rep);
    const b = of("base").find((t) => t.rep === rep);
    ratios.push(o.msgPerSec / b.msgPerSec);
    cpuRatios.push(o.cpuUsPerMsg / b.cpuUsPerMsg);
  }
  return {
    platform,
    label: LABELS[platform],
    ours: { msgPerSec: median(of("ours").map((t) => t.msgPerSec)), cpuUsPerMsg: median(of("ours").map((t) => t.cpuUsPerMsg)), lost: of("ours").reduce((s, t) => s + t.lost, 0) },
    base: { msgPerSec: median(of("base").map((t) => t.msgPerSec)), cpuUsPerMsg: median(of("base").map((t) => t.cpuUsPerMsg)), lost: of("base").reduce((s, t) => s + t.lost, 0) },
    ratio: median(ratios),
    cpuRatio: median(cpuRatios),
    paced: SIDES[`${platform}:ours`].paced === true,
  };
});

console.log("");
console.log(`Uplinks into the flow: ${DEVICES} hosted devices per platform vs core mqtt in (${DEVICES} generic clients), median of ${CONFIG.reps}`);
console.log("| platform | ours msg/s | core mqtt in msg/s | ratio (median of pairs) | ours µs CPU/msg | base µs CPU/msg | CPU ratio | lost ours/base | goal >= 1.0x |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---|");
for (const r of rows) {
  const verdict = r.ours.lost + r.base.lost > 0 ? "FAIL (loss)" : r.paced ? "PASS (paced: every update of the offered rate arrived)" : r.ratio >= 1.0 ? "PASS" : "FAIL";
  console.log(`| ${r.label}${r.paced ? ` (paced: 1 update per channel per ${TS_PERIOD_MS} ms)` : ""} | ${fmt(r.ours.msgPerSec)} | ${fmt(r.base.msgPerSec)} | ${fmt(r.ratio, 2)}x | ${fmt(r.ours.cpuUsPerMsg, 1)} | ${fmt(r.base.cpuUsPerMsg, 1)} | ${fmt(r.cpuRatio, 2)}x | ${r.ours.lost}/${r.base.lost} | ${verdict} |`);
}
const loadAfter = loadavg();
console.log(`load average ${loadBefore[0].toFixed(2)} at the start, ${loadAfter[0].toFixed(2)} at the end; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, "uplinks.json"), JSON.stringify({ config: CONFIG, devices: DEVICES, loadBefore, loadAfter, rows, trials }, null, 2));

await Promise.allSettled(Object.values(devices).flat().map((c) => c.endAsync(true)));
await ep.call("close", {}, 10_000).catch(() => undefined);
clearTimeout(watchdog);
process.exit(0);
