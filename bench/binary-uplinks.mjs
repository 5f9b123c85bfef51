#!/usr/bin/env node
// Blynk binary protocol vs MQTT into the flows (issue 11): DEVICES hosted Blynk devices send
// `vw 1 <value>` over Blynk's binary hardware protocol on the broker's blynkPort, DEVICES more
// (same settings) publish `ds/Temperature` over MQTT; both reach a blynk-device-in per device and
// are counted in the flow by sequence number. Same run, sides alternating, median of the ratios.
// See bench/README.md ("Blynk binary protocol vs MQTT").
//
//   node bench/binary-uplinks.mjs                 # full run
//   BENCH_QUICK=1 node bench/binary-uplinks.mjs   # short run
//   BINARY_N, BINARY_REPS, BINARY_WINDOW
import { positiveIntEnv, QUICK, VERBOSE } from "./lib/env.mjs";
import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";
import { rpc } from "./platforms/rpc.mjs";
import { DEVICES, SEQ0, binaryToken, mqttToken } from "./binary/flows.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(benchDir, "results");
const CONFIG = {
  n: positiveIntEnv("BINARY_N", QUICK ? 5_000 : 30_000),
  warmup: QUICK ? 2_000 : 10_000,
  reps: positiveIntEnv("BINARY_REPS", QUICK ? 3 : 5),
  window: positiveIntEnv("BINARY_WINDOW", 2_000),
  burst: 10,
  idleMs: 5_000,
  timeLimitMs: QUICK ? 240_000 : 600_000,
};
const log = (...a) => console.log("[binary-uplinks]", ...a);
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d }) : "n/a");
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

let child;
let ep;
const progress = new Map();
process.on("exit", () => {
  try {
    child?.kill("SIGTERM");
  } catch {
    // gone
  }
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(130));
const watchdog = setTimeout(() => {
  console.error(`[binary-uplinks] the run took longer than ${CONFIG.timeLimitMs / 1000} s: stopped`);
  process.exit(1);
}, CONFIG.timeLimitMs);
watchdog.unref();

function startNodeRed() {
  child = fork(join(benchDir, "uplinks", "node-red-child.mjs"), [], {
    env: { ...process.env, BENCH_FLOWS: "../binary/flows.mjs" },
    stdio: VERBOSE ? "inherit" : ["ignore", "ignore", "inherit", "ipc"],
  });
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

// ---- devices ---------------------------------------------------------------------------------------
/** A binary frame: command, id, NUL-joined fields. */
function frame(command, id, ...fields) {
  const body = Buffer.from(fields.join("\0"));
  const head = Buffer.alloc(5);
  head[0] = command;
  head.writeUInt16BE(id, 1);
  head.writeUInt16BE(body.length, 3);
  return Buffer.concat([head, body]);
}

/** One binary-protocol device: logs in (HW_LOGIN id 1), says its heartbeat, then writes `vw 1 <v>`. */
function binaryDevice(port, token) {
  return new Promise((ok, fail) => {
    const socket = netConnect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let id = 1;
    socket.once("error", fail);
    socket.once("close", () => fail(new Error("closed before the login was answered")));
    socket.once("connect", () => socket.write(frame(29, 1, token)));
    socket.once("data", (data) => {
      if (data[0] !== 0 || data.readUInt16BE(3) !== 200) return fail(new Error(`login answered ${data.readUInt16BE(3)}`));
      socket.on("data", () => undefined); // nothing else is expected (no sync on connect)
      socket.write(frame(17, ++id, "ver", "1.3.2", "h-beat", "600", "buff-in", "1024", "dev", "bench"));
      ok({
        publish(value) {
          id = id >= 0xffff ? 2 : id + 1;
          // As MQTT.js writes its packets (cork, uncork on the next tick): the frames of one burst
          // leave in one write, so both sides' load costs the same per message.
          socket.cork();
          socket.write(frame(20, id, "vw", "1", value));
          process.nextTick(() => socket.uncork());
        },
        end: () => socket.destroy(),
      });
    });
  });
}

/** binaryDevice, tried again while the broker is not serving the device yet (its flow still starting). */
async function binaryDeviceRetrying(port, token) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await binaryDevice(port, token);
    } catch (err) {
      if (attempt >= 40) throw err;
      await new Promise((ok) => setTimeout(ok, 250));
    }
  }
}

async function connectDevices(ready) {
  const binary = [];
  const viaMqtt = [];
  for (let i = 0; i < DEVICES; i += 20) {
    const batch = [];
    for (let d = i; d < Math.min(DEVICES, i + 20); d++) {
      batch.push(binaryDeviceRetrying(ready.blynkPort, binaryToken(d)).then((c) => binary.push(c)));
      batch.push(
        mqtt.connectAsync(`mqtt://127.0.0.1:${ready.port}`, { reconnectPeriod: 0, connectTimeout: 20_000, clean: true, protocolVersion: 4, keepalive: 60, clientId: "", username: "device", password: mqttToken(d) }).then((c) => {
          c.stream.setNoDelay?.(true);
          c.on("error", (err) => console.error(`[binary-uplinks] mqtt device: ${err.message}`));
          viaMqtt.push({ publish: (value) => c.publish("ds/Temperature", value, { qos: 0 }), end: () => c.end(true) });
        }),
      );
    }
    await Promise.all(batch);
  }
  return { binary, mqtt: viaMqtt };
}

