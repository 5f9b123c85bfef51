/**
 * ThingSpeak REST API, server side (docs/PROTOCOLS.md 5.2): what the self-hosted API needs to
 * understand a request and to answer it like the cloud. Pure: the emulation strips its mount
 * path, checks keys against its channels, reads its store, and sends the RestAnswer.
 *
 * Decisions on UNCONFIRMED or undocumented points (see also codec.ts and rest-codec.ts):
 * - Served: `update[.json]` (GET/POST), `feeds`, `feeds/last`, `fields/N`, `fields/N/last` in json
 *   and csv, plus txt for `fields/N/last`; no extension means json (text for `update`). Other
 *   documented paths (bulk_update, last_data_age, xml) answer 404 "not served here".
 * - POST bodies: JSON when the Content-Type says so, otherwise form-encoded (devices often omit
 *   the header); body parameters win over query parameters; the key may also come in the
 *   THINGSPEAKAPIKEY header. `/update` names no channel: the write key selects it, so a missing
 *   key is 401 here and a wrong one is the emulation's 401.
 * - Times: answers are always UTC. Zone-less `start`, `end` and update `created_at` are read as
 *   UTC; with a `timezone` other than UTC they are refused (400) rather than misread.
 * - Reads: `results` defaults to 100 without a time range and 8000 with one (UNCONFIRMED), values
 *   above 8000 are clamped. Aggregation and filtering
 *   parameters (min, max, round, timescale, sum, average, median) are refused (400), never ignored.
 * - A rejected update (over the interval) answers 200 with body `0` (what device libraries
 *   expect); an empty channel's last entry answers `-1`.
 * - Feed entries list the fields the channel names (all 8 when it names none); CSV uses the JSON
 *   key names as header and ISO 8601 UTC times.
 */
import {
  type ChannelUpdate,
  type FeedEntry,
  type FieldNumber,
  type FormPair,
  FIELD_NUMBERS,
  LIMITS,
  createdAtMs,
  decodeForm,
  formPair,
  isPlainObject,
  parseEntry,
  parseUpdateForm,
} from "./codec.js";
import { TransportError } from "../transport/errors.js";
import { REST_ERRORS, type ChannelInfo, type RestErrorCode } from "./rest-codec.js";
import { JSON_TYPE, TEXT_TYPE, type ApiReply } from "../transport/http-api-skeleton.js";
import { jsonTextTooDeep, tooDeep } from "../transport/json-limits.js";

export type ReadFormatServed = "json" | "csv" | "txt";

export interface ReadQuery {
  results: number;
  days?: number;
  minutes?: number;
  /** ms since 1970. */
  start?: number;
  end?: number;
  timezone?: string;
  status: boolean;
  location: boolean;
  prepend?: string;
  append?: string;
}

export type RestIntent =
  | { op: "update"; format: "text" | "json"; apiKey: string; update: ChannelUpdate; timezone?: string; ignored: string[] }
  | { op: "feeds" | "last"; channelId: number; format: ReadFormatServed; apiKey?: string; query: ReadQuery }
  | { op: "field" | "field-last"; channelId: number; field: FieldNumber; format: ReadFormatServed; apiKey?: string; query: ReadQuery };

export interface RestRefusal {
  status: number;
  error: RestErrorCode;
  message: string;
}

/** An answer of the self-hosted API: always with a Content-Type. */
export type RestAnswer = ApiReply & { contentType: string };

export type QueryArg = string | URLSearchParams | Readonly<Record<string, unknown>> | undefined;
export type HeadersArg = Readonly<Record<string, string | readonly string[] | undefined>>;

const DEFAULT_RESULTS = 100;
const REFUSED_PARAMS = ["min", "max", "round", "timescale", "sum", "average", "median"];
const ROUTE = /^\/channels\/([^/]+)\/(feeds|fields\/([^/.]+))(\/last)?(?:\.([A-Za-z]+))?$/;
const CSV_TYPE = "text/csv; charset=utf-8";

