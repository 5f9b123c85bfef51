/**
 * ThingsBoard gateway API v1 (docs/PROTOCOLS.md 4.4): one MQTT session speaking for many named
 * sub-devices on `v1/gateway/...` (topics in codec.ts TOPICS.gateway). Pure, both directions.
 *
 * Decisions on UNCONFIRMED / conflicting points:
 * - Attribute request: the current docs show `{"id","device","client":[keys],"shared":[keys]}`,
 *   but every server version read here parses `{"id","device","client":<bool>,"key":"k"}` or
 *   `"keys":[...]` (one scope per request). We SEND the server's form (one request per scope)
 *   and ACCEPT both when parsing.
 * - Attribute response: server source: `{"id","device","value":v}` when ONE key was requested,
 *   `{"id","device","values":{k:v,...}}` when several were, `{"id","device"}` when none was
 *   found. Older servers sent `value` whenever one attribute was found, even for a multi-key
 *   request: such a `value` is mapped to a key only when the caller names a single requested
 *   key, otherwise it is kept in `value` unassigned.
 * - Telemetry: each device's telemetry is sent as an array (the server refuses anything else);
 *   when parsing, a single object is accepted too.
 * - RPC ids and attribute request ids in bodies: whole numbers; digits as text are accepted.
 * - Device names: non-empty text, at most 255 characters. Connect `type` absent = "default".
 */
import { describeValue } from "../transport/value-codec.js";
import {
  LIMITS,
  claimFrom,
  encodeClaim,
  encodeRpcRequest,
  encodeRpcResponse,
  entryPayload,
  invalid,
  isPlainObject,
  normalizeTelemetry,
  parseRequestId,
  parseTelemetry,
  parseValues,
  quote,
  readObject,
  toKeyList,
  toValues,
  assertMethod,
  hasOwn,
  updateFrom,
  type AttributeUpdate,
  type Claim,
  type ParseTelemetryOptions,
  type TbJson,
  type TbValue,
  type TbValues,
  type TelemetryEntry,
  type RequestId,
} from "./codec.js";

export const DEFAULT_DEVICE_TYPE = "default";
const NAME_ACCEPTED = 'the sub-device name in ThingsBoard: text of 1 to 255 characters, e.g. "Device A"';

export function assertDeviceName(name: unknown, where = "device name"): asserts name is string {
  if (typeof name !== "string" || name.trim() === "") throw invalid(`${where} must be non-empty text, got ${describeValue(name)}; accepted: ${NAME_ACCEPTED}`);
  if (name.length > LIMITS.deviceNameChars) throw invalid(`${where} ${quote(name)} has ${name.length} characters; accepted: ${NAME_ACCEPTED}`);
}

/** Per-device input: an object keyed by device name, or a list of [device, data] pairs. */
export type PerDevice<T> = Readonly<Record<string, T>> | readonly (readonly [string, T])[];

function pairs<T>(input: PerDevice<T>, what: string): readonly (readonly [string, T])[] {
  let list: readonly (readonly [string, T])[] | undefined;
  if (Array.isArray(input)) list = input;
  else if (isPlainObject(input)) list = Object.entries<T>(input);
  if (list === undefined) throw invalid(`${what} must be an object keyed by device name, got ${describeValue(input)}; accepted: e.g. {"Device A": ...}`);
  if (list.length === 0) throw invalid(`${what} names no device; accepted: e.g. {"Device A": ...}`);
  list.forEach(([device]) => {
    assertDeviceName(device, `${what}: device name`);
  });
  return list;
}

function readDeviceMap(payload: unknown, what: string, accepted: string): [string, TbJson | undefined][] {
  const json = readObject(payload, what, accepted);
  const entries = Object.entries(json);
  entries.forEach(([device]) => {
    assertDeviceName(device, `${what}: device name`);
  });
  return entries;
}

// ---- connect / disconnect --------------------------------------------------------------------

