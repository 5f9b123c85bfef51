/**
 * Cloud -> device messages on `downlink/...` (docs/PROTOCOLS.md 1.3): encoding for the broker
 * emulation and tests, and a parser for the client link that never throws on odd payloads.
 */
import { describeValue } from "../transport/value-codec.js";
import type { Encoded } from "./codec.js";
import type { UtcInfo } from "./codec-time.js";
import { assertDatastreamName, assertMetaName, decodeValue, encodeValue, invalid, isPlainObject, numberText, type BlynkValue } from "./codec-values.js";
import { jsonTextTooDeep } from "../transport/json-limits.js";

export interface OtaInfo {
  url: string;
  size?: number;
  type?: string;
  ver?: string;
  build?: string;
}

export type DownlinkMessage =
  | { kind: "ds"; datastream: string; value: BlynkValue }
  | { kind: "meta"; field: string; value: string }
  | { kind: "utc"; info: UtcInfo }
  | { kind: "loc"; lat: number; lon: number }
  | { kind: "ota"; ota: OtaInfo }
  | { kind: "redirect"; url: string }
  | { kind: "reboot" }
  | { kind: "reconfigure" }
  | { kind: "ping" }
  | { kind: "diag"; text: string };

const DOWNLINK_KINDS = "ds, meta, utc, loc, ota, redirect, reboot, reconfigure, ping, diag";
const REDIRECT_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];
const REDIRECT_ACCEPTED = 'a URI with scheme mqtt, mqtts, ws or wss and a host, e.g. "mqtts://ny3.blynk.cloud:8883" or "wss://fra1.blynk.cloud:443/mqtt"';
const NUMBER_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function urlWith(text: unknown, schemes: string[]): URL | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const url = new URL(text);
    return schemes.includes(url.protocol) && url.hostname !== "" ? url : undefined;
  } catch {
    return undefined;
  }
}

function isLatLon(lat: unknown, lon: unknown): lat is number {
  return typeof lat === "number" && typeof lon === "number" && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
}

function utcFrom(data: unknown): UtcInfo | undefined {
  if (!isPlainObject(data)) return undefined;
  const { tz_name, tz_rule, tz_offset, dst_offset, time, iso8601 } = data;
  const finite = (n: unknown): n is number => typeof n === "number" && Number.isFinite(n);
  if (typeof tz_name !== "string" || typeof tz_rule !== "string" || typeof iso8601 !== "string") return undefined;
  if (!finite(tz_offset) || !finite(dst_offset) || !finite(time)) return undefined;
  return { tz_name, tz_rule, tz_offset, dst_offset, time, iso8601 };
}

/** OTA fields; "size" may arrive as numeric text. Undefined when unusable. */
function otaFrom(data: unknown): OtaInfo | undefined {
  if (!isPlainObject(data) || urlWith(data.url, ["http:", "https:"]) === undefined) return undefined;
  const ota: OtaInfo = { url: data.url as string };
  const size = typeof data.size === "string" && /^\d+$/.test(data.size) ? Number(data.size) : data.size;
  if (size !== undefined) {
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return undefined;
    ota.size = size;
  }
  for (const field of ["type", "ver", "build"] as const) {
    const value = data[field];
    if (value === undefined) continue;
    if (typeof value !== "string") return undefined;
    ota[field] = value;
  }
  return ota;
}

