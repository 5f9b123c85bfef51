// The load of bench/storage.mjs, in its own process (MQTT.js clients; IPC with the orchestrator):
//
// Throughput sides (one per broker kind and variant), driven in short slices in turn as
// bench/ab.mjs does, all QoS 1, 100 B payloads, at most WINDOW messages per publisher sent and
// not yet counted:
//   clean       4 publishers -> 1 subscriber on bench/t/#, clean sessions (as bench/run.mjs);
//               counted at the subscriber
//   persistent  the same with a clean:false subscriber (each message is queued for its session
//               in the broker's persistence, then delivered and cleared)
//   hosted      4 hosted Blynk devices publishing ds/Temperature (every message is the device's
//               state and a history point); counted at the PUBACK
// Devices: `count` hosted Blynk devices, each publishing one value a second at QoS 1 (spread
// evenly over the second); latency = publish -> PUBACK (which follows the storage's flush).
import mqtt from "mqtt";
import { BENCH_USER } from "../lib/broker-child.mjs";
import { endpoint, sleep } from "../lib/ipc.mjs";
import { STREAM, tokenOf } from "./common.mjs";

const PUBLISHERS = 4;
const WINDOW = 256;
const ep = endpoint(process, "storage-load");
process.on("disconnect", () => process.exit(0));
const sides = new Map();
const fleets = new Map();
const url = (port) => `mqtt://127.0.0.1:${port}`;
const base = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 20_000, keepalive: 60 };
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** Connects `n` clients, at most `parallel` handshakes at a time. */
async function connectMany(n, optionsOf, parallel = 50) {
  const clients = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, n) }, async () => {
      while (next < n) {
        const i = next++;
        clients[i] = await mqtt.connectAsync(optionsOf(i).url, optionsOf(i).options);
        clients[i].stream.setNoDelay?.(true);
      }
    }),
  );
  return clients;
}

ep.handle("open", async ({ key, port, variant, firstDevice = 0 }) => {
  const tag = `${key}-${Math.random().toString(36).slice(2, 8)}`;
  const user = { username: BENCH_USER.username, password: BENCH_USER.password };
  const side = { variant, sent: new Array(PUBLISHERS).fill(0), counted: new Array(PUBLISHERS).fill(0), sending: false, waiter: null, lastAt: 0, errors: 0, sub: undefined };
  const count = (i) => {
    side.counted[i]++;
    side.lastAt = performance.now();
    if (side.sending && side.sent[i] - side.counted[i] <= WINDOW / 2) side.pump(i);
    if (side.waiter && sum(side.counted) >= sum(side.sent)) side.waiter();
  };
  if (variant === "hosted") {
    side.pubs = await connectMany(PUBLISHERS, (i) => ({ url: url(port), options: { ...base, clean: true, clientId: "", username: "device", password: tokenOf(firstDevice + i) } }));
  } else {
    side.sub = await mqtt.connectAsync(url(port), { ...base, ...user, clean: variant !== "persistent", clientId: `sub-${variant}-${key}` });
    side.sub.stream.setNoDelay?.(true);
    await side.sub.subscribeAsync("bench/t/#", { qos: 1 });
    side.sub.on("message", (_t, buf) => count(buf.readUInt32LE(8)));
    side.pubs = await connectMany(PUBLISHERS, (i) => ({ url: url(port), options: { ...base, ...user, clean: true, clientId: `pub${i}-${tag}` } }));
  }
  const payload = Buffer.alloc(100, 0x61);
  let seq = 0;
  side.pump = (i) => {
    const pub = side.pubs[i];
    while (side.sending && side.sent[i] - side.counted[i] < WINDOW) {
      side.sent[i]++;
      if (variant === "hosted") {
        seq++;
        pub.publish(`ds/${STREAM}`, (20 + (seq % 100) / 10).toFixed(1), { qos: 1 }, (err) => (err ? side.errors++ : count(i)));
      } else {
        const p = Buffer.from(payload);
        p.writeUInt32LE(i, 8);
        pub.publish(`bench/t/${i}`, p, { qos: 1 }, (err) => err && side.errors++);
      }
    }
  };
  sides.set(key, side);
  return true;
});