async function trial(side, devices, n) {
  const every = Math.max(1, Math.min(250, Math.floor(CONFIG.window / 4)));
  await ep.call("arm", { side, n, idleMs: CONFIG.idleMs, every });
  let sent = 0;
  let delivered = 0;
  await new Promise((done) => {
    let waiting = false;
    const fill = () => {
      waiting = false;
      while (sent < n && sent - delivered < CONFIG.window) {
        devices[Math.floor(sent / CONFIG.burst) % DEVICES].publish(String(SEQ0 + sent));
        sent++;
      }
      if (sent >= n) done();
    };
    progress.set(side, (count) => {
      delivered = count;
      if (!waiting && sent < n && sent - delivered <= CONFIG.window / 2) {
        waiting = true;
        setImmediate(fill);
      }
    });
    fill();
  });
  const result = await ep.call("result", { side }, 120_000);
  progress.delete(side);
  const spanMs = result.lastAt - result.firstAt;
  return { side, n, delivered: result.delivered, lost: result.lost, msgPerSec: (result.delivered - 1) / (spanMs / 1000), cpuUsPerMsg: (result.cpuMs * 1000) / result.delivered };
}

// ---- main ------------------------------------------------------------------------------------------
const loadBefore = loadavg();
const t0 = Date.now();
const ready = await startNodeRed();
log(`Node-RED ${ready.nodeRed}: MQTT on ${ready.port}, Blynk binary on ${ready.blynkPort}; ${DEVICES} devices per side; ${QUICK ? "quick" : "full"} run`);
const devices = await connectDevices(ready);
for (const side of ["binary", "mqtt"]) {
  const probe = await trial(side, devices[side], DEVICES * CONFIG.burst);
  if (probe.lost > 0) throw new Error(`${side}: ${probe.lost} probe messages did not reach the flow`);
  await trial(side, devices[side], CONFIG.warmup);
}
const trials = [];
for (let rep = 0; rep < CONFIG.reps; rep++) {
  for (const side of rep % 2 === 0 ? ["binary", "mqtt"] : ["mqtt", "binary"]) {
    const r = await trial(side, devices[side], CONFIG.n);
    trials.push({ rep, ...r });
    log(`rep ${rep + 1}/${CONFIG.reps} ${side}: ${fmt(r.msgPerSec)} msg/s into blynk-device-in, ${fmt(r.cpuUsPerMsg, 1)} µs Node-RED CPU/msg, lost ${r.lost}`);
  }
}
const of = (side) => trials.filter((t) => t.side === side);
const ratios = [];
for (let rep = 0; rep < CONFIG.reps; rep++) ratios.push(of("binary").find((t) => t.rep === rep).msgPerSec / of("mqtt").find((t) => t.rep === rep).msgPerSec);
const row = (side) => ({ msgPerSec: median(of(side).map((t) => t.msgPerSec)), cpuUsPerMsg: median(of(side).map((t) => t.cpuUsPerMsg)), lost: of(side).reduce((sum, t) => sum + t.lost, 0) });
const binary = row("binary");
const viaMqtt = row("mqtt");
const ratio = median(ratios);
const verdict = binary.lost + viaMqtt.lost > 0 ? "FAIL (loss)" : ratio >= 1.0 ? "PASS" : "FAIL";
console.log("");
console.log(`Blynk uplinks into blynk-device-in: ${DEVICES} devices over the binary protocol vs ${DEVICES} over MQTT, median of ${CONFIG.reps}`);
console.log("| binary msg/s | MQTT msg/s | ratio (median of pairs) | binary µs CPU/msg | MQTT µs CPU/msg | lost binary/MQTT | goal >= 1.0x |");
console.log("|---:|---:|---:|---:|---:|---:|---|");
console.log(`| ${fmt(binary.msgPerSec)} | ${fmt(viaMqtt.msgPerSec)} | ${fmt(ratio, 2)}x | ${fmt(binary.cpuUsPerMsg, 1)} | ${fmt(viaMqtt.cpuUsPerMsg, 1)} | ${binary.lost}/${viaMqtt.lost} | ${verdict} |`);
const loadAfter = loadavg();
console.log(`load average ${loadBefore[0].toFixed(2)} at the start, ${loadAfter[0].toFixed(2)} at the end; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, "binary-uplinks.json"), JSON.stringify({ config: CONFIG, devices: DEVICES, loadBefore, loadAfter, binary, mqtt: viaMqtt, ratio, trials }, null, 2));
for (const d of [...devices.binary, ...devices.mqtt]) d.end();
await ep.call("close", {}, 10_000).catch(() => undefined);
clearTimeout(watchdog);
process.exit(0);
