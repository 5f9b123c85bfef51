// Per-message cost of the offline-queue bound (session-guards.ts): aedes' memory persistence
// enqueueing QoS 1 messages for an offline clean:false session, bare and with the guard.
// Run: npm run build && node bench/queue-cap.mjs
import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const require = createRequire(import.meta.url);
const { SessionGuards } = require("../dist/nodes/lib/broker/session-guards.js");
const { default: persistence } = await import("aedes-persistence");

const N = 100_000;
const subs = [{ clientId: "away", topic: "q", qos: 1 }];
const packet = { cmd: "publish", topic: "q", payload: Buffer.from("x"), qos: 1, retain: false, dup: false, brokerId: "b", brokerCounter: 1 };

async function run(guarded) {
  const store = persistence();
  if (guarded) {
    const aedes = Object.assign(new EventEmitter(), { persistence: store, clients: Object.create(null), preConnect() {}, authenticate() {} });
    new SessionGuards(N, () => undefined, () => undefined).attach(aedes);
  }
  const start = performance.now();
  for (let i = 0; i < N; i++) await store.outgoingEnqueueCombi(subs, packet);
  return ((performance.now() - start) * 1e6) / N;
}

const results = { bare: [], guarded: [] };
for (let round = 0; round < 5; round++) {
  results.bare.push(await run(false));
  results.guarded.push(await run(true));
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`enqueue per message, median of 5 x ${N}: bare ${median(results.bare).toFixed(0)} ns, guarded ${median(results.guarded).toFixed(0)} ns`);
