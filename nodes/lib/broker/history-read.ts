/**
 * Reading a hosted device's history (device-history.ts) as a flow asks for it: the time range,
 * the limit and the output format given as settings or msg properties, checked and turned into
 * a `HistoryQuery`, and the points rendered as CSV. Pure and platform-blind (which stream a key
 * names is the platform's); the `iot-history` node does the I/O. A refusal is a HistoryRefusal
 * whose `key` names a message of the node's `iot-history.errors` catalog and whose params say
 * what was given; the catalog says what is accepted.
 */
import type { HistoryPoint } from "./device-history.js";
import type { StoredJson } from "./device-store.js";

export class HistoryRefusal extends Error {
  readonly key: string;
  readonly params: Record<string, string>;

  constructor(key: string, params: Record<string, string> = {}) {
    super(`${key} ${JSON.stringify(params)}`);
    this.name = "HistoryRefusal";
    this.key = key;
    this.params = params;
  }
}

/** Points answered when no limit is given. */
export const DEFAULT_LIMIT = 1000;
/** The most points one read answers (what the SQLite history answers at most per query). */
export const MAX_LIMIT = 100_000;
/** The latest time a JavaScript Date holds (ms). */
const MAX_TIME = 8.64e15;

export type HistoryFormat = "points" | "csv";
export const FORMATS: readonly HistoryFormat[] = ["points", "csv"];

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** "-24h", "24h", "-1h30m", "-7d", "-90s", "-2w", "-500ms", "-1.5h": each part a number and a unit. */
const RELATIVE = /^-?\s*((?:\d+(?:\.\d+)?\s*(?:ms|min|s|m|h|d|w)\s*)+)$/i;
const RELATIVE_PART = /(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)/gi;
/** 2024-06-01, 2024-06-01T08:00, 2024-06-01 08:00:30.250, with an optional Z or ±hh:mm / ±hhmm. */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** What a refused value was, briefly (never more than 40 characters of it). */
export function described(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (typeof value === "string") return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value instanceof Date) return "an invalid Date";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/**
 * A time bound as ms since the epoch; undefined for none ("" or nothing given). Accepted:
 * "now"; a relative time before now ("-24h", also "24h", "-1h30m"; units ms, s, m or min, h, d, w);
 * an ISO 8601 date or date-time (without a zone: the local time of Node-RED's machine); ms since
 * the epoch (a whole number >= 0, or its digits); a Date.
 */
export function parseTime(value: unknown, which: "from" | "to", now: number): number | undefined {
  const refuse = (): HistoryRefusal => new HistoryRefusal("invalid-time", { which, got: described(value) });
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw refuse();
    return ms;
  }
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0 || value > MAX_TIME) throw refuse();
    return value;
  }
  if (typeof value !== "string") throw refuse();
  const text = value.trim();
  if (text === "") return undefined;
  if (text.toLowerCase() === "now") return now;
  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    if (ms > MAX_TIME) throw refuse();
    return ms;
  }
  const relative = RELATIVE.exec(text);
  if (relative !== null) {
    let back = 0;
    for (const [, amount, unit] of relative[1].matchAll(RELATIVE_PART)) back += Number(amount) * UNIT_MS[unit.toLowerCase()];
    const at = Math.round(now - back);
    if (!Number.isFinite(at) || at < -MAX_TIME) throw refuse();
    return at;
  }
  const iso = ISO.exec(text);
  if (iso === null) throw refuse();
  const at = isoTime(iso);
  if (at === undefined) throw refuse();
  return at;
}

/** An ISO match -> ms; undefined when a part is out of range (2024-02-30, 25:00). */
function isoTime(match: RegExpExecArray): number | undefined {
  // The time, its seconds, fraction and zone are optional groups: undefined when absent.
  const m: readonly (string | undefined)[] = match;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [number, number, number, number, number, number];
  const ms = Number((m[7] ?? "").padEnd(3, "0").slice(0, 3));
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
  const zone = m[8];
  if (zone === undefined) {
    const local = new Date(year, month - 1, day, hour, minute, second, ms);
    // Date() maps years 0..99 to 1900..1999: set the year itself.
    local.setFullYear(year);
    return local.getTime();
  }
  let offset = 0;
  if (zone.toUpperCase() !== "Z") {
    const digits = zone.replace(":", "");
    const hours = Number(digits.slice(1, 3));
    const minutes = Number(digits.slice(3, 5));
    if (hours > 23 || minutes > 59) return undefined;
    offset = (digits.startsWith("-") ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  const utc = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
  utc.setUTCFullYear(year);
  return utc.getTime() - offset;
}

/** How many points at most: a whole number from 1 to MAX_LIMIT; DEFAULT_LIMIT when "" or nothing. */
export function parseLimit(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_LIMIT;
  const text = typeof value === "string" ? value.trim() : value;
  if (text === "") return DEFAULT_LIMIT;
  const n = typeof text === "number" ? text : typeof text === "string" && /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new HistoryRefusal("invalid-limit", { got: described(value), max: String(MAX_LIMIT) });
  return n;
}

/** "points" (default) or "csv". */
export function parseFormat(value: unknown): HistoryFormat {
  if (value === undefined || value === null || value === "") return "points";
  if (typeof value === "string" && (FORMATS as readonly string[]).includes(value.trim())) return value.trim() as HistoryFormat;
  throw new HistoryRefusal("invalid-format", { got: described(value) });
}

/** The range checked: `from` not after `to`. */
export function checkRange(from: number | undefined, to: number | undefined): void {
  if (from !== undefined && to !== undefined && from > to) {
    throw new HistoryRefusal("reversed-range", { from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  }
}

/** A text cell: quoted where CSV needs it (RFC 4180); a spreadsheet formula is defused with a leading '. */
function textCell(text: string): string {
  // A device's text starting with = + - @ would be run as a formula by a spreadsheet opening the file.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function valueCell(value: StoredJson): string {
  if (value === null) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return textCell(typeof value === "string" ? value : JSON.stringify(value));
}

/** A point's time in ISO 8601 (UTC); "" for a time no Date holds. */
function isoOf(ts: number): string {
  return Number.isFinite(ts) && Math.abs(ts) <= MAX_TIME ? new Date(ts).toISOString() : "";
}

/** The points as CSV: a header `time,ts,value`, then one row per point, oldest first (ISO time in UTC, ms since the epoch, the value). */
export function historyCsv(points: readonly HistoryPoint[]): string {
  const rows = ["time,ts,value"];
  for (const p of points) rows.push(`${isoOf(p.ts)},${String(p.ts)},${valueCell(p.value)}`);
  return `${rows.join("\n")}\n`;
}
