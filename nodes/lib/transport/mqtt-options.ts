/** Options of an MQTT session: defaults, validation, URL handling and the MQTT.js option object. */
import type { IClientOptions } from "mqtt";
import type { ClientOptions as WsClientOptions } from "ws";
import type { BackoffOptions } from "./backoff.js";
import { TransportError } from "./errors.js";
import type { QoS } from "./pubsub.js";
import { redactUrls, type Redactor } from "./redact.js";
import { assertTopicName } from "./topic.js";

/** Largest payload MQTT can carry (the 4-byte remaining length minus nothing else). */
export const MQTT_MAX_PAYLOAD_BYTES = 268_435_455;

export interface MqttTlsOptions {
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server certificate; true unless explicitly turned off. */
  rejectUnauthorized?: boolean;
  /** TLS SNI / name to verify, when it differs from the URL host. */
  servername?: string;
}

export interface MqttWill {
  topic: string;
  payload: string | Buffer;
  qos?: QoS;
  retain?: boolean;
}

export interface MqttSessionOptions {
  /** mqtt://, mqtts://, ws://, wss:// (tcp:// and ssl:// are accepted as mqtt:// and mqtts://). */
  url: string;
  /** May be empty: the server then assigns one (requires clean = true). */
  clientId?: string;
  username?: string;
  password?: string;
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  protocolVersion?: 4 | 5;
  keepaliveSec?: number;
  clean?: boolean;
  tls?: MqttTlsOptions;
  connectTimeoutMs?: number;
  /** Backoff between attempts after network errors and ordinary refusals. */
  reconnect?: BackoffOptions;
  /** Backoff after the server refused the credentials: long, so a bad token never hammers it. */
  authBackoff?: BackoffOptions;
  /**
   * How long a connection must stay up before the reconnect backoff starts again from its
   * first delay (default 10 s). Without it, two clients sharing one token (Blynk allows one
   * connection per token) would kick each other off in a tight loop.
   */
  stableAfterMs?: number;
  /** Messages kept while disconnected; the oldest is dropped beyond this. 0 disables the outbox. */
  outboxLimit?: number;
  maxPayloadBytes?: number;
  will?: MqttWill;
  /** Shared redactor; the session registers its secrets into it. */
  redactor?: Redactor;
  /** Injected randomness for both backoffs (tests). */
  random?: () => number;
}

/** Where to connect, without credentials: safe to show and to hand to MQTT.js. */
export interface MqttTarget {
  url: string;
  scheme: "mqtt" | "mqtts" | "ws" | "wss";
  /** "host:port", for messages. */
  where: string;
  username?: string;
  password?: string;
}

export const DEFAULT_RECONNECT: BackoffOptions = { initialMs: 1000, maxMs: 60_000 };
export const DEFAULT_AUTH_BACKOFF: BackoffOptions = { initialMs: 60_000, maxMs: 15 * 60_000 };

const SCHEMES: Readonly<Record<string, MqttTarget["scheme"]>> = {
  mqtt: "mqtt",
  tcp: "mqtt",
  mqtts: "mqtts",
  ssl: "mqtts",
  ws: "ws",
  wss: "wss",
};
const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 } as const;

/** Parses and normalises a server URL; user info is split off so it never reaches a message. */
export function parseMqttUrl(url: string): MqttTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TransportError("invalid", `server URL "${redactUrls(url)}" is not a valid URL`);
  }
  const scheme = SCHEMES[u.protocol.replace(/:$/, "").toLowerCase()] as MqttTarget["scheme"] | undefined;
  if (scheme === undefined || u.hostname === "") {
    throw new TransportError(
      "invalid",
      `server URL "${redactUrls(url)}" must look like mqtt://host:port (or mqtts://, ws://, wss://)`,
    );
  }
  const port = u.port === "" ? DEFAULT_PORTS[scheme] : Number(u.port);
  const path = scheme === "ws" || scheme === "wss" ? `${u.pathname || "/"}${u.search}` : "";
  const target: MqttTarget = {
    url: `${scheme}://${u.hostname}:${port}${path}`,
    scheme,
    where: `${u.hostname}:${port}`,
  };
  if (u.username !== "") target.username = decodeURIComponent(u.username);
  if (u.password !== "") target.password = decodeURIComponent(u.password);
  return target;
}

