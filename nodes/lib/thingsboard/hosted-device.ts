/**
 * One hosted ThingsBoard device on one broker engine (the runtime a local-mode link's handle
 * follows, docs/ARCHITECTURE.md 3.5): its state (hosted-store.ts over the engine's
 * DeviceStore), its current MQTT connection, its listeners, and the HTTP device API's side of
 * it (long polls waiting for shared attribute updates and server RPC, client RPC calls waiting
 * for a flow's answer).
 *
 * Both ways, parsed once: the emulation (MQTT) and the HTTP API hand what the device sent to
 * `receive`, which remembers what ThingsBoard remembers and tells the listeners; flows' messages
 * arrive in `send`, which remembers shared attributes, hands pushes to waiting HTTP polls and
 * publishes the payload on the device's `down/` topic.
 */
import { firmwareShelf, type DeviceHistory, type DeviceStore } from "../broker/index.js";
import { HostedRuntimeBase } from "../broker/hosted-runtime.js";
import { Correlator } from "../transport/correlator.js";
import { toError, TransportError } from "../transport/errors.js";
import { LIMITS, rpcRequestTopic, rpcResponseTopic, TOPICS, type TbJson } from "./codec.js";
import { historyStream } from "./hosted-state.js";
import { TbDeviceState } from "./hosted-store.js";
import { hostedTopics, TB_PLUGIN, type HostedTbDevice, type TbDown, type TbUp } from "./hosted-types.js";
import { encodeHttpRpcRequest } from "./http-codec.js";

/** Publishes on an internal topic of the device's engine (QoS 1); settles when delivered. */
export type Publish = (topic: string, payload: string) => Promise<void>;

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

/** One hosted device on one engine. */
export class HostedDevice extends HostedRuntimeBase<TbUp, TbDown, void, never> {
  readonly config: Readonly<HostedTbDevice>;
  /** Attributes and latest telemetry, over `store`. */
  readonly state: TbDeviceState;
  /** HTTP long polls for shared attribute updates (`GET .../attributes/updates`). */
  readonly attributeUpdates = new PollQueue(POLL_BUFFER.attributesMaxAgeMs);
  /** HTTP long polls for server RPC (`GET .../rpc`). */
  readonly rpcRequests = new PollQueue(POLL_BUFFER.rpcMaxAgeMs);
  /** Client RPC over HTTP (`POST .../rpc`) waiting for a flow's answer. */
  readonly clientRpc = new Correlator<TbJson>({ firstId: HTTP_RPC_FIRST_ID, maxId: LIMITS.tbMaxRequestId });
  readonly #publish: Publish;
  readonly #history: DeviceHistory;
  /** The internal prefix of what the device receives (made once: used on every send). */
  readonly #down: string;
  #closed = false;

  constructor(config: HostedTbDevice, store: DeviceStore, report: (err: Error) => void, publish: Publish, history: DeviceHistory) {
    super({ id: config.id, name: config.name, platform: "ThingsBoard" }, store, report);
    this.config = config;
    this.state = new TbDeviceState(store);
    this.#publish = publish;
    this.#history = history;
    this.#down = hostedTopics.down(config.id);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Pushes for HTTP polls are kept between polls only while no MQTT connection is the device. */
  get keepsPushes(): boolean {
    return this.current === undefined;
  }

  /**
   * What the device sent, parsed (MQTT or HTTP): client attributes and the latest telemetry are
   * remembered (what fits; the rest is reported, flows get everything), each telemetry point
   * that fits goes to the history (hosted-state.ts), then the listeners hear it.
   */
  receive(message: TbUp): void {
    try {
      if (message.kind === "attributes") this.state.setAttributes("client", message.values, message.device);
      else if (message.kind === "telemetry") this.state.setTelemetry(message.entries, message.device, this.#recorder(message.device));
    } catch (err) {
      this.report(toError(err).message, "store-full");
    }
    // ThingsBoard itself answers the session limits (hosted-plugin.ts); they are never the flows'.
    if (message.kind === "rpc-request" && message.method === "getSessionLimits") return;
    this.listeners.uplink(message);
  }

  /** Appends telemetry points of the device (or its sub-device) to the history; a failure is reported, never thrown. */
  #recorder(device: string | undefined): (key: string, at: number, value: TbJson) => void {
    return (key, at, value) => {
      try {
        this.#history.append(TB_PLUGIN, this.id, historyStream(key, device), at, value);
      } catch (err) {
        this.report(`telemetry "${key}" was not kept in the history: ${toError(err).message}`, "history");
      }
    };
  }

  /** From flows: shared attributes are remembered, HTTP polls and calls get theirs, the device gets the payload. */
  send(message: TbDown): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError("closed", "the device is no longer hosted on this broker"));
    const G = TOPICS.gateway;
    let topic: string;
    switch (message.kind) {
      case "firmware":
        // The image first: a shelf over its limit refuses before the device is told anything.
        try {
          firmwareShelf.assign(TB_PLUGIN, this.id, message.info.type, message.image);
        } catch (err) {
          return Promise.reject(toError(err));
        }
        try {
          this.state.updateShared(message);
        } catch (err) {
          this.report(`firmware attributes sent by a flow: ${toError(err).message}`, "store-full");
        }
        this.attributeUpdates.offer(message.text, this.keepsPushes);
        topic = TOPICS.attributes;
        break;
      case "attributes":
        try {
          this.state.updateShared(message, message.device);
        } catch (err) {
          this.report(`shared attributes sent by a flow: ${toError(err).message}`, "store-full");
        }
        if (message.device === undefined) this.attributeUpdates.offer(message.text, this.keepsPushes);
        topic = message.device === undefined ? TOPICS.attributes : G.attributes;
        break;
      case "rpc-request":
        if (message.device === undefined) {
          // HTTP devices need params (ThingsBoard's HTTP API fails without them): none -> {}.
          const body = encodeHttpRpcRequest(message.id, { method: message.method, params: message.params ?? undefined });
          this.rpcRequests.offer(JSON.stringify(body), this.keepsPushes);
        }
        topic = message.device === undefined ? rpcRequestTopic(message.id) : G.rpc;
        break;
      case "rpc-response":
        this.clientRpc.resolve(message.id, message.result);
        topic = rpcResponseTopic(message.idText);
        break;
    }
    return this.#publish(this.#down + topic, message.text);
  }

  /** No longer hosted on this engine: waiting HTTP calls end now, summaries still owed go out. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.current = undefined;
    this.closeReports();
    this.attributeUpdates.close();
    this.rpcRequests.close();
    this.clientRpc.rejectAll(new TransportError("closed", "the device is no longer hosted on this broker"));
  }
}
