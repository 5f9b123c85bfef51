// The drivers side by side (bench/sqlite-store.mjs): the same SQL, each in its own child process.
import { statSync } from "node:fs";
import { join } from "node:path";
import { median, ms, now, pct, require, root, SIZES } from "./common.mjs";

// ---- drivers: the same small surface over both -------------------------------------------------
async function driver(name) {
  if (name === "node-sqlite3-wasm") {
    const { Database } = require("node-sqlite3-wasm");
    return (file) => {
      const db = new Database(file);
      const stmts = [];
      return {
        exec: (sql) => db.exec(sql),
        pragma: (sql) => Object.values(db.get(sql) ?? {})[0],
        prepare: (sql) => {
          const st = db.prepare(sql);
          stmts.push(st);
          return { run: (...a) => st.run(a), get: (...a) => st.get(a), all: (...a) => st.all(a) };
        },
        close: () => {
          for (const st of stmts) st.finalize();
          db.close();
        },
      };
    };
  }
  const { DatabaseSync } = await import("node:sqlite");
  return (file) => {
    const db = new DatabaseSync(file);
    return {
      exec: (sql) => db.exec(sql),
      pragma: (sql) => Object.values(db.prepare(sql).get() ?? {})[0],
      prepare: (sql) => {
        const st = db.prepare(sql);
        return { run: (...a) => st.run(...a), get: (...a) => st.get(...a), all: (...a) => st.all(...a) };
      },
      close: () => db.close(),
    };
  };
}

const MODES = {
  "wal-full": ["PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"],
  "wal-normal": ["PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"],
  "rollback-full": ["PRAGMA locking_mode = EXCLUSIVE", "PRAGMA journal_mode = DELETE", "PRAGMA synchronous = FULL"],
};

export async function driverChild(name, dir) {
  const { MIGRATIONS } = require(join(root, "dist", "nodes", "lib", "store", "schema.js"));
  const open = await driver(name);
  let n = 0;
  const fresh = (mode) => {
    const db = open(join(dir, `${name}-${n++}.db`));
    for (const p of MODES[mode]) db.pragma(p);
    db.exec(MIGRATIONS.join(";"));
    return db;
  };
  const out = { driver: name, node: process.version, single: {}, batched: {} };
  const upsertSql =
    "INSERT INTO device_state (plugin, device, section, key, seq, value, at) VALUES (?, ?, ?, ?, ?, ?, ?) " +
    "ON CONFLICT (plugin, device, section, key) DO UPDATE SET seq = excluded.seq, value = excluded.value, at = excluded.at";

  // 1. One row per transaction (autocommit): one commit, one fsync (WAL) or several (rollback) each.
  for (const mode of Object.keys(MODES)) {
    const db = fresh(mode);
    const upsert = db.prepare(upsertSql);
    const lat = [];
    const t0 = now();
    let i = 0;
    while (i < SIZES.singleMax && ms(t0) < SIZES.singleMs) {
      const t = now();
      upsert.run("blynk", `d${i % 100}`, "ds", `k${i}`, i, JSON.stringify(i * 0.5), Date.now());
      lat.push(ms(t));
      i++;
    }
    out.single[mode] = { rows: i, perSec: (i * 1000) / ms(t0), p50: pct(lat, 50), p99: pct(lat, 99) };
    db.close();
  }

  // 2. Batched: B rows per transaction (what the group commit does).
  for (const mode of ["wal-full", "wal-normal"]) {
    for (const b of SIZES.batchSizes) {
      const db = fresh(mode);
      const upsert = db.prepare(upsertSql);
      const t0 = now();
      for (let i = 0; i < SIZES.batchedRows; ) {
        db.exec("BEGIN");
        for (let j = 0; j < b; j++, i++) upsert.run("blynk", `d${i % 1000}`, "ds", `k${i}`, i, JSON.stringify(i * 0.5), Date.now());
        db.exec("COMMIT");
      }
      out.batched[`${mode} x${b}`] = { perSec: (SIZES.batchedRows * 1000) / ms(t0) };
      db.close();
    }
  }

  // 3. Reads by key (what loading a device does per row; answers themselves come from memory).
  {
    const db = fresh("wal-full");
    const upsert = db.prepare(upsertSql);
    db.exec("BEGIN");
    for (let i = 0; i < SIZES.readKeys; i++) upsert.run("blynk", `d${i % 100}`, "ds", `k${i}`, i, JSON.stringify(i), i);
    db.exec("COMMIT");
    const get = db.prepare("SELECT value, at FROM device_state WHERE plugin = ? AND device = ? AND section = ? AND key = ?");
    const load = db.prepare("SELECT section, key, seq, value, at FROM device_state WHERE plugin = ? AND device = ?");
    let t0 = now();
    for (let r = 0; r < SIZES.reads; r++) {
      const i = (r * 7919) % SIZES.readKeys;
      get.get("blynk", `d${i % 100}`, "ds", `k${i}`);
    }
    out.readsPerSec = (SIZES.reads * 1000) / ms(t0);
    t0 = now();
    for (let r = 0; r < 1000; r++) load.all("blynk", `d${r % 100}`);
    out.deviceLoadMs = ms(t0) / 1000; // one device of 100 rows
    db.close();
  }

  // 4. History: N values in batches with the store's insert, then size and time to open.
  {
    const file = join(dir, `${name}-history.db`);
    let db = open(file);
    for (const p of MODES["wal-full"]) db.pragma(p);
    db.exec(MIGRATIONS.join(";"));
    const insert = db.prepare(
      "INSERT INTO history (stream, ts, n, value) VALUES (?1, ?2, coalesce((SELECT max(n) + 1 FROM history WHERE stream = ?1 AND ts = ?2), 0), ?3)",
    );
    const stream = db.prepare("INSERT INTO history_stream (id, plugin, device, stream, count) VALUES (?, ?, ?, ?, ?)");
    const perStream = SIZES.historyValues / SIZES.historyStreams;
    db.exec("BEGIN");
    for (let s = 1; s <= SIZES.historyStreams; s++) stream.run(s, "blynk", `d${s}`, "Temperature", perStream);
    db.exec("COMMIT");
    const t0 = now();
    const start = Date.UTC(2026, 0, 1);
    for (let i = 0; i < SIZES.historyValues; ) {
      db.exec("BEGIN");
      for (let j = 0; j < SIZES.historyBatch; j++, i++) {
        // Round-robin over the streams, one point a second each: the shape of many devices reporting.
        insert.run((i % SIZES.historyStreams) + 1, start + Math.floor(i / SIZES.historyStreams) * 1000, JSON.stringify(20 + (i % 97) / 10));
      }
      db.exec("COMMIT");
    }
    out.history = { values: SIZES.historyValues, insertPerSec: (SIZES.historyValues * 1000) / ms(t0) };
    db.close();
    out.history.bytesPerValue = statSync(file).size / SIZES.historyValues;
    const opens = [];
    for (let r = 0; r < SIZES.opens; r++) {
      const t = now();
      db = open(file);
      for (const p of MODES["wal-full"]) db.pragma(p);
      db.pragma("PRAGMA user_version");
      db.prepare("SELECT id, plugin, device, stream, count FROM history_stream").all();
      db.prepare("SELECT ts, value FROM history WHERE stream = ? ORDER BY ts DESC, n DESC LIMIT 100").all(SIZES.historyStreams);
      opens.push(ms(t));
      const tc = now();
      if (r === 0) {
        db.prepare("SELECT count(*) AS n FROM history").get();
        out.history.countAllMs = ms(tc);
      }
      db.close();
    }
    out.history.openMs = median(opens);
  }
  return out;
}

