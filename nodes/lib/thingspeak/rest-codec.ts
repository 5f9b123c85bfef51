/**
 * ThingSpeak REST API, client side (docs/PROTOCOLS.md 5.2, 5.3): request builders for update, bulk
 * update and reads, parsers for the answers, and the documented error codes in words. Pure: a
 * builder returns `{method, path, query, body?, headers?}` for the HTTP client to send.
 *
 * Decisions on UNCONFIRMED or undocumented points (see also codec.ts):
 * - Update answer: a positive entry id (text, JSON number, or the JSON entry of `update.json`)
 *   is success. `0` means ThingSpeak did not store the update (the classic behaviour, UNCONFIRMED
 *   in current docs; MathWorks' own thingspeak-arduino library treats it as "not inserted, most
 *   probably the 15 s rate limit"): parseUpdateAnswer throws "rate-limited" (retryable), so the
 *   link backs off and retries with the same coalesced values. `-1` is read as "no access".
 * - Read answers of `-1` (TS-AGE documents -1 for "no access"): for feeds and fields it is an
 *   "auth" error; for the last entry it is "no readable entry" (undefined), because an empty
 *   channel and a refused read cannot be told apart there.
 * - The write key goes in the THINGSPEAKAPIKEY header by default (documented for update; keeps it
 *   out of URLs and logs); GET updates put it in `api_key` as documented. Read keys go in the
 *   `api_key` query parameter (the only documented place for reads).
 * - Dates for `start`/`end` are sent as "YYYY-MM-DD HH:MM:SS" in UTC with `timezone=UTC` added
 *   when the caller gave no timezone, so the instant is unambiguous.
 * - Formats: json and csv for feeds and fields, plus txt for the last field value; xml is not
 *   offered. Bulk updates use the JSON form only; each item needs created_at or delta_t.
 */
import { TransportError, type TransportErrorCode } from "../transport/errors.js";
import { describeValue, toInteger } from "../transport/value-codec.js";
import {
  type ChannelUpdate,
  type CreatedAt,
  type FeedEntry,
  LIMITS,
  FIELD_NUMBERS,
  createdAtMs,
  createdAtText,
  encodeUpdate,
  invalid,
  isPlainObject,
  parseEntry,
  toChannelId,
  toChannelUpdate,
  toFieldNumber,
  updatePairs,
} from "./codec.js";

export interface RestRequest {
  method: "GET" | "POST";
  /** Path below the API origin (`https://api.thingspeak.com` or a custom base URL). */
  path: string;
  /** Unencoded values; the HTTP client encodes them. */
  query: Record<string, string>;
  /** Form text (update) or a JSON object (bulk update). */
  body?: string | Record<string, unknown>;
  headers?: Record<string, string>;
}

export type Tier = "free" | "paid";
export type ReadFormat = "json" | "csv";
export type LastFormat = ReadFormat | "txt";

export interface UpdateRequestOptions {
  /** POST (default) sends a form body; GET sends everything in the query. */
  method?: "POST" | "GET";
  /** text (default): the answer is the entry id; json: the entry. */
  format?: "text" | "json";
}

export interface ReadOptions {
  readKey?: string;
  /** 1..8000 entries (TS-READ). */
  results?: number;
  days?: number;
  minutes?: number;
  start?: CreatedAt;
  end?: CreatedAt;
  /** A ThingSpeak time zone identifier, e.g. "UTC" or "Europe/Berlin". */
  timezone?: string;
  /** Include each entry's status / latitude, longitude, elevation. */
  status?: boolean;
  location?: boolean;
  format?: ReadFormat;
}

export interface LastOptions {
  readKey?: string;
  timezone?: string;
  status?: boolean;
  location?: boolean;
  format?: LastFormat;
}

/** One bulk item: an update dated by created_at (absolute) or delta_t (seconds, relative). */
export type BulkUpdate = ChannelUpdate & { delta_t?: number };

export interface ChannelInfo {
  id: number;
  name?: string;
  description?: string;
  latitude?: string;
  longitude?: string;
  /** The channel's field names (labels), by field number. */
  fieldNames: Partial<Record<1 | 2 | 3 | 4 | 5 | 6 | 7 | 8, string>>;
  created_at?: string;
  updated_at?: string;
  last_entry_id?: number | null;
}

export interface FeedsAnswer {
  channel: ChannelInfo;
  feeds: FeedEntry[];
}

const KEY_ACCEPTED = "the channel's API key as text without spaces, e.g. XXXXXXXXXXXXXXXX";

