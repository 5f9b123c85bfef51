// Soak: a real Node-RED child process whose iot-broker hosts 200 devices of the three platforms,
// MQTT.js devices sending values that flows write back to them, for a bounded time, with random
// faults: clients killed mid-packet, reconnect storms, redeploys over the admin API, bursts,
// wrong tokens (MQTT and HTTP). Samples RSS, V8 heap (after a GC) and active handles of the
// Node-RED process, prints their trends, counts acknowledged messages that never came back.
//
//   npm run soak                       (builds first; 10 minutes)
//   SOAK_MINUTES=2 npm run soak        SOAK_SAMPLE_S=10 (sampling period)   SOAK_SEED=n (faults)
//   SOAK_DEVICES=200                   SOAK_VERBOSE=1 (the child's log)
//   SOAK_FAULTS=redeploy,burst         only these faults (none: no faults); names: kill, stream,
//                                      storm, redeploy, burst, wrong-mqtt, wrong-http
//   SOAK_HEAP_SNAPSHOTS=1              the child writes a heap snapshot once the fleet is connected
//                                      and one at the end (folder printed); compare: node bench/heap-diff.mjs a b
//
// Exit code: 1 when Node-RED crashed or stopped answering, or an acknowledged message of a
// device left alone by the faults never came back; 0 otherwise. Results: bench/results/soak-latest.json.
// Loopback only, ephemeral ports, every wait bounded, the child killed on exit.
import { startEmbeddedNodeRed } from "./lib/embedded-node-red.mjs";
import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import v8 from "node:v8";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);
const root = resolve(dirname(here), "..");
const require = createRequire(import.meta.url);
const num = (name, fallback) => {
  const v = Number(process.env[name] ?? "");
  return Number.isFinite(v) && v > 0 ? v : fallback;
};
const MINUTES = num("SOAK_MINUTES", 10);
const SAMPLE_S = num("SOAK_SAMPLE_S", MINUTES <= 3 ? 5 : 15);
const SEED = Math.trunc(num("SOAK_SEED", 20261204));
const DEVICES = Math.trunc(num("SOAK_DEVICES", 200));
const VERBOSE = process.env.SOAK_VERBOSE === "1";
const HEAP_SNAPSHOTS = process.env.SOAK_HEAP_SNAPSHOTS === "1";
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** The hosted fleet: ids, credentials, and which devices the faults may touch (the last tenth of each platform). */
function fleet(n) {
  const counts = { blynk: Math.round(n * 0.4), thingsboard: Math.round(n * 0.35) };
  counts.thingspeak = n - counts.blynk - counts.thingsboard;
  const devices = [];
  for (const [platform, count] of Object.entries(counts)) {
    for (let i = 0; i < count; i++) {
      const id = `${{ blynk: "bk", thingsboard: "tb", thingspeak: "ts" }[platform]}${String(i).padStart(4, "0")}`;
      devices.push({ platform, id, chaos: i >= count - Math.max(1, Math.round(count / 10)), token: `SoakToken${id}x${SEED}`, channelId: 9000 + devices.length, password: `SoakPass${id}secret` });
    }
  }
  return devices;
}

// ===== child: Node-RED ========================================================================

