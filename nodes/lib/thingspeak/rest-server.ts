/**
 * ThingSpeak REST API, server side (docs/PROTOCOLS.md 5.2): what the self-hosted API needs to
 * understand a request. Pure: the emulation strips its mount path, checks keys against its
 * channels, reads its store, and sends the answer (rest-answers.ts, re-exported here).
 *
 * Decisions on UNCONFIRMED or undocumented points (see also codec.ts, rest-codec.ts and
 * rest-answers.ts):
 * - Served: `update[.json]` (GET/POST); `feeds`, `feeds/last`, `fields/N`, `fields/N/last` and
 *   `status` in json and csv, plus txt for `fields/N/last`; `feeds/last_data_age` and
 *   `fields/N/last_data_age` in json, csv and txt; POST `bulk_update.json` (rest-bulk.ts). No
 *   extension means json (text for `update`). Other documented paths (bulk_update.csv, xml)
 *   answer 404 "not served here".
 * - POST bodies: JSON when the Content-Type says so, otherwise form-encoded (devices often omit
 *   the header); body parameters win over query parameters; the key may also come in the
 *   THINGSPEAKAPIKEY header. `/update` names no channel: the write key selects it, so a missing
 *   key is 401 here and a wrong one is the emulation's 401.
 * - Times: `timezone` (an IANA name) or `offset` (whole hours, -12 to 14) names the zone of a
 *   read's answers and of zone-less `start` and `end`; `timezone` also reads a zone-less update
 *   `created_at`. Without them times are UTC. ThingSpeak's Rails zone names ("Eastern Time (US
 *   & Canada)") are not known: 400 naming the IANA form.
 * - Reads: `results` defaults to 100 without a time range and 8000 with one (UNCONFIRMED), values
 *   above 8000 are clamped; `status` reads the last day unless a range is given (as the
 *   open-source ThingSpeak does). Aggregation and filtering parameters (min, max, round,
 *   timescale, sum, average, median) are refused (400), never ignored.
 * - A rejected update (over the interval) answers 200 with body `0` (what device libraries
 *   expect); an empty channel's last entry answers `-1`.
 */
import {
  type ChannelUpdate,
  type FeedEntry,
  type FieldNumber,
  type FormPair,
  LIMITS,
  createdAtMs,
  decodeForm,
  formPair,
  isPlainObject,
  parseUpdateForm,
} from "./codec.js";
import { TransportError } from "../transport/errors.js";
import { isTimeZone, ZoneClock } from "../transport/time-zone.js";
import { jsonTextTooDeep, tooDeep } from "../transport/json-limits.js";
import { restRefusal, type ReadFormatServed, type RestRefusal } from "./rest-answers.js";
import { parseBulkBody, type BulkItem } from "./rest-bulk.js";

export {
  channelJson, encodeCsv, formatAgeAnswer, formatBulkAnswer, formatFeedsAnswer, formatLastAnswer, formatRestError, formatStatusAnswer,
  formatUpdateAnswer, inZone, parseFeedsCsv, restRefusal, type EntryShape, type ReadFormatServed, type RestAnswer, type RestRefusal,
} from "./rest-answers.js";

export interface ReadQuery {
  results: number;
  days?: number;
  minutes?: number;
  /** ms since 1970. */
  start?: number;
  end?: number;
  timezone?: string;
  /** Whole hours east of UTC that answers show (ThingSpeak's `offset`); `timezone` wins. */
  offset?: number;
  status: boolean;
  location: boolean;
  prepend?: string;
  append?: string;
}

export type RestIntent =
  | { op: "update"; format: "text" | "json"; apiKey: string; update: ChannelUpdate; timezone?: string; ignored: string[] }
  | { op: "feeds" | "last" | "status" | "age"; channelId: number; format: ReadFormatServed; apiKey?: string; query: ReadQuery }
  | { op: "field" | "field-last" | "field-age"; channelId: number; field: FieldNumber; format: ReadFormatServed; apiKey?: string; query: ReadQuery }
  /** `bulk_update.json`: the updates with their times still to resolve (rest-bulk.ts `resolveTimes`). */
  | { op: "bulk"; channelId: number; apiKey?: string; items: BulkItem[] };

export type QueryArg = string | URLSearchParams | Readonly<Record<string, unknown>> | undefined;
export type HeadersArg = Readonly<Record<string, string | readonly string[] | undefined>>;

