/**
 * ThingSpeak channel updates (docs/PROTOCOLS.md 5.1, 5.2, 5.3: publish payload, `update`, limits): the
 * ChannelUpdate model, user input -> update, coalescing, and the form-encoded wire form in both
 * directions. Pure functions; codec.ts re-exports everything here and lists the decisions on
 * UNCONFIRMED points.
 */
import { TransportError } from "../transport/errors.js";
import { describeValue, stringOrUtf8, toInteger, toNumber } from "../transport/value-codec.js";
import { isPlainObject } from "../transport/value-codec.js";

/** Limits of the ThingSpeak cloud (docs/PROTOCOLS.md 5.3 unless noted). */
export const LIMITS = {
  /** field1..field8 (TS-PUB, TS-CHAN). */
  fields: 8,
  /** One write of up to 8 fields, encoded (TS-FAQ). */
  messageBytes: 3000,
  /** One update per channel per interval, MQTT and REST combined (TS-KEYS, TS-ANS-504006). */
  updateIntervalMs: { free: 15_000, paid: 1_000 },
  /** Messages per bulk call (TS-ANS-592618 quoting the bulk doc). */
  bulkMessages: { free: 960, paid: 14_400 },
  /** Between bulk calls (TS-ANS-592618). */
  bulkIntervalMs: 15_000,
  /** Entries per read (TS-READ). */
  readResults: 8000,
} as const;

export type FieldNumber = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
export const FIELD_NUMBERS: readonly FieldNumber[] = [1, 2, 3, 4, 5, 6, 7, 8];
export type FieldValue = string | number | boolean;
export type CreatedAt = Date | string | number;

export interface ChannelUpdate {
  fields: Partial<Record<FieldNumber, FieldValue>>;
  lat?: number;
  long?: number;
  elevation?: number;
  status?: string;
  /** Date, ISO 8601 text (zone-less is read as UTC), or ms since 1970. */
  created_at?: CreatedAt;
}

/** A device's or REST client's form, split into the update and the other parameters. */
export interface ParsedForm {
  update: ChannelUpdate;
  /** `api_key` when present (REST; MQTT payloads carry none). */
  apiKey?: string;
  timezone?: string;
  /** Keys that are not part of an update (field9, twitter, talkback_key...): ignored, listed for logs. */
  ignored: string[];
  /** Encoded bytes of the update's own `key=value` pairs: what LIMITS.messageBytes applies to. */
  bytes: number;
}

export const FIELD_ACCEPTED = "field1 to field8 (or the numbers 1 to 8)";
const KEYS_ACCEPTED = `${FIELD_ACCEPTED}, lat (or latitude), long (or longitude), elevation, status, created_at`;
const VALUE_ACCEPTED = "a non-empty string, a finite number or a boolean (sent as 1/0)";
const TIME_ACCEPTED =
  'a Date, milliseconds since 1970, or ISO 8601 text such as "2024-01-19T12:25:30Z" or "2024-01-19 12:25:30" (read as UTC)';
const EXAMPLE = 'e.g. 21.5 with the field set, or {"field1": 21.5, "field2": 60, "status": "ok"}';
/** ISO 8601 date or date-time; T or space; optional seconds, fraction and zone. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/i;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

// One definition for every platform: objects built in Function nodes come from another realm.
export { isPlainObject };

export function isFieldNumber(value: unknown): value is FieldNumber {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= LIMITS.fields;
}

/** 3, "3", "field3" (any case, spaces around) -> 3; anything else refused, naming field1..field8. */
export function toFieldNumber(value: unknown): FieldNumber {
  let n: number | undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string") {
    const m = /^\s*(?:field)?(\d+)\s*$/i.exec(value);
    if (m) n = Number(m[1]);
  }
  if (isFieldNumber(n)) return n;
  if (n !== undefined && Number.isInteger(n)) throw invalid(`field ${n} does not exist; accepted: ${FIELD_ACCEPTED}`);
  throw invalid(`${describeValue(value)} is not a field; accepted: ${FIELD_ACCEPTED}`);
}

/** A channel id: a positive whole number (or its decimal text). */
export function toChannelId(value: unknown): number {
  return toInteger(value, "channel id", { min: 1 });
}

/** Field value -> the text ThingSpeak stores; booleans become 1/0 so charts can plot them. */
export function fieldText(value: FieldValue): string {
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value === "number") return Object.is(value, -0) ? "0" : String(value);
  return value;
}

