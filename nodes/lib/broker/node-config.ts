/**
 * Turns the `iot-broker` node's flow properties and credentials into engine options. Pure, so
 * every way a user can get it wrong is table-tested; failures carry an i18n key for the node.
 */
import { DEFAULT_MAX_PACKET_SIZE } from "./guards.js";
import type { BrokerOptions, BrokerUser } from "./types.js";

export interface BrokerNodeProps {
  port?: unknown;
  bind?: unknown;
  allowAnonymous?: unknown;
  wsPort?: unknown;
  wsPath?: unknown;
  persistence?: unknown;
  /** Largest MQTT packet a client may send, in bytes (blank = 262144). */
  maxPacketSize?: unknown;
}

export interface BrokerNodeSettings {
  host: string;
  port: number;
  /** Own WebSocket port, when set. */
  wsPort: number | undefined;
  /** WebSocket path on Node-RED's HTTP server (without httpNodeRoot), when set. */
  wsPath: string | undefined;
  options: BrokerOptions;
}

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

export function parseBrokerNode(props: BrokerNodeProps, credentials: { users?: unknown } = {}): BrokerNodeSettings {
  const port = parsePort(props.port, "port", 1883);
  const wsPort = isBlank(props.wsPort) ? undefined : parsePort(props.wsPort, "wsPort", undefined);
  let wsPath: string | undefined;
  if (!isBlank(props.wsPath)) {
    wsPath = text(props.wsPath).trim();
    if (!wsPath.startsWith("/")) throw new BrokerConfigError("invalid-path", { value: wsPath });
  }
  const host = isBlank(props.bind) ? "0.0.0.0" : text(props.bind).trim();
  const persistence = isBlank(props.persistence) ? "memory" : text(props.persistence);
  if (persistence !== "memory") throw new BrokerConfigError("invalid-persistence", { value: persistence });
  const maxPacketSize = parseWhole(props.maxPacketSize, "invalid-max-packet-size", MIN_PACKET_SIZE, MAX_PACKET_SIZE, DEFAULT_MAX_PACKET_SIZE);
  return {
    host,
    port,
    wsPort,
    wsPath,
    options: {
      allowAnonymous: props.allowAnonymous === true || props.allowAnonymous === "true",
      users: parseUsers(credentials.users),
      persistence: { kind: "memory" },
      maxPacketSize,
    },
  };
}

/** The `users` credential: a JSON array of {username, password, publish, subscribe}; empty = none. */
export function parseUsers(raw: unknown): BrokerUser[] {
  if (raw === undefined || raw === null || (typeof raw === "string" && raw.trim() === "")) return [];
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new BrokerConfigError("invalid-users", { error: `not valid JSON (${(err as Error).message})` });
    }
  }
  if (!Array.isArray(value)) throw new BrokerConfigError("invalid-users", { error: "expected a list of users" });
  return value.map((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null) {
      throw new BrokerConfigError("invalid-users", { error: `user ${i + 1} is not an object` });
    }
    const u = entry as Record<string, unknown>;
    return {
      username: typeof u.username === "string" ? u.username.trim() : "",
      password: typeof u.password === "string" ? u.password : "",
      publish: patterns(u.publish),
      subscribe: patterns(u.subscribe),
    };
  });
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
