/**
 * A `thingsboard-device` config node's settings -> TbLinkOptions, with every problem as a
 * ConfigError (transport/link-config.ts) whose key names a message of the `thingsboard-device.errors` catalog. No
 * Node-RED here: the node passes its config and credentials in (and resolves the tls node).
 *
 * Decisions: `auth: "basic"` (mqtt) connects with the basic MQTT credentials instead of the
 * token; in local mode it lets the hosted device also connect with them, and the token may
 * then be left empty (a random one is used; such a device cannot use the HTTP API). A gateway
 * needs mqtt or local. Credentials never go in the server URL. `qos` ("1" by default, or "0")
 * is the QoS of telemetry and attribute publishes in mqtt mode; it is checked in every mode.
 * `provision` (mqtt): with no token (and no basic credentials), the device provisions itself
 * with the profile's key and secret under the node's name (link-mqtt.ts); a token present wins,
 * so a device keeps what it was given. The name is required then (ThingsBoard's device name).
 */
import { createHmac, randomBytes } from "node:crypto";
import { brokerSetting, choiceSetting, ConfigError, serverSetting, settingText as text } from "../transport/link-config.js";
import { connectCredentials } from "./codec.js";
import type { ProvisionStrategy } from "./provisioning.js";
import { DEFAULT_SERVERS, type TbConnection, type TbLinkOptions, type TbProvisionOptions } from "./link-base.js";

/** Keys the placeholder tokens of devices that log in with basic credentials (never leaves the process). */
const PLACEHOLDER_KEY = randomBytes(32);

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
  /** mqtt: download firmware ThingsBoard announces (docs/PROTOCOLS.md 4.6). */
  firmware?: unknown;
  /** Chunk size in bytes (1..65536, default 4096). */
  firmwareChunk?: unknown;
  /** Largest image in KiB (1..16384, default 4096). */
  firmwareMaxKb?: unknown;
  /** mqtt: provision the device when it has no credentials yet (docs/PROTOCOLS.md 4.3). */
  provision?: unknown;
  /** The device profile's provision key (not a secret in ThingsBoard's UI; the secret is a credential). */
  provisionKey?: unknown;
  /** What to ask for: "ACCESS_TOKEN" (default) or "MQTT_BASIC". */
  provisionType?: unknown;
  /** local fleet: "allow-new" (default) or "pre-provisioned". */
  provisionStrategy?: unknown;
  /** local fleet: ms a request waits for a flow's answer. */
  provisionWait?: unknown;
  /** local: "device" (one hosted device, the default) or "fleet" (the devices of a fleet table, docs/ARCHITECTURE.md 3.8). */
  hosting?: unknown;
}

export interface TbCredentials {
  token?: unknown;
  clientId?: unknown;
  username?: unknown;
  password?: unknown;
  provisionSecret?: unknown;
}

/** Validates everything; `id` is the config node's id (the hosted device's id in local mode). */
export function parseThingsBoardDevice(
  id: string,
  props: TbDeviceProps,
  credentials: TbCredentials | undefined,
  provisioned: TbProvisionOptions["provisioned"] = () => undefined,
): TbLinkOptions {
  const connection = choiceSetting<TbConnection>(props.connection, ["mqtt", "http", "local"], "invalid-connection");
  const auth = choiceSetting(props.auth, ["token", "basic"], "invalid-auth");
  if (auth === "basic" && connection === "http") throw new ConfigError("basic-needs-mqtt");
  const gateway = props.gateway === true || props.gateway === "true";
  if (gateway && connection === "http") throw new ConfigError("gateway-needs-mqtt");
  const qos = choiceSetting(props.qos, ["1", "0"], "invalid-qos") === "0" ? 0 : 1;
  if (connection === "local" && choiceSetting(props.hosting, ["device", "fleet"], "invalid-hosting") === "fleet") {
    // A device profile: each device of the fleet has its own credentials (in the fleet's table).
    if (gateway) throw new ConfigError("fleet-gateway");
    const name = text(props.name) === "" ? id : text(props.name);
    return { connection, token: "", name, gateway: false, qos, broker: brokerSetting(props.broker), deviceId: id, fleet: {} };
  }

  const basic = auth === "basic" ? parseBasic(credentials) : undefined;
  let token = typeof credentials?.token === "string" ? credentials.token.trim() : "";
  const name = text(props.name) === "" ? id : text(props.name);
  if (token === "" && basic === undefined && connection === "mqtt" && isOn(props.provision)) {
    const provision = parseProvision(props, credentials, provisioned);
    return { connection, token, name, gateway, qos, provision, server: parseServer(connection, text(props.server)) };
  }
  if (token === "") {
    if (basic === undefined) throw new ConfigError("missing-token");
    // mqtt with basic credentials does not send it; local hosts the device under an unguessable
    // one, the same for this node all through the process, so a redeploy that changes nothing
    // finds the same settings (hosting.ts) and keeps the device connected.
    token = createHmac("sha256", PLACEHOLDER_KEY).update(id).digest().subarray(0, 15).toString("base64url");
  }
  if (/[\s\u0000-\u001f\u007f]/.test(token)) throw new ConfigError("invalid-token");
  const options: TbLinkOptions = { connection, token, name, gateway, qos, ...(basic === undefined ? {} : { basic }) };
  if (connection === "local") {
    return { ...options, broker: brokerSetting(props.broker), deviceId: id };
  }
  const firmware = connection === "mqtt" && (props.firmware === true || props.firmware === "true") ? parseFirmware(props) : undefined;
  return { ...options, server: parseServer(connection, text(props.server)), ...(firmware === undefined ? {} : { firmware }) };
}