function fieldValue(value: unknown, what: string): FieldValue {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "boolean") return value;
  const text = stringOrUtf8(value, () => invalid(`${what} is a Buffer that is not valid UTF-8 text; accepted: ${VALUE_ACCEPTED}`));
  if (text === undefined) throw invalid(`${what} cannot be written, got ${describeValue(value)}; accepted: ${VALUE_ACCEPTED}`);
  // An empty value stores nothing (the entry would hold null): refuse rather than write a blank row.
  if (text === "") throw invalid(`${what} is an empty string, which writes nothing; accepted: ${VALUE_ACCEPTED}`);
  return text;
}

function statusText(value: unknown): string {
  const text = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
  if (typeof text !== "string" || text === "") {
    throw invalid(`status must be non-empty text, got ${describeValue(value)}; accepted: a string (numbers are written as text)`);
  }
  return text;
}

/** Milliseconds of a created_at; zone-less text is UTC (ThingSpeak's default without `timezone`). */
export function createdAtMs(value: unknown): number {
  if (value instanceof Date) {
    const t = value.getTime();
    if (Number.isFinite(t)) return t;
  } else if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else if (typeof value === "string") {
    const t = parseIsoMs(value.trim());
    if (t !== undefined) return t;
  }
  throw invalid(`created_at ${describeValue(value)} is not a time; accepted: ${TIME_ACCEPTED}`);
}

function parseIsoMs(text: string): number | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = "Z"] = m;
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const back = new Date(local);
  // Date.UTC rolls 2024-02-30 over to March: a changed day/hour means the text named no real time.
  if (back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1 || back.getUTCHours() !== Number(h) || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  let offsetMin = 0;
  if (!/^(?:Z|UTC)$/i.test(zone)) {
    const digits = zone.replace(":", "");
    offsetMin = (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5))) * (digits.startsWith("-") ? -1 : 1);
  }
  return local - offsetMin * 60_000;
}

/** ISO 8601 UTC with seconds, ms only when not zero: the wire form of a Date or ms created_at. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** Text as ThingSpeak shows it in entries: UTC, whole seconds ("2018-09-10T17:41:59Z"). */
export function entryTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function setKey(update: ChannelUpdate, key: string, value: unknown, seen: Set<string>): void {
  if (value === undefined || value === null) return; // absent: nothing to write for this key
  const lower = key.toLowerCase();
  let canonical = lower === "latitude" ? "lat" : lower === "longitude" ? "long" : lower;
  if (/^(?:field)?\d+$/.test(canonical)) canonical = `field${toFieldNumber(canonical)}`; // "1" and "field1" are one key
  if (seen.has(canonical)) throw invalid(`"${key}" is given twice (as ${canonical} and an alias); give it once; accepted: ${KEYS_ACCEPTED}`);
  seen.add(canonical);
  if (canonical.startsWith("field")) {
    const n = toFieldNumber(canonical);
    update.fields[n] = fieldValue(value, canonical);
  } else if (canonical === "lat") update.lat = toNumber(value, "lat (latitude)", { min: -90, max: 90 });
  else if (canonical === "long") update.long = toNumber(value, "long (longitude)", { min: -180, max: 180 });
  else if (canonical === "elevation") update.elevation = toNumber(value, "elevation (metres)");
  else if (canonical === "status") update.status = statusText(value);
  else if (canonical === "created_at") {
    createdAtMs(value); // validates; the value is kept as given so a written zone survives
    update.created_at = value instanceof Date ? new Date(value.getTime()) : (value as string | number);
  } else throw invalid(`unknown key ${JSON.stringify(key)}; accepted: ${KEYS_ACCEPTED}`);
}

/**
 * User input -> ChannelUpdate. A single value (string, number, boolean, UTF-8 Buffer) goes to
 * `fieldHint` (3, "3" or "field3"); an object names its keys: field1..8 or 1..8, lat/long (or
 * latitude/longitude), elevation, status, created_at, or a ChannelUpdate's `fields`.
 */
export function toChannelUpdate(input: unknown, fieldHint?: unknown): ChannelUpdate {
  const update: ChannelUpdate = { fields: {} };
  const seen = new Set<string>();
  if (isPlainObject(input)) {
    for (const [key, value] of Object.entries(input)) {
      if (key === "fields" && isPlainObject(value)) {
        for (const [k, v] of Object.entries(value)) setKey(update, `field${String(toFieldNumber(k))}`, v, seen);
      } else setKey(update, key, value, seen);
    }
  } else if (input === undefined || input === null || (typeof input === "object" && !Buffer.isBuffer(input))) {
    throw invalid(`cannot write ${describeValue(input)}; accepted: a single value for one field or an object of ${KEYS_ACCEPTED}; ${EXAMPLE}`);
  } else {
    if (fieldHint === undefined || fieldHint === null || fieldHint === "") {
      throw invalid(`a single value needs a field: set the node's field or msg.topic to one of ${FIELD_ACCEPTED}, or send an object; ${EXAMPLE}`);
    }
    const n = toFieldNumber(fieldHint);
    update.fields[n] = fieldValue(input, `field${n}`);
  }
  if (isEmptyUpdate(update)) throw invalid(`nothing to write: no field, location, elevation or status was given (created_at alone writes nothing); accepted: ${KEYS_ACCEPTED}; ${EXAMPLE}`);
  return update;
}

