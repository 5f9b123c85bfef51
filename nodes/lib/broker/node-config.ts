/**
 * Turns the `iot-broker` node's flow properties and credentials into engine options. Pure, so
 * every way a user can get it wrong is table-tested; failures carry an i18n key for the node.
 */
import { isAbsolute, join, resolve } from "node:path";
import type { StorageSettings } from "./broker-storage.js";
import { DEFAULT_MAX_PACKET_SIZE } from "./guards.js";
import { MAX_QUEUED_MESSAGES } from "./session-guards.js";
import type { BrokerOptions, BrokerUser, RateLimit } from "./types.js";

export interface BrokerNodeProps {
  port?: unknown;
  bind?: unknown;
  allowAnonymous?: unknown;
  wsPort?: unknown;
  wsPath?: unknown;
  /** Blynk's binary hardware protocol on plain TCP (legacy server: 8080, Blynk.Cloud firmware: 80); blank = off. */
  blynkPort?: unknown;
  /** The same over TLS with the broker's tls-config (legacy: 9443, cloud firmware: 443); blank = off. */
  blynkTlsPort?: unknown;
  /** "memory" (also when absent: flows from before it existed), "sqlite" (the editor's default for new nodes) or "redis". */
  persistence?: unknown;
  /** The SQLite file; blank = `<userDir>/iot-bridge/<node id>.sqlite`, relative = under the userDir. */
  dbPath?: unknown;
  /** Days of history kept (0 = forever); blank = DEFAULT_RETENTION_DAYS. */
  retention?: unknown;
  /** With persistence "redis": the server (`redis://host:port/db`; blank = redis://127.0.0.1:6379). Its password is a credential. */
  redisUrl?: unknown;
  /** Failed logins from one address within a minute before it is locked out; blank = 10, 0 = no throttling. */
  maxAuthFailures?: unknown;
  /** Seconds of the first lockout (doubling on each further one); blank = 60. */
  authLockout?: unknown;
  /** Publishes per second per hosted-device connection; blank = each platform's default, 0 = unlimited. */
  deviceRateLimit?: unknown;
  /** Publishes a hosted device may send at once; blank = twice the rate. */
  deviceRateBurst?: unknown;
  /** Publishes per second per user or anonymous connection; blank or 0 = unlimited. */
  userRateLimit?: unknown;
  userRateBurst?: unknown;
  /** Largest MQTT packet a client may send, in bytes (blank = 262144). */
  maxPacketSize?: unknown;
  /** QoS 1/2 messages queued per offline persistent session (blank = 1000; 1 to 100000, never unlimited). */
  maxQueuedMessages?: unknown;
}

export interface BrokerNodeSettings {
  host: string;
  port: number;
  /** Own WebSocket port, when set. */
  wsPort: number | undefined;
  /** WebSocket path on Node-RED's HTTP server (without httpNodeRoot), when set. */
  wsPath: string | undefined;
  /** Blynk binary protocol ports (plain, TLS), when set (docs/ARCHITECTURE.md 3.7). */
  blynkPort: number | undefined;
  blynkTlsPort: number | undefined;
  options: BrokerOptions;
  /** Where sessions, hosted devices' state and history live (broker-storage.ts). */
  storage: StorageSettings;
}

/** What parsing needs beyond the node's properties: where Node-RED keeps its files, and the node's id. */
export interface BrokerNodeContext {
  /** Node-RED's userDir (RED.settings.userDir); undefined where there is none (a test runtime). */
  userDir?: string | undefined;
  nodeId?: string;
}

/** The `persistence` values this version accepts (the error names them). */
export const ACCEPTED_PERSISTENCE = ["memory", "sqlite", "redis"] as const;

/**
 * History kept by default: a month. Long enough for the charts and exports people look at (last
 * day, week, month, as the Blynk and ThingSpeak dashboards offer) and for a holiday away; short
 * enough that a Raspberry Pi's SD card is not filled by the default (a value a minute on 100
 * streams is ~100 MB a month). 0 keeps everything; each stream is bounded anyway.
 */
