// One iot-broker as the node builds it (nodes/iot-broker.ts start()): the flow properties of one
// persistence kind through node-config.ts parseBrokerNode, the storage from openBrokerStorage
// (store/broker-storage.ts), a BrokerEngine with an aedes id of its own on engineStorageOptions
// (QoS 1 PUBACK after the storage's flush), a TCP listener, registered under the node's id so
// devices can be hosted on it. Started by bench/storage.mjs:
//
//   node broker-child.mjs serve '<json>'   run it (IPC, lib/broker-child.mjs): start-up timings in
//                                          `info`; `host` hosts Blynk devices (the hosted-device
//                                          seam, as local-mode blynk-device nodes do), `history`
//                                          counts what their history holds (after a reopen too)
//   node broker-child.mjs fill '<json>'    no engine: stores N history values and the devices'
//                                          state, prints `RESULT {...}` and exits
// json: { kind, dir, server?: { url }, nodeId, devices?, values? }
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { BENCH_USER, runBrokerChild } from "../lib/broker-child.mjs";
import { DIST_BLYNK, DIST_BROKER, DIST_STORE, STREAM, deviceId, tokenOf } from "./common.mjs";
import { KINDS } from "./kinds.mjs";

const require = createRequire(import.meta.url);
const [mode, json] = process.argv.slice(2);
const cfg = JSON.parse(json);
const t0 = performance.now();
const { parseBrokerNode } = require(join(DIST_BROKER, "node-config.js"));
const { engineStorageOptions } = require(join(DIST_BROKER, "broker-storage.js"));
const { BrokerEngine, brokers } = require(join(DIST_BROKER, "index.js"));
const { openBrokerStorage, openSqliteStorage } = require(join(DIST_STORE, "index.js"));
const { hostBlynkDeviceHandle } = require(join(DIST_BLYNK, "emulation.js"));
const { BlynkDeviceStore } = require(join(DIST_BLYNK, "hosted-store.js"));
const loadedMs = performance.now() - t0;

// STORAGE_COMMITS=1 (a diagnostic, not for figures): count the SQLite group commits and the time in them.
const commits = { count: 0, ms: 0, writes: 0 };
if (process.env.STORAGE_COMMITS === "1") {
  const { GroupCommit } = require(join(DIST_STORE, "index.js"));
  const commitNow = GroupCommit.prototype.commitNow;
  GroupCommit.prototype.commitNow = function () {
    const pending = this.pending;
    const t = performance.now();
    commitNow.call(this);
    if (pending > 0) {
      commits.count++;
      commits.writes += pending;
      commits.ms += performance.now() - t;
    }
  };
}

/** The node's settings: its flow properties for the kind, the bench user, no per-device rate limit (it would measure the limit). */
function settingsOf() {
  const props = { port: "1", bind: "127.0.0.1", allowAnonymous: false, deviceRateLimit: "0", ...KINDS[cfg.kind].props({ dir: cfg.dir, server: cfg.server }) };
  const users = [{ ...BENCH_USER, publish: ["#"], subscribe: ["#"] }];
  return parseBrokerNode(props, { users: JSON.stringify(users) }, { userDir: cfg.dir, nodeId: cfg.nodeId });
}

// The broker's side of the store latency: from the accepted QoS 1 PUBLISH (the engine's
// authorizePublish hook) to its PUBACK written after the flush (puback-after-publish.ts calls
// `done` then). Only timed while `latency` asks for it; the same code runs either way.
const brokerSide = { on: false, samples: [] };
{
  const { PubackAfterPublish } = require(join(DIST_BROKER, "puback-after-publish.js"));
  const publish = PubackAfterPublish.prototype.publish;
  PubackAfterPublish.prototype.publish = function (client, packet, done) {
    if (!brokerSide.on) return publish.call(this, client, packet, done);
    const t = performance.now();
    return publish.call(this, client, packet, (err) => {
      brokerSide.samples.push(performance.now() - t);
      done(err);
    });
  };
}

/** The storage, as the node opens it (a diagnostic kind's own options aside). */
function openStorage(settings) {
  const options = KINDS[cfg.kind].storageOptions;
  return options === undefined ? openBrokerStorage(settings) : openSqliteStorage(settings, options);
}

/** Storage problems, as the node's reporter would show them. */
const problems = [];
const reporter = {
  failed: (err) => problems.push(`failed: ${err.message}`),
  recovered: () => problems.push("recovered"),
  badRow: (what) => problems.push(`bad row: ${what}`),
};

/** Resolves with ms until the CONNACK of one raw MQTT 3.1.1 CONNECT of the bench user (accepting connections). */
function firstConnack(port) {
  const str = (s) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([str("MQTT"), Buffer.from([4, 0xc2, 0, 60]), str("startup-probe"), str(BENCH_USER.username), str(BENCH_USER.password)]);
  const packet = Buffer.concat([Buffer.from([0x10, body.length]), body]);
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1", () => socket.write(packet));
    const timer = setTimeout(() => reject(new Error("no CONNACK in 10 s")), 10_000);
    socket.once("data", (d) => {
      clearTimeout(timer);
      socket.end(Buffer.from([0xe0, 0]));
      if (d[0] === 0x20 && d[3] === 0) resolve(performance.now());
      else reject(new Error(`refused: ${d.toString("hex")}`));
    });
    socket.on("error", reject);
  });
}

if (mode === "fill") await fill();
else await serve();

