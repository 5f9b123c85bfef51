/**
 * INTERNAL bodies (docs/PROTOCOLS.md 3.2, 3.4): the hardware info message (key/value pairs of
 * every library version, in any order) and the sub-commands `rtc`, `utc`, `ota`, `meta`,
 * `acon`/`adis`; others (`vfs`, `dbg`, future ones) pass through as fields.
 */
import { TransportError } from "../../transport/errors.js";
import { describeValue } from "../../transport/value-codec.js";
import { quote } from "../codec-values.js";
import type { UtcInfo } from "../codec-time.js";
import { illegalBody } from "./errors.js";
import { DEFAULT_MAX_BODY, MAX_BODY } from "./frame.js";
import { fieldsOf, fieldsTrimmed, parseWhole, textField, wholeText } from "./fields.js";
import type { HardwareInfo, InternalMessage } from "./types.js";

type TextKey = "ver" | "mcu" | "ncp" | "blynk" | "dev" | "cpu" | "con" | "fwType" | "fw" | "build" | "tmpl";
type NumberKey = "heartbeat" | "buffIn";

/** Wire key -> field, in the order the encoder sends them: `ver` first, as 0.6 and 1.0-1.2 do. */
const INFO_KEYS: readonly [string, TextKey | NumberKey][] = [
  ["ver", "ver"], ["h-beat", "heartbeat"], ["buff-in", "buffIn"], ["dev", "dev"], ["cpu", "cpu"], ["con", "con"],
  ["fw-type", "fwType"], ["fw", "fw"], ["build", "build"], ["tmpl", "tmpl"], ["blynk", "blynk"], ["mcu", "mcu"], ["ncp", "ncp"],
];
const FIELD_OF = new Map<string, TextKey | NumberKey>([...INFO_KEYS, ["conn", "con"]]);
const SUB_COMMANDS = new Set(["rtc", "utc", "ota", "meta", "acon", "adis"]);
/** Seconds: the libraries allow 10..3600 at HEAD; older ones anything, so only a u16. */
const MAX_HEARTBEAT = 0xffff;
const MAX_BUFF_IN = 0x7fffffff;

function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

/** True when an INTERNAL body's first field is an info key (the info message). */
export function isInfoKey(key: string): boolean {
  return FIELD_OF.has(key);
}

function parseInfo(fields: string[]): HardwareInfo {
  if (fields.length % 2 !== 0) throw illegalBody(`INTERNAL info has a key without a value (${fields.length} fields; pairs expected)`);
  const info: HardwareInfo = {};
  const other: [string, string][] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const key = fields[i] ?? "";
    const value = fields[i + 1] ?? "";
    const field = FIELD_OF.get(key);
    if (field === "heartbeat") info.heartbeat = positive(value, "INTERNAL info h-beat", MAX_HEARTBEAT);
    else if (field === "buffIn") info.buffIn = positive(value, "INTERNAL info buff-in", MAX_BUFF_IN);
    else if (field !== undefined) info[field] = value;
    else other.push([key, value]);
  }
  // fromEntries defines own properties: a "__proto__" key stays a plain key.
  if (other.length > 0) info.other = Object.fromEntries(other);
  return info;
}

function positive(text: string, what: string, max: number): number {
  const n = parseWhole(text, what, max);
  if (n === 0) throw illegalBody(`${what} must be at least 1, got 0`);
  return n;
}

/** An INTERNAL body -> its message; the info message when the first field is an info key. */
export function parseInternal(body: Buffer): InternalMessage {
  const exact = fieldsOf(body);
  const fields = fieldsTrimmed(body);
  const code = fields[0] ?? "";
  const args = fields.slice(1);
  if (code === "") throw illegalBody("INTERNAL body names no sub-command");
  if (!SUB_COMMANDS.has(code)) {
    // A trailing NUL is tolerated only where it breaks the pairs: "dev\0" is dev = "".
    return isInfoKey(code) ? { kind: "info", info: parseInfo(exact.length % 2 === 0 ? exact : fields) } : { kind: "other", code, args: exact.slice(1) };
  }
  switch (code) {
    case "rtc":
      if (args.length === 0 || (args.length === 1 && args[0] === "sync")) return { kind: "rtc-sync" };
      if (args.length === 1) return { kind: "rtc", time: parseWhole(args[0], "INTERNAL rtc time") };
      throw illegalBody(`INTERNAL rtc takes "sync" or a time, got ${args.length} fields`);
    case "utc": {
      const item = args.at(0) ?? "";
      const values = args.slice(1);
      if (item === "") throw illegalBody("INTERNAL utc names no item; accepted: time, iso, tz, tz_name, tz_rule, dst_next");
      return values.length === 0 ? { kind: "utc-request", item } : { kind: "utc", item, values };
    }
    case "ota": {
      const url = args.at(0) ?? "";
      if (url === "" || args.length > 1) throw illegalBody(`INTERNAL ota takes one URL, got ${args.length} fields`);
      return { kind: "ota", url };
    }
    case "meta": {
      // Exact fields: an empty value is a value ("meta\0set\0Name\0").
      const set = exact.length === 5 && exact[4] === "" ? exact.slice(0, 4) : exact;
      const field = set.at(2) ?? "";
      const value = set.at(3);
      if (set.length === 4 && set.at(1) === "set" && field !== "" && value !== undefined) return { kind: "meta-set", field, value };
      return { kind: "other", code, args: exact.slice(1) };
    }
    default:
      return { kind: "app", connected: code === "acon" };
  }
}