/** True when the update carries no field, location, elevation or status (created_at alone is nothing). */
export function isEmptyUpdate(update: ChannelUpdate): boolean {
  return Object.keys(update.fields).length === 0 && update.lat === undefined && update.long === undefined &&
    update.elevation === undefined && update.status === undefined;
}

/**
 * Coalesces two writes into one: per key the latest (`b`) wins. created_at is `b`'s or none:
 * keeping `a`'s would date `b`'s newer values in the past, so an undated `b` lets the time of
 * sending date the merged row.
 */
export function mergeUpdates(a: ChannelUpdate, b: ChannelUpdate): ChannelUpdate {
  const merged: ChannelUpdate = { fields: { ...a.fields, ...b.fields } };
  const lat = b.lat ?? a.lat;
  const long = b.long ?? a.long;
  const elevation = b.elevation ?? a.elevation;
  const status = b.status ?? a.status;
  if (lat !== undefined) merged.lat = lat;
  if (long !== undefined) merged.long = long;
  if (elevation !== undefined) merged.elevation = elevation;
  if (status !== undefined) merged.status = status;
  if (b.created_at !== undefined) merged.created_at = b.created_at;
  return merged;
}

/** created_at as sent: strings as written, Dates and ms as ISO 8601 UTC. */
export function createdAtText(value: CreatedAt): string {
  return typeof value === "string" ? value.trim() : isoTime(createdAtMs(value));
}

/** The update's `[key, text]` pairs in wire order: field1..8, lat, long, elevation, status, created_at. */
export function updatePairs(update: ChannelUpdate): [string, string][] {
  const checked = toChannelUpdate(update); // nothing half-formed leaves: re-validate what callers built
  const pairs: [string, string][] = [];
  for (const n of FIELD_NUMBERS) {
    const v = checked.fields[n];
    if (v !== undefined) pairs.push([`field${n}`, fieldText(v)]);
  }
  if (checked.lat !== undefined) pairs.push(["lat", fieldText(checked.lat)]);
  if (checked.long !== undefined) pairs.push(["long", fieldText(checked.long)]);
  if (checked.elevation !== undefined) pairs.push(["elevation", fieldText(checked.elevation)]);
  if (checked.status !== undefined) pairs.push(["status", checked.status]);
  if (checked.created_at !== undefined) pairs.push(["created_at", createdAtText(checked.created_at)]);
  return pairs;
}

/** RFC 3986: everything but A-Z a-z 0-9 - . _ ~ as %XX of its UTF-8 bytes. */
export function percentEncode(text: string): string {
  try {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  } catch {
    throw invalid(`${JSON.stringify(text.slice(0, 40))} contains a lone UTF-16 surrogate, which has no UTF-8 form; accepted: well-formed text`);
  }
}

/** `key=value&...` of percent-encoded pairs. */
export function encodePairs(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join("&");
}

export function assertMessageSize(bytes: number, what: string): void {
  if (bytes > LIMITS.messageBytes) {
    throw new TransportError(
      "too-large",
      `${what} is ${bytes} bytes; ThingSpeak accepts at most ${LIMITS.messageBytes} bytes per message; shorten the status or field texts`,
    );
  }
}

/** ChannelUpdate -> the form body of `channels/<id>/publish` and REST `update` (api_key not included). */
export function encodeUpdate(update: ChannelUpdate): string {
  const body = encodePairs(updatePairs(update));
  assertMessageSize(Buffer.byteLength(body), "the encoded update");
  return body;
}

/** Form decoding at byte level: `+` is space, `%XX` a byte, a stray `%` itself; then strict UTF-8. */
export function formDecode(raw: Buffer, what: string): string {
  const out = Buffer.alloc(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] ?? 0;
    const hex = b === 0x25 ? raw.subarray(i + 1, i + 3).toString("latin1") : "";
    if (b === 0x2b) out[n++] = 0x20;
    else if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = b;
  }
  try {
    return strictUtf8.decode(out.subarray(0, n));
  } catch {
    // Reported as "invalid" with this wording; the REST server maps it to 422 error_invalid_byte_sequence.
    throw invalid(`${what} is not valid UTF-8 after percent-decoding; accepted: UTF-8 text, percent-encoded (RFC 3986)`);
  }
}