/** A key must be usable text; its value never appears in a message. */
function checkKey(key: unknown, what: string): string {
  if (typeof key !== "string" || key === "" || /[\s\u0000-\u001f\u007f]/.test(key)) {
    const got = typeof key === "string" ? (key === "" ? "an empty string" : "text with spaces or control characters") : describeValue(key);
    throw invalid(`the ${what} must be set, got ${got}; accepted: ${KEY_ACCEPTED}`);
  }
  return key;
}

function oneOf<T extends string>(value: T | undefined, allowed: readonly T[], fallback: T, what: string): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) throw invalid(`${what} ${describeValue(value)} is not offered; accepted: ${allowed.join(", ")}`);
  return value;
}

/** `update` over REST. The body/query are the same form pairs as the MQTT payload. */
export function buildUpdateRequest(update: ChannelUpdate, writeKey: unknown, options: UpdateRequestOptions = {}): RestRequest {
  const key = checkKey(writeKey, "write API key");
  const method = oneOf(options.method, ["POST", "GET"], "POST", "method");
  const format = oneOf(options.format, ["text", "json"], "text", "answer format");
  const path = format === "json" ? "/update.json" : "/update";
  const body = encodeUpdate(update); // validates, checks the size
  if (method === "GET") return { method, path, query: { api_key: key, ...Object.fromEntries(updatePairs(update)) } };
  return {
    method,
    path,
    query: {},
    body,
    headers: { "Content-Type": "application/x-www-form-urlencoded", THINGSPEAKAPIKEY: key },
  };
}

function bulkItem(item: BulkUpdate, index: number): Record<string, unknown> {
  const what = `bulk update ${index}`;
  const hasDelta = item.delta_t !== undefined;
  if (hasDelta === (item.created_at !== undefined)) {
    throw invalid(`${what} needs exactly one of created_at or delta_t; accepted: created_at as a time, or delta_t in seconds since the previous item`);
  }
  const { delta_t: delta, ...rest } = item;
  const update = toChannelUpdate(rest);
  encodeUpdate(update); // the same per-message size limit as a single update
  const out: Record<string, unknown> = {};
  if (update.created_at !== undefined) out.created_at = createdAtText(update.created_at);
  else out.delta_t = toInteger(delta, `${what} delta_t`, { min: 0 });
  for (const n of FIELD_NUMBERS) {
    const v = update.fields[n];
    if (v !== undefined) out[`field${n}`] = typeof v === "boolean" ? (v ? 1 : 0) : v; // numbers stay JSON numbers
  }
  if (update.lat !== undefined) out.latitude = update.lat;
  if (update.long !== undefined) out.longitude = update.long;
  if (update.elevation !== undefined) out.elevation = update.elevation;
  if (update.status !== undefined) out.status = update.status;
  return out;
}

/** `bulk_update.json`: up to LIMITS.bulkMessages[tier] items; calls at least 15 s apart (the caller's timer). */
export function buildBulkUpdateRequest(channelId: unknown, writeKey: unknown, updates: readonly BulkUpdate[], tier: Tier = "free"): RestRequest {
  const id = toChannelId(channelId);
  const key = checkKey(writeKey, "write API key");
  const max = LIMITS.bulkMessages[oneOf(tier, ["free", "paid"], "free", "tier")];
  const list: unknown = updates; // plain-JS callers may pass anything
  if (!Array.isArray(list) || updates.length === 0) {
    throw invalid(`a bulk update needs a non-empty array of updates, got ${describeValue(updates)}; accepted: 1 to ${max} updates`);
  }
  if (updates.length > max) {
    throw new TransportError("too-large", `a bulk update of ${updates.length} messages is over the ${tier} limit; accepted: 1 to ${max} per call`);
  }
  return {
    method: "POST",
    path: `/channels/${id}/bulk_update.json`,
    query: {},
    body: { write_api_key: key, updates: updates.map((u, i) => bulkItem(u, i)) },
    headers: { "Content-Type": "application/json" },
  };
}

/** "YYYY-MM-DD HH:MM:SS" (UTC) for Dates and ms; text as written. */
function readTime(value: CreatedAt, what: string): string {
  if (typeof value === "string") {
    createdAtMs(value.trim()); // validates
    return value.trim();
  }
  try {
    return new Date(createdAtMs(value)).toISOString().slice(0, 19).replace("T", " ");
  } catch {
    throw invalid(`${what} ${describeValue(value)} is not a time; accepted: a Date, ms since 1970 or "YYYY-MM-DD HH:MM:SS"`);
  }
}

