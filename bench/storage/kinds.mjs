// The broker's `persistence` kinds that bench/storage.mjs measures side by side. One entry per
// kind: the iot-broker node's flow properties for it (public flow-JSON names: persistence,
// dbPath, redisUrl, retention), whether this build supports it, the server it needs, and where
// its bytes are. A new kind is one entry here.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIST_BROKER } from "./common.mjs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const REDIS_SERVER = process.env.REDIS_SERVER ?? "/usr/bin/redis-server";
const REDIS_CLI = process.env.REDIS_CLI ?? "/usr/bin/redis-cli";

/** The persistence values this build's node-config.ts accepts. */
function accepted() {
  return require(join(DIST_BROKER, "node-config.js")).ACCEPTED_PERSISTENCE;
}

/**
 * @typedef {object} Kind
 * @property {string} label
 * @property {boolean} durable  whether what it acknowledged survives a restart (start-up and size are measured for these)
 * @property {(ctx: { dir: string, server?: object }) => object} props  the iot-broker node's flow properties for it
 * @property {() => string | undefined} missing  why this build or machine cannot run it, else undefined
 * @property {() => Promise<{ url?: string, stop(): Promise<void>, bytes?(): object }>} [server]  a server it needs (one per scenario); its bytes(): what the data occupies there
 * @property {(dir: string) => { total: number, parts: object }} [fileBytes]  what its files in `dir` occupy now
 * @property {boolean} [optIn]  a diagnostic, measured only when STORAGE_KINDS names it
 * @property {object} [storageOptions]  a diagnostic: opened with openSqliteStorage(settings, these) instead of as the node opens it
 */

/** @type {Record<string, Kind>} */
export const KINDS = {
  memory: {
    label: "memory",
    durable: false,
    props: () => ({ persistence: "memory" }),
    missing: () => undefined,
  },
  sqlite: {
    label: "sqlite",
    durable: true,
    // An absolute dbPath under the bench's folder (on the disk measured: fsync on tmpfs is free).
    props: ({ dir }) => ({ persistence: "sqlite", dbPath: join(dir, "broker.sqlite"), retention: "0" }),
    missing: () => (accepted().includes("sqlite") ? undefined : "this build has no sqlite persistence"),
    fileBytes: (dir) => {
      const parts = {};
      for (const name of readdirSync(dir)) if (name.startsWith("broker.sqlite")) parts[name.slice("broker.sqlite".length) || "file"] = sizeOf(join(dir, name));
      return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
    },
  },
  // Opt-in diagnostic (STORAGE_KINDS=...,sqlite-normal): the same file with synchronous=NORMAL
  // (no fsync per commit; survives kill -9, not always a power cut). Not what the node builds.
  "sqlite-normal": {
    label: "sqlite, durability normal (diagnostic)",
    durable: true,
    optIn: true,
    props: ({ dir }) => ({ persistence: "sqlite", dbPath: join(dir, "broker.sqlite"), retention: "0" }),
    storageOptions: { durability: "normal" },
    missing: () => KINDS.sqlite.missing(),
    fileBytes: (dir) => KINDS.sqlite.fileBytes(dir),
  },
  redis: {
    label: "redis (one instance)",
    durable: true,
    props: ({ server }) => ({ persistence: "redis", redisUrl: server.url, retention: "0" }),
    missing: () => {
      if (!accepted().includes("redis")) return 'this build\'s openBrokerStorage has no kind "redis" yet (node-config.ts ACCEPTED_PERSISTENCE)';
      if (!existsSync(REDIS_SERVER)) return `no ${REDIS_SERVER} (apt-get install redis-server)`;
      return undefined;
    },
    server: startRedis,
  },
};

/** What a kind's data occupies now: its files, or its server's own figure; undefined for memory. */
export function bytesOf(kind, { dir, server }) {
  return server?.bytes?.() ?? KINDS[kind].fileBytes?.(dir);
}

function sizeOf(path) {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * A real redis-server on a free loopback port, its data in a temp folder: append-only file with
 * an fsync per write (`appendfsync always`), the same promise as SQLite's synchronous=FULL.
 */
async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), "iot-bridge-bench-redis-"));
  const port = await freePort();
  const conf = join(dir, "redis.conf");
  writeFileSync(conf, [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, "appendonly yes", "appendfsync always", 'save ""', 'logfile ""'].join("\n") + "\n");
  const child = spawn(REDIS_SERVER, [conf], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready in 10 s:\n${out}`)), 10_000);
    child.stdout.on("data", (c) => {
      out += c;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on("data", (c) => (out += c));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}):\n${out}`));
    });
  });
  const cli = (...args) => spawnSync(REDIS_CLI, ["-p", String(port), ...args], { encoding: "utf8" }).stdout ?? "";
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    /** Memory used by the data set, and the append-only file(s) after a rewrite (Redis' compaction). */
    bytes() {
      const info = cli("info", "memory");
      const used = Number(/used_memory_dataset:(\d+)/.exec(info)?.[1] ?? NaN);
      cli("bgrewriteaof");
      for (let i = 0; i < 600 && /aof_rewrite_in_progress:1|aof_rewrite_scheduled:1/.test(cli("info", "persistence")); i++) spawnSync("sleep", ["0.1"]);
      let aof = 0;
      const walk = (d) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name));
          else if (/\.aof|\.rdb/.test(e.name)) aof += sizeOf(join(d, e.name));
        }
      };
      walk(dir);
      return { total: aof, parts: { "append-only files": aof, "memory (dataset)": used } };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