async function child() {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const userDir = mkdtempSync(join(tmpdir(), "iot-bridge-soak-"));
  const brokerPort = Number(process.env.SOAK_BROKER_PORT);
  const devices = fleet(DEVICES);
  const flow = [{ id: "soaktab", type: "tab", label: "soak" }, { id: "marker", type: "comment", z: "soaktab", name: "redeploy 0", x: 100, y: 20, wires: [] }];
  const credentials = { broker: { users: JSON.stringify([{ username: "soak", password: "soak-password-1", publish: ["soak/#"], subscribe: ["soak/#"] }]) } };
  flow.push({ id: "broker", type: "iot-broker", z: "soaktab", name: "soak", port: String(brokerPort), bind: "127.0.0.1", allowAnonymous: false, persistence: "memory", x: 100, y: 60, wires: [[]] });
  const node = (n) => flow.push({ z: "soaktab", x: 300, y: 100, ...n });
  for (const d of devices) {
    const fn = (body) => ({ id: `fn-${d.id}`, type: "function", func: body, outputs: 1, wires: [[`out-${d.id}`]] });
    if (d.platform === "blynk") {
      flow.push({ id: d.id, type: "blynk-device", name: `soak ${d.id}`, connection: "local", broker: "broker" });
      credentials[d.id] = { token: d.token };
      node({ id: `in-${d.id}`, type: "blynk-device-in", device: d.id, datastream: "Temp", wires: [[`fn-${d.id}`]] });
      node(fn("return { payload: msg.payload };"));
      node({ id: `out-${d.id}`, type: "blynk-write", device: d.id, datastream: "Echo", wires: [[]] });
    } else if (d.platform === "thingsboard") {
      flow.push({ id: d.id, type: "thingsboard-device", name: `soak ${d.id}`, connection: "local", broker: "broker" });
      credentials[d.id] = { token: d.token };
      node({ id: `in-${d.id}`, type: "thingsboard-telemetry", device: d.id, wires: [[`fn-${d.id}`]] });
      node(fn('return msg.payload && msg.payload.seq !== undefined ? { topic: "echo", payload: msg.payload.seq } : null;'));
      node({ id: `out-${d.id}`, type: "thingsboard-attributes", device: d.id, wires: [[]] });
    } else {
      flow.push({ id: d.id, type: "thingspeak-channel", name: `soak ${d.id}`, connection: "local", broker: "broker", channelId: String(d.channelId), updateInterval: "1" });
      credentials[d.id] = { clientId: `ts-${d.id}`, username: `user-${d.id}`, password: d.password, writeKey: `WK${d.id}`, readKey: `RK${d.id}` };
      node({ id: `in-${d.id}`, type: "thingspeak-field", channel: d.id, field: "1", mode: "subscribe", wires: [[`fn-${d.id}`]] });
      node(fn("return { payload: msg.payload };"));
      node({ id: `out-${d.id}`, type: "thingspeak-field", channel: d.id, field: "2", mode: "write", wires: [[]] });
    }
  }
  const link = join(userDir, "node_modules", ...pkg.name.split("/"));
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(root, link, "dir");
  writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "soak-userdir", private: true, dependencies: { [pkg.name]: "file:" + root } }));
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow));
  writeFileSync(join(userDir, "flows_cred.json"), JSON.stringify(credentials)); // plain: credentialSecret false, a throwaway userDir

  const logged = { warn: 0, error: 0, texts: new Map() };
  const { RED, server } = await startEmbeddedNodeRed({
    userDir,
    logging: {
      soak: {
        level: VERBOSE ? "info" : "warn",
        metrics: false,
        audit: false,
        handler: () => (entry) => {
          if (VERBOSE) console.log(`[node-red] ${entry.msg}`);
          if (entry.level > 40) return; // 30 = warn, 20 = error, 10 = fatal
          if (entry.level <= 20) logged.error++;
          else logged.warn++;
          const key = String(entry.msg).replace(/\d+/g, "#").slice(0, 120);
          logged.texts.set(key, (logged.texts.get(key) ?? 0) + 1);
        },
      },
    },
  });
  const stop = () => {
    const hard = setTimeout(() => process.exit(0), 5000);
    hard.unref();
    Promise.resolve(RED.stop())
      .catch(() => undefined)
      .finally(() => {
        rmSync(userDir, { recursive: true, force: true });
        process.exit(0);
      });
  };
  process.on("disconnect", stop);
  process.on("message", (msg) => {
    if (msg?.cmd === "stop") return stop();
    if (msg?.cmd === "snapshot") {
      globalThis.gc?.();
      const file = v8.writeHeapSnapshot(join(msg.dir, `${msg.name}.heapsnapshot`));
      process.send({ type: `snapshot-${msg.name}`, file });
      return;
    }
    if (msg?.cmd !== "sample") return;
    globalThis.gc?.();
    const m = process.memoryUsage();
    const resources = process.getActiveResourcesInfo();
    const byType = {};
    for (const r of resources) byType[r] = (byType[r] ?? 0) + 1;
    const top = [...logged.texts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
    process.send({ type: "sample", id: msg.id, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, handles: resources.length, byType, warn: logged.warn, error: logged.error, top });
  });
  process.send({ type: "ready", adminPort: server.address().port });
}

// ===== parent: devices, faults, sampling ========================================================