/** Sends for `ms`, then waits until everything sent is counted; msg/s over start -> last count. */
ep.handle("slice", async ({ key, ms }) => {
  const side = sides.get(key);
  const before = sum(side.counted);
  const t0 = performance.now();
  side.sending = true;
  for (let i = 0; i < PUBLISHERS; i++) side.pump(i);
  await sleep(ms);
  side.sending = false;
  if (sum(side.counted) < sum(side.sent)) {
    await Promise.race([new Promise((r) => (side.waiter = r)), sleep(10_000)]);
    side.waiter = null;
  }
  const delivered = sum(side.counted) - before;
  return { delivered, ms: side.lastAt - t0, missing: sum(side.sent) - sum(side.counted), errors: side.errors };
});

/** Connects the fleet of one side: `count` hosted Blynk devices from index `from`. */
ep.handle("fleetOpen", async ({ key, port, from, count }) => {
  const t = performance.now();
  const clients = await connectMany(count, (i) => ({ url: url(port), options: { ...base, keepalive: 45, clean: true, clientId: "", username: "device", password: tokenOf(from + i) } }));
  fleets.set(key, { clients });
  return { connectMs: performance.now() - t };
});

/** Every device of the fleet sends one value a second for `seconds`; latencies publish -> PUBACK. */
ep.handle("fleetRun", async ({ key, seconds }) => {
  const { clients } = fleets.get(key);
  const n = clients.length;
  const lat = new Float64Array(n * seconds);
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let maxLate = 0;
  const lateBySecond = new Array(seconds).fill(0);
  let settle = null;
  const start = performance.now() + 100;
  // Device i sends at start + round * 1000 + i * 1000 / n: a cursor over (round, i) in due order.
  let cursor = 0;
  const total = n * seconds;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (cursor < total) {
        const round = Math.floor(cursor / n);
        const i = cursor % n;
        const due = start + round * 1000 + (i * 1000) / n;
        if (due > now) break;
        maxLate = Math.max(maxLate, now - due);
        lateBySecond[round] = Math.max(lateBySecond[round], now - due);
        const slot = cursor++;
        const t = performance.now();
        sent++;
        clients[i].publish(`ds/${STREAM}`, (20 + round * 0.01).toFixed(2), { qos: 1 }, (err) => {
          if (err) errors++;
          else {
            lat[slot] = performance.now() - t;
            acked++;
          }
          if (settle && acked + errors >= sent) settle();
        });
      }
      if (cursor < total) setTimeout(tick, 2);
      else resolve();
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  if (acked + errors < sent) await Promise.race([new Promise((r) => (settle = r)), sleep(30_000)]);
  const got = Array.from(lat).filter((x) => x > 0).sort((a, b) => a - b);
  const pct = (p) => got[Math.min(got.length - 1, Math.floor((got.length * p) / 100))];
  // Per second of the run: the slowest acknowledgement and the latest send (where a stall was).
  const slowestBySecond = Array.from({ length: seconds }, (_, r) => Math.max(0, ...lat.subarray(r * n, (r + 1) * n)));
  return { sent, acked, errors, p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: got[got.length - 1], maxLateMs: maxLate, lateBySecond, slowestBySecond };
});

ep.handle("close", async () => {
  const all = [...[...sides.values()].flatMap((s) => [s.sub, ...s.pubs]), ...[...fleets.values()].flatMap((f) => f.clients)].filter(Boolean);
  await Promise.allSettled(all.map((c) => c.endAsync(true)));
  setImmediate(() => process.exit(0));
  return true;
});

await ep.call("ready", { pid: process.pid }, 10_000);