export const DEFAULT_RETENTION_DAYS = 30;
/** A century: a retention beyond it is a typo. */
const MAX_RETENTION_DAYS = 36_500;

/** A configuration mistake: `key` is an i18n key under `iot-broker.errors`, `params` its interpolations. */
export class BrokerConfigError extends Error {
  override readonly name = "BrokerConfigError";
  constructor(
    readonly key: string,
    readonly params: Record<string, string>,
  ) {
    super(`${key} ${JSON.stringify(params)}`);
  }
}

export function parseBrokerNode(props: BrokerNodeProps, credentials: BrokerNodeCredentials = {}, context: BrokerNodeContext = {}): BrokerNodeSettings {
  const port = parsePort(props.port, "port", 1883);
  const wsPort = isBlank(props.wsPort) ? undefined : parsePort(props.wsPort, "wsPort", undefined);
  let wsPath: string | undefined;
  if (!isBlank(props.wsPath)) {
    wsPath = text(props.wsPath).trim();
    if (!wsPath.startsWith("/")) throw new BrokerConfigError("invalid-path", { value: wsPath });
  }
  const host = isBlank(props.bind) ? "0.0.0.0" : text(props.bind).trim();
  const blynkPort = isBlank(props.blynkPort) ? undefined : parsePort(props.blynkPort, "blynkPort", undefined);
  const blynkTlsPort = isBlank(props.blynkTlsPort) ? undefined : parsePort(props.blynkTlsPort, "blynkTlsPort", undefined);
  checkPortClashes([["port", port], ["wsPort", wsPort], ["blynkPort", blynkPort], ["blynkTlsPort", blynkTlsPort]]);
  const storage = parseStorage(props, context, credentials);
  const maxPacketSize = parseWhole(props.maxPacketSize, "invalid-max-packet-size", MIN_PACKET_SIZE, MAX_PACKET_SIZE, DEFAULT_MAX_PACKET_SIZE);
  return {
    host,
    port,
    wsPort,
    wsPath,
    blynkPort,
    blynkTlsPort,
    options: {
      allowAnonymous: props.allowAnonymous === true || props.allowAnonymous === "true",
      users: parseUsers(credentials.users),
      ...limits(props),
      maxPacketSize,
    },
    storage,
  };
}

/** The node's credentials: its users, and the Redis password. */
export interface BrokerNodeCredentials {
  users?: unknown;
  redisPassword?: unknown;
}

/** The `persistence`, `dbPath`, `redisUrl` and `retention` settings; a node without `persistence` (an older flow) keeps memory. */
export function parseStorage(props: BrokerNodeProps, context: BrokerNodeContext = {}, credentials: BrokerNodeCredentials = {}): StorageSettings {
  const persistence = isBlank(props.persistence) ? "memory" : text(props.persistence).trim();
  if (!(ACCEPTED_PERSISTENCE as readonly string[]).includes(persistence)) {
    throw new BrokerConfigError("invalid-persistence", { value: persistence, accepted: ACCEPTED_PERSISTENCE.join(", ") });
  }
  if (persistence === "memory") return { kind: "memory" };
  const retentionDays = wholeNumber(props.retention, "retention", 0, MAX_RETENTION_DAYS) ?? DEFAULT_RETENTION_DAYS;
  if (persistence === "sqlite") return { kind: "sqlite", file: databaseFile(props.dbPath, context), retentionDays };
  const url = isBlank(props.redisUrl) ? DEFAULT_REDIS_URL : text(props.redisUrl).trim();
  const problem = redisUrlProblem(url);
  if (problem !== undefined) throw new BrokerConfigError("invalid-redis-url", { error: problem });
  const password = typeof credentials.redisPassword === "string" && credentials.redisPassword !== "" ? credentials.redisPassword : undefined;
  // Every instance running this flow shares the data under this broker node's id.
  const prefix = `iot-bridge:${context.nodeId ?? "broker"}:`;
  return { kind: "redis", url, ...(password === undefined ? {} : { password }), prefix, retentionDays };
}

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