const DEFAULT_RESULTS = 100;
const REFUSED_PARAMS = ["min", "max", "round", "timescale", "sum", "average", "median"];
const ROUTE = /^\/channels\/([^/]+)\/(feeds|fields\/([^/.]+)|status|bulk_update)(\/last|\/last_data_age)?(?:\.([A-Za-z]+))?$/;
const SERVED = "/update, /channels/<id>/feeds, /channels/<id>/feeds/last, /channels/<id>/fields/<1-8>, /channels/<id>/fields/<1-8>/last (.json or .csv), /channels/<id>/status, .../last_data_age, POST /channels/<id>/bulk_update.json";

function refuse(status: number, message: string): RestRefusal {
  return restRefusal(status, message);
}

function isRefusal(value: unknown): value is RestRefusal {
  return isPlainObject(value) && typeof value.status === "number" && typeof value.error === "string";
}

function pairsOf(value: QueryArg | Buffer, what: string): FormPair[] {
  if (value === undefined) return [];
  if (typeof value === "string" || Buffer.isBuffer(value)) return decodeForm(value);
  if (value instanceof URLSearchParams) return [...value.entries()].map(([k, v]) => formPair(k, v));
  if (!isPlainObject(value)) throw new TransportError("invalid", `the ${what} is not form data or an object`);
  return Object.entries(value).flatMap(([k, v]) => {
    const last: unknown = Array.isArray(v) ? v[v.length - 1] : v; // a repeated parameter: the last wins
    if (last === undefined || last === null) return [];
    if (typeof last !== "string" && typeof last !== "number" && typeof last !== "boolean") {
      throw new TransportError("invalid", `parameter ${JSON.stringify(k)} is not text or a number`);
    }
    return [formPair(k, String(last))];
  });
}

function headerKey(headers: HeadersArg | undefined): string | undefined {
  if (headers === undefined) return undefined;
  const found = Object.entries(headers).find(([k]) => k.toLowerCase() === "thingspeakapikey")?.[1];
  const value = Array.isArray(found) ? (found as readonly string[])[0] : (found as string | undefined);
  return value === undefined || value === "" ? undefined : value;
}

/** A TransportError from the codec -> the documented status for it. */
function refusalFor(err: unknown): RestRefusal {
  if (!(err instanceof TransportError)) throw err;
  if (err.code === "too-large") return refuse(413, err.message);
  if (err.message.includes("UTF-8")) return refuse(422, err.message);
  return refuse(400, err.message);
}

/**
 * A request to the self-hosted API -> what it asks for, or the refusal to send (status, code,
 * message in words). `path` is below the mount point, e.g. "/update" or "/channels/9/feeds.json".
 */
export function parseRestRequest(
  method: string,
  path: string,
  query: QueryArg,
  body: unknown,
  contentType?: string,
  headers?: HeadersArg,
): RestIntent | RestRefusal {
  try {
    return parseRequest(method.toUpperCase(), path, query, body, contentType ?? "", headers);
  } catch (err) {
    return refusalFor(err);
  }
}