/** mulberry32: a small seeded PRNG, so a run's faults can be replayed with SOAK_SEED. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

function connectOptions(d, extra = {}) {
  if (d.platform === "blynk") return { username: "device", password: d.token, clientId: "", ...extra };
  if (d.platform === "thingsboard") return { username: d.token, clientId: `tb-${d.id}`, ...extra };
  return { clientId: `ts-${d.id}`, username: `user-${d.id}`, password: d.password, ...extra };
}

/** A device as its firmware behaves: sends numbered values, notes which were acknowledged and which came back. */
function startDevice(mqtt, url, d, stats) {
  const client = mqtt.connect(url, { reconnectPeriod: 1000, connectTimeout: 10_000, ...connectOptions(d) });
  const state = { d, client, seq: 0, acked: new Set(), echoed: new Set(), timer: undefined };
  client.on("error", () => stats.clientErrors++);
  client.on("connect", () => {
    stats.connects++;
    const topic = d.platform === "blynk" ? "downlink/#" : d.platform === "thingsboard" ? "v1/devices/me/attributes" : `channels/${d.channelId}/subscribe`;
    client.subscribe(topic, { qos: d.platform === "thingspeak" ? 0 : 1 });
  });
  client.on("message", (topic, body) => {
    const text = body.toString();
    let value;
    if (d.platform === "blynk" && topic === "downlink/ds/Echo") value = Number(text);
    else if (d.platform === "thingsboard") value = safeJson(text)?.echo;
    else if (d.platform === "thingspeak") value = Number(safeJson(text)?.field2 ?? Number.NaN);
    if (Number.isInteger(value) && !state.echoed.has(value)) {
      state.echoed.add(value);
      stats.echoed++;
    }
  });
  const periodMs = d.platform === "thingspeak" ? 4000 : 2500;
  const send = () => {
    if (!client.connected) return;
    const n = ++state.seq;
    stats.sent++;
    if (d.platform === "blynk") client.publish("ds/Temp", String(n), { qos: 1 }, (err) => !err && state.acked.add(n));
    else if (d.platform === "thingsboard") client.publish("v1/devices/me/telemetry", JSON.stringify({ seq: n }), { qos: 1 }, (err) => !err && state.acked.add(n));
    else client.publish(`channels/${d.channelId}/publish`, `field1=${n}`, { qos: 0 }, (err) => !err && state.acked.add(n));
  };
  // Spread the devices' first sends over one period so the load is even.
  setTimeout(() => {
    send();
    state.timer = setInterval(send, periodMs);
  }, Math.random() * periodMs).unref();
  return state;
}
function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Least-squares slope of y over x (per unit of x). */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function parent() {
  const started = Date.now();
  const date = new Date().toISOString();
  const mqtt = require("mqtt");
  const mqttPacket = require("mqtt-packet");
  const random = prng(SEED);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const brokerPort = await freePort();
  const devices = fleet(DEVICES);
  console.log(`soak: ${MINUTES} min, ${devices.length} hosted devices (${["blynk", "thingsboard", "thingspeak"].map((p) => `${devices.filter((d) => d.platform === p).length} ${p}`).join(", ")}), sample every ${SAMPLE_S} s, SOAK_SEED=${SEED}`);

  const nodeRed = fork(here, ["--child"], { execArgv: ["--expose-gc"], env: { ...process.env, SOAK_BROKER_PORT: String(brokerPort) }, stdio: ["ignore", VERBOSE ? "inherit" : "ignore", "pipe", "ipc"] });
  let stderr = "";
  nodeRed.stderr.on("data", (c) => (stderr = (stderr + c).slice(-8000)));
  let crashed;
  let stopping = false;
  const exited = new Promise((ok) => nodeRed.on("exit", (code, signal) => ok({ code, signal })));
  void exited.then(({ code, signal }) => {
    if (!stopping) crashed = `Node-RED exited during the soak (code ${code}, signal ${signal}); its stderr:\n${stderr}`;
  });
  const killChild = () => nodeRed.exitCode === null && nodeRed.kill("SIGKILL");
  process.on("exit", killChild);
  process.on("SIGINT", () => process.exit(130));

  const replies = new Map();
  let sampleId = 0;
  nodeRed.on("message", (msg) => replies.get(msg.type === "sample" ? msg.id : msg.type)?.(msg));
  const ask = (key, send, ms) =>
    Promise.race([
      new Promise((ok) => {
        replies.set(key, ok);
        send?.();
      }),
      sleep(ms).then(() => {
        throw new Error(crashed ?? `Node-RED did not answer "${key}" within ${ms} ms`);
      }),
    ]).finally(() => replies.delete(key));
  const { adminPort } = await ask("ready", undefined, 120_000);
  const url = `mqtt://127.0.0.1:${brokerPort}`;
  const http = `http://127.0.0.1:${adminPort}`;
  console.log(`soak: Node-RED ready (admin ${http}, broker ${url}) after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const samples = [];
  const sample = async () => {
    const id = ++sampleId;
    const s = await ask(id, () => nodeRed.send({ cmd: "sample", id }), 30_000);
    samples.push({ t: (Date.now() - t0) / 60_000, ...s });
    if (VERBOSE || samples.length % 4 === 1) console.log(`  t=${samples.at(-1).t.toFixed(1)} min  rss ${(s.rss / 2 ** 20).toFixed(1)} MiB  heap ${(s.heapUsed / 2 ** 20).toFixed(1)} MiB  handles ${s.handles}  warn/error ${s.warn}/${s.error}`);
  };

  const stats = { sent: 0, echoed: 0, connects: 0, clientErrors: 0, faults: {} };
  const fault = (name) => (stats.faults[name] = (stats.faults[name] ?? 0) + 1);
  const t0 = Date.now();
  await sample();
  const states = devices.map((d) => startDevice(mqtt, url, d, stats));
  const chaos = states.filter((s) => s.d.chaos);
  const extraSockets = new Set();

  /** Each fault is one function; the loop runs one at random every 0.5-2 s. */
  const FAULTS = {
    "kill mid-packet": () => {
      const d = pick(chaos).d;
      const socket = net.connect(brokerPort, "127.0.0.1");
      extraSockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => extraSockets.delete(socket));
      const connect = mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, keepalive: 30, ...connectOptions({ ...d }, {}), password: d.platform === "thingsboard" ? undefined : Buffer.from(connectOptions(d).password) });
      const publish = mqttPacket.generate({ cmd: "publish", topic: "ds/Temp", payload: Buffer.alloc(200, 49), qos: 1, messageId: 7 });
      socket.write(connect);
      socket.write(publish.subarray(0, 1 + Math.floor(random() * (publish.length - 1))), () => socket.destroy());
    },
    "device stream killed": () => {
      const s = pick(chaos);
      s.client.stream?.destroy();
    },
    "reconnect storm": async () => {
      const n = 20 + Math.floor(random() * 30);
      const clients = Array.from({ length: n }, (_, i) => mqtt.connect(url, { username: "soak", password: "soak-password-1", clientId: `storm-${i}`, reconnectPeriod: 0, connectTimeout: 10_000 }));
      await Promise.all(clients.map((c) => new Promise((ok) => (c.once("connect", ok), c.once("error", ok), c.once("close", ok)))));
      clients.forEach((c) => c.end(true));
    },
    redeploy: async () => {
      const got = await fetch(`${http}/flows`, { headers: { "Node-RED-API-Version": "v2" } }).then((r) => r.json());
      const marker = got.flows.find((n) => n.id === "marker");
      marker.name = `redeploy ${stats.faults.redeploy}`;
      const res = await fetch(`${http}/flows`, { method: "POST", headers: { "Content-Type": "application/json", "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "nodes" }, body: JSON.stringify({ rev: got.rev, flows: got.flows }) });
      if (!res.ok) throw new Error(`redeploy answered ${res.status}: ${await res.text()}`);
    },
    burst: async () => {
      const s = pick(chaos);
      if (!s.client.connected) return;
      const n = 200 + Math.floor(random() * 800);
      for (let i = 0; i < n; i++) {
        if (s.d.platform === "blynk") s.client.publish(i % 2 === 0 ? "ds/Temp" : "get/ds", i % 2 === 0 ? "-1" : "Temp", { qos: 0 });
        else if (s.d.platform === "thingsboard") s.client.publish(i % 2 === 0 ? "v1/devices/me/telemetry" : `v1/devices/me/attributes/request/${i}`, i % 2 === 0 ? '{"burst":1}' : '{"sharedKeys":"echo"}', { qos: 0 });
        else s.client.publish(`channels/${s.d.channelId}/publish`, "field3=1", { qos: 0 });
      }
    },
    "wrong token (MQTT)": async () => {
      const d = pick(devices);
      const c = mqtt.connect(url, { ...connectOptions(d), username: d.platform === "thingsboard" ? "NotAToken" : connectOptions(d).username, password: "wrong-password", clientId: `wrong-${d.id}`, reconnectPeriod: 0, connectTimeout: 10_000 });
      await new Promise((ok) => (c.once("connect", ok), c.once("error", ok), c.once("close", ok)));
      c.end(true);
    },
    "wrong token (HTTP)": async () => {
      const paths = ["/api/external/api/update?token=NotAToken&Temp=1", "/api/api/v1/NotAToken/telemetry", "/api/update?api_key=NOTAKEY&field1=1"];
      const path = pick(paths);
      await fetch(`${http}${path}`, path.includes("/v1/") ? { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"a":1}' } : {}).then((r) => r.arrayBuffer());
    },
  };

  const faultIds = { kill: "kill mid-packet", stream: "device stream killed", storm: "reconnect storm", redeploy: "redeploy", burst: "burst", "wrong-mqtt": "wrong token (MQTT)", "wrong-http": "wrong token (HTTP)" };
  const wanted = (process.env.SOAK_FAULTS ?? "").split(",").map((w) => w.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => w !== "none" && !(w in faultIds));
  if (unknown.length > 0) throw new Error(`SOAK_FAULTS: unknown fault(s) ${unknown.join(", ")}; accepted: none, ${Object.keys(faultIds).join(", ")}`);
  const faultNames = wanted.length === 0 ? Object.keys(FAULTS) : wanted.filter((w) => w !== "none").map((w) => faultIds[w]);
  console.log(`soak: faults ${faultNames.length === 0 ? "off" : faultNames.join(", ")}`);

  const snapshotDir = HEAP_SNAPSHOTS ? mkdtempSync(join(tmpdir(), "iot-bridge-soak-heap-")) : undefined;
  const snapshot = async (name) => {
    const { file } = await ask(`snapshot-${name}`, () => nodeRed.send({ cmd: "snapshot", dir: snapshotDir, name }), 120_000);
    console.log(`soak: heap snapshot ${file}`);
  };
  let snapshotAt = HEAP_SNAPSHOTS ? t0 + Math.min(1, MINUTES / 5) * 60_000 : Number.POSITIVE_INFINITY;

  const endAt = t0 + MINUTES * 60_000;
  let nextSample = Date.now() + SAMPLE_S * 1000;
  const faultErrors = [];
  while (Date.now() < endAt && crashed === undefined) {
    if (faultNames.length > 0) {
      const name = pick(faultNames);
      fault(name);
      try {
        await Promise.race([FAULTS[name](), sleep(30_000).then(() => Promise.reject(new Error("took over 30 s")))]);
      } catch (err) {
        faultErrors.push(`${name}: ${err.message}`);
      }
    }
    if (Date.now() >= snapshotAt) {
      snapshotAt = Number.POSITIVE_INFINITY;
      await snapshot("1-connected").catch((err) => (crashed ??= err.message));
    }
    if (Date.now() >= nextSample) {
      try {
        await sample();
      } catch (err) {
        crashed ??= err.message;
      }
      nextSample += SAMPLE_S * 1000;
    }
    await sleep(500 + random() * 1500);
  }

  // Drain: stop sending, give the last echoes a bounded time to arrive (until quiet for 3 s, at most 20 s).
  for (const s of states) clearInterval(s.timer);
  for (let last = stats.echoed, quietSince = Date.now(), until = Date.now() + 20_000; Date.now() < until && crashed === undefined; await sleep(250)) {
    if (stats.echoed !== last) [last, quietSince] = [stats.echoed, Date.now()];
    else if (Date.now() - quietSince > 3000) break;
  }
  if (crashed === undefined) await sample().catch((err) => (crashed ??= err.message));
  if (HEAP_SNAPSHOTS && crashed === undefined) await snapshot("2-end").catch((err) => (crashed ??= err.message));

  // Lost: acknowledged (QoS 1) by the broker, never written back by the flow. ThingSpeak (QoS 0,
  // one update per interval, writes coalesced) counts only whether its latest value came back.
  const steady = states.filter((s) => !s.d.chaos);
  const loss = {};
  for (const platform of ["blynk", "thingsboard", "thingspeak"]) {
    const mine = steady.filter((s) => s.d.platform === platform);
    const acked = mine.reduce((n, s) => n + s.acked.size, 0);
    const lost = platform === "thingspeak" ? mine.filter((s) => s.acked.size > 0 && s.echoed.size === 0).length : mine.reduce((n, s) => n + [...s.acked].filter((v) => !s.echoed.has(v)).length, 0);
    loss[platform] = { devices: mine.length, acknowledged: acked, lost, ...(platform === "thingspeak" ? { note: "lost = channels none of whose values came back" } : {}) };
  }
  for (const s of states) s.client.end(true);
  for (const socket of extraSockets) socket.destroy();
  stopping = true;
  nodeRed.send({ cmd: "stop" });
  await Promise.race([exited, sleep(10_000)]);
  killChild();

  const trend = (key, scale) => {
    const warm = samples.filter((s) => s.t >= Math.min(1, MINUTES / 5)); // after the fleet connected
    const use = warm.length >= 2 ? warm : samples;
    const at = (i) => (use.length === 0 ? Number.NaN : use[Math.min(use.length - 1, Math.max(0, i))][key] / scale);
    return { start: at(0), mid: at(Math.floor(use.length / 2)), end: at(use.length - 1), perMinute: slope(use.map((s) => [s.t, s[key] / scale])) };
  };
  const MiB = 2 ** 20;
  const result = {
    date,
    minutes: MINUTES,
    seed: SEED,
    devices: devices.length,
    crashed: crashed ?? null,
    rssMiB: trend("rss", MiB),
    heapUsedMiB: trend("heapUsed", MiB),
    handles: trend("handles", 1),
    lastHandlesByType: samples.at(-1)?.byType,
    traffic: { sent: stats.sent, echoed: stats.echoed, deviceConnects: stats.connects, clientErrors: stats.clientErrors },
    loss,
    faults: stats.faults,
    faultErrors: faultErrors.slice(0, 10),
    nodeRedLog: { warnings: samples.at(-1)?.warn, errors: samples.at(-1)?.error, top: samples.at(-1)?.top },
    samples: samples.map(({ t, rss, heapUsed, handles }) => ({ t, rss, heapUsed, handles })),
  };
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(join(root, "bench", "results", "soak-latest.json"), JSON.stringify(result, null, 2));

  const f = (t) => `start ${t.start.toFixed(1)}  mid ${t.mid.toFixed(1)}  end ${t.end.toFixed(1)}  slope ${t.perMinute >= 0 ? "+" : ""}${t.perMinute.toFixed(2)}/min`;
  console.log(`\nsoak ${date}: ${MINUTES} min, ${devices.length} devices, SOAK_SEED=${SEED}`);
  console.log(`  RSS (MiB)        ${f(result.rssMiB)}`);
  console.log(`  heap used (MiB)  ${f(result.heapUsedMiB)}   (after a GC)`);
  console.log(`  active handles   ${f(result.handles)}`);
  console.log(`  traffic          ${stats.sent} values sent, ${stats.echoed} written back, ${stats.connects} device connects`);
  console.log(`  faults           ${Object.entries(stats.faults).map(([k, v]) => `${k} ${v}`).join(", ")}${faultErrors.length > 0 ? `; ${faultErrors.length} fault(s) failed, e.g. ${faultErrors[0]}` : ""}`);
  for (const [platform, l] of Object.entries(loss)) console.log(`  lost (${platform.padEnd(11)}) ${l.lost} of ${l.acknowledged} acknowledged, ${l.devices} steady devices${l.note ? ` (${l.note})` : ""}`);
  console.log(`  Node-RED log     ${result.nodeRedLog.warnings} warnings, ${result.nodeRedLog.errors} errors${result.nodeRedLog.top?.length ? `; most frequent: ${result.nodeRedLog.top.slice(0, 3).map(([k, v]) => `${v}x ${k}`).join(" | ")}` : ""}`);
  const lost = loss.blynk.lost + loss.thingsboard.lost + loss.thingspeak.lost;
  // A soak in which nothing went round proves nothing: that is a failure of the soak itself.
  if (crashed === undefined && (stats.sent === 0 || stats.echoed === 0)) crashed = `no traffic went round (${stats.sent} sent, ${stats.echoed} written back)`;
  if (crashed !== undefined) console.log(`\nFAIL: ${crashed}`);
  else if (lost > 0) console.log(`\nFAIL: ${lost} acknowledged value(s) of steady devices never came back`);
  else console.log("\nPASS: no crash, nothing acknowledged was lost");
  process.exitCode = crashed !== undefined || lost > 0 ? 1 : 0;
}

if (process.argv.includes("--child")) await child();
else await parent();
