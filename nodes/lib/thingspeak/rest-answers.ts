/**
 * ThingSpeak REST API, server side: the answers of the self-hosted API (docs/PROTOCOLS.md 5.2)
 * in the cloud's shapes, and the CSV they use. Pure; rest-server.ts understands the requests.
 *
 * Decisions (see also rest-server.ts):
 * - Feed entries list the fields the channel names (all 8 when it names none); CSV uses the
 *   JSON key names as header and the entries' times.
 * - Times are UTC ("...Z") unless the request names a zone (`timezone`, or `offset` in whole
 *   hours): then created_at and the channel's times show that zone's offset, as the cloud's
 *   "2014-02-25T14:13:01-05:00" (`inZone`).
 * - `status.json` lists created_at, entry_id and status of every entry in its range (the
 *   open-source ThingSpeak's shape), with the channel's name.
 * - `last_data_age` answers the seconds since the newest entry (with the field, for a field):
 *   JSON `{"last_data_age":"35","last_data_age_units":"s"}` (shape UNCONFIRMED), the number
 *   alone as text, or CSV with those two columns; `-1` when there is no such entry.
 * - A bulk update that was stored answers 202 `{"success":true}` (UNCONFIRMED).
 */
import { type FeedEntry, type FieldNumber, FIELD_NUMBERS, createdAtMs, parseEntry } from "./codec.js";
import { REST_ERRORS, type ChannelInfo, type RestErrorCode } from "./rest-codec.js";
import { JSON_TYPE, TEXT_TYPE, type ApiReply } from "../transport/http-api-skeleton.js";
import type { ZoneClock } from "../transport/time-zone.js";

export type ReadFormatServed = "json" | "csv" | "txt";

export interface RestRefusal {
  status: number;
  error: RestErrorCode;
  message: string;
}

/** An answer of the self-hosted API: always with a Content-Type. */
export type RestAnswer = ApiReply & { contentType: string };

const CSV_TYPE = "text/csv; charset=utf-8";

function refuse(status: number, message: string): RestRefusal {
  return { status, error: REST_ERRORS[status]?.code ?? "error_bad_request", message };
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

/** Entries and the channel as a zone shows them (copies; `clock` undefined: as stored, UTC). */
export function inZone(clock: ZoneClock | undefined, channel: ChannelInfo, entries: readonly FeedEntry[]): { channel: ChannelInfo; entries: FeedEntry[] } {
  if (clock === undefined) return { channel, entries: [...entries] };
  const shown = (text: string): string => clock.iso(createdAtMs(text), true);
  const zoned: ChannelInfo = { ...channel };
  if (channel.created_at !== undefined) zoned.created_at = shown(channel.created_at);
  if (channel.updated_at !== undefined) zoned.updated_at = shown(channel.updated_at);
  return { channel: zoned, entries: entries.map((e) => ({ ...e, created_at: shown(e.created_at) })) };
}

/** `status.<json|csv>`: each entry's created_at, entry_id and status, with the channel's name. */
export function formatStatusAnswer(format: "json" | "csv", channel: ChannelInfo, entries: readonly FeedEntry[]): RestAnswer {
  const keys: (keyof FeedEntry)[] = ["created_at", "entry_id", "status"];
  if (format === "csv") return { status: 200, contentType: CSV_TYPE, body: encodeCsv(keys, entries) };
  const head: Record<string, unknown> = channel.name === undefined ? {} : { name: channel.name };
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify({ channel: head, feeds: entries.map((e) => pick(e, keys)) }) };
}

/** `last_data_age.<json|csv|txt>`: whole seconds from `entry`'s created_at to `now` (never below 0), or -1 without an entry. */
export function formatAgeAnswer(format: ReadFormatServed, entry: FeedEntry | undefined, now: number): RestAnswer {
  const contentType = format === "json" ? JSON_TYPE : format === "csv" ? CSV_TYPE : TEXT_TYPE;
  if (entry === undefined) return { status: 200, contentType, body: "-1" };
  const age = String(Math.max(0, Math.floor((now - createdAtMs(entry.created_at)) / 1000)));
  if (format === "txt") return { status: 200, contentType, body: age };
  if (format === "csv") return { status: 200, contentType, body: `last_data_age,last_data_age_units\n${age},s\n` };
  return { status: 200, contentType, body: JSON.stringify({ last_data_age: age, last_data_age_units: "s" }) };
}

/** A stored bulk update: 202 with `{"success":true}`. */
export function formatBulkAnswer(): RestAnswer {
  return { status: 202, contentType: JSON_TYPE, body: JSON.stringify({ success: true }) };
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
