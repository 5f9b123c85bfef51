/**
 * ThingsBoard keys, values, timestamps, telemetry and attribute payloads (docs/PROTOCOLS.md 4.2,
 * 4.5). Pure functions; codec.ts re-exports everything here, and the decisions on UNCONFIRMED
 * points are listed at the top of codec.ts.
 *
 * Two kinds of functions: `encode*` / `normalize*` check what a flow wants to send and refuse
 * anything ThingsBoard would drop or misread; `parse*` read what the other side sent and are as
 * liberal as ThingsBoard's own JSON converter. Both throw TransportError("invalid").
 */
import { TransportError } from "../transport/errors.js";
import { describeValue, toJsonText } from "../transport/value-codec.js";
import { isPlainObject } from "../transport/value-codec.js";
import { jsonTextTooDeep, tooDeep, valueTooDeep } from "../transport/json-limits.js";

/** Any JSON value. */
export type TbJson = string | number | boolean | null | TbJson[] | { [key: string]: TbJson };
/** A JSON object as read from the wire: every member may be missing. */
export type JsonObject = Partial<Record<string, TbJson>>;
/** A stored value: ThingsBoard keeps string, boolean, long, double and JSON (object or array); null is no value. */
export type TbValue = string | number | boolean | TbJson[] | Record<string, TbJson>;
export type TbValues = Record<string, TbValue>;
/** One set of values; without `ts` the server stamps it on arrival. */
export interface TelemetryEntry {
  ts?: number;
  values: TbValues;
}
/**
 * Which attributes a request asks for, as ThingsBoard's device actor reads it: `all` when no
 * key of either scope is named; otherwise only the named keys (a scope with no keys gets none).
 */
export interface AttributeKeySelection {
  all: boolean;
  clientKeys: string[];
  sharedKeys: string[];
}
export interface AttributeUpdate {
  values: TbValues;
  /** Shared attributes deleted on the server (ThingsBoard source, not in the docs). */
  deleted: string[];
}

export const LIMITS = {
  /** Key column of ThingsBoard's key dictionary is varchar(255). */
  keyChars: 255,
  deviceNameChars: 255,
  /** Default `maxPayloadSize` of ThingsBoard's session limits. */
  maxPayloadBytes: 65_536,
  /** ThingsBoard parses request ids as a Java int; the link should stay at or below this. */
  tbMaxRequestId: 2_147_483_647,
} as const;

const KEY_ACCEPTED = 'text of 1 to 255 characters without NUL, e.g. "temperature"';
const VALUE_ACCEPTED = "a string, a finite number, true/false, or a JSON object or array";
export const TELEMETRY_ACCEPTED =
  '{"key": value, ...}, [{"key": value}, ...], {"ts": ms, "values": {...}}, or an array of those (ts: ms, a Date or an ISO date-time)';
const TS_ACCEPTED = 'milliseconds since 1970 as a whole number, a Date, or an ISO 8601 date-time with Z or an offset, e.g. "2024-01-19T12:25:30Z"';
/** Zone-less date-times would be read in the host's local time: refused. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;
const DIGITS = /^\d+$/;
/** What ThingsBoard's type cast (commons-lang NumberUtils.isParsable) turns into a number. */
const CASTABLE = /^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$/;
const SECONDS_WINDOW_MS = 10 * 365 * 86_400_000;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

/** JSON text of `value`, refusing what JSON cannot carry (NaN, cycles, functions); `subject` starts the message. */
export function jsonText(value: unknown, subject: string): string {
  try {
    return toJsonText(value);
  } catch (err) {
    if (err instanceof TransportError) throw invalid(err.message.replace(/^value /, `${subject} `));
    throw err;
  }
}

/** A JSON-checked deep copy (Dates inside become ISO text, as JSON.stringify does). */
export function jsonCopy(value: unknown, subject: string): TbJson {
  return JSON.parse(jsonText(value, subject)) as TbJson;
}

/** A name quoted for a message, cut short when long (JSON escapes show NUL and line breaks). */
export function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

// One definition for every platform: objects built in Function nodes come from another realm.
export { isPlainObject };

