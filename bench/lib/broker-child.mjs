// What every broker child (bare aedes, Node-RED) shares: the IPC handlers the orchestrator uses
// to read this process's CPU time and memory, and a clean exit when the orchestrator goes away.
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { writeHeapSnapshot } from "node:v8";
import { endpoint, openFilesLimit, sleep } from "./ipc.mjs";

/**
 * Read and write system calls of this process so far (Linux: /proc/self/io), else nothing: how
 * many messages share one socket read or write tells batching apart from per-message work.
 */
function syscalls() {
  try {
    const io = readFileSync("/proc/self/io", "utf8");
    const field = (name) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(io)?.[1]);
    return { syscr: field("syscr"), syscw: field("syscw") };
  } catch {
    return {};
  }
}

/** The iot-broker node's id in the Node-RED benchmark's flow (the engine line uses the same). */
export const BENCH_BROKER_ID = "bench0broker0001";

/** The one user of the benchmark (the iot-broker's user has the pattern `#` both ways). */
export const BENCH_USER = Object.freeze({ username: "bench", password: "bench-password-1" });

/**
 * @param {string} name
 * @param {() => Promise<{ port: number, clients: () => number, close: () => Promise<void>, info?: object, handlers?: Record<string, Function> }>} start
 *   `handlers`: further IPC commands of this broker (bench/storage.mjs asks its brokers for more).
 */
export async function runBrokerChild(name, start) {
  if (!process.send) throw new Error(`${name} must be started by bench/run.mjs (it needs an IPC channel)`);
  const ep = endpoint(process, name);
  let broker;
  let exiting = false;
  const exit = async (code) => {
    if (exiting) return;
    exiting = true;
    const hard = setTimeout(() => process.exit(code), 5000);
    hard.unref();
    try {
      await broker?.close();
    } catch (err) {
      console.error(`[${name}] close failed: ${err?.message ?? err}`);
    }
    process.exit(code);
  };
  process.on("disconnect", () => void exit(0));
  process.on("SIGTERM", () => void exit(0));

  ep.handle("cpu", () => {
    const { user, system } = process.cpuUsage();
    return { user, system, at: performance.now(), ...syscalls() };
  });
  ep.handle("mem", async ({ gc = true }) => {
    if (gc) {
      if (typeof global.gc !== "function") throw new Error("run with --expose-gc");
      // Several full GCs with turns of the event loop between, so finalizers and weak refs settle.
      for (let i = 0; i < 4; i++) {
        global.gc();
        await sleep(50);
      }
    }
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, clients: broker.clients() };
  });
  ep.handle("clients", () => broker.clients());
  ep.handle("heapSnapshot", ({ file }) => writeHeapSnapshot(file));
  // BENCH_PROFILE=1: a V8 CPU profile of exactly one measurement window (the orchestrator calls
  // these at the window's marks), written as a .cpuprofile file (see bench/profile-summary.mjs).
  let session;
  ep.handle("profileStart", async () => {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 200 });
    await session.post("Profiler.start");
    return true;
  });
  ep.handle("profileStop", async ({ file }) => {
    if (!session) return false;
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    session = undefined;
    writeFileSync(file, JSON.stringify(profile));
    return true;
  });
  // Sampled allocations still alive (not yet collected) since the start: what survives scavenges.
  let heapSession;
  ep.handle("heapSampleStart", async () => {
    heapSession = new Session();
    heapSession.connect();
    await heapSession.post("HeapProfiler.enable");
    await heapSession.post("HeapProfiler.startSampling", { samplingInterval: 4096 });
    return true;
  });
  ep.handle("heapSampleStop", async ({ file }) => {
    if (!heapSession) return false;
    const { profile } = await heapSession.post("HeapProfiler.stopSampling");
    heapSession.disconnect();
    heapSession = undefined;
    writeFileSync(file, JSON.stringify(profile));
    return true;
  });
  ep.handle("close", () => {
    setImmediate(() => void exit(0));
    return true;
  });

  try {
    broker = await start();
    for (const [cmd, fn] of Object.entries(broker.handlers ?? {})) ep.handle(cmd, fn);
  } catch (err) {
    console.error(`[${name}] failed to start: ${err?.stack ?? err}`);
    await exit(1);
    return;
  }
  await ep.call("ready", { name, port: broker.port, pid: process.pid, openFiles: await openFilesLimit(), ...broker.info }, 10_000);
}
