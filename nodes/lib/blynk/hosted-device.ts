/**
 * One hosted Blynk device on one broker engine (the handle's runtime, docs/ARCHITECTURE.md 3.5):
 * its state (a typed view over the engine's DeviceStore), its current connection, what flows
 * and HTTPS API callers send it, and the helpers the emulation uses to recognise devices and
 * their topics.
 *
 * History: every datastream value the device, an HTTPS API caller or a flow writes and the
 * state takes is appended to the engine's DeviceHistory, one point per value, with its time
 * (a timestamped point's own time); stream = datastream name, value = the value decoded
 * (numbers as numbers, multi-values as arrays). A value the state refuses (over its limits) is
 * not history either.
 */
import { HostedRuntimeBase, type ClientInfo, type DeviceHistory, type DeviceStore, type OnlineState, type StoredJson } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import type { PublishOptions } from "../transport/pubsub.js";
import { parseScalar } from "../transport/value-codec.js";
import { assertDatastreamName, decodeValue, encodeDownlink, encodeValue, utcInfo, type Encoded, type McuInfo, type TimestampedPoint } from "./codec.js";
import { parsePin } from "./http-codec.js";
import { BlynkDeviceStore } from "./hosted-store.js";
import type { HardwareOp, InternalMessage } from "./binary/index.js";
import { TransportError } from "../transport/errors.js";
import { BLYNK_PLUGIN, hostedTopics, type BlynkDown, type BlynkUp, type HostedBlynkDevice } from "./hosted-types.js";

/**
 * A connection that is the device and takes its datastream values itself, not over MQTT (a
 * binary-protocol connection, binary-server/): while it is the device's `current` one, every
 * value for the device goes through `ds`.
 */
export interface DirectDownlink {
  readonly info: ClientInfo;
  /** Delivers datastream `name`'s value; never rejects (a value it cannot deliver is reported). */
  ds(name: string, text: string): Promise<void>;
  /** Pin modes and reads from flows (hardware-down.ts). */
  hardware(op: HardwareOp): void;
  /** INTERNAL messages from flows (ota). */
  internal(message: InternalMessage): void;
}

/** Publishes an internal topic on the device's engine; rejects when the broker could not take it. */
export type Publish = (topic: string, payload: string, options?: PublishOptions) => Promise<void>;

/** Blynk's device username (docs/PROTOCOLS.md 1.1). */
export const DEVICE_USERNAME = "device";
/** How often at most "last seen" is stored while the device is connected (it is also stored as it connects and leaves). */
export const SEEN_EVERY_MS = 1000;

/** The metadata field a device sets its zone with (docs/PROTOCOLS.md 1.2, 1.7). */
export const TIME_ZONE_META = "Time Zone";

/** The uplink topics of docs/PROTOCOLS.md 1.2; anything else a device publishes is refused. */
const UPLINK_TOPICS = [
  /^info\/mcu$/,
  /^batch_ds$/,
  /^ds\/[^/]+(\/erase|\/timestamped_batch|\/prop\/[^/]+(\/erase)?)?$/,
  /^event\/[^/]+$/,
  /^meta\/[^/]+$/,
  /^get\/(ds|ds\/all|meta|utc\/all\/json|loc\/all)$/,
];

export function isUplinkTopic(topic: string): boolean {
  return UPLINK_TOPICS.some((re) => re.test(topic));
}

/** Blynk: subscriptions only under `downlink/`, no `+`, `#` only as the whole last level. */
export function isDownlinkFilter(filter: string): boolean {
  if (!filter.startsWith("downlink/") || filter.includes("+")) return false;
  const hash = filter.indexOf("#");
  return hash === -1 || (hash === filter.length - 1 && filter.endsWith("/#"));
}

function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** One hosted device on one engine: its state, its connection and what writes to it do. */
export class HostedDevice extends HostedRuntimeBase<BlynkUp, BlynkDown, void, McuInfo> {
  readonly config: Readonly<HostedBlynkDevice>;
  /** The device's state, typed and bounded (over `store`). */
  readonly state: BlynkDeviceStore;
  /** `<down prefix>downlink/ds/`: append a datastream name. */
  readonly #dsTopic: string;
  readonly #publish: Publish;
  readonly #history: DeviceHistory;
  readonly #namesByPin = new Map<string, string>();
  readonly #pinsByName = new Map<string, string>();
  /** When "last seen" was last stored (0: not by this runtime). */
  #seenStored = 0;
  /** Set by a binary-protocol connection while it is the device (it clears it as it goes). */
  direct: DirectDownlink | undefined;

