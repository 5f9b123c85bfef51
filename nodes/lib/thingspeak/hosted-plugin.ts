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
 *   set of credentials is connected.
 * - One MQTT device, several channels (hosted-devices.ts): the credentials authorise every
 *   hosted channel that gives them, on this engine, each as its Allow Publish / Allow Subscribe
 *   say: publish to `channels/<id>/publish[/fields/fieldN]`, subscribe to
 *   `channels/<id>/subscribe`, `.../subscribe/fields/fieldN` and `.../subscribe/fields/+`.
 *   Anything else is refused by the namespace: publishes dropped with a `publish-refused` event
 *   (MQTT 5: PUBACK 0x87), SUBACK 0x80; the device stays connected (what ThingSpeak does with a
 *   publish to a channel the device may not publish to is UNCONFIRMED; a disconnect would make
 *   a device that publishes to one wrong channel lose the others too). A publish to channel
 *   <id> lands under `hostedTopics.up(<its config id>)` as published. The device counts as
 *   connected on each of its channels (the channels' `online`); a channel hosted while the
 *   device is connected takes it at once, and unhosting a channel disconnects its device (it
 *   reconnects with what its credentials allow now). Its broker events name the first of its
 *   channels as the deviceId.
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
import { INTERNAL_PREFIX, type AuthDecision, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type Namespace, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { assertMessageSize, parseFieldPayload, parseTopic, parseUpdateForm, toFieldNumber, type ChannelUpdate } from "./codec.js";
import { ChannelRuntime, type Outgoing } from "./channel-runtime.js";
import type { ChannelHosting } from "./hosted-channel.js";
import type { MqttDevice, MqttDevices } from "./hosted-devices.js";
import { refusalOf } from "./hosted-store.js";
import { THINGSPEAK_PLUGIN, hostedTopics, type WriteResult } from "./hosted-types.js";

/**
 * Publish limit per device connection unless the broker sets one. ThingSpeak documents no message
 * rate, only the update interval (enforced by the channel itself, and often lowered when self-
 * hosting): this is a flood guard sized for one update a second published field by field.
 */
const DEVICE_RATE_LIMIT: RateLimit = { perSecond: 8, burst: 16 };

/** `$iot/thingspeak/`: where every hosted channel's internal topics start (hostedTopics). */
const PLUGIN_PREFIX = `${INTERNAL_PREFIX}${THINGSPEAK_PLUGIN}/`;

/** The config id in an internal topic `$iot/thingspeak/<id>/...`, or undefined. */
function configIdOf(topic: string): string | undefined {
  if (!topic.startsWith(PLUGIN_PREFIX)) return undefined;
  const end = topic.indexOf("/", PLUGIN_PREFIX.length);
  return end < 0 ? undefined : topic.slice(PLUGIN_PREFIX.length, end);
}

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
  readonly #devices: MqttDevices;
  readonly #client: LocalClient;
  readonly #channels = new Map<string, ChannelRuntime>();
  /** Each connected device's channels on this engine (those it counts as connected on). */
  readonly #connections = new Map<ClientInfo, Set<ChannelRuntime>>();
  /** The device each accepted login's namespace was made for: found again without another look-up by secret. */
  readonly #deviceOfNamespace = new WeakMap<Namespace, MqttDevice>();
  #closed = false;

  /** `devices`: every hosted channel's MQTT device in this runtime (a login is one look-up by username). */
  constructor(engine: BrokerEngine, devices: MqttDevices) {
    this.#engine = engine;
    this.#devices = devices;
    this.#client = engine.createLocalClient();
  }

  /** Hosts a channel on this engine: its feed moves into the engine's DeviceStore; entries stored from now on reach this engine's subscribers. */
  add(hosting: ChannelHosting, report: (err: Error) => void): ChannelRuntime {
    if (this.#closed) throw new Error("the ThingSpeak emulation of this broker was closed");
    if (this.#channels.has(hosting.id)) throw new Error(`a ThingSpeak channel with id "${hosting.id}" is already hosted on this broker`);
    const store = this.#engine.deviceStores.open(THINGSPEAK_PLUGIN, hosting.id);
    const runtime = new ChannelRuntime(hosting, store, report, (r, messages) => this.#deliver(r, messages), this.#engine.history);
    this.#channels.set(hosting.id, runtime);
    // A device of this channel already connected (for its other channels) has it now too.
    const device = this.#devices.find(hosting.config.username);
    for (const [info, runtimes] of this.#connections) {
      if (device !== undefined && this.#deviceOf(info) === device) {
        runtimes.add(runtime);
        runtime.clientReady(info);
      }
    }
    return runtime;
  }

  /** Ends hosting on this engine: its devices are disconnected; the feed goes back to the hosting. */
  remove(id: string): void {
    const runtime = this.#channels.get(id);
    if (!runtime) return;
    this.#channels.delete(id);
    runtime.close();
    this.#engine.deviceStores.close(THINGSPEAK_PLUGIN, id);
    const affected = new Set<ClientInfo>();
    for (const [info, runtimes] of this.#connections) if (runtimes.delete(runtime)) affected.add(info);
    this.#engine.disconnectClients((info) => affected.has(info) || (info.identity.plugin === THINGSPEAK_PLUGIN && info.identity.deviceId === id));
    if (this.#channels.size === 0) {
      this.#closed = true;
      this.#client.close().catch(() => undefined); // closing an in-process client cannot fail in a way worth reporting
    }
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    if (request.username === undefined) return undefined;
    const device = this.#devices.find(request.username);
    // Hosted on another broker only (or not yet on this engine): not ours to decide.
    const mine = device?.channels.filter((h) => this.#channels.get(h.id)?.hosting === h) ?? [];
    const first = mine.at(0);
    if (device === undefined || first === undefined) return undefined;
    const problem = device.credentialsProblem(request.clientId, request.password);
    if (problem !== undefined) {
      const names = mine.map((h) => `"${h.config.name}"`).join(", ");
      return { accept: false, returnCode: 5, reason: `not authorized for hosted ThingSpeak channel ${names}: ${problem}` };
    }
    const namespace = this.#namespace(device);
    this.#deviceOfNamespace.set(namespace, device);
    return {
      accept: true,
      identity: {
        kind: "device",
        username: request.username,
        plugin: THINGSPEAK_PLUGIN,
        deviceId: first.id,
        namespace,
        rateLimit: DEVICE_RATE_LIMIT,
      },
    };
  }

  /**
   * The device's topics -> its channels' internal ones, looked up on every publish and
   * subscribe, so a channel hosted later is reachable at once: `channels/<id>/...` goes under
   * the config id of the device's channel with ThingSpeak id <id>, if that channel runs on this
   * engine and its flags allow it. What the device receives comes from those `down` prefixes only.
   */
  #namespace(device: MqttDevice): Namespace {
    const channelFor = (topic: string): ChannelHosting | undefined => {
      const parsed = parseTopic(topic);
      const hosting = parsed === undefined ? undefined : device.channel(parsed.channelId);
      return hosting !== undefined && this.#channels.get(hosting.id)?.hosting === hosting ? hosting : undefined;
    };
    return {
      publish: (topic) => {
        const h = channelFor(topic);
        return h?.canPublish(topic) === true ? hostedTopics.up(h.id) + topic : null;
      },
      subscribe: (filter) => {
        const h = channelFor(filter);
        return h?.canSubscribe(filter) === true ? hostedTopics.down(h.id) + filter : null;
      },
      forward: (topic) => {
        const id = configIdOf(topic);
        const down = id === undefined ? undefined : hostedTopics.down(id);
        return down !== undefined && topic.startsWith(down) ? topic.slice(down.length) : null;
      },
    };
  }

  #deviceOf(info: ClientInfo): MqttDevice | undefined {
    return info.identity.plugin === THINGSPEAK_PLUGIN ? this.#deviceOfNamespace.get(info.identity.namespace) : undefined;
  }

  clientReady(info: ClientInfo): void {
    const device = this.#deviceOf(info);
    const runtimes = new Set<ChannelRuntime>();
    for (const h of device?.channels ?? []) {
      const runtime = this.#channels.get(h.id);
      if (runtime?.hosting === h) runtimes.add(runtime);
    }
    if (runtimes.size === 0) {
      // Unhosted between CONNECT and CONNACK.
      this.#engine.disconnectClients((other) => other === info);
      return;
    }
    this.#connections.set(info, runtimes);
    for (const runtime of runtimes) runtime.clientReady(info);
  }

  clientGone(info: ClientInfo): void {
    const runtimes = this.#connections.get(info);
    this.#connections.delete(info);
    for (const runtime of runtimes ?? []) runtime.clientGone(info);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    // The namespace put the publish under the up prefix of the channel it was for.
    const id = configIdOf(message.topic);
    const runtime = id === undefined ? undefined : this.#channels.get(id);
    if (!runtime || this.#connections.get(info)?.has(runtime) !== true) return;
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
