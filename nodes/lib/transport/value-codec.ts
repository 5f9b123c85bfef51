/**
 * Value coercion for the write nodes of every platform: msg.payload can be anything, a
 * datastream/field/key wants one kind of value. Each function either returns the value in
 * that kind or throws TransportError("invalid") saying what was wrong and what is accepted.
 * `what` names the thing being written (a datastream, key, field) for that message.
 */
import { TransportError } from "./errors.js";

/**
 * A plain object (a JSON-like record). Realm-independent on purpose: Node-RED runs Function
 * nodes in a vm context, so `msg.payload = {...}` built there has that context's
 * Object.prototype, not ours, and an identity check would refuse the most common payload.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  if (Object.prototype.toString.call(value) !== "[object Object]") return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

export type ValueKind = "string" | "number" | "boolean" | "json" | "auto";
export type Scalar = string | number | boolean;

export interface NumberRange {
  min?: number;
  max?: number;
}

export interface TextOptions {
  /** Turn objects and arrays into JSON text instead of refusing them. */
  allowObjects?: boolean;
}

/** Decimal notation as people and devices write it: sign, digits, point, exponent. No hex, no Infinity. */
const NUMERIC = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** JSON's number grammar: what `parseScalar` considers "exactly a number". */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const TRUE_WORDS = new Set(["true", "on", "1"]);
const FALSE_WORDS = new Set(["false", "off", "0"]);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A finite number from a number or a numeric string (surrounding spaces allowed). */
export function toNumber(value: unknown, what?: string, range?: NumberRange): number {
  let n: number | undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && NUMERIC.test(value.trim())) n = Number(value.trim());
  else if (typeof value === "bigint" && value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)) n = Number(value);
  if (n === undefined || !Number.isFinite(n)) {
    throw invalid(what, "a number", value, "finite numbers or numeric strings");
  }
  checkRange(n, what, range);
  return n;
}

/** A safe integer from a number or numeric string with no fractional part ("3.0" is 3). */
export function toInteger(value: unknown, what?: string, range?: NumberRange): number {
  let n: number;
  try {
    n = toNumber(value, what);
  } catch {
    throw invalid(what, "a whole number", value, "integers or integer strings");
  }
  if (!Number.isSafeInteger(n)) {
    throw invalid(what, "a whole number", value, `integers or integer strings between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}`);
  }
  checkRange(n, what, range);
  return n;
}

/** true/false, 1/0, and "true"/"false"/"on"/"off"/"1"/"0" in any case, surrounding spaces ignored. */
export function toBoolean(value: unknown, what?: string): boolean {
  if (typeof value === "boolean") return value;
  if (value === 1) return true;
  if (value === 0) return false;
  if (typeof value === "string") {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw invalid(what, "a boolean", value, 'true/false, 1/0, or the strings "true"/"false", "on"/"off", "1"/"0"');
}

/**
 * Text as sent on the wire: strings as they are, finite numbers and booleans in their usual
 * spelling, Buffers holding valid UTF-8 decoded. Objects/arrays only with `allowObjects` (as JSON).
 */
export function toText(value: unknown, what?: string, options: TextOptions = {}): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Buffer.isBuffer(value)) {
    try {
      return strictUtf8.decode(value);
    } catch {
      throw invalid(what, "text", value, "strings, numbers, booleans, or Buffers holding UTF-8 text");
    }
  }
  if (options.allowObjects === true && typeof value === "object" && value !== null) return toJsonText(value, what);
  const accepted = options.allowObjects === true
    ? "strings, finite numbers, booleans, objects or arrays (sent as JSON)"
    : "strings, finite numbers or booleans (objects and arrays are not accepted here)";
  throw invalid(what, "text", value, accepted);
}

/** The text a string or a Buffer holds (a Buffer must hold valid UTF-8, else `notUtf8()` is thrown); undefined for anything else. */
export function stringOrUtf8(value: unknown, notUtf8: () => Error): string | undefined {
  if (typeof value === "string") return value;
  if (!Buffer.isBuffer(value)) return undefined;
  try {
    return strictUtf8.decode(value);
  } catch {
    throw notUtf8();
  }
}