function readQuery(options: ReadOptions | LastOptions, full: boolean): Record<string, string> {
  const q: Record<string, string> = {};
  if (options.readKey !== undefined) q.api_key = checkKey(options.readKey, "read API key");
  if (full) {
    const o = options as ReadOptions;
    if (o.results !== undefined) q.results = String(toInteger(o.results, "results", { min: 1, max: LIMITS.readResults }));
    if (o.days !== undefined) q.days = String(toInteger(o.days, "days", { min: 1 }));
    if (o.minutes !== undefined) q.minutes = String(toInteger(o.minutes, "minutes", { min: 1 }));
    const dated = (o.start !== undefined && typeof o.start !== "string") || (o.end !== undefined && typeof o.end !== "string");
    if (o.start !== undefined) q.start = readTime(o.start, "start");
    if (o.end !== undefined) q.end = readTime(o.end, "end");
    if (dated && options.timezone === undefined) q.timezone = "UTC";
  }
  if (options.timezone !== undefined) q.timezone = options.timezone;
  if (options.status === true) q.status = "true";
  if (options.location === true) q.location = "true";
  return q;
}

export function buildFeedsRequest(channelId: unknown, options: ReadOptions = {}): RestRequest {
  const format = oneOf(options.format, ["json", "csv"], "json", "format");
  return { method: "GET", path: `/channels/${toChannelId(channelId)}/feeds.${format}`, query: readQuery(options, true) };
}

export function buildFieldRequest(channelId: unknown, field: unknown, options: ReadOptions = {}): RestRequest {
  const format = oneOf(options.format, ["json", "csv"], "json", "format");
  return { method: "GET", path: `/channels/${toChannelId(channelId)}/fields/${toFieldNumber(field)}.${format}`, query: readQuery(options, true) };
}

export function buildLastRequest(channelId: unknown, options: LastOptions = {}): RestRequest {
  const format = oneOf(options.format, ["json", "csv"], "json", "format");
  return { method: "GET", path: `/channels/${toChannelId(channelId)}/feeds/last.${format}`, query: readQuery(options, false) };
}

export function buildFieldLastRequest(channelId: unknown, field: unknown, options: LastOptions = {}): RestRequest {
  const format = oneOf(options.format, ["json", "csv", "txt"], "json", "format");
  return { method: "GET", path: `/channels/${toChannelId(channelId)}/fields/${toFieldNumber(field)}/last.${format}`, query: readQuery(options, false) };
}

// ---------------------------------------------------------------------------------------------
// Answers

/** Text, Buffer or an already parsed JSON value -> a JSON value; text that is not JSON stays text. */
function answerValue(body: unknown): unknown {
  if (typeof body !== "string" && !Buffer.isBuffer(body)) return body;
  const text = body.toString().trim();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isMinusOne(value: unknown): boolean {
  return value === -1 || value === "-1";
}

const NO_ACCESS = "ThingSpeak answered -1: the channel is private and the read API key is missing or wrong";

/** The update answer -> the new entry id; 0 and -1 throw (see the decisions above). */
export function parseUpdateAnswer(body: unknown): number {
  const value = answerValue(body);
  const id = isPlainObject(value) ? value.entry_id : typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (id === 0 || id === "0") {
    throw new TransportError(
      "rate-limited",
      "ThingSpeak did not store the update (answer 0): most likely it came sooner than the channel's update interval (15 s free, 1 s paid) after the previous one; try again after the interval",
      { retryable: true },
    );
  }
  if (isMinusOne(id)) throw new TransportError("auth", "ThingSpeak answered -1 to the update: the write API key is not accepted for this channel");
  if (typeof id === "number" && Number.isSafeInteger(id) && id > 0) return id;
  throw new TransportError("protocol", `the update answer ${describeValue(value)} is not an entry id; expected a positive whole number or the entry as JSON`);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : undefined;
}

function parseChannel(value: unknown): ChannelInfo {
  if (!isPlainObject(value)) throw new TransportError("protocol", `the "channel" of a read answer is ${describeValue(value)}; expected an object`);
  const id = Number(value.id);
  if (!Number.isSafeInteger(id) || id < 1) throw new TransportError("protocol", `the channel id ${describeValue(value.id)} of a read answer is not a positive whole number`);
  const info: ChannelInfo = { id, fieldNames: {} };
  for (const k of ["name", "description", "latitude", "longitude", "created_at", "updated_at"] as const) {
    const v = text(value[k]);
    if (v !== undefined) info[k] = v;
  }
  for (const n of FIELD_NUMBERS) {
    const v = text(value[`field${n}`]);
    if (v !== undefined) info.fieldNames[n] = v;
  }
  const last = value.last_entry_id;
  if (last === null || (typeof last === "number" && Number.isSafeInteger(last))) info.last_entry_id = last;
  return info;
}

/** `feeds.json` and `fields/N.json` -> the channel and its entries (channel_id filled in). */
export function parseFeedsAnswer(body: unknown): FeedsAnswer {
  const value = answerValue(body);
  if (isMinusOne(value)) throw new TransportError("auth", NO_ACCESS);
  if (!isPlainObject(value) || !Array.isArray(value.feeds)) {
    throw new TransportError("protocol", `the read answer ${describeValue(value)} is not {"channel": {...}, "feeds": [...]}`);
  }
  const channel = parseChannel(value.channel);
  return { channel, feeds: (value.feeds as unknown[]).map((e) => asProtocol(() => parseEntry(e, channel.id))) };
}

/** `feeds/last.json` and `fields/N/last.json` -> the entry, or undefined for -1 (see decisions). */
export function parseLastAnswer(body: unknown, channelId: unknown): FeedEntry | undefined {
  const value = answerValue(body);
  if (isMinusOne(value)) return undefined;
  const id = toChannelId(channelId);
  return asProtocol(() => parseEntry(value, id));
}

/** A server answer that does not parse is the server's fault: "protocol", not "invalid". */
function asProtocol<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TransportError && err.code === "invalid") throw new TransportError("protocol", `ThingSpeak answered an unusable entry: ${err.message}`);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Errors (TS-ERR)

