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
import { HostedRuntimeBase, type DeviceHistory, type DeviceStore, type OnlineState, type StoredJson } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import type { PublishOptions } from "../transport/pubsub.js";
import { parseScalar } from "../transport/value-codec.js";
import { assertDatastreamName, decodeValue, encodeDownlink, encodeValue, utcInfo, type Encoded, type McuInfo, type TimestampedPoint } from "./codec.js";
import { parsePin } from "./http-codec.js";
import { BlynkDeviceStore } from "./hosted-store.js";
import { BLYNK_PLUGIN, hostedTopics, type BlynkDown, type BlynkUp, type HostedBlynkDevice } from "./hosted-types.js";

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
    try {
      this.remember(down.datastream, down.text, Date.now(), decodeValue(down.text));
    } catch (err) {
      this.report(`"downlink/ds/${down.datastream}" sent to the device was not remembered: ${toError(err).message}`);
    }
    return this.#publish(this.#dsTopic + down.datastream, down.text, { qos: 1 });
  }

  /** HTTPS API pin ("v1") -> datastream name: the mapped name, else the pin itself. */
  datastreamOf(pin: string): string {
    return this.#namesByPin.get(pin) ?? pin;
  }

  /** Datastream name -> the HTTPS API key for it: its mapped pin, else the name itself. */
  pinOf(name: string): string {
    return this.#pinsByName.get(name) ?? name;
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
    await this.#publish(this.#dsTopic + name, payload, { qos: 1 });
  }

  /** Timestamped points through the HTTPS API: flows get them all; the newest becomes the value (and is pushed) if newer than the stored one. */
  async writePoints(name: string, points: TimestampedPoint[]): Promise<void> {
    const latest = points.reduce((a, b) => (b[0] >= a[0] ? b : a));
    const payload = encodeValue(latest[1], name);
    const changed = this.state.setValue(name, payload, latest[0], true);
    for (const [at, value] of points) this.record(name, at, value);
    this.listeners.uplink({ source: "http", message: { kind: "timestamped", datastream: name, points }, text: "" });
    if (changed) await this.#publish(this.#dsTopic + name, payload, { qos: 1 });
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
    await this.#publish(this.#dsTopic + name, first[1], { qos: 1 });
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