export function hasOwn(object: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/**
 * A payload as JSON: Buffers/Uint8Arrays are UTF-8 JSON text, strings are JSON text, anything
 * else is taken as already parsed (an HTTP body parsed by a framework). Empty text (or undefined) gives
 * `undefined` when `allowEmpty`, otherwise an error naming `what` and `accepted`.
 */
export function readJson(payload: unknown, what: string, accepted: string, allowEmpty = false): TbJson | undefined {
  let text: string;
  if (typeof payload === "string") text = payload;
  else if (payload instanceof Uint8Array) {
    try {
      text = strictUtf8.decode(payload);
    } catch {
      throw invalid(`${what} is not UTF-8 text; accepted: JSON ${accepted}`);
    }
  } else if (payload === undefined) text = "";
  else {
    if (valueTooDeep(payload)) throw tooDeep(what);
    return jsonCopy(payload, what); // null included: it is JSON's null
  }
  if (text.trim() === "") {
    if (allowEmpty) return undefined;
    throw invalid(`${what} is empty; accepted: JSON ${accepted}`);
  }
  if (jsonTextTooDeep(text)) throw tooDeep(what);
  try {
    return JSON.parse(text) as TbJson;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw invalid(`${what} is not valid JSON (${reason}); accepted: JSON ${accepted}`);
  }
}

/** Like readJson, but the result must be a JSON object. */
export function readObject(payload: unknown, what: string, accepted: string): JsonObject;
export function readObject(payload: unknown, what: string, accepted: string, allowEmpty: boolean): JsonObject | undefined;
export function readObject(payload: unknown, what: string, accepted: string, allowEmpty = false): JsonObject | undefined {
  const json = readJson(payload, what, accepted, allowEmpty);
  if (json === undefined) return undefined;
  if (!isPlainObject(json)) throw invalid(`${what} must be a JSON object, got ${describeValue(json)}; accepted: ${accepted}`);
  return json;
}

export function assertKey(key: unknown, where: string): asserts key is string {
  if (typeof key !== "string" || key === "") {
    throw invalid(`${where}: key must be non-empty text, got ${describeValue(key)}; accepted: ${KEY_ACCEPTED}`);
  }
  if (key.length > LIMITS.keyChars) throw invalid(`${where}: key ${quote(key)} has ${key.length} characters; accepted: ${KEY_ACCEPTED}`);
  if (key.includes("\0")) throw invalid(`${where}: key ${quote(key)} contains NUL; accepted: ${KEY_ACCEPTED}`);
}

/** One value to send; `where` says which key of which message, for the error. */
export function toTbValue(value: unknown, where: string): TbValue {
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value === 0 ? 0 : value; // -0 would be sent as "-0"
    throw invalid(`${where} is ${String(value)}, which JSON cannot carry; accepted: ${VALUE_ACCEPTED}`);
  }
  if (value === null || value === undefined) {
    throw invalid(`${where} is ${value === null ? "null" : "undefined"}: ThingsBoard stores no value for it, leave the key out; accepted: ${VALUE_ACCEPTED}`);
  }
  if (value instanceof Date) {
    throw invalid(`${where} is a Date; send date.getTime() (a number) or date.toISOString() (text); accepted: ${VALUE_ACCEPTED}`);
  }
  if (Array.isArray(value) || isPlainObject(value)) {
    return jsonCopy(value, where) as TbValue; // a copy; NaN, cycles, functions refused
  }
  throw invalid(`${where} cannot be sent, got ${describeValue(value)}; accepted: ${VALUE_ACCEPTED}`);
}

/** A flow's object of key -> value, checked; at least one key. */
export function toValues(input: unknown, where: string): TbValues {
  const example = '{"temperature": 21.5, "active": true}';
  if (!isPlainObject(input)) throw invalid(`${where} must be an object of key -> value, got ${describeValue(input)}; accepted: e.g. ${example}`);
  const keys = Object.keys(input);
  if (keys.length === 0) throw invalid(`${where} is empty: name at least one key; accepted: e.g. ${example}`);
  const entries: [string, TbValue][] = [];
  for (const key of keys) {
    assertKey(key, where);
    const value = input[key];
    // Plain values are checked inline: the message naming the key is built only to refuse one.
    if (typeof value === "string" || typeof value === "boolean") entries.push([key, value]);
    else if (typeof value === "number" && Number.isFinite(value)) entries.push([key, value === 0 ? 0 : value]);
    else entries.push([key, toTbValue(value, `${where}: value of ${quote(key)}`)]);
  }
  // fromEntries defines own properties, so a "__proto__" key cannot touch the prototype.
  return Object.fromEntries(entries);
}