export function encodeGatewayConnect(device: unknown, type?: unknown): { device: string; type?: string } {
  assertDeviceName(device);
  if (type === undefined || type === null || type === "") return { device };
  if (typeof type !== "string") throw invalid(`device type (profile) must be text, got ${describeValue(type)}; accepted: a device profile name, or nothing for "default"`);
  return { device, type };
}

export function parseGatewayConnect(payload: unknown): { device: string; type: string } {
  const json = readObject(payload, "gateway connect", '{"device": "Device A", "type": "profile"} (type optional)');
  assertDeviceName(json.device, 'gateway connect "device"');
  return { device: json.device, type: typeof json.type === "string" && json.type !== "" ? json.type : DEFAULT_DEVICE_TYPE };
}

export function encodeGatewayDisconnect(device: unknown): { device: string } {
  assertDeviceName(device);
  return { device };
}

export function parseGatewayDisconnect(payload: unknown): { device: string } {
  const json = readObject(payload, "gateway disconnect", '{"device": "Device A"}');
  assertDeviceName(json.device, 'gateway disconnect "device"');
  return { device: json.device };
}

// ---- telemetry, attributes, claim -----------------------------------------------------------

/** `{"Device A": <any telemetry form>, ...}` -> `{"Device A": [entry, ...], ...}`. */
export function encodeGatewayTelemetry(input: PerDevice<unknown>, now?: number): Record<string, TbJson[]> {
  return Object.fromEntries(
    pairs(input, "gateway telemetry").map(([device, telemetry]) => {
      const entries = normalizeTelemetry(telemetry, now);
      return [device, entries.map((entry, i) => entryPayload(entry, `telemetry of ${quote(device)}, item ${i}`))];
    }),
  );
}

export function parseGatewayTelemetry(payload: unknown, options: ParseTelemetryOptions = {}): { device: string; entries: TelemetryEntry[] }[] {
  return readDeviceMap(payload, "gateway telemetry", '{"Device A": [{"ts": ms, "values": {...}}, ...], ...}').map(([device, telemetry]) => ({
    device,
    entries: parseTelemetry(telemetry, options),
  }));
}

/** Client attributes of several devices: `{"Device A": {...}, ...}`. */
export function encodeGatewayAttributes(input: PerDevice<unknown>): Record<string, TbValues> {
  return Object.fromEntries(pairs(input, "gateway attributes").map(([device, values]) => [device, toValues(values, `attributes of ${quote(device)}`)]));
}

export function parseGatewayAttributes(payload: unknown): { device: string; values: TbValues }[] {
  return readDeviceMap(payload, "gateway attributes", '{"Device A": {"key": value, ...}, ...}').map(([device, values]) => ({
    device,
    values: parseValues(values, `attributes of ${quote(device)}`),
  }));
}

/** Shared attribute push to a gateway: `{"device": "Device A", "data": {...}}` (`deleted` as on the device topic). */
export function encodeGatewayAttributeUpdate(device: unknown, update: { values?: unknown; deleted?: unknown }): { device: string; data: TbJson } {
  assertDeviceName(device);
  const deleted = toKeyList(update.deleted, "deleted attributes");
  const values = update.values === undefined && deleted.length > 0 ? {} : toValues(update.values, `attribute update of ${quote(device)}`);
  if (deleted.length > 0 && hasOwn(values, "deleted")) throw invalid('attribute update has a key "deleted" and a list of deleted keys; ThingsBoard uses "deleted" for that list');
  return { device, data: deleted.length === 0 ? values : { ...values, deleted } };
}

export function parseGatewayAttributeUpdate(payload: unknown): AttributeUpdate & { device: string } {
  const json = readObject(payload, "gateway attribute update", '{"device": "Device A", "data": {...}}');
  assertDeviceName(json.device, 'gateway attribute update "device"');
  const data = json.data;
  if (!isPlainObject(data)) throw invalid(`gateway attribute update "data" must be an object, got ${describeValue(data)}`);
  return { device: json.device, ...updateFrom(data, 'gateway attribute update "data"') };
}

