/**
 * A `blynk-device` config node's settings -> BlynkLinkOptions, with every problem as a
 * BlynkConfigError whose key names a message of the `blynk-device.errors` catalog (so the node
 * layer can translate it). No Node-RED here: the node passes its config and credentials in.
 */
import { redactUrls } from "../transport/redact.js";
import { assertDatastreamName } from "./codec.js";
import { parsePin } from "./http-codec.js";
import type { BlynkConnection, BlynkLinkOptions } from "./link-base.js";
import { DEFAULT_HTTPS_SERVER } from "./link-https.js";
import { DEFAULT_MQTT_SERVER } from "./link-mqtt.js";

export class BlynkConfigError extends Error {
  override readonly name = "BlynkConfigError";
  constructor(
    /** Key under `blynk-device.errors`. */
    readonly key: string,
    readonly params: Record<string, string> = {},
  ) {
    super(`${key}${Object.keys(params).length === 0 ? "" : ` ${JSON.stringify(params)}`}`);
  }
}

/** The config node's properties as they come from the flow (anything may be missing or odd). */
export interface BlynkDeviceProps {
  name?: unknown;
  connection?: unknown;
  server?: unknown;
  broker?: unknown;
  templateId?: unknown;
  firmwareVersion?: unknown;
  timeZone?: unknown;
  pins?: unknown;
}

const MQTT_SCHEMES = new Set(["mqtt:", "mqtts:", "ws:", "wss:", "tcp:", "ssl:"]);
const HTTP_SCHEMES = new Set(["http:", "https:"]);

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

/** Validates everything; `id` is the config node's id (the hosted device's id in local mode). */
export function parseBlynkDevice(id: string, props: BlynkDeviceProps, credentials: { token?: unknown } | undefined): BlynkLinkOptions {
  const connection = text(props.connection) === "" ? "mqtt" : text(props.connection);
  if (connection !== "mqtt" && connection !== "https" && connection !== "local") {
    throw new BlynkConfigError("invalid-connection", { value: connection });
  }
  const token = typeof credentials?.token === "string" ? credentials.token.trim() : "";
  if (token === "") throw new BlynkConfigError("missing-token");
  if (/[\s\u0000-\u001f\u007f/?#&]/.test(token)) throw new BlynkConfigError("invalid-token");
  const options: BlynkLinkOptions = { connection, token, name: text(props.name) === "" ? id : text(props.name) };
  const templateId = text(props.templateId);
  const firmwareVersion = text(props.firmwareVersion);
  if (templateId !== "") options.templateId = templateId;
  if (firmwareVersion !== "") options.firmwareVersion = firmwareVersion;
  if (connection === "local") {
    const broker = text(props.broker);
    if (broker === "") throw new BlynkConfigError("missing-broker");
    options.broker = broker;
    options.deviceId = id;
    const timeZone = text(props.timeZone);
    if (timeZone !== "") {
      if (!isTimeZone(timeZone)) throw new BlynkConfigError("invalid-time-zone", { value: timeZone });
      options.timeZone = timeZone;
    }
    const pins = parsePins(text(props.pins));
    if (Object.keys(pins).length > 0) options.pins = pins;
    return options;
  }
  options.server = parseServer(connection, text(props.server));
  return options;
}

/** The server URL for mqtt or https mode (empty = Blynk.Cloud's GeoDNS host). */
export function parseServer(connection: Exclude<BlynkConnection, "local">, server: string): string {
  if (server === "") return connection === "mqtt" ? DEFAULT_MQTT_SERVER : DEFAULT_HTTPS_SERVER;
  const key = connection === "mqtt" ? "invalid-mqtt-server" : "invalid-https-server";
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new BlynkConfigError(key, { value: redactUrls(server) });
  }
  const schemes = connection === "mqtt" ? MQTT_SCHEMES : HTTP_SCHEMES;
  if (!schemes.has(url.protocol.toLowerCase()) || url.hostname === "") throw new BlynkConfigError(key, { value: redactUrls(server) });
  // The token is the only credential and it lives in the credentials, never in a URL.
  if (url.username !== "" || url.password !== "") throw new BlynkConfigError("server-credentials", { value: redactUrls(server) });
  if (connection === "https" && (url.search !== "" || url.hash !== "")) throw new BlynkConfigError(key, { value: redactUrls(server) });
  return connection === "https" ? server.replace(/\/+$/, "") : server;
}

/**
 * "V1=Temperature, V2=Humidity" (commas or line breaks) -> {v1: "Temperature", v2: "Humidity"}:
 * the pins of the self-hosted HTTPS API. Names keep inner spaces.
 */
export function parsePins(spec: string): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const item of spec.split(/[,\n;]/)) {
    const entry = item.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new BlynkConfigError("invalid-pins", { entry, error: 'an entry must look like "V1=Temperature"' });
    const name = entry.slice(eq + 1).trim();
    try {
      const pin = parsePin(entry.slice(0, eq).trim());
      assertDatastreamName(name);
      if (Object.hasOwn(pins, pin)) throw new Error(`pin ${pin} is mapped twice`);
      pins[pin] = name;
    } catch (err) {
      throw new BlynkConfigError("invalid-pins", { entry, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return pins;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