/** What is wrong with a Redis URL, never quoting it (it may hold a password). */
function redisUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL (expected redis://host:port/db)";
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") return `it must start with redis:// or rediss:// (not ${parsed.protocol}//)`;
  if (parsed.hostname === "") return "it names no host";
  const db = parsed.pathname.replace(/^\/+/, "");
  if (db !== "" && !/^\d{1,2}$/.test(db)) return "its database (after the last /) must be a number";
  return undefined;
}

/** The SQLite file: absolute as given, relative under the userDir, blank = `<userDir>/iot-bridge/<node id>.sqlite`. */
function databaseFile(dbPath: unknown, context: BrokerNodeContext): string {
  const given = isBlank(dbPath) ? "" : text(dbPath).trim();
  if (given.includes("\u0000")) throw new BrokerConfigError("invalid-db-path", { value: given.replaceAll("\u0000", "\\0") });
  if (given !== "" && isAbsolute(given)) return resolve(given);
  const userDir = context.userDir;
  if (userDir === undefined || userDir === "") throw new BrokerConfigError("no-user-dir", { value: given });
  if (given !== "") return resolve(userDir, given);
  // Node ids are hex with an optional dot; anything else a hand-written flow put there becomes "_".
  const name = (context.nodeId ?? "broker").replace(/[^A-Za-z0-9._-]/g, "_");
  return join(resolve(userDir), "iot-bridge", `${name}.sqlite`);
}

/** The throttling and rate-limit settings; absent ones leave the engine's defaults. */
function limits(props: BrokerNodeProps): Pick<BrokerOptions, "authThrottle" | "deviceRateLimit" | "userRateLimit" | "maxQueuedMessages"> {
  const out: Pick<BrokerOptions, "authThrottle" | "deviceRateLimit" | "userRateLimit" | "maxQueuedMessages"> = {};
  const failures = wholeNumber(props.maxAuthFailures, "maxAuthFailures", 0, 1000);
  const lockout = wholeNumber(props.authLockout, "authLockout", 1, 86_400);
  if (failures === 0) out.authThrottle = false;
  else if (failures !== undefined || lockout !== undefined) {
    out.authThrottle = { ...(failures === undefined ? {} : { maxFailures: failures }), ...(lockout === undefined ? {} : { lockoutMs: lockout * 1000 }) };
  }
  const device = rateLimit(props.deviceRateLimit, props.deviceRateBurst, "deviceRateLimit", "deviceRateBurst");
  if (device !== undefined) out.deviceRateLimit = device;
  const user = rateLimit(props.userRateLimit, props.userRateBurst, "userRateLimit", "userRateBurst");
  if (user !== undefined) out.userRateLimit = user;
  const queued = wholeNumber(props.maxQueuedMessages, "maxQueuedMessages", 1, MAX_QUEUED_MESSAGES);
  if (queued !== undefined) out.maxQueuedMessages = queued;
  return out;
}

function rateLimit(rate: unknown, burst: unknown, rateField: string, burstField: string): RateLimit | 0 | undefined {
  const perSecond = isBlank(rate) ? undefined : Number(text(rate).trim());
  if (perSecond !== undefined && !(Number.isFinite(perSecond) && perSecond >= 0 && perSecond <= 1_000_000)) {
    throw new BrokerConfigError("invalid-rate", { field: rateField, value: text(rate).trim() });
  }
  const size = wholeNumber(burst, burstField, 1, 1_000_000);
  if (perSecond === undefined) {
    if (size !== undefined) throw new BrokerConfigError("burst-without-rate", { field: burstField, rate: rateField });
    return undefined;
  }
  if (perSecond === 0) return 0;
  return { perSecond, burst: size ?? Math.max(1, Math.ceil(perSecond * 2)) };
}

