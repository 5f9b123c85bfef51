/**
 * A hosted ThingSpeak channel on one broker engine (the `HostedRuntime` its handle follows,
 * docs/ARCHITECTURE.md 3.5): its feed in the engine's DeviceStore, which connection is its
 * device, and the delivery of new entries. Every update, whoever made it (the device over MQTT,
 * a REST client, the flows through `send`), is stored by `write` under the one update interval;
 * a stored entry goes to the channel's subscribed devices (as the subscribe JSON and per-field
 * text) and, unless the flows made it, to the handle's `uplink` listeners as the parsed entry.
 *
 * Flow control: deliveries to devices go out one entry at a time through a PacedQueue, on a
 * later turn (never inside a hook, docs/PROTOCOLS.md 7), at most MAX_QUEUED_DELIVERIES
 * waiting: entries over the bound are stored but not delivered, and the channel's report says
 * so (once, then once a minute).
 */
import { HostedRuntimeBase, type ClientInfo, type DeviceStore } from "../broker/index.js";
import { PacedQueue } from "../transport/paced-queue.js";
import { encodeUpdate, entryMessages, isEmptyUpdate, type ChannelUpdate, type FeedEntry } from "./codec.js";
import type { ChannelHosting, RunningChannel } from "./hosted-channel.js";
import { FeedStore, refusalOf } from "./hosted-store.js";
import { hostedTopics, type WriteResult } from "./hosted-types.js";

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

  constructor(hosting: ChannelHosting, store: DeviceStore, report: (err: Error) => void, deliver: Deliver) {
    super({ id: hosting.id, name: hosting.config.name, platform: "ThingSpeak", noun: "channel" }, store, report);
    this.hosting = hosting;
    hosting.adopt(store);
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
    this.#announce(result.entry);
    if (!fromFlows) this.listeners.uplink({ ...result.entry });
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

  /** A stored entry -> the channel's subscribed devices (the JSON, then each field's text). */
  #announce(entry: FeedEntry): void {
    const down = hostedTopics.down(this.id);
    const messages = entryMessages(entry).map((m) => ({ topic: down + m.topic, payload: m.payload }));
    if (this.#outbox.offer(messages)) return;
    this.report(`entry ${entry.entry_id} was stored but not delivered: the channel is written faster than it can be delivered (${this.#outbox.limit} deliveries wait)`, "undelivered");
  }
}
