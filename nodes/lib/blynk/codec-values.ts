/**
 * Blynk names, values and limits (docs/PROTOCOLS.md 1.2, 1.6, 1.9): validation and the plain-text
 * value form of `ds/...` topics. Pure functions; codec.ts re-exports everything here, and the
 * decisions on UNCONFIRMED points are listed at the top of codec.ts.
 */
import { TransportError } from "../transport/errors.js";
import { describeValue, parseScalar, stringOrUtf8 } from "../transport/value-codec.js";
import { isPlainObject } from "../transport/value-codec.js";

/** Public Blynk.Cloud limits (docs/PROTOCOLS.md 1.9). */
export const LIMITS = {
  messageBytes: 1024,
  stringBytes: 1024,
  eventMinIntervalMs: 1000,
  eventsPerDay: 100,
  requestsPerSecond: 50,
  timestampWindowMs: 31 * 24 * 60 * 60 * 1000,
  batchPoints: 10_000,
} as const;

export type BlynkScalar = string | number | boolean;
/** An array is a multi-value (NUL-separated on MQTT). */
export type BlynkValue = BlynkScalar | BlynkScalar[];
/** A Location datastream value: [longitude, latitude], longitude first as Blynk wants it. */
export type LonLat = [number, number];
export type BatchValue = BlynkScalar | LonLat;
export type TimestampedPoint = [number, BatchValue];

const NAME_MAX_BYTES = 255;
const NAME_ACCEPTED = 'any non-empty text up to 255 bytes without "/", "+", "#", NUL or other control characters (spaces are fine)';
const EVENT_CODE = /^[A-Za-z0-9_.-]+$/;
const EVENT_ACCEPTED = 'letters, digits, "_", "-" and "." (1 to 255 characters, no spaces), e.g. "temp_alert"';
const PROPERTY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PROPERTY_ACCEPTED = 'an identifier of letters, digits and "_" not starting with a digit (up to 255 characters), e.g. label, color, isDisabled, onLabel';
const VALUE_ACCEPTED = "a string, a finite number, a boolean (sent as 1/0), or a non-empty array of those (a multi-value)";
const BATCH_ACCEPTED = "a string, a finite number, true/false, or a Location as [longitude, latitude]";
const TS_ACCEPTED = 'milliseconds since 1970 (a whole number), a Date, or an ISO 8601 date-time with Z or an offset such as "2024-01-19T12:25:30Z"';
const POINTS_EXAMPLE = 'e.g. [[1705667130000, 21.5], ["2024-01-19T12:25:30Z", 22]]';
/** Date-time with an explicit zone only: a zone-less form would be read in the host's local time. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

export function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

export function tooLarge(message: string): TransportError {
  return new TransportError("too-large", message);
}

/** A name quoted for a message, cut short when long (JSON escapes show NUL and line breaks). */
export function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

/** The first character of `text` that cannot be in a topic level, in words. */
function firstBadChar(text: string, forbidden: string): string | undefined {
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code === 0) return "NUL";
    if (code < 0x20 || code === 0x7f) return `a control character (U+${code.toString(16).padStart(4, "0").toUpperCase()})`;
    if (code >= 0xd800 && code <= 0xdfff) return "a lone surrogate (not valid UTF-8)";
    if (forbidden.includes(ch)) return ch === " " ? "spaces" : JSON.stringify(ch);
  }
  return undefined;
}

/** Checks a name that becomes one MQTT topic level. */
/** Printable ASCII without / + #: the usual datastream name, accepted without a closer look. */
const PLAIN_LEVEL = /^[\x20-\x22\x24-\x2a\x2c-\x2e\x30-\x7e]+$/;

function assertLevel(name: unknown, what: string, forbidden: string, accepted: string): asserts name is string {
  // Fast path (every write checks a name): ASCII, so its length is its byte count.
  if (forbidden === "/+#" && typeof name === "string" && name.length <= NAME_MAX_BYTES && PLAIN_LEVEL.test(name)) return;
  if (typeof name !== "string" || name === "") {
    throw invalid(`${what} must be non-empty text, got ${describeValue(name)}; accepted: ${accepted}`);
  }
  const bad = firstBadChar(name, forbidden);
  if (bad !== undefined) throw invalid(`${what} ${quote(name)} must not contain ${bad}; accepted: ${accepted}`);
  const bytes = Buffer.byteLength(name);
  if (bytes > NAME_MAX_BYTES) throw invalid(`${what} ${quote(name)} is ${bytes} bytes long; accepted: ${accepted}`);
}

