// The load generator: MQTT.js clients (4 publishers, 1 subscriber) for throughput and latency,
// and raw MQTT CONNECT packets over `net` sockets for the idle-connection memory scenario.
// Started by bench/run.mjs; every command comes over IPC and every loop is bounded in time.
import { connect as netConnect } from "node:net";
import mqtt from "mqtt";
import { deadline, endpoint, openFilesLimit, sleep } from "./lib/ipc.mjs";

if (!process.send) throw new Error("bench/load.mjs must be started by bench/run.mjs (it needs an IPC channel)");
const ep = endpoint(process, "load");
process.on("disconnect", () => process.exit(0));

const PUBLISHERS = 4;
const PAYLOAD_BYTES = 100;
const TOPIC_PREFIX = "bench/t/";

// --- MQTT.js clients -----------------------------------------------------------------------------

async function openClients({ port, username, password, qos }) {
  const url = `mqtt://127.0.0.1:${port}`;
  const base = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, clean: true, username, password };
  const tag = Math.random().toString(36).slice(2, 8);
  const sub = await mqtt.connectAsync(url, { ...base, clientId: `sub-${tag}` });
  const granted = await sub.subscribeAsync(`${TOPIC_PREFIX}#`, { qos });
  if (!granted.length || granted[0].qos !== qos) throw new Error(`subscription not granted at QoS ${qos}: ${JSON.stringify(granted)}`);
  const pubs = [];
  try {
    for (let i = 0; i < PUBLISHERS; i++) pubs.push(await mqtt.connectAsync(url, { ...base, clientId: `pub${i}-${tag}` }));
  } catch (err) {
    await Promise.allSettled([sub, ...pubs].map((c) => c.endAsync(true)));
    throw err;
  }
  // The load generator's own sockets send at once (TCP_NODELAY), so Nagle's algorithm on the
  // client side does not add delays the broker is not responsible for. The brokers' sockets keep
  // their defaults (Nagle on), the same for every broker. BENCH_CLIENT_NODELAY=0 turns this off.
  if (process.env.BENCH_CLIENT_NODELAY !== "0") for (const c of [sub, ...pubs]) c.stream.setNoDelay?.(true);
  return { sub, pubs };
}

async function closeClients({ sub, pubs }) {
  await Promise.allSettled([...pubs, sub].map((c) => Promise.race([c.endAsync(), deadline(2000).then(() => c.end(true))])));
}

/** Per publisher: which sequence numbers arrived (a growable bitmap), to count losses and duplicates. */
class Tally {
  constructor() {
    this.seen = Array.from({ length: PUBLISHERS }, () => new Uint8Array(1 << 16));
    this.received = new Array(PUBLISHERS).fill(0); // including duplicates
    this.unique = new Array(PUBLISHERS).fill(0);
    this.duplicates = 0;
    this.reordered = 0;
    this.last = new Array(PUBLISHERS).fill(-1);
    this.foreign = 0;
  }
  add(pub, seq) {
    if (pub >= PUBLISHERS) {
      this.foreign++;
      return false;
    }
    let bits = this.seen[pub];
    if (seq >= bits.length) {
      const bigger = new Uint8Array(Math.max(bits.length * 2, seq + 1));
      bigger.set(bits);
      this.seen[pub] = bits = bigger;
    }
    this.received[pub]++;
    if (bits[seq]) {
      this.duplicates++;
      return false;
    }
    bits[seq] = 1;
    this.unique[pub]++;
    if (seq < this.last[pub]) this.reordered++;
    else this.last[pub] = seq;
    return true;
  }
  get totalUnique() {
    return this.unique.reduce((a, b) => a + b, 0);
  }
}

function payload(pub, seq) {
  const b = Buffer.allocUnsafe(PAYLOAD_BYTES);
  b.writeDoubleLE(performance.now(), 0);
  b.writeUInt32LE(pub, 8);
  b.writeUInt32LE(seq, 12);
  b.fill(0x61, 16);
  return b;
}

/**
 * Saturation throughput, flow-controlled end to end: each publisher keeps at most `window`
 * messages sent but not yet seen by the subscriber, and refills (in a batch) when half of them
 * arrived. The same scheme at QoS 0 and QoS 1, so neither overruns socket buffers.
 */
