// The child processes of bench/storage.mjs: spawned with IPC (through a shell that raises the
// open-files limit: a fleet of 1,000 devices per kind), always stopped when the run ends.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { VERBOSE } from "../lib/env.mjs";
import { deadline, endpoint } from "../lib/ipc.mjs";
import { root } from "./common.mjs";

const children = new Set();
const benchDir = join(root, "bench");

export function killAll(signal = "SIGKILL") {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

/** `node bench/<script> ...args` with IPC; resolves with { child, ep, info } once it calls "ready". */
export async function spawnChild(name, script, args, { nodeArgs = ["--expose-gc"], readyMs = 120_000 } = {}) {
  const shell = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; exec "$@"';
  const spawnedAt = performance.now();
  const child = spawn("/bin/sh", ["-c", shell, "sh", process.execPath, ...nodeArgs, join(benchDir, script), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  children.add(child);
  const tail = [];
  const keep = (chunk) => {
    const text = chunk.toString();
    if (VERBOSE) process.stderr.write(`[${name}] ${text}`);
    tail.push(text);
    if (tail.length > 40) tail.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const ep = endpoint(child, name);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  exited.then(({ code, signal }) => {
    children.delete(child);
    ep.abort(`exited (${code ?? signal})`);
  });
  const ready = new Promise((resolve) => ep.handle("ready", (info) => (resolve(info), true)));
  const failed = exited.then(({ code, signal }) => Promise.reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${tail.join("")}`)));
  const late = deadline(readyMs).then(() => Promise.reject(new Error(`${name} not ready in ${readyMs / 1000} s:\n${tail.join("")}`)));
  const info = await Promise.race([ready, failed, late]);
  return { child, ep, info, spawnedAt, readyAt: performance.now(), exited, tail };
}

/** `node bench/<script> ...args` that prints `RESULT <json>` and exits; resolves with the json. */
export function runToResult(name, script, args, timeoutMs = 900_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(benchDir, script), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => {
      err += c;
      if (VERBOSE) process.stderr.write(`[${name}] ${c}`);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line.slice(7)));
      else reject(new Error(`${name} failed (${code ?? signal}):\n${err.slice(-4000)}`));
    });
  });
}

/** Asks a broker child to close, and waits for it to exit (SIGKILL after 10 s). */
export async function stopChild(c) {
  await c.ep.call("close", {}, 10_000).catch(() => undefined);
  const late = setTimeout(() => c.child.kill("SIGKILL"), 10_000);
  await c.exited;
  clearTimeout(late);
}