/** JSON text of `value`; refuses what JSON cannot carry faithfully (undefined, NaN, functions, cycles, BigInt). */
export function toJsonText(value: unknown, what?: string): string {
  const accepted = "strings, finite numbers, booleans, null, and objects/arrays of those";
  let problem: string | undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (_key, v: unknown) => {
      // JSON.stringify would silently turn these into null or drop them: refuse instead.
      if (typeof v === "number" && !Number.isFinite(v)) problem ??= `it contains ${String(v)}`;
      if (typeof v === "function" || typeof v === "symbol") problem ??= `it contains a ${typeof v}`;
      return v;
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // A RangeError here is the engine's stack running out on deeply nested input.
    problem = /circular/i.test(message) ? "it refers to itself (circular structure)" : err instanceof RangeError ? "it is nested too deeply" : message;
  }
  if (problem === undefined && text === undefined) problem = `${describeValue(value)} has no JSON form`;
  if (problem !== undefined || text === undefined) {
    throw new TransportError("invalid", `${subject(what)} cannot be sent as JSON: ${problem ?? "no JSON form"}; accepted: ${accepted}`);
  }
  return text;
}

/**
 * A value read from the wire: a number if the text is exactly a finite JSON-style number
 * ("100.00000" -> 100, "-3e2" -> -300), otherwise the text unchanged ("", "007", " 1", "0x10",
 * "NaN"). Integers too large to be exact stay text.
 */
export function parseScalar(text: string): string | number {
  if (!JSON_NUMBER.test(text)) return text;
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  const isInteger = !/[.eE]/.test(text);
  if (isInteger && !Number.isSafeInteger(n)) return text;
  return n;
}

export function coerce(value: unknown, kind: "string" | "json", what?: string): string;
export function coerce(value: unknown, kind: "number", what?: string): number;
export function coerce(value: unknown, kind: "boolean", what?: string): boolean;
export function coerce(value: unknown, kind: ValueKind, what?: string): Scalar;
/**
 * One entry point for a configured kind. "json" gives JSON text. "auto" keeps numbers and
 * booleans, turns numeric strings (and UTF-8 Buffers) into numbers via `parseScalar`, and
 * refuses everything else.
 */
export function coerce(value: unknown, kind: ValueKind, what?: string): Scalar {
  switch (kind) {
    case "string":
      return toText(value, what);
    case "number":
      return toNumber(value, what);
    case "boolean":
      return toBoolean(value, what);
    case "json":
      return toJsonText(value, what);
    case "auto":
      if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") return value;
      if (typeof value === "string" || Buffer.isBuffer(value)) return parseScalar(toText(value, what));
      throw invalid(what, "a single value", value, "strings, finite numbers or booleans");
    default: {
      const unknownKind: unknown = kind; // reachable from plain-JS callers
      throw new TransportError("invalid", `unknown value kind "${String(unknownKind)}"; accepted: string, number, boolean, json, auto`);
    }
  }
}

/** A short, safe description of a value for error messages: `"abc" (string)`, `NaN (number)`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined (no value)";
  if (typeof value === "string") {
    const shown = value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
    return value === "" ? `"" (empty string)` : `${shown} (string)`;
  }
  if (typeof value === "number" || typeof value === "boolean") return `${String(value)} (${typeof value})`;
  if (typeof value === "bigint") return `${String(value)}n (bigint)`;
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  return "an object";
}

function subject(what: string | undefined): string {
  return what === undefined || what === "" ? "value" : `value for "${what}"`;
}

function invalid(what: string | undefined, expected: string, value: unknown, accepted: string): TransportError {
  return new TransportError("invalid", `${subject(what)} must be ${expected}, got ${describeValue(value)}; accepted: ${accepted}`);
}

function checkRange(n: number, what: string | undefined, range: NumberRange | undefined): void {
  if (range === undefined) return;
  const { min, max } = range;
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    const bounds =
      min !== undefined && max !== undefined ? `between ${min} and ${max}` : min !== undefined ? `at least ${min}` : `at most ${String(max)}`;
    throw new TransportError("invalid", `${subject(what)} must be ${bounds}, got ${n}`);
  }
}
