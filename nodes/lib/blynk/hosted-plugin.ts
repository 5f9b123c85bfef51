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
 *   every datastream with a value for `all`.
 * - "Sync with latest server value every time device connects" is a setting of the hosted
 *   device (`syncOnConnect`), not of each datastream (we know no template): when on, each new
 *   connection gets every stored value on `downlink/ds/<name>`, through the same gate as
 *   answers (once a subscription of that connection covers it, paced). Each value is read when
 *   it is sent, not when the device connected, so a flow's write in between is never undone by
 *   an older value.
 * - Widget properties are stored (per datastream and property) and reach flows; nothing sends
 *   them to devices (Blynk sends none). "Last seen" is stored as the device connects, sends
 *   (at most once a second) and leaves, and goes with its online state.
 * - `get/meta` answers stored metadata: what the device set with `meta/<field>`; `Time Zone`
 *   falls back to the configured time zone. A field nobody set gets no answer. `get/loc/all` is
 *   never answered (we know no location).
 * - What flows write to a device reaches it through its runtime (`HostedDevice.send`, called
 *   by the device's handle), which remembers it first; the emulation does not listen to the
 *   device's `down/` topics (that cost a topic match and a re-parse on every write). A bare
 *   in-process publish on `down/` reaches the device but is not remembered.
 * - Each uplink is parsed once, here: stored, answered, and handed to the device's listeners
 *   (its local-mode link) as a `BlynkUp`; online changes and `info/mcu` go to them as well.
 * - Logins find the device through the platform's HostedDirectory (one map look-up by token
 *   digest) and are accepted only when that device is hosted on this very engine.
 * - Answers go out on the device's `downlink/...` only once a subscription of the asking
 *   connection covers them, and never synchronously inside the publish hook (docs/PROTOCOLS.md 7;
 *   broker/answer-gate.ts, with the connections in broker/device-connections.ts).
 * - Flow control: each connection's answers go through a PacedQueue (one publish in flight,
 *   at most MAX_QUEUED waiting). A device that asks faster than it reads loses the newest
 *   requests: a request whose answers do not all fit is not answered at all (the device sees
 *   what a lost QoS 0 request looks like), and the device's `report` says so. Earlier answers
 *   are never dropped: they keep their order and their promise.
 * - Malformed uplinks are dropped by throwing from the `published` hook: the engine reports that
 *   as a `plugin-error` broker event naming the device and topic. A well-formed uplink that
 *   cannot be (all) stored, e.g. over the store's limits, still reaches the listeners, then is
 *   reported the same way. Problems found later (a failed
 *   publish, a replaced connection) go to the hosted device's `report` callback. Problems a
 *   device can repeat at will are reported once, then summarised once a minute (ReportThrottle).
 */