function parseRequest(method: string, rawPath: string, query: QueryArg, body: unknown, contentType: string, headers?: HeadersArg): RestIntent | RestRefusal {
  const q = rawPath.indexOf("?");
  const path = q < 0 ? rawPath : rawPath.slice(0, q);
  const params = pairsOf(query ?? (q < 0 ? undefined : rawPath.slice(q + 1)), "query");
  const update = /^\/update(?:\.([A-Za-z]+))?$/.exec(path);
  if (update) {
    const [, ext] = Array.from(update, (g): string | undefined => g); // unmatched groups are undefined
    const format = (ext ?? "text").toLowerCase();
    if (format !== "text" && format !== "json") return refuse(404, `update.${format} is not served here; accepted: /update or /update.json`);
    if (method !== "GET" && method !== "POST") return refuse(405, `${method} is not allowed on /update; accepted: GET or POST`);
    if (method === "POST") params.push(...bodyPairs(body, contentType));
    const form = parseUpdateForm(params);
    const apiKey = form.apiKey !== undefined && form.apiKey !== "" ? form.apiKey : headerKey(headers);
    if (apiKey === undefined) return refuse(401, "the write API key is missing; send it as api_key or in the THINGSPEAKAPIKEY header");
    const at = form.update.created_at;
    if (typeof at === "string" && !hasZone(at) && !isUtcName(form.timezone)) {
      const clock = zoneClock(form.timezone, undefined);
      if (isRefusal(clock)) return clock;
      form.update.created_at = zonedMs(at, clock);
    }
    const intent: RestIntent = { op: "update", format, apiKey, update: form.update, ignored: form.ignored };
    if (form.timezone !== undefined) intent.timezone = form.timezone;
    return intent;
  }
  const m = ROUTE.exec(path);
  const [, idText = "", what = "", fieldText, suffix, ext] = Array.from(m ?? [], (g): string | undefined => g);
  if (!m || ((what === "status" || what === "bulk_update") && suffix !== undefined)) return refuse(404, `${path} is not served here; accepted: ${SERVED}`);
  if (!/^[1-9]\d{0,15}$/.test(idText)) return refuse(404, `channel ${JSON.stringify(idText)} does not exist; accepted: a positive whole number`);
  const channelId = Number(idText);
  const format = (ext ?? "json").toLowerCase();
  const apiKeyParam = params.findLast((p) => p.key === "api_key")?.value;
  const apiKey = apiKeyParam !== undefined && apiKeyParam !== "" ? apiKeyParam : headerKey(headers);
  if (what === "bulk_update") {
    if (format !== "json") return refuse(404, `bulk_update.${format} is not served here; accepted: POST /channels/<id>/bulk_update.json`);
    if (method !== "POST") return refuse(405, `${method} is not allowed on ${path}; accepted: POST`);
    const bulk = parseBulkBody(body, LIMITS.bulkMessages.paid);
    const key = bulk.apiKey ?? apiKey;
    return { op: "bulk", channelId, items: bulk.items, ...(key === undefined ? {} : { apiKey: key }) };
  }
  if (method !== "GET" && method !== "HEAD") return refuse(405, `${method} is not allowed on ${path}; accepted: GET`);
  const formats = suffix === "/last_data_age" || (suffix === "/last" && fieldText !== undefined) ? ["json", "csv", "txt"] : ["json", "csv"];
  if (!formats.includes(format)) return refuse(404, `format ${format} is not served here; accepted: ${formats.join(", ")}`);
  const readQuery = parseReadQuery(params, what === "status");
  if (isRefusal(readQuery)) return readQuery;
  const base = { channelId, format: format as ReadFormatServed, query: readQuery, ...(apiKey !== undefined ? { apiKey } : {}) };
  if (what === "status") return { op: "status", ...base };
  if (fieldText === undefined) return { op: suffix === undefined ? "feeds" : suffix === "/last" ? "last" : "age", ...base };
  const field = /^[1-8]$/.test(fieldText) ? (Number(fieldText) as FieldNumber) : undefined;
  if (field === undefined) return refuse(404, `field ${JSON.stringify(fieldText)} does not exist; accepted: 1 to 8`);
  return { op: suffix === undefined ? "field" : suffix === "/last" ? "field-last" : "field-age", field, ...base };
}

function bodyPairs(body: unknown, contentType: string): FormPair[] {
  if (body === undefined || body === null) return [];
  if (/json/i.test(contentType) && (typeof body === "string" || Buffer.isBuffer(body))) {
    const text = body.toString();
    if (jsonTextTooDeep(text)) throw tooDeep("the JSON body");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch {
      throw new TransportError("invalid", "the body is not valid JSON; accepted: a JSON object such as {\"api_key\":\"...\",\"field1\":45}");
    }
    if (!isPlainObject(parsed)) throw new TransportError("invalid", "the JSON body must be an object of parameters, e.g. {\"field1\":45}");
    return pairsOf(parsed, "body");
  }
  if (typeof body === "string" || Buffer.isBuffer(body) || isPlainObject(body)) return pairsOf(body, "body");
  throw new TransportError("invalid", "the body is not form data or JSON; accepted: application/x-www-form-urlencoded or application/json");
}

/** Whether a time text names its zone (Z, UTC or an offset); zone-less text is read as UTC. */
function hasZone(text: string): boolean {
  return /(?:Z|UTC|[+-]\d{2}:?\d{2})\s*$/i.test(text);
}

/** No timezone, or one that is UTC: zone-less times are read as they are. */
function isUtcName(timezone: string | undefined): boolean {
  return timezone === undefined || timezone === "" || /^(?:UTC|Etc\/UTC|GMT|Etc\/GMT)$/i.test(timezone);
}

/** The IANA zone for ThingSpeak's `offset` in whole hours (Etc/GMT names count the other way). */
function offsetZone(hours: number): string {
  return hours === 0 ? "UTC" : `Etc/GMT${hours > 0 ? "-" : "+"}${Math.abs(hours)}`;
}

