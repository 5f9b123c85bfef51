/**
 * mqtt mode: Node-RED is the device on Blynk.Cloud (or any Blynk-compatible broker), over
 * Blynk's device MQTT API (docs/PROTOCOLS.md 1): username "device", the token as password,
 * keepalive 45 s, clean session, `downlink/#`, `info/mcu` on every connect, redirects followed.
 */
import { toError } from "../transport/errors.js";
import { MqttSession } from "../transport/mqtt-session.js";
import type { InboundMessage } from "../transport/pubsub.js";
import { TokenBucket } from "../transport/rate-limit.js";
import {
  assertDatastreamName, encodeUplink, LIMITS, parseDownlink, toBatchValues, toTimestampedPoints,
  type BlynkValue, type Encoded, type McuInfo, type UplinkMessage,
} from "./codec.js";
import {
  BlynkLinkBase, DEFAULT_SERVERS, type BlynkIncoming, type BlynkLinkOptions, type SyncRequest, type WriteOptions,
} from "./link-base.js";

const KEEPALIVE_SEC = 45;
/** get/ds payload room: 1024 - (2 + "get/ds".length). */
const GET_DS_ROOM = LIMITS.messageBytes - 2 - "get/ds".length;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

interface PendingSync {
  all: boolean;
  names: Set<string>;
  system: boolean;
  sent: Promise<void>;
}

/** Blynk.Cloud hosts get its request limit; other brokers (a local iot-broker) do not. */
export function isBlynkCloudHost(url: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    return host === "blynk.cloud" || host.endsWith(".blynk.cloud");
  } catch {
    return false;
  }
}

/** The `build` field as firmware sends it (`__DATE__ __TIME__`): "Jan 19 2024 12:25:30", UTC. */
export function buildStamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${MONTHS[d.getUTCMonth()] ?? "Jan"} ${two(d.getUTCDate())} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
}

export class MqttBlynkLink extends BlynkLinkBase {
  readonly connection = "mqtt" as const;
  readonly #session: MqttSession;
  readonly #info: McuInfo | undefined;
  readonly #bucket: TokenBucket | undefined;
  #pendingSync: PendingSync | undefined;