/** Datastream names are keys: case-sensitive, spaces allowed, one topic level. */
export function assertDatastreamName(name: unknown): asserts name is string {
  assertLevel(name, "datastream name", "/+#", NAME_ACCEPTED);
}

/** Metadata field names ("Hotspot Name", "Time Zone") follow the datastream-name rules. */
export function assertMetaName(name: unknown): asserts name is string {
  assertLevel(name, "metadata field name", "/+#", NAME_ACCEPTED);
}

export function assertEventCode(code: unknown): asserts code is string {
  assertLevel(code, "event code", "/+# ", EVENT_ACCEPTED);
  if (!EVENT_CODE.test(code)) throw invalid(`event code ${quote(code)} has characters outside the accepted set; accepted: ${EVENT_ACCEPTED}`);
}

/** Any well-formed identifier is accepted: the property list (docs/PROTOCOLS.md 1.6) is not closed. */
export function assertPropertyName(name: unknown): asserts name is string {
  assertLevel(name, "property name", "/+# ", PROPERTY_ACCEPTED);
  if (!PROPERTY.test(name)) throw invalid(`property name ${quote(name)} is not an identifier; accepted: ${PROPERTY_ACCEPTED}`);
}

function label(what: string | undefined): string {
  return what === undefined || what === "" ? "value" : `value for "${what}"`;
}

/** Shortest usual number text; -0 becomes "0" so devices never see "-0". */
export function numberText(n: number): string {
  return Object.is(n, -0) ? "0" : String(n);
}

function scalarText(value: unknown, subject: string, inArray: boolean): string {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw invalid(`${subject} must be a finite number, got ${describeValue(value)}; accepted: ${VALUE_ACCEPTED}`);
    return numberText(value);
  }
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value === "bigint") return String(value);
  if (Array.isArray(value)) throw invalid(`${subject} is a nested array; accepted: ${VALUE_ACCEPTED}`);
  const text = stringOrUtf8(value, () => invalid(`${subject} is a Buffer that is not valid UTF-8 text; accepted: ${VALUE_ACCEPTED}`));
  if (text === undefined) throw invalid(`${subject} cannot be sent, got ${describeValue(value)}; accepted: ${VALUE_ACCEPTED}`);
  if (text.includes("\0")) {
    const why = inArray ? "NUL separates the items of a multi-value" : "NUL separates multi-values; pass an array to send one";
    throw invalid(`${subject} must not contain NUL (${why}); accepted: ${VALUE_ACCEPTED}`);
  }
  return text;
}

/** Value -> MQTT payload text (see codec.ts for the rules). `what` names the target in messages. */
export function encodeValue(value: unknown, what?: string): string {
  const subject = label(what);
  let text: string;
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalid(`${subject} is an empty array; accepted: ${VALUE_ACCEPTED}`);
    text = (value as unknown[]).map((item, i) => scalarText(item, `${subject}, item ${i}`, true)).join("\0");
  } else {
    text = scalarText(value, subject, false);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > LIMITS.stringBytes) {
    throw tooLarge(`${subject} is ${bytes} bytes as text; accepted: at most ${LIMITS.stringBytes} bytes (Blynk string limit)`);
  }
  return text;
}

/** MQTT payload -> value: NUL-separated -> array; numbers only for exact JSON-style numbers. */
export function decodeValue(payload: Buffer | string, options: { raw?: boolean } = {}): BlynkValue {
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  const one = (item: string): BlynkScalar => (options.raw === true ? item : parseScalar(item));
  return text.includes("\0") ? text.split("\0").map(one) : one(text);
}

// One definition for every platform: objects built in Function nodes come from another realm.
export { isPlainObject };

/** A [longitude, latitude] pair; a swapped pair that would fit the other way is named as such. */
function lonLat(value: unknown[], subject: string): LonLat {
  const [lon, lat] = value;
  if (value.length !== 2 || typeof lon !== "number" || typeof lat !== "number" || !Number.isFinite(lon) || !Number.isFinite(lat)) {
    throw invalid(`${subject} is ${describeValue(value)}; an array here can only be a Location [longitude, latitude] of two finite numbers`);
  }
  if (Math.abs(lon) > 180 || Math.abs(lat) > 90) {
    const hint = Math.abs(lon) <= 90 && Math.abs(lat) <= 180 ? " (it looks like [latitude, longitude]; Blynk wants longitude first)" : "";
    throw invalid(`${subject} [${lon}, ${lat}] is not a Location${hint}; accepted: [longitude -180..180, latitude -90..90]`);
  }
  return [lon, lat];
}

