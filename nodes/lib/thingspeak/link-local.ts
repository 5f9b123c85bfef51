/**
 * local mode: Node-RED is the ThingSpeak server of a channel hosted on an iot-broker node
 * (emulation.ts). The channel is hosted for as long as the link is open; devices connect with
 * its MQTT device credentials (and its REST keys work on Node-RED's HTTP server). The link talks
 * to the broker in-process (BrokerPubSub, no socket): flows' writes go to the emulation's
 * `write` topic and are stored and delivered exactly like a device's publish, each answered on
 * `written`; new entries arrive on `entries`.
 *
 * Decisions: subscribing nodes get the entries devices (MQTT or REST) created, not the ones
 * this link wrote itself (as in Blynk's local mode, a flow does not hear its own writes); to
 * tell them apart, entries arriving while a write awaits its answer are held until the answer
 * names the entry it created. A write's receipt carries the stored entry. A write refused for
 * the interval (the emulation counts device and flow updates together) is retried by the write
 * queue after the `retryInMs` the emulation named.
 */
import { BrokerPubSub, brokers } from "../broker/index.js";
import { TransportError, toError, type TransportErrorCode } from "../transport/errors.js";
import type { InboundMessage, LinkStatus } from "../transport/pubsub.js";
import { encodeUpdate, LIMITS, parseEntry, type ChannelUpdate, type FeedEntry, type FieldNumber } from "./codec.js";
import { hostThingSpeakChannel, hostedEntries, hostedTopics, type HostedChannel, type WriteResult } from "./emulation.js";
import { ThingSpeakLinkBase, type ThingSpeakLinkOptions } from "./link-base.js";
import type { SendOutcome } from "./write-queue.js";

/** How long a write waits for the emulation's answer before it counts as failed (and is retried). */
const ANSWER_TIMEOUT_MS = 10_000;

interface InFlight {
  resolve(outcome: SendOutcome): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const REFUSAL_CODES: Readonly<Record<string, TransportErrorCode>> = {
  "rate-limited": "rate-limited",
  "too-large": "too-large",
  invalid: "invalid",
  "no-action": "invalid",
  conflict: "http",
};

export class LocalThingSpeakLink extends ThingSpeakLinkBase {
  readonly connection = "local" as const;
  readonly #id: string;
  readonly #broker: string;
  readonly #inflight = new Map<string, InFlight>();
  /** Entries that arrived while a write awaited its answer (see the decisions). */
  #held: FeedEntry[] = [];
  #refs = 0;
  #pubsub: BrokerPubSub | undefined;
  #unhost: (() => void) | undefined;

