/**
 * One hosted ThingSpeak channel for as long as it is hosted: its credentials (as digests), its
 * feed, the update interval, and what turns an update into an entry. Shared by the broker
 * emulation (MQTT devices, flows) and the REST API, whichever broker engine runs at the time.
 */
import { timingSafeEqual } from "node:crypto";
import { TransportError, toError } from "../transport/errors.js";
import { tokenDigest } from "../transport/secret-match.js";
import { toInteger } from "../transport/value-codec.js";
import {
  type ChannelUpdate,
  type FeedEntry,
  FIELD_NUMBERS,
  assertMessageSize,
  entryFromUpdate,
  entryTime,
  isEmptyUpdate,
  parseFieldPayload,
  parseTopic,
  parseUpdateForm,
  toChannelId,
  toFieldNumber,
} from "./codec.js";
import { DEFAULT_STORE_LIMIT, FeedStore, MAX_STORE_LIMIT } from "./hosted-store.js";
import { hostedTopics, type HostedChannel, type RefusalCode } from "./hosted-types.js";
import type { ChannelInfo } from "./rest-codec.js";

/** Whether `secret` is the one `digest` was made from (fixed-size digests: constant time). */
export function matches(digest: Buffer, secret: string | Buffer): boolean {
  return timingSafeEqual(digest, tokenDigest(secret));
}

export type WriteOutcome = { entry: FeedEntry } | { refused: RefusalCode; message: string; retryInMs?: number };

function optionalSecret(value: unknown, what: string, name: string): string | undefined {
  if (value === undefined || value === "") return undefined; // unset credentials arrive as ""
  if (typeof value !== "string") throw new TypeError(`hosted ThingSpeak channel "${name}": the ${what} must be text`);
  return value;
}

function requiredSecret(value: unknown, what: string, name: string): string {
  const text = optionalSecret(value, what, name);
  if (text === undefined) throw new TypeError(`hosted ThingSpeak channel "${name}" has no MQTT ${what}; set the MQTT device credentials`);
  return text;
}

/** A checked copy of the caller's channel (later changes to their object change nothing). Throws TypeError. */
export function checkChannel(channel: HostedChannel): HostedChannel {
  const c = channel as Partial<Record<keyof HostedChannel, unknown>>;
  if (typeof c.name !== "string") throw new TypeError(`hosted ThingSpeak channel "${String(c.id)}" has no name`);
  const name = c.name;
  if (typeof c.id !== "string") throw new TypeError(`hosted ThingSpeak channel "${name}" has no id (the config node's id)`);
  hostedTopics.up(c.id); // throws on ids that cannot be a topic level
  let channelId: number;
  let interval: number;
  let limit: number;
  try {
    channelId = toChannelId(c.channelId);
    interval = toInteger(c.updateIntervalMs, "update interval (ms)", { min: 0 });
    limit = c.storeLimit === undefined ? DEFAULT_STORE_LIMIT : toInteger(c.storeLimit, "store limit (entries kept)", { min: 1, max: MAX_STORE_LIMIT });
  } catch (err) {
    throw new TypeError(`hosted ThingSpeak channel "${name}": ${toError(err).message}`);
  }
  const fieldNames: HostedChannel["fieldNames"] = {};
  const labels = typeof c.fieldNames === "object" && c.fieldNames !== null ? (c.fieldNames as Record<number, unknown>) : {};
  for (const n of FIELD_NUMBERS) {
    const label = labels[n];
    if (typeof label === "string" && label !== "") fieldNames[n] = label; // unnamed fields are still stored, just not labelled
  }
  const checked: HostedChannel = {
    id: c.id,
    channelId,
    name,
    clientId: requiredSecret(c.clientId, "client id", name),
    username: requiredSecret(c.username, "username", name),
    password: requiredSecret(c.password, "password", name),
    updateIntervalMs: interval,
    fieldNames,
    storeLimit: limit,
  };
  const writeKey = optionalSecret(c.writeKey, "write API key", name);
  const readKey = optionalSecret(c.readKey, "read API key", name);
  if (writeKey !== undefined) checked.writeKey = writeKey;
  if (readKey !== undefined) checked.readKey = readKey;
  return checked;
}

/** The feed entry a write announces, to whoever carries it to subscribers (the running engine's plugin). */
export type Announce = (entry: FeedEntry) => void;

export class ChannelFeed {
  readonly config: Readonly<HostedChannel>;
  readonly store: FeedStore;
  readonly writeDigest: Buffer | undefined;
  readonly readDigest: Buffer | undefined;
  readonly #passwordDigest: Buffer;
  readonly #clientIdDigest: Buffer;
  readonly #now: () => number;
  /** Set while a broker engine hosts the channel. */
  announce: Announce | undefined;
  /** When hosting began (ms of the channel's clock): the channel's created_at in REST answers. */
  readonly createdAt: number;
  /** When the last update was stored (ms of the channel's clock), for the update interval. */
  #lastUpdateAt: number | undefined;

