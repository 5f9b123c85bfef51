/**
 * A hosted ThingSpeak channel on one broker engine (the `HostedRuntime` its handle follows,
 * docs/ARCHITECTURE.md 3.5): its feed in the engine's DeviceStore, which connection is its
 * device, and the delivery of new entries. Every update, whoever made it (the device over MQTT,
 * a REST client, the flows through `send`), is stored by `write` under the one update interval;
 * a stored entry goes to the channel's subscribed devices (as the subscribe JSON and per-field
 * text) and, unless the flows made it, to the handle's `uplink` listeners as the parsed entry.
 *
 * History: every stored entry's fields go to the engine's DeviceHistory (stream `field1` ..
 * `field8`, the entry's created_at, the value as a number when it is one, else its text), also
 * the entries of a bulk update and those written while no broker ran (appended when this engine
 * takes the feed over; what earlier engines kept stays where their history keeps it). The REST read API reads the feed, not the history (rest-api.ts says why).
 *
 * Flow control: deliveries to devices go out one entry at a time through a PacedQueue, on a
 * later turn (never inside a hook, docs/PROTOCOLS.md 7), at most MAX_QUEUED_DELIVERIES
 * waiting: entries over the bound are stored but not delivered, and the channel's report says
 * so (once, then once a minute).
 */
import { HostedRuntimeBase, type ClientInfo, type DeviceHistory, type DeviceStore } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { PacedQueue } from "../transport/paced-queue.js";
import { parseScalar } from "../transport/value-codec.js";
import { createdAtMs, encodeUpdate, entryMessages, FIELD_KEYS, isEmptyUpdate, type ChannelUpdate, type FeedEntry } from "./codec.js";
import type { ChannelHosting, RunningChannel } from "./hosted-channel.js";
import { FeedStore, refusalOf } from "./hosted-store.js";
import { hostedTopics, THINGSPEAK_PLUGIN, type BulkResult, type WriteResult } from "./hosted-types.js";

/** Entries waiting to be delivered to devices, per channel. */
export const MAX_QUEUED_DELIVERIES = 1000;

export interface Outgoing {
  topic: string;
  payload: string;
}

/** Publishes one delivery's messages on the engine; settles when they are delivered. Never rejects. */
export type Deliver = (runtime: ChannelRuntime, messages: Outgoing[]) => Promise<void>;

export class ChannelRuntime extends HostedRuntimeBase<FeedEntry, ChannelUpdate, WriteResult, never> implements RunningChannel {
  readonly hosting: ChannelHosting;
  readonly feed: FeedStore;
  /** Connections that are this channel's device now (at most one after a takeover completes). */
  readonly #clients = new Set<ClientInfo>();
  readonly #outbox: PacedQueue<Outgoing[]>;
  readonly #history: DeviceHistory;

  constructor(hosting: ChannelHosting, store: DeviceStore, report: (err: Error) => void, deliver: Deliver, history: DeviceHistory) {
    super({ id: hosting.id, name: hosting.config.name, platform: "ThingSpeak", noun: "channel" }, store, report);
    this.hosting = hosting;
    this.#history = history;
    for (const entry of hosting.adopt(store)) this.#record(entry);
    this.feed = new FeedStore(store, hosting.limit);
    this.#outbox = new PacedQueue<Outgoing[]>({ limit: MAX_QUEUED_DELIVERIES, send: (messages) => deliver(this, messages) });
  }

  /** The flows' update (checked as a device's would be): stored as the next entry, not sent back to the flows. */
  send(update: ChannelUpdate): Promise<WriteResult> {
    try {
      // What flows send passes the checks and size limit of a device's form (an empty update is "no-action", as a device's).
      if (!isEmptyUpdate(update)) encodeUpdate(update);
    } catch (err) {
      return Promise.resolve(refusalOf(err));
    }
    return Promise.resolve(this.write(update, true));
  }

  write(update: ChannelUpdate, fromFlows = false): WriteResult {
    const result = this.feed.write(this.hosting.config, update, this.hosting.now());
    if (!result.ok) return result;
    this.#record(result.entry);
    this.#announce(result.entry);
    if (!fromFlows) this.listeners.uplink({ ...result.entry });
    return result;
  }

  /** A REST client's bulk update: stored, kept in the history and given to flows; not sent to devices (ThingSpeak reports bulk writes to no subscriber). */
  writeBulk(updates: readonly ChannelUpdate[]): BulkResult {
    const result = this.feed.writeBulk(this.hosting.config, updates, this.hosting.now());
    if (!result.ok) return result;
    for (const entry of result.entries) {
      this.#record(entry);
      this.listeners.uplink({ ...entry });
    }
    return result;
  }

  /** The device connected (a takeover: the newest connection is the device). */
  clientReady(info: ClientInfo): void {
    this.#clients.add(info);
    this.current = info;
    this.listeners.online(this.onlineState());
  }

  clientGone(info: ClientInfo): void {
    if (!this.#clients.delete(info)) return;
    if (this.current !== info) return;
    this.current = [...this.#clients].at(-1);
    this.listeners.online(this.onlineState());
  }

  /** Hosting on this engine ends: the feed goes back to the hosting (kept until the next engine). */
  close(): void {
    this.#outbox.close();
    this.closeReports();
    this.#clients.clear();
    this.current = undefined;
    this.hosting.park(this.store);
  }

  /** A stored entry's fields -> the history, one point per field it has; a failure is reported, never thrown. */
  #record(entry: FeedEntry): void {
    try {
      const at = createdAtMs(entry.created_at);
      for (const key of FIELD_KEYS) {
        const text = entry[key];
        if (text !== null) this.#history.append(THINGSPEAK_PLUGIN, this.id, key, at, parseScalar(text));
      }
    } catch (err) {
      this.report(`entry ${entry.entry_id} was not (all) kept in the history: ${toError(err).message}`, "history");
    }
  }

  /** A stored entry -> the channel's subscribed devices (the JSON, then each field's text). */
  #announce(entry: FeedEntry): void {
    const down = hostedTopics.down(this.id);
    const messages = entryMessages(entry).map((m) => ({ topic: down + m.topic, payload: m.payload }));
    if (this.#outbox.offer(messages)) return;
    this.report(`entry ${entry.entry_id} was stored but not delivered: the channel is written faster than it can be delivered (${this.#outbox.limit} deliveries wait)`, "undelivered");
  }
}
