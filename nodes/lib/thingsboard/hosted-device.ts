/**
 * One hosted ThingsBoard device on one broker engine: its attribute store, its current MQTT
 * connection, and the HTTP device API's side of it (long polls waiting for shared attribute
 * updates and server RPC, client RPC calls waiting for a flow's answer).
 */
import type { ClientInfo } from "../broker/index.js";
import { Correlator } from "../transport/correlator.js";
import { TransportError } from "../transport/errors.js";
import type { PublishOptions } from "../transport/pubsub.js";
import { ReportThrottle } from "../transport/report-throttle.js";
import { tokenDigest } from "../transport/secret-match.js";
import { LIMITS } from "./codec.js";
import { AttributeStore } from "./hosted-store.js";
import { hostedTopics, type HostedTbDevice } from "./hosted-types.js";

/** Publishes an internal topic on the device's engine. */
export type Publish = (topic: string, payload: string, options?: PublishOptions) => Promise<void>;

/**
 * Ids of client RPC made through the HTTP API start here, far above the small counters MQTT
 * devices use, so a flow's answer cannot be taken for another call's; at most a Java int.
 */
export const HTTP_RPC_FIRST_ID = 1_000_000_000;

/** Pushes kept for an HTTP device between two polls (only while no MQTT connection is the device). */
export const POLL_BUFFER = {
  items: 100,
  /** A server RPC older than ThingsBoard's default RPC timeout is not delivered any more. */
  rpcMaxAgeMs: 10_000,
  attributesMaxAgeMs: 60_000,
} as const;

/** Called with the pushed body, or undefined when the device stops being hosted here. */
export type PollWaiter = (body: string | undefined) => void;

/** Pushes an HTTP device collects by long polling: given to every waiting poll, else kept briefly. */
export class PollQueue {
  readonly #waiters = new Set<PollWaiter>();
  readonly #buffer: { body: string; at: number }[] = [];
  readonly #maxAgeMs: number;

  constructor(maxAgeMs: number) {
    this.#maxAgeMs = maxAgeMs;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  /** A push from a flow. Kept for the next poll only if `keep` and nobody is waiting now. */
  offer(body: string, keep: boolean, now = Date.now()): void {
    if (this.#waiters.size > 0) {
      this.#settle(body);
      return;
    }
    if (!keep) return;
    this.#buffer.push({ body, at: now });
    if (this.#buffer.length > POLL_BUFFER.items) this.#buffer.shift();
  }

  /** A poll: the oldest fresh buffered push at once, or undefined after `waiter` was registered. */
  poll(waiter: PollWaiter, now = Date.now()): { body: string | undefined; cancel: () => void } {
    while (this.#buffer.length > 0) {
      const item = this.#buffer.shift();
      if (item !== undefined && now - item.at <= this.#maxAgeMs) return { body: item.body, cancel: () => undefined };
    }
    this.#waiters.add(waiter);
    return {
      body: undefined,
      cancel: () => {
        this.#waiters.delete(waiter);
      },
    };
  }

  /** Ends every waiting poll with undefined and forgets the buffer. */
  close(): void {
    this.#buffer.length = 0;
    this.#settle(undefined);
  }

  #settle(body: string | undefined): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) {
      try {
        waiter(body);
      } catch {
        // One HTTP client's failure must not keep the push from the others.
      }
    }
  }
}

export interface OnlineState {
  online: boolean;
  clientId?: string;
  remoteAddress?: string;
  protocolVersion?: number;
}

/** One hosted device on one engine. */
export class HostedDevice {
  readonly id: string;
  readonly name: string;
  readonly config: Readonly<HostedTbDevice>;
  readonly digest: Buffer;
  readonly store = new AttributeStore();
  /** The MQTT connection that is this device now (the newest one). */
  current: ClientInfo | undefined;
  /** HTTP long polls for shared attribute updates (`GET .../attributes/updates`). */
  readonly attributeUpdates = new PollQueue(POLL_BUFFER.attributesMaxAgeMs);
  /** HTTP long polls for server RPC (`GET .../rpc`). */
  readonly rpcRequests = new PollQueue(POLL_BUFFER.rpcMaxAgeMs);
  /** Client RPC over HTTP (`POST .../rpc`) waiting for a flow's answer (its payload text). */
  readonly clientRpc = new Correlator<string>({ firstId: HTTP_RPC_FIRST_ID, maxId: LIMITS.tbMaxRequestId });
  readonly #publish: Publish;
  readonly #report: (err: Error) => void;
  /** Problems the device causes over and over are reported once, then summarised (ReportThrottle). */
  readonly #throttle = new ReportThrottle({ summary: (text) => { this.report(text); } });
  #closed = false;

  constructor(config: HostedTbDevice, report: (err: Error) => void, publish: Publish) {
    this.config = config;
    this.id = config.id;
    this.name = config.name;
    this.digest = tokenDigest(config.token);
    this.#report = report;
    this.#publish = publish;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What `state/online` says: online, and which connection is the device. */
  onlineState(): OnlineState {
    const info = this.current;
    if (info === undefined) return { online: false };
    return { online: true, clientId: info.clientId, ...(info.remoteAddress === undefined ? {} : { remoteAddress: info.remoteAddress }), protocolVersion: info.protocolVersion };
  }

  /**
   * A warning about this device, to whoever hosts it; never throws. With a `kind` (a fixed word
   * for something the device can repeat at will), only the first of a burst goes out, then a
   * summary per minute.
   */
  report(message: string, kind?: string): void {
    if (kind !== undefined && !this.#throttle.admit(kind, message)) return;
    try {
      this.#report(new Error(`hosted ThingsBoard device "${this.name}": ${message}`));
    } catch {
      // The host's callback failing must not break the broker.
    }
  }

  /** Whether a problem of `kind` is to be reported now (false: counted for the next summary). */
  admits(kind: string, message: string): boolean {
    return this.#throttle.admit(kind, message);
  }

  /** An uplink that came over HTTP, published where the same MQTT uplink would land. */
  uplink(topic: string, payload: string): Promise<void> {
    return this.#publish(hostedTopics.up(this.id) + topic, payload);
  }

  /** Pushes for HTTP polls are kept between polls only while no MQTT connection is the device. */
  get keepsPushes(): boolean {
    return this.current === undefined;
  }

  /** No longer hosted on this engine: waiting HTTP calls end now. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.current = undefined;
    this.#throttle.close();
    this.attributeUpdates.close();
    this.rpcRequests.close();
    this.clientRpc.rejectAll(new TransportError("closed", "the device is no longer hosted on this broker"));
  }
}
