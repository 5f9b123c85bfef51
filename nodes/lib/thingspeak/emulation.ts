/**
 * Self-hosted ThingSpeak: channels that an `iot-broker` node serves as mqtt3.thingspeak.com and
 * api.thingspeak.com would. A device connecting with a hosted channel's MQTT device
 * credentials may publish to and subscribe on that channel; its updates become feed entries,
 * kept in a bounded store that the REST API (rest-api.ts) and local-mode links read. The MQTT
 * behaviour and its decisions are described in hosted-plugin.ts.
 *
 * Decisions:
 * - The feed (entries, entry ids, the time of the last update) belongs to the hosting, not to
 *   a broker engine: it survives broker restarts (a redeploy of the broker node) and is lost
 *   when hosting ends (the channel's config node is redeployed or removed). While the broker is
 *   not running, REST reads and writes still work on the feed; entries written then reach no
 *   subscriber (none can be connected).
 * - Channel ids, MQTT usernames and write keys identify one hosted channel in this runtime
 *   (the REST API serves every broker's channels on one HTTP server): a second channel reusing
 *   one of them is not hosted, and `onError` says why.
 */
import { hostAcrossRedeploys, hostOnBroker } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { DigestIndex, tokenDigest } from "../transport/secret-match.js";
import { createdAtMs, type CreatedAt, type FeedEntry } from "./codec.js";
import { ChannelFeed, checkChannel } from "./hosted-channel.js";
import { ThingSpeakEmulation } from "./hosted-plugin.js";
import { THINGSPEAK_PLUGIN, hostedTopics, type HostedChannel, type HostedChannelView, type HostOptions, type WriteResult } from "./hosted-types.js";
import { selectEntries } from "./rest-server.js";

export { hostedTopics, type HostedChannel, type HostedChannelView, type HostOptions, type WriteResult };

/** A hosted channel: its feed (for as long as it is hosted) and the plugin of its running broker. */
export interface HostedRegistration {
  readonly feed: ChannelFeed;
  readonly brokerId: string;
  /** The emulation on the broker's current engine; undefined while that broker is not running. */
  plugin: ThingSpeakEmulation | undefined;
}

/** Every hosted channel of this runtime, across brokers (the REST API serves them all). */
const registrations = new Set<HostedRegistration>();
/**
 * The same channels indexed, so finding one costs a map look-up however many are hosted:
 * by config node id, by channel id, by MQTT username (its digest: part of the credentials) and
 * by write key (DigestIndex).
 */
const byConfigId = new Map<string, HostedRegistration>();
const byChannelId = new Map<number, HostedRegistration>();
const byUsername = new Map<string, HostedRegistration>();
const byWriteKey = new DigestIndex<{ readonly digest: Buffer; readonly r: HostedRegistration }>();

function usernameKey(username: string): string {
  return tokenDigest(username).toString("base64");
}

function index(r: HostedRegistration): void {
  registrations.add(r);
  byConfigId.set(r.feed.id, r);
  byChannelId.set(r.feed.config.channelId, r);
  byUsername.set(usernameKey(r.feed.config.username), r);
  if (r.feed.writeDigest !== undefined) byWriteKey.add({ digest: r.feed.writeDigest, r });
}

function unindex(r: HostedRegistration): void {
  registrations.delete(r);
  if (byConfigId.get(r.feed.id) === r) byConfigId.delete(r.feed.id);
  if (byChannelId.get(r.feed.config.channelId) === r) byChannelId.delete(r.feed.config.channelId);
  const user = usernameKey(r.feed.config.username);
  if (byUsername.get(user) === r) byUsername.delete(user);
  const writer = r.feed.writeDigest === undefined ? undefined : byWriteKey.find(r.feed.config.writeKey ?? "");
  if (writer?.r === r) byWriteKey.delete(writer);
}

function view(r: HostedRegistration): HostedChannelView {
  const { config } = r.feed;
  return {
    id: config.id,
    channelId: config.channelId,
    name: config.name,
    brokerId: r.brokerId,
    running: r.plugin !== undefined,
    connected: r.plugin?.connected(config.id) ?? false,
    lastEntryId: r.feed.store.lastId,
  };
}

function byId(id: string): HostedRegistration | undefined {
  return byConfigId.get(id);
}

/** The hosted channel with config node id `id`, or undefined. */
export function hostedChannel(id: string): HostedChannelView | undefined {
  const r = byId(id);
  return r === undefined ? undefined : view(r);
}

/** The hosted channel whose MQTT device credentials are exactly these (password compared in constant time). */
export function hostedByCredentials(clientId: string, username: string, password: string): HostedChannelView | undefined {
  // Usernames are unique (see hostThingSpeakChannel): this is the only candidate.
  const r = byUsername.get(usernameKey(username));
  return r !== undefined && r.feed.credentialsProblem(clientId, Buffer.from(password)) === undefined ? view(r) : undefined;
}