/**
 * Registers an MQTT login's secrets. User names are secret when they carry a token
 * (ThingsBoard); short ones ("device", "user") are ordinary words whose masking would garble
 * every message, so only token-length ones count.
 */
export function registerMqttSecrets(redactor: Redactor, password: string | undefined, username: string | undefined): void {
  redactor.add(password);
  if (username !== undefined && username.length >= 8) redactor.add(username);
}

/** Validated options with defaults filled in (backoffs and redactor are handled by the session). */
export interface ResolvedMqttOptions {
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  protocolVersion: 4 | 5;
  keepaliveSec: number;
  clean: boolean;
  tls: MqttTlsOptions;
  connectTimeoutMs: number;
  outboxLimit: number;
  maxPayloadBytes: number;
  will: MqttWill | undefined;
  stableAfterMs: number;
}

export function resolveOptions(o: MqttSessionOptions): ResolvedMqttOptions {
  // Typed callers cannot pass anything else, but flows and JS callers can.
  const protocolVersion: unknown = o.protocolVersion ?? 4;
  if (protocolVersion !== 4 && protocolVersion !== 5) {
    throw new TransportError("invalid", `protocolVersion must be 4 (MQTT 3.1.1) or 5, got ${String(protocolVersion)}`);
  }
  const clientId = o.clientId ?? "";
  const clean = o.clean ?? true;
  if (!clean && clientId === "") {
    throw new TransportError("invalid", "a persistent session (clean = false) needs a client id");
  }
  const resolved: ResolvedMqttOptions = {
    clientId,
    username: o.username,
    password: o.password,
    protocolVersion,
    keepaliveSec: whole("keepaliveSec", o.keepaliveSec ?? 60, 0, 65_535),
    clean,
    tls: o.tls ?? {},
    connectTimeoutMs: whole("connectTimeoutMs", o.connectTimeoutMs ?? 30_000, 1, 2 ** 31 - 1),
    outboxLimit: whole("outboxLimit", o.outboxLimit ?? 1000, 0, 2 ** 31 - 1),
    maxPayloadBytes: whole("maxPayloadBytes", o.maxPayloadBytes ?? MQTT_MAX_PAYLOAD_BYTES, 1, MQTT_MAX_PAYLOAD_BYTES),
    will: o.will,
    stableAfterMs: whole("stableAfterMs", o.stableAfterMs ?? 10_000, 0, 2 ** 31 - 1),
  };
  if (o.will !== undefined) assertTopicName(o.will.topic);
  return resolved;
}

/** The MQTT.js options for one connection attempt to `target`. */
export function clientOptions(target: MqttTarget, o: ResolvedMqttOptions): IClientOptions {
  const options: IClientOptions = {
    // We own reconnects, resubscription and offline queueing; MQTT.js must do none of them.
    manualConnect: true,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    protocolVersion: o.protocolVersion,
    clientId: o.clientId,
    clean: o.clean,
    keepalive: o.keepaliveSec,
    connectTimeout: o.connectTimeoutMs,
  };
  const username = o.username ?? target.username;
  const password = o.password ?? target.password;
  if (username !== undefined) options.username = username;
  if (password !== undefined) options.password = password;
  if (o.will !== undefined) {
    options.will = { topic: o.will.topic, payload: o.will.payload, qos: o.will.qos ?? 0, retain: o.will.retain ?? false };
  }
  const tls = {
    rejectUnauthorized: o.tls.rejectUnauthorized !== false,
    ...defined({ ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: o.tls.servername }),
  };
  if (target.scheme === "mqtts") Object.assign(options, tls);
  if (target.scheme === "ws" || target.scheme === "wss") {
    // MQTT.js hands only wsOptions to the ws package (see mqtt/build/lib/connect/ws.js), so TLS
    // settings for wss must travel there; servername is passed on to tls.connect by ws.
    const ws: WsClientOptions & { servername?: string } = {
      handshakeTimeout: o.connectTimeoutMs,
      ...(target.scheme === "wss" ? tls : {}),
    };
    options.wsOptions = ws;
  }
  return options;
}

function whole(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TransportError("invalid", `${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
