/**
 * mqtt mode: Node-RED is an MQTT device of the channel on mqtt3.thingspeak.com (or any
 * ThingSpeak-compatible broker, e.g. an iot-broker hosting the channel), with the MQTT device
 * credentials (docs/PROTOCOLS.md 5.1): client id, username, password; MQTT 3.1.1, clean session,
 * QoS 0 only, TLS verified. Updates go to `channels/<id>/publish` form-encoded; subscribing
 * nodes get `channels/<id>/subscribe` (entry JSON) or `.../subscribe/fields/fieldN` (text).
 *
 * Decisions: QoS 0 has no answer, so a write counts as sent once it is written to the socket
 * (no entry id: the receipt carries none). Updates wait while disconnected (in the write queue,
 * not the session's outbox), so a reconnect never sends a backlog faster than the interval.
 * ThingSpeak does not report bulk writes to subscribers and has no bulk topic: no bulk here.
 * One MQTT device may be authorised for several channels, and ThingSpeak allows one connection
 * per client id: channels with the same device credentials share one connection (transport's
 * session pool), each with its own topics; otherwise they would take it from each other forever.
 */
import { toError } from "../transport/errors.js";
import { sharedMqttSessions, type SharedMqttSession } from "../transport/mqtt-pool.js";
import type { InboundMessage, Subscription } from "../transport/pubsub.js";
import {
  encodeUpdate, LIMITS, parseEntry, parseFieldPayload, parseTopic, subscribeFieldTopic, subscribeTopic, publishTopic,
  type ChannelUpdate, type FeedEntry,
} from "./codec.js";
import { DEFAULT_SERVERS, ThingSpeakLinkBase, type ThingSpeakLinkOptions } from "./link-base.js";
import type { SendOutcome } from "./write-queue.js";

export class MqttThingSpeakLink extends ThingSpeakLinkBase {
  readonly connection = "mqtt" as const;
  readonly #session: SharedMqttSession;
  readonly #subs = new Map<string, Promise<Subscription | undefined>>();

  constructor(options: ThingSpeakLinkOptions) {
    super(options, false);
    this.#session = sharedMqttSessions.acquire({
      url: options.server ?? DEFAULT_SERVERS.mqtt,
      clientId: options.clientId ?? "",
      username: options.username ?? "",
      password: options.password ?? "",
      // ThingSpeak closes idle connections after an hour (UNCONFIRMED); a minute's keepalive stays well inside.
      keepaliveSec: 60,
      clean: true,
      maxPayloadBytes: LIMITS.messageBytes,
      // Writes wait in the write queue while offline; the outbox would release them in a burst.
      outboxLimit: 0,
      redactor: this.redactor,
      ...options.mqtt,
    }, { probe: options.probe === true });
    this.follow(this.#session, () => { this.setReady(true); });
    this.#session.on("conflict", (why) => {
      this.emit("conflict", why);
    });
  }

  /** Said with the node's own catalog key (thingspeak-channel.ts), not as a plain warning. */
  protected override kicked(count: number): void {
    this.emit("kicked", count);
  }

  get server(): string {
    return this.#session.url;
  }

  start(): void {
    if (this.firstStart()) this.#session.start();
  }

  readNew(): Promise<FeedEntry[]> {
    return Promise.reject(this.unsupported("reading entries", "ThingSpeak's MQTT API only delivers new entries to subscribers; use rest mode with the read API key to read stored entries"));
  }

  protected async sendUpdate(update: ChannelUpdate): Promise<SendOutcome> {
    await this.#session.publish(publishTopic(this.channelId), encodeUpdate(update), { qos: 0 });
    return {};
  }

  protected sendBulk(): Promise<void> {
    return Promise.reject(this.unsupported("a bulk update", "ThingSpeak's MQTT API has no bulk update"));
  }

  protected watchedChanged(targets: ReadonlySet<string>): void {
    const wanted = new Map<string, string>();
    for (const key of targets) {
      wanted.set(key, key === "all" ? subscribeTopic(this.channelId) : subscribeFieldTopic(this.channelId, key.slice("field".length)));
    }
    for (const [key, sub] of [...this.#subs]) {
      if (wanted.has(key)) continue;
      this.#subs.delete(key);
      sub.then((s) => s?.unsubscribe()).catch((err: unknown) => {
        this.warn(`could not unsubscribe: ${toError(err).message}`);
      });
    }
    for (const [key, filter] of wanted) {
      if (this.#subs.has(key)) continue;
      // Recorded now, (re)sent by the session on every connect; QoS 0 as ThingSpeak documents.
      const sub = this.#session.subscribe(filter, (m) => { this.#onMessage(m); }, { qos: 0 }).catch((err: unknown) => {
        this.warn(`could not subscribe to ${filter}: ${toError(err).message}`);
        return undefined;
      });
      this.#subs.set(key, sub);
    }
  }

  protected async shutdown(): Promise<void> {
    await this.#session.close();
  }

  #onMessage(message: InboundMessage): void {
    const parsed = parseTopic(message.topic);
    if (parsed?.channelId !== this.channelId) return;
    try {
      if (parsed.kind === "subscribe") {
        this.deliver({ kind: "entry", entry: parseEntry(message.payload, this.channelId), source: "cloud" });
      } else if (parsed.kind === "subscribe-field" && typeof parsed.field === "number") {
        this.deliver({ kind: "field", field: parsed.field, text: parseFieldPayload(message.payload), source: "cloud" });
      }
    } catch (err) {
      this.warn(`ignored an unreadable message on ${message.topic}: ${toError(err).message}`);
    }
  }
}
