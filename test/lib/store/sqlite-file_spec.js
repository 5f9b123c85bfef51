"use strict";
// The SQLite file under the stores: where it goes, one writer, and the errors a user sees for a
// file that is held, damaged or unusable (a StoreError naming the file, never a crash).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { fork } = require("node:child_process");
const { Database } = require("node-sqlite3-wasm");
const { waitFor } = require("../../support/wait.js");
const { store, tempDir, removeTempDirs, opener } = require("./fixtures.js");

const { SqliteFile, StoreError } = store;
const CHILD = path.join(__dirname, "store-child.js");

/** Asserts `fn` throws a StoreError of `code` naming `file` and holding every fragment. */
function throwsStoreError(fn, code, file, ...fragments) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof StoreError, `not a StoreError: ${err}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `"${err.message}" does not name the file`);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${err.message}" lacks "${f}"`);
    return true;
  });
}

describe("SqliteFile", function () {
  const stores = opener();
  const children = [];
  afterEach(function () {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    stores.closeAll();
    removeTempDirs();
  });

  it("creates the file and its folders, in WAL mode, and leaves no lock behind when closed", function () {
    const file = path.join(tempDir(), "a", "b", "iot-bridge", "broker.db");
    const db = SqliteFile.open(file);
    assert.equal(db.path, file);
    assert.ok(fs.existsSync(file));
    assert.ok(fs.existsSync(`${file}.lock`), "held while open");
    assert.ok(fs.existsSync(`${file}.owner`), "with its owner");
    db.close();
    db.close(); // twice is harmless
    assert.ok(!fs.existsSync(`${file}.lock`));
    assert.ok(!fs.existsSync(`${file}.owner`));
    const raw = new Database(file);
    try {
      raw.exec("PRAGMA locking_mode = EXCLUSIVE"); // WAL without shared memory, as the store opens it
      assert.equal(raw.get("PRAGMA journal_mode").journal_mode, "wal");
      assert.ok(raw.get("PRAGMA user_version").user_version >= 1, "migrated");
    } finally {
      raw.close();
    }
  });

  it("refuses a second opener in the same process, naming the file", function () {
    const file = path.join(tempDir(), "broker.db");
    const first = stores.open(file);
    throwsStoreError(() => stores.open(file), "locked", file, "this process already has it open");
    first.close();
    stores.open(file).close(); // free again once closed
  });

  it("refuses a file another process holds, naming the file and the process", async function () {
    const file = path.join(tempDir(), "broker.db");
    const child = fork(CHILD, [file, "hold"], { stdio: "ignore" });
    children.push(child);
    const [ready] = await waitFor(child, "message", (m) => m.ready === true, 10_000);
    throwsStoreError(() => stores.open(file), "locked", file, `process ${ready.pid}`);
    const exited = waitFor(child, "exit", () => true, 10_000);
    child.send("close");
    await exited;
    stores.open(file).close();
  });

  it("takes over a lock left by a process that was killed (kill -9)", async function () {
    const file = path.join(tempDir(), "broker.db");
    const child = fork(CHILD, [file, "hold"], { stdio: "ignore" });
    children.push(child);
    await waitFor(child, "message", (m) => m.ready === true, 10_000);
    const exited = waitFor(child, "exit", () => true, 10_000);
    child.kill("SIGKILL");
    await exited;
    assert.ok(fs.existsSync(`${file}.lock`), "the dead process's lock is still there");
    const s = stores.open(file);
    s.deviceStores.open("toy", "d").set("ds", "k", 1, 1);
    await s.flush();
  });

  it("refuses a fresh lock with no owner yet (someone is opening it right now)", function () {
    const file = path.join(tempDir(), "broker.db");
    fs.mkdirSync(`${file}.lock`);
    throwsStoreError(() => stores.open(file), "locked", file, "being opened by another process");
  });

  it("takes over an old lock with no owner (a crash between locking and recording the owner)", function () {
    const file = path.join(tempDir(), "broker.db");
    fs.mkdirSync(`${file}.lock`);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${file}.lock`, old, old);
    stores.open(file).close();
  });

  it("reports a file that is not a database as corrupt, naming it", function () {
    const file = path.join(tempDir(), "broker.db");
    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
    throwsStoreError(() => stores.open(file), "corrupt", file, "not a database", "restore it from a backup");
    assert.ok(!fs.existsSync(`${file}.lock`), "the failed open let go of the file");
  });

  it("reports a damaged database (valid header, garbage pages) as corrupt, naming it", async function () {
    const file = path.join(tempDir(), "broker.db");
    const s = stores.open(file);
    const d = s.deviceStores.open("toy", "d");
    for (let i = 0; i < 2_000; i++) d.set("ds", `k${i}`, "x".repeat(100), i);
    s.close();
    const bytes = fs.readFileSync(file);
    bytes.fill(0xa5, 4096); // keep page 1 (header and schema), ruin the rest
    fs.writeFileSync(file, bytes);
    let err;
    try {
      stores.open(file).deviceStores.open("toy", "d");
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
    assert.equal(err.code, "corrupt", err.message);
    assert.ok(err.message.includes(file));
  });

  it("reports a path that is a folder, and a folder that cannot be made, as I/O errors naming them", function () {
    const dir = tempDir();
    throwsStoreError(() => stores.open(dir), "io", dir);
    const blocker = path.join(dir, "plain-file");
    fs.writeFileSync(blocker, "");
    const file = path.join(blocker, "sub", "broker.db");
    throwsStoreError(() => stores.open(file), "io", file, "cannot create the folder");
  });

  it("refuses a file written by a newer schema than it knows", function () {
    const file = path.join(tempDir(), "broker.db");
    const raw = new Database(file);
    raw.exec("PRAGMA user_version = 999");
    raw.close();
    throwsStoreError(() => stores.open(file), "invalid", file, "schema version 999");
  });

  it("rolls a failed transaction back whole and says so with the file's name after close", function () {
    const file = path.join(tempDir(), "broker.db");
    const db = SqliteFile.open(file);
    const insert = db.prepare("INSERT INTO history_stream (id, plugin, device, stream, count) VALUES (?, 'p', 'd', ?, 0)");
    assert.throws(() =>
      db.transaction(() => {
        insert.run([1, "a"]);
        insert.run([1, "b"]); // same id: refused
      }),
    );
    assert.equal(db.prepare("SELECT count(*) AS n FROM history_stream").get().n, 0);
    db.close();
    throwsStoreError(() => db.prepare("SELECT 1"), "closed", file, "closed");
  });
});

describe("SqliteFile backup", function () {
  const stores = opener();
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });

  it("copies the open, in-use database to a file another store opens with everything committed", async function () {
    const dir = tempDir();
    const s = stores.open(path.join(dir, "broker.db"));
    s.deviceStores.open("toy", "d").set("ds", "k", { v: 1 }, 5);
    s.history.append("toy", "d", "k", 5, 1);
    await s.flush();
    s.file.backup(path.join(dir, "backups", "copy.db"));
    s.deviceStores.open("toy", "d").set("ds", "k", { v: 2 }, 6); // after the copy: not in it
    const copy = stores.open(path.join(dir, "backups", "copy.db"));
    assert.deepEqual(copy.deviceStores.open("toy", "d").get("ds", "k"), { value: { v: 1 }, at: 5 });
    assert.deepEqual(copy.history.query("toy", "d", "k"), [{ ts: 5, value: 1 }]);
    assert.throws(() => s.file.backup(path.join(dir, "backups", "copy.db")), (err) => err instanceof StoreError && err.message.includes("backing up"));
  });
});