  constructor(config: HostedChannel, now: () => number) {
    this.config = config;
    this.store = new FeedStore(config.storeLimit ?? DEFAULT_STORE_LIMIT);
    this.#passwordDigest = tokenDigest(config.password);
    this.#clientIdDigest = tokenDigest(config.clientId);
    this.writeDigest = config.writeKey === undefined ? undefined : tokenDigest(config.writeKey);
    this.readDigest = config.readKey === undefined ? undefined : tokenDigest(config.readKey);
    this.#now = now;
    this.createdAt = now();
  }

  get id(): string {
    return this.config.id;
  }

  now(): number {
    return this.#now();
  }

  /** What is wrong with a CONNECT that gave this channel's username, or undefined when nothing is. */
  credentialsProblem(clientId: string, password: Buffer | undefined): string | undefined {
    // Both compared always, so the time taken does not tell which one was wrong.
    const passwordOk = password !== undefined && matches(this.#passwordDigest, password);
    const clientIdOk = matches(this.#clientIdDigest, clientId);
    if (!passwordOk) return password === undefined ? "no password given" : "wrong password";
    if (!clientIdOk) return `client id "${clientId}" is not the one of these MQTT device credentials`;
    return undefined;
  }

  /** Whether `key` may read this channel (a public channel: every key, or none). */
  mayRead(key: string | undefined): boolean {
    if (this.readDigest === undefined) return true;
    return key !== undefined && matches(this.readDigest, key);
  }

  /** A device-relative topic this channel's devices may publish: its own publish topics. */
  canPublish = (topic: string): boolean => {
    const parsed = parseTopic(topic);
    return parsed?.channelId === this.config.channelId && (parsed.kind === "publish" || parsed.kind === "publish-field");
  };

  /** A filter this channel's devices may subscribe to: `subscribe`, `subscribe/fields/fieldN` or `/+` of its own channel. */
  canSubscribe = (filter: string): boolean => {
    const parsed = parseTopic(filter);
    return parsed?.channelId === this.config.channelId && (parsed.kind === "subscribe" || parsed.kind === "subscribe-field");
  };

  /**
   * Stores `update` as the next entry and announces it, unless it is refused (empty, within the
   * update interval, a created_at already stored). Never throws: refusals are returned.
   */
  write(update: ChannelUpdate): WriteOutcome {
    if (isEmptyUpdate(update)) {
      return { refused: "no-action", message: "nothing to store: the update has no field, location, elevation or status" };
    }
    const now = this.#now();
    const interval = this.config.updateIntervalMs;
    const elapsed = this.#lastUpdateAt === undefined ? Infinity : now - this.#lastUpdateAt;
    // A clock set back (elapsed < 0) must not block updates for that long: it lets the update in.
    if (elapsed >= 0 && elapsed < interval) {
      const retryInMs = interval - elapsed;
      return { refused: "rate-limited", retryInMs, message: `over the channel's update interval of ${interval} ms: the next update is accepted in ${retryInMs} ms` };
    }
    let entry: FeedEntry;
    try {
      entry = entryFromUpdate(this.config.channelId, this.store.nextId, update, now);
    } catch (err) {
      return refusalOf(err);
    }
    if (update.created_at !== undefined && this.store.hasTime(entry.created_at)) {
      return { refused: "conflict", message: `an entry with created_at ${entry.created_at} is stored already; created_at is unique per channel` };
    }
    this.store.append(entry);
    this.#lastUpdateAt = now;
    try {
      this.announce?.({ ...entry });
    } catch {
      // Stored is stored: delivery problems are the announcer's to report.
    }
    return { entry };
  }

  /** A device's publish (device-relative topic) or a flow's write (form text) -> its update. Throws TransportError. */
  static updateOf(kind: "publish" | "publish-field", payload: Buffer, field?: number): ChannelUpdate {
    if (kind === "publish") return parseUpdateForm(payload).update;
    const n = toFieldNumber(field);
    assertMessageSize(payload.length, `the value for field${n}`);
    const text = parseFieldPayload(payload);
    return text === "" ? { fields: {} } : { fields: { [n]: text } };
  }

  /** The channel as REST answers describe it. */
  info(): ChannelInfo {
    const info: ChannelInfo = { id: this.config.channelId, name: this.config.name, fieldNames: { ...this.config.fieldNames }, created_at: entryTime(this.createdAt) };
    const last = this.store.last();
    if (last !== undefined) info.updated_at = last.created_at;
    info.last_entry_id = this.store.lastId;
    return info;
  }
}

/** A codec refusal -> the write outcome for it. */
export function refusalOf(err: unknown): WriteOutcome {
  if (err instanceof TransportError && (err.code === "invalid" || err.code === "too-large")) {
    return { refused: err.code, message: err.message };
  }
  return { refused: "invalid", message: toError(err).message };
}
