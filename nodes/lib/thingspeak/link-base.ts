/**
 * The client side of one ThingSpeak channel ("the link"): the types every mode shares and the
 * base class with what ThingSpeak adds to every platform's link (transport/device-link.ts): the
 * pending writes of the update interval in the status, the write coalescer, subscription
 * interest. Modes: link-mqtt.ts
 * (Node-RED is an MQTT device of the channel), link-rest.ts (it writes and reads with the API
 * keys), link-local.ts (it serves a channel hosted on an iot-broker).
 */
import type { BackoffOptions } from "../transport/backoff.js";
import { DeviceLink, type DeviceLinkApi, type DeviceLinkEvents } from "../transport/device-link.js";
import { toError } from "../transport/errors.js";
import type { HttpClientOptions } from "../transport/http-client.js";
import type { MqttConflict } from "../transport/mqtt-pool.js";
import type { MqttSessionOptions } from "../transport/mqtt-session.js";
import type { LinkStatus } from "../transport/pubsub.js";
import type { BucketTimers } from "../transport/rate-limit.js";
import type { Redactor } from "../transport/redact.js";
import { ReportThrottle } from "../transport/report-throttle.js";
import { encodeUpdate, entryField, toChannelUpdate, toFieldNumber, type ChannelUpdate, type FeedEntry, type FieldNumber } from "./codec.js";
import { WriteQueue, type PendingInfo, type SendOutcome, type WriteReceipt } from "./write-queue.js";

export type ThingSpeakConnection = "mqtt" | "rest" | "local";

/** ThingSpeak's own servers, used when a cloud mode's server is not set. */
export const DEFAULT_SERVERS = { mqtt: "mqtts://mqtt3.thingspeak.com:8883", rest: "https://api.thingspeak.com" } as const;

/** Where an entry came from: the cloud's MQTT subscription, a hosted channel's device, a REST read. */
export type ThingSpeakSource = "cloud" | "device" | "read";

export interface ThingSpeakLinkStatus extends LinkStatus {
  /** Writes waiting for the update interval (absent when none wait). */
  pending?: PendingInfo;
}

/** A new entry of the channel (all fields). */
export interface EntryMessage {
  kind: "entry";
  entry: FeedEntry;
  source: ThingSpeakSource;
}

/** A new value of one field (MQTT `subscribe/fields/fieldN`: text only, no entry). */
export interface FieldMessage {
  kind: "field";
  field: FieldNumber;
  text: string;
  /** The entry the value belongs to, when the link knows it (local and rest modes). */
  entry?: FeedEntry;
  source: ThingSpeakSource;
}

export type ThingSpeakIncoming = EntryMessage | FieldMessage;

export type ThingSpeakLinkEvents = DeviceLinkEvents<ThingSpeakLinkStatus, ThingSpeakIncoming> & {
  /**
   * mqtt: the server dropped this many accepted connections in a row right away (said once per
   * MQTT session): another client most likely uses the same client id (or the device is not
   * authorised for a topic, which ThingSpeak answers by disconnecting).
   */
  kicked: [number];
  /**
   * mqtt: another thingspeak-channel (or link) of this Node-RED connects with the same client id
   * to the same server with another username or password ("credentials"), or to another port or
   * scheme of the same host ("endpoint"); said once, before any takeover: they cannot share a
   * connection, and the server keeps one per client id.
   */
  conflict: [MqttConflict];
};

