/**
 * One hosted ThingSpeak channel for as long as it is hosted (the entry of the platform's
 * HostedDirectory, emulation.ts): its checked settings, its credentials (as digests), and where
 * its feed is now. The feed lives in the DeviceStore of the engine that runs the channel
 * (channel-runtime.ts); while no broker runs, the hosting keeps it in memory (`park`) and hands
 * it to the next engine (`adopt`), so the feed survives broker restarts and REST reads and
 * writes work meanwhile, as ThingSpeak's API would (docs/ARCHITECTURE.md 3.5).
 */
import { timingSafeEqual } from "node:crypto";
import { MemoryDeviceStore, type DeviceStore } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { tokenDigest } from "../transport/secret-match.js";
import { toInteger } from "../transport/value-codec.js";
import { type ChannelUpdate, type FeedEntry, FIELD_NUMBERS, entryTime, parseTopic, toChannelId } from "./codec.js";
import { CHANNEL_SECTION, channelNumber, lastEntry, lastEntryId } from "./hosted-state.js";
import { DEFAULT_STORE_LIMIT, FeedStore, MAX_STORE_LIMIT, copyFeed, isBehind } from "./hosted-store.js";
import { hostedTopics, type BulkResult, type HostedChannel, type WriteResult } from "./hosted-types.js";
import type { ChannelInfo } from "./rest-codec.js";

/** Whether `secret` is the one `digest` was made from (fixed-size digests: constant time). */
export function matches(digest: Buffer, secret: string | Buffer): boolean {
  return timingSafeEqual(digest, tokenDigest(secret));
}

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
  // Allow Publish / Allow Subscribe of the device (ThingSpeak's device dialog): both unless set false.
  for (const flag of ["allowPublish", "allowSubscribe"] as const) {
    const value = c[flag];
    if (value !== undefined && typeof value !== "boolean") throw new TypeError(`hosted ThingSpeak channel "${name}": ${flag} must be true or false`);
    checked[flag] = value !== false;
  }
  const writeKey = optionalSecret(c.writeKey, "write API key", name);
  const readKey = optionalSecret(c.readKey, "read API key", name);
  if (writeKey !== undefined) checked.writeKey = writeKey;
  if (readKey !== undefined) checked.readKey = readKey;
  return checked;
}

/** The channel on the engine running it now (channel-runtime.ts), as its hosting uses it. */
export interface RunningChannel {
  readonly store: DeviceStore;
  /** A device is connected with the channel's credentials. */
  readonly online: boolean;
  /** Stores an update (and delivers its entry); `fromFlows`: the entry is not sent back to the flows. */
  write(update: ChannelUpdate, fromFlows?: boolean): WriteResult;
  /** Stores a bulk update's entries (to flows, not to subscribed devices). */
  writeBulk(updates: readonly ChannelUpdate[]): BulkResult;
}

export class ChannelHosting {
  readonly config: Readonly<HostedChannel>;
  readonly brokerId: string;
  readonly readDigest: Buffer | undefined;
  readonly usernameDigest: Buffer;
  readonly #passwordDigest: Buffer;
  readonly #clientIdDigest: Buffer;
  readonly #now: () => number;
  readonly #running: () => RunningChannel | undefined;
  /** The feed while no engine runs the channel; undefined while one does. */
  #parked: DeviceStore | undefined;
  /** The writer of the parked feed, made when a REST update comes while no broker runs. */
  #parkedFeed: FeedStore | undefined;
  /** Entries written while no broker ran: no engine's history has them yet (at most `limit`). */
  #unrecorded: FeedEntry[] = [];

  constructor(config: HostedChannel, brokerId: string, now: () => number, running: () => RunningChannel | undefined) {
    this.config = config;
    this.brokerId = brokerId;
    this.usernameDigest = tokenDigest(config.username);
    this.#passwordDigest = tokenDigest(config.password);
    this.#clientIdDigest = tokenDigest(config.clientId);
    this.readDigest = config.readKey === undefined ? undefined : tokenDigest(config.readKey);
    this.#now = now;
    this.#running = running;
    this.#parked = this.#emptyFeed();
  }

  get id(): string {
    return this.config.id;
  }

  /** Entries kept at most. */
  get limit(): number {
    return this.config.storeLimit ?? DEFAULT_STORE_LIMIT;
  }

  now(): number {
    return this.#now();
  }

  /** The channel on the running engine, or undefined while its broker is not running. */
  running(): RunningChannel | undefined {
    return this.#running();
  }

