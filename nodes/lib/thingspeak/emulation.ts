/**
 * Self-hosted ThingSpeak: channels that an `iot-broker` node serves as mqtt3.thingspeak.com and
 * api.thingspeak.com would. A device connecting with a hosted channel's MQTT device
 * credentials may publish to and subscribe on that channel; its updates become feed entries,
 * kept in the channel's DeviceStore, that the REST API (rest-api.ts) and the local-mode link
 * read. The MQTT behaviour and its decisions are described in hosted-plugin.ts; the handle a
 * local-mode link holds in hosted-types.ts (`HostedChannelHandle`).
 *
 * Decisions:
 * - The feed (entries, entry ids, the time of the last update) lives in the DeviceStore of the
 *   engine running the channel; while no broker runs, the hosting keeps it (hosted-channel.ts),
 *   so with the memory store it survives broker restarts (a redeploy of the broker node) and is
 *   lost when hosting ends (the channel's config node is removed, or redeployed with other
 *   settings). While the broker is not running, REST reads and writes still work on the feed;
 *   entries written then reach no subscriber (none can be connected), and the flows' writes
 *   are refused as "network" (the link retries them once the broker runs).
 * - Config node ids, channel ids and write keys identify one hosted channel in this runtime
 *   (`thingSpeakChannels`; the REST API serves every broker's channels on one HTTP server): a
 *   second channel reusing one of them is not hosted, and `onError` says why. MQTT device
 *   credentials may be shared by several channels (one device, several channels:
 *   hosted-devices.ts), but only whole: the same username with another client id or password,
 *   or the same client id with another username, is refused the same way.
 */
import { DirectoryConflict, HostedDirectory, hostDevice, unhostOf, type DirectoryKey } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { createdAtMs, type CreatedAt, type FeedEntry } from "./codec.js";
import { ChannelRuntime } from "./channel-runtime.js";
import { ChannelHosting, checkChannel } from "./hosted-channel.js";
import { DEVICE_CONFLICTS, MqttDevices } from "./hosted-devices.js";
import { ThingSpeakEmulation } from "./hosted-plugin.js";
import { feedEntries, lastEntryId } from "./hosted-state.js";
import { THINGSPEAK_PLUGIN, hostedTopics, type HostedChannel, type HostedChannelHandle, type HostedChannelView, type HostOptions, type WriteResult } from "./hosted-types.js";
import { selectEntries } from "./rest-server.js";

export { hostedTopics, type HostedChannel, type HostedChannelHandle, type HostedChannelView, type HostOptions, type WriteResult };

/** The kinds of credentials (and ids) a hosted channel holds in the directory. */
export const CHANNEL_KINDS = { configId: "config id", channelId: "channel id", writeKey: "write API key" } as const;

/** Every hosted channel of this runtime, across brokers, by its ids and write key (the REST API looks here). */
export const thingSpeakChannels = new HostedDirectory<ChannelHosting>();

/** Every hosted channel's MQTT device, across brokers (the plugins' logins look here): one device may have several channels. */
export const thingSpeakDevices = new MqttDevices();

function keysOf(config: HostedChannel): DirectoryKey[] {
  return [
    { kind: CHANNEL_KINDS.configId, value: config.id },
    { kind: CHANNEL_KINDS.channelId, value: String(config.channelId) },
    { kind: CHANNEL_KINDS.writeKey, value: config.writeKey ?? "", secret: true },
  ];
}

/** How a refusal names what the other channel shares with this one. */
function clash(kind: string, config: HostedChannel): string {
  switch (kind) {
    case CHANNEL_KINDS.configId:
      return "is hosted already";
    case CHANNEL_KINDS.channelId:
      return `has channel id ${config.channelId} too`;
    case DEVICE_CONFLICTS.username:
      return "uses the same MQTT username with another client id or password (channels of one MQTT device give the same three credentials)";
    case DEVICE_CONFLICTS.clientId:
      return "uses the same MQTT client id with another username (the broker keeps one connection per client id)";
    default:
      return "uses the same write API key";
  }
}

/** Claims `config`'s ids and credentials for `hosting`; throws naming the channel that holds one already. */
function claim(hosting: ChannelHosting): () => void {
  const { config } = hosting;
  try {
    const release = thingSpeakChannels.claim(hosting, keysOf(config));
    try {
      const releaseDevice = thingSpeakDevices.claim(hosting);
      return () => {
        releaseDevice();
        release();
      };
    } catch (err) {
      release();
      throw err;
    }
  } catch (err) {
    if (!(err instanceof DirectoryConflict)) throw err;
    const other = (err as DirectoryConflict<ChannelHosting>).holder;
    throw new Error(`hosted ThingSpeak channel "${config.name}" is not hosted: "${other.config.name}" ${clash(err.kind, config)}`);
  }
}

