/**
 * Blynk.Cloud device MQTT API codec (docs/PROTOCOLS.md 1): topics, payloads, validation.
 * Pure functions, no I/O; errors are TransportError "invalid" (or "too-large" for size limits)
 * saying what was wrong and what is accepted.
 *
 * Decisions on points the protocol notes leave UNCONFIRMED:
 * - Datastream and metadata names are case-sensitive keys, used exactly as given (never
 *   case-folded): one topic level, up to 255 bytes, no "/", "+", "#", NUL or control characters;
 *   inner and outer spaces are kept.
 * - Event codes are identifiers: letters, digits, "_", "-", "." (no spaces), up to 255 bytes.
 *   Property names: letters, digits, "_", not starting with a digit; unknown names pass.
 * - Name problems are "invalid" (a format rule); only values, batches and messages over a
 *   limit are "too-large".
 * - Booleans on plain `ds/` and `prop/` topics go as "1"/"0" (what firmware samples send);
 *   decoding never invents booleans ("true" stays text, "1" becomes 1). In `batch_ds` and
 *   timestamped JSON, booleans stay JSON true/false (the Boolean datastream type).
 * - Decoding: numbers only for exact JSON-style numbers (value-codec parseScalar), so "007",
 *   " 1" and "1e" stay text; a NUL anywhere makes an array, split exactly (a trailing NUL gives
 *   a trailing "" item).
 * - `get/ds` and `get/meta` lists are comma-separated: encoding refuses names with "," or
 *   leading/trailing spaces there; parsing trims items and drops empty ones.
 * - Downlink subscriptions with "+" are not supported by Blynk (only a trailing "#"), so the
 *   codec never builds one; parseDownlink takes concrete topics only.
 * - Sizes use messageSize with QoS 0 unless encodeUplink's third argument says qos 1.
 * - parseUplink checks the timestamp window only when options.now is given (the broker
 *   decides); the shape and the 10000-point cap are always checked.
 * - iso8601 is local time to the second with a "+HH:MM" offset (also "+00:00" for UTC).
 * - HTTPS multi-values (http-codec.ts): `pin=v1&value=a&value=b`; property multi-values repeat
 *   the property key. Pins are sent lower-case ("v1"); booleans go as "1"/"0" there too.
 * - HTTPS server side: paths are exact and case-sensitive (unknown -> 404, wrong method -> 405);
 *   `dataStreamId=` addressing is answered "Request with incorrect parameters"; a bare `&v1` on
 *   update means the empty string; a malformed event code is "Can't find Event..." .
 */
import { describeValue } from "../transport/value-codec.js";
import {
  assertDatastreamName,
  assertEventCode,
  assertMetaName,
  assertPropertyName,
  decodeValue,
  encodeValue,
  invalid,
  isPlainObject,
  LIMITS,
  numberText,
  pointsFrom,
  quote,
  toBatchValues,
  tooLarge,
  type BatchValue,
  type BlynkValue,
  type TimestampedPoint,
} from "./codec-values.js";
import type { UtcInfo } from "./codec-time.js";
import { jsonTextTooDeep, tooDeep } from "../transport/json-limits.js";

export * from "./codec-values.js";
export * from "./codec-time.js";
export { encodeDownlink, parseDownlink, type DownlinkMessage } from "./codec-downlink.js";

export interface McuInfo {
  tmpl?: string;
  ver?: string;
  build?: string;
  type?: string;
  rxbuff?: number;
}

export type UplinkMessage =
  | { kind: "ds"; datastream: string; value: BlynkValue }
  | { kind: "batch"; values: Record<string, BatchValue> }
  | { kind: "timestamped"; datastream: string; points: TimestampedPoint[] }
  | { kind: "erase"; datastream: string }
  | { kind: "property"; datastream: string; property: string; value: BlynkValue }
  | { kind: "property-erase"; datastream: string; property: string }
  | { kind: "event"; code: string; description: string }
  | { kind: "meta"; field: string; value: string }
  | { kind: "get-ds"; datastreams: string[] }
  | { kind: "get-ds-all" }
  | { kind: "get-meta"; fields: string[] }
  | { kind: "get-utc" }
  | { kind: "get-loc" }
  | { kind: "info-mcu"; info: McuInfo };

