/**
 * One hosted device's state in the `redis` persistence: memory answers every read, writes wait
 * (coalesced per entry, as in SQLite) for the provider to send them, and changes other
 * instances made arrive as change messages (redis-device-stores.ts).
 *
 * Which value wins: Redis runs every write (a script that also publishes the change) in one
 * order, and every instance receives the change messages in that order, its own included. A
 * change from elsewhere that arrives while this instance still has a write of the same entry
 * unsent, or sent but not yet echoed back, ran before that write, which will replace it: it is
 * skipped. Otherwise it is applied. So every instance ends with what Redis holds, and a reader
 * always sees its own instance's latest write.
 */
import { storedJsonText, type DeviceStore, type StoredJson, type StoredValue } from "../broker/device-store.js";

/** A change as the channel carries it (`op`: s = set, d = delete, c = clear a section). */
export interface Change {
  /** The instance that made it. */
  readonly o: string;
  readonly p: string;
  readonly d: string;
  readonly op: "s" | "d" | "c";
  readonly s: string;
  readonly k?: string;
  readonly a?: number;
  readonly v?: StoredJson;
  /** 1: the entry was deleted before this set, so it goes last. */
  readonly f?: number;
}

/**
 * A write waiting to be sent: the value's JSON and time, or null for a delete. `fresh`: the
 * entry was deleted since the last send, so it takes a new place (last) rather than its old one.
 */
export type PendingWrite = { readonly json: string; readonly at: number; readonly fresh: boolean } | null;

/** What one send takes from a device (the provider turns it into script calls). */
export interface Outgoing {
  readonly clears: string[];
  readonly writes: { section: string; key: string; write: PendingWrite }[];
}

/** The provider's side of a device store. */
export interface StoreOwner {
  /** `store` has unsent writes. */
  touched(store: RedisDeviceStore): void;
  /** Throws the provider's StoreError for a value JSON cannot hold. */
  refuse(store: RedisDeviceStore, section: string, key: string): never;
  /** Resolves once every write of every device (and of the history) so far is in Redis. */
  flushDevice(): Promise<void>;
}

/** The hash field of an entry: unambiguous for any section and key (special fields start with "#"). */
export function fieldOf(section: string, key: string): string {
  return JSON.stringify([section, key]);
}

/** What every field of a section starts with. */
export function sectionPrefix(section: string): string {
  return JSON.stringify([section, ""]).slice(0, -3);
}

export class RedisDeviceStore implements DeviceStore {
  readonly plugin: string;
  readonly deviceId: string;
  readonly #owner: StoreOwner;
  readonly #sections = new Map<string, Map<string, StoredValue>>();
  /** Unsent writes per section, then key (later writes replace earlier ones). */
  #dirty = new Map<string, Map<string, PendingWrite>>();
  /** Sections cleared and not sent yet: sent before the writes, which all came after. */
  #dirtyClears = new Set<string>();
  /** Sent writes whose own change message has not come back, per entry field and per cleared section. */
  readonly #inFlight = new Map<string, number>();
  readonly #inFlightClears = new Map<string, number>();

  constructor(owner: StoreOwner, plugin: string, deviceId: string) {
    this.#owner = owner;
    this.plugin = plugin;
    this.deviceId = deviceId;
  }

  get(section: string, key: string): StoredValue | undefined {
    return this.#sections.get(section)?.get(key);
  }

  entries(section: string): [string, StoredValue][] {
    const entries = this.#sections.get(section);
    return entries === undefined ? [] : [...entries];
  }

  size(section: string): number {
    return this.#sections.get(section)?.size ?? 0;
  }

  /** Throws a StoreError ("invalid") for a value JSON cannot hold, changing nothing. */
  set(section: string, key: string, value: StoredJson, at: number): void {
    const json = storedJsonText(value);
    if (json === undefined || !Number.isFinite(at)) this.#owner.refuse(this, section, key);
    this.#section(section).set(key, { value, at });
    this.#write(section, key, { json, at, fresh: false });
  }

  delete(section: string, key: string): boolean {
    const entries = this.#sections.get(section);
    if (entries?.delete(key) !== true) return false;
    if (entries.size === 0) this.#sections.delete(section);
    this.#write(section, key, null);
    return true;
  }

