"use strict";
// SqliteDeviceStores and the group commit under them: memory first, one commit per macrotask
// (or per maxBatch writes), flush after the covering commit, a failed commit kept and retried.
const assert = require("node:assert/strict");
const path = require("node:path");
const { Database } = require("node-sqlite3-wasm");
const { until } = require("../../support/wait.js");
const { store, tempDir, removeTempDirs, opener } = require("./fixtures.js");

const { StoreError } = store;

/** A participant of the group commit that fails while `failing` is set (a disk that refuses). */
function faultyParticipant(commit) {
  const p = {
    failing: true,
    pending: 0,
    writes: 0,
    write() {
      if (p.failing) throw new Error("disk I/O error (simulated)");
      p.writes++;
    },
    committed() {
      p.pending = 0;
    },
  };
  commit.join(p);
  return p;
}

/** Rows of device_state as the file holds them (read from a closed store's file). */
function rowsOf(file) {
  const raw = new Database(file);
  try {
    raw.exec("PRAGMA locking_mode = EXCLUSIVE");
    return raw.all("SELECT plugin, device, section, key, value, at FROM device_state ORDER BY plugin, device, section, seq");
  } finally {
    raw.close();
  }
}

describe("SqliteDeviceStores", function () {
  const stores = opener();
  let dir;
  beforeEach(function () {
    dir = tempDir();
  });
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });

  it("answers reads from memory at once and writes a burst from many devices in one commit", async function () {
    const s = stores.open(path.join(dir, "b.db"));
    const devices = Array.from({ length: 50 }, (_, i) => s.deviceStores.open("blynk", `dev-${i}`));
    const before = s.commit.commits;
    devices.forEach((d, i) => d.set("ds", "Temp", i, 1000 + i));
    assert.deepEqual(devices[7].get("ds", "Temp"), { value: 7, at: 1007 }, "read back before any commit");
    assert.equal(s.commit.pending, 50);
    await Promise.all(devices.map((d) => d.flush()));
    assert.equal(s.commit.commits - before, 1, "one transaction for the whole macrotask");
    assert.equal(s.commit.pending, 0);
  });

  it("coalesces writes of one entry: what waits is bounded by the entries, not the rate", async function () {
    const s = stores.open(path.join(dir, "b.db"));
    const d = s.deviceStores.open("blynk", "dev");
    for (let i = 0; i < 10_000; i++) d.set("ds", `k${i % 3}`, i, i);
    assert.equal(s.commit.pending, 3);
    d.clear("ds");
    assert.equal(s.commit.pending, 1, "a clear replaces the section's pending writes");
    d.set("ds", "k0", "after", 1);
    assert.equal(s.commit.pending, 2);
    await d.flush();
    s.close();
    assert.deepEqual(rowsOf(path.join(dir, "b.db")), [{ plugin: "blynk", device: "dev", section: "ds", key: "k0", value: '"after"', at: 1 }]);
  });

  it("commits at once when maxBatch writes wait, within the same macrotask", function () {
    const s = stores.open(path.join(dir, "b.db"), { maxBatch: 100 });
    const d = s.deviceStores.open("blynk", "dev");
    for (let i = 0; i < 250; i++) d.set("ds", `k${i}`, i, i);
    assert.equal(s.commit.commits, 2, "two full batches committed without waiting for the macrotask");
    assert.equal(s.commit.pending, 50);
  });

  it("flush resolves at once with nothing pending, and after the commit that covers every earlier write", async function () {
    const file = path.join(dir, "b.db");
    const s = stores.open(file);
    const d = s.deviceStores.open("tb", "dev");
    await d.flush();
    assert.equal(s.commit.commits, 0, "nothing to commit");
    d.set("client", "a", 1, 1);
    const first = d.flush();
    d.set("client", "b", 2, 2); // before the commit: covered by it too
    const order = [];
    const second = d.flush().then(() => order.push("second"));
    await first.then(() => order.push("first"));
    await second;
    assert.deepEqual(order, ["first", "second"]);
    assert.equal(s.commit.commits, 1);
    s.close();
    assert.deepEqual(
      rowsOf(file).map((r) => r.key),
      ["a", "b"],
    );
  });

  it("a device opened again while hosted gets the same store; closed and reopened it reads the file", async function () {
    const file = path.join(dir, "b.db");
    const s = stores.open(file);
    const a = s.deviceStores.open("ts", "ch");
    assert.equal(s.deviceStores.open("ts", "ch"), a);
    a.set("feed", "1", { field1: "20" }, 1);
    s.deviceStores.close("ts", "ch");
    // Closed with a write pending: reopened before the commit, it is the same store (nothing lost).
    assert.equal(s.deviceStores.open("ts", "ch"), a);
    s.deviceStores.close("ts", "ch");
    await s.flush();
    const b = s.deviceStores.open("ts", "ch");
    assert.notEqual(b, a, "after the commit the closed store was let go");
    assert.deepEqual(b.entries("feed"), [["1", { value: { field1: "20" }, at: 1 }]]);
    s.deviceStores.close("ts", "other-never-opened"); // harmless
  });

  it("keeps devices and plugins apart", async function () {
    const file = path.join(dir, "b.db");
    let s = stores.open(file);
    s.deviceStores.open("blynk", "x").set("ds", "k", "blynk x", 1);
    s.deviceStores.open("blynk", "y").set("ds", "k", "blynk y", 1);
    s.deviceStores.open("tb", "x").set("ds", "k", "tb x", 1);
    s.close();
    s = stores.open(file);
    assert.equal(s.deviceStores.open("blynk", "x").get("ds", "k").value, "blynk x");
    assert.equal(s.deviceStores.open("blynk", "y").get("ds", "k").value, "blynk y");
    assert.equal(s.deviceStores.open("tb", "x").get("ds", "k").value, "tb x");
    assert.equal(s.deviceStores.open("tb", "y").size("ds"), 0);
  });

  it("forget removes a deleted device's state from the file", async function () {
    const file = path.join(dir, "b.db");
    let s = stores.open(file);
    const d = s.deviceStores.open("blynk", "gone");
    d.set("ds", "a", 1, 1);
    d.set("meta", "b", 2, 2);
    s.deviceStores.open("blynk", "kept").set("ds", "a", 3, 3);
    await s.flush();
    s.deviceStores.forget("blynk", "gone");
    s.deviceStores.forget("blynk", "never-existed");
    await s.flush();
    s.close();
    assert.deepEqual(
      rowsOf(file).map((r) => r.device),
      ["kept"],
    );
    s = stores.open(file);
    assert.equal(s.deviceStores.open("blynk", "gone").size("ds"), 0);
  });

  it("close commits what waits; afterwards writes are refused quietly and flush rejects naming the file", async function () {
    const file = path.join(dir, "b.db");
    const s = stores.open(file);
    const d = s.deviceStores.open("blynk", "dev");
    d.set("ds", "k", "last word", 9);
    s.close();
    assert.doesNotThrow(() => d.set("ds", "k", "too late", 10));
    await assert.rejects(d.flush(), (err) => err instanceof StoreError && err.code === "closed" && err.message.includes(file));
    assert.throws(() => s.deviceStores.open("blynk", "other"), (err) => err instanceof StoreError && err.code === "closed");
    assert.deepEqual(
      rowsOf(file).map((r) => r.value),
      ['"last word"'],
    );
  });

  it("skips a stored value that is not JSON, reporting which entry, and loads the rest", async function () {
    const file = path.join(dir, "b.db");
    let s = stores.open(file);
    const d = s.deviceStores.open("blynk", "dev");
    d.set("ds", "good", 1, 1);
    d.set("ds", "bad", 2, 2);
    s.close();
    const raw = new Database(file);
    raw.exec("PRAGMA locking_mode = EXCLUSIVE");
    raw.run("UPDATE device_state SET value = '{not json' WHERE key = 'bad'");
    raw.close();
    const bad = [];
    s = stores.open(file, { onBadRow: (...where) => bad.push(where) });
    assert.deepEqual(s.deviceStores.open("blynk", "dev").entries("ds"), [["good", { value: 1, at: 1 }]]);
    assert.deepEqual(bad, [["blynk", "dev", "ds", "bad"]]);
  });
});

