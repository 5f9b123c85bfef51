/**
 * ThingsBoard MQTT session conventions (docs/PROTOCOLS.md 4.1, 4.3): CONNECT credentials, CONNACK
 * codes in words, and device provisioning. Pure; re-exported by codec.ts, whose header lists
 * the decisions on UNCONFIRMED points.
 */
import { timingSafeEqual } from "node:crypto";
import { tokenDigest } from "../transport/secret-match.js";
import { describeValue } from "../transport/value-codec.js";
import { LIMITS, invalid, isPlainObject, readObject, type TbJson } from "./codec-values.js";

// ---- CONNECT / CONNACK -----------------------------------------------------------------------

/** User name (or client id) of a provisioning session. */
export const PROVISION_USERNAME = "provision";

export type MqttAuth =
  | { type: "access-token"; token: string }
  | { type: "basic"; clientId?: string; username?: string; password?: string }
  | { type: "provision" };

export interface ConnectCredentials {
  clientId?: string;
  username?: string;
  password?: string;
}

const BASIC_ACCEPTED = "a client id; or a user name with a password; or all three (they must match what ThingsBoard stores)";

function optionalText(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw invalid(`${what} must be text, got ${describeValue(value)}`);
  if (/[\0-\x1f\x7f]/.test(value)) throw invalid(`${what} must not contain control characters`);
  return value;
}

/**
 * CONNECT fields for an authentication kind: the access token is the user name with no
 * password; basic MQTT credentials go as given; provisioning uses the user name "provision".
 */