function json(text: string): unknown {
  if (jsonTextTooDeep(text)) return undefined; // as if not JSON: nothing this deep is a Blynk message
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Encodes a cloud -> device message. */
export function encodeDownlink(message: DownlinkMessage): Encoded {
  const m = message as unknown;
  if (!isPlainObject(m)) throw invalid(`downlink message must be an object with a "kind", got ${describeValue(m)}; accepted kinds: ${DOWNLINK_KINDS}`);
  switch (message.kind) {
    case "ds":
      assertDatastreamName(message.datastream);
      return { topic: `downlink/ds/${message.datastream}`, payload: encodeValue(message.value, message.datastream) };
    case "meta":
      assertMetaName(message.field);
      if (typeof message.value !== "string") throw invalid(`value of metadata "${message.field}" must be text, got ${describeValue(message.value)}; accepted: a string`);
      return { topic: `downlink/meta/${message.field}`, payload: message.value };
    case "utc": {
      const info = utcFrom(message.info);
      if (info === undefined) {
        throw invalid(`utc info is incomplete, got ${describeValue(message.info)}; accepted: {tz_name, tz_rule, iso8601} as text and {tz_offset, dst_offset, time} as finite numbers (see utcInfo())`);
      }
      return { topic: "downlink/utc/all/json", payload: JSON.stringify(info) };
    }
    case "loc":
      if (!isLatLon(message.lat, message.lon)) {
        throw invalid(`location lat ${describeValue(message.lat)}, lon ${describeValue(message.lon)} is not a place; accepted: lat -90..90 and lon -180..180 as numbers`);
      }
      // Latitude first here, unlike batch_ds Location values.
      return { topic: "downlink/loc/all", payload: `${numberText(message.lat)},${numberText(message.lon)}` };
    case "ota": {
      const ota = otaFrom(message.ota);
      if (ota === undefined) {
        throw invalid(`OTA info is unusable, got ${describeValue(message.ota)}; accepted: {url: an http(s) URL, size?: whole bytes, type?, ver?, build?: text}`);
      }
      return { topic: "downlink/ota/json", payload: JSON.stringify(ota) };
    }
    case "redirect":
      if (urlWith(message.url, REDIRECT_SCHEMES) === undefined) throw invalid(`redirect URL ${describeValue(message.url)} is not usable; accepted: ${REDIRECT_ACCEPTED}`);
      return { topic: "downlink/redirect", payload: message.url };
    case "reboot":
    case "reconfigure":
    case "ping":
      return { topic: `downlink/${message.kind}`, payload: "" };
    case "diag":
      if (typeof message.text !== "string") throw invalid(`diag text must be a string, got ${describeValue(message.text)}; accepted: any text`);
      return { topic: "downlink/diag", payload: message.text };
    default: {
      const kind: unknown = (message as { kind: unknown }).kind; // reachable from plain-JS callers
      throw invalid(`downlink kind ${describeValue(kind)} is not known; accepted kinds: ${DOWNLINK_KINDS}`);
    }
  }
}

/** Parses a `downlink/...` message (client side); anything odd becomes kind "unknown". */
export function parseDownlink(
  topic: string,
  payload: Buffer | string,
  options: { raw?: boolean } = {},
): DownlinkMessage | { kind: "unknown"; topic: string; payload: string } {
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  const unknown = { kind: "unknown" as const, topic, payload: text };
  if (typeof topic !== "string" || !topic.startsWith("downlink/")) return unknown;
  const rest = topic.slice("downlink/".length);
  switch (rest) {
    case "utc/all/json": {
      const info = utcFrom(json(text));
      return info === undefined ? unknown : { kind: "utc", info };
    }
    case "loc/all": {
      const parts = text.split(",").map((p) => p.trim());
      if (parts.length !== 2 || !parts.every((p) => NUMBER_TEXT.test(p))) return unknown;
      const [lat, lon] = parts.map(Number);
      return isLatLon(lat, lon) ? { kind: "loc", lat, lon } : unknown;
    }
    case "ota/json": {
      const ota = otaFrom(json(text));
      return ota === undefined ? unknown : { kind: "ota", ota };
    }
    case "redirect": {
      const url = text.trim();
      return urlWith(url, REDIRECT_SCHEMES) === undefined ? unknown : { kind: "redirect", url };
    }
    case "reboot":
    case "reconfigure":
    case "ping":
      return { kind: rest };
    case "diag":
      return { kind: "diag", text };
  }
  const levels = rest.split("/");
  if (levels.length !== 2 || levels[1] === "") return unknown;
  const name = levels[1];
  if (levels[0] === "ds") return { kind: "ds", datastream: name, value: decodeValue(text, { raw: options.raw === true }) };
  if (levels[0] === "meta") return { kind: "meta", field: name, value: text };
  return unknown;
}