const UPDATE_KEY = /^(?:field[1-8]|lat|long|elevation|status|created_at)$/;

/** Raw `key=value&...` -> ordered pairs with their raw byte length; empty pieces (`a=1&&b=2`) skipped. */
export function decodeForm(body: Buffer | string): FormPair[] {
  const raw = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const out: FormPair[] = [];
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf(0x26, start);
    if (end < 0) end = raw.length;
    const piece = raw.subarray(start, end);
    if (piece.length > 0) {
      const eq = piece.indexOf(0x3d);
      const key = formDecode(eq < 0 ? piece : piece.subarray(0, eq), "a form key");
      const value = eq < 0 ? "" : formDecode(piece.subarray(eq + 1), `the value of ${JSON.stringify(key)}`);
      out.push({ key, value, rawBytes: piece.length });
    }
    start = end + 1;
  }
  return out;
}

export interface FormPair {
  key: string;
  value: string;
  /** Bytes of `key=value` as received (re-encoded canonically for already decoded input). */
  rawBytes: number;
}

/**
 * Server side: a device's publish payload or a REST update's parameters (raw form, an object
 * already decoded by a body parser, or pairs) -> ParsedForm. Field values stay text (as
 * ThingSpeak stores them); empty values count as absent; the last of a repeated key wins; keys
 * that are not part of an update are ignored and listed. Refused: bad lat/long/elevation or
 * created_at, invalid UTF-8, and an update over LIMITS.messageBytes ("too-large").
 */
export function parseUpdateForm(body: Buffer | string | Readonly<Record<string, unknown>> | readonly FormPair[]): ParsedForm {
  let params: readonly FormPair[];
  if (Array.isArray(body)) params = body as readonly FormPair[];
  else if (isPlainObject(body)) params = Object.entries(body).map(([key, v]) => formPair(key, paramText(v)));
  else params = decodeForm(body as Buffer | string);
  const values = new Map<string, FormPair>();
  const parsed: ParsedForm = { update: { fields: {} }, ignored: [], bytes: 0 };
  for (const p of params) {
    if (p.key === "api_key") parsed.apiKey = p.value;
    else if (p.key === "timezone") parsed.timezone = p.value;
    else if (UPDATE_KEY.test(p.key)) values.set(p.key, p);
    else if (!parsed.ignored.includes(p.key)) parsed.ignored.push(p.key);
  }
  for (const { key, value, rawBytes } of values.values()) {
    parsed.bytes += rawBytes;
    if (value !== "") setKey(parsed.update, key, value, new Set());
  }
  parsed.bytes += Math.max(0, values.size - 1); // the "&" between pairs
  assertMessageSize(parsed.bytes, "the update");
  return parsed;
}

/** A decoded key and value as a pair, sized as its canonical encoding. */
export function formPair(key: string, value: string): FormPair {
  let rawBytes: number;
  try {
    rawBytes = Buffer.byteLength(encodePairs([[key, value]]));
  } catch {
    rawBytes = Buffer.byteLength(`${key}=${value}`); // lone surrogates: size the text as is
  }
  return { key, value, rawBytes };
}

/** Server side: the ChannelUpdate of a form body (see parseUpdateForm). */
export function parseUpdate(body: Buffer | string): ChannelUpdate {
  return parseUpdateForm(body).update;
}

function paramText(value: unknown): string {
  // A repeated key (["1", "2"]) counts as its last value; an array inside it is no parameter.
  const last = Array.isArray(value) ? (value as unknown[]).at(-1) : value;
  if (typeof last === "string") return last;
  if (typeof last === "number" || typeof last === "boolean") return fieldText(last);
  if (last === undefined || last === null) return "";
  throw invalid(`a parameter value must be text or a number, got ${describeValue(value)}; accepted: ${VALUE_ACCEPTED}`);
}

/** Field-topic payload (`.../publish/fields/fieldN`, `.../subscribe/fields/fieldN`): raw UTF-8 text, no percent-decoding. */
export function parseFieldPayload(payload: Buffer | string): string {
  if (typeof payload === "string") return payload;
  try {
    return strictUtf8.decode(payload);
  } catch {
    throw invalid("the field value is not valid UTF-8 text; accepted: the value as plain UTF-8 text, e.g. 45");
  }
}

/** A value for a field topic: the field's text, with the message-size limit. */
export function encodeFieldPayload(value: unknown, field: unknown): string {
  const n = toFieldNumber(field);
  const text = fieldText(fieldValue(value, `field${n}`));
  assertMessageSize(Buffer.byteLength(text), `the value for field${n}`);
  return text;
}
