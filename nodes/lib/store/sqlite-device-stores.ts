/**
 * Hosted devices' state in SQLite, behind the broker's `DeviceStore` (docs/ARCHITECTURE.md 1.4, 3.5).
 * Opening a device loads its rows into memory once; reads are answered from memory; `set`,
 * `delete` and `clear` change memory at once and leave a pending write, coalesced per entry (a
 * value set 100 times between two commits is written once), that the file's group commit
 * writes. So what waits for a commit is bounded by the entries the device has, whatever the rate.
 */
import type { DeviceStore, DeviceStoreProvider, StoredJson, StoredValue } from "../broker/device-store.js";
import type { CommitParticipant, GroupCommit } from "./group-commit.js";
import { num, text, type Prepared, type Row } from "./sqlite-file.js";
import { StoreError, storeErrorFrom } from "./store-error.js";

interface Entry {
  readonly stored: StoredValue;
  readonly seq: number;
}

/** A pending write of one entry: its new value as JSON text, or null for a delete. */
type PendingEntry = { readonly entry: Entry; readonly json: string } | null;

interface Statements {
  readonly load: Prepared;
  readonly upsert: Prepared;
  readonly remove: Prepared;
  readonly clear: Prepared;
}

/** One device's state: memory first, written by the provider's group commit. */
class SqliteDeviceStore implements DeviceStore {
  readonly plugin: string;
  readonly deviceId: string;
  readonly #owner: SqliteDeviceStores;
  readonly #sections = new Map<string, Map<string, Entry>>();
  /** Per section, the entries written since the last commit (later writes replace earlier ones). */
  readonly #pending = new Map<string, Map<string, PendingEntry>>();
  /** Sections cleared since the last commit: written before the entries, which all came after the clear. */
  readonly #clears = new Set<string>();
  #pendingCount = 0;
  #nextSeq = 0;
  /** Closed by its device; kept until its pending writes are committed. */
  closed = false;

  constructor(owner: SqliteDeviceStores, plugin: string, deviceId: string, rows: Row[]) {
    this.#owner = owner;
    this.plugin = plugin;
    this.deviceId = deviceId;
    const loaded = rows.map((row) => ({ section: text(row, "section"), key: text(row, "key"), seq: num(row, "seq"), value: text(row, "value"), at: num(row, "at") }));
    loaded.sort((a, b) => a.seq - b.seq);
    for (const row of loaded) {
      let value: StoredJson;
      try {
        value = JSON.parse(row.value) as StoredJson;
      } catch {
        owner.reportBadRow(this, row.section, row.key);
        continue;
      }
      this.#section(row.section).set(row.key, { stored: { value, at: row.at }, seq: row.seq });
      this.#nextSeq = Math.max(this.#nextSeq, row.seq + 1);
    }
  }

  get pending(): number {
    return this.#pendingCount;
  }

  get(section: string, key: string): StoredValue | undefined {
    return this.#sections.get(section)?.get(key)?.stored;
  }

  entries(section: string): [string, StoredValue][] {
    const entries = this.#sections.get(section);
    return entries === undefined ? [] : Array.from(entries, ([key, e]) => [key, e.stored]);
  }

  size(section: string): number {
    return this.#sections.get(section)?.size ?? 0;
  }

  /** Throws a StoreError ("invalid") for a value JSON cannot hold (a bigint, a cycle), changing nothing: one bad value must not hold up every later commit. */
  set(section: string, key: string, value: StoredJson, at: number): void {
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      json = undefined; // a bigint or a cycle
    }
    if (json === undefined) this.#owner.refuse(this, section, key);
    const entries = this.#section(section);
    const seq = entries.get(key)?.seq ?? this.#nextSeq++;
    const entry: Entry = { stored: { value, at }, seq };
    entries.set(key, entry);
    this.#write(section, key, { entry, json });
  }

  delete(section: string, key: string): boolean {
    const entries = this.#sections.get(section);
    if (entries?.delete(key) !== true) return false; // memory mirrors the file: nothing to write
    if (entries.size === 0) this.#sections.delete(section);
    this.#write(section, key, null);
    return true;
  }

  clear(section: string): void {
    if (!this.#sections.delete(section)) return;
    const dropped = this.#pending.get(section);
    this.#pending.delete(section);
    let delta = -(dropped?.size ?? 0);
    if (!this.#clears.has(section)) {
      this.#clears.add(section);
      delta++;
    }
    this.#pendingCount += delta;
    this.#owner.touched(this, delta);
  }

  flush(): Promise<void> {
    return this.#owner.flush();
  }

  sectionNames(): string[] {
    return [...this.#sections.keys()];
  }

  /** Writes what is pending (inside the commit's transaction). */
  write(statements: Statements): void {
    for (const section of this.#clears) statements.clear.run([this.plugin, this.deviceId, section]);
    for (const [section, entries] of this.#pending) {
      for (const [key, entry] of entries) {
        if (entry === null) statements.remove.run([this.plugin, this.deviceId, section, key]);
        else statements.upsert.run([this.plugin, this.deviceId, section, key, entry.entry.seq, entry.json, entry.entry.stored.at]);
      }
    }
  }

  committed(): void {
    this.#pending.clear();
    this.#clears.clear();
    this.#pendingCount = 0;
  }

  #section(section: string): Map<string, Entry> {
    let entries = this.#sections.get(section);
    if (entries === undefined) {
      entries = new Map();
      this.#sections.set(section, entries);
    }
    return entries;
  }

  #write(section: string, key: string, entry: PendingEntry): void {
    let entries = this.#pending.get(section);
    if (entries === undefined) {
      entries = new Map();
      this.#pending.set(section, entries);
    }
    const delta = entries.has(key) ? 0 : 1;
    this.#pendingCount += delta;
    entries.set(key, entry);
    this.#owner.touched(this, delta);
  }
}