describe("GroupCommit failures", function () {
  const stores = opener();
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });

  it("a failed commit rejects its flushes with an error naming the file, keeps the writes, and retries until it succeeds", async function () {
    const file = path.join(tempDir(), "b.db");
    const errors = [];
    let recovered = 0;
    const s = stores.open(file, { retryMs: 5, onError: (e) => errors.push(e), onRecovered: () => recovered++ });
    const faulty = faultyParticipant(s.commit);
    const d = s.deviceStores.open("blynk", "dev");
    d.set("ds", "k", "kept through the failure", 1);
    faulty.pending = 1;
    s.commit.touched();
    await assert.rejects(d.flush(), (err) => err instanceof StoreError && err.code === "io" && err.message.includes(file) && err.message.includes("simulated"));
    assert.equal(s.commit.failure?.file, file);
    // Writes go on while the disk fails: memory answers, the pending writes wait, no error is thrown.
    d.set("ds", "k2", "also kept", 2);
    assert.equal(d.get("ds", "k2").value, "also kept");
    await until(() => errors.length >= 1 && s.commit.failure !== undefined, 5_000, "the failure to be reported");
    const healed = d.flush();
    faulty.failing = false;
    await healed;
    assert.equal(errors.length, 1, "reported once per failing streak");
    assert.equal(recovered, 1);
    assert.equal(s.commit.failure, undefined);
    s.close();
    assert.deepEqual(
      rowsOf(file).map((r) => r.key),
      ["k", "k2"],
    );
  });

  it("a throwing onError listener stops neither the store nor its retries", async function () {
    const s = stores.open(path.join(tempDir(), "b.db"), {
      retryMs: 5,
      onError: () => {
        throw new Error("listener fault");
      },
    });
    const faulty = faultyParticipant(s.commit);
    faulty.pending = 1;
    s.commit.touched();
    await assert.rejects(s.flush());
    faulty.failing = false;
    await s.flush();
    assert.equal(faulty.writes, 1);
  });

  it("close while commits fail rejects what waits with the failure and still closes the file", async function () {
    const file = path.join(tempDir(), "b.db");
    const s = stores.open(file, { retryMs: 60_000 });
    const faulty = faultyParticipant(s.commit);
    faulty.pending = 1;
    s.commit.touched();
    await assert.rejects(s.flush());
    const waiting = s.flush();
    s.close();
    await assert.rejects(waiting, (err) => err instanceof StoreError && err.message.includes("simulated"));
    stores.open(file).close(); // the lock went with the close
  });
});

describe("SqliteDeviceStores refusing what JSON cannot hold", function () {
  const stores = opener();
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });

  it("refuses a bigint, a cycle or undefined at set, naming the file and the entry, and keeps committing the rest", async function () {
    const file = path.join(tempDir(), "b.db");
    const s = stores.open(file);
    const d = s.deviceStores.open("blynk", "dev");
    d.set("ds", "k", "before", 1);
    const cycle = {};
    cycle.self = cycle;
    for (const bad of [10n, cycle, undefined]) {
      assert.throws(
        () => d.set("ds", "bad", bad, 2),
        (err) => err instanceof StoreError && err.code === "invalid" && err.message.includes(file) && err.message.includes("blynk device dev ds/bad"),
      );
    }
    assert.equal(d.get("ds", "bad"), undefined, "nothing changed");
    d.set("ds", "k", "after", 3);
    await d.flush();
    s.close();
    assert.deepEqual(
      rowsOf(file).map((r) => r.value),
      ['"after"'],
    );
  });
});