export interface Encoded {
  topic: string;
  payload: string;
}

export type { UtcInfo };

export const BLYNK_REGIONS = ["fra1", "lon1", "ny3", "sgp1", "blr1"] as const;
export type BlynkRegion = (typeof BLYNK_REGIONS)[number];
/** GeoDNS host; a device may be redirected from it to its regional host. */
export const BLYNK_DEFAULT_HOST = "blynk.cloud";

const UPLINK_KINDS = "ds, batch, timestamped, erase, property, property-erase, event, meta, get-ds, get-ds-all, get-meta, get-utc, get-loc, info-mcu";
const MCU_FIELDS = ["tmpl", "ver", "build", "type"] as const;
const MCU_ACCEPTED = 'a JSON object such as {"tmpl":"TMPLxxxx","ver":"1.0.0","build":"Jan 19 2024 12:25:30","type":"TMPLxxxx","rxbuff":1024}';

/** Bytes a PUBLISH's variable header + payload take (the Blynk 1024-byte limit counts these). */
export function messageSize(topic: string, payload: string | Buffer, qos: 0 | 1 = 0): number {
  const payloadBytes = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
  return 2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + payloadBytes;
}

export function regionHost(region: BlynkRegion): string {
  const given: unknown = region; // plain-JS callers can pass anything
  if (!(BLYNK_REGIONS as readonly unknown[]).includes(given)) {
    throw invalid(`Blynk region ${describeValue(given)} is not known; accepted: ${BLYNK_REGIONS.join(", ")}`);
  }
  return `${region}.${BLYNK_DEFAULT_HOST}`;
}

function assertHost(host: unknown): asserts host is string {
  if (typeof host !== "string" || host === "" || /[\s/?#@]/.test(host)) {
    throw invalid(`server host must be a host name such as "fra1.blynk.cloud" (optionally with ":port"), got ${describeValue(host)}; accepted: a host without scheme or path`);
  }
}

/** True when `host` already names a port ("h:1884", "[::1]:1884"). */
function hasPort(host: string): boolean {
  return /^\[.*\]:\d+$/.test(host) || /^[^:[\]]+:\d+$/.test(host);
}

/** mqtts://host:8883, mqtt://host:1883, wss://host:443/mqtt (an explicit ":port" in host wins). */
export function mqttServerUrl(host: string, transport: "mqtts" | "mqtt" | "wss" = "mqtts"): string {
  assertHost(host);
  const port = { mqtts: 8883, mqtt: 1883, wss: 443 }[transport] as number | undefined;
  const given: unknown = transport;
  if (port === undefined) throw invalid(`transport ${describeValue(given)} is not known; accepted: mqtts, mqtt, wss`);
  const authority = hasPort(host) ? host : `${host}:${port}`;
  return `${transport}://${authority}${transport === "wss" ? "/mqtt" : ""}`;
}

export function httpsServerUrl(host: string): string {
  assertHost(host);
  return `https://${host}`;
}

/** Names for get/ds and get/meta: comma-joined, so no commas and no outer spaces. */
function nameList(names: unknown, what: "datastream" | "metadata field", check: (n: unknown) => void): string {
  if (!Array.isArray(names) || names.length === 0) {
    throw invalid(`${what} names to get must be a non-empty array of names, got ${describeValue(names)}; accepted: e.g. ["Brightness", "Color"]`);
  }
  return (names as unknown[])
    .map((name) => {
      check(name);
      const n = name as string;
      if (n.includes(",") || n.trim() !== n) {
        throw invalid(`${what} name ${quote(n)} cannot be requested in a get list; accepted: names without "," and without leading or trailing spaces`);
      }
      return n;
    })
    .join(",");
}

function splitList(text: string, topic: string, check: (n: unknown) => void): string[] {
  const names = text.split(",").map((n) => n.trim()).filter((n) => n !== "");
  if (names.length === 0) throw invalid(`${topic} payload names nothing; accepted: comma-separated names such as "Brightness,Color"`);
  names.forEach(check);
  return names;
}

function textField(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return numberText(value);
  if (typeof value === "boolean") return String(value);
  throw invalid(`${what} must be text, got ${describeValue(value)}; accepted: a string (numbers and booleans are written as text)`);
}

function mcuInfo(data: unknown, where: string): McuInfo {
  if (!isPlainObject(data)) throw invalid(`${where} must be an object, got ${describeValue(data)}; accepted: ${MCU_ACCEPTED}`);
  const info: McuInfo = {};
  for (const field of MCU_FIELDS) {
    if (data[field] !== undefined) info[field] = textField(data[field], `${where} field "${field}"`);
  }
  const rx = data.rxbuff;
  if (rx !== undefined) {
    const n = typeof rx === "string" && /^\d+$/.test(rx.trim()) ? Number(rx.trim()) : rx;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
      throw invalid(`${where} field "rxbuff" must be a positive whole number of bytes, got ${describeValue(rx)}; accepted: e.g. 1024`);
    }
    info.rxbuff = n;
  }
  return info;
}

