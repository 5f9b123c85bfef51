/**
 * Names shared by the self-hosted ThingSpeak emulation (`emulation.ts`), its REST API
 * (`rest-api.ts`) and local-mode links: the internal topics, the hosted channel's settings and
 * the types of its hosted-device handle (docs/ARCHITECTURE.md 3.5). Kept apart so those modules
 * need no import cycle, and so a local link depends on these names and the broker's contract only.
 */
import { devicePrefix, type HostedDeviceHandle } from "../broker/index.js";
import type { ChannelUpdate, FeedEntry, FieldNumber } from "./codec.js";

/** Plugin name on the broker, the DeviceStore's plugin name, and the second level of every internal ThingSpeak topic. */
export const THINGSPEAK_PLUGIN = "thingspeak";

/**
 * Internal topics of a hosted channel, keyed on the config node's id (never a credential:
 * topics show up in logs and events). Both are prefixes ending in "/" (append the device's own
 * topic). Flows reach the channel through its handle, not through topics.
 */
export const hostedTopics = {
  /** What devices published, as they published it: + `channels/<cid>/publish`, `channels/<cid>/publish/fields/field3`. */
  up: (id: string): string => devicePrefix(THINGSPEAK_PLUGIN, id, "up"),
  /** What devices receive: + `channels/<cid>/subscribe` (entry JSON), `channels/<cid>/subscribe/fields/fieldN` (text). */
  down: (id: string): string => devicePrefix(THINGSPEAK_PLUGIN, id, "down"),
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
  /**
   * The device with these credentials may publish to / subscribe on this channel (ThingSpeak's
   * Allow Publish / Allow Subscribe); default true. Several hosted channels may give the same
   * credentials: one MQTT device authorised for each of them (hosted-devices.ts).
   */
  allowPublish?: boolean;
  allowSubscribe?: boolean;
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

/** Options of the hosting functions. */
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

/** What became of an update (a device's, a REST client's or the flows'): the stored entry, or why not. */
export type WriteResult =
  | { ok: true; entry: FeedEntry }
  | { ok: false; code: RefusalCode; message: string; retryInMs?: number };

/** What a bulk update (`bulk_update.json`) did: every entry stored, or none (the refusal names the update at fault). */
export type BulkResult =
  | { ok: true; entries: FeedEntry[] }
  | { ok: false; code: RefusalCode; message: string; retryInMs?: number };

/**
 * A hosted channel as its local-mode link holds it: `uplink` is each new entry a device (MQTT)
 * or REST client made, parsed once by the emulation; `send(update)` stores the flows' update as
 * the channel's next entry (under the same update interval) and answers with the WriteResult;
 * entries the link sent are not sent back to it. No device info. `store` holds the feed
 * (read it with hosted-state.ts).
 */
export type HostedChannelHandle = HostedDeviceHandle<FeedEntry, ChannelUpdate, WriteResult, never>;

/** Hosts `channel` on the `iot-broker` node `brokerId` (emulation.ts), injected into local-mode links by link.ts. */
export type HostChannel = (brokerId: string, channel: HostedChannel, onError: (err: unknown) => void, options?: HostOptions) => HostedChannelHandle;

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
