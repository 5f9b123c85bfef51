/**
 * A `blynk-device` config node's settings -> BlynkLinkOptions, with every problem as a
 * ConfigError (transport/link-config.ts) whose key names a message of the `blynk-device.errors`
 * catalog. No Node-RED here: the node passes its config and credentials in.
 */
import { redactUrls } from "../transport/redact.js";
import { brokerSetting, choiceSetting, ConfigError, eachAssignment, serverSetting, settingText as text } from "../transport/link-config.js";
import { assertDatastreamName } from "./codec.js";
import { parsePin } from "./http-codec.js";
import { DEFAULT_SERVERS, type BlynkConnection, type BlynkLinkOptions } from "./link-base.js";
import { parseBinaryServer } from "./link-binary.js";

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
  syncOnConnect?: unknown;
  /** local: "device" (one hosted device, the default) or "fleet" (the devices of a fleet table, docs/ARCHITECTURE.md 3.8). */
  hosting?: unknown;
}

/** Validates everything; `id` is the config node's id (the hosted device's id in local mode). */
export function parseBlynkDevice(id: string, props: BlynkDeviceProps, credentials: { token?: unknown } | undefined): BlynkLinkOptions {
  const connection = choiceSetting<BlynkConnection>(props.connection, ["mqtt", "https", "local", "binary"], "invalid-connection");
  // A fleet's devices have tokens of their own (in its table): the template's node needs none.
  const fleet = connection === "local" && choiceSetting(props.hosting, ["device", "fleet"], "invalid-hosting") === "fleet";
  const token = typeof credentials?.token === "string" ? credentials.token.trim() : "";
  if (token === "" && !fleet) throw new ConfigError("missing-token");
  if (/[\s\u0000-\u001f\u007f/?#&]/.test(token)) throw new ConfigError("invalid-token");
  const options: BlynkLinkOptions = { connection, token: fleet ? "" : token, name: text(props.name) === "" ? id : text(props.name) };
  const templateId = text(props.templateId);
  const firmwareVersion = text(props.firmwareVersion);
  if (templateId !== "") options.templateId = templateId;
  if (firmwareVersion !== "") options.firmwareVersion = firmwareVersion;
  if (fleet) return { ...parseLocal(id, props, options), fleet: {} };
  if (connection === "local") return parseLocal(id, props, options);
  if (connection === "binary") {
    options.server = parseBinaryServerSetting(text(props.server));
    const pins = parsePins(text(props.pins));
    if (Object.keys(pins).length > 0) options.pins = pins;
    return options;
  }
  options.server = parseServer(connection, text(props.server));
  return options;
}

/** local mode's settings (one device, or a fleet's shared ones: its template). */
function parseLocal(id: string, props: BlynkDeviceProps, options: BlynkLinkOptions): BlynkLinkOptions {
  options.broker = brokerSetting(props.broker);
  options.deviceId = id;
  const timeZone = text(props.timeZone);
  if (timeZone !== "") {
    if (!isTimeZone(timeZone)) throw new ConfigError("invalid-time-zone", { value: timeZone });
    options.timeZone = timeZone;
  }
  const pins = parsePins(text(props.pins));
  if (Object.keys(pins).length > 0) options.pins = pins;
  // A checkbox: true, or "true" from a flow file written by hand; anything else is off.
  if (props.syncOnConnect === true || props.syncOnConnect === "true") options.syncOnConnect = true;
  return options;
}

/** binary mode's server: tcp://host[:port] or tls://host[:port] (empty = Blynk.Cloud over TLS). */
export function parseBinaryServerSetting(server: string): string {
  if (server === "") return DEFAULT_SERVERS.binary;
  try {
    parseBinaryServer(server);
  } catch {
    throw new ConfigError(/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(server) ? "server-credentials" : "invalid-binary-server", { value: redactUrls(server) });
  }
  return server;
}

/** The server URL for mqtt or https mode (empty = Blynk.Cloud's GeoDNS host). */
export function parseServer(connection: "mqtt" | "https", server: string): string {
  return serverSetting(server, { kind: connection === "mqtt" ? "mqtt" : "http", fallback: DEFAULT_SERVERS[connection], key: `invalid-${connection}-server` });
}

/**
 * "V1=Temperature, V2=Humidity" (commas or line breaks) -> {v1: "Temperature", v2: "Humidity"}:
 * the pins of the self-hosted HTTPS API, and the datastream names of binary mode's pins. Names
 * keep inner spaces.
 */
export function parsePins(spec: string): Record<string, string> {
  const pins: Record<string, string> = {};
  eachAssignment(spec, "invalid-pins", "V1=Temperature", (given, name) => {
    const pin = parsePin(given);
    assertDatastreamName(name);
    if (Object.hasOwn(pins, pin)) throw new Error(`pin ${pin} is mapped twice`);
    pins[pin] = name;
  });
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
