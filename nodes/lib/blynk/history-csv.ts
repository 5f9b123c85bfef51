/**
 * Blynk's history export (`data/get`, docs/PROTOCOLS.md 2.3), the pure part: the request's
 * parameters as the cloud names them, and the CSV the self-hosted API links to, made from a
 * datastream's history points. Table-tested; http-history.ts does the I/O.
 *
 * Decisions (the cloud's file is a zip whose CSV layout is not documented: UNCONFIRMED):
 * - One row per point (or per time bucket), `<time>,<value>`, no header, oldest first: the
 *   per-pin layout of the legacy Blynk server's export. Times as `format` says: TS = ms since
 *   1970, ISO_SIMPLE = "yyyy-MM-dd HH:mm:ss" (the legacy server's pattern), ISO_US =
 *   "MM/dd/yyyy HH:mm:ss", both on the wall clock of `tzName` (default UTC).
 * - Values as Blynk writes them: numbers as numbers, true/false as 1/0, text quoted where CSV
 *   needs it (RFC 4180), a multi-value (Location) as its JSON array.
 * - `granularityType` MINUTE / HOURLY / DAILY groups the points into calendar units of
 *   `tzName` (the row's time is the unit's start) and `sourceType` says what a unit shows:
 *   AVG, MIN, MAX, SUM of its numeric values (units without a number are left out), or COUNT
 *   of all its points. RAW_DATA (default) lists the points themselves.
 * - `period` (default MONTH) is how far back from now: HOUR, DAY, WEEK, MONTH (30 days),
 *   THREE_MONTHS (90 days). `sendEvents` is accepted and changes nothing (events are not history).
 */
import type { HistoryPoint, StoredJson } from "../broker/index.js";
import { isTimeZone, ZoneClock } from "../transport/time-zone.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const PERIODS = { HOUR, DAY, WEEK: 7 * DAY, MONTH: 30 * DAY, THREE_MONTHS: 90 * DAY } as const;
export const GRANULARITIES = { RAW_DATA: 0, MINUTE, HOURLY: HOUR, DAILY: DAY } as const;
export const SOURCES = ["AVG", "MIN", "MAX", "SUM", "COUNT"] as const;
export const FORMATS = ["TS", "ISO_US", "ISO_SIMPLE"] as const;

export type Period = keyof typeof PERIODS;
export type Granularity = keyof typeof GRANULARITIES;
export type Source = (typeof SOURCES)[number];
export type TimeFormat = (typeof FORMATS)[number];

export interface ExportRequest {
  period: Period;
  granularity: Granularity;
  source: Source;
  tzName: string;
  format: TimeFormat;
}

/** A refusal in words: which parameter, what was given, what is accepted. */
export interface ExportRefusal {
  problem: string;
}

function choice<T extends string>(given: string | undefined, accepted: readonly T[], fallback: T, name: string): T | ExportRefusal {
  if (given === undefined || given === "") return fallback;
  return (accepted as readonly string[]).includes(given) ? (given as T) : { problem: `${name} "${given}" is not one of ${accepted.join(", ")}` };
}

/** The query's export parameters (the last of a repeated key wins); unknown keys are ignored, as the cloud ignores them. */
export function parseExportRequest(params: readonly [string, string | undefined][]): ExportRequest | ExportRefusal {
  const get = (key: string): string | undefined => params.findLast(([k]) => k === key)?.[1];
  const period = choice(get("period"), Object.keys(PERIODS) as Period[], "MONTH", "period");
  const granularity = choice(get("granularityType"), Object.keys(GRANULARITIES) as Granularity[], "RAW_DATA", "granularityType");
  const source = choice(get("sourceType"), SOURCES, "AVG", "sourceType");
  const format = choice(get("format"), FORMATS, "TS", "format");
  const sendEvents = choice(get("sendEvents"), ["true", "false"], "false", "sendEvents");
  for (const parsed of [period, granularity, source, format, sendEvents]) if (typeof parsed !== "string") return parsed;
  const tzName = get("tzName") ?? "";
  if (tzName !== "" && !isTimeZone(tzName)) return { problem: `tzName "${tzName}" is not a time zone; accepted: an IANA zone such as Europe/Berlin` };
  return { period: period as Period, granularity: granularity as Granularity, source: source as Source, tzName: tzName === "" ? "UTC" : tzName, format: format as TimeFormat };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

function timeText(clock: ZoneClock, format: TimeFormat, ms: number): string {
  if (format === "TS") return String(ms);
  const w = clock.wall(ms);
  const time = `${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
  return format === "ISO_SIMPLE" ? `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)} ${time}` : `${pad(w.month)}/${pad(w.day)}/${pad(w.year, 4)} ${time}`;
}

function quoted(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A stored value as a CSV cell. */
export function valueCell(value: StoredJson): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value === "string") return quoted(value);
  return quoted(JSON.stringify(value));
}

/** Each calendar unit's start and what it shows, for an aggregated export. */
function aggregate(points: readonly HistoryPoint[], size: number, source: Source, clock: ZoneClock): [number, number][] {
  const rows: [number, number][] = [];
  let start: number | undefined;
  let count = 0;
  let numbers: number[] = [];
  const close = (): void => {
    if (start === undefined) return;
    if (source === "COUNT") rows.push([start, count]);
    else if (numbers.length > 0) {
      // reduce, not Math.min(...numbers): a unit may hold more numbers than a call takes arguments.
      const sum = numbers.reduce((a, b) => a + b, 0);
      const value = source === "SUM" ? sum : source === "AVG" ? sum / numbers.length : numbers.reduce(source === "MIN" ? (a, b) => Math.min(a, b) : (a, b) => Math.max(a, b));
      rows.push([start, value]);
    }
  };
  for (const point of points) {
    const unit = clock.unitStart(point.ts, size);
    if (unit !== start) {
      close();
      start = unit;
      count = 0;
      numbers = [];
    }
    count++;
    if (typeof point.value === "number") numbers.push(point.value);
  }
  close();
  return rows;
}

/** The export's CSV text ("" when there is nothing to show); `points` oldest first. */
export function exportCsv(points: readonly HistoryPoint[], request: ExportRequest): string {
  const clock = new ZoneClock(request.tzName);
  const size = GRANULARITIES[request.granularity];
  const lines: string[] =
    size === 0
      ? points.map((p) => `${timeText(clock, request.format, p.ts)},${valueCell(p.value)}`)
      : aggregate(points, size, request.source, clock).map(([at, value]) => `${timeText(clock, request.format, at)},${String(value)}`);
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