  clear(section: string): void {
    if (!this.#sections.delete(section)) return;
    this.#dirty.delete(section);
    this.#dirtyClears.add(section);
    this.#owner.touched(this);
  }

  flush(): Promise<void> {
    return this.#owner.flushDevice();
  }

  sectionNames(): string[] {
    return [...this.#sections.keys()];
  }

  get hasUnsent(): boolean {
    return this.#dirty.size > 0 || this.#dirtyClears.size > 0;
  }

  /** Takes the unsent writes for a send; each is counted in flight until its change comes back. */
  takeUnsent(): Outgoing {
    const clears = [...this.#dirtyClears];
    const writes: Outgoing["writes"] = [];
    for (const [section, entries] of this.#dirty) for (const [key, write] of entries) writes.push({ section, key, write });
    this.#dirtyClears = new Set();
    this.#dirty = new Map();
    for (const section of clears) bump(this.#inFlightClears, section, 1);
    for (const w of writes) bump(this.#inFlight, fieldOf(w.section, w.key), 1);
    return { clears, writes };
  }

  /** A send failed: what it carried is unsent again, unless written anew meanwhile. */
  sendFailed(sent: Outgoing): void {
    // Sections cleared since the send: the writes it carried for them are superseded.
    const clearedSince = new Set(this.#dirtyClears);
    for (const section of sent.clears) {
      bump(this.#inFlightClears, section, -1);
      this.#dirtyClears.add(section);
    }
    for (const { section, key, write } of sent.writes) {
      bump(this.#inFlight, fieldOf(section, key), -1);
      if (clearedSince.has(section)) continue;
      let entries = this.#dirty.get(section);
      if (entries === undefined) {
        entries = new Map();
        this.#dirty.set(section, entries);
      }
      // A newer write of the entry (still unsent) replaces it.
      if (!entries.has(key)) entries.set(key, write);
    }
    if (this.hasUnsent) this.#owner.touched(this);
  }

  /** Every sent write either came back or never will (the channel was resubscribed). */
  forgetInFlight(): void {
    this.#inFlight.clear();
    this.#inFlightClears.clear();
  }

  /** A change from the channel (see the file's comment for which changes are skipped). */
  apply(change: Change, own: boolean): void {
    if (change.op === "c") {
      if (own && take(this.#inFlightClears, change.s)) return;
      if (this.#clearPending(change.s)) return;
      const entries = this.#sections.get(change.s);
      if (entries === undefined) return;
      for (const key of [...entries.keys()]) if (!this.#entryPending(change.s, key)) entries.delete(key);
      if (entries.size === 0) this.#sections.delete(change.s);
      return;
    }
    const key = change.k ?? "";
    if (own && take(this.#inFlight, fieldOf(change.s, key))) return;
    if (this.#clearPending(change.s) || this.#entryPending(change.s, key)) return;
    if (change.op === "s") {
      const entries = this.#section(change.s);
      if (change.f === 1) entries.delete(key);
      entries.set(key, { value: change.v ?? null, at: change.a ?? 0 });
    } else {
      const entries = this.#sections.get(change.s);
      entries?.delete(key);
      if (entries?.size === 0) this.#sections.delete(change.s);
    }
  }

  /** The state Redis holds, in first-written order: replaces what this instance has no write of its own pending for. */
  applySnapshot(rows: { section: string; key: string; stored: StoredValue }[]): void {
    const kept = new Map<string, Map<string, StoredValue>>();
    for (const [section, entries] of this.#sections) {
      for (const [key, stored] of entries) {
        if (this.#clearPending(section) || this.#entryPending(section, key)) sectionIn(kept, section).set(key, stored);
      }
    }
    this.#sections.clear();
    for (const { section, key, stored } of rows) {
      if (this.#clearPending(section) || this.#entryPending(section, key)) continue;
      sectionIn(this.#sections, section).set(key, stored);
    }
    for (const [section, entries] of kept) for (const [key, stored] of entries) sectionIn(this.#sections, section).set(key, stored);
  }

  #clearPending(section: string): boolean {
    return this.#dirtyClears.has(section) || (this.#inFlightClears.get(section) ?? 0) > 0;
  }

  #entryPending(section: string, key: string): boolean {
    return this.#dirty.get(section)?.has(key) === true || (this.#inFlight.get(fieldOf(section, key)) ?? 0) > 0;
  }

  #section(section: string): Map<string, StoredValue> {
    return sectionIn(this.#sections, section);
  }

  #write(section: string, key: string, write: PendingWrite): void {
    let entries = this.#dirty.get(section);
    if (entries === undefined) {
      entries = new Map();
      this.#dirty.set(section, entries);
    }
    const previous = entries.get(key);
    if (write !== null && (previous === null || previous?.fresh === true)) {
      // Deleted, then set again before a send: it goes last, as in memory (and among the unsent, last too).
      entries.delete(key);
      entries.set(key, { ...write, fresh: true });
    } else {
      entries.set(key, write);
    }
    this.#owner.touched(this);
  }
}

function sectionIn(sections: Map<string, Map<string, StoredValue>>, section: string): Map<string, StoredValue> {
  let entries = sections.get(section);
  if (entries === undefined) {
    entries = new Map();
    sections.set(section, entries);
  }
  return entries;
}

function bump(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

/** Counts one echo off; false when none was expected (the change is then treated like anyone's). */
function take(counts: Map<string, number>, key: string): boolean {
  if ((counts.get(key) ?? 0) === 0) return false;
  bump(counts, key, -1);
  return true;
}
