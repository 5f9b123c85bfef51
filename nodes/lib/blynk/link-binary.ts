/**
 * binary mode: Node-RED is the device on a legacy blynk-server, a fork of it or Blynk.Cloud, over
 * Blynk's binary hardware protocol (docs/PROTOCOLS.md 3), the protocol of the C++ library's
 * `BlynkSimple*` firmware. The session (binary-session.ts) keeps the connection; this link gives
 * flows the same calls and messages as mqtt mode.
 *
 * Decisions: the protocol names pins, not datastreams, so a datastream is a pin (`V5`, `D8`, `A0`)
 * or a name the device's Pins table maps to a virtual pin (`V1=Temperature`); what the server
 * writes arrives under the mapped name, else the pin. A timestamped value is a GROUP with its time
 * (library 1.2+; a legacy server ignores GROUP and takes the plain write). There is no erase. A
 * server's read request (`vr`) is answered with the last value flows wrote to that pin, as
 * BLYNK_READ would, and reported as `$system/read`. Sync answers (HARDWARE frames with the
 * HARDWARE_SYNC's id) carry `sync: true`.
 */
import { TransportError } from "../transport/errors.js";
import { TokenBucket } from "../transport/rate-limit.js";
import { whereOf, type SocketTarget } from "../transport/socket-session.js";
import {
  encodeMessage, valueOf, valuesFrom, type BlynkMessage, type HardwareInfo, type HardwareOp, type InternalMessage, type PinType,
} from "./binary/index.js";
import { BinaryBlynkSession, RECEIVE_LIMIT, type BinarySessionOptions } from "./binary-session.js";
import { assertDatastreamName, LIMITS, toBatchValues, toTimestampedPoints } from "./codec.js";
import { BlynkLinkBase, DEFAULT_SERVERS, type BlynkIncoming, type BlynkLinkOptions, type SyncRequest, type WriteOptions } from "./link-base.js";
import { buildStamp, isBlynkCloudHost } from "./link-mqtt.js";

/** What the info message says we are: the last library release whose protocol this client speaks. */
export const LIBRARY_VERSION = "1.3.2";
/** Port when the URL names none: the library's defaults (80, and 443 for TLS). */
const DEFAULT_PORTS = { tcp: 80, tls: 443 } as const;
/** Last values flows wrote, kept to answer read requests (bounded: pins are 3 x 256). */
const MAX_REMEMBERED = 768;

export type BinaryOverrides = Partial<Omit<BinarySessionOptions, "target" | "token" | "info" | "redactor">>;

/** `tcp://host[:port]` or `tls://host[:port]` -> the socket target; throws TransportError "invalid". */
export function parseBinaryServer(url: string): SocketTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TransportError("invalid", `server ${JSON.stringify(url)} is not a URL; accepted: tcp://host:port or tls://host:port`);
  }
  const scheme = u.protocol.toLowerCase().replace(/:$/, "");
  if ((scheme !== "tcp" && scheme !== "tls") || u.hostname === "") {
    throw new TransportError("invalid", `server ${JSON.stringify(url)} cannot be used in binary mode; accepted: tcp://host:port or tls://host:port`);
  }
  if (u.username !== "" || u.password !== "") throw new TransportError("invalid", "the server URL must not hold credentials: the token is the device's credential");
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port === "" ? DEFAULT_PORTS[scheme] : Number(u.port), tls: scheme === "tls" };
}

export function binaryServerUrl(target: SocketTarget): string {
  return `${target.tls ? "tls" : "tcp"}://${whereOf(target)}`;
}

interface PendingSync {
  all: boolean;
  pins: Map<string, Pin>;
  system: boolean;
  sent: Promise<void>;
}

interface Pin {
  pinType: PinType;
  pin: number;
}

export class BinaryBlynkLink extends BlynkLinkBase {
  readonly connection = "binary" as const;
  readonly #session: BinaryBlynkSession;
  readonly #names = new Map<string, Pin>();
  readonly #pinNames = new Map<number, string>();
  readonly #written = new Map<string, string[]>();
  readonly #bucket: TokenBucket | undefined;
  #pendingSync: PendingSync | undefined;