export interface ThingSpeakLinkOptions {
  connection: ThingSpeakConnection;
  channelId: number;
  /** The thingspeak-channel config node's id (the hosted channel's id in local mode). */
  id: string;
  /** Shown in messages. */
  name?: string;
  /** mqtt: mqtt[s]:// or ws[s]:// URL; rest: http[s]:// base URL. */
  server?: string;
  /** local: id of the iot-broker node that hosts the channel. */
  broker?: string;
  /** MQTT device credentials (mqtt, local): secrets, registered with the redactor. */
  clientId?: string;
  username?: string;
  password?: string;
  /** REST API keys (rest; local: the hosted channel's). */
  writeKey?: string;
  readKey?: string;
  /** Shortest time between two updates of this channel; default 15 s (free license). */
  updateIntervalMs?: number;
  /**
   * local: may the device with these MQTT credentials publish to / subscribe on the hosted
   * channel (ThingSpeak's Allow Publish / Allow Subscribe); default true. Hosted channels with
   * the same credentials are channels of one device.
   */
  allowPublish?: boolean;
  allowSubscribe?: boolean;
  /** local: labels of the hosted channel's fields. */
  fieldNames?: Partial<Record<FieldNumber, string>>;
  /** Writes waiting for the interval at most (beyond: refused); default 1000. */
  maxPendingWrites?: number;
  /** On close, how long pending writes may wait for their turn before they are discarded; default 10 s. */
  closeFlushMs?: number;
  redactor?: Redactor;
  /** mqtt: a connection test's link (mqtt-pool.ts `probe`): no share of another identity's session, no conflict warnings. */
  probe?: boolean;
  mqtt?: Pick<MqttSessionOptions, "reconnect" | "authBackoff" | "connectTimeoutMs" | "random" | "protocolVersion" | "tls" | "keepaliveSec">;
  http?: Pick<HttpClientOptions, "retries" | "backoff" | "timeoutMs" | "tls" | "random">;
  /** Delays after failed updates (on top of the interval). */
  retryBackoff?: BackoffOptions;
  /** Clock and timers of the update interval (tests); local mode hands the clock to the hosted channel too. */
  now?: () => number;
  timers?: BucketTimers;
}

export interface WriteOptions {
  /** rest: a backlog goes out as one bulk update instead of being coalesced. */
  bulk?: boolean;
}

export type { PendingInfo, WriteReceipt };

/** The client-side API every flow node uses, the same in all three modes. */
export interface ThingSpeakLink extends DeviceLinkApi<ThingSpeakConnection, ThingSpeakLinkStatus, ThingSpeakLinkEvents> {
  readonly channelId: number;
  readonly updateIntervalMs: number;
  /**
   * Validates `input` (a value for `field`, or an object of fields, status, location, created_at)
   * and rejects at once when it is unusable; otherwise resolves when it was sent, coalesced with
   * other writes under the update interval.
   */
  write(input: unknown, field?: FieldNumber, options?: WriteOptions): Promise<WriteReceipt>;
  /** Declares interest in new entries (undefined = all fields) until the returned function is called. */
  watch(field?: FieldNumber): () => void;
  /** Entries after `afterEntryId`, oldest first; without it, the newest entry only (rest, local). */
  readNew(afterEntryId?: number, field?: FieldNumber): Promise<FeedEntry[]>;
}

export abstract class ThingSpeakLinkBase extends DeviceLink<ThingSpeakLinkStatus, ThingSpeakIncoming, ThingSpeakLinkEvents> implements ThingSpeakLink {
  abstract override readonly connection: ThingSpeakConnection;
  readonly channelId: number;
  readonly updateIntervalMs: number;
  protected readonly options: ThingSpeakLinkOptions;
  protected readonly queue: WriteQueue;
  readonly #watchers = new Map<string, number>();
  #transport: LinkStatus = this.status;
  /** The transport can send (the link's readiness, which closing ends before the flush does). */
  #transportReady = false;
  /** close() is sending what waits. */
  #flushing = false;
  readonly #retryReports: ReportThrottle;