function refuse(status: number, message: string): RestRefusal {
  return { status, error: REST_ERRORS[status]?.code ?? "error_bad_request", message };
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
      return refuse(400, `created_at has no zone and timezone is ${String(form.timezone)}; the self-hosted API reads times in UTC; accepted: a time with Z or an offset, or timezone=UTC`);
    }
    const intent: RestIntent = { op: "update", format, apiKey, update: form.update, ignored: form.ignored };
    if (form.timezone !== undefined) intent.timezone = form.timezone;
    return intent;
  }
  const m = ROUTE.exec(path);
  if (!m) return refuse(404, `${path} is not served here; accepted: /update, /channels/<id>/feeds, /channels/<id>/feeds/last, /channels/<id>/fields/<1-8>, /channels/<id>/fields/<1-8>/last (.json or .csv)`);
  const [, idText = "", , fieldText, last, ext] = Array.from(m, (g): string | undefined => g);
  if (!/^[1-9]\d{0,15}$/.test(idText)) return refuse(404, `channel ${JSON.stringify(idText)} does not exist; accepted: a positive whole number`);
  if (method !== "GET" && method !== "HEAD") return refuse(405, `${method} is not allowed on ${path}; accepted: GET`);
  const format = (ext ?? "json").toLowerCase();
  const formats = last !== undefined && fieldText !== undefined ? ["json", "csv", "txt"] : ["json", "csv"];
  if (!formats.includes(format)) return refuse(404, `format ${format} is not served here; accepted: ${formats.join(", ")}`);
  const channelId = Number(idText);
  const readQuery = parseReadQuery(params);
  if (isRefusal(readQuery)) return readQuery;
  const apiKeyParam = params.findLast((p) => p.key === "api_key")?.value;
  const apiKey = apiKeyParam !== undefined && apiKeyParam !== "" ? apiKeyParam : headerKey(headers);
  const base = { channelId, format: format as ReadFormatServed, query: readQuery, ...(apiKey !== undefined ? { apiKey } : {}) };
  if (fieldText === undefined) return { op: last === undefined ? "feeds" : "last", ...base };
  const field = /^[1-8]$/.test(fieldText) ? (Number(fieldText) as FieldNumber) : undefined;
  if (field === undefined) return refuse(404, `field ${JSON.stringify(fieldText)} does not exist; accepted: 1 to 8`);
  return { op: last === undefined ? "field" : "field-last", field, ...base };
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

/** No timezone, or one that is UTC: the only ones under which zone-less times are read right. */
function isUtcName(timezone: string | undefined): boolean {
  return timezone === undefined || timezone === "" || /^(?:UTC|Etc\/UTC|GMT|Etc\/GMT)$/i.test(timezone);
}

function positive(pairs: ReadonlyMap<string, string>, key: string): number | RestRefusal | undefined {
  const text = pairs.get(key);
  if (text === undefined || text === "") return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) return refuse(400, `${key} ${JSON.stringify(text)} is not accepted; accepted: a positive whole number`);
  return Number(text);
}

function parseReadQuery(params: readonly FormPair[]): ReadQuery | RestRefusal {
  const map = new Map(params.map((p) => [p.key, p.value] as const));
  const refused = REFUSED_PARAMS.filter((k) => map.has(k));
  if (refused.length > 0) return refuse(400, `${refused.join(", ")} ${refused.length > 1 ? "are" : "is"} not offered by the self-hosted API; accepted: results, days, minutes, start, end, timezone, status, location, prepend, append`);
  const query: ReadQuery = { results: DEFAULT_RESULTS, status: map.get("status") === "true", location: map.get("location") === "true" };
  const timezone = map.get("timezone");
  if (timezone !== undefined && timezone !== "") query.timezone = timezone;
  for (const key of ["days", "minutes"] as const) {
    const n = positive(map, key);
    if (isRefusal(n)) return n;
    if (n !== undefined) query[key] = n;
  }
  for (const key of ["start", "end"] as const) {
    const text = map.get(key);
    if (text === undefined || text === "") continue;
    if (!hasZone(text) && !isUtcName(query.timezone)) {
      return refuse(400, `${key} has no zone and timezone is ${query.timezone}; the self-hosted API reads times in UTC; accepted: a time with Z or an offset, or timezone=UTC`);
    }
    query[key] = createdAtMs(text);
  }
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

// ---------------------------------------------------------------------------------------------
// Answers

export function formatUpdateAnswer(format: "text" | "json", entry: FeedEntry | undefined): RestAnswer {
  if (entry === undefined) return { status: 200, contentType: format === "json" ? JSON_TYPE : TEXT_TYPE, body: "0" };
  return format === "json" ? { status: 200, contentType: JSON_TYPE, body: JSON.stringify(parseEntry(entry)) } : { status: 200, contentType: TEXT_TYPE, body: String(entry.entry_id) };
}

export interface EntryShape {
  /** Only this field (fields/N reads). */
  field?: FieldNumber;
  status?: boolean;
  location?: boolean;
}

/** The keys an entry shows in a read: created_at, entry_id, the fields, then status/location on request. */
function entryKeys(channel: ChannelInfo, shape: EntryShape): (keyof FeedEntry)[] {
  const named = FIELD_NUMBERS.filter((n) => channel.fieldNames[n] !== undefined);
  const fields = shape.field !== undefined ? [shape.field] : named.length > 0 ? named : FIELD_NUMBERS;
  const keys: (keyof FeedEntry)[] = ["created_at", "entry_id", ...fields.map((n) => `field${n}` as const)];
  if (shape.location === true) keys.push("latitude", "longitude", "elevation");
  if (shape.status === true) keys.push("status");
  return keys;
}

function pick(entry: FeedEntry, keys: readonly (keyof FeedEntry)[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, entry[k]]));
}