/**
 * JSON text of a payload built by this codec's encoders (encodeTelemetry, encodeAttributes,
 * their gateway forms): their values are already checked (text, finite numbers, booleans and
 * JSON-checked copies), so plain JSON.stringify gives the same text as jsonText, without its
 * per-value replacer.
 */
export function checkedJsonText(value: TbJson): string {
  return JSON.stringify(value);
}

/** Wire values as ThingsBoard reads them: nulls are skipped, `typeCast` turns numeric strings into numbers. */
export function parseValues(input: unknown, where: string, typeCast = false): TbValues {
  if (!isPlainObject(input)) throw invalid(`${where} must be a JSON object of key -> value, got ${describeValue(input)}`);
  const out: [string, TbValue][] = [];
  for (const [key, value] of Object.entries(input)) {
    if (value === null || value === undefined) continue;
    out.push([key, typeCast && typeof value === "string" ? castNumber(value) : (value as TbValue)]);
  }
  return Object.fromEntries(out);
}

function castNumber(text: string): string | number {
  if (!CASTABLE.test(text)) return text;
  const n = Number(text);
  // ThingsBoard keeps integers too large for a long as text; here: too large to be exact.
  if (!text.includes(".") && !Number.isSafeInteger(n)) return text;
  return n;
}

/** Milliseconds since 1970 from ms (number or digits), a Date, or an ISO date-time with a zone. */
export function toTimestamp(value: unknown, where = "timestamp"): number {
  let ms = Number.NaN;
  if (typeof value === "number") ms = value;
  else if (typeof value === "string" && DIGITS.test(value)) ms = Number(value);
  else if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "string" && ISO_DATE_TIME.test(value)) ms = Date.parse(value);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    const shown = value instanceof Date ? "an invalid Date" : describeValue(value);
    throw invalid(`${where} ${shown} is not a time; accepted: ${TS_ACCEPTED}`);
  }
  return ms;
}

function checkNotSeconds(ts: number, now: number | undefined, where: string): void {
  if (now === undefined || ts >= 1e11) return;
  if (Math.abs(ts * 1000 - now) < SECONDS_WINDOW_MS) {
    throw invalid(`${where} ${ts} looks like seconds (it is in ${new Date(ts).getUTCFullYear()}); multiply by 1000; accepted: ${TS_ACCEPTED}`);
  }
}

function entryFrom(item: unknown, where: string, now: number | undefined): TelemetryEntry {
  if (!isPlainObject(item)) throw invalid(`${where} must be an object, got ${describeValue(item)}; accepted: ${TELEMETRY_ACCEPTED}`);
  if (!hasOwn(item, "ts") && !hasOwn(item, "values")) return { values: toValues(item, where) };
  const extra = Object.keys(item).filter((k) => k !== "ts" && k !== "values");
  if (extra.length > 0) {
    throw invalid(`${where} mixes {ts, values} with other keys (${extra.map(quote).join(", ")}); put every key inside "values"; accepted: ${TELEMETRY_ACCEPTED}`);
  }
  if (!hasOwn(item, "values")) throw invalid(`${where} has "ts" but no "values"; accepted: ${TELEMETRY_ACCEPTED}`);
  const values = toValues(item.values, `${where} "values"`);
  if (item.ts === undefined || item.ts === null) return { values };
  const ts = toTimestamp(item.ts, `${where} "ts"`);
  checkNotSeconds(ts, now, `${where} "ts"`);
  return { ts, values };
}

/**
 * Any documented telemetry form -> canonical entries. `{ts, values}` may leave out `ts` (server
 * time); "ts" and "values" are therefore not usable as plain keys at the top level. With `now`,
 * a ts that looks like seconds is refused.
 */