  constructor(options: BlynkLinkOptions) {
    super(options);
    const url = options.server ?? DEFAULT_SERVERS.binary;
    const target = parseBinaryServer(url);
    for (const [pin, name] of Object.entries(options.pins ?? {})) {
      const number = Number(pin.slice(1));
      this.#names.set(name, { pinType: "V", pin: number });
      this.#pinNames.set(number, name);
    }
    this.#session = new BinaryBlynkSession({ ...options.binary, target, token: options.token, info: this.#info(options, target), redactor: this.redactor });
    if (options.rateLimit ?? isBlynkCloudHost(`tcp://${target.host}`)) {
      this.#bucket = new TokenBucket({ capacity: LIMITS.requestsPerSecond, refillPerSecond: LIMITS.requestsPerSecond, now: this.now });
    }
    this.#session.on("status", (status) => {
      if (status.state !== "connected") this.setReady(false);
      this.setStatus(status);
    });
    this.#session.on("warning", (text) => { this.warn(text); });
    this.#session.on("connected", () => { this.setReady(true); });
    this.#session.on("redirected", (to) => { this.redirected(binaryServerUrl(to)); });
    this.#session.on("message", (message, { syncAnswer }) => { this.#fromServer(message, syncAnswer); });
  }

  get server(): string {
    return binaryServerUrl(this.#session.target);
  }

  start(): void {
    if (!this.firstStart()) return;
    this.#session.start();
  }

  async write(datastream: string, value: unknown, options: WriteOptions = {}): Promise<void> {
    if (options.timestamp !== undefined) {
      await this.writeTimestamped(datastream, [[options.timestamp, value]]);
      return;
    }
    this.assertOpen();
    const pin = this.#pinOf(datastream);
    const values = valuesFrom(value, datastream);
    await this.#send([this.#encode({ type: "hardware", op: "write", ...pin, values })]);
    this.#remember(pin, values);
  }

  async writeBatch(values: unknown): Promise<void> {
    this.assertOpen();
    const writes = Object.entries(toBatchValues(values)).map(([name, value]) => {
      const pin = this.#pinOf(name);
      return { pin, values: valuesFrom(value, name) };
    });
    await this.#send(writes.map((w) => this.#encode({ type: "hardware", op: "write", ...w.pin, values: w.values })));
    for (const w of writes) this.#remember(w.pin, w.values);
  }

  async writeTimestamped(datastream: string, points: unknown): Promise<void> {
    this.assertOpen();
    const pin = this.#pinOf(datastream);
    const frames = toTimestampedPoints(points, this.now()).flatMap(([time, value]) => [
      this.#encode({ type: "group", action: "begin", time }),
      this.#encode({ type: "hardware", op: "write", ...pin, values: valuesFrom(value, datastream) }),
      this.#encode({ type: "group", action: "end" }),
    ]);
    await this.#send(frames);
  }

  async setProperty(datastream: string, property: string, value: unknown): Promise<void> {
    this.assertOpen();
    const pin = this.#pinOf(datastream);
    if (pin.pinType !== "V") throw new TransportError("invalid", `widget properties belong to virtual pins; ${JSON.stringify(datastream)} is ${pin.pinType}${pin.pin}`);
    await this.#send([this.#encode({ type: "property", pin: pin.pin, property, values: valuesFrom(value, `${datastream} ${property}`) })]);
  }

  erase(): Promise<void> {
    return Promise.reject(this.unsupported("erasing", "Blynk's binary protocol has no erase (mqtt mode has one)"));
  }

  /**
   * Answers come as `incoming` events (HARDWARE writes marked `sync`); the result is always empty.
   * Every request of one turn of the event loop goes out as one round (several nodes ask on connect).
   */
  async sync(request: SyncRequest = {}): Promise<BlynkIncoming[]> {
    this.assertOpen();
    const names = request.datastreams ?? [];
    const pins = names.map((name) => this.#pinOf(name));
    let batch = this.#pendingSync;
    if (batch === undefined) {
      const created: PendingSync = { all: false, pins: new Map(), system: false, sent: Promise.resolve() };
      created.sent = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flushSync(created));
      this.#pendingSync = created;
      batch = created;
    }
    if (names.length === 0) batch.all = true;
    for (const { pinType, pin } of pins) batch.pins.set(`${pinType}${pin}`, { pinType, pin });
    if (request.system === true) batch.system = true;
    await batch.sent;
    return [];
  }

  async #flushSync(batch: PendingSync): Promise<void> {
    if (this.#pendingSync === batch) this.#pendingSync = undefined;
    if (this.closed) return;
    const frames: Buffer[] = [];
    if (batch.all) frames.push(this.#encode({ type: "sync", all: true }));
    else {
      const byType = new Map<PinType, number[]>();
      for (const { pinType, pin } of batch.pins.values()) byType.set(pinType, [...(byType.get(pinType) ?? []), pin]);
      for (const [pinType, list] of byType) frames.push(this.#encode({ type: "sync", all: false, pinType, pins: list }));
    }
    if (batch.system) frames.push(this.#encode({ type: "internal", kind: "rtc-sync" }));
    await this.#send(frames, true);
  }

  read(datastreams?: string[]): Promise<BlynkIncoming[]> {
    return this.sync({ datastreams });
  }

  protected prepareEvent(code: string, description: string): () => Promise<void> {
    const frame = this.#encode(description === "" ? { type: "event", code } : { type: "event", code, description });
    return () => this.#send([frame]);
  }

  protected async shutdown(): Promise<void> {
    this.#bucket?.close();
    await this.#session.close();
  }

  #info(options: BlynkLinkOptions, target: SocketTarget): HardwareInfo {
    // `ver` first: the legacy server reads an info message only when its first key starts with v.
    const info: HardwareInfo = { ver: LIBRARY_VERSION, dev: "Node-RED", con: target.tls ? "TLS" : "TCP", build: buildStamp(this.now()) };
    const template = options.templateId ?? "";
    if (template !== "") {
      info.tmpl = template;
      info.fwType = template;
    }
    if (options.firmwareVersion !== undefined && options.firmwareVersion !== "") info.fw = options.firmwareVersion;
    return info;
  }

  /** A message -> its frame (id 1 for now: the session numbers frames as it writes them). */
  #encode(message: DistributiveOmit<BlynkMessage, "id">): Buffer {
    return encodeMessage({ ...message, id: 1 }, { to: "server", maxBody: Math.min(RECEIVE_LIMIT, this.#session.sendLimit) });
  }

  async #send(frames: Buffer[], sync = false): Promise<void> {
    // One request per call, as mqtt mode counts one message (a group travels together).
    if (this.#bucket !== undefined) await this.#bucket.take();
    await this.#session.send(frames, { sync });
  }

  /** A datastream name -> its pin: a mapped name, or a pin name itself (V5, d8, A0). */
  #pinOf(datastream: string): Pin {
    assertDatastreamName(datastream);
    const mapped = this.#names.get(datastream);
    if (mapped !== undefined) return mapped;
    const match = /^([VvDdAa])(\d{1,3})$/.exec(datastream);
    const pin = match === null ? Number.NaN : Number(match[2]);
    if (match !== null && pin <= 255) return { pinType: match[1].toUpperCase() as PinType, pin };
    throw new TransportError("invalid", `datastream ${JSON.stringify(datastream)} names no pin: Blynk's binary protocol writes pins; map the name in the device's Pins (e.g. V1=${datastream}) or use a pin such as V1, D8 or A0`);
  }

  #nameOf(type: PinType, pin: number): string {
    return (type === "V" ? this.#pinNames.get(pin) : undefined) ?? `${type}${pin}`;
  }

  #remember(pin: Pin, values: string[]): void {
    const key = `${pin.pinType}${pin.pin}`;
    this.#written.delete(key);
    this.#written.set(key, values);
    if (this.#written.size > MAX_REMEMBERED) this.#written.delete(this.#written.keys().next().value ?? key);
  }

  #fromServer(message: BlynkMessage, syncAnswer: boolean): void {
    switch (message.type) {
      case "hardware":
      case "bridged":
        this.#hardware(message, message.id, syncAnswer);
        return;
      case "internal":
        this.#internal(message);
        return;
      case "debug-print":
        this.#system("diag", message.text);
        return;
      default:
        this.#system("unknown", message.type, { command: message.type });
    }
  }

  #hardware(op: HardwareOp, id: number, syncAnswer: boolean): void {
    switch (op.op) {
      case "write": {
        const text = op.values.join("\0");
        this.deliver({
          kind: "value", datastream: this.#nameOf(op.pinType, op.pin), value: valueOf(op.values), text, source: "cloud",
          ...(syncAnswer ? { sync: true as const } : {}),
        });
        return;
      }
      case "read": {
        const pin = `${op.pinType}${op.pin}`;
        const values = this.#written.get(pin);
        // BLYNK_READ: the answer reuses the request's id (docs/PROTOCOLS.md 3.1).
        if (values !== undefined) this.#answerRead(op, id, values);
        this.#system("read", this.#nameOf(op.pinType, op.pin), { pin });
        return;
      }
      default:
        this.#system("pin-mode", op.modes.map((m) => ({ pin: m.pin, mode: m.mode })));
    }
  }

  #answerRead(op: { pinType: PinType; pin: number }, id: number, values: string[]): void {
    try {
      const frame = encodeMessage({ type: "hardware", id, op: "write", pinType: op.pinType, pin: op.pin, values }, { to: "server", maxBody: this.#session.sendLimit });
      this.#session.reply(frame);
    } catch (err) {
      this.warn(`could not answer the server's read of ${op.pinType}${op.pin}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  #internal(message: InternalMessage): void {
    switch (message.kind) {
      case "rtc":
        this.#system("rtc", message.time);
        return;
      case "utc":
        this.#system("utc", message.values.length === 1 ? message.values[0] : message.values, { item: message.item });
        return;
      case "ota":
        this.#system("ota", { url: message.url });
        return;
      case "app":
        this.#system("app", message.connected);
        return;
      case "other":
        this.#system(`internal/${message.code}`, message.args);
        return;
      default:
        // info, rtc-sync, utc-request, meta-set: what a device sends, not a server.
        return;
    }
  }

  #system(name: string, value: unknown, details?: Record<string, unknown>): void {
    this.deliver({ kind: "system", topic: `$system/${name}`, value, source: "cloud", ...(details === undefined ? {} : { details }) });
  }
}

/** Omit over each member of a union (plain Omit would merge the members). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
