/**
 * The `downlink/utc/all/json` answer (docs/PROTOCOLS.md 1.7) computed from Intl's time-zone data:
 * offsets at an instant, and a best-effort POSIX TZ rule from the transitions of that year.
 */
import { wallClockFormat } from "../transport/time-zone.js";
import { describeValue } from "../transport/value-codec.js";
import { invalid } from "./codec-values.js";

export interface UtcInfo {
  tz_name: string;
  tz_rule: string;
  tz_offset: number;
  dst_offset: number;
  time: number;
  iso8601: string;
}

interface ZoneYear {
  /** Standard offset, minutes east of UTC; undefined when the year has no regular DST pair. */
  std: number | undefined;
  dst: number | undefined;
  rule: string | undefined;
}

const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const years = new Map<string, ZoneYear>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    try {
      f = wallClockFormat(timeZone);
    } catch {
      throw invalid(`time zone ${JSON.stringify(timeZone)} is not known; accepted: an IANA zone name such as "Europe/Berlin" or "UTC"`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/** Minutes east of UTC that `timeZone` is at instant `time`. */
function offsetAt(timeZone: string, time: number): number {
  const t = Math.floor(time / 1000) * 1000;
  const parts = formatter(timeZone).formatToParts(t);
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((wall - t) / 60_000);
}

/** A POSIX abbreviation: a real one when Intl knows it, else the quoted numeric form "<+0530>". */
function abbreviation(timeZone: string, time: number, offset: number): string {
  for (const locale of ["en-US", "en-GB", "en-AU", "en-IN"]) {
    const name = new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: "short" })
      .formatToParts(time)
      .find((p) => p.type === "timeZoneName")?.value;
    if (name === undefined || !/^[A-Za-z]{3,6}$/.test(name)) continue;
    if ((name === "GMT" || name === "UTC") && offset !== 0) continue;
    return name;
  }
  const abs = Math.abs(offset);
  const mm = abs % 60 === 0 ? "" : String(abs % 60).padStart(2, "0");
  return `<${offset < 0 ? "-" : "+"}${String(Math.floor(abs / 60)).padStart(2, "0")}${mm}>`;
}

/** h[:mm[:ss]] */
function clock(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (s !== 0) return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return m !== 0 ? `${h}:${String(m).padStart(2, "0")}` : String(h);
}

/** POSIX offsets count west-positive: UTC+1 is "-1". */
function posixOffset(minutesEast: number): string {
  return `${minutesEast > 0 ? "-" : ""}${clock(Math.abs(minutesEast) * 60)}`;
}

/** "Mm.w.d[/time]" for a transition at `at` (UTC ms), from a zone at offset `from` minutes. */
function posixDate(at: number, from: number): string {
  const wall = new Date(at + from * 60_000);
  const day = wall.getUTCDate();
  const daysInMonth = new Date(Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth() + 1, 0)).getUTCDate();
  const week = day + 7 > daysInMonth ? 5 : Math.ceil(day / 7);
  const seconds = Math.floor((wall.getTime() % DAY) / 1000);
  return `M${wall.getUTCMonth() + 1}.${week}.${wall.getUTCDay()}${seconds === 7200 ? "" : `/${clock(seconds)}`}`;
}

function zoneYear(timeZone: string, year: number): ZoneYear {
  const key = `${timeZone}|${year}`;
  const cached = years.get(key);
  if (cached !== undefined) return cached;
  const transitions: { at: number; from: number; to: number }[] = [];
  const end = Date.UTC(year + 1, 0, 1);
  let t = Date.UTC(year, 0, 1);
  let offset = offsetAt(timeZone, t);
  // Daily samples find each change; a binary search then pins it to the second.
  while (t < end) {
    const next = Math.min(t + DAY, end);
    const nextOffset = offsetAt(timeZone, next);
    if (nextOffset !== offset) {
      let lo = t;
      let hi = next;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (offsetAt(timeZone, mid) === offset) lo = mid;
        else hi = mid;
      }
      transitions.push({ at: hi, from: offset, to: nextOffset });
    }
    t = next;
    offset = nextOffset;
  }
  let result: ZoneYear = { std: undefined, dst: undefined, rule: undefined };
  const start = transitions.find((x) => x.to > x.from);
  const stop = transitions.find((x) => x.to < x.from);
  const paired = transitions.length === 2 && start !== undefined && stop !== undefined;
  if (paired && start.to === stop.from && start.from === stop.to) {
    const std = start.from;
    const dst = start.to;
    const stdName = abbreviation(timeZone, start.at - 1000, std);
    const dstName = abbreviation(timeZone, start.at, dst);
    const dstOffset = dst - std === 60 ? "" : posixOffset(dst);
    const rule = `${stdName}${posixOffset(std)}${dstName}${dstOffset},${posixDate(start.at, start.from)},${posixDate(stop.at, stop.from)}`;
    result = { std, dst, rule };
  }
  years.set(key, result);
  return result;
}

function isoLocal(time: number, offset: number): string {
  const wall = new Date(Math.floor(time / 1000) * 1000 + offset * 60_000).toISOString().slice(0, 19);
  const abs = Math.abs(offset);
  return `${wall}${offset < 0 ? "-" : "+"}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/** The utc/all/json answer for instant `time` (ms) in IANA zone `timeZone`. */
export function utcInfo(time: number, timeZone: string): UtcInfo {
  if (typeof time !== "number" || !Number.isFinite(time) || Math.abs(time) > 8.64e15) {
    throw invalid(`time must be a finite number of ms since 1970, got ${describeValue(time)}; accepted: e.g. Date.now()`);
  }
  if (typeof timeZone !== "string" || timeZone === "") {
    throw invalid(`time zone must be non-empty text, got ${describeValue(timeZone)}; accepted: an IANA zone name such as "Europe/Berlin" or "UTC"`);
  }
  const current = offsetAt(timeZone, time);
  const year = zoneYear(timeZone, new Date(time).getUTCFullYear());
  const inRule = year.std !== undefined && (current === year.std || current === year.dst);
  const std = inRule && year.std !== undefined ? year.std : current;
  const rule = inRule && year.rule !== undefined ? year.rule : `${abbreviation(timeZone, time, current)}${posixOffset(current)}`;
  return {
    tz_name: timeZone,
    tz_rule: rule,
    tz_offset: std,
    dst_offset: current - std,
    time,
    iso8601: isoLocal(time, current),
  };
}