async function throughput({ port, username, password, qos, warmupMs, durationMs, window = 256, drainIdleMs = 3000 }) {
  const clients = await openClients({ port, username, password, qos });
  const { sub, pubs } = clients;
  const tally = new Tally();
  const sent = new Array(PUBLISHERS).fill(0);
  const pubErrors = [];
  const opts = { qos };
  let sending = false;
  let lastReceiptAt = 0;
  let onDrained = null;
  let sentTotal = 0;

  const onPublished = (err) => {
    if (err && pubErrors.length < 5) pubErrors.push(err.message);
  };
  const pump = (i) => {
    const pub = pubs[i];
    while (sending && sent[i] - tally.unique[i] < window) {
      pub.publish(TOPIC_PREFIX + i, payload(i, sent[i]), opts, onPublished);
      sent[i]++;
      sentTotal++;
    }
  };
  sub.on("message", (_topic, buf) => {
    const i = buf.readUInt32LE(8);
    tally.add(i, buf.readUInt32LE(12));
    lastReceiptAt = performance.now();
    if (sending && sent[i] - tally.unique[i] <= window / 2) pump(i);
    if (onDrained && tally.totalUnique >= sentTotal) onDrained();
  });

  /** Sends for `ms`, then waits until everything sent arrived (or nothing arrived for drainIdleMs). */
  const phase = async (ms) => {
    sending = true;
    for (let i = 0; i < PUBLISHERS; i++) pump(i);
    await sleep(ms);
    sending = false;
    const drained = new Promise((resolve) => {
      onDrained = resolve;
    });
    if (tally.totalUnique >= sentTotal) onDrained();
    const hardLimit = performance.now() + 30_000;
    while (true) {
      const idle = performance.now() - lastReceiptAt;
      const done = await Promise.race([drained.then(() => true), sleep(100).then(() => false)]);
      if (done) break;
      if (idle > drainIdleMs || performance.now() > hardLimit) break;
    }
    onDrained = null;
  };

  try {
    await phase(warmupMs);
    const before = { unique: tally.totalUnique, sent: sentTotal, received: sum(tally.received), duplicates: tally.duplicates };
    await ep.call("mark", { phase: "start" }, 5000);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    lastReceiptAt = t0;
    await phase(durationMs);
    const t1 = lastReceiptAt;
    const cpu1 = process.cpuUsage(cpu0);
    const tc1 = performance.now();
    await ep.call("mark", { phase: "end" }, 5000);
    const delivered = tally.totalUnique - before.unique;
    const sentInWindow = sentTotal - before.sent;
    return {
      qos,
      sent: sentInWindow,
      delivered,
      lost: sentTotal - tally.totalUnique, // warmup included: nothing sent may go missing
      duplicates: tally.duplicates,
      reordered: tally.reordered,
      foreign: tally.foreign,
      warmupSent: before.sent,
      elapsedMs: t1 - t0,
      rate: delivered / ((t1 - t0) / 1000),
      window,
      loadCpuUs: cpu1.user + cpu1.system,
      loadCpuUtil: (cpu1.user + cpu1.system) / 1000 / (tc1 - t0),
      publishErrors: pubErrors,
    };
  } finally {
    await closeClients(clients);
  }
}

/** End-to-end latency at a fixed total rate: send times in the payload, read at the subscriber. */
async function latency({ port, username, password, qos, rate, warmupMs, durationMs, drainIdleMs = 3000 }) {
  const clients = await openClients({ port, username, password, qos });
  const { sub, pubs } = clients;
  const tally = new Tally();
  const perPub = rate / PUBLISHERS;
  const maxSamples = Math.ceil((rate * (warmupMs + durationMs)) / 1000) + 1000;
  const samples = new Float64Array(maxSamples);
  let nSamples = 0;
  let recording = false;
  let lastReceiptAt = performance.now();
  const sent = new Array(PUBLISHERS).fill(0);
  const opts = { qos };
  const pubErrors = [];
  const onPublished = (err) => {
    if (err && pubErrors.length < 5) pubErrors.push(err.message);
  };
  let windowSent = 0;
  let windowStartUnique = 0;
  let marked = false;
  let cpu0 = process.cpuUsage();
  let tc0 = performance.now();

  sub.on("message", (_topic, buf) => {
    const now = performance.now();
    lastReceiptAt = now;
    if (!tally.add(buf.readUInt32LE(8), buf.readUInt32LE(12))) return;
    // Only messages sent after the warm-up are sampled (the flag travels in byte 16).
    if (buf[16] === 0x62 && nSamples < maxSamples) samples[nSamples++] = now - buf.readDoubleLE(0);
  });

  try {
    const t0 = performance.now();
    const tEnd = t0 + warmupMs + durationMs;
    let startUnique = 0;
    while (true) {
      const now = performance.now();
      if (now >= tEnd) break;
      if (!recording && now >= t0 + warmupMs) {
        recording = true;
        startUnique = tally.totalUnique;
        if (!marked) {
          marked = true;
          await ep.call("mark", { phase: "start" }, 5000);
          cpu0 = process.cpuUsage();
          tc0 = performance.now();
        }
      }
      const due = Math.floor(((performance.now() - t0) / 1000) * perPub);
      for (let i = 0; i < PUBLISHERS; i++) {
        // At most 50 per tick per publisher, so a stalled loop does not turn into a burst.
        const n = Math.min(due - sent[i], 50);
        for (let k = 0; k < n; k++) {
          const p = payload(i, sent[i]);
          if (recording) {
            p[16] = 0x62;
            windowSent++;
          }
          pubs[i].publish(TOPIC_PREFIX + i, p, opts, onPublished);
          sent[i]++;
        }
      }
      await sleep(1);
    }
    windowStartUnique = startUnique;
    const totalSent = sum(sent);
    const hardLimit = performance.now() + 30_000;
    while (tally.totalUnique < totalSent && performance.now() - lastReceiptAt < drainIdleMs && performance.now() < hardLimit) await sleep(20);
    const cpu1 = process.cpuUsage(cpu0);
    const tc1 = performance.now();
    await ep.call("mark", { phase: "end" }, 5000);
    const s = Array.from(samples.subarray(0, nSamples)).sort((a, b) => a - b);
    return {
      qos,
      rate,
      sent: windowSent,
      delivered: tally.totalUnique - windowStartUnique,
      lost: totalSent - tally.totalUnique,
      duplicates: tally.duplicates,
      samples: s.length,
      p50: pct(s, 0.5),
      p90: pct(s, 0.9),
      p99: pct(s, 0.99),
      max: s.length ? s[s.length - 1] : null,
      achievedRate: windowSent / (durationMs / 1000),
      loadCpuUs: cpu1.user + cpu1.system,
      loadCpuUtil: (cpu1.user + cpu1.system) / 1000 / (tc1 - tc0),
      publishErrors: pubErrors,
    };
  } finally {
    await closeClients(clients);
  }
}

