/**
 * A `thingspeak-channel` config node's settings -> ThingSpeakLinkOptions, with every problem as
 * a ConfigError (transport/link-config.ts) whose key names a message of the
 * `thingspeak-channel.errors` catalog. No Node-RED here: the node passes config and credentials
 * in. No secret value ever goes into an error's params.
 */
import { brokerSetting, choiceSetting, ConfigError, eachAssignment, serverSetting, settingText as text } from "../transport/link-config.js";
import { toFieldNumber, type FieldNumber } from "./codec.js";
import { DEFAULT_SERVERS, type ThingSpeakConnection, type ThingSpeakLinkOptions } from "./link-base.js";

/** The config node's properties as they come from the flow (anything may be missing or odd). */
export interface ThingSpeakChannelProps {
  name?: unknown;
  connection?: unknown;
  server?: unknown;
  broker?: unknown;
  channelId?: unknown;
  updateInterval?: unknown;
  fieldNames?: unknown;
  /** local: the device's Allow Publish / Allow Subscribe (booleans; missing = true, as before they existed). */
  allowPublish?: unknown;
  allowSubscribe?: unknown;
}

export interface ThingSpeakCredentials {
  clientId?: unknown;
  username?: unknown;
  password?: unknown;
  writeKey?: unknown;
  readKey?: unknown;
}

/** A day: longer intervals are surely a typo (seconds taken for ms). */
const MAX_INTERVAL_SEC = 86_400;

/** A credential: trimmed text, "" when unset. Spaces or control characters inside are refused. */
function secret(value: unknown, what: string): string {
  const s = typeof value === "string" ? value.trim() : "";
  if (/[\s\u0000-\u001f\u007f]/.test(s)) throw new ConfigError("invalid-credential", { what });
  return s;
}

/** Validates everything; `id` is the config node's id (the hosted channel's id in local mode). */
export function parseThingSpeakChannel(id: string, props: ThingSpeakChannelProps, credentials: ThingSpeakCredentials | undefined): ThingSpeakLinkOptions {
  const connection = choiceSetting<ThingSpeakConnection>(props.connection, ["mqtt", "rest", "local"], "invalid-connection");
  const rawId = text(props.channelId);
  if (rawId === "") throw new ConfigError("missing-channel-id");
  if (!/^[1-9]\d{0,15}$/.test(rawId) || !Number.isSafeInteger(Number(rawId))) throw new ConfigError("invalid-channel-id", { value: rawId });
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
      throw new ConfigError("missing-mqtt-credentials", { missing: missing.map((k) => (k === "clientId" ? "client id" : k)).join(", ") });
    }
    Object.assign(options, mqtt);
  }
  if (connection === "local") {
    options.broker = brokerSetting(props.broker);
    const names = parseFieldNames(text(props.fieldNames));
    if (Object.keys(names).length > 0) options.fieldNames = names;
    if (props.allowPublish === false || props.allowPublish === "false") options.allowPublish = false;
    if (props.allowSubscribe === false || props.allowSubscribe === "false") options.allowSubscribe = false;
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
    throw new ConfigError("invalid-update-interval", { value });
  }
  return Math.round(seconds * 1000);
}

/** The server URL for mqtt or rest mode (empty = ThingSpeak's own). */
export function parseServer(connection: Exclude<ThingSpeakConnection, "local">, server: string): string {
  return serverSetting(server, { kind: connection === "mqtt" ? "mqtt" : "http", fallback: DEFAULT_SERVERS[connection], key: `invalid-${connection}-server` });
}

/** "1=Temperature, 2=Humidity" (commas, semicolons or line breaks) -> {1: "Temperature", 2: "Humidity"}. */
export function parseFieldNames(spec: string): Partial<Record<FieldNumber, string>> {
  const names: Partial<Record<FieldNumber, string>> = {};
  eachAssignment(spec, "invalid-field-names", "1=Temperature", (given, name) => {
    const n = toFieldNumber(given);
    if (name === "") throw new Error("the name is empty");
    if (names[n] !== undefined) throw new Error(`field ${n} is named twice`);
    names[n] = name;
  });
  return names;
}
