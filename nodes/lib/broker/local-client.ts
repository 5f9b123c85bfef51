/**
 * The broker's in-process client: the PubSub that local-mode links use. No socket, no
 * credentials, no namespace: it publishes and subscribes on internal topics directly, which
 * is how platform links reach the `$iot/...` space that network clients cannot.
 */
import { TransportError, toError } from "../transport/errors.js";
import type { InboundMessage, LinkStatus, MessageHandler, PubSub, PubSubEvents, PublishOptions, SubscribeOptions, Subscription } from "../transport/pubsub.js";
import { assertTopicFilter, assertTopicName } from "../transport/topic.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import type { Aedes, AedesPublishPacket } from "./aedes-types.js";

type Deliver = (packet: AedesPublishPacket, callback: () => void) => void;

/** The part of aedes' persistence (not in its typings) that lists retained messages. */
interface RetainedSource {
  createRetainedStream(pattern: string): AsyncIterable<AedesPublishPacket>;
}

export class LocalClient extends TypedEmitter<PubSubEvents> implements PubSub {
  readonly maxPayloadBytes: number;
  readonly #aedes: Aedes;
  readonly #subscriptions = new Set<{ filter: string; deliver: Deliver }>();
  #status: LinkStatus = { state: "connected", queued: 0 };

  constructor(aedes: Aedes, options: { maxPayloadBytes?: number } = {}) {
    super();
    this.#aedes = aedes;
    this.maxPayloadBytes = options.maxPayloadBytes ?? 268_435_455;
  }

  get status(): LinkStatus {
    return this.#status;
  }

  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    try {
      this.#assertOpen();
      assertTopicName(topic);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
    if (bytes.length > this.maxPayloadBytes) {
      return Promise.reject(
        new TransportError("too-large", `payload for "${topic}" is ${bytes.length} bytes; the limit is ${this.maxPayloadBytes}`),
      );
    }
    return new Promise((resolve, reject) => {
      this.#aedes.publish(
        { cmd: "publish", topic, payload: bytes, qos: options.qos ?? 0, retain: options.retain ?? false, dup: false },
        (err) => {
          if (err) reject(new TransportError("network", `local publish to "${topic}" failed: ${err.message}`));
          else resolve();
        },
      );
    });
  }

  subscribe(filter: string, handler: MessageHandler, _options: SubscribeOptions = {}): Promise<Subscription> {
    try {
      this.#assertOpen();
      assertTopicFilter(filter);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    // MQTT rule: a leading wildcard does not match `$`-topics, in-process as on the wire.
    const skipDollar = filter.startsWith("+") || filter.startsWith("#");
    const deliver: Deliver = (packet, callback) => {
      try {
        if (!(skipDollar && packet.topic.startsWith("$"))) {
          const message: InboundMessage = {
            topic: packet.topic,
            payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
            qos: packet.qos,
            retain: packet.retain,
          };
          handler(message);
        }
      } catch (err) {
        this.emit("warning", `a handler for "${filter}" failed: ${(err as Error).message}`);
      } finally {
        callback();
      }
    };
    const entry = { filter, deliver };
    return new Promise<void>((resolve) => {
      this.#aedes.subscribe(filter, deliver, () => {
        this.#subscriptions.add(entry);
        resolve();
      });
    })
      .then(() => this.#replayRetained(filter, deliver))
      .then(() => ({ filter, unsubscribe: () => this.#unsubscribe(entry) }));
  }

  /**
   * aedes.subscribe() does not send retained messages (its network clients get them from the
   * SUBSCRIBE handler), so the in-process client fetches them itself, as every MQTT client would
   * receive them; they are delivered before subscribe() resolves.
   */
  async #replayRetained(filter: string, deliver: Deliver): Promise<void> {
    const persistence = (this.#aedes as unknown as { persistence?: RetainedSource }).persistence;
    if (!persistence) return;
    try {
      for await (const packet of persistence.createRetainedStream(filter)) {
        await new Promise<void>((done) => {
          deliver({ ...packet, retain: true }, done);
        });
      }
    } catch (err) {
      this.emit("warning", `could not read the retained messages for "${filter}": ${toError(err).message}`);
    }
  }

  /** Ends every subscription; the client reports "closed" afterwards. */
  async close(): Promise<void> {
    if (this.#status.state === "closed") return;
    await Promise.all([...this.#subscriptions].map((s) => this.#unsubscribe(s)));
    this.#status = { state: "closed", queued: 0 };
    this.emit("status", this.#status);
  }

  #unsubscribe(entry: { filter: string; deliver: Deliver }): Promise<void> {
    if (!this.#subscriptions.delete(entry) || this.#aedes.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#aedes.unsubscribe(entry.filter, entry.deliver, () => {
        resolve();
      });
    });
  }

  #assertOpen(): void {
    if (this.#status.state === "closed" || this.#aedes.closed) {
      throw new TransportError("closed", "the local broker is not running");
    }
  }
}