export function channelJson(channel: ChannelInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { id: channel.id };
  for (const k of ["name", "description", "latitude", "longitude"] as const) if (channel[k] !== undefined) out[k] = channel[k];
  for (const n of FIELD_NUMBERS) if (channel.fieldNames[n] !== undefined) out[`field${n}`] = channel.fieldNames[n];
  for (const k of ["created_at", "updated_at", "last_entry_id"] as const) if (channel[k] !== undefined) out[k] = channel[k];
  return out;
}

/** `feeds` and `fields/N` answers (entries already selected). */
export function formatFeedsAnswer(format: "json" | "csv", channel: ChannelInfo, entries: readonly FeedEntry[], shape: EntryShape = {}): RestAnswer {
  const keys = entryKeys(channel, shape);
  if (format === "csv") return { status: 200, contentType: CSV_TYPE, body: encodeCsv(keys, entries) };
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify({ channel: channelJson(channel), feeds: entries.map((e) => pick(e, keys)) }) };
}

/** `feeds/last` and `fields/N/last` answers; no entry gives `-1`. txt is the field value (with prepend/append). */
export function formatLastAnswer(format: ReadFormatServed, channel: ChannelInfo, entry: FeedEntry | undefined, shape: EntryShape & { prepend?: string; append?: string } = {}): RestAnswer {
  const contentType = format === "json" ? JSON_TYPE : format === "csv" ? CSV_TYPE : TEXT_TYPE;
  if (entry === undefined) return { status: 200, contentType, body: "-1" };
  const keys = entryKeys(channel, shape);
  if (format === "csv") return { status: 200, contentType, body: encodeCsv(keys, [entry]) };
  if (format === "txt") {
    const value = shape.field !== undefined ? entry[`field${shape.field}`] : null;
    return { status: 200, contentType, body: `${shape.prepend ?? ""}${value ?? ""}${shape.append ?? ""}` };
  }
  return { status: 200, contentType, body: JSON.stringify(pick(entry, keys)) };
}

/** The documented error form: JSON `{"status":"401","error":{...}}`, or just the code as text. */
export function formatRestError(refusal: RestRefusal, format: "json" | "text" = "json"): RestAnswer {
  if (format === "text") return { status: refusal.status, contentType: TEXT_TYPE, body: refusal.error };
  const meaning = REST_ERRORS[refusal.status]?.meaning ?? "the request was refused";
  const body = { status: String(refusal.status), error: { error_code: refusal.error, message: meaning, details: refusal.message } };
  return { status: refusal.status, contentType: JSON_TYPE, body: JSON.stringify(body) };
}

/** A refusal for a documented status (e.g. 401 for a wrong key, 429 over the interval). */
export function restRefusal(status: number, message: string): RestRefusal {
  return refuse(status, message);
}

// ---------------------------------------------------------------------------------------------
// CSV (RFC 4180 quoting)

function csvCell(value: string | number | null): string {
  const text = value === null ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function encodeCsv(keys: readonly (keyof FeedEntry)[], entries: readonly FeedEntry[]): string {
  const rows = entries.map((e) => keys.map((k) => csvCell(e[k])).join(","));
  return [keys.join(","), ...rows].join("\n") + "\n";
}

function csvRows(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  const endCell = (): void => {
    row.push(cell);
    cell = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i);
    if (quoted) {
      if (ch !== '"') cell += ch;
      else if (text.charAt(i + 1) === '"') {
        cell += '"';
        i++;
      } else quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") endCell();
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text.charAt(i + 1) === "\n") i++;
      endCell();
      rows.push(row);
      row = [];
    } else cell += ch;
  }
  if (cell !== "" || row.length > 0) {
    endCell();
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== "");
}

/** A feed in CSV (header of entry keys) -> entries; empty cells are null. */
export function parseFeedsCsv(text: string, channelId: number): FeedEntry[] {
  const rows = csvRows(text);
  const header = rows.shift();
  if (header === undefined) return [];
  return rows.map((cells) => parseEntry(Object.fromEntries(header.map((k, i) => [k, cells[i] === "" ? null : cells[i]])), channelId));
}
