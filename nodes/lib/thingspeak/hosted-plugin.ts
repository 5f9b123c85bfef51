/**
 * The ThingSpeak emulation on one broker engine: a BrokerPlugin shared by every channel hosted
 * on that engine (see acquirePlugin). It authenticates devices by their MQTT device
 * credentials, keeps their traffic in private namespaces, turns their publishes and the flows'
 * writes into feed entries, and delivers entries as mqtt3.thingspeak.com would.
 *
 * Decisions (docs/PROTOCOLS.md 5.1 and 6 leave these open or UNCONFIRMED):
 * - CONNECT: the plugin claims a connection whose username is a hosted channel's; the client id
 *   and password must then match too, else CONNACK 5 "not authorized" (MQTT 5: 0x87), the code
 *   ThingSpeak's troubleshooting pages name for refused connections. The broker event says
 *   which part was wrong (never its value, except the client id, which every event shows).
 *   Unknown usernames are left to generic users and anonymous access (CONNACK 4 "unknown user").
 *   An empty client id never matches: ThingSpeak credentials include the client id.
 * - Several devices with the same credentials share the client id, so MQTT's session takeover
 *   applies: the newest connection stays, the older one is closed. At most one device per
 *   hosted channel is connected.
 * - A hosted channel's credentials authorise exactly its own channel id: publish to
 *   `channels/<id>/publish[/fields/fieldN]`, subscribe to `channels/<id>/subscribe`,
 *   `.../subscribe/fields/fieldN` and `.../subscribe/fields/+`. Anything else is refused by the
 *   namespace: publishes dropped with a `publish-refused` event (MQTT 5: PUBACK 0x87), SUBACK
 *   0x80. A device's publishes land under `hostedTopics.up(id)` as published.
 * - QoS: ThingSpeak documents QoS 0 only. QoS 1/2 publishes are accepted (acknowledged by the
 *   broker) and stored like QoS 0 ones rather than refused; entries always go out at QoS 0.
 * - Over-rate: an update within `updateIntervalMs` of the last stored one (device, REST or
 *   flow: one interval per channel, as ThingSpeak counts MQTT and REST together) is not stored,
 *   like the cloud's silent drop; the broker reports it as a `plugin-error` event naming the
 *   channel and when the next update is accepted. Malformed and empty updates the same way.
 * - Entries go to subscribed devices (the publishing device too: subscribe and publish are
 *   different topics) as the subscribe JSON and per-field text, and to flows on
 *   `hostedTopics.entries(id)`, never retained, on the next turn (never inside a hook,
 *   docs/PROTOCOLS.md 7).
 * - Flow control: a channel's entries and write results go out through a PacedQueue (one
 *   entry's messages in flight, at most MAX_QUEUED waiting), so a channel written faster than
 *   its subscribers read (update interval 0) cannot flood the broker: entries over the bound
 *   are stored but not delivered, and the channel's report says so (once, then once a minute).
 *   Dropped device publishes are reported the same way: one plugin-error event, then summaries.
 * - Flows write on `hostedTopics.write(id)` (form text); each write gets a WriteResult on
 *   `hostedTopics.written(id)` after its entry, so a local-mode link can back off and retry.
 *   Retained messages on `write` are not taken: replayed at every restart, they would repeat.
 */