export type RestErrorCode =
  | "error_bad_request" | "error_auth_required" | "error_payment_required" | "error_resource_not_found" | "error_method_invalid"
  | "error_conflict" | "error_request_too_large" | "error_no_action" | "error_invalid_byte_sequence" | "error_too_many_requests";

/** The documented codes by HTTP status, with their meaning in our words. */
export const REST_ERRORS: Readonly<Partial<Record<number, { code: RestErrorCode; meaning: string }>>> = {
  400: { code: "error_bad_request", meaning: "the request is malformed or a parameter is not accepted" },
  401: { code: "error_auth_required", meaning: "the API key is missing or not valid for this channel" },
  402: { code: "error_payment_required", meaning: "the account's license or message quota does not allow this" },
  404: { code: "error_resource_not_found", meaning: "there is no such channel, field or API path" },
  405: { code: "error_method_invalid", meaning: "this HTTP method is not allowed on this path" },
  409: { code: "error_conflict", meaning: "it conflicts with stored data (e.g. an entry with the same created_at exists)" },
  413: { code: "error_request_too_large", meaning: `the request is too large (at most ${LIMITS.messageBytes} bytes per message)` },
  421: { code: "error_no_action", meaning: "the server had nothing to do with the request (e.g. no value to write)" },
  422: { code: "error_invalid_byte_sequence", meaning: "the request holds bytes that are not valid UTF-8" },
  429: { code: "error_too_many_requests", meaning: "too many requests: faster than the channel's update interval (15 s free, 1 s paid) or a rate limit" },
};

/** An HTTP status and answer body (JSON error form, text code, or anything) -> a sentence. */
export function describeRestError(status: number, body?: unknown): string {
  const value = answerValue(body);
  const known = REST_ERRORS[status];
  let code: string | undefined;
  let detail: string | undefined;
  if (isPlainObject(value) && isPlainObject(value.error)) {
    code = text(value.error.error_code);
    const parts = [text(value.error.message), text(value.error.details)];
    // Our own server repeats the meaning as its message: say it once.
    detail = parts.filter((s) => s !== undefined && s !== "" && s !== known?.meaning).join("; ");
  } else if (typeof value === "string" && /^error_[a-z_]+$/.test(value)) code = value;
  if (status >= 200 && status < 300) {
    if (value === 0 || value === "0") return "ThingSpeak did not store the update (answer 0), most likely because of the update interval";
    if (isMinusOne(value)) return `${NO_ACCESS} (or, for a last-entry read, the channel has no entries yet)`;
  }
  const meaning = known?.meaning ?? (status >= 500 ? "ThingSpeak has a server problem; try again later" : "unexpected answer");
  const head = `HTTP ${status}${code !== undefined ? ` ${code}` : known ? ` ${known.code}` : ""}`;
  return `${head}: ${meaning}${detail !== undefined && detail !== "" ? ` (server: ${JSON.stringify(detail.slice(0, 200))})` : ""}`;
}

/** The TransportError for a failed REST exchange, with a code the link can act on. */
export function restError(status: number, body?: unknown): TransportError {
  const code: TransportErrorCode = status === 401 || status === 403 ? "auth" : status === 429 ? "rate-limited" : status === 413 ? "too-large" : "http";
  return new TransportError(code, describeRestError(status, body), { status, retryable: status === 429 || status >= 500 });
}
