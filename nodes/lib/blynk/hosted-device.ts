/**
 * One hosted Blynk device on one broker engine (its store, its current connection, what an
 * HTTPS write does) and the helpers the emulation uses to recognise devices and their topics.
 */
import type { ClientInfo } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { findByDigest, tokenDigest } from "../transport/secret-match.js";
import type { PublishOptions } from "../transport/pubsub.js";
import { ReportThrottle } from "../transport/report-throttle.js";
import { assertDatastreamName, encodeDownlink, encodeValue, utcInfo, type Encoded, type TimestampedPoint } from "./codec.js";
import { parsePin } from "./http-codec.js";
import { DeviceStore } from "./hosted-store.js";
import { hostedTopics, type HostedBlynkDevice } from "./hosted-types.js";

/** Publishes an internal topic on the device's engine. */
export type Publish = (topic: string, payload: string, options?: PublishOptions) => Promise<void>;

/** Blynk's device username (docs/PROTOCOLS.md 1.1). */
export const DEVICE_USERNAME = "device";
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

// Moved to the transport floor (platform-blind, shared with other emulations); re-exported for existing importers.
export { findByDigest, tokenDigest };

function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** One hosted device on one engine: its store, its connection and what writes to it do. */
export class HostedDevice {
  readonly id: string;
  readonly name: string;
  readonly config: Readonly<HostedBlynkDevice>;
  readonly digest: Buffer;
  readonly store = new DeviceStore();
  /** The connection that is this device now (the newest one). */
  current: ClientInfo | undefined;
  readonly #publish: Publish;
  readonly #report: (err: Error) => void;
  /** Problems the device causes over and over are reported once, then summarised (ReportThrottle). */
  readonly #throttle = new ReportThrottle({ summary: (text) => { this.report(text); } });
  readonly #namesByPin = new Map<string, string>();
  readonly #pinsByName = new Map<string, string>();

  constructor(config: HostedBlynkDevice, report: (err: Error) => void, publish: Publish) {
    this.config = config;
    this.id = config.id;
    this.name = config.name;
    this.digest = tokenDigest(config.token);
    this.#report = report;
    this.#publish = publish;
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

  get online(): boolean {
    return this.current !== undefined;
  }

  /** What `state/online` says: online, and which connection is the device. */
  onlineState(): OnlineState {
    const info = this.current;
    if (info === undefined) return { online: false };
    return { online: true, clientId: info.clientId, ...(info.remoteAddress === undefined ? {} : { remoteAddress: info.remoteAddress }), protocolVersion: info.protocolVersion };
  }

  /**
   * A warning about this device, to whoever hosts it; never throws. With a `kind` (a fixed word
   * for something the device can repeat at will), only the first of a burst goes out, then a
   * summary per minute.
   */
  report(message: string, kind?: string): void {
    if (kind !== undefined && !this.#throttle.admit(kind, message)) return;
    try {
      this.#report(new Error(`hosted Blynk device "${this.name}": ${message}`));
    } catch {
      // The host's callback failing must not break the broker.
    }
  }

  /** Whether a problem of `kind` is to be reported now (false: counted for the next summary). */
  admits(kind: string, message: string): boolean {
    return this.#throttle.admit(kind, message);
  }

  /** Hosting ended: summaries still owed go out now. */
  closeReports(): void {
    this.#throttle.close();
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
   * A value written through the self-hosted HTTPS API: stored, pushed to the device (as the
   * cloud pushes HTTPS writes to the hardware) and shown to flows on the `http` topics.
   * Throws TransportError "too-large" over the store's limits before anything is sent.
   */
  async write(name: string, payload: string): Promise<void> {
    this.store.setValue(name, payload, Date.now());
    await Promise.all([
      this.#publish(`${hostedTopics.down(this.id)}downlink/ds/${name}`, payload, { qos: 1 }),
      this.#publish(`${hostedTopics.http(this.id)}ds/${name}`, payload),
    ]);
  }

  /**
   * A value a flow wrote to the device (a local-mode link publishes it on `downlink/ds/<name>`
   * and calls this): remembered, so `get/ds` answers with it. A value the store refuses is
   * reported, never thrown: the write itself went out.
   */
  flowsWrote(name: string, payload: string): void {
    try {
      this.store.setValue(name, payload, Date.now());
    } catch (err) {
      this.report(`"downlink/ds/${name}" sent to the device was not remembered: ${toError(err).message}`);
    }
  }

  /** Timestamped points through the HTTPS API: the newest point becomes the value if newer than the stored one. */
  async writePoints(name: string, points: TimestampedPoint[]): Promise<void> {
    const latest = points.reduce((a, b) => (b[0] >= a[0] ? b : a));
    const payload = encodeValue(latest[1], name);
    const changed = this.store.setValue(name, payload, latest[0], true);
    await Promise.all([
      changed ? this.#publish(`${hostedTopics.down(this.id)}downlink/ds/${name}`, payload, { qos: 1 }) : undefined,
      this.#publish(`${hostedTopics.http(this.id)}ds/${name}/timestamped_batch`, JSON.stringify(points)),
    ]);
  }

  /** Something else written through the HTTPS API (`event/<code>`, `prop/<name>/<property>`): flows only. */
  async toFlows(relative: string, payload: string): Promise<void> {
    await this.#publish(`${hostedTopics.http(this.id)}${relative}`, payload);
  }

  /** The zone for `get/utc/all/json`: the device's Time Zone metadata, the configured zone, the host's. */
  timeInfo(now: number): Encoded {
    const zones = [this.store.meta(TIME_ZONE_META), this.config.timeZone, hostTimeZone(), "UTC"];
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

export interface OnlineState {
  online: boolean;
  clientId?: string;
  remoteAddress?: string;
  protocolVersion?: number;
}