/** The clock of a request's `timezone` (else its `offset`), undefined for UTC, or the refusal of a zone not known. */
function zoneClock(timezone: string | undefined, offset: number | undefined): ZoneClock | undefined | RestRefusal {
  if (timezone !== undefined && timezone !== "") {
    if (!isTimeZone(timezone)) return refuse(400, `timezone ${JSON.stringify(timezone)} is not known here; accepted: an IANA time zone such as America/New_York or Europe/Berlin, or UTC`);
    return isUtcName(timezone) ? undefined : new ZoneClock(timezone);
  }
  return offset === undefined || offset === 0 ? undefined : new ZoneClock(offsetZone(offset));
}

/** The zone a read's answer shows (its `timezone`, else its `offset`), or undefined for UTC. */
export function answerZone(query: ReadQuery): ZoneClock | undefined {
  const clock = zoneClock(query.timezone, query.offset);
  return isRefusal(clock) ? undefined : clock; // checked when the query was parsed
}

/** A time text read on `clock`'s wall clock when it names no zone of its own. */
function zonedMs(text: string, clock: ZoneClock | undefined): number {
  const utcReading = createdAtMs(text);
  if (clock === undefined || hasZone(text)) return utcReading;
  const d = new Date(utcReading);
  return clock.instant({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() }) + d.getUTCMilliseconds();
}

function positive(pairs: ReadonlyMap<string, string>, key: string): number | RestRefusal | undefined {
  const text = pairs.get(key);
  if (text === undefined || text === "") return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) return refuse(400, `${key} ${JSON.stringify(text)} is not accepted; accepted: a positive whole number`);
  return Number(text);
}

/** `lastDay`: without a range, the last day (status reads). */
function parseReadQuery(params: readonly FormPair[], lastDay = false): ReadQuery | RestRefusal {
  const map = new Map(params.map((p) => [p.key, p.value] as const));
  const refused = REFUSED_PARAMS.filter((k) => map.has(k));
  if (refused.length > 0) return refuse(400, `${refused.join(", ")} ${refused.length > 1 ? "are" : "is"} not offered by the self-hosted API; accepted: results, days, minutes, start, end, timezone, offset, status, location, prepend, append`);
  const query: ReadQuery = { results: DEFAULT_RESULTS, status: map.get("status") === "true", location: map.get("location") === "true" };
  const timezone = map.get("timezone");
  if (timezone !== undefined && timezone !== "") query.timezone = timezone;
  const offset = map.get("offset");
  if (offset !== undefined && offset !== "") {
    if (!/^[+-]?\d{1,2}$/.test(offset) || Number(offset) < -12 || Number(offset) > 14) return refuse(400, `offset ${JSON.stringify(offset)} is not accepted; accepted: whole hours from -12 to 14`);
    query.offset = Number(offset);
  }
  const clock = zoneClock(query.timezone, query.offset);
  if (isRefusal(clock)) return clock;
  for (const key of ["days", "minutes"] as const) {
    const n = positive(map, key);
    if (isRefusal(n)) return n;
    if (n !== undefined) query[key] = n;
  }
  for (const key of ["start", "end"] as const) {
    const text = map.get(key);
    if (text !== undefined && text !== "") query[key] = zonedMs(text, clock);
  }
  if (lastDay && query.start === undefined && query.end === undefined && query.days === undefined && query.minutes === undefined) query.days = 1;
  const ranged = query.start !== undefined || query.end !== undefined || query.days !== undefined || query.minutes !== undefined;
  const results = positive(map, "results");
  if (isRefusal(results)) return results;
  query.results = Math.min(results ?? (ranged ? LIMITS.readResults : DEFAULT_RESULTS), LIMITS.readResults);
  for (const key of ["prepend", "append"] as const) {
    const text = map.get(key);
    if (text !== undefined) query[key] = text;
  }
  return query;
}

/** The entries a read returns, oldest first: time range first, then the last `results`. */
export function selectEntries(entries: readonly FeedEntry[], query: ReadQuery, now: number): FeedEntry[] {
  const from = Math.max(query.start ?? -Infinity, query.days !== undefined ? now - query.days * 86_400_000 : -Infinity, query.minutes !== undefined ? now - query.minutes * 60_000 : -Infinity);
  const to = query.end ?? Infinity;
  const inRange = entries.filter((e) => {
    const t = createdAtMs(e.created_at);
    return t >= from && t <= to;
  });
  return inRange.slice(Math.max(0, inRange.length - query.results));
}

