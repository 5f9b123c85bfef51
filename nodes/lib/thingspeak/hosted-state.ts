/**
 * How a hosted ThingSpeak channel keeps its feed in its `DeviceStore` (broker/device-store.ts),
 * and the read functions over it: what the REST API and the local-mode link read (the link
 * through `handle.store`). Pure functions of a store; the writing side (limits, entry ids, the
 * update interval) is hosted-store.ts.
 *
 * Layout (JSON values, keyed by entry id, never by a key or password):
 * - section `feed`: key = entry id, value = the entry (`FeedEntry`), at = its created_at. The
 *   kept ids are one run (the oldest are dropped first), so entry n is found by its id.
 * - section `channel`: `lastEntryId` (the entry-id sequence, also once its entries are
 *   dropped), `lastUpdateAt` (when the last update was stored: the update interval) and
 *   `createdAt` (when the channel was first hosted: its created_at in REST answers), each
 *   a number (ms of the channel's clock).
 */
import type { DeviceStore } from "../broker/index.js";
import type { FeedEntry, FieldNumber } from "./codec.js";

export const FEED_SECTION = "feed";
export const CHANNEL_SECTION = "channel";
export type ChannelKey = "lastEntryId" | "lastUpdateAt" | "createdAt";

/** A number of the `channel` section, or undefined. */
export function channelNumber(store: DeviceStore, key: ChannelKey): number | undefined {
  const value = store.get(CHANNEL_SECTION, key)?.value;
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** The id of the newest entry ever stored, or null. */
export function lastEntryId(store: DeviceStore): number | null {
  const id = channelNumber(store, "lastEntryId");
  return id === undefined || id < 1 ? null : id;
}

function isEntry(value: unknown): value is FeedEntry {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const e = value as Partial<Record<keyof FeedEntry, unknown>>;
  return typeof e.entry_id === "number" && typeof e.channel_id === "number" && typeof e.created_at === "string";
}

/** Entry `id` (a copy: callers may change it), or undefined. */
export function feedEntry(store: DeviceStore, id: number): FeedEntry | undefined {
  const value: unknown = store.get(FEED_SECTION, String(id))?.value;
  return isEntry(value) ? { ...value } : undefined;
}

/** The id of the oldest kept entry (the kept ids are one run ending at the last id). */
function oldestId(store: DeviceStore, last: number): number {
  return last - store.size(FEED_SECTION) + 1;
}

/** Copies of the kept entries with an id above `afterEntryId` (default: all), oldest first. */
export function feedEntries(store: DeviceStore, afterEntryId = 0): FeedEntry[] {
  const last = lastEntryId(store) ?? 0;
  const from = Math.max(afterEntryId + 1, oldestId(store, last));
  // Reading a few new entries by id costs what they cost, not what the whole feed does.
  if (from > oldestId(store, last)) {
    const out: FeedEntry[] = [];
    for (let id = from; id <= last; id++) {
      const entry = feedEntry(store, id);
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }
  return store.entries(FEED_SECTION).flatMap(([, stored]) => {
    const value: unknown = stored.value;
    return isEntry(value) && value.entry_id > afterEntryId ? [{ ...value }] : [];
  });
}

/** The newest entry, or with `field` the newest entry that has a value for it (a copy). */
export function lastEntry(store: DeviceStore, field?: FieldNumber): FeedEntry | undefined {
  const last = lastEntryId(store) ?? 0;
  for (let id = last, oldest = oldestId(store, last); id >= oldest && id >= 1; id--) {
    const entry = feedEntry(store, id);
    if (entry !== undefined && (field === undefined || entry[`field${field}`] !== null)) return entry;
  }
  return undefined;
}