/** One value of a batch or a timestamped point (JSON types carry the datastream type). */
export function batchValue(value: unknown, subject: string): BatchValue {
  if (typeof value === "string") {
    const bytes = Buffer.byteLength(value);
    if (bytes > LIMITS.stringBytes) throw tooLarge(`${subject} is ${bytes} bytes; accepted: strings up to ${LIMITS.stringBytes} bytes`);
    return value;
  }
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "boolean") return value;
  if (Array.isArray(value)) return lonLat(value as unknown[], subject);
  throw invalid(`${subject} cannot be sent, got ${describeValue(value)}; accepted: ${BATCH_ACCEPTED}`);
}

/** A user's object -> batch values, keeping a Location as its [lon, lat] pair. */
export function toBatchValues(values: unknown): Record<string, BatchValue> {
  const example = 'e.g. {"Temperature": 21.5, "Power": true, "Location": [13.40, 52.52]}';
  if (!isPlainObject(values)) {
    throw invalid(`batch values must be an object of datastream name -> value, got ${describeValue(values)}; accepted: ${example}`);
  }
  const entries = Object.entries(values);
  if (entries.length === 0) throw invalid(`batch values must name at least one datastream; accepted: ${example}`);
  // fromEntries defines own properties, so a "__proto__" key cannot touch the prototype.
  return Object.fromEntries(
    entries.map(([name, value]) => {
      assertDatastreamName(name);
      return [name, batchValue(value, `batch value for "${name}"`)];
    }),
  );
}

function isoOf(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms);
}

function toTimestamp(ts: unknown, subject: string): number {
  let ms = Number.NaN;
  if (typeof ts === "number") {
    if (!Number.isSafeInteger(ts)) throw invalid(`${subject}: timestamp ${describeValue(ts)} is not whole milliseconds; accepted: ${TS_ACCEPTED}`);
    ms = ts;
  } else if (ts instanceof Date) ms = ts.getTime();
  else if (typeof ts === "string" && ISO_DATE_TIME.test(ts)) ms = Date.parse(ts);
  if (!Number.isFinite(ms)) throw invalid(`${subject}: timestamp ${describeValue(ts)} is not a time; accepted: ${TS_ACCEPTED}`);
  return ms;
}

function checkWindow(ts: number, now: number, subject: string): void {
  const window = LIMITS.timestampWindowMs;
  const diff = ts - now;
  if (Math.abs(diff) <= window) return;
  const days = (Math.abs(diff) / 86_400_000).toFixed(1);
  const seconds = Math.abs(ts * 1000 - now) <= window ? "; it looks like seconds: multiply by 1000" : "";
  throw invalid(
    `${subject}: timestamp ${isoOf(ts)} is ${days} days ${diff < 0 ? "before" : "after"} now (${isoOf(now)})${seconds}; ` +
      `accepted: ${isoOf(now - window)} to ${isoOf(now + window)} (31 days either side of now)`,
  );
}

/** Points -> [ms, value] pairs; the window is checked only when `now` is given. */
export function pointsFrom(points: unknown, now: number | undefined): TimestampedPoint[] {
  if (!Array.isArray(points)) {
    throw invalid(`timestamped points must be an array of [timestamp, value] pairs, got ${describeValue(points)}; accepted: ${POINTS_EXAMPLE}`);
  }
  const list = points as unknown[];
  if (list.length === 0) throw invalid(`timestamped points must hold at least one point; accepted: ${POINTS_EXAMPLE}`);
  if (list.length > LIMITS.batchPoints) {
    throw tooLarge(`${list.length} timestamped points in one batch; accepted: at most ${LIMITS.batchPoints} points per batch`);
  }
  return list.map((point, i): TimestampedPoint => {
    if (!Array.isArray(point) || point.length !== 2) {
      throw invalid(`point ${i} must be a [timestamp, value] pair, got ${describeValue(point)}; accepted: ${POINTS_EXAMPLE}`);
    }
    const pair = point as unknown[];
    const ts = toTimestamp(pair[0], `point ${i}`);
    if (now !== undefined) checkWindow(ts, now, `point ${i}`);
    return [ts, batchValue(pair[1], `point ${i} value`)];
  });
}

/** [[ts, v], ...] (ts in ms, Date or ISO string) -> points, checking ±LIMITS.timestampWindowMs around `now`. */
export function toTimestampedPoints(points: unknown, now: number = Date.now()): TimestampedPoint[] {
  if (!Number.isFinite(now)) throw invalid(`"now" must be a finite time in ms, got ${describeValue(now)}`);
  return pointsFrom(points, now);
}