export interface SqliteDeviceStoresOptions {
  /** A stored value that is not JSON (a damaged row) was skipped when its device was opened. */
  onBadRow?: (plugin: string, deviceId: string, section: string, key: string) => void;
}

/** Every hosted device's state in one SQLite file; a device's state is there again when it is opened again. */
export class SqliteDeviceStores implements DeviceStoreProvider, CommitParticipant {
  readonly #commit: GroupCommit;
  readonly #statements: Statements;
  readonly #onBadRow: SqliteDeviceStoresOptions["onBadRow"];
  /** Open devices, and closed ones whose writes are not committed yet (an open in between revives them). */
  readonly #stores = new Map<string, SqliteDeviceStore>();
  readonly #dirty = new Set<SqliteDeviceStore>();
  #pending = 0;

  constructor(commit: GroupCommit, options: SqliteDeviceStoresOptions = {}) {
    this.#commit = commit;
    this.#onBadRow = options.onBadRow;
    const file = commit.file;
    this.#statements = {
      load: file.prepare("SELECT section, key, seq, value, at FROM device_state WHERE plugin = ? AND device = ?"),
      upsert: file.prepare(
        "INSERT INTO device_state (plugin, device, section, key, seq, value, at) VALUES (?, ?, ?, ?, ?, ?, ?) " +
          "ON CONFLICT (plugin, device, section, key) DO UPDATE SET seq = excluded.seq, value = excluded.value, at = excluded.at",
      ),
      remove: file.prepare("DELETE FROM device_state WHERE plugin = ? AND device = ? AND section = ? AND key = ?"),
      clear: file.prepare("DELETE FROM device_state WHERE plugin = ? AND device = ? AND section = ?"),
    };
    commit.join(this);
  }

  /** Loads the device's state (once; a StoreError naming the file if it cannot be read). */
  open(plugin: string, deviceId: string): DeviceStore {
    return this.#openStore(plugin, deviceId);
  }

  #openStore(plugin: string, deviceId: string): SqliteDeviceStore {
    const id = storeKey(plugin, deviceId);
    let store = this.#stores.get(id);
    if (store === undefined) {
      if (this.#commit.closed) throw new StoreError("closed", this.#commit.file.path, `cannot open ${plugin} device ${deviceId}: the database is closed`);
      let rows: Row[];
      try {
        rows = this.#statements.load.all([plugin, deviceId]);
      } catch (err) {
        throw storeErrorFrom(this.#commit.file.path, `loading the state of ${plugin} device ${deviceId}`, err);
      }
      store = new SqliteDeviceStore(this, plugin, deviceId, rows);
      this.#stores.set(id, store);
    }
    store.closed = false;
    return store;
  }

  /** The device is no longer hosted here: its state stays in the file (memory goes once it is committed). */
  close(plugin: string, deviceId: string): void {
    const id = storeKey(plugin, deviceId);
    const store = this.#stores.get(id);
    if (store === undefined) return;
    store.closed = true;
    if (!this.#dirty.has(store)) this.#stores.delete(id);
  }

  /** Removes a device's state from the file (the device was deleted, not just redeployed). */
  forget(plugin: string, deviceId: string): void {
    const wasOpen = this.#stores.get(storeKey(plugin, deviceId))?.closed === false;
    const store = this.#openStore(plugin, deviceId);
    for (const section of store.sectionNames()) store.clear(section);
    if (!wasOpen) this.close(plugin, deviceId);
  }

  get pending(): number {
    return this.#pending;
  }

  write(): void {
    for (const store of this.#dirty) store.write(this.#statements);
  }

  committed(): void {
    for (const store of this.#dirty) {
      store.committed();
      if (store.closed) this.#stores.delete(storeKey(store.plugin, store.deviceId));
    }
    this.#dirty.clear();
    this.#pending = 0;
  }

  flush(): Promise<void> {
    return this.#commit.flush();
  }

  /** `store` changed its pending writes by `delta` (a clear can drop some). */
  touched(store: SqliteDeviceStore, delta: number): void {
    this.#dirty.add(store);
    this.#pending += delta;
    this.#commit.touched();
  }

  refuse(store: SqliteDeviceStore, section: string, key: string): never {
    throw new StoreError("invalid", this.#commit.file.path, `the value of ${store.plugin} device ${store.deviceId} ${section}/${key} is not JSON (a bigint, a cycle, a function or undefined): not stored`);
  }

  reportBadRow(store: SqliteDeviceStore, section: string, key: string): void {
    try {
      this.#onBadRow?.(store.plugin, store.deviceId, section, key);
    } catch {
      // A listener's fault must not stop a device from opening.
    }
  }
}

function storeKey(plugin: string, deviceId: string): string {
  return `${plugin}\u0000${deviceId}`;
}
