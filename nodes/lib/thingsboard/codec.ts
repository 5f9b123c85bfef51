/**
 * ThingsBoard device API codec (docs/PROTOCOLS.md 4.1-4.3): topics, request ids, RPC, claim,
 * provisioning, CONNECT conventions; telemetry and attributes live in codec-values.ts and are
 * re-exported here. The gateway API is gateway-codec.ts, the HTTP API http-codec.ts. Pure: no
 * I/O, no Node-RED. Used by both sides: the link (Node-RED as device/gateway) and the broker
 * emulation (Node-RED as ThingsBoard for unchanged firmware). Encoders return JSON-ready values
 * (`toPayloadText` makes the wire text); parsers take a Buffer, JSON text or a parsed value.
 * All refusals are TransportError("invalid") naming what was wrong and what is accepted.
 *
 * Decisions on UNCONFIRMED / undocumented points (checked against ThingsBoard's server source
 * where the docs are silent):
 * - Request ids: the docs say "integer". Topics are parsed liberally: every non-negative decimal
 *   integer up to 2^53-1, leading zeros allowed, and the exact text is kept (`idText`) so a
 *   reply echoes it byte for byte. Signs, spaces, fractions, empty ids and trailing slashes are
 *   refused (TransportError). ThingsBoard itself parses a Java int: LIMITS.tbMaxRequestId.
 * - Trailing slash on a fixed topic ("v1/devices/me/telemetry/") is not that topic ("unknown"),
 *   as in ThingsBoard, which compares topics exactly.
 * - Provisioning: `/provision/request` is sent (MqttTopics.java, the samples); `/provision`
 *   (reference page) is also accepted as a request when parsing.
 * - Telemetry `[{ts, values}, ...]` on the device topic is encoded and parsed (the server code
 *   reads every array element the same way). A flow's `{values}` without ts means server time.
 * - Values: null is refused when sending and skipped when parsing (ThingsBoard skips it). Numeric
 *   strings stay strings unless parse is asked to `typeCast` like ThingsBoard's default.
 * - Shared attribute push: the `"deleted": [keys]` member comes from the server source (not the
 *   docs); it is read as deletions only when it is an array of strings.
 * - Attribute request with no keys (or an empty payload) = all client and shared attributes.
 * - RPC request: `params` defaults to {} when sending (the HTTP API fails without it); a missing
 *   `params` parses as null. A device's RPC reply that is not JSON is kept as text.
 * - Client-side RPC errors arrive as `{"error": "..."}`: see `rpcError`.
 * - Provisioning response: the older `provisionDeviceStatus`/`accessToken` form is read too.
 * - CONNACK: 0x04 = empty user name, 0x05 = unknown token (3.1.1); 0x86/0x87 the MQTT 5 twins.
 * - Keys at most 255 characters, device names at most 255 (ThingsBoard's database columns).
 * - Firmware (`v2/fw/...`) is codec-firmware.ts; not covered: the undocumented short `v2/...` topics.
 */
import { TransportError } from "../transport/errors.js";
import { describeValue } from "../transport/value-codec.js";
import { LIMITS, checkedJsonText, invalid, jsonCopy, jsonText, isPlainObject, quote, readJson, readObject, type TbJson } from "./codec-values.js";

export * from "./codec-values.js";

const ME = "v1/devices/me";
export const TOPICS = {
  telemetry: `${ME}/telemetry`,
  attributes: `${ME}/attributes`,
  attributeRequestPrefix: `${ME}/attributes/request/`,
  attributeResponsePrefix: `${ME}/attributes/response/`,
  attributeResponseFilter: `${ME}/attributes/response/+`,
  rpcRequestPrefix: `${ME}/rpc/request/`,
  rpcRequestFilter: `${ME}/rpc/request/+`,
  rpcResponsePrefix: `${ME}/rpc/response/`,
  rpcResponseFilter: `${ME}/rpc/response/+`,
  claim: `${ME}/claim`,
  provisionRequest: "/provision/request",
  provisionResponse: "/provision/response",
  gateway: {
    connect: "v1/gateway/connect",
    disconnect: "v1/gateway/disconnect",
    telemetry: "v1/gateway/telemetry",
    attributes: "v1/gateway/attributes",
    attributeRequest: "v1/gateway/attributes/request",
    attributeResponse: "v1/gateway/attributes/response",
    rpc: "v1/gateway/rpc",
    claim: "v1/gateway/claim",
  },
} as const;

