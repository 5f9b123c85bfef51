/**
 * local mode: Node-RED is the ThingSpeak server of a channel hosted on an iot-broker node. The
 * channel is hosted for as long as the link is open; devices connect with its MQTT device
 * credentials (and its REST keys work on Node-RED's HTTP server). The link is a thin adapter
 * over the channel's hosted-device handle (docs/ARCHITECTURE.md 3.5), which the host function
 * injected by link.ts gives it: flows' writes are `send(update)`, answered with the stored
 * entry or the refusal; new entries arrive parsed as `uplink`; reads go to the handle's store
 * (hosted-state.ts).
 *
 * Decisions: subscribing nodes get the entries devices (MQTT or REST) created, not the ones
 * this link wrote itself (as in Blynk's local mode, a flow does not hear its own writes): the
 * handle never sends those back. A write's receipt carries the stored entry. A write refused
 * for the interval (the channel counts device, REST and flow updates together) is retried by
 * the write queue after the `retryInMs` the channel named; while the broker is not running,
 * writes wait (and one refused as "network" is retried). Reads go on while it is stopped: the
 * hosting keeps the feed (the handle's store then), as the REST API serves it.
 */
import { TransportError, toError, type TransportErrorCode } from "../transport/errors.js";
import type { LinkStatus } from "../transport/pubsub.js";
import type { ChannelUpdate, FeedEntry, FieldNumber } from "./codec.js";
import { feedEntries, lastEntry } from "./hosted-state.js";
import { hostedTopics, type HostChannel, type HostedChannel, type HostedChannelHandle, type RefusalCode, type WriteResult } from "./hosted-types.js";
import { ThingSpeakLinkBase, type ThingSpeakLinkOptions } from "./link-base.js";
import type { SendOutcome } from "./write-queue.js";

export interface LocalThingSpeakLinkOptions extends ThingSpeakLinkOptions {
  /** Hosts the channel and gives its handle (emulation.ts `hostThingSpeakDevice`, passed in by link.ts). */
  host: HostChannel;
}

const REFUSAL_CODES: Readonly<Record<RefusalCode, TransportErrorCode>> = {
  "rate-limited": "rate-limited",
  "too-large": "too-large",
  invalid: "invalid",
  "no-action": "invalid",
  conflict: "http",
};

/** The channel's answer -> what the write queue expects: the entry, or an error it may retry after `retryAfterMs`. */
function outcomeOf(result: WriteResult): SendOutcome {
  if (result.ok) return { entryId: result.entry.entry_id, entry: result.entry };
  const err = new TransportError(REFUSAL_CODES[result.code], `the hosted channel did not store the update (${result.code}): ${result.message}`);
  throw result.retryInMs === undefined ? err : Object.assign(err, { retryAfterMs: result.retryInMs });
}

export class LocalThingSpeakLink extends ThingSpeakLinkBase {
  readonly connection = "local" as const;
  readonly #id: string;
  readonly #broker: string;
  readonly #host: HostChannel;
  #handle: HostedChannelHandle | undefined;

  constructor(options: LocalThingSpeakLinkOptions) {
    super(options, false);
    this.#id = options.id;
    this.#broker = options.broker ?? "";
    this.#host = options.host;
    hostedTopics.up(this.#id); // throws for an id that cannot be a topic level
  }

  get server(): undefined {
    return undefined;
  }

  start(): void {
    this.assertOpen();
    if (this.#handle !== undefined) return;
    const o = this.options;
    const channel: HostedChannel = {
      id: this.#id,
      channelId: this.channelId,
      name: o.name ?? this.#id,
      clientId: o.clientId ?? "",
      username: o.username ?? "",
      password: o.password ?? "",
      updateIntervalMs: this.updateIntervalMs,
      ...(o.writeKey === undefined ? {} : { writeKey: o.writeKey }),
      ...(o.readKey === undefined ? {} : { readKey: o.readKey }),
      ...(o.fieldNames === undefined ? {} : { fieldNames: o.fieldNames }),
      // Only when off: a channel that allows both hosts with the settings (and digest) it always had.
      ...(o.allowPublish === false ? { allowPublish: false } : {}),
      ...(o.allowSubscribe === false ? { allowSubscribe: false } : {}),
    };
    const handle = this.#host(this.#broker, channel, (err) => {
      this.warn(toError(err).message);
    }, { now: this.now });
    this.#handle = handle;
    handle.on("status", (status) => { this.#onStatus(status); });
    handle.on("warning", (text) => { this.warn(text); });
    handle.on("uplink", (entry) => { this.deliverEntry(entry, "device"); });
    this.#onStatus(handle.status);
  }

  readNew(afterEntryId?: number, field?: FieldNumber): Promise<FeedEntry[]> {
    try {
      this.assertOpen();
      const store = this.#handle?.store;
      if (store === undefined) {
        throw new TransportError("network", `the hosted channel is not running: ${this.#handle?.problem ?? "its iot-broker node is not running"}`);
      }
      if (afterEntryId === undefined) {
        const last = lastEntry(store, field);
        return Promise.resolve(last === undefined ? [] : [last]);
      }
      const all = feedEntries(store, afterEntryId);
      return Promise.resolve(field === undefined ? all : all.filter((e) => e[`field${field}`] !== null));
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  protected sendUpdate(update: ChannelUpdate): Promise<SendOutcome> {
    const handle = this.#handle;
    if (handle === undefined) return Promise.reject(this.unsupported("writing before start", "the link was not started"));
    return handle.send(update).then(outcomeOf);
  }

  protected sendBulk(): Promise<void> {
    return Promise.reject(this.unsupported("a bulk update", "flows write a hosted channel one update at a time"));
  }

  protected watchedChanged(): void {
    // Every new entry arrives anyway (the handle delivers them); nodes pick what they watch.
  }

  protected async shutdown(): Promise<void> {
    await this.#handle?.close();
  }

  #onStatus(status: LinkStatus): void {
    if (status.state !== "connected") this.setReady(false);
    this.setStatus({ ...status, ...(status.state === "disconnected" ? { reason: status.reason ?? "the iot-broker node is not running" } : {}) });
    if (status.state === "connected") this.setReady(true);
  }
}