export function encodeGatewayClaim(input: PerDevice<{ secretKey?: unknown; durationMs?: unknown } | undefined>): Record<string, Claim> {
  return Object.fromEntries(pairs(input, "gateway claim").map(([device, claim]) => [device, encodeClaim(claim ?? {}, `claim of ${quote(device)}`)]));
}

export function parseGatewayClaim(payload: unknown): (Claim & { device: string })[] {
  return readDeviceMap(payload, "gateway claim", '{"Device A": {"secretKey": "...", "durationMs": 60000}, ...}').map(([device, claim]) => {
    if (!isPlainObject(claim)) throw invalid(`claim of ${quote(device)} must be an object, got ${describeValue(claim)}`);
    return { device, ...claimFrom(claim, `claim of ${quote(device)}`) };
  });
}

// ---- attribute request / response ------------------------------------------------------------

export interface GatewayAttributeRequest {
  id: number;
  device: string;
  clientKeys: string[];
  sharedKeys: string[];
}

/** One scope per request, in the form the server parses: `key` for one key, `keys` for several. */
export function encodeGatewayAttributeRequest(request: { id: RequestId; device: unknown; scope: "client" | "shared"; keys: unknown }): TbJson {
  const id = parseRequestId(request.id);
  assertDeviceName(request.device);
  const scope: unknown = request.scope; // plain-JS callers can pass anything
  if (scope !== "client" && scope !== "shared") {
    throw invalid(`gateway attribute request scope must be "client" or "shared", got ${describeValue(scope)}`);
  }
  const keys = toKeyList(request.keys, "gateway attribute request keys");
  if (keys.length === 0) throw invalid('gateway attribute request names no key; accepted: one key or several, e.g. ["firmware", "mode"] (the gateway API cannot ask for "all")');
  const out: Record<string, TbJson> = { id, device: request.device, client: scope === "client" };
  if (keys.length === 1) out.key = keys[0];
  else out.keys = keys;
  return out;
}

const REQUEST_ACCEPTED = '{"id": 1, "device": "Device A", "client": true, "key": "k"} or "keys": [...]; or {"id", "device", "client": [keys], "shared": [keys]}';

/** Both request forms; an empty key list in the server form asks for everything (ThingsBoard's rule). */
export function parseGatewayAttributeRequest(payload: unknown): GatewayAttributeRequest {
  const json = readObject(payload, "gateway attribute request", REQUEST_ACCEPTED);
  const id = parseRequestId(json.id, 'gateway attribute request "id"');
  assertDeviceName(json.device, 'gateway attribute request "device"');
  const base = { id, device: json.device };
  if (Array.isArray(json.client) || Array.isArray(json.shared)) {
    return { ...base, clientKeys: toKeyList(json.client, '"client" keys'), sharedKeys: toKeyList(json.shared, '"shared" keys') };
  }
  if (typeof json.client !== "boolean") throw invalid(`gateway attribute request "client" must be true/false or an array of keys, got ${describeValue(json.client)}; accepted: ${REQUEST_ACCEPTED}`);
  const keys = hasOwn(json, "key") ? toKeyList([json.key], '"key"') : toKeyList(json.keys ?? [], '"keys"');
  return json.client ? { ...base, clientKeys: keys, sharedKeys: [] } : { ...base, clientKeys: [], sharedKeys: keys };
}

/** Response: `value` when one key was requested, `values` when several, neither when nothing was found. */
export function encodeGatewayAttributeResponse(response: { id: RequestId; device: unknown; values: unknown; multiple: boolean }): TbJson {
  const id = parseRequestId(response.id);
  assertDeviceName(response.device);
  const out: Record<string, TbJson> = { id, device: response.device };
  const found = isPlainObject(response.values) ? Object.keys(response.values).length : -1;
  if (found === 0) return out;
  const values = toValues(response.values, "gateway attribute response values");
  const keys = Object.keys(values);
  if (!response.multiple && keys.length === 1) out.value = values[keys[0]];
  else out.values = values;
  return out;
}