/**
 * Hosts `channel` on the `iot-broker` node `brokerId` until the handle is closed, across
 * restarts of that broker; a redeploy that re-creates the hosting node with the same settings
 * keeps the device connected. Problems (a channel that cannot be hosted, entries that could not
 * be delivered) go to `onError`; it never throws. What flows send while the broker is not
 * running is refused ("network").
 */
export function hostThingSpeakDevice(brokerId: string, channel: HostedChannel, onError: (err: unknown) => void, options: HostOptions = {}): HostedChannelHandle {
  const id = String((channel as { id?: unknown } | null | undefined)?.id);
  return hostDevice<ThingSpeakEmulation, ChannelHosting, ChannelRuntime>(
    {
      plugin: THINGSPEAK_PLUGIN,
      brokerId,
      id,
      settings: channel,
      offline: "refuse",
      claim: (runtime) => {
        const hosting = new ChannelHosting(checkChannel(channel), brokerId, options.now ?? Date.now, runtime);
        return { claimed: hosting, release: claim(hosting) };
      },
      create: (engine) => new ThingSpeakEmulation(engine, thingSpeakDevices),
      // The feed the hosting keeps while no broker runs: the link reads it, as REST clients do.
      offlineStore: (hosting) => hosting.store(),
    },
    (err) => {
      onError(toError(err));
    },
  );
}

/** Hosts `channel` without a link (tools, tests): hostThingSpeakDevice, unhosted by the returned function. */
export function hostThingSpeakChannel(brokerId: string, channel: HostedChannel, onError: (err: unknown) => void, options: HostOptions = {}): () => void {
  return unhostOf(hostThingSpeakDevice(brokerId, channel, onError, options));
}

function view(hosting: ChannelHosting): HostedChannelView {
  const { config } = hosting;
  const running = hosting.running();
  return {
    id: config.id,
    channelId: config.channelId,
    name: config.name,
    brokerId: hosting.brokerId,
    running: running !== undefined,
    connected: running?.online ?? false,
    lastEntryId: lastEntryId(hosting.store()),
  };
}

/** The hosted channel with config node id `id`, or undefined. */
export function hostedChannel(id: string): HostedChannelView | undefined {
  const hosting = thingSpeakChannels.find(CHANNEL_KINDS.configId, id);
  return hosting === undefined ? undefined : view(hosting);
}

/** The first hosted channel whose MQTT device credentials are exactly these (password compared in constant time). */
export function hostedByCredentials(clientId: string, username: string, password: string): HostedChannelView | undefined {
  return hostedChannelsByCredentials(clientId, username, password)[0];
}

/** Every hosted channel that accepts these MQTT device credentials (one device, several channels), oldest first. */
export function hostedChannelsByCredentials(clientId: string, username: string, password: string): HostedChannelView[] {
  const device = thingSpeakDevices.find(username);
  return device !== undefined && device.credentialsProblem(clientId, Buffer.from(password)) === undefined ? device.channels.map(view) : [];
}

/** A channel of a hosted MQTT device as the editor shows it: no credentials. */
export interface DeviceChannelView {
  id: string;
  channelId: number;
  name: string;
  allowPublish: boolean;
  allowSubscribe: boolean;
}

/**
 * Every hosted channel whose MQTT device is the one of hosted channel `id` (itself included,
 * oldest first), or undefined when `id` is not hosted: what the editor shows as "one device,
 * several channels". Found through the channel, so no credential is asked for or given out.
 */
export function deviceChannelsOf(id: string): DeviceChannelView[] | undefined {
  const hosting = thingSpeakChannels.find(CHANNEL_KINDS.configId, id);
  if (hosting === undefined) return undefined;
  const device = thingSpeakDevices.find(hosting.config.username);
  return (device?.channels ?? [hosting]).map(({ config }) => ({
    id: config.id,
    channelId: config.channelId,
    name: config.name,
    allowPublish: config.allowPublish !== false,
    allowSubscribe: config.allowSubscribe !== false,
  }));
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
 * Entries of hosted channel `id`, oldest first (copies), or undefined when it is not hosted: an
 * in-process look-up for tools and tests (a local-mode link reads its handle's store instead).
 * Throws TransportError "invalid" for a start/end that is not a time.
 */
export function hostedEntries(id: string, query: HostedEntriesQuery = {}): FeedEntry[] | undefined {
  const hosting = thingSpeakChannels.find(CHANNEL_KINDS.configId, id);
  if (hosting === undefined) return undefined;
  return selectEntries(
    feedEntries(hosting.store(), query.afterEntryId ?? 0),
    {
      results: query.results ?? Infinity,
      status: true,
      location: true,
      ...(query.start === undefined ? {} : { start: createdAtMs(query.start) }),
      ...(query.end === undefined ? {} : { end: createdAtMs(query.end) }),
      ...(query.days === undefined ? {} : { days: query.days }),
      ...(query.minutes === undefined ? {} : { minutes: query.minutes }),
    },
    hosting.now(),
  );
}
