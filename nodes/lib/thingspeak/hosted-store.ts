/**
 * The feed of one hosted ThingSpeak channel, the writing side: a typed view over its
 * `DeviceStore` (layout in hosted-state.ts) that turns updates into entries with increasing ids,
 * refuses what ThingSpeak refuses (nothing to store, within the update interval, a created_at
 * stored already) and keeps at most `limit` entries (the oldest dropped first). One FeedStore
 * writes a store at a time: the channel's runtime on the running engine, or its hosting while
 * no broker runs (hosted-channel.ts).
 */
import type { DeviceStore, StoredJson } from "../broker/index.js";
import { TransportError, toError } from "../transport/errors.js";
import { createdAtMs, entryFromUpdate, isEmptyUpdate, type ChannelUpdate, type FeedEntry } from "./codec.js";
import { CHANNEL_SECTION, FEED_SECTION, channelNumber, lastEntryId, type ChannelKey } from "./hosted-state.js";
import type { BulkResult, HostedChannel, WriteResult } from "./hosted-types.js";

/** Default number of entries kept: ThingSpeak's largest read (8000 results). */
export const DEFAULT_STORE_LIMIT = 8000;
/** Largest accepted storeLimit: about 30 MB of entries at most per channel. */
export const MAX_STORE_LIMIT = 100_000;

/** A codec refusal -> the write result for it. */
export function refusalOf(err: unknown): WriteResult & { ok: false } {
  if (err instanceof TransportError && (err.code === "invalid" || err.code === "too-large")) {
    return { ok: false, code: err.code, message: err.message };
  }
  return { ok: false, code: "invalid", message: toError(err).message };
}

function setChannel(store: DeviceStore, key: ChannelKey, value: number, at: number): void {
  store.set(CHANNEL_SECTION, key, value, at);
}

/** The feed as JSON for the store (a FeedEntry holds only text, numbers and null). */
function stored(entry: FeedEntry): StoredJson {
  return { ...entry };
}

function createdAtOf(value: StoredJson | undefined): string | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof value.created_at === "string" ? value.created_at : undefined;
}

/** Makes `to` hold what `from` holds (the feed and the channel record). */
export function copyFeed(from: DeviceStore, to: DeviceStore): void {
  for (const section of [FEED_SECTION, CHANNEL_SECTION]) {
    to.clear(section);
    for (const [key, { value, at }] of from.entries(section)) to.set(section, key, value, at);
  }
}

/**
 * Whether `than` should replace `store`'s feed: `store` is empty (no entry, no channel record),
 * or `than` has newer entries. A durable store that has entries but no channel record (its
 * channel was first hosted on a running broker) is not behind an empty feed: it keeps them.
 */
export function isBehind(store: DeviceStore, than: DeviceStore): boolean {
  const stored = lastEntryId(store) ?? 0;
  if (stored === 0 && channelNumber(store, "createdAt") === undefined) return true;
  return (lastEntryId(than) ?? 0) > stored;
}

export class FeedStore {
  readonly store: DeviceStore;
  readonly limit: number;
  #lastId: number;
  /** created_at -> entries kept with it, to refuse duplicates in O(1) (derived from the store). */
  readonly #times = new Map<string, number>();

  constructor(store: DeviceStore, limit: number) {
    this.store = store;
    this.limit = limit;
    this.#lastId = lastEntryId(store) ?? 0;
    for (const [, { value }] of store.entries(FEED_SECTION)) {
      const createdAt = createdAtOf(value);
      if (createdAt !== undefined) this.#count(createdAt, 1);
    }
    this.#trim(); // a lower limit than the store was kept with
  }

  /** The id the next entry gets. */
  get nextId(): number {
    return this.#lastId + 1;
  }

  get size(): number {
    return this.store.size(FEED_SECTION);
  }

  hasTime(createdAt: string): boolean {
    return this.#times.has(createdAt);
  }