import type { Duplex } from "node:stream";
import { deviceNamespace, type AuthDecision, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type PeerAddress, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { BlynkBinaryServer } from "./binary-server/server.js";
import { DeviceConnections, type DeviceConnection } from "../broker/device-connections.js";
import { toError } from "../transport/errors.js";
import type { PublishOptions } from "../transport/pubsub.js";
import { decodeValue, encodeDownlink, encodeValue, LIMITS, messageSize, parseUplink, type Encoded, type UplinkMessage } from "./codec.js";
import { DEVICE_USERNAME, HostedDevice, isDownlinkFilter, isUplinkTopic, TIME_ZONE_META } from "./hosted-device.js";
import { STORE_LIMITS } from "./hosted-store.js";
import { BLYNK_PLUGIN, type HostedBlynkDevice } from "./hosted-types.js";

/**
 * Publish limit per device connection unless the broker sets one: Blynk.Cloud's 50 requests/s per
 * device, with the legacy Blynk server's quota of 100 messages/s as the burst.
 */
const DEVICE_RATE_LIMIT: RateLimit = { perSecond: LIMITS.requestsPerSecond, burst: 100 };

/** Answers waiting for a subscription, per connection (a get/ds/all answers at most STORE_LIMITS.datastreams). */
const MAX_PENDING = 2000;
/** Answers waiting to be sent, per connection: one get/ds/all of a full store fits. */
export const MAX_QUEUED_ANSWERS = STORE_LIMITS.datastreams;

type Connection = DeviceConnection<HostedDevice, Encoded>;

/** The hosted device holding a token, on whichever engine runs it (the platform's HostedDirectory). */
export type FindByToken = (token: string | Buffer) => HostedDevice | undefined;

export class BlynkEmulation implements BrokerPlugin {
  readonly name = BLYNK_PLUGIN;
  readonly #engine: BrokerEngine;
  readonly #client: LocalClient;
  readonly #devices = new Map<string, HostedDevice>();
  readonly #findByToken: FindByToken;
  readonly #connections: DeviceConnections<HostedDevice, Encoded>;
  /** The binary protocol's connections (blynkPort/blynkTlsPort), made with the first one. */
  #binary: BlynkBinaryServer | undefined;
  #closed = false;

  constructor(engine: BrokerEngine, findByToken: FindByToken) {
    this.#engine = engine;
    this.#findByToken = findByToken;
    this.#client = engine.createLocalClient();
    this.#connections = new DeviceConnections(engine, this.#devices, {
      plugin: BLYNK_PLUGIN,
      platform: "Blynk",
      maxPending: MAX_PENDING,
      maxQueued: MAX_QUEUED_ANSWERS,
      publish: (device, topic, payload) => this.#publish(device, topic, payload, { qos: 1 }),
      onePerDevice: "Blynk allows one connection per token (two devices sharing a token keep replacing each other)",
    });
  }

  device(id: string): HostedDevice | undefined {
    return this.#devices.get(id);
  }

  /** Hosts a device on this engine, its state in the engine's device store. Throws if its id is hosted already. */
  add(config: HostedBlynkDevice, report: (err: Error) => void): HostedDevice {
    if (this.#closed) throw new Error("the Blynk emulation of this broker was closed");
    return this.#connections.host(config.id, () => {
      const store = this.#engine.deviceStores.open(BLYNK_PLUGIN, config.id);
      return new HostedDevice(config, store, report, (topic, payload, options) => this.#client.publish(topic, payload, options), this.#engine.history);
    });
  }

  /** Ends hosting: its connections are closed, its store goes (a durable provider keeps it). */
  remove(id: string): void {
    const device = this.#connections.unhost(id);
    if (!device) return;
    device.closeReports();
    this.#engine.deviceStores.close(BLYNK_PLUGIN, id);
    if (this.#devices.size === 0) {
      this.#closed = true;
      this.#binary?.close();
      void this.#client.close();
    }
  }

  /** A connection to the broker's Blynk binary-protocol port (docs/ARCHITECTURE.md 3.7). */
  serve(stream: Duplex, peer: PeerAddress): void {
    this.#binary ??= new BlynkBinaryServer({
      engine: this.#engine,
      findDevice: (token) => {
        const found = this.#findByToken(token);
        return found !== undefined && this.#devices.get(found.id) === found ? found : undefined;
      },
    });
    this.#binary.accept(stream, peer);
  }

  /** The binary-protocol session that is device `id` now, if any (flows' pin modes, reads, ota). */
  binarySession(id: string): ReturnType<BlynkBinaryServer["session"]> {
    return this.#binary?.session(id);
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    if (request.username !== DEVICE_USERNAME) return undefined;
    const found = request.password === undefined ? undefined : this.#findByToken(request.password);
    // Only a device hosted on this engine: the directory knows the devices of every broker.
    const device = found !== undefined && this.#devices.get(found.id) === found ? found : undefined;
    if (!device) {
      return { accept: false, returnCode: 4, reason: `no hosted Blynk device has the token given (username "${DEVICE_USERNAME}")`, unknown: true };
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
    if (!device) return;
    device.seen(Date.now(), true);
    device.listeners.online(device.onlineState());
    if (device.config.syncOnConnect === true) this.#syncOnConnect(info, device);
  }

  clientGone(info: ClientInfo): void {
    const device = this.#connections.gone(info);
    if (!device) return;
    device.seen(Date.now(), true);
    device.listeners.online(device.onlineState());
  }

  subscribed(info: ClientInfo, filters: string[]): void {
    this.#connections.subscribed(info, filters);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    const uplink = this.#connections.uplink(info, message.topic);
    if (!uplink) return;
    const { connection, topic } = uplink;
    const { device } = connection;
    device.seen(Date.now());
    try {
      this.#handleUplink(connection, device, topic, message.payload);
    } catch (err) {
      const text = `dropped "${topic}" from hosted Blynk device "${device.name}": ${toError(err).message}`;
      // Thrown: the engine reports it as a plugin-error event; a flood is summarised on the device instead.
      if (device.admits("dropped-uplink", text)) throw new Error(text);
    }
  }

  /**
   * Hands what the device sent to its listeners once stored and answered. A malformed uplink
   * throws (dropped); one that is well-formed but not (all) stored still reaches the listeners
   * (flows see what the device sent), then throws to report what was not stored.
   */
  #handleUplink(connection: Connection, device: HostedDevice, topic: string, payload: Buffer): void {
    const parsed = parseUplink(topic, payload);
    if (parsed.kind === "unknown") throw new Error("not a Blynk uplink topic");
    const text = parsed.kind === "ds" || parsed.kind === "property" ? payload.toString("utf8") : "";
    let failure: unknown;
    try {
      this.#apply(connection, device, topic, parsed, text);
    } catch (err) {
      failure = err;
    }
    device.listeners.uplink({ source: "device", message: parsed, text });
    if (failure !== undefined) throw toError(failure);
  }

  /** What the cloud would do with an uplink: store it, answer it. */
  #apply(connection: Connection, device: HostedDevice, topic: string, parsed: UplinkMessage, text: string): void {
    const now = Date.now();
    const { state } = device;
    switch (parsed.kind) {
      case "ds":
        device.remember(parsed.datastream, text, now, parsed.value);
        return;
      case "batch": {
        const problems: string[] = [];
        for (const [name, value] of Object.entries(parsed.values)) {
          try {
            device.remember(name, encodeValue(value, name), now, value);
          } catch (err) {
            problems.push(toError(err).message);
          }
        }
        if (problems.length > 0) throw new Error(`not all values were remembered: ${problems.join("; ")}`);
        return;
      }
      case "timestamped": {
        const latest = parsed.points.reduce((a, b) => (b[0] >= a[0] ? b : a));
        state.setValue(parsed.datastream, encodeValue(latest[1], parsed.datastream), latest[0], true);
        for (const [at, value] of parsed.points) device.record(parsed.datastream, at, value);
        return;
      }
      case "erase":
        state.erase(parsed.datastream);
        return;
      case "meta":
        state.setMeta(parsed.field, parsed.value, now);
        return;
      case "property":
        state.setProperty(parsed.datastream, parsed.property, text, now);
        return;
      case "property-erase":
        state.eraseProperty(parsed.datastream, parsed.property);
        return;
      case "info-mcu":
        state.setInfo(parsed.info, now);
        device.listeners.info(parsed.info);
        if (device.config.templateId !== undefined && device.config.templateId !== "" && parsed.info.tmpl !== undefined && parsed.info.tmpl !== device.config.templateId) {
          device.report(`the device reports template "${parsed.info.tmpl}", but is configured with "${device.config.templateId}"`, "template");
        }
        return;
      case "get-ds":
        if (connection.answers.fits(topic, parsed.datastreams.length)) this.#answer(connection, parsed.datastreams.flatMap((name) => this.#valueAnswer(device, name)));
        return;
      case "get-ds-all":
        if (connection.answers.fits(topic, state.size)) this.#answer(connection, state.values().flatMap(([name]) => this.#valueAnswer(device, name)));
        return;
      case "get-meta":
        if (!connection.answers.fits(topic, parsed.fields.length)) return;
        this.#answer(
          connection,
          parsed.fields.flatMap((field) => {
            const value = state.meta(field) ?? (field === TIME_ZONE_META ? device.config.timeZone : undefined);
            return value === undefined || value === "" ? [] : [encodeDownlink({ kind: "meta", field, value })];
          }),
        );
        return;
      case "get-utc":
        if (connection.answers.fits(topic, 1)) this.#answer(connection, [device.timeInfo(now)]);
        return;
      // Events only need to reach flows. get/loc/all: no location is known here, so no answer.
      case "event":
      case "get-loc":
        return;
    }
  }

  /** Every stored value to a connection that just connected (syncOnConnect), once its subscription covers it. */
  #syncOnConnect(info: ClientInfo, device: HostedDevice): void {
    const connection = this.#connections.of(info);
    if (!connection) return;
    const values = device.state.values();
    if (values.length === 0 || !connection.answers.fits("sync on connect", values.length)) return;
    this.#answer(connection, values.map(([name, text]) => new SyncedValue(device, name, text)));
  }

  #valueAnswer(device: HostedDevice, name: string): Encoded[] {
    const payload = device.state.value(name);
    if (payload === undefined) return [];
    // raw: the stored text goes out exactly as it came in ("100.00000" stays so).
    return [encodeDownlink({ kind: "ds", datastream: name, value: decodeValue(payload, { raw: true }) })];
  }

  /** Queues answers for this connection, except those the device could not receive; they go out once a subscription covers them. */
  #answer(connection: Connection, answers: Encoded[]): void {
    const { device } = connection;
    const rxbuff = device.state.rxbuff;
    const fitting = answers.filter((answer) => {
      if (rxbuff === undefined || messageSize(answer.topic, answer.payload) <= rxbuff) return true;
      device.report(`answer on "${answer.topic}" not sent: it is larger than the device's receive buffer (rxbuff ${rxbuff} bytes)`, "rxbuff");
      return false;
    });
    connection.answers.answer(fitting);
  }

  /** One publish; settles when the broker delivered it. A failure is reported on the device, never thrown or rejected. */
  #publish(device: HostedDevice, topic: string, payload: string | Buffer, options: PublishOptions): Promise<void> {
    return this.#client.publish(topic, payload, options).catch((err: unknown) => {
      if (!this.#closed && !this.#engine.closed) device.report(`could not publish "${topic}": ${toError(err).message}`, "publish-failed");
    });
  }
}

/**
 * A value sent because the device connected (syncOnConnect): its payload is the datastream's
 * stored text when it is sent (the text at connect time if the value was erased meanwhile).
 */
class SyncedValue implements Encoded {
  readonly topic: string;
  readonly #device: HostedDevice;
  readonly #name: string;
  readonly #atConnect: string;

  constructor(device: HostedDevice, name: string, atConnect: string) {
    this.topic = `downlink/ds/${name}`;
    this.#device = device;
    this.#name = name;
    this.#atConnect = atConnect;
  }

  get payload(): string {
    return this.#device.state.value(this.#name) ?? this.#atConnect;
  }
}
