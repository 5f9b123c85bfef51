#!/usr/bin/env node
// Fleet benchmark (docs/ARCHITECTURE.md 3.8): N Blynk devices hosted by ONE fleet config node vs
// N single-device config nodes (the old way: a config node and a blynk-device-in per device), in
// the same run. Each side runs in its own Node-RED process; N MQTT.js devices connect and send one
// value a second for the measured window. Reported per side: memory per connected device (RSS and
// V8 heap after a full GC, after minus before the devices were added and connected) and CPU time
// per delivered message over the window; then fleet/singles ratios. See bench/README.md ("Fleets").
//
//   node bench/fleet.mjs                   # 1,000 devices, 30 s windows (run it on a quiet machine)
//   FLEET_N=20 FLEET_SECONDS=5 node bench/fleet.mjs   # smoke run
//   FLEET_SIDES=fleet,singles (order), BENCH_VERBOSE=1
import { fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { positiveIntEnv, QUICK, VERBOSE } from "./lib/env.mjs";
import { rpc, sleep } from "./platforms/rpc.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const N = positiveIntEnv("FLEET_N", QUICK ? 100 : 1_000);
const SECONDS = positiveIntEnv("FLEET_SECONDS", QUICK ? 5 : 30);
const SIDES = (process.env.FLEET_SIDES ?? "fleet,singles").split(",").map((s) => s.trim()).filter(Boolean);
for (const s of SIDES) if (s !== "fleet" && s !== "singles") throw new Error(`FLEET_SIDES: unknown side ${s}`);

const log = (...a) => console.log("[fleet]", ...a);
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");

async function measure(side) {
  const child = fork(join(benchDir, "fleet", "node-red-child.mjs"), [], {
    env: { ...process.env, FLEET_SIDE: side, FLEET_N: String(N) },
    stdio: VERBOSE ? "inherit" : ["ignore", "ignore", "inherit", "ipc"],
  });
  const ep = rpc(child, `${side} child`);
  const devices = [];
  try {
    await new Promise((ok, fail) => {
      child.on("message", (m) => { if (m?.type === "ready") ok(); });
      child.once("exit", (code) => fail(new Error(`the ${side} child exited (${code}) before it was ready`)));
    });
    const port = await ep.call("port");
    await sleep(1000);
    const before = await ep.call("sample");
    const tokens = await ep.call("tokens", {}, 600_000);
    // Connect in batches: a thousand CONNECTs at once would only measure the login throttle's patience.
    for (let i = 0; i < tokens.length; i += 50) {
      const batch = tokens.slice(i, i + 50).map((token) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: "device", password: token, clientId: "", reconnectPeriod: 0, keepalive: 60 }));
      devices.push(...(await Promise.all(batch)));
    }
    await sleep(2000);
    const connected = await ep.call("sample");
    // One value a second per device, spread over the second.
    const sent0 = await ep.call("count");
    const start = await ep.call("sample");
    let sent = 0;
    const step = 1000 / devices.length;
    const timers = devices.map((d, i) => setTimeout(() => {
      const tick = () => {
        d.publish("ds/Temperature", String(20 + (sent++ % 10)), { qos: 0 });
      };
      tick();
      d.timer = setInterval(tick, 1000);
    }, i * step));
    await sleep(SECONDS * 1000);
    for (const d of devices) clearInterval(d.timer);
    timers.forEach(clearTimeout);
    for (const deadline = Date.now() + 10_000; (await ep.call("count")) - sent0 < sent && Date.now() < deadline; ) await sleep(100);
    const end = await ep.call("sample");
    const delivered = (await ep.call("count")) - sent0;
    return {
      side,
      rssPerDevice: (connected.rss - before.rss) / N,
      heapPerDevice: (connected.heap - before.heap) / N,
      cpuUsPerMessage: ((end.cpuMs - start.cpuMs) * 1000) / Math.max(1, delivered),
      sent,
      delivered,
    };
  } finally {
    await Promise.all(devices.map((d) => d.endAsync(true).catch(() => undefined)));
    child.kill("SIGTERM");
  }
}

log(`${N} devices per side, one value a second each for ${SECONDS} s; sides: ${SIDES.join(", ")}`);
const results = {};
for (const side of SIDES) {
  const r = await measure(side);
  results[side] = r;
  log(`${side.padEnd(7)}: ${fmt(r.rssPerDevice / 1024, 1)} kB RSS and ${fmt(r.heapPerDevice / 1024, 1)} kB heap per device; ${fmt(r.cpuUsPerMessage, 1)} µs CPU per message (${r.delivered}/${r.sent} delivered)`);
}
if (results.fleet && results.singles) {
  const ratio = (a, b) => fmt(a / b, 2);
  log(`fleet / singles: memory per device ${ratio(results.fleet.rssPerDevice, results.singles.rssPerDevice)} (RSS), ${ratio(results.fleet.heapPerDevice, results.singles.heapPerDevice)} (heap); CPU per message ${ratio(results.fleet.cpuUsPerMessage, results.singles.cpuUsPerMessage)}`);
}
process.exit(0);
