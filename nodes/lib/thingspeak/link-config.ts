/**
 * A `thingspeak-channel` config node's settings -> ThingSpeakLinkOptions, with every problem as
 * a ThingSpeakConfigError whose key names a message of the `thingspeak-channel.errors` catalog
 * (so the node layer can translate it). No Node-RED here: the node passes config and credentials in.
 * No secret value ever goes into an error's params.
 */
import { redactUrls } from "../transport/redact.js";
import { toFieldNumber, type FieldNumber } from "./codec.js";
import type { ThingSpeakConnection, ThingSpeakLinkOptions } from "./link-base.js";
import { DEFAULT_MQTT_SERVER } from "./link-mqtt.js";
import { DEFAULT_REST_SERVER } from "./link-rest.js";

export class ThingSpeakConfigError extends Error {
  override readonly name = "ThingSpeakConfigError";
  constructor(
    /** Key under `thingspeak-channel.errors`. */
    readonly key: string,
    readonly params: Record<string, string> = {},
  ) {
    super(`${key}${Object.keys(params).length === 0 ? "" : ` ${JSON.stringify(params)}`}`);
  }
}

/** The config node's properties as they come from the flow (anything may be missing or odd). */
export interface ThingSpeakChannelProps {
  name?: unknown;
  connection?: unknown;
  server?: unknown;
  broker?: unknown;
  channelId?: unknown;
  updateInterval?: unknown;
  fieldNames?: unknown;
}

export interface ThingSpeakCredentials {
  clientId?: unknown;
  username?: unknown;
  password?: unknown;
  writeKey?: unknown;
  readKey?: unknown;
}

const MQTT_SCHEMES = new Set(["mqtt:", "mqtts:", "ws:", "wss:", "tcp:", "ssl:"]);
const HTTP_SCHEMES = new Set(["http:", "https:"]);
/** A day: longer intervals are surely a typo (seconds taken for ms). */
const MAX_INTERVAL_SEC = 86_400;

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

/** A credential: trimmed text, "" when unset. Spaces or control characters inside are refused. */
function secret(value: unknown, what: string): string {
  const s = typeof value === "string" ? value.trim() : "";
  if (/[\s\u0000-\u001f\u007f]/.test(s)) throw new ThingSpeakConfigError("invalid-credential", { what });
  return s;
}

/** Validates everything; `id` is the config node's id (the hosted channel's id in local mode). */
export function parseThingSpeakChannel(id: string, props: ThingSpeakChannelProps, credentials: ThingSpeakCredentials | undefined): ThingSpeakLinkOptions {
  const connection = text(props.connection) === "" ? "mqtt" : text(props.connection);
  if (connection !== "mqtt" && connection !== "rest" && connection !== "local") {
    throw new ThingSpeakConfigError("invalid-connection", { value: connection });
  }
  const rawId = text(props.channelId);
  if (rawId === "") throw new ThingSpeakConfigError("missing-channel-id");
  if (!/^[1-9]\d{0,15}$/.test(rawId) || !Number.isSafeInteger(Number(rawId))) throw new ThingSpeakConfigError("invalid-channel-id", { value: rawId });
  const options: ThingSpeakLinkOptions = {
    connection,
    id,
    channelId: Number(rawId),
    name: text(props.name) === "" ? id : text(props.name),
    updateIntervalMs: parseInterval(text(props.updateInterval)),
  };
  const c = credentials ?? {};
  const mqtt = { clientId: secret(c.clientId, "client id"), username: secret(c.username, "username"), password: secret(c.password, "password") };
  const writeKey = secret(c.writeKey, "write API key");
  const readKey = secret(c.readKey, "read API key");
  if (writeKey !== "") options.writeKey = writeKey;
  if (readKey !== "") options.readKey = readKey;
  if (connection === "mqtt" || connection === "local") {
    const missing = (["clientId", "username", "password"] as const).filter((k) => mqtt[k] === "");
    if (missing.length > 0) {
      throw new ThingSpeakConfigError("missing-mqtt-credentials", { missing: missing.map((k) => (k === "clientId" ? "client id" : k)).join(", ") });
    }
    Object.assign(options, mqtt);
  }
  if (connection === "local") {
    const broker = text(props.broker);
    if (broker === "") throw new ThingSpeakConfigError("missing-broker");
    options.broker = broker;
    const names = parseFieldNames(text(props.fieldNames));
    if (Object.keys(names).length > 0) options.fieldNames = names;
    return options;
  }
  options.server = parseServer(connection, text(props.server));
  return options;
}

/** "15" (free), "1" (paid) or any number of seconds from 1 -> ms; empty = 15 s. */
export function parseInterval(value: string): number {
  if (value === "") return 15_000;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_INTERVAL_SEC) {
    throw new ThingSpeakConfigError("invalid-update-interval", { value });
  }
  return Math.round(seconds * 1000);
}

/** The server URL for mqtt or rest mode (empty = ThingSpeak's own). */
export function parseServer(connection: Exclude<ThingSpeakConnection, "local">, server: string): string {
  if (server === "") return connection === "mqtt" ? DEFAULT_MQTT_SERVER : DEFAULT_REST_SERVER;
  const key = connection === "mqtt" ? "invalid-mqtt-server" : "invalid-rest-server";
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ThingSpeakConfigError(key, { value: redactUrls(server) });
  }
  const schemes = connection === "mqtt" ? MQTT_SCHEMES : HTTP_SCHEMES;
  if (!schemes.has(url.protocol.toLowerCase()) || url.hostname === "") throw new ThingSpeakConfigError(key, { value: redactUrls(server) });
  // Credentials belong in the node's credentials, where they are kept secret, never in a URL.
  if (url.username !== "" || url.password !== "") throw new ThingSpeakConfigError("server-credentials", { value: redactUrls(server) });
  if (connection === "rest" && (url.search !== "" || url.hash !== "")) throw new ThingSpeakConfigError(key, { value: redactUrls(server) });
  return connection === "rest" ? server.replace(/\/+$/, "") : server;
}

/** "1=Temperature, 2=Humidity" (commas, semicolons or line breaks) -> {1: "Temperature", 2: "Humidity"}. */
export function parseFieldNames(spec: string): Partial<Record<FieldNumber, string>> {
  const names: Partial<Record<FieldNumber, string>> = {};
  for (const item of spec.split(/[,\n;]/)) {
    const entry = item.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new ThingSpeakConfigError("invalid-field-names", { entry, error: 'an entry must look like "1=Temperature"' });
    const name = entry.slice(eq + 1).trim();
    let n: FieldNumber;
    try {
      n = toFieldNumber(entry.slice(0, eq).trim());
    } catch (err) {
      throw new ThingSpeakConfigError("invalid-field-names", { entry, error: err instanceof Error ? err.message : String(err) });
    }
    if (name === "") throw new ThingSpeakConfigError("invalid-field-names", { entry, error: "the name is empty" });
    if (names[n] !== undefined) throw new ThingSpeakConfigError("invalid-field-names", { entry, error: `field ${n} is named twice` });
    names[n] = name;
  }
  return names;
}