const sum = (a) => a.reduce((x, y) => x + y, 0);
const pct = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : null);

// --- raw idle connections -----------------------------------------------------------------------

const idle = { sockets: [], pinger: null, closedEarly: 0, releasing: false };

function mqttString(s) {
  const b = Buffer.from(s, "utf8");
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function remainingLength(n) {
  const bytes = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** An MQTT 3.1.1 CONNECT: clean session, the given keepalive, optional username and password. */
function connectPacket(clientId, username, password, keepalive) {
  let flags = 0x02;
  const tail = [mqttString(clientId)];
  if (username !== undefined) {
    flags |= 0x80;
    tail.push(mqttString(username));
  }
  if (password !== undefined) {
    flags |= 0x40;
    tail.push(mqttString(password));
  }
  const body = Buffer.concat([mqttString("MQTT"), Buffer.from([4, flags, keepalive >> 8, keepalive & 0xff]), ...tail]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

function openIdle(port, clientId, username, password, keepalive, timeoutMs) {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: "127.0.0.1" });
    let settled = false;
    let accepted = false;
    let got = Buffer.alloc(0);
    const finish = (ok, why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok) socket.destroy();
      resolve(ok ? { socket } : { error: why });
    };
    const timer = setTimeout(() => finish(false, "timeout"), timeoutMs);
    socket.once("connect", () => socket.write(connectPacket(clientId, username, password, keepalive)));
    socket.on("data", (chunk) => {
      if (settled) return; // PINGRESP afterwards
      got = Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      if (got[0] === 0x20 && got[1] === 2 && got[3] === 0) {
        accepted = true;
        finish(true);
      }
      else finish(false, `CONNACK ${got.subarray(0, 4).toString("hex")}`);
    });
    socket.on("error", (err) => finish(false, err.code ?? err.message));
    socket.on("close", () => {
      if (accepted && !idle.releasing) idle.closedEarly++;
      finish(false, "closed");
    });
  });
}

/** Opens `count` idle MQTT connections, at most `concurrency` handshakes at a time. */
async function connectIdle({ port, count, concurrency = 200, username, password, keepalive = 60, prefix = "idle", timeLimitMs = 120_000 }) {
  const started = performance.now();
  const errors = {};
  let connected = 0;
  let next = 0;
  idle.closedEarly = 0;
  const worker = async () => {
    while (next < count) {
      if (performance.now() - started > timeLimitMs) {
        errors["time limit"] = (errors["time limit"] ?? 0) + 1;
        next++;
        continue;
      }
      const r = await openIdle(port, `${prefix}-${next++}`, username, password, keepalive, 10_000);
      if (r.socket) {
        idle.sockets.push(r.socket);
        connected++;
      } else {
        errors[r.error] = (errors[r.error] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  // Keep them alive (aedes drops a client after 1.5 x keepalive without a packet).
  clearInterval(idle.pinger);
  const ping = Buffer.from([0xc0, 0x00]);
  idle.pinger = setInterval(() => {
    for (const s of idle.sockets) if (!s.destroyed) s.write(ping);
  }, (keepalive * 1000) / 2);
  return { requested: count, connected, errors, ms: performance.now() - started, openFiles: await openFilesLimit() };
}

async function releaseIdle() {
  clearInterval(idle.pinger);
  idle.pinger = null;
  const sockets = idle.sockets.splice(0);
  const alive = sockets.filter((s) => !s.destroyed).length;
  const closedEarly = idle.closedEarly;
  idle.releasing = true;
  for (const s of sockets) s.destroy();
  await sleep(200);
  idle.releasing = false;
  return { released: sockets.length, aliveAtRelease: alive, closedEarly };
}

ep.handle("throughput", throughput);
ep.handle("latency", latency);
ep.handle("connectIdle", connectIdle);
ep.handle("releaseIdle", releaseIdle);
ep.handle("close", () => {
  setImmediate(() => process.exit(0));
  return true;
});
await ep.call("ready", { pid: process.pid, openFiles: await openFilesLimit() }, 10_000);