  /**
   * Stores `update` as the next entry of channel `config`, unless it is refused (empty, within
   * the update interval, a created_at already stored). Never throws: refusals are returned.
   */
  write(config: Readonly<HostedChannel>, update: ChannelUpdate, now: number): WriteResult {
    if (isEmptyUpdate(update)) {
      return { ok: false, code: "no-action", message: "nothing to store: the update has no field, location, elevation or status" };
    }
    const early = this.#tooEarly(config, now, "update");
    if (early !== undefined) return early;
    let entry: FeedEntry;
    try {
      entry = entryFromUpdate(config.channelId, this.nextId, update, now);
    } catch (err) {
      return refusalOf(err);
    }
    if (update.created_at !== undefined && this.hasTime(entry.created_at)) {
      return { ok: false, code: "conflict", message: `an entry with created_at ${entry.created_at} is stored already; created_at is unique per channel` };
    }
    this.#append(entry, now);
    return { ok: true, entry };
  }

  /**
   * Stores a bulk update's entries (each with its created_at) as the next entries, all or none:
   * the whole call counts as one update for the update interval (ThingSpeak: one bulk call per
   * interval), an empty update, a value the codec refuses or a created_at stored already (or
   * twice in the call) refuses the call, naming the update. Never throws.
   */
  writeBulk(config: Readonly<HostedChannel>, updates: readonly ChannelUpdate[], now: number): BulkResult {
    const early = this.#tooEarly(config, now, "bulk update");
    if (early !== undefined) return early;
    const entries: FeedEntry[] = [];
    const times = new Set<string>();
    for (const [i, update] of updates.entries()) {
      const which = `update ${i} of the bulk update`;
      if (isEmptyUpdate(update)) return { ok: false, code: "no-action", message: `nothing to store in ${which}: it has no field, location, elevation or status` };
      let entry: FeedEntry;
      try {
        entry = entryFromUpdate(config.channelId, this.nextId + i, update, now);
      } catch (err) {
        const refusal = refusalOf(err);
        return { ...refusal, message: `${which}: ${refusal.message}` };
      }
      if (this.hasTime(entry.created_at) || times.has(entry.created_at)) {
        return { ok: false, code: "conflict", message: `${which}: an entry with created_at ${entry.created_at} is stored already (or comes twice); created_at is unique per channel` };
      }
      times.add(entry.created_at);
      entries.push(entry);
    }
    for (const entry of entries) this.#append(entry, now);
    return { ok: true, entries };
  }

  /** The refusal of a write within the update interval, or undefined when it may go in. */
  #tooEarly(config: Readonly<HostedChannel>, now: number, what: string): (WriteResult & { ok: false }) | undefined {
    const interval = config.updateIntervalMs;
    const lastUpdateAt = channelNumber(this.store, "lastUpdateAt");
    const elapsed = lastUpdateAt === undefined ? Infinity : now - lastUpdateAt;
    // A clock set back (elapsed < 0) must not block updates for that long: it lets the update in.
    if (elapsed < 0 || elapsed >= interval) return undefined;
    const retryInMs = interval - elapsed;
    return { ok: false, code: "rate-limited", retryInMs, message: `over the channel's update interval of ${interval} ms: the next ${what} is accepted in ${retryInMs} ms` };
  }

  /** Adds an entry made with `nextId`; drops the oldest over the limit. */
  #append(entry: FeedEntry, now: number): void {
    this.store.set(FEED_SECTION, String(entry.entry_id), stored(entry), createdAtMs(entry.created_at));
    this.#lastId = entry.entry_id;
    setChannel(this.store, "lastEntryId", entry.entry_id, now);
    setChannel(this.store, "lastUpdateAt", now, now);
    this.#count(entry.created_at, 1);
    this.#trim();
  }

  #trim(): void {
    while (this.size > this.limit) {
      // The kept ids are one run ending at the last id (hosted-state.ts): the oldest is found by id.
      const oldest = String(this.#lastId - this.size + 1);
      const key = this.store.get(FEED_SECTION, oldest) === undefined ? this.store.entries(FEED_SECTION).at(0)?.[0] : oldest;
      if (key === undefined) return;
      const createdAt = createdAtOf(this.store.get(FEED_SECTION, key)?.value);
      this.store.delete(FEED_SECTION, key);
      if (createdAt !== undefined) this.#count(createdAt, -1);
    }
  }

  #count(createdAt: string, delta: number): void {
    const n = (this.#times.get(createdAt) ?? 0) + delta;
    if (n <= 0) this.#times.delete(createdAt);
    else this.#times.set(createdAt, n);
  }
}