  constructor(options: BlynkLinkOptions) {
    super(options);
    const url = options.server ?? DEFAULT_SERVERS.mqtt;
    this.#session = new MqttSession({
      url,
      clientId: "",
      username: "device",
      password: options.token,
      keepaliveSec: KEEPALIVE_SEC,
      clean: true,
      maxPayloadBytes: LIMITS.messageBytes,
      redactor: this.redactor,
      ...options.mqtt,
    });
    if (options.templateId !== undefined && options.templateId !== "") {
      this.#info = { tmpl: options.templateId, type: options.templateId, build: buildStamp(this.now()), rxbuff: LIMITS.messageBytes };
      if (options.firmwareVersion !== undefined && options.firmwareVersion !== "") this.#info.ver = options.firmwareVersion;
    }
    if (options.rateLimit ?? isBlynkCloudHost(url)) {
      this.#bucket = new TokenBucket({ capacity: LIMITS.requestsPerSecond, refillPerSecond: LIMITS.requestsPerSecond, now: this.now });
    }
    this.follow(this.#session, () => { this.#onConnected(); });
  }

  get server(): string {
    return this.#session.url;
  }

  start(): void {
    if (!this.firstStart()) return;
    // Recorded now, sent on every connect before anything else (QoS 1: downlink/ping is QoS 1).
    this.#session.subscribe("downlink/#", (m) => { this.#onDownlink(m); }, { qos: 1 }).catch((err: unknown) => {
      this.warn(`could not subscribe to downlink/#: ${toError(err).message}`);
    });
    this.#session.start();
  }

  async write(datastream: string, value: unknown, options: WriteOptions = {}): Promise<void> {
    if (options.timestamp !== undefined) {
      await this.writeTimestamped(datastream, [[options.timestamp, value]]);
      return;
    }
    // The codec checks the value at run time; the cast only satisfies the message type.
    await this.#send({ kind: "ds", datastream, value: value as BlynkValue });
  }

  async writeBatch(values: unknown): Promise<void> {
    this.assertOpen();
    await this.#send({ kind: "batch", values: toBatchValues(values) });
  }

  async writeTimestamped(datastream: string, points: unknown): Promise<void> {
    this.assertOpen();
    const now = this.now();
    await this.#publish(encodeUplink({ kind: "timestamped", datastream, points: toTimestampedPoints(points, now) }, now));
  }

  async setProperty(datastream: string, property: string, value: unknown): Promise<void> {
    await this.#send({ kind: "property", datastream, property, value: value as BlynkValue });
  }

  async erase(datastream: string, property?: string): Promise<void> {
    await this.#send(property === undefined ? { kind: "erase", datastream } : { kind: "property-erase", datastream, property });
  }

  /** Answers come as `incoming` events on downlink/ds/<name>; the result is always empty. */
  async sync(request: SyncRequest = {}): Promise<BlynkIncoming[]> {
    this.assertOpen();
    const names = request.datastreams ?? [];
    for (const name of names) assertDatastreamName(name);
    // One round of get/ds per turn of the event loop, however many nodes ask on connect.
    let batch = this.#pendingSync;
    if (batch === undefined) {
      const created: PendingSync = { all: false, names: new Set(), system: false, sent: Promise.resolve() };
      created.sent = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flushSync(created));
      this.#pendingSync = created;
      batch = created;
    }
    if (names.length === 0) batch.all = true;
    for (const name of names) batch.names.add(name);
    if (request.system === true) batch.system = true;
    await batch.sent;
    return [];
  }

  read(datastreams?: string[]): Promise<BlynkIncoming[]> {
    return this.sync({ datastreams });
  }

  protected prepareEvent(code: string, description: string): () => Promise<void> {
    const encoded = encodeUplink({ kind: "event", code, description });
    return () => this.#publish(encoded);
  }

  protected async shutdown(): Promise<void> {
    this.#bucket?.close();
    await this.#session.close();
  }

  async #send(message: UplinkMessage): Promise<void> {
    this.assertOpen();
    await this.#publish(encodeUplink(message, this.now()));
  }

  async #publish(encoded: Encoded): Promise<void> {
    // QoS 0 like Blynk's samples: resolves once written (or queued while offline).
    if (this.#bucket !== undefined) await this.#bucket.take();
    await this.#session.publish(encoded.topic, encoded.payload, { qos: 0 });
  }

  async #flushSync(batch: PendingSync): Promise<void> {
    if (this.#pendingSync === batch) this.#pendingSync = undefined;
    const messages: UplinkMessage[] = [];
    if (batch.all) messages.push({ kind: "get-ds-all" });
    else for (const chunk of chunkNames([...batch.names])) messages.push({ kind: "get-ds", datastreams: chunk });
    if (batch.system) messages.push({ kind: "get-utc" }, { kind: "get-loc" });
    await Promise.all(messages.map((m) => this.#publish(encodeUplink(m, this.now()))));
  }

  #onConnected(): void {
    if (this.#info !== undefined) {
      this.#publish(encodeUplink({ kind: "info-mcu", info: this.#info })).catch((err: unknown) => {
        this.warn(`could not publish info/mcu: ${toError(err).message}`);
      });
    }
    this.setReady(true);
  }

  #onDownlink(message: InboundMessage): void {
    const text = message.payload.toString("utf8");
    const parsed = parseDownlink(message.topic, message.payload);
    const system = (name: string, value: unknown, details?: Record<string, unknown>): void => {
      this.deliver({ kind: "system", topic: `$system/${name}`, value, source: "cloud", ...(details === undefined ? {} : { details }) });
    };
    switch (parsed.kind) {
      case "ds":
        this.deliver({ kind: "value", datastream: parsed.datastream, value: parsed.value, text, source: "cloud" });
        return;
      case "meta":
        system(`meta/${parsed.field}`, parsed.value, { field: parsed.field });
        return;
      case "utc":
        system("utc", parsed.info);
        return;
      case "loc":
        system("loc", { lat: parsed.lat, lon: parsed.lon });
        return;
      case "ota":
        system("ota", parsed.ota);
        return;
      case "reboot":
      case "reconfigure":
        system(parsed.kind, null);
        return;
      case "ping":
        return; // answered by the PUBACK of QoS 1
      case "diag":
        this.warn(`Blynk server diagnostics: ${parsed.text}`);
        system("diag", parsed.text);
        return;
      case "redirect":
        system("redirect", parsed.url);
        this.#redirect(parsed.url);
        return;
      default:
        system("unknown", text, { mqttTopic: message.topic });
    }
  }

  #redirect(url: string): void {
    try {
      const before = this.#session.url;
      this.#session.redirect(url);
      if (this.#session.url === before) return;
      this.redirected(this.#session.url);
    } catch (err) {
      this.warn(`could not follow Blynk's redirect to ${url}: ${toError(err).message}`);
    }
  }
}

/** Splits names into comma-joined lists that each fit one get/ds message. */
function chunkNames(names: string[]): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const name of names) {
    const size = Buffer.byteLength(name) + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && bytes + size > GET_DS_ROOM) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    bytes += Buffer.byteLength(name) + (current.length > 0 ? 1 : 0);
    current.push(name);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