  constructor(options: ThingSpeakLinkOptions) {
    super(options, false);
    this.#id = options.id;
    this.#broker = options.broker ?? "";
    hostedTopics.up(this.#id); // throws for an id that cannot be a topic level
  }

  get server(): undefined {
    return undefined;
  }

  start(): void {
    this.assertOpen();
    if (this.#pubsub !== undefined) return;
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
    };
    // Hosted first: on every broker (re)start the emulation is plugged in before this link attaches.
    this.#unhost = hostThingSpeakChannel(this.#broker, channel, (err) => { this.warn(toError(err).message); }, { now: this.now });
    const pubsub = new BrokerPubSub(brokers, this.#broker, { maxPayloadBytes: LIMITS.messageBytes * 4 });
    this.#pubsub = pubsub;
    pubsub.on("status", (status) => { this.#onBrokerStatus(status); });
    pubsub.on("warning", (text) => { this.warn(text); });
    const listen = (topic: string, handler: (m: InboundMessage) => void): void => {
      pubsub.subscribe(topic, handler).catch((err: unknown) => {
        this.warn(`could not listen to the hosted channel: ${toError(err).message}`);
      });
    };
    listen(hostedTopics.entries(this.#id), (m) => { this.#onEntry(m); });
    listen(hostedTopics.written(this.#id), (m) => { this.#onWritten(m); });
    this.#onBrokerStatus(pubsub.status);
  }

  readNew(afterEntryId?: number, field?: FieldNumber): Promise<FeedEntry[]> {
    try {
      this.assertOpen();
      const all = hostedEntries(this.#id, afterEntryId === undefined ? {} : { afterEntryId });
      if (all === undefined) throw new TransportError("invalid", "the channel is not hosted (see the warnings of its thingspeak-channel node)");
      const wanted = field === undefined ? all : all.filter((e) => e[`field${field}`] !== null);
      return Promise.resolve(afterEntryId === undefined ? wanted.slice(-1) : wanted);
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  protected sendUpdate(update: ChannelUpdate): Promise<SendOutcome> {
    const pubsub = this.#pubsub;
    if (pubsub === undefined) return Promise.reject(this.unsupported("writing before start", "the link was not started"));
    let body: string;
    try {
      body = encodeUpdate(update);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    const ref = String(++this.#refs);
    return new Promise<SendOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(ref, new TransportError("timeout", "the hosted channel did not answer the write in time"));
      }, ANSWER_TIMEOUT_MS);
      this.#inflight.set(ref, { resolve, reject, timer });
      pubsub.publish(`${hostedTopics.write(this.#id)}/${ref}`, body, { qos: 0 }).catch((err: unknown) => {
        this.#settle(ref, toError(err));
      });
    });
  }

  protected sendBulk(): Promise<void> {
    return Promise.reject(this.unsupported("a bulk update", "flows write a hosted channel one update at a time"));
  }

  protected watchedChanged(): void {
    // Entries are always followed (own writes must be told apart); nodes pick what they watch.
  }

  protected async shutdown(): Promise<void> {
    for (const ref of [...this.#inflight.keys()]) this.#settle(ref, new TransportError("closed", "the ThingSpeak channel link was closed"));
    await this.#pubsub?.close();
    this.#unhost?.();
  }

  #onBrokerStatus(status: LinkStatus): void {
    if (status.state !== "connected") {
      this.setReady(false);
      // Answers will not come from a stopped broker: retried once it runs again.
      const lost = new TransportError("network", "the iot-broker node stopped before the write was answered");
      for (const ref of [...this.#inflight.keys()]) this.#settle(ref, lost);
    }
    this.setStatus({ ...status, ...(status.state === "disconnected" ? { reason: status.reason ?? "the iot-broker node is not running" } : {}) });
    if (status.state === "connected") this.setReady(true);
  }

  #onEntry(message: InboundMessage): void {
    let entry: FeedEntry;
    try {
      entry = parseEntry(message.payload, this.channelId);
    } catch (err) {
      this.warn(`ignored an unreadable entry of the hosted channel: ${toError(err).message}`);
      return;
    }
    if (this.#inflight.size > 0) this.#held.push(entry);
    else this.deliverEntry(entry, "device");
  }

  #onWritten(message: InboundMessage): void {
    let result: WriteResult;
    try {
      result = JSON.parse(message.payload.toString("utf8")) as WriteResult;
    } catch (err) {
      this.warn(`ignored an unreadable write answer of the hosted channel: ${toError(err).message}`);
      return;
    }
    const ref = result.ref ?? "";
    if (result.ok) {
      this.#settle(ref, { entryId: result.entry.entry_id, entry: result.entry });
      return;
    }
    const code = REFUSAL_CODES[result.code] ?? "invalid";
    const err = new TransportError(code, `the hosted channel did not store the update (${result.code}): ${result.message}`);
    this.#settle(ref, result.retryInMs === undefined ? err : Object.assign(err, { retryAfterMs: result.retryInMs }));
  }

  /** Ends the write `ref` (an unknown ref is another link's or a late answer: ignored), then releases held entries. */
  #settle(ref: string, outcome: SendOutcome | Error): void {
    const pending = this.#inflight.get(ref);
    if (pending === undefined) return;
    this.#inflight.delete(ref);
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
    if (this.#inflight.size > 0) return;
    const own = outcome instanceof Error ? undefined : outcome.entryId;
    const held = this.#held;
    this.#held = [];
    for (const entry of held) if (entry.entry_id !== own) this.deliverEntry(entry, "device");
  }
}
