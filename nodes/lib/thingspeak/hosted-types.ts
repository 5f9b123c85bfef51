/**
 * Names shared by the self-hosted ThingSpeak emulation (`emulation.ts`), its REST API
 * (`rest-api.ts`) and local-mode links. Kept apart so those modules need no import cycle.
 */
import { devicePrefix } from "../broker/index.js";
import type { FeedEntry, FieldNumber } from "./codec.js";

/** Plugin name on the broker, and the second level of every internal ThingSpeak topic. */
export const THINGSPEAK_PLUGIN = "thingspeak";

/** `$iot/thingspeak/<id>/`, with the id checked as devicePrefix checks it (no / + # NUL). */
function base(id: string): string {
  return devicePrefix(THINGSPEAK_PLUGIN, id, "up").slice(0, -"up/".length);
}

/**
 * Internal topics of a hosted channel, keyed on the config node's id (never a credential:
 * topics show up in logs and events). `up` and `down` are prefixes ending in "/" (append the
 * device's own topic); `entries`, `write` and `written` are whole topic names.
 */
export const hostedTopics = {
  /** What devices published, as they published it: + `channels/<cid>/publish`, `channels/<cid>/publish/fields/field3`. */
  up: (id: string): string => devicePrefix(THINGSPEAK_PLUGIN, id, "up"),
  /** What devices receive: + `channels/<cid>/subscribe` (entry JSON), `channels/<cid>/subscribe/fields/fieldN` (text). */
  down: (id: string): string => devicePrefix(THINGSPEAK_PLUGIN, id, "down"),
  /** Every new feed entry (from a device, the REST API or a flow), as the subscribe JSON. Not retained. */
  entries: (id: string): string => `${base(id)}entries`,
  /**
   * Flows write here: a form-encoded update (`field1=45&status=ok`, what encodeUpdate gives),
   * stored and delivered exactly as a device's `channels/<cid>/publish`. One more level
   * (`write/<ref>`) is allowed; the ref comes back in the WriteResult.
   */
  write: (id: string): string => `${base(id)}write`,
  /** One WriteResult (JSON) per message on `write`, in order. Not retained. */
  written: (id: string): string => `${base(id)}written`,
} as const;

/** A channel that an `iot-broker` serves (defined by a local-mode `thingspeak-channel`). */
export interface HostedChannel {
  /** The `thingspeak-channel` config node's id: safe in topics, stable across deploys. */
  id: string;
  channelId: number;
  name: string;
  /** The MQTT device credentials (secrets: never logged, never put in a topic or message). */
  clientId: string;
  username: string;
  password: string;
  /** REST `update` key; without it the channel takes no REST writes. */
  writeKey?: string;
  /** REST read key; without it the channel is public. */
  readKey?: string;
  /** Shortest time between two updates (15000 free, 1000 paid, or custom; 0 = no limit). */
  updateIntervalMs: number;
  /** Field labels, shown in REST reads (which then list only the named fields). */
  fieldNames?: Partial<Record<FieldNumber, string>>;
  /** Entries kept, oldest dropped first; default 8000 (ThingSpeak's most per read). */
  storeLimit?: number;
}

/** Options of hostThingSpeakChannel. */
export interface HostOptions {
  /** Milliseconds clock for the update interval and undated entries; default Date.now (tests inject one). */
  now?: () => number;
}

/** Why an update was not stored. */
export type RefusalCode =
  /** Within the update interval of the last stored update; try again after `retryInMs`. */
  | "rate-limited"
  /** Nothing to store: no field, location, elevation or status. */
  | "no-action"
  /** An entry with the same created_at exists (ThingSpeak: created_at is unique per channel). */
  | "conflict"
  /** Not a valid update (bad value, bad created_at, invalid UTF-8). */
  | "invalid"
  /** Over ThingSpeak's 3000-byte message limit. */
  | "too-large";

/** The answer to a message on `write`, published on `written`. */
export type WriteResult =
  | { ok: true; ref?: string; entry: FeedEntry }
  | { ok: false; ref?: string; code: RefusalCode; message: string; retryInMs?: number };

/** A hosted channel as lookups show it: no credentials. */
export interface HostedChannelView {
  id: string;
  channelId: number;
  name: string;
  brokerId: string;
  /** Its broker is running (so devices can connect and entries reach subscribers). */
  running: boolean;
  /** A device is connected with the channel's credentials. */
  connected: boolean;
  lastEntryId: number | null;
}