import { deviceNamespace, INTERNAL_PREFIX, type AuthDecision, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { PacedQueue } from "../transport/paced-queue.js";
import type { InboundMessage } from "../transport/pubsub.js";
import { ReportThrottle } from "../transport/report-throttle.js";
import { tokenDigest } from "../transport/secret-match.js";
import { encodeEntry, entryMessages, parseTopic, type FeedEntry } from "./codec.js";
import { ChannelFeed, refusalOf, type WriteOutcome } from "./hosted-channel.js";
import { THINGSPEAK_PLUGIN, hostedTopics, type WriteResult } from "./hosted-types.js";

/**
 * Publish limit per device connection unless the broker sets one. ThingSpeak documents no message
 * rate, only the update interval (enforced by the channel itself, and often lowered when self-
 * hosting): this is a flood guard sized for one update a second published field by field.
 */
const DEVICE_RATE_LIMIT: RateLimit = { perSecond: 8, burst: 16 };

/** Entries and write results waiting to be delivered, per channel. */
export const MAX_QUEUED_DELIVERIES = 1000;

interface Outgoing {
  topic: string;
  payload: string;
}

interface Hosted {
  feed: ChannelFeed;
  report: (err: Error) => void;
  /** Connections that are this channel's device now (at most one after a takeover completes). */
  clients: Set<ClientInfo>;
  announce: (entry: FeedEntry) => void;
  /** Deliveries (an entry's messages, a write result), one at a time. */
  outbox: PacedQueue<Outgoing[]>;
  throttle: ReportThrottle;
}

/** Usernames are keyed by digest: they are part of the device credentials. */
function usernameKey(username: string): string {
  return tokenDigest(username).toString("base64");
}

export class ThingSpeakEmulation implements BrokerPlugin {
  readonly name = THINGSPEAK_PLUGIN;
  readonly #engine: BrokerEngine;
  readonly #client: LocalClient;
  readonly #channels = new Map<string, Hosted>();
  /** The same channels by MQTT username (unique per runtime): a login is one map look-up. */
  readonly #byUsername = new Map<string, Hosted>();
  #closed = false;

  constructor(engine: BrokerEngine) {
    this.#engine = engine;
    this.#client = engine.createLocalClient();
    const base = `${INTERNAL_PREFIX}${THINGSPEAK_PLUGIN}/+/write`;
    for (const filter of [base, `${base}/+`]) {
      this.#client
        .subscribe(filter, (m) => {
          this.#fromFlows(m);
        })
        .catch((err: unknown) => {
          for (const hosted of this.#channels.values()) this.#warn(hosted, `flows' writes will not be taken: ${toError(err).message}`);
        });
    }
  }

  /** Hosts a channel on this engine: entries it stores from now on reach this engine's subscribers. */
  add(feed: ChannelFeed, report: (err: Error) => void): void {
    if (this.#closed) throw new Error("the ThingSpeak emulation of this broker was closed");
    if (this.#channels.has(feed.id)) throw new Error(`a ThingSpeak channel with id "${feed.id}" is already hosted on this broker`);
    const hosted: Hosted = {
      feed,
      report,
      clients: new Set(),
      announce: (entry) => {
        this.#announce(hosted, entry);
      },
      outbox: new PacedQueue<Outgoing[]>({ limit: MAX_QUEUED_DELIVERIES, send: (messages) => this.#deliver(hosted, messages) }),
      throttle: new ReportThrottle({
        summary: (text) => {
          this.#warn(hosted, text);
        },
      }),
    };
    const key = usernameKey(feed.config.username);
    if (this.#byUsername.has(key)) throw new Error(`hosted ThingSpeak channel "${feed.config.name}": another channel on this broker has the same MQTT username`);
    this.#channels.set(feed.id, hosted);
    this.#byUsername.set(key, hosted);
    feed.announce = hosted.announce;
  }

  /** Ends hosting on this engine: its devices are disconnected; the feed itself stays with its owner. */
  remove(id: string): void {
    const hosted = this.#channels.get(id);
    if (!hosted) return;
    this.#channels.delete(id);
    this.#byUsername.delete(usernameKey(hosted.feed.config.username));
    hosted.outbox.close();
    hosted.throttle.close();
    if (hosted.feed.announce === hosted.announce) hosted.feed.announce = undefined;
    hosted.clients.clear();
    this.#engine.disconnectClients((info) => info.identity.plugin === THINGSPEAK_PLUGIN && info.identity.deviceId === id);
    if (this.#channels.size === 0) {
      this.#closed = true;
      this.#client.close().catch(() => undefined); // closing an in-process client cannot fail in a way worth reporting
    }
  }

  /** Whether a device is connected with the channel's credentials on this engine. */
  connected(id: string): boolean {
    return (this.#channels.get(id)?.clients.size ?? 0) > 0;
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    if (request.username === undefined) return undefined;
    const hosted = this.#byUsername.get(usernameKey(request.username));
    if (!hosted) return undefined;
    const { feed } = hosted;
    const problem = feed.credentialsProblem(request.clientId, request.password);
    if (problem !== undefined) {
      return { accept: false, returnCode: 5, reason: `not authorized for hosted ThingSpeak channel "${feed.config.name}": ${problem}` };
    }
    return {
      accept: true,
      identity: {
        kind: "device",
        username: request.username,
        plugin: THINGSPEAK_PLUGIN,
        deviceId: feed.id,
        namespace: deviceNamespace({ plugin: THINGSPEAK_PLUGIN, deviceId: feed.id, canPublish: feed.canPublish, canSubscribe: feed.canSubscribe }),
        rateLimit: DEVICE_RATE_LIMIT,
      },
    };
  }

  #hostedOf(info: ClientInfo): Hosted | undefined {
    return info.identity.deviceId === undefined ? undefined : this.#channels.get(info.identity.deviceId);
  }

  clientReady(info: ClientInfo): void {
    const hosted = this.#hostedOf(info);
    if (!hosted) {
      // Unhosted between CONNECT and CONNACK.
      this.#engine.disconnectClients((other) => other === info);
      return;
    }
    hosted.clients.add(info);
  }

  clientGone(info: ClientInfo): void {
    this.#hostedOf(info)?.clients.delete(info);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    const hosted = this.#hostedOf(info);
    if (!hosted) return;
    const prefix = hostedTopics.up(hosted.feed.id);
    if (!message.topic.startsWith(prefix)) return;
    const topic = message.topic.slice(prefix.length);
    const parsed = parseTopic(topic);
    if (parsed?.kind !== "publish" && parsed?.kind !== "publish-field") return; // the namespace let nothing else through
    const outcome = this.#write(hosted.feed, parsed.kind, message.payload, typeof parsed.field === "number" ? parsed.field : undefined);
    if ("refused" in outcome) {
      // Thrown so the engine reports it as a plugin-error broker event; the device stays connected.
      // A flood gives one event, then a summary per minute on the channel's report.
      const text = `dropped "${topic}" from the device of hosted ThingSpeak channel "${hosted.feed.config.name}" (${outcome.refused}): ${outcome.message}`;
      if (hosted.throttle.admit("dropped-publish", text)) throw new Error(text);
    }
  }

  #write(feed: ChannelFeed, kind: "publish" | "publish-field", payload: Buffer, field?: number): WriteOutcome {
    try {
      return feed.write(ChannelFeed.updateOf(kind, payload, field));
    } catch (err) {
      return refusalOf(err);
    }
  }

  #fromFlows(message: InboundMessage): void {
    const levels = message.topic.split("/");
    const hosted = this.#channels.get(levels.at(2) ?? "");
    if (!hosted) return;
    const ref = levels.at(4);
    let outcome: WriteOutcome;
    if (message.retain) {
      outcome = { refused: "invalid", message: "a retained write is not taken (it would be stored again at every broker restart); publish writes without retain" };
    } else {
      outcome = this.#write(hosted.feed, "publish", message.payload);
    }
    const result: WriteResult =
      "entry" in outcome
        ? { ok: true, ...(ref === undefined ? {} : { ref }), entry: outcome.entry }
        : { ok: false, ...(ref === undefined ? {} : { ref }), code: outcome.refused, message: outcome.message, ...(outcome.retryInMs === undefined ? {} : { retryInMs: outcome.retryInMs }) };
    // After the entry's own announcement, which was queued first.
    this.#enqueue(hosted, [{ topic: hostedTopics.written(hosted.feed.id), payload: JSON.stringify(result) }], "a write result");
  }

  /** A stored entry -> subscribed devices (JSON and per-field text) and flows (`entries`). */
  #announce(hosted: Hosted, entry: FeedEntry): void {
    const down = hostedTopics.down(hosted.feed.id);
    const messages = entryMessages(entry).map((m) => ({ topic: down + m.topic, payload: m.payload }));
    messages.push({ topic: hostedTopics.entries(hosted.feed.id), payload: encodeEntry(entry) });
    this.#enqueue(hosted, messages, `entry ${entry.entry_id}`);
  }

  /** Queues one delivery; sent on a later turn (never inside a hook), after the ones before it. */
  #enqueue(hosted: Hosted, messages: Outgoing[], what: string): void {
    if (hosted.outbox.offer(messages)) return;
    hosted.throttle.report("undelivered", `${what} was stored but not delivered: the channel is written faster than it can be delivered (${hosted.outbox.limit} deliveries wait)`, (text) => {
      this.#warn(hosted, text);
    });
  }

  /** One delivery's QoS 0 publishes; settles when the broker delivered them all, unless the channel or engine is gone. Never rejects. */
  async #deliver(hosted: Hosted, messages: Outgoing[]): Promise<void> {
    if (this.#channels.get(hosted.feed.id) !== hosted || this.#engine.closed) return;
    await Promise.all(
      messages.map(({ topic, payload }) =>
        this.#client.publish(topic, payload, { qos: 0 }).catch((err: unknown) => {
          if (!this.#closed && !this.#engine.closed) {
            hosted.throttle.report("publish-failed", `could not publish "${topic}": ${toError(err).message}`, (text) => {
              this.#warn(hosted, text);
            });
          }
        }),
      ),
    );
  }

  #warn(hosted: Hosted, message: string): void {
    try {
      hosted.report(new Error(`hosted ThingSpeak channel "${hosted.feed.config.name}": ${message}`));
    } catch {
      // The host's callback failing must not break the broker.
    }
  }
}