function jsonOf(text: string, topic: string, accepted: string): unknown {
  if (jsonTextTooDeep(text)) throw tooDeep(`${topic} payload`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalid(`${topic} payload is not valid JSON (${err instanceof Error ? err.message : String(err)}); accepted: ${accepted}`);
  }
}

function buildUplink(message: UplinkMessage, now: number): Encoded {
  const m = message as unknown;
  if (!isPlainObject(m)) throw invalid(`uplink message must be an object with a "kind", got ${describeValue(m)}; accepted kinds: ${UPLINK_KINDS}`);
  switch (message.kind) {
    case "ds":
      assertDatastreamName(message.datastream);
      return { topic: `ds/${message.datastream}`, payload: encodeValue(message.value, message.datastream) };
    case "batch":
      return { topic: "batch_ds", payload: JSON.stringify(toBatchValues(message.values)) };
    case "timestamped":
      assertDatastreamName(message.datastream);
      return { topic: `ds/${message.datastream}/timestamped_batch`, payload: JSON.stringify(pointsFrom(message.points, now)) };
    case "erase":
      assertDatastreamName(message.datastream);
      return { topic: `ds/${message.datastream}/erase`, payload: "" };
    case "property":
    case "property-erase": {
      assertDatastreamName(message.datastream);
      assertPropertyName(message.property);
      const base = `ds/${message.datastream}/prop/${message.property}`;
      if (message.kind === "property-erase") return { topic: `${base}/erase`, payload: "" };
      return { topic: base, payload: encodeValue(message.value, `${message.datastream}" property "${message.property}`) };
    }
    case "event": {
      assertEventCode(message.code);
      const description = (message.description as unknown) === undefined ? "" : textField(message.description, `description of event "${message.code}"`);
      return { topic: `event/${message.code}`, payload: description };
    }
    case "meta": {
      assertMetaName(message.field);
      const value = textField(message.value, `value of metadata "${message.field}"`);
      const bytes = Buffer.byteLength(value);
      if (bytes > LIMITS.stringBytes) throw tooLarge(`value of metadata "${message.field}" is ${bytes} bytes; accepted: at most ${LIMITS.stringBytes} bytes`);
      return { topic: `meta/${message.field}`, payload: value };
    }
    case "get-ds":
      return { topic: "get/ds", payload: nameList(message.datastreams, "datastream", assertDatastreamName) };
    case "get-ds-all":
      return { topic: "get/ds/all", payload: "" };
    case "get-meta":
      return { topic: "get/meta", payload: nameList(message.fields, "metadata field", assertMetaName) };
    case "get-utc":
      return { topic: "get/utc/all/json", payload: "" };
    case "get-loc":
      return { topic: "get/loc/all", payload: "" };
    case "info-mcu":
      return { topic: "info/mcu", payload: JSON.stringify(mcuInfo(message.info, "info/mcu")) };
    default: {
      const kind: unknown = (message as { kind: unknown }).kind; // reachable from plain-JS callers
      throw invalid(`uplink kind ${describeValue(kind)} is not known; accepted kinds: ${UPLINK_KINDS}`);
    }
  }
}

