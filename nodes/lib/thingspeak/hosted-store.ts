/**
 * The feed of one hosted ThingSpeak channel: its entries in arrival order, with increasing
 * entry ids, bounded (the oldest entry is dropped first). In memory, for as long as the channel
 * is hosted (it outlives broker restarts, see emulation.ts).
 */
import type { FeedEntry, FieldNumber } from "./codec.js";

/** Default number of entries kept: ThingSpeak's largest read (8000 results). */
export const DEFAULT_STORE_LIMIT = 8000;
/** Largest accepted storeLimit: about 30 MB of entries at most per channel. */
export const MAX_STORE_LIMIT = 100_000;

export class FeedStore {
  readonly limit: number;
  #entries: FeedEntry[] = [];
  /** Index of the oldest kept entry in #entries (dropping by index keeps append O(1)). */
  #start = 0;
  #lastId = 0;
  /** created_at -> entries kept with it, to refuse duplicates in O(1). */
  readonly #times = new Map<string, number>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** The id the next entry gets. */
  get nextId(): number {
    return this.#lastId + 1;
  }

  get lastId(): number | null {
    return this.#lastId === 0 ? null : this.#lastId;
  }

  get size(): number {
    return this.#entries.length - this.#start;
  }

  hasTime(createdAt: string): boolean {
    return this.#times.has(createdAt);
  }

  /** Adds an entry made with `nextId`; drops the oldest over the limit. */
  append(entry: FeedEntry): void {
    if (entry.entry_id !== this.nextId) throw new Error(`entry ${entry.entry_id} is not the next one (${this.nextId})`);
    this.#entries.push(entry);
    this.#lastId = entry.entry_id;
    this.#times.set(entry.created_at, (this.#times.get(entry.created_at) ?? 0) + 1);
    while (this.size > this.limit) {
      const dropped = this.#entries.at(this.#start);
      this.#start++;
      if (dropped !== undefined) this.#forget(dropped.created_at);
    }
    // Compact once half the array is dropped entries, so memory stays bounded by the limit.
    if (this.#start > this.limit) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
  }

  #forget(createdAt: string): void {
    const n = (this.#times.get(createdAt) ?? 1) - 1;
    if (n <= 0) this.#times.delete(createdAt);
    else this.#times.set(createdAt, n);
  }

  /** Copies of the kept entries, oldest first (callers may change them freely). */
  all(): FeedEntry[] {
    return this.#entries.slice(this.#start).map((e) => ({ ...e }));
  }

  /** The newest entry, or with `field` the newest entry that has a value for it. */
  last(field?: FieldNumber): FeedEntry | undefined {
    for (let i = this.#entries.length - 1; i >= this.#start; i--) {
      const entry = this.#entries.at(i);
      if (entry !== undefined && (field === undefined || entry[`field${field}`] !== null)) return { ...entry };
    }
    return undefined;
  }
}