  constructor(config: HostedBlynkDevice, store: DeviceStore, report: (err: Error) => void, publish: Publish, history: DeviceHistory) {
    super({ id: config.id, name: config.name, platform: "Blynk" }, store, report);
    this.config = config;
    this.state = new BlynkDeviceStore(store);
    this.#dsTopic = `${hostedTopics.down(config.id)}downlink/ds/`;
    this.#publish = publish;
    this.#history = history;
    for (const [pin, name] of Object.entries(config.pins ?? {})) {
      try {
        const canonical = parsePin(pin);
        assertDatastreamName(name);
        this.#namesByPin.set(canonical, name);
        if (!this.#pinsByName.has(name)) this.#pinsByName.set(name, canonical);
      } catch (err) {
        this.report(`pin mapping ${JSON.stringify(pin)} ignored: ${toError(err).message}`);
      }
    }
  }

  override info(): McuInfo | undefined {
    return this.state.info;
  }

  /** Connected or not; with `lastSeen` (ms) once the device was ever connected (kept with its state). */
  override onlineState(): OnlineState {
    const state = super.onlineState();
    const lastSeen = this.state.lastSeen;
    return lastSeen === undefined ? state : { ...state, lastSeen };
  }

  /**
   * The device is there now (it connected, sent something, or is leaving): stored as its last
   * seen time, at most once per SEEN_EVERY_MS unless `always` (connecting, leaving). Never throws.
   */
  seen(now: number, always = false): void {
    if (!always && now - this.#seenStored < SEEN_EVERY_MS) return;
    this.#seenStored = now;
    try {
      this.state.setLastSeen(now);
    } catch (err) {
      this.report(`its last seen time was not stored: ${toError(err).message}`, "seen");
    }
  }

  /** The engine's history, where this device's points are (data/get reads it). */
  get history(): DeviceHistory {
    return this.#history;
  }

  /** Appends one point of datastream `name` to the history; a failure is reported, never thrown. */
  record(name: string, at: number, value: StoredJson): void {
    try {
      this.#history.append(BLYNK_PLUGIN, this.id, name, at, value);
    } catch (err) {
      this.report(`a value of datastream "${name}" was not kept in the history: ${toError(err).message}`, "history");
    }
  }

  /** Stores a value as the datastream's state and, once taken, appends it to the history. Throws what the state refuses. */
  remember(name: string, payload: string, at: number, value: StoredJson): void {
    this.state.setValue(name, payload, at);
    this.record(name, at, value);
  }

  /**
   * A value flows write to the device: remembered, so `get/ds` answers with it, then delivered
   * on `downlink/ds/<name>` at QoS 1, as the HTTPS API's writes (the broker downgrades to each
   * subscription's QoS; a device subscribed at QoS 1 with a persistent session also gets what
   * was written while it was offline). Resolves once the broker took it. A value the store
   * refuses is reported, never thrown: the write itself goes out.
   */
  send(down: BlynkDown): Promise<void> {
    if (down.kind !== "ds") return this.#command(down);
    try {
      this.remember(down.datastream, down.text, Date.now(), decodeValue(down.text));
    } catch (err) {
      this.report(`"downlink/ds/${down.datastream}" sent to the device was not remembered: ${toError(err).message}`);
    }
    return this.#deliver(down.datastream, down.text);
  }

  /** Pin modes, reads and ota from flows: over the binary protocol; ota also over MQTT (`downlink/ota/json`). */
  #command(down: Exclude<BlynkDown, { kind: "ds" }>): Promise<void> {
    const direct = this.direct !== undefined && this.direct.info === this.current ? this.direct : undefined;
    if (direct !== undefined) {
      if (down.kind === "ota") direct.internal({ kind: "ota", url: down.url });
      else direct.hardware(down.op);
      return Promise.resolve();
    }
    if (down.kind === "ota") return this.#publish(`${hostedTopics.down(this.id)}downlink/ota/json`, JSON.stringify({ url: down.url }), { qos: 1 });
    const why = this.online ? "it is connected over MQTT, which has no pin modes or pin reads" : "it is not connected";
    return Promise.reject(new TransportError("invalid", `pin modes and pin reads reach only a device connected over Blynk's binary protocol; ${why}`));
  }

  /** A value to the device over whichever connection is the device now: binary, else MQTT (also to a session kept while offline). */
  #deliver(name: string, text: string): Promise<void> {
    const direct = this.direct;
    if (direct !== undefined && direct.info === this.current) return direct.ds(name, text);
    return this.#publish(this.#dsTopic + name, text, { qos: 1 });
  }

  /**
   * A pin of the binary protocol -> its datastream name: the pin table's name ("v5" -> "Temp"),
   * else the pin as the legacy server showed it ("V5", "D8", "A0").
   */
  nameOfPin(pinType: "V" | "D" | "A", pin: number): string {
    const pinText = `${pinType}${String(pin)}`;
    return this.#namesByPin.get(pinText.toLowerCase()) ?? pinText;
  }

