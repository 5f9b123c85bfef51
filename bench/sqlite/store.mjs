// The store itself (nodes/lib/store on node-sqlite3-wasm), in its own child process (bench/sqlite-store.mjs).
import { statSync } from "node:fs";
import { join } from "node:path";
import { DIST, median, ms, now, pct, require, SIZES } from "./common.mjs";

// ---- the store itself (node-sqlite3-wasm through nodes/lib/store) ---------------------------------
export async function storeChild(dir) {
  const { openSqliteStore } = require(DIST);
  const out = { node: process.version };
  // 1. Devices each set one value and wait for flush, all at once: how the group commit batches them.
  for (const durability of ["full", "normal"]) {
    const store = openSqliteStore(join(dir, `devices-${durability}.db`), { durability });
    const stores = Array.from({ length: SIZES.devices }, (_, d) => store.deviceStores.open("blynk", `device-${d}`));
    const lat = [];
    const commits0 = store.commit.commits;
    const t0 = now();
    for (let r = 0; r < SIZES.rounds; r++) {
      await Promise.all(
        stores.map((s, d) => {
          const t = now();
          s.set("ds", "Temperature", 20 + ((d + r) % 50) / 10, Date.now());
          return s.flush().then(() => lat.push(ms(t)));
        }),
      );
    }
    const values = SIZES.devices * SIZES.rounds;
    out[`flush-${durability}`] = {
      values,
      perSec: (values * 1000) / ms(t0),
      commits: store.commit.commits - commits0,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
    };
    // A burst with no flush in between: 100 keys on every device in one macrotask, then one flush.
    const t1 = now();
    const c1 = store.commit.commits;
    for (let k = 0; k < 100; k++) for (const s of stores) s.set("ds", `V${k}`, k, Date.now());
    await store.flush();
    out[`burst-${durability}`] = { values: 100 * SIZES.devices, perSec: (100 * SIZES.devices * 1000) / ms(t1), commits: store.commit.commits - c1 };
    store.close();
  }
  // 2. History through SqliteHistory: the same 1M values, appended and flushed per batch.
  {
    const file = join(dir, "history.db");
    let store = openSqliteStore(file, { history: { maxPerStream: SIZES.historyValues } });
    const start = Date.UTC(2026, 0, 1);
    const t0 = now();
    for (let i = 0; i < SIZES.historyValues; ) {
      for (let j = 0; j < SIZES.historyBatch; j++, i++) {
        const s = i % SIZES.historyStreams;
        store.history.append("blynk", `device-${s}`, "Temperature", start + Math.floor(i / SIZES.historyStreams) * 1000, 20 + (i % 97) / 10);
      }
      await store.flush();
    }
    out.history = { values: SIZES.historyValues, appendPerSec: (SIZES.historyValues * 1000) / ms(t0) };
    for (let d = 0; d < SIZES.devices; d++) {
      const s = store.deviceStores.open("blynk", `device-${d}`);
      for (let k = 0; k < 10; k++) s.set("ds", `V${k}`, k, Date.now());
    }
    store.close();
    out.history.bytesPerValue = statSync(file).size / SIZES.historyValues;
    const opens = [];
    const devices = [];
    for (let r = 0; r < SIZES.opens; r++) {
      const t = now();
      store = openSqliteStore(file, { history: { maxPerStream: SIZES.historyValues } });
      opens.push(ms(t));
      const td = now();
      for (let d = 0; d < SIZES.devices; d++) store.deviceStores.open("blynk", `device-${d}`);
      devices.push(ms(td));
      if (r === 0) {
        const tq = now();
        const points = store.history.query("blynk", "device-7", "Temperature", { limit: 100, latest: true });
        out.history.query100Ms = ms(tq);
        out.history.queryPoints = points.length;
      }
      store.close();
    }
    out.history.openMs = median(opens);
    out.history.openDevicesMs = median(devices);
  }
  return out;
}