  /** Where the feed is now: the running engine's store, else the parked one. */
  store(): DeviceStore {
    return this.running()?.store ?? (this.#parked ??= this.#emptyFeed());
  }

  /** A REST client's update: stored (and delivered) by the running engine, else into the parked feed. */
  write(update: ChannelUpdate): WriteResult {
    const running = this.running();
    if (running !== undefined) return running.write(update);
    this.#parkedFeed ??= new FeedStore(this.store(), this.limit);
    const result = this.#parkedFeed.write(this.config, update, this.now());
    if (result.ok) this.#unrecord([result.entry]);
    return result;
  }

  /** A bulk update from a REST client: stored by the running engine, else into the parked feed. */
  writeBulk(updates: readonly ChannelUpdate[]): BulkResult {
    const running = this.running();
    if (running !== undefined) return running.writeBulk(updates);
    this.#parkedFeed ??= new FeedStore(this.store(), this.limit);
    const result = this.#parkedFeed.writeBulk(this.config, updates, this.now());
    if (result.ok) this.#unrecord(result.entries);
    return result;
  }

  #unrecord(entries: readonly FeedEntry[]): void {
    this.#unrecorded.push(...entries.map((e) => ({ ...e })));
    if (this.#unrecorded.length > this.limit) this.#unrecorded.splice(0, this.#unrecorded.length - this.limit);
  }

  /**
   * A runtime on a new engine takes the feed over: the parked one replaces the store's when it
   * is newer (memory stores start empty). Returns the entries written while no broker ran, for
   * the engine's history (none when the store's feed was kept instead).
   */
  adopt(store: DeviceStore): FeedEntry[] {
    const parked = this.#parked;
    const unrecorded = this.#unrecorded;
    this.#parked = undefined;
    this.#parkedFeed = undefined;
    this.#unrecorded = [];
    if (parked !== undefined && isBehind(store, parked)) {
      copyFeed(parked, store);
      return unrecorded;
    }
    if (channelNumber(store, "createdAt") === undefined) {
      // The channel's created_at, kept with its feed (a durable store answers it after a restart).
      const now = this.now();
      store.set(CHANNEL_SECTION, "createdAt", (parked === undefined ? undefined : channelNumber(parked, "createdAt")) ?? now, now);
    }
    return [];
  }

  /** The engine running the channel goes: the hosting keeps a copy of the feed until the next one. */
  park(store: DeviceStore): void {
    const parked = new MemoryDeviceStore();
    copyFeed(store, parked);
    this.#parked = parked;
    this.#parkedFeed = undefined;
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

  /** Where hosted-devices.ts indexes this channel's MQTT device (digests, base64: no secret). */
  deviceKeys(): { username: string; clientId: string } {
    return { username: this.usernameDigest.toString("base64"), clientId: this.#clientIdDigest.toString("base64") };
  }

  /** Whether `other` accepts the same MQTT device credentials (the same device). */
  sameCredentials(other: ChannelHosting): boolean {
    // All three compared always: the time taken does not tell which one differs.
    const results = [
      timingSafeEqual(this.usernameDigest, other.usernameDigest),
      timingSafeEqual(this.#clientIdDigest, other.#clientIdDigest),
      timingSafeEqual(this.#passwordDigest, other.#passwordDigest),
    ];
    return results.every(Boolean);
  }

  /** Whether `key` may read this channel (a public channel: every key, or none). */
  mayRead(key: string | undefined): boolean {
    if (this.readDigest === undefined) return true;
    return key !== undefined && matches(this.readDigest, key);
  }

  /** A device-relative topic this channel's device may publish: its own publish topics, unless Allow Publish is off. */
  canPublish = (topic: string): boolean => {
    const parsed = parseTopic(topic);
    return this.config.allowPublish !== false && parsed?.channelId === this.config.channelId && (parsed.kind === "publish" || parsed.kind === "publish-field");
  };

  /** A filter this channel's device may subscribe to (`subscribe`, `subscribe/fields/fieldN` or `/+` of its own channel), unless Allow Subscribe is off. */
  canSubscribe = (filter: string): boolean => {
    const parsed = parseTopic(filter);
    return this.config.allowSubscribe !== false && parsed?.channelId === this.config.channelId && (parsed.kind === "subscribe" || parsed.kind === "subscribe-field");
  };

  /** The channel as REST answers describe it. */
  info(): ChannelInfo {
    const store = this.store();
    const createdAt = channelNumber(store, "createdAt") ?? this.now();
    const info: ChannelInfo = { id: this.config.channelId, name: this.config.name, fieldNames: { ...this.config.fieldNames }, created_at: entryTime(createdAt) };
    const last = lastEntry(store);
    if (last !== undefined) info.updated_at = last.created_at;
    info.last_entry_id = lastEntryId(store);
    return info;
  }

  /** A feed with nothing but the time the channel was hosted (its created_at). */
  #emptyFeed(): DeviceStore {
    const store = new MemoryDeviceStore();
    const now = this.now();
    store.set(CHANNEL_SECTION, "createdAt", now, now);
    return store;
  }
}
