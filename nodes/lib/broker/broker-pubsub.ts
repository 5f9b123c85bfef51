/**
 * The PubSub a local-mode link uses: the in-process client of whichever engine the `iot-broker`
 * node with this id runs now. The broker node restarts on redeploys the link may not take part
 * in, so this outlives engines like an MQTT session outlives sockets: subscriptions are restored
 * on every new engine, publishes made while no broker runs wait in a bounded outbox.
 */
import { TransportError, toError } from "../transport/errors.js";
import { Outbox } from "../transport/outbox.js";
import type { LinkStatus, MessageHandler, PubSub, PubSubEvents, PublishOptions, SubscribeOptions, Subscription } from "../transport/pubsub.js";
import { assertTopicFilter, assertTopicName } from "../transport/topic.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import type { BrokerEngine } from "./engine.js";
import type { LocalClient } from "./local-client.js";
import type { BrokerRegistry } from "./registry.js";

export interface BrokerPubSubOptions {
  /** Largest payload accepted (the platform's limit); default MQTT's. */
  maxPayloadBytes?: number;
  /** Messages kept while no broker runs; the oldest is dropped beyond this. */
  outboxLimit?: number;
  /** Runs for every engine this PubSub attaches to, before subscriptions are restored (e.g. to plug an emulation in). */
  onEngine?: (engine: BrokerEngine) => (() => void) | undefined;
}

interface Held {
  filter: string;
  handler: MessageHandler;
  options: SubscribeOptions;
  live: Subscription | undefined;
}

interface Queued {
  topic: string;
  payload: string | Buffer;
  options: PublishOptions;
}

export class BrokerPubSub extends TypedEmitter<PubSubEvents> implements PubSub {
  readonly maxPayloadBytes: number;
  readonly #held = new Set<Held>();
  readonly #outbox: Outbox<Queued>;
  readonly #unregister: () => void;
  #client: LocalClient | undefined;
  /** The current client has its subscriptions back and the backlog sent: publishes go straight to it. */
  #resumed = false;
  #status: LinkStatus;
  #closed = false;

  constructor(registry: BrokerRegistry, brokerId: string, options: BrokerPubSubOptions = {}) {
    super();
    this.maxPayloadBytes = options.maxPayloadBytes ?? 268_435_455;
    this.#outbox = new Outbox(options.outboxLimit ?? 1000);
    this.#status = { state: "disconnected", reason: "the iot-broker node is not running", queued: 0 };
    this.#unregister = registry.use(
      brokerId,
      (engine) => {
        const cleanup = options.onEngine?.(engine);
        this.#attach(engine.createLocalClient({ maxPayloadBytes: this.maxPayloadBytes }));
        return () => {
          this.#detach();
          cleanup?.();
        };
      },
      (err) => {
        this.emit("warning", `the local broker could not be used: ${toError(err).message}`);
      },
    );
  }

  get status(): LinkStatus {
    return this.#status;
  }

  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError("closed", "this link to the local broker is closed"));
    // The local client checks the topic and the size itself (same limit, same errors): not twice.
    // Until it has resumed, publishes queue behind the backlog, so their order holds.
    if (this.#client && this.#resumed) return this.#client.publish(topic, payload, options);
    try {
      assertTopicName(topic);
      const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
      if (size > this.maxPayloadBytes) {
        throw new TransportError("too-large", `payload for "${topic}" is ${size} bytes; the limit is ${this.maxPayloadBytes}`);
      }
    } catch (err) {
      return Promise.reject(toError(err));
    }
    for (const dropped of this.#outbox.push({ topic, payload, options })) {
      this.emit("warning", `the outbox is full (${this.#outbox.limit} messages) while the broker is not ready: dropped a message to "${dropped.topic}"`);
    }
    this.#setStatus({ ...this.#status, queued: this.#outbox.length });
    return Promise.resolve();
  }

  async subscribe(filter: string, handler: MessageHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    if (this.#closed) throw new TransportError("closed", "this link to the local broker is closed");
    assertTopicFilter(filter);
    const held: Held = { filter, handler, options, live: undefined };
    this.#held.add(held);
    if (this.#client) await this.#subscribeOn(this.#client, held);
    return {
      filter,
      unsubscribe: async () => {
        this.#held.delete(held);
        await held.live?.unsubscribe();
        held.live = undefined;
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unregister();
    this.#outbox.drain();
    this.#setStatus({ state: "closed", queued: 0 });
    return Promise.resolve();
  }

  #attach(client: LocalClient): void {
    this.#client = client;
    this.#resumed = false;
    client.on("warning", (w) => {
      this.emit("warning", w);
    });
    // Subscriptions first, then the backlog, so answers to queued requests are not missed.
    const restored = [...this.#held].map((held) => this.#subscribeOn(client, held));
    void Promise.all(restored)
      .then(async () => {
        // Publishes made meanwhile joined the outbox: drain until it stays empty.
        while (this.#client === client && this.#outbox.length > 0) {
          for (const m of this.#outbox.drain()) await client.publish(m.topic, m.payload, m.options);
        }
        if (this.#client !== client) return;
        this.#resumed = true;
        this.#setStatus({ state: "connected", queued: 0 });
      })
      .catch((err: unknown) => {
        this.emit("warning", `could not resume on the local broker: ${toError(err).message}`);
      });
  }

  /** Subscribes `held` on `client`, unless it was ended or the client replaced while that took place. */
  async #subscribeOn(client: LocalClient, held: Held): Promise<void> {
    const live = await client.subscribe(held.filter, held.handler, held.options);
    if (this.#held.has(held) && this.#client === client) held.live = live;
    else await live.unsubscribe();
  }

  #detach(): void {
    const client = this.#client;
    this.#client = undefined;
    this.#resumed = false;
    for (const held of this.#held) held.live = undefined;
    if (!this.#closed) this.#setStatus({ state: "disconnected", reason: "the iot-broker node stopped", queued: this.#outbox.length });
    void client?.close();
  }

  #setStatus(status: LinkStatus): void {
    this.#status = status;
    this.emit("status", status);
  }
}