/** A request id as given: a number, or id text from a parsed topic (echoed exactly). */
export type RequestId = number | string;
const ID_TEXT = /^\d{1,16}$/;
const ID_ACCEPTED = "a non-negative whole number (0, 1, 2, ...) up to 9007199254740991";

/** Checks an id and gives its topic text; text keeps its exact digits ("007" stays "007"). */
export function requestIdText(id: unknown, what = "request id"): string {
  if (typeof id === "number" && Number.isSafeInteger(id) && id >= 0) return String(id);
  if (typeof id === "string" && ID_TEXT.test(id) && Number.isSafeInteger(Number(id))) return id;
  throw invalid(`${what} must be a whole number, got ${describeValue(id)}; accepted: ${ID_ACCEPTED}`);
}

/** An id from a JSON body (gateway, HTTP): a number, or digits as text. */
export function parseRequestId(id: unknown, what = "request id"): number {
  return Number(requestIdText(id, what));
}

export const attributeRequestTopic = (id: RequestId): string => TOPICS.attributeRequestPrefix + requestIdText(id);
export const attributeResponseTopic = (id: RequestId): string => TOPICS.attributeResponsePrefix + requestIdText(id);
/** Server-side RPC arrives here; a device's client-side RPC is published here too (same name both ways). */
export const rpcRequestTopic = (id: RequestId): string => TOPICS.rpcRequestPrefix + requestIdText(id);
export const rpcResponseTopic = (id: RequestId): string => TOPICS.rpcResponsePrefix + requestIdText(id);

export type FixedTopicKind =
  | "telemetry"
  | "attributes"
  | "claim"
  | "provision-request"
  | "provision-response"
  | "gateway-connect"
  | "gateway-disconnect"
  | "gateway-telemetry"
  | "gateway-attributes"
  | "gateway-attributes-request"
  | "gateway-attributes-response"
  | "gateway-rpc"
  | "gateway-claim";
export type IdTopicKind = "attributes-request" | "attributes-response" | "rpc-request" | "rpc-response";
export type DeviceTopic = { kind: FixedTopicKind } | { kind: IdTopicKind; id: number; idText: string } | { kind: "unknown" };

const FIXED = new Map<string, FixedTopicKind>([
  [TOPICS.telemetry, "telemetry"],
  [TOPICS.attributes, "attributes"],
  [TOPICS.claim, "claim"],
  [TOPICS.provisionRequest, "provision-request"],
  ["/provision", "provision-request"],
  [TOPICS.provisionResponse, "provision-response"],
  [TOPICS.gateway.connect, "gateway-connect"],
  [TOPICS.gateway.disconnect, "gateway-disconnect"],
  [TOPICS.gateway.telemetry, "gateway-telemetry"],
  [TOPICS.gateway.attributes, "gateway-attributes"],
  [TOPICS.gateway.attributeRequest, "gateway-attributes-request"],
  [TOPICS.gateway.attributeResponse, "gateway-attributes-response"],
  [TOPICS.gateway.rpc, "gateway-rpc"],
  [TOPICS.gateway.claim, "gateway-claim"],
]);
const PREFIXED: readonly [string, IdTopicKind][] = [
  [TOPICS.attributeRequestPrefix, "attributes-request"],
  [TOPICS.attributeResponsePrefix, "attributes-response"],
  [TOPICS.rpcRequestPrefix, "rpc-request"],
  [TOPICS.rpcResponsePrefix, "rpc-response"],
];

/**
 * What a ThingsBoard topic is (device, provisioning and gateway topics). Id-suffixed topics
 * give the id; a bad id throws; anything else is `{kind: "unknown"}`.
 */
export function parseDeviceTopic(topic: string): DeviceTopic {
  if (typeof topic !== "string") return { kind: "unknown" }; // plain-JS callers may pass anything
  const fixed = FIXED.get(topic);
  if (fixed !== undefined) return { kind: fixed };
  for (const [prefix, kind] of PREFIXED) {
    if (!topic.startsWith(prefix)) continue;
    const idText = topic.slice(prefix.length);
    if (!ID_TEXT.test(idText) || !Number.isSafeInteger(Number(idText))) {
      throw invalid(`topic ${quote(topic)}: request id ${quote(idText)} is not a whole number; accepted: ${prefix}<id> with <id> ${ID_ACCEPTED}, e.g. ${prefix}17`);
    }
    return { kind, id: Number(idText), idText };
  }
  return { kind: "unknown" };
}

/** The wire text of an encoded payload, refused when over the payload limit. */
export function toPayloadText(value: unknown, maxBytes: number = LIMITS.maxPayloadBytes): string {
  return checkSize(jsonText(value, "payload"), maxBytes);
}