  /** A datastream name -> its pin on the binary protocol (mapped, or a name such as "V5"); undefined when it has none. */
  pinOfName(name: string): { pinType: "V" | "D" | "A"; pin: number } | undefined {
    const mapped = this.#pinsByName.get(name) ?? name;
    const match = /^([vdaVDA])(\d{1,3})$/.exec(mapped);
    if (match === null) return undefined;
    const pin = Number(match[2]);
    return pin > 255 ? undefined : { pinType: match[1].toUpperCase() as "V" | "D" | "A", pin };
  }

  /**
   * HTTPS API pin ("v1", canonical) -> datastream name: the mapped name, else the pin as the
   * binary protocol, the legacy HTTP API and client mode name it ("V5", docs/PROTOCOLS.md 2.3),
   * so an unmapped pin is one datastream whichever API wrote it.
   */
  datastreamOf(pin: string): string {
    return this.#namesByPin.get(pin) ?? pin.toUpperCase();
  }

  /** Datastream name -> the HTTPS API key for it: its mapped pin, else a pin name in the API's form ("V5" -> "v5"), else the name itself. */
  pinOf(name: string): string {
    return this.#pinsByName.get(name) ?? (/^[VDA]\d{1,3}$/.test(name) ? name.toLowerCase() : name);
  }

  /**
   * A value written through the self-hosted HTTPS API: stored, shown to flows (an uplink from
   * "http") and pushed to the device (as the cloud pushes HTTPS writes to the hardware).
   * Throws TransportError "too-large" over the store's limits before anything is sent.
   */
  async write(name: string, payload: string): Promise<void> {
    const value = decodeValue(payload);
    this.remember(name, payload, Date.now(), value);
    this.listeners.uplink({ source: "http", message: { kind: "ds", datastream: name, value }, text: payload });
    await this.#deliver(name, payload);
  }

  /** Timestamped points through the HTTPS API: flows get them all; the newest becomes the value (and is pushed) if newer than the stored one. */
  async writePoints(name: string, points: TimestampedPoint[]): Promise<void> {
    const latest = points.reduce((a, b) => (b[0] >= a[0] ? b : a));
    const payload = encodeValue(latest[1], name);
    const changed = this.state.setValue(name, payload, latest[0], true);
    for (const [at, value] of points) this.record(name, at, value);
    this.listeners.uplink({ source: "http", message: { kind: "timestamped", datastream: name, points }, text: "" });
    if (changed) await this.#deliver(name, payload);
  }

  /** A widget property set through the HTTPS API (`update/property`): stored, then to flows. Throws TransportError "too-large" over the store's limits. */
  property(name: string, property: string, payload: string): void {
    this.state.setProperty(name, property, payload, Date.now());
    this.listeners.uplink({ source: "http", message: { kind: "property", datastream: name, property, value: decodeValue(payload) }, text: payload });
  }

  /** An event logged through the HTTPS API (`logEvent`): flows only. */
  event(code: string, description: string): void {
    this.listeners.uplink({ source: "http", message: { kind: "event", code, description }, text: "" });
  }

  /**
   * Timestamped points through the legacy HTTP API (`PUT extra/pin`), as the legacy server took
   * them: every point into the history at its time, the FIRST point's value the current one
   * (stored now, pushed to the device), flows get them all. Throws "too-large" before anything is kept.
   */
  async writeLegacyPoints(name: string, points: readonly [number, string][]): Promise<void> {
    if (points.length === 0) return;
    const first = points[0];
    this.state.setValue(name, first[1], Date.now());
    const decoded = points.map(([at, text]): TimestampedPoint => [at, parseScalar(text)]);
    for (const [at, value] of decoded) this.record(name, at, value);
    this.listeners.uplink({ source: "http", message: { kind: "timestamped", datastream: name, points: decoded }, text: "" });
    // Delivered as `write` delivers an HTTP write (whichever connection the device has).
    await this.#deliver(name, first[1]);
  }

  /** The zone for `get/utc/all/json`: the device's Time Zone metadata, the configured zone, the host's. */
  timeInfo(now: number): Encoded {
    const zones = [this.state.meta(TIME_ZONE_META), this.config.timeZone, hostTimeZone(), "UTC"];
    for (const zone of zones) {
      if (zone === undefined || zone === "") continue;
      try {
        return encodeDownlink({ kind: "utc", info: utcInfo(now, zone) });
      } catch {
        // Not an IANA zone (device metadata is not validated): try the next one.
      }
    }
    return encodeDownlink({ kind: "utc", info: utcInfo(now, "UTC") });
  }
}
