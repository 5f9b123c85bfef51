/**
 * The ThingSpeak emulation on one broker engine: a BrokerPlugin shared by every channel hosted
 * on that engine (see acquirePlugin). It authenticates devices by their MQTT device
 * credentials (found in the platform's HostedDirectory), keeps their traffic in private
 * namespaces, parses their publishes once into updates for the channel's runtime
 * (channel-runtime.ts), which stores them as feed entries and delivers entries as
 * mqtt3.thingspeak.com would.
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
 *   different topics) as the subscribe JSON and per-field text, never retained, on the next
 *   turn (never inside a hook, docs/PROTOCOLS.md 7), paced per channel (channel-runtime.ts);
 *   to the local-mode link as the parsed entry (its handle's `uplink`).
 * - Dropped device publishes are reported as one plugin-error event, then as summaries on the
 *   channel's report (once a minute).
 */
import { deviceNamespace, type AuthDecision, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type HostedDirectory, type LocalClient, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { assertMessageSize, parseFieldPayload, parseTopic, parseUpdateForm, toFieldNumber, type ChannelUpdate } from "./codec.js";
import { ChannelRuntime, type Outgoing } from "./channel-runtime.js";
import type { ChannelHosting } from "./hosted-channel.js";
import { refusalOf } from "./hosted-store.js";
import { THINGSPEAK_PLUGIN, hostedTopics, type WriteResult } from "./hosted-types.js";

/**
 * Publish limit per device connection unless the broker sets one. ThingSpeak documents no message
 * rate, only the update interval (enforced by the channel itself, and often lowered when self-
 * hosting): this is a flood guard sized for one update a second published field by field.
 */
const DEVICE_RATE_LIMIT: RateLimit = { perSecond: 8, burst: 16 };

/** The directory entry kind of MQTT usernames (secret: part of the device credentials). */
export const USERNAME_KIND = "MQTT username";

/** A device's publish (device-relative topic) -> its update. Throws TransportError. */
export function updateOf(kind: "publish" | "publish-field", payload: Buffer, field?: number): ChannelUpdate {
  if (kind === "publish") return parseUpdateForm(payload).update;
  const n = toFieldNumber(field);
  assertMessageSize(payload.length, `the value for field${n}`);
  const text = parseFieldPayload(payload);
  return text === "" ? { fields: {} } : { fields: { [n]: text } };
}

export class ThingSpeakEmulation implements BrokerPlugin {
  readonly name = THINGSPEAK_PLUGIN;
  readonly #engine: BrokerEngine;
  readonly #directory: HostedDirectory<ChannelHosting>;
  readonly #client: LocalClient;
  readonly #channels = new Map<string, ChannelRuntime>();
  #closed = false;

  /** `directory`: every hosted channel of this runtime (a login is one look-up by username). */
  constructor(engine: BrokerEngine, directory: HostedDirectory<ChannelHosting>) {
    this.#engine = engine;
    this.#directory = directory;
    this.#client = engine.createLocalClient();
  }

  /** Hosts a channel on this engine: its feed moves into the engine's DeviceStore; entries stored from now on reach this engine's subscribers. */
  add(hosting: ChannelHosting, report: (err: Error) => void): ChannelRuntime {
    if (this.#closed) throw new Error("the ThingSpeak emulation of this broker was closed");
    if (this.#channels.has(hosting.id)) throw new Error(`a ThingSpeak channel with id "${hosting.id}" is already hosted on this broker`);
    const store = this.#engine.deviceStores.open(THINGSPEAK_PLUGIN, hosting.id);
    const runtime = new ChannelRuntime(hosting, store, report, (r, messages) => this.#deliver(r, messages), this.#engine.history);
    this.#channels.set(hosting.id, runtime);
    return runtime;
  }

  /** Ends hosting on this engine: its devices are disconnected; the feed goes back to the hosting. */
  remove(id: string): void {
    const runtime = this.#channels.get(id);
    if (!runtime) return;
    this.#channels.delete(id);
    runtime.close();
    this.#engine.deviceStores.close(THINGSPEAK_PLUGIN, id);
    this.#engine.disconnectClients((info) => info.identity.plugin === THINGSPEAK_PLUGIN && info.identity.deviceId === id);
    if (this.#channels.size === 0) {
      this.#closed = true;
      this.#client.close().catch(() => undefined); // closing an in-process client cannot fail in a way worth reporting
    }
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    if (request.username === undefined) return undefined;
    const hosting = this.#directory.find(USERNAME_KIND, request.username);
    // Hosted on another broker (or not yet on this engine): not ours to decide.
    if (hosting === undefined || this.#channels.get(hosting.id)?.hosting !== hosting) return undefined;
    const problem = hosting.credentialsProblem(request.clientId, request.password);
    if (problem !== undefined) {
      return { accept: false, returnCode: 5, reason: `not authorized for hosted ThingSpeak channel "${hosting.config.name}": ${problem}` };
    }
    return {
      accept: true,
      identity: {
        kind: "device",
        username: request.username,
        plugin: THINGSPEAK_PLUGIN,
        deviceId: hosting.id,
        namespace: deviceNamespace({ plugin: THINGSPEAK_PLUGIN, deviceId: hosting.id, canPublish: hosting.canPublish, canSubscribe: hosting.canSubscribe }),
        rateLimit: DEVICE_RATE_LIMIT,
      },
    };
  }

  #runtimeOf(info: ClientInfo): ChannelRuntime | undefined {
    return info.identity.deviceId === undefined ? undefined : this.#channels.get(info.identity.deviceId);
  }

  clientReady(info: ClientInfo): void {
    const runtime = this.#runtimeOf(info);
    if (!runtime) {
      // Unhosted between CONNECT and CONNACK.
      this.#engine.disconnectClients((other) => other === info);
      return;
    }
    runtime.clientReady(info);
  }

  clientGone(info: ClientInfo): void {
    this.#runtimeOf(info)?.clientGone(info);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    const runtime = this.#runtimeOf(info);
    if (!runtime) return;
    const prefix = hostedTopics.up(runtime.id);
    if (!message.topic.startsWith(prefix)) return;
    const topic = message.topic.slice(prefix.length);
    const parsed = parseTopic(topic);
    if (parsed?.kind !== "publish" && parsed?.kind !== "publish-field") return; // the namespace let nothing else through
    let result: WriteResult;
    try {
      result = runtime.write(updateOf(parsed.kind, message.payload, typeof parsed.field === "number" ? parsed.field : undefined));
    } catch (err) {
      result = refusalOf(err);
    }
    if (!result.ok) {
      // Thrown so the engine reports it as a plugin-error broker event; the device stays connected.
      // A flood gives one event, then a summary per minute on the channel's report.
      const text = `dropped "${topic}" from the device of hosted ThingSpeak channel "${runtime.name}" (${result.code}): ${result.message}`;
      if (runtime.admits("dropped-publish", text)) throw new Error(text);
    }
  }

  /** One delivery's QoS 0 publishes; settles when the broker delivered them all, unless the channel or engine is gone. Never rejects. */
  async #deliver(runtime: ChannelRuntime, messages: Outgoing[]): Promise<void> {
    if (this.#channels.get(runtime.id) !== runtime || this.#engine.closed) return;
    await Promise.all(
      messages.map(({ topic, payload }) =>
        this.#client.publish(topic, payload, { qos: 0 }).catch((err: unknown) => {
          if (!this.#closed && !this.#engine.closed) runtime.report(`could not publish "${topic}": ${toError(err).message}`, "publish-failed");
        }),
      ),
    );
  }
}