/** For rest-api.ts: the registration of ThingSpeak channel id `channelId`. */
export function registrationByChannelId(channelId: number): HostedRegistration | undefined {
  return byChannelId.get(channelId);
}

/** For rest-api.ts: the registration whose write key is `key`: one map look-up by its digest (DigestIndex). */
export function registrationByWriteKey(key: string): HostedRegistration | undefined {
  return byWriteKey.find(key)?.r;
}

/** For rest-api.ts: whether any channel is hosted (the REST API stays out of the way otherwise). */
export function anyHosted(): boolean {
  return registrations.size > 0;
}

export interface HostedEntriesQuery {
  /** Only entries with a larger entry_id (those a reader has not seen yet). */
  afterEntryId?: number;
  /** Only entries created at or after / at or before these times. */
  start?: CreatedAt;
  end?: CreatedAt;
  /** Only entries of the last N days / minutes (of the channel's clock). */
  days?: number;
  minutes?: number;
  /** The newest N of the selected entries; default all. */
  results?: number;
}

/**
 * Entries of hosted channel `id`, oldest first (copies), or undefined when it is not hosted.
 * Throws TransportError "invalid" for a start/end that is not a time.
 */
export function hostedEntries(id: string, query: HostedEntriesQuery = {}): FeedEntry[] | undefined {
  const r = byId(id);
  if (r === undefined) return undefined;
  const after = query.afterEntryId ?? 0;
  const entries = r.feed.store.all().filter((e) => e.entry_id > after);
  return selectEntries(
    entries,
    {
      results: query.results ?? Infinity,
      status: true,
      location: true,
      ...(query.start === undefined ? {} : { start: createdAtMs(query.start) }),
      ...(query.end === undefined ? {} : { end: createdAtMs(query.end) }),
      ...(query.days === undefined ? {} : { days: query.days }),
      ...(query.minutes === undefined ? {} : { minutes: query.minutes }),
    },
    r.feed.now(),
  );
}

/** Why `config` cannot be hosted next to the channels hosted already, or undefined (map look-ups: hosting many channels stays linear). */
function conflict(config: HostedChannel): string | undefined {
  const clash: [HostedRegistration | undefined, string][] = [
    [byConfigId.get(config.id), "is hosted already"],
    [byChannelId.get(config.channelId), `has channel id ${config.channelId} too`],
    [byUsername.get(usernameKey(config.username)), "uses the same MQTT username"],
    [config.writeKey === undefined ? undefined : byWriteKey.find(config.writeKey)?.r, "uses the same write API key"],
  ];
  for (const [other, what] of clash) {
    if (other !== undefined) return `hosted ThingSpeak channel "${config.name}" is not hosted: "${other.feed.config.name}" ${what}`;
  }
  return undefined;
}

/**
 * Hosts `channel` on the `iot-broker` node `brokerId` until the returned function is called,
 * across restarts of that broker. Problems (a channel that cannot be hosted, entries that could
 * not be delivered) go to `onError`; it never throws.
 * A redeploy that re-creates the hosting node with the same settings keeps the device connected.
 */
export function hostThingSpeakChannel(brokerId: string, channel: HostedChannel, onError: (err: unknown) => void, options: HostOptions = {}): () => void {
  const id = String((channel as { id?: unknown } | null | undefined)?.id);
  return hostAcrossRedeploys({ plugin: THINGSPEAK_PLUGIN, brokerId, id, settings: channel }, onError, (report) => hostNow(brokerId, channel, report, options));
}

/** Hosts at once (see hostThingSpeakChannel). */
function hostNow(brokerId: string, channel: HostedChannel, onError: (err: unknown) => void, options: HostOptions = {}): () => void {
  const report = (err: unknown): void => {
    try {
      onError(toError(err));
    } catch {
      // The host's callback failing must not break the broker.
    }
  };
  let config: HostedChannel;
  try {
    config = checkChannel(channel);
  } catch (err) {
    report(err);
    return () => undefined;
  }
  const problem = conflict(config);
  if (problem !== undefined) {
    report(new Error(problem));
    return () => undefined;
  }
  const registration: HostedRegistration = { feed: new ChannelFeed(config, options.now ?? Date.now), brokerId, plugin: undefined };
  index(registration);
  const unhost = hostOnBroker(
    brokerId,
    {
      plugin: THINGSPEAK_PLUGIN,
      create: (engine) => new ThingSpeakEmulation(engine),
      add: (plugin) => {
        plugin.add(registration.feed, report);
        return plugin;
      },
      remove: (plugin) => {
        plugin.remove(config.id);
      },
      runtime: (plugin) => {
        registration.plugin = plugin;
      },
    },
    report,
  );
  return () => {
    unindex(registration);
    unhost();
  };
}