export interface GatewayAttributeResponse {
  id: number;
  device: string;
  /** Found attributes by key (a lone `value` is placed under the single requested key). */
  values: TbValues;
  /** A lone `value` that could not be given a key (several keys were requested). */
  value?: TbValue;
}

export function parseGatewayAttributeResponse(payload: unknown, requestedKeys?: readonly string[]): GatewayAttributeResponse {
  const json = readObject(payload, "gateway attribute response", '{"id": 1, "device": "Device A", "value": v} or "values": {...}');
  const id = parseRequestId(json.id, 'gateway attribute response "id"');
  assertDeviceName(json.device, 'gateway attribute response "device"');
  const values = json.values === undefined ? {} : parseValues(json.values, 'gateway attribute response "values"');
  const value = json.value;
  if (value === undefined || value === null) return { id, device: json.device, values };
  if (requestedKeys?.length === 1) return { id, device: json.device, values: { ...values, [requestedKeys[0]]: value } };
  return { id, device: json.device, values, value };
}

// ---- RPC -------------------------------------------------------------------------------------

export interface GatewayRpcRequest {
  device: string;
  id: number;
  method: string;
  params: TbJson;
}

/** Server-side RPC to a sub-device: `{"device", "data": {"id", "method", "params"}}`. */
export function encodeGatewayRpcRequest(request: { device: unknown; id: RequestId; method: unknown; params?: unknown }): TbJson {
  assertDeviceName(request.device);
  const id = parseRequestId(request.id);
  const { method, params } = encodeRpcRequest(request);
  return { device: request.device, data: { id, method, params } };
}

export function parseGatewayRpcRequest(payload: unknown): GatewayRpcRequest {
  const json = readObject(payload, "gateway RPC request", '{"device": "Device A", "data": {"id": 1, "method": "...", "params": {...}}}');
  assertDeviceName(json.device, 'gateway RPC "device"');
  const data = json.data;
  if (!isPlainObject(data)) throw invalid(`gateway RPC "data" must be an object with id, method and params, got ${describeValue(data)}`);
  assertMethod(data.method, 'gateway RPC "method"');
  return { device: json.device, id: parseRequestId(data.id, 'gateway RPC "id"'), method: data.method, params: data.params ?? null };
}

/** The reply: `{"device", "id", "data"}`; the id must be the request's. */
export function encodeGatewayRpcResponse(response: { device: unknown; id: RequestId; result: unknown }): TbJson {
  assertDeviceName(response.device);
  return { device: response.device, id: parseRequestId(response.id), data: encodeRpcResponse(response.result) };
}

export function parseGatewayRpcResponse(payload: unknown): { device: string; id: number; data: TbJson } {
  const json = readObject(payload, "gateway RPC reply", '{"device": "Device A", "id": 1, "data": ...}');
  assertDeviceName(json.device, 'gateway RPC reply "device"');
  if (!hasOwn(json, "data")) throw invalid('gateway RPC reply has no "data"; accepted: {"device": "Device A", "id": 1, "data": ...}');
  return { device: json.device, id: parseRequestId(json.id, 'gateway RPC reply "id"'), data: json.data ?? null };
}

/** Tells a server-side RPC message from a reply on the shared `v1/gateway/rpc` topic. */
export function isGatewayRpcRequest(payload: unknown): boolean {
  const json = readObject(payload, "gateway RPC message", '{"device", "data": {...}} or {"device", "id", "data"}');
  return !hasOwn(json, "id") && isPlainObject(json.data) && hasOwn(json.data, "method");
}