/** Firmware download settings: whole numbers in range, empty -> the default. */
function parseFirmware(props: TbDeviceProps): NonNullable<TbLinkOptions["firmware"]> {
  const whole = (value: unknown, fallback: number, max: number, key: string): number => {
    const given = text(value);
    const n = given === "" ? fallback : Number(given);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new ConfigError(key, { value: given });
    return n;
  };
  return { chunkBytes: whole(props.firmwareChunk, 4096, 65536, "invalid-firmware-chunk"), maxBytes: whole(props.firmwareMaxKb, 4096, 16384, "invalid-firmware-max") * 1024 };
}

/** A fleet's provisioning settings (docs/PROTOCOLS.md 4.3), or undefined when provisioning is off. */
export interface ProvisionProfileSettings {
  key: string;
  secret: string;
  strategy: ProvisionStrategy;
  /** How long a request waits for a flow's approval or veto. */
  waitMs: number;
}

/** Self-hosted provisioning of a fleet (local mode, hosting "fleet"): the key and secret devices must present, and the strategy. */
export function parseProvisionProfile(props: TbDeviceProps, credentials: TbCredentials | undefined): ProvisionProfileSettings | undefined {
  if (!isOn(props.provision)) return undefined;
  const { key, secret } = keyAndSecret(props, credentials);
  const strategy = choiceSetting<ProvisionStrategy>(props.provisionStrategy, ["allow-new", "pre-provisioned"], "invalid-provision-strategy");
  const waitText = text(props.provisionWait);
  const waitMs = waitText === "" ? DEFAULT_PROVISION_WAIT_MS : Number(waitText);
  if (!Number.isInteger(waitMs) || waitMs < 1 || waitMs > 60_000) throw new ConfigError("invalid-provision-wait", { value: waitText });
  return { key, secret, strategy, waitMs };
}

/** How long a provisioning request waits for a flow by default (a device's own wait is usually longer). */
export const DEFAULT_PROVISION_WAIT_MS = 5000;

/** The device profile's provision key (a setting) and secret (a credential), both required. */
function keyAndSecret(props: TbDeviceProps, credentials: TbCredentials | undefined): { key: string; secret: string } {
  const key = text(props.provisionKey);
  if (key === "") throw new ConfigError("missing-provision-key");
  const secret = typeof credentials?.provisionSecret === "string" ? credentials.provisionSecret.trim() : "";
  if (secret === "") throw new ConfigError("missing-provision-secret");
  return { key, secret };
}

function isOn(value: unknown): boolean {
  return value === true || value === "true";
}

/** The self-provisioning settings: the node's name, the profile's key and secret, what to ask for. */
function parseProvision(props: TbDeviceProps, credentials: TbCredentials | undefined, provisioned: TbProvisionOptions["provisioned"]): TbProvisionOptions {
  const deviceName = text(props.name);
  if (deviceName === "") throw new ConfigError("provision-needs-name");
  const { key, secret } = keyAndSecret(props, credentials);
  const credentialsType = choiceSetting(props.provisionType, ["ACCESS_TOKEN", "MQTT_BASIC"], "invalid-provision-type");
  return { deviceName, key, secret, credentialsType, provisioned };
}

function parseBasic(credentials: TbCredentials | undefined): NonNullable<TbLinkOptions["basic"]> {
  const pick = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
  const given = { clientId: pick(credentials?.clientId), username: pick(credentials?.username), password: pick(credentials?.password) };
  try {
    connectCredentials({ type: "basic", ...given });
  } catch (err) {
    throw new ConfigError("invalid-basic", { error: err instanceof Error ? err.message : String(err) });
  }
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/** The server URL for mqtt or http mode (empty = ThingsBoard Cloud). */
export function parseServer(connection: Exclude<TbConnection, "local">, server: string): string {
  const kind = connection === "mqtt" ? "mqtt" : "http";
  return serverSetting(server, { kind, fallback: DEFAULT_SERVERS[connection], key: `invalid-${connection}-server`, originOnly: kind === "http" });
}
