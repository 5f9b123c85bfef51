/**
 * Wall-clock time in an IANA zone, for answers that show times the way a cloud's API does in a
 * zone the caller names (Blynk `data/get` `tzName`, ThingSpeak `timezone`). Intl knows the
 * zones; what it costs is cached: a zone's offset is looked up once per hour of time (offsets
 * change on whole hours in every zone in use), so formatting thousands of points stays cheap.
 */

export interface WallTime {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const HOUR_MS = 3_600_000;
/** Offsets remembered per zone clock: a few years of hours, then the cache starts over. */
const MAX_CACHED = 50_000;

/** Whether Intl knows `zone` (an IANA name such as Europe/Berlin, or UTC). */
export function isTimeZone(zone: string): boolean {
  if (zone === "") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** "+02:00", "-05:30", or "Z" for no offset when `z` is given. */
export function offsetText(offsetMs: number, z?: "Z"): string {
  if (offsetMs === 0 && z !== undefined) return z;
  const minutes = Math.round(Math.abs(offsetMs) / 60_000);
  return `${offsetMs < 0 ? "-" : "+"}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/** A formatter of a zone's wall clock in numeric parts (24 h); throws RangeError for a zone Intl does not know. */
export function wallClockFormat(zone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
  });
}

export class ZoneClock {
  readonly zone: string;
  readonly #format: Intl.DateTimeFormat;
  readonly #offsets = new Map<number, number>();

  /** Throws RangeError for a zone Intl does not know (check with isTimeZone first). */
  constructor(zone: string) {
    this.zone = zone;
    this.#format = wallClockFormat(zone);
  }

  /** How far the zone's wall clock is ahead of UTC at `ms` (negative west of Greenwich). */
  offset(ms: number): number {
    const hour = Math.floor(ms / HOUR_MS);
    let offset = this.#offsets.get(hour);
    if (offset === undefined) {
      const at = hour * HOUR_MS;
      const p = this.#partsOf(at);
      offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - at;
      if (this.#offsets.size >= MAX_CACHED) this.#offsets.clear();
      this.#offsets.set(hour, offset);
    }
    return offset;
  }

  /** The zone's wall-clock time at `ms`. */
  wall(ms: number): WallTime {
    const d = new Date(ms + this.offset(ms));
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
  }

  /** The instant a wall-clock time names in this zone (in a gap or an overlap of a change: the later offset's reading). */
  instant(wall: WallTime): number {
    const local = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
    let ms = local - this.offset(local);
    ms = local - this.offset(ms);
    return ms;
  }

  /** ISO 8601 with the zone's offset, whole seconds: "2024-01-19T13:25:30+01:00" ("Z" when `utcAsZ` and the offset is 0). */
  iso(ms: number, utcAsZ = false): string {
    const w = this.wall(ms);
    return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}${offsetText(this.offset(ms), utcAsZ ? "Z" : undefined)}`;
  }

  /** Where the calendar unit (`size` ms: a minute, an hour, a day) holding `ms` starts on this zone's wall clock. */
  unitStart(ms: number, size: number): number {
    const local = ms + this.offset(ms);
    return ms - (((local % size) + size) % size);
  }

  #partsOf(ms: number): WallTime {
    const out: WallTime = { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    for (const part of this.#format.formatToParts(ms)) {
      if (part.type in out) out[part.type as keyof WallTime] = Number(part.value);
    }
    return out;
  }
}