/** toPayloadText for what the encoders built (values already checked): no JSON replacer pass. */
export function toCheckedPayloadText(value: TbJson, maxBytes: number = LIMITS.maxPayloadBytes): string {
  return checkSize(checkedJsonText(value), maxBytes);
}

function checkSize(text: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) {
    throw new TransportError("too-large", `payload is ${bytes} bytes; accepted: at most ${maxBytes} bytes (ThingsBoard's maxPayloadSize); split it into several messages`);
  }
  return text;
}

// ---- RPC -------------------------------------------------------------------------------------

export interface RpcRequest {
  method: string;
  params: TbJson;
}
const RPC_ACCEPTED = '{"method": "setGpio", "params": {...}} (method: non-empty text; params: any JSON, default {})';

export function assertMethod(method: unknown, where = "RPC method"): asserts method is string {
  if (typeof method !== "string" || method.trim() === "") {
    throw invalid(`${where} must be non-empty text, got ${describeValue(method)}; accepted: a method name such as "setGpio" or "getTime"`);
  }
}

/** RPC request payload (client-side from a device, or server-side to a device). */
export function encodeRpcRequest(request: { method: unknown; params?: unknown }): RpcRequest {
  assertMethod(request.method);
  const params = request.params === undefined ? {} : jsonValue(request.params, `params of RPC "${request.method}"`);
  return { method: request.method, params };
}

export function parseRpcRequest(payload: unknown): RpcRequest {
  const json = readObject(payload, "RPC request", RPC_ACCEPTED);
  assertMethod(json.method, 'RPC request "method"');
  return { method: json.method, params: json.params ?? null };
}

/** An RPC result: a JSON value of whatever type (null for "no result"); undefined is refused. */
export function encodeRpcResponse(result: unknown): TbJson {
  return jsonValue(result, "RPC reply");
}

/** An RPC reply payload: JSON when it is JSON, otherwise its text ("" when empty). */
export function parseRpcResponse(payload: unknown): TbJson {
  try {
    const json = readJson(payload, "RPC reply", "any JSON", true);
    return json === undefined ? "" : json; // JSON null stays null
  } catch (err) {
    if (typeof payload === "string") return payload;
    if (payload instanceof Uint8Array) return Buffer.from(payload).toString("utf8");
    throw err;
  }
}

/** The error text of a client-side RPC answer `{"error": "..."}` (ThingsBoard's error form), else undefined. */
export function rpcError(result: TbJson): string | undefined {
  if (!isPlainObject(result)) return undefined;
  const keys = Object.keys(result);
  return keys.length === 1 && typeof result.error === "string" ? result.error : undefined;
}

function jsonValue(value: unknown, what: string): TbJson {
  if (value === undefined) throw invalid(`${what} is undefined; accepted: any JSON value (use null for "no result")`);
  return jsonCopy(value, what);
}

// ---- claim -----------------------------------------------------------------------------------

export interface Claim {
  /** Absent: ThingsBoard uses "". */
  secretKey?: string;
  /** Absent: the server's device.claim.duration. */
  durationMs?: number;
}
const CLAIM_ACCEPTED = '{"secretKey": "...", "durationMs": 60000} (both optional)';

export function encodeClaim(claim: { secretKey?: unknown; durationMs?: unknown } = {}, where = "claim"): Claim {
  const out: Claim = {};
  if (claim.secretKey !== undefined) {
    if (typeof claim.secretKey !== "string") throw invalid(`${where} secretKey must be text, got ${describeValue(claim.secretKey)}; accepted: ${CLAIM_ACCEPTED}`);
    out.secretKey = claim.secretKey;
  }
  if (claim.durationMs !== undefined) out.durationMs = durationOf(claim.durationMs, where);
  return out;
}

function durationOf(value: unknown, where: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw invalid(`${where} durationMs must be whole milliseconds, got ${describeValue(value)}; accepted: ${CLAIM_ACCEPTED}`);
  }
  return n;
}

/** Empty payload = defaults, as ThingsBoard reads it; numbers are accepted as the secret key. */
export function parseClaim(payload: unknown, where = "claim"): Claim {
  const json = readObject(payload, where, CLAIM_ACCEPTED, true) ?? {};
  return claimFrom(json, where);
}

export function claimFrom(json: Record<string, unknown>, where: string): Claim {
  const secretKey = typeof json.secretKey === "number" ? String(json.secretKey) : json.secretKey;
  return encodeClaim({ secretKey: secretKey ?? undefined, durationMs: json.durationMs ?? undefined }, where);
}

export * from "./codec-session.js";