function infoFields(info: HardwareInfo): string[] {
  const data = info as Record<string, unknown>;
  const fields: string[] = [];
  for (const [key, field] of INFO_KEYS) {
    const value = data[field];
    if (value === undefined) continue;
    if (field === "heartbeat" || field === "buffIn") fields.push(key, wholeText(value, `INTERNAL info ${key}`, field === "heartbeat" ? MAX_HEARTBEAT : MAX_BUFF_IN));
    else fields.push(key, textField(value, `INTERNAL info ${key}`, { empty: true }));
  }
  const other: unknown = info.other;
  if (other !== undefined) {
    if (typeof other !== "object" || other === null) throw invalid(`INTERNAL info "other" must be an object of key -> text, got ${describeValue(other)}`);
    for (const [key, value] of Object.entries(other)) {
      if (FIELD_OF.has(key) || SUB_COMMANDS.has(key)) throw invalid(`INTERNAL info "other" key ${quote(key)} is a known key; set it by its field`);
      fields.push(textField(key, "INTERNAL info key"), textField(value, `INTERNAL info ${key}`, { empty: true }));
    }
  }
  if (fields.length === 0) throw invalid("INTERNAL info names no key");
  return fields;
}

/** The message -> its INTERNAL fields. */
export function internalFields(message: InternalMessage): string[] {
  const given = message as { kind?: unknown };
  switch (message.kind) {
    case "info":
      return infoFields(message.info);
    case "rtc-sync":
      return ["rtc", "sync"];
    case "rtc":
      return ["rtc", wholeText(message.time, "INTERNAL rtc time (seconds)")];
    case "utc-request":
      return ["utc", textField(message.item, "INTERNAL utc item")];
    case "utc": {
      const values: unknown = message.values;
      if (!Array.isArray(values) || values.length === 0) throw invalid(`INTERNAL utc answer needs values, got ${describeValue(values)}`);
      return ["utc", textField(message.item, "INTERNAL utc item"), ...(values as unknown[]).map((v, i) => textField(v, `INTERNAL utc value ${i}`))];
    }
    case "ota":
      return ["ota", textField(message.url, "INTERNAL ota URL")];
    case "meta-set":
      return ["meta", "set", textField(message.field, "INTERNAL meta field"), textField(message.value, "INTERNAL meta value", { empty: true })];
    case "app":
      return [message.connected ? "acon" : "adis"];
    case "other": {
      const code = textField(message.code, "INTERNAL sub-command");
      if (SUB_COMMANDS.has(code) || FIELD_OF.has(code)) throw invalid(`INTERNAL sub-command ${quote(code)} has its own kind; use it`);
      const args: unknown = message.args;
      if (!Array.isArray(args)) throw invalid(`INTERNAL ${code} args must be an array of text, got ${describeValue(args)}`);
      return [code, ...(args as unknown[]).map((a, i) => textField(a, `INTERNAL ${code} arg ${i}`, { empty: true }))];
    }
    default:
      throw invalid(`INTERNAL kind ${describeValue(given.kind)} is not known; accepted: info, rtc-sync, rtc, utc-request, utc, ota, meta-set, app, other`);
  }
}

/**
 * The answer to `utc\0<item>` from Node-RED's clock (`utcInfo` of codec-time.ts): time (ms), iso,
 * tz (standard and DST offsets, minutes), tz_name, tz_rule. Undefined for `dst_next` and unknown
 * items: the library ignores an unanswered request.
 */
export function utcAnswer(item: string, info: UtcInfo): InternalMessage | undefined {
  const values: Record<string, string[] | undefined> = {
    time: [String(info.time)],
    iso: [info.iso8601],
    tz: [String(info.tz_offset), String(info.dst_offset)],
    tz_name: [info.tz_name],
    tz_rule: [info.tz_rule],
  };
  const answer = Object.hasOwn(values, item) ? values[item] : undefined;
  return answer === undefined ? undefined : { kind: "utc", item, values: answer };
}

/** What may be sent to a device: its `buff-in` (capped at a u16 length), else 256. */
export function sendLimit(info: HardwareInfo | undefined): number {
  const buffIn = info?.buffIn;
  return buffIn === undefined ? DEFAULT_MAX_BODY : Math.min(buffIn, MAX_BODY);
}

/** Idle timeout for a device with heartbeat `seconds`: ceil(2.3 x h-beat) s, as the legacy server computes it. */
export function heartbeatTimeoutMs(seconds: number): number {
  return Math.ceil((seconds * 23) / 10) * 1000; // integer maths: 45 s -> 104 s exactly
}
