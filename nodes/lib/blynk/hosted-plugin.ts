/**
 * The Blynk emulation on one broker engine: a BrokerPlugin shared by every device hosted on
 * that engine (see acquirePlugin). It authenticates devices, keeps their traffic in private
 * namespaces, remembers their values and answers what Blynk.Cloud would answer.
 *
 * Decisions (docs/PROTOCOLS.md 6: where the cloud's behaviour is UNCONFIRMED or left open):
 * - A second connection with a token that is already connected REPLACES the first: the older
 *   session is disconnected, the newer one stays, and the device's `report` gets a warning.
 *   Blynk allows one connection per token; a device that rebooted reconnects before the broker
 *   notices its old, dead session (keepalive 45 s x 1.5), so refusing the newcomer would lock
 *   the real device out for a minute, while the newest connection is the one known alive.
 *   Online state stays true across the hand-over.
 * - `get/ds` / `get/ds/all` answer from the stored values only (we have no template defaults),
 *   every datastream with a value for `all` (no "sync with latest server value" flag here).
 * - `get/meta` answers stored metadata: what the device set with `meta/<field>`; `Time Zone`
 *   falls back to the configured time zone. A field nobody set gets no answer. `get/loc/all` is
 *   never answered (we know no location).
 * - What flows write to a device is remembered because the writer says so (HostedDevice.flowsWrote,
 *   called by the local-mode link), not by subscribing to the device's `down/`
 *   topics: that second subscription cost a topic match and a re-parse on every write. A bare
 *   in-process publish on `down/` reaches the device but is not remembered.
 * - Answers go out on the device's `downlink/...` only once a subscription of the asking
 *   connection covers them, and never synchronously inside the publish hook (docs/PROTOCOLS.md 7;
 *   broker/answer-gate.ts, with the connections in broker/device-connections.ts).
 * - Flow control: each connection's answers go through a PacedQueue (one publish in flight,
 *   at most MAX_QUEUED waiting). A device that asks faster than it reads loses the newest
 *   requests: a request whose answers do not all fit is not answered at all (the device sees
 *   what a lost QoS 0 request looks like), and the device's `report` says so. Earlier answers
 *   are never dropped: they keep their order and their promise.
 * - Malformed uplinks are dropped by throwing from the `published` hook: the engine reports that
 *   as a `plugin-error` broker event naming the device and topic. Problems found later (a failed
 *   publish, a replaced connection) go to the hosted device's `report` callback. Problems a
 *   device can repeat at will are reported once, then summarised once a minute (ReportThrottle).
 */