async function serve() {
  const settings = settingsOf();
  let storage;
  let engine;
  const handles = [];
  const start = async () => {
    const tOpen = performance.now();
    storage = await openStorage(settings.storage);
    const tOpened = performance.now();
    storage.report(reporter);
    engine = new BrokerEngine({ id: `node-red-${cfg.nodeId}-${randomBytes(4).toString("hex")}`, ...settings.options, ...engineStorageOptions(storage) });
    engine.on("event", () => undefined);
    engine.on("clients", () => undefined);
    const [, info] = await Promise.all([engine.ready(), engine.listen({ kind: "tcp", host: settings.host, port: 0 })]);
    brokers.attach(cfg.nodeId, engine);
    const tListening = performance.now();
    const tAccepting = await firstConnack(info.port);
    return { port: info.port, timings: { loadedMs, openMs: tOpened - tOpen, listeningMs: tListening - tOpen, acceptingMs: tAccepting - tOpen, sinceProcessStartMs: tAccepting } };
  };
  const closeAll = async () => {
    await Promise.allSettled(handles.splice(0).map((h) => h.close()));
    if (engine !== undefined) {
      brokers.detach(cfg.nodeId, engine);
      await engine.close();
      engine = undefined;
    }
    storage?.close();
    storage = undefined;
  };

  await runBrokerChild(`storage-${cfg.kind}`, async () => {
    const { port, timings } = await start();
    return {
      port,
      info: { timings },
      clients: () => engine?.connectedClients ?? 0,
      close: closeAll,
      handlers: {
        commits: () => ({ ...commits }),
        /** on: start timing; off: stop and answer the percentiles. */
        latency: ({ on }) => {
          brokerSide.on = on;
          if (on) {
            brokerSide.samples = [];
            return true;
          }
          const xs = brokerSide.samples.sort((a, b) => a - b);
          const pct = (p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
          return { n: xs.length, p50: pct(50), p90: pct(90), p99: pct(99), max: xs[xs.length - 1] };
        },
        /** Hosts devices [from, from + count) as local-mode blynk-device nodes do; how long, and how many came with a stored value. */
        host: ({ from = 0, count }) => {
          const t = performance.now();
          for (let i = from; i < from + count; i++) {
            const handle = hostBlynkDeviceHandle(cfg.nodeId, { id: deviceId(i), token: tokenOf(i), name: `bench device ${i}` }, (err) => problems.push(String(err?.message ?? err)));
            handle.on("uplink", () => undefined); // as the link listens, for its in-nodes
            handles.push(handle);
          }
          const hostMs = performance.now() - t;
          let withValue = 0;
          for (const h of handles) if (h.store !== undefined && new BlynkDeviceStore(h.store).value(STREAM) !== undefined) withValue++;
          return { hostMs, withValue, problems: problems.slice(0, 5) };
        },
        /**
         * The points of STREAM of devices [0, count): counted through the storage's DeviceHistory
         * (as iot-history reads it). reopen: the engine and storage are closed first and the
         * storage opened again (what a restart would find).
         */
        history: async ({ count, reopen = false }) => {
          let reading = storage;
          if (reopen) {
            await closeAll();
            reading = await openStorage(settings.storage);
          }
          let points = 0;
          let duplicates = 0;
          for (let i = 0; i < count; i++) {
            const got = await reading.history.query("blynk", deviceId(i), STREAM, {});
            points += got.length;
            duplicates += got.length - new Set(got.map((p) => JSON.stringify(p.value))).size;
          }
          if (reopen) reading.close();
          return { points, duplicates, problems: problems.slice(0, 5) };
        },
      },
    };
  });
}

/** Stores `values` history points over `devices` devices (a second apart, ending now) and each device's state, through the storage the node opens. */
async function fill() {
  const { devices, values } = cfg;
  const settings = settingsOf().storage;
  // SQLite: filled without an fsync per commit (not measured here; the file is the same, and closing syncs it).
  const storage = settings.kind === "sqlite" ? openSqliteStorage(settings, { durability: "normal" }) : await openBrokerStorage(settings);
  storage.report(reporter);
  const t = performance.now();
  const perDevice = Math.ceil(values / devices);
  const end = Date.now();
  const state = [];
  for (let d = 0; d < devices; d++) {
    const s = new BlynkDeviceStore(storage.deviceStores.open("blynk", deviceId(d)));
    s.setMeta("Time Zone", "Europe/Berlin", end);
    s.setInfo({ tmpl: "TMPLbench", ver: "1.0.0", build: "Jan  1 2026", type: "ESP32", rxbuff: 1024 }, end);
    for (const name of ["Humidity", "Power", "Mode"]) s.setValue(name, name === "Power" ? "1" : "42", end);
    state.push(s);
  }
  let n = 0;
  // Round-robin over devices, oldest first, as they would have arrived; flushed per 5,000.
  for (let k = 0; k < perDevice && n < values; k++) {
    const ts = end - (perDevice - k) * 1000;
    for (let d = 0; d < devices && n < values; d++, n++) {
      const text = (18 + ((d * 7 + k) % 120) / 10).toFixed(1);
      storage.history.append("blynk", deviceId(d), STREAM, ts, Number(text));
      if (k === perDevice - 1) state[d].setValue(STREAM, text, ts);
    }
    if (n % 5000 < devices) await storage.flush();
  }
  await storage.flush();
  const fillMs = performance.now() - t;
  // Files while open (the WAL as the last commits left it), then closed (checkpointed).
  const live = KINDS[cfg.kind].fileBytes?.(cfg.dir);
  storage.close();
  const closed = KINDS[cfg.kind].fileBytes?.(cfg.dir);
  console.log(`RESULT ${JSON.stringify({ values: n, fillMs, live, closed, problems })}`);
  // Not a natural end: Node 20 can hang in V8 at the end of the event loop (a background compile
  // waiting for a GC while the main thread drains tasks), seen here after the store was used.
  process.exit(0);
}