  protected constructor(options: ThingSpeakLinkOptions, bulk: boolean) {
    super(options, { platform: "ThingSpeak", thing: "channel" }, [options.password, options.writeKey, options.readKey]);
    this.options = options;
    this.channelId = options.channelId;
    this.updateIntervalMs = options.updateIntervalMs ?? 15_000;
    this.queue = new WriteQueue({
      intervalMs: this.updateIntervalMs,
      send: (update) => this.sendUpdate(update),
      ...(bulk ? { sendBulk: (updates: ChannelUpdate[]) => this.sendBulk(updates), bulkMax: this.updateIntervalMs < 15_000 ? 14_400 : 960 } : {}),
      // While closing, the flush may still send (the link is no longer `ready` by then).
      canSend: () => this.ready || (this.#flushing && this.#transportReady),
      ...(options.maxPendingWrites === undefined ? {} : { maxWaiting: options.maxPendingWrites }),
      ...(options.retryBackoff === undefined ? {} : { backoff: options.retryBackoff }),
      now: this.now,
      ...(options.timers === undefined ? {} : { timers: options.timers }),
    });
    this.queue.on("changed", () => {
      this.#publishStatus();
    });
    // Writing faster than the channel's interval makes a retry per interval, each correct: the
    // log gets the first few, then one summary a minute (a soak logged thousands otherwise).
    this.#retryReports = new ReportThrottle({ burst: 3, summary: (text) => { this.warn(`update not stored: ${text}`); } });
    this.queue.on("retrying", ({ error, retryInMs }) => {
      this.#retryReports.report("retrying", `update not stored, retrying in ${Math.ceil(retryInMs / 1000)} s with the pending values: ${error.message}`, (text) => {
        this.warn(text);
      });
    });
  }

  /** Sends one update now (the queue decided it is due). */
  protected abstract sendUpdate(update: ChannelUpdate): Promise<SendOutcome>;
  protected abstract sendBulk(updates: ChannelUpdate[]): Promise<void>;
  /** The set of watched targets changed ("all" and/or "field<N>" keys). */
  protected abstract watchedChanged(targets: ReadonlySet<string>): void;
  abstract readNew(afterEntryId?: number, field?: FieldNumber): Promise<FeedEntry[]>;

  write(input: unknown, field?: FieldNumber, options: WriteOptions = {}): Promise<WriteReceipt> {
    let update: ChannelUpdate;
    try {
      this.assertOpen();
      update = toChannelUpdate(input, field);
      this.checkUpdate(update);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    return this.queue.write(update, options);
  }

  watch(field?: FieldNumber): () => void {
    const key = field === undefined ? "all" : `field${toFieldNumber(field)}`;
    this.#watchers.set(key, (this.#watchers.get(key) ?? 0) + 1);
    if (this.#watchers.get(key) === 1) this.watchedChanged(new Set(this.#watchers.keys()));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.#watchers.get(key) ?? 1) - 1;
      if (left > 0) {
        this.#watchers.set(key, left);
        return;
      }
      this.#watchers.delete(key);
      if (!this.closed) this.watchedChanged(new Set(this.#watchers.keys()));
    };
  }

  /** Writes still waiting get their turn (if it comes soon enough), then the transport goes. */
  protected override beforeShutdown(): Promise<void> {
    const flush = this.ready;
    this.#flushing = flush;
    return this.queue.close(flush, this.options.closeFlushMs ?? 10_000).then((discarded) => {
      this.#flushing = false;
      this.#retryReports.close();
      if (discarded > 0) {
        const why = flush ? "their turn under the update interval did not come before closing" : "the channel was not connected";
        this.warn(`${discarded} pending write(s) were discarded: ${why}`);
      }
    });
  }

  /** Checks before a write is queued: it must fit ThingSpeak's 3000-byte message on its own. */
  protected checkUpdate(update: ChannelUpdate): void {
    encodeUpdate(update);
  }

  /** The transport's status; the pending writes are added here. */
  protected override setStatus(status: LinkStatus): void {
    this.#transport = this.redacted(status);
    this.#publishStatus();
  }

  /** Ready edges: every false -> true emits `ready` and lets waiting writes go. */
  protected override setReady(ready: boolean): boolean {
    this.#transportReady = ready;
    const rose = super.setReady(ready);
    if (rose) this.queue.kick();
    return rose;
  }

  /** An entry: emitted as it is, and as one field message per field it has. */
  protected deliverEntry(entry: FeedEntry, source: ThingSpeakSource): void {
    this.deliver({ kind: "entry", entry, source });
    for (let n = 1; n <= 8; n++) {
      const text = entryField(entry, n);
      if (text !== undefined) this.deliver({ kind: "field", field: n as FieldNumber, text, entry, source });
    }
  }

  #publishStatus(): void {
    const pending = this.queue.pending;
    const t = this.#transport;
    const next: ThingSpeakLinkStatus = { ...t, queued: t.queued + (t.state === "connected" ? 0 : pending.writes) };
    if (pending.writes > 0 && t.state !== "closed") next.pending = pending;
    this.showStatus(next, true);
  }
}