function wholeNumber(value: unknown, field: string, min: number, max: number): number | undefined {
  if (isBlank(value)) return undefined;
  const given = text(value).trim();
  const n = Number(given);
  if (!/^\d+$/.test(given) || n < min || n > max) {
    throw new BrokerConfigError("invalid-whole-number", { field, value: given, min: String(min), max: String(max) });
  }
  return n;
}

/**
 * The `users` credential: a JSON array of {username, hash, publish, subscribe}, where `hash` is a
 * salted password hash (password-hash.ts); old and hand-written flows give `password` in clear
 * instead (the node hashes it and stores the hash). Empty = none. A given `password` wins over a
 * `hash`: it is what a person typed last.
 */
export function parseUsers(raw: unknown): BrokerUser[] {
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) return [];
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch (err) {
      // Only the position: V8's message may quote the text around it, i.e. part of a password.
      const position = /position (\d+)/.exec((err as Error).message)?.[1];
      throw new BrokerConfigError("invalid-users", { error: position === undefined ? "not valid JSON" : `not valid JSON (at character ${position})` });
    }
  }
  if (!Array.isArray(value)) throw new BrokerConfigError("invalid-users", { error: "expected a list of users" });
  return value.map((entry: unknown, i): BrokerUser => {
    if (typeof entry !== "object" || entry === null) {
      throw new BrokerConfigError("invalid-users", { error: `user ${i + 1} is not an object` });
    }
    const u = entry as Record<string, unknown>;
    const user = {
      username: typeof u.username === "string" ? u.username.trim() : "",
      publish: patterns(u.publish),
      subscribe: patterns(u.subscribe),
    };
    const password = typeof u.password === "string" ? u.password : "";
    if (password === "" && typeof u.hash === "string" && u.hash !== "") return { ...user, hash: u.hash };
    return { ...user, password };
  });
}

/** The stored form of the users credential: hashes only (no clear-text password), or "" for none. */
export function serialiseUsers(users: readonly BrokerUser[]): string {
  if (users.length === 0) return "";
  return JSON.stringify(
    users.map((u) => {
      if (u.hash === undefined) throw new TypeError(`user "${u.username}" has no password hash to store`);
      return { username: u.username, hash: u.hash, publish: u.publish, subscribe: u.subscribe };
    }),
  );
}

/** Accepts a list or a comma-separated string; a missing value means everything (`#`). */
function patterns(value: unknown): string[] {
  if (value === undefined || value === null) return ["#"];
  const list = Array.isArray(value) ? value : text(value).split(",");
  return list.map((p: unknown) => text(p).trim()).filter((p) => p !== "");
}

function parsePort(value: unknown, field: string, fallback: number | undefined): number {
  if (isBlank(value) && fallback !== undefined) return fallback;
  const given = text(value).trim();
  const port = Number(given);
  if (!/^\d+$/.test(given) || port < 1 || port > 65535) {
    throw new BrokerConfigError("invalid-port", { field, value: given });
  }
  return port;
}

/** Two listeners of the broker on one port (all are on the bind address) cannot both start. */
function checkPortClashes(ports: [string, number | undefined][]): void {
  const seen = new Map<number, string>();
  for (const [field, port] of ports) {
    if (port === undefined) continue;
    const other = seen.get(port);
    if (other !== undefined) throw new BrokerConfigError("port-clash", { field, port: String(port), other });
    seen.set(port, field);
  }
}

/** Below 1 kB a CONNECT with credentials might not fit; above, MQTT's own maximum. */
const MIN_PACKET_SIZE = 1024;
const MAX_PACKET_SIZE = 268_435_460;

function parseWhole(value: unknown, key: string, min: number, max: number, fallback: number): number {
  if (isBlank(value)) return fallback;
  const given = text(value).trim();
  const n = Number(given);
  if (!/^\d+$/.test(given) || n < min || n > max) throw new BrokerConfigError(key, { value: given, min: String(min), max: String(max) });
  return n;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || text(value).trim() === "";
}

/** Flow properties are usually strings or numbers; anything else is shown as JSON in messages. */
function text(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : JSON.stringify(value);
}