export function connectCredentials(auth: MqttAuth): ConnectCredentials {
  switch (auth.type) {
    case "access-token": {
      const token = optionalText(auth.token, "access token");
      if (token?.trim() !== token || token === undefined) {
        const got = typeof auth.token === "string" ? "empty text or text with surrounding spaces" : describeValue(auth.token); // never echo a token
        throw invalid(`access token must be non-empty text without surrounding spaces, got ${got}; accepted: the token from the device's page in ThingsBoard`);
      }
      return { username: token };
    }
    case "basic": {
      const clientId = optionalText(auth.clientId, "client id");
      const username = optionalText(auth.username, "user name");
      const password = optionalText(auth.password, "password");
      if (password !== undefined && username === undefined) throw invalid(`basic MQTT credentials: a password needs a user name; accepted: ${BASIC_ACCEPTED}`);
      if (clientId === undefined && (username === undefined || password === undefined)) {
        throw invalid(`basic MQTT credentials are incomplete (a user name alone is the access-token form); accepted: ${BASIC_ACCEPTED}`);
      }
      return { ...(clientId === undefined ? {} : { clientId }), ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
    }
    case "provision":
      return { username: PROVISION_USERNAME };
    default: {
      const type: unknown = (auth as { type?: unknown }).type; // reachable from plain-JS callers
      throw invalid(`unknown authentication type ${describeValue(type)}; accepted: "access-token", "basic", "provision"`);
    }
  }
}

export type ConnectClass =
  | { kind: "provision" }
  | {
      kind: "device";
      /** The user name, tried first as an access token (undefined when empty: CONNACK 0x04 unless basic credentials match). */
      token: string | undefined;
      clientId: string;
      username: string | undefined;
      password: string | undefined;
    };

function text(value: unknown): string | undefined {
  if (typeof value === "string") return value === "" ? undefined : value;
  if (value instanceof Uint8Array) return value.length === 0 ? undefined : Buffer.from(value).toString("utf8");
  return undefined;
}

/** What a CONNECT presents, for the broker emulation (aedes gives the password as a Buffer). */
export function classifyConnect(connect: { clientId?: unknown; username?: unknown; password?: unknown }): ConnectClass {
  const clientId = text(connect.clientId) ?? "";
  const username = text(connect.username);
  if (username === PROVISION_USERNAME || clientId === PROVISION_USERNAME) return { kind: "provision" };
  return { kind: "device", token: username, clientId, username, password: text(connect.password) };
}

/**
 * ThingsBoard's basic MQTT rule: a stored client id must match; a stored user name must match
 * together with its password; at least one of them must be stored.
 */
export function matchesBasicCredentials(stored: ConnectCredentials, presented: ConnectCredentials): boolean {
  const storedId = text(stored.clientId);
  const storedUser = text(stored.username);
  if (storedId === undefined && storedUser === undefined) return false;
  if (storedId !== undefined && storedId !== text(presented.clientId)) return false;
  if (storedUser === undefined) return true;
  return storedUser === text(presented.username) && sameSecret(text(stored.password) ?? "", text(presented.password) ?? "");
}

/** Compares two passwords in constant time (through fixed-size digests): a login must not time-leak how much of it was right. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(tokenDigest(a), tokenDigest(b));
}

export const CONNACK = { accepted: 0, badUsernameOrPassword: 4, notAuthorized: 5 } as const;

/** The refusal code ThingsBoard gives, in the client's protocol version (5 uses reason codes). */
export function refusalCode(reason: "empty-username" | "unknown-credentials", protocolVersion: 3 | 4 | 5 = 4): number {
  if (protocolVersion === 5) return reason === "empty-username" ? 0x86 : 0x87;
  return reason === "empty-username" ? CONNACK.badUsernameOrPassword : CONNACK.notAuthorized;
}

const CONNACK_WORDS: Readonly<Record<number, string>> = {
  0: "connected",
  1: "refused: unacceptable protocol version",
  2: "refused: client id rejected",
  3: "refused: server unavailable",
  4: "refused: bad user name or password — ThingsBoard sends this when the user name is empty; put the device's access token in the user name",
  5: "refused: not authorized — ThingsBoard does not know this access token (or these basic MQTT credentials); check the token on the device's page",
  0x86: "refused: bad user name or password — ThingsBoard sends this when the user name is empty; put the device's access token in the user name",
  0x87: "refused: not authorized — ThingsBoard does not know this access token (or these basic MQTT credentials); check the token on the device's page",
  0x97: "refused: quota exceeded",
};

/** A CONNACK return/reason code in words, with the code: "refused: not authorized — ... (code 0x05)". */
export function describeConnack(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, "0")}`;
  return `${CONNACK_WORDS[code] ?? (code >= 0x80 ? "refused" : "unknown return code")} (code ${hex})`;
}

// ---- provisioning ----------------------------------------------------------------------------

export type CredentialsType = "ACCESS_TOKEN" | "MQTT_BASIC" | "X509_CERTIFICATE";
export interface ProvisionRequest {
  deviceName?: string;
  provisionDeviceKey: string;
  provisionDeviceSecret: string;
  credentialsType?: CredentialsType;
  /** ACCESS_TOKEN */
  token?: string;
  /** MQTT_BASIC */
  clientId?: string;
  username?: string;
  password?: string;
  /** X509_CERTIFICATE */
  hash?: string;
}
export type ProvisionCredentials =
  | { credentialsType: "ACCESS_TOKEN"; token: string }
  | { credentialsType: "MQTT_BASIC"; clientId?: string; username?: string; password?: string }
  | { credentialsType: "X509_CERTIFICATE"; value: string };
export type ProvisionResponse = { ok: true; credentials: ProvisionCredentials } | { ok: false; status: string; errorMsg: string };

const CREDENTIAL_FIELDS: Readonly<Record<CredentialsType, readonly string[]>> = {
  ACCESS_TOKEN: ["token"],
  MQTT_BASIC: ["clientId", "username", "password"],
  X509_CERTIFICATE: ["hash"],
};
const ALL_CREDENTIAL_FIELDS = ["token", "clientId", "username", "password", "hash"] as const;
const PROVISION_ACCEPTED =
  '{"deviceName": "...", "provisionDeviceKey": "...", "provisionDeviceSecret": "..."} with optional credentialsType ACCESS_TOKEN (+token), MQTT_BASIC (+clientId, username, password) or X509_CERTIFICATE (+hash)';

function isCredentialsType(value: unknown): value is CredentialsType {
  return value === "ACCESS_TOKEN" || value === "MQTT_BASIC" || value === "X509_CERTIFICATE";
}

/** Numbers are read as text, like ThingsBoard's getAsString. */
function field(json: Record<string, unknown>, name: string, required: boolean, where: string): string | undefined {
  const value = typeof json[name] === "number" ? String(json[name]) : json[name];
  if (value === undefined || value === null || (value === "" && !required)) {
    if (required) throw invalid(`${where}: "${name}" is missing; accepted: ${PROVISION_ACCEPTED}`);
    return undefined;
  }
  if (typeof value !== "string" || value === "") throw invalid(`${where}: "${name}" must be non-empty text, got ${describeValue(value)}; accepted: ${PROVISION_ACCEPTED}`);
  return value;
}

function provisionFrom(json: Record<string, unknown>, where: string): ProvisionRequest {
  const out: ProvisionRequest = {
    provisionDeviceKey: field(json, "provisionDeviceKey", true, where) ?? "",
    provisionDeviceSecret: field(json, "provisionDeviceSecret", true, where) ?? "",
  };
  const deviceName = field(json, "deviceName", false, where);
  if (deviceName !== undefined) {
    if (deviceName.length > LIMITS.deviceNameChars) throw invalid(`${where}: deviceName has ${deviceName.length} characters; accepted: at most ${LIMITS.deviceNameChars}`);
    out.deviceName = deviceName;
  }
  const type = json.credentialsType;
  if (type !== undefined && type !== null && !isCredentialsType(type)) {
    throw invalid(`${where}: credentialsType ${describeValue(type)} is unknown; accepted: "ACCESS_TOKEN", "MQTT_BASIC" or "X509_CERTIFICATE"`);
  }
  if (isCredentialsType(type)) out.credentialsType = type;
  const allowed = CREDENTIAL_FIELDS[out.credentialsType ?? "ACCESS_TOKEN"];
  for (const name of ALL_CREDENTIAL_FIELDS) {
    const value = field(json, name, false, where);
    if (value === undefined) continue;
    if (!allowed.includes(name)) {
      const owner = (Object.keys(CREDENTIAL_FIELDS) as CredentialsType[]).filter((t) => CREDENTIAL_FIELDS[t].includes(name)).join(" or ");
      throw invalid(`${where}: "${name}" belongs to credentialsType ${owner}, not ${out.credentialsType ?? "ACCESS_TOKEN (the default)"}; accepted: ${PROVISION_ACCEPTED}`);
    }
    out[name] = value;
  }
  return out;
}

/** A provisioning request to send; checks that the credentials match their type. */
export function encodeProvisionRequest(request: Record<string, unknown>): ProvisionRequest {
  if (!isPlainObject(request)) throw invalid(`provisioning request must be an object, got ${describeValue(request)}; accepted: ${PROVISION_ACCEPTED}`);
  const out = provisionFrom(request, "provisioning request");
  if (out.credentialsType === "X509_CERTIFICATE" && out.hash === undefined) throw invalid('provisioning request: X509_CERTIFICATE needs "hash" (the certificate)');
  if (out.credentialsType === "MQTT_BASIC") {
    connectCredentials({ type: "basic", clientId: out.clientId, username: out.username, password: out.password });
  }
  return out;
}

/** A device's provisioning request (ThingsBoard requires the key and secret; other fields are optional). */
export function parseProvisionRequest(payload: unknown): ProvisionRequest {
  return provisionFrom(readObject(payload, "provisioning request", PROVISION_ACCEPTED), "provisioning request");
}

const FAILURE_TEXT: Readonly<Record<string, string>> = {
  NOT_FOUND: "Provision data was not found!",
  FAILURE: "Failed to provision device!",
};

/** The response ThingsBoard sends: success with credentials, or status NOT_FOUND/FAILURE with errorMsg. */
export function encodeProvisionResponse(response: ProvisionResponse): Record<string, TbJson> {
  if (!response.ok) {
    const status = response.status === "NOT_FOUND" ? "NOT_FOUND" : "FAILURE";
    return { status, errorMsg: response.errorMsg === "" ? (FAILURE_TEXT[status] ?? "") : response.errorMsg };
  }
  const c = response.credentials;
  let value: TbJson;
  if (c.credentialsType === "ACCESS_TOKEN") value = requiredText(c.token, "credentials token");
  else if (c.credentialsType === "X509_CERTIFICATE") value = requiredText(c.value, "certificate value");
  else {
    connectCredentials({ type: "basic", clientId: c.clientId, username: c.username, password: c.password });
    // "userName" (capital N) is ThingsBoard's spelling in this response.
    value = Object.fromEntries(Object.entries({ clientId: c.clientId, userName: c.username, password: c.password }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  }
  return { status: "SUCCESS", credentialsType: c.credentialsType, credentialsValue: value };
}

function requiredText(value: unknown, what: string): string {
  // The value is not quoted: it may be a credential.
  if (typeof value !== "string" || value === "") throw invalid(`provisioning response: ${what} must be non-empty text, got ${value === "" ? "empty text" : typeof value}`);
  return value;
}

/** A provisioning response; the older `provisionDeviceStatus`/`accessToken` form is read too. */
export function parseProvisionResponse(payload: unknown): ProvisionResponse {
  const json = readObject(payload, "provisioning response", '{"status": "SUCCESS", "credentialsType": "...", "credentialsValue": ...} or {"status": "FAILURE", "errorMsg": "..."}');
  const status = json.status ?? json.provisionDeviceStatus;
  if (typeof status !== "string") throw invalid(`provisioning response has no "status", got ${describeValue(status)}; accepted: "SUCCESS", "NOT_FOUND" or "FAILURE"`);
  if (status !== "SUCCESS") return { ok: false, status, errorMsg: typeof json.errorMsg === "string" ? json.errorMsg : "" };
  const type = json.credentialsType ?? "ACCESS_TOKEN";
  const value = json.credentialsValue ?? json.accessToken;
  if (type === "ACCESS_TOKEN") return { ok: true, credentials: { credentialsType: type, token: requiredText(value, "credentialsValue (the access token)") } };
  if (type === "X509_CERTIFICATE") return { ok: true, credentials: { credentialsType: type, value: requiredText(value, "credentialsValue") } };
  if (type === "MQTT_BASIC" && isPlainObject(value)) {
    const pick = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
    const basic = { clientId: pick(value.clientId), username: pick(value.userName ?? value.username), password: pick(value.password) };
    const credentials = Object.fromEntries(Object.entries(basic).filter(([, v]) => v !== undefined));
    return { ok: true, credentials: { credentialsType: "MQTT_BASIC", ...credentials } };
  }
  throw invalid(`provisioning response: credentialsType ${describeValue(type)} with a credentialsValue of type ${value === null ? "null" : typeof value} is not understood; accepted: ACCESS_TOKEN with a token, MQTT_BASIC with {clientId, userName, password}, X509_CERTIFICATE with text`);
}
