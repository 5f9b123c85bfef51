/**
 * A `thingsboard-device` config node's settings -> TbLinkOptions, with every problem as a
 * TbConfigError whose key names a message of the `thingsboard-device.errors` catalog. No
 * Node-RED here: the node passes its config and credentials in (and resolves the tls node).
 *
 * Decisions: `auth: "basic"` (mqtt) connects with the basic MQTT credentials instead of the
 * token; in local mode it lets the hosted device also connect with them, and the token may
 * then be left empty (a random one is used; such a device cannot use the HTTP API). A gateway
 * needs mqtt or local. Credentials never go in the server URL. `qos` ("1" by default, or "0")
 * is the QoS of telemetry and attribute publishes in mqtt mode; it is checked in every mode.
 */
import { createHmac, randomBytes } from "node:crypto";
import { redactUrls } from "../transport/redact.js";
import { connectCredentials } from "./codec.js";
import type { TbConnection, TbLinkOptions } from "./link-base.js";
import { DEFAULT_HTTP_SERVER } from "./link-http.js";
import { DEFAULT_MQTT_SERVER } from "./link-mqtt.js";

/** Keys the placeholder tokens of devices that log in with basic credentials (never leaves the process). */
const PLACEHOLDER_KEY = randomBytes(32);

export class TbConfigError extends Error {
  override readonly name = "TbConfigError";
  constructor(
    /** Key under `thingsboard-device.errors`. */
    readonly key: string,
    readonly params: Record<string, string> = {},
  ) {
    super(`${key}${Object.keys(params).length === 0 ? "" : ` ${JSON.stringify(params)}`}`);
  }
}

/** The config node's properties as they come from the flow (anything may be missing or odd). */
export interface TbDeviceProps {
  name?: unknown;
  connection?: unknown;
  server?: unknown;
  broker?: unknown;
  gateway?: unknown;
  auth?: unknown;
  /** QoS of telemetry and attribute publishes in mqtt mode: "1" (default) or "0". */
  qos?: unknown;
}

export interface TbCredentials {
  token?: unknown;
  clientId?: unknown;
  username?: unknown;
  password?: unknown;
}

const MQTT_SCHEMES = new Set(["mqtt:", "mqtts:", "ws:", "wss:", "tcp:", "ssl:"]);
const HTTP_SCHEMES = new Set(["http:", "https:"]);

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

/** Validates everything; `id` is the config node's id (the hosted device's id in local mode). */
export function parseThingsBoardDevice(id: string, props: TbDeviceProps, credentials: TbCredentials | undefined): TbLinkOptions {
  const connection = text(props.connection) === "" ? "mqtt" : text(props.connection);
  if (connection !== "mqtt" && connection !== "http" && connection !== "local") {
    throw new TbConfigError("invalid-connection", { value: connection });
  }
  const auth = text(props.auth) === "" ? "token" : text(props.auth);
  if (auth !== "token" && auth !== "basic") throw new TbConfigError("invalid-auth", { value: auth });
  if (auth === "basic" && connection === "http") throw new TbConfigError("basic-needs-mqtt");
  const gateway = props.gateway === true || props.gateway === "true";
  if (gateway && connection === "http") throw new TbConfigError("gateway-needs-mqtt");
  const qosText = text(props.qos) === "" ? "1" : text(props.qos);
  if (qosText !== "0" && qosText !== "1") throw new TbConfigError("invalid-qos", { value: qosText });
  const qos = qosText === "0" ? 0 : 1;

  const basic = auth === "basic" ? parseBasic(credentials) : undefined;
  let token = typeof credentials?.token === "string" ? credentials.token.trim() : "";
  if (token === "") {
    if (basic === undefined) throw new TbConfigError("missing-token");
    // mqtt with basic credentials does not send it; local hosts the device under an unguessable
    // one, the same for this node all through the process, so a redeploy that changes nothing
    // finds the same settings (hosting.ts) and keeps the device connected.
    token = createHmac("sha256", PLACEHOLDER_KEY).update(id).digest().subarray(0, 15).toString("base64url");
  }
  if (/[\s\u0000-\u001f\u007f]/.test(token)) throw new TbConfigError("invalid-token");
  const name = text(props.name) === "" ? id : text(props.name);
  const options: TbLinkOptions = { connection, token, name, gateway, qos, ...(basic === undefined ? {} : { basic }) };
  if (connection === "local") {
    const broker = text(props.broker);
    if (broker === "") throw new TbConfigError("missing-broker");
    return { ...options, broker, deviceId: id };
  }
  return { ...options, server: parseServer(connection, text(props.server)) };
}

function parseBasic(credentials: TbCredentials | undefined): NonNullable<TbLinkOptions["basic"]> {
  const pick = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const given = { clientId: pick(credentials?.clientId), username: pick(credentials?.username), password: pick(credentials?.password) };
  try {
    connectCredentials({ type: "basic", ...given });
  } catch (err) {
    throw new TbConfigError("invalid-basic", { error: err instanceof Error ? err.message : String(err) });
  }
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/** The server URL for mqtt or http mode (empty = ThingsBoard Cloud). */
export function parseServer(connection: Exclude<TbConnection, "local">, server: string): string {
  if (server === "") return connection === "mqtt" ? DEFAULT_MQTT_SERVER : DEFAULT_HTTP_SERVER;
  const key = connection === "mqtt" ? "invalid-mqtt-server" : "invalid-http-server";
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new TbConfigError(key, { value: redactUrls(server) });
  }
  const schemes = connection === "mqtt" ? MQTT_SCHEMES : HTTP_SCHEMES;
  if (!schemes.has(url.protocol.toLowerCase()) || url.hostname === "") throw new TbConfigError(key, { value: redactUrls(server) });
  // The token is a credential and lives in the credentials, never in a URL.
  if (url.username !== "" || url.password !== "") throw new TbConfigError("server-credentials", { value: redactUrls(server) });
  if (connection === "http" && (url.search !== "" || url.hash !== "" || url.pathname.replace(/\/+$/, "") !== "")) {
    throw new TbConfigError(key, { value: redactUrls(server) });
  }
  return connection === "http" ? server.replace(/\/+$/, "") : server;
}