import { deviceNamespace, type AuthDecision, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { DeviceConnections, type DeviceConnection } from "../broker/device-connections.js";
import { toError } from "../transport/errors.js";
import { PacedQueue } from "../transport/paced-queue.js";
import type { PublishOptions } from "../transport/pubsub.js";
import { DigestIndex } from "../transport/secret-match.js";
import { decodeValue, encodeDownlink, encodeValue, LIMITS, messageSize, parseUplink, type Encoded } from "./codec.js";
import { DEVICE_USERNAME, HostedDevice, isDownlinkFilter, isUplinkTopic, TIME_ZONE_META } from "./hosted-device.js";
import { STORE_LIMITS } from "./hosted-store.js";
import { BLYNK_PLUGIN, hostedTopics, type HostedBlynkDevice } from "./hosted-types.js";

/**
 * Publish limit per device connection unless the broker sets one: Blynk.Cloud's 50 requests/s per
 * device, with the legacy Blynk server's quota of 100 messages/s as the burst.
 */
const DEVICE_RATE_LIMIT: RateLimit = { perSecond: LIMITS.requestsPerSecond, burst: 100 };

/** Answers waiting for a subscription, per connection (a get/ds/all answers at most STORE_LIMITS.datastreams). */
const MAX_PENDING = 2000;
/** Answers waiting to be sent, per connection: one get/ds/all of a full store fits. */
export const MAX_QUEUED_ANSWERS = STORE_LIMITS.datastreams;
/** State topics per device (online, info): the latest of each waits, older ones are replaced. */
const MAX_STATE = 4;

type Connection = DeviceConnection<HostedDevice, Encoded>;

interface StateMessage {
  topic: string;
  payload: string;
}

export class BlynkEmulation implements BrokerPlugin {
  readonly name = BLYNK_PLUGIN;
  readonly #engine: BrokerEngine;
  readonly #client: LocalClient;
  readonly #devices = new Map<string, HostedDevice>();
  /** The same devices by token digest: a login is one map look-up, whatever the number of devices. */
  readonly #byToken = new DigestIndex<HostedDevice>();
  /** Per device: its retained state publishes, paced and coalesced per topic. */
  readonly #stateOut = new WeakMap<HostedDevice, PacedQueue<StateMessage>>();
  readonly #connections: DeviceConnections<HostedDevice, Encoded>;
  #closed = false;

  constructor(engine: BrokerEngine) {
    this.#engine = engine;
    this.#client = engine.createLocalClient();
    this.#connections = new DeviceConnections(engine, this.#devices, {
      plugin: BLYNK_PLUGIN,
      platform: "Blynk",
      index: this.#byToken,
      credential: "token",
      maxPending: MAX_PENDING,
      maxQueued: MAX_QUEUED_ANSWERS,
      publish: (device, topic, payload) => this.#publish(device, topic, payload, { qos: 1 }),
      onePerDevice: "Blynk allows one connection per token (two devices sharing a token keep replacing each other)",
    });
    // What flows send a device is remembered too (get/ds answers with it), but not by listening
    // on the broker: the local-mode link tells the device directly (HostedDevice.flowsWrote).
  }

  device(id: string): HostedDevice | undefined {
    return this.#devices.get(id);
  }

  /** Hosts a device on this engine. Throws if its id is hosted already. */
  add(config: HostedBlynkDevice, report: (err: Error) => void): HostedDevice {
    if (this.#closed) throw new Error("the Blynk emulation of this broker was closed");
    const device = this.#connections.host(config.id, () => new HostedDevice(config, report, (topic, payload, options) => this.publish(topic, payload, options)));
    // Directly: readers that subscribe right after hosting get it as the retained state, once.
    void this.#publish(device, `${hostedTopics.state(device.id)}online`, JSON.stringify(device.onlineState()), { retain: true });
    return device;
  }

  /** Ends hosting: its store goes, its connections are closed, its retained state is cleared. */
  remove(id: string): void {
    const device = this.#connections.unhost(id);
    if (!device) return;
    device.closeReports();
    // Directly, not paced: these must go out before the client closes below, and after any
    // state still waiting (dropped here), never before it.
    this.#stateOut.get(device)?.close();
    this.#stateOut.delete(device);
    const state = hostedTopics.state(id);
    void this.#publish(device, `${state}online`, "", { retain: true });
    void this.#publish(device, `${state}info`, "", { retain: true });
    if (this.#devices.size === 0) {
      this.#closed = true;
      void this.#client.close();
    }
  }

  /** Publishes an internal topic on this engine; rejects like the local client does. */
  publish(topic: string, payload: string, options: PublishOptions = {}): Promise<void> {
    return this.#client.publish(topic, payload, options);
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    if (request.username !== DEVICE_USERNAME) return undefined;
    const device = request.password === undefined ? undefined : this.#byToken.find(request.password);
    if (!device) {
      return { accept: false, returnCode: 4, reason: `no hosted Blynk device has the token given (username "${DEVICE_USERNAME}")` };
    }
    return {
      accept: true,
      identity: {
        kind: "device",
        username: DEVICE_USERNAME,
        plugin: BLYNK_PLUGIN,
        deviceId: device.id,
        namespace: deviceNamespace({ plugin: BLYNK_PLUGIN, deviceId: device.id, canPublish: isUplinkTopic, canSubscribe: isDownlinkFilter }),
        rateLimit: DEVICE_RATE_LIMIT,
      },
    };
  }

  clientReady(info: ClientInfo): void {
    const device = this.#connections.ready(info);
    if (device) this.#publishOnline(device);
  }

  clientGone(info: ClientInfo): void {
    const device = this.#connections.gone(info);
    if (device) this.#publishOnline(device);
  }

  subscribed(info: ClientInfo, filters: string[]): void {
    this.#connections.subscribed(info, filters);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    const uplink = this.#connections.uplink(info, message.topic);
    if (!uplink) return;
    const { connection, topic } = uplink;
    const { device } = connection;
    try {
      this.#handleUplink(connection, device, topic, message.payload);
    } catch (err) {
      const text = `dropped "${topic}" from hosted Blynk device "${device.name}": ${toError(err).message}`;
      // Thrown: the engine reports it as a plugin-error event; a flood is summarised on the device instead.
      if (device.admits("dropped-uplink", text)) throw new Error(text);
    }
  }

  #handleUplink(connection: Connection, device: HostedDevice, topic: string, payload: Buffer): void {
    const parsed = parseUplink(topic, payload);
    const now = Date.now();
    switch (parsed.kind) {
      case "ds":
        device.store.setValue(parsed.datastream, payload.toString("utf8"), now);
        return;
      case "batch": {
        const problems: string[] = [];
        for (const [name, value] of Object.entries(parsed.values)) {
          try {
            device.store.setValue(name, encodeValue(value, name), now);
          } catch (err) {
            problems.push(toError(err).message);
          }
        }
        if (problems.length > 0) throw new Error(`not all values were remembered: ${problems.join("; ")}`);
        return;
      }
      case "timestamped": {
        const latest = parsed.points.reduce((a, b) => (b[0] >= a[0] ? b : a));
        device.store.setValue(parsed.datastream, encodeValue(latest[1], parsed.datastream), latest[0], true);
        return;
      }
      case "erase":
        device.store.erase(parsed.datastream);
        return;
      case "meta":
        device.store.setMeta(parsed.field, parsed.value);
        return;
      case "info-mcu":
        device.store.info = parsed.info;
        this.#state(device, `${hostedTopics.state(device.id)}info`, JSON.stringify(parsed.info));
        if (device.config.templateId !== undefined && device.config.templateId !== "" && parsed.info.tmpl !== undefined && parsed.info.tmpl !== device.config.templateId) {
          device.report(`the device reports template "${parsed.info.tmpl}", but is configured with "${device.config.templateId}"`, "template");
        }
        return;
      case "get-ds":
        if (connection.answers.fits(topic, parsed.datastreams.length)) this.#answer(connection, parsed.datastreams.flatMap((name) => this.#valueAnswer(device, name)));
        return;
      case "get-ds-all":
        if (connection.answers.fits(topic, device.store.size)) this.#answer(connection, device.store.values().flatMap(([name]) => this.#valueAnswer(device, name)));
        return;
      case "get-meta":
        if (!connection.answers.fits(topic, parsed.fields.length)) return;
        this.#answer(
          connection,
          parsed.fields.flatMap((field) => {
            const value = device.store.meta(field) ?? (field === TIME_ZONE_META ? device.config.timeZone : undefined);
            return value === undefined || value === "" ? [] : [encodeDownlink({ kind: "meta", field, value })];
          }),
        );
        return;
      case "get-utc":
        if (connection.answers.fits(topic, 1)) this.#answer(connection, [device.timeInfo(now)]);
        return;
      // Properties, property erases and events only need to reach flows, which they did (under up/).
      // get/loc/all: no location is known here, so no answer.
      case "property":
      case "property-erase":
      case "event":
      case "get-loc":
        return;
      case "unknown":
        throw new Error("not a Blynk uplink topic");
    }
  }

  #valueAnswer(device: HostedDevice, name: string): Encoded[] {
    const payload = device.store.value(name);
    if (payload === undefined) return [];
    // raw: the stored text goes out exactly as it came in ("100.00000" stays so).
    return [encodeDownlink({ kind: "ds", datastream: name, value: decodeValue(payload, { raw: true }) })];
  }

  /** Queues answers for this connection, except those the device could not receive; they go out once a subscription covers them. */
  #answer(connection: Connection, answers: Encoded[]): void {
    const { device } = connection;
    const rxbuff = device.store.info?.rxbuff;
    const fitting = answers.filter((answer) => {
      if (rxbuff === undefined || messageSize(answer.topic, answer.payload) <= rxbuff) return true;
      device.report(`answer on "${answer.topic}" not sent: it is larger than the device's receive buffer (rxbuff ${rxbuff} bytes)`, "rxbuff");
      return false;
    });
    connection.answers.answer(fitting);
  }

  #publishOnline(device: HostedDevice): void {
    this.#state(device, `${hostedTopics.state(device.id)}online`, JSON.stringify(device.onlineState()));
  }

  /** A retained state publish, paced per device; one that still waits is replaced by a newer one of its topic. */
  #state(device: HostedDevice, topic: string, payload: string): void {
    let queue = this.#stateOut.get(device);
    if (!queue) {
      queue = new PacedQueue<StateMessage>({ limit: MAX_STATE, send: (m) => this.#publish(device, m.topic, m.payload, { retain: true }) });
      this.#stateOut.set(device, queue);
    }
    queue.offer({ topic, payload }, topic);
  }

  /** One publish; settles when the broker delivered it. A failure is reported on the device, never thrown or rejected. */
  #publish(device: HostedDevice, topic: string, payload: string, options: PublishOptions): Promise<void> {
    return this.#client.publish(topic, payload, options).catch((err: unknown) => {
      if (!this.#closed && !this.#engine.closed) device.report(`could not publish "${topic}": ${toError(err).message}`, "publish-failed");
    });
  }
}