/** Validates and encodes a device -> cloud message; "too-large" over LIMITS.messageBytes. */
export function encodeUplink(message: UplinkMessage, now: number = Date.now(), options: { qos?: 0 | 1 } = {}): Encoded {
  const encoded = buildUplink(message, now);
  const size = messageSize(encoded.topic, encoded.payload, options.qos ?? 0);
  if (size > LIMITS.messageBytes) {
    throw tooLarge(
      `message on ${quote(encoded.topic)} is ${size} bytes (2 + topic + payload${options.qos === 1 ? " + 2" : ""}); accepted: at most ${LIMITS.messageBytes} bytes (Blynk.Cloud MQTT message limit)`,
    );
  }
  return encoded;
}

/** Parses what a device published (broker side). Unknown topics -> kind "unknown". */
export function parseUplink(
  topic: string,
  payload: Buffer | string,
  options: { raw?: boolean; now?: number } = {},
): UplinkMessage | { kind: "unknown"; topic: string } {
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  const decode = { raw: options.raw === true };
  switch (topic) {
    case "info/mcu":
      return { kind: "info-mcu", info: mcuInfo(jsonOf(text, topic, MCU_ACCEPTED), "info/mcu") };
    case "batch_ds":
      return { kind: "batch", values: toBatchValues(jsonOf(text, topic, 'a JSON object such as {"Temperature": 21.5, "Location": [13.40, 52.52]}')) };
    case "get/ds":
      return { kind: "get-ds", datastreams: splitList(text, topic, assertDatastreamName) };
    case "get/ds/all":
      return { kind: "get-ds-all" };
    case "get/meta":
      return { kind: "get-meta", fields: splitList(text, topic, assertMetaName) };
    case "get/utc/all/json":
      return { kind: "get-utc" };
    case "get/loc/all":
      return { kind: "get-loc" };
  }
  const levels = topic.split("/");
  const [head, name] = levels;
  if (head === "event" && levels.length === 2) {
    assertEventCode(name);
    return { kind: "event", code: name, description: text };
  }
  if (head === "meta" && levels.length === 2) {
    assertMetaName(name);
    return { kind: "meta", field: name, value: text };
  }
  if (head !== "ds" || levels.length < 2 || levels.length > 5) return { kind: "unknown", topic };
  const rest = levels.slice(2);
  const shape = rest.map((level, i) => (i === 1 && rest[0] === "prop" ? "<p>" : level)).join("/");
  const known = ["", "erase", "timestamped_batch", "prop/<p>", "prop/<p>/erase"];
  if (!known.includes(shape)) return { kind: "unknown", topic };
  assertDatastreamName(name);
  const datastream = name;
  switch (shape) {
    case "":
      return { kind: "ds", datastream, value: decodeValue(text, decode) };
    case "erase":
      return { kind: "erase", datastream };
    case "timestamped_batch":
      return { kind: "timestamped", datastream, points: pointsFrom(jsonOf(text, topic, "a JSON array of [ms, value] pairs"), options.now) };
    default: {
      const property = rest[1];
      assertPropertyName(property);
      if (shape === "prop/<p>/erase") return { kind: "property-erase", datastream, property };
      return { kind: "property", datastream, property, value: decodeValue(text, decode) };
    }
  }
}