export function normalizeTelemetry(input: unknown, now?: number): TelemetryEntry[] {
  if (!Array.isArray(input)) return [entryFrom(input, "telemetry", now)];
  const items = input as unknown[];
  if (items.length === 0) throw invalid(`telemetry is an empty array; accepted: ${TELEMETRY_ACCEPTED}`);
  // Array.from visits the holes of a sparse array too (map would leave them as holes).
  return Array.from(items, (item, i) => entryFrom(item, `telemetry item ${i}`, now));
}

/** One entry in its wire form: plain values when the server stamps it, else {ts, values}. */
export function entryPayload(entry: TelemetryEntry, where: string): TbJson {
  if (entry.ts !== undefined) return { ts: entry.ts, values: entry.values };
  if (hasOwn(entry.values, "ts") && hasOwn(entry.values, "values")) {
    throw invalid(`${where} has keys "ts" and "values" but no timestamp: ThingsBoard would read it as {ts, values}; give it a ts`);
  }
  return entry.values;
}

/** Telemetry (any form) -> the most compact payload ThingsBoard reads the same way (`now` as in normalizeTelemetry). */
export function encodeTelemetry(input: unknown, now?: number): TbJson {
  const entries = normalizeTelemetry(input, now);
  if (entries.length === 1) return entryPayload(entries[0], "telemetry");
  return entries.map((entry, i) => entryPayload(entry, `telemetry item ${i}`));
}

function parsedEntry(item: unknown, where: string, now: number | undefined, typeCast: boolean): TelemetryEntry {
  if (!isPlainObject(item)) throw invalid(`${where} must be a JSON object, got ${describeValue(item)}; accepted: ${TELEMETRY_ACCEPTED}`);
  // ThingsBoard's rule: both "ts" and "values" make the timestamped form; anything else is all values.
  if (!hasOwn(item, "ts") || !hasOwn(item, "values")) {
    const values = parseValues(item, where, typeCast);
    return now === undefined ? { values } : { ts: now, values };
  }
  const ts = item.ts;
  const ms = typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0 ? ts : typeof ts === "string" && DIGITS.test(ts) ? Number(ts) : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw invalid(`${where} "ts" is ${describeValue(ts)}; accepted: milliseconds since 1970 as a whole number`);
  return { ts: ms, values: parseValues(item.values, `${where} "values"`, typeCast) };
}

export interface ParseTelemetryOptions {
  /** Stamps entries that carry no ts, as the server does on arrival. */
  now?: number;
  /** ThingsBoard's default type cast: "21.5" is stored as 21.5. Off by default: flows see what was sent. */
  typeCast?: boolean;
}

/** A telemetry payload as a device sends it -> entries (ThingsBoard's reading; empty entries dropped). */
export function parseTelemetry(payload: unknown, options: ParseTelemetryOptions = {}): TelemetryEntry[] {
  const json = readJson(payload, "telemetry payload", TELEMETRY_ACCEPTED);
  const typeCast = options.typeCast === true;
  const entries = Array.isArray(json)
    ? json.map((item, i) => parsedEntry(item, `telemetry item ${i}`, options.now, typeCast))
    : [parsedEntry(json, "telemetry payload", options.now, typeCast)];
  return entries.filter((entry) => Object.keys(entry.values).length > 0);
}

/** Client attributes to publish (or shared attributes to push, in local mode). */
export function encodeAttributes(input: unknown): TbValues {
  return toValues(input, "attributes");
}

export function parseAttributes(payload: unknown, typeCast = false): TbValues {
  const json = readObject(payload, "attributes payload", '{"key": value, ...}');
  return parseValues(json, "attributes payload", typeCast);
}

/** A shared attribute push: changed keys, plus `deleted` (ThingsBoard source form) when keys were deleted. */
export function encodeAttributeUpdate(update: { values?: unknown; deleted?: unknown }): TbJson {
  const deleted = toKeyList(update.deleted, "deleted attributes");
  const values = update.values === undefined && deleted.length > 0 ? {} : toValues(update.values, "attribute update");
  if (deleted.length === 0) return values;
  if (hasOwn(values, "deleted")) throw invalid('attribute update has a key "deleted" and a list of deleted keys; ThingsBoard uses "deleted" for that list');
  return { ...values, deleted };
}

export function parseAttributeUpdate(payload: unknown): AttributeUpdate {
  const json = readObject(payload, "attribute update", '{"key": value, ...} with optional "deleted": ["key", ...]');
  return updateFrom(json, "attribute update");
}

/** `deleted` counts as the deletion list only when it is an array of strings. */
export function updateFrom(json: Record<string, unknown>, where: string): AttributeUpdate {
  const list: unknown = json.deleted;
  const items: unknown[] = Array.isArray(list) ? list : [];
  const deleted = Array.isArray(list) && items.every((k): k is string => typeof k === "string") ? items : undefined;
  const values = parseValues(json, where);
  if (deleted === undefined) return { values, deleted: [] };
  delete values.deleted;
  return { values, deleted };
}

/**
 * Attribute keys for a request: a comma-separated string ("a, b") or an array of keys. Commas
 * cannot be inside a key (ThingsBoard splits on them); spaces around keys are dropped as
 * ThingsBoard does; duplicates are dropped. Nothing given -> [].
 */
export function toKeyList(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  let keys: string[];
  if (typeof value === "string") keys = value.split(",").map((k) => k.trim()).filter((k) => k !== "");
  else if (Array.isArray(value)) {
    keys = (value as unknown[]).map((k, i) => {
      if (typeof k !== "string" || k.trim() === "") {
        throw invalid(`${what}: item ${i} must be a non-empty key, got ${describeValue(k)}; accepted: an array of keys or "a,b,c"`);
      }
      if (k.includes(",")) throw invalid(`${what}: key ${quote(k)} contains a comma, which ThingsBoard reads as a separator; accepted: keys without commas`);
      return k.trim();
    });
  } else {
    throw invalid(`${what} must be keys as "a,b,c" or ["a", "b", "c"], got ${describeValue(value)}`);
  }
  keys.forEach((k) => {
    assertKey(k, what);
  });
  return [...new Set(keys)];
}

/** Keys -> ThingsBoard's selection rule (no key in either scope = everything). */
export function keySelection(clientKeys: string[], sharedKeys: string[]): AttributeKeySelection {
  return { all: clientKeys.length === 0 && sharedKeys.length === 0, clientKeys, sharedKeys };
}

/** Device attribute request payload: `{"clientKeys":"a,b","sharedKeys":"c"}`; no keys = all attributes. */
export function encodeAttributeRequest(request: { clientKeys?: unknown; sharedKeys?: unknown } = {}): Record<string, string> {
  const clientKeys = toKeyList(request.clientKeys, "clientKeys");
  const sharedKeys = toKeyList(request.sharedKeys, "sharedKeys");
  const out: Record<string, string> = {};
  if (clientKeys.length > 0) out.clientKeys = clientKeys.join(",");
  if (sharedKeys.length > 0) out.sharedKeys = sharedKeys.join(",");
  return out;
}

/** A device's attribute request; an empty payload is read as `{}` (all attributes). Arrays of keys are accepted too. */
export function parseAttributeRequest(payload: unknown): AttributeKeySelection {
  const json = readObject(payload, "attribute request", '{"clientKeys": "a,b", "sharedKeys": "c"} (both optional)', true) ?? {};
  return keySelection(toKeyList(json.clientKeys, "clientKeys"), toKeyList(json.sharedKeys, "sharedKeys"));
}

/** Attribute response `{"client":{...},"shared":{...}}`; a scope with no attributes is left out, as ThingsBoard does. */
export function encodeAttributeResponse(response: { client?: unknown; shared?: unknown }): TbJson {
  const out: Record<string, TbJson> = {};
  for (const scope of ["client", "shared"] as const) {
    const values = response[scope];
    if (values === undefined || (isPlainObject(values) && Object.keys(values).length === 0)) continue;
    out[scope] = toValues(values, `${scope} attributes`);
  }
  return out;
}

export function parseAttributeResponse(payload: unknown): { client: TbValues; shared: TbValues } {
  const json = readObject(payload, "attribute response", '{"client": {...}, "shared": {...}}', true) ?? {};
  return {
    client: json.client === undefined ? {} : parseValues(json.client, 'attribute response "client"'),
    shared: json.shared === undefined ? {} : parseValues(json.shared, 'attribute response "shared"'),
  };
}
