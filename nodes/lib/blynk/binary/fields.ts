/**
 * Bodies as NUL-separated text fields (docs/PROTOCOLS.md 3.1), and the small field types that
 * recur in them: pins, whole numbers. Bodies are UTF-8 (as the C++ library and the legacy server
 * treat them); bytes that are not valid UTF-8 read as U+FFFD.
 */
import { describeValue } from "../../transport/value-codec.js";
import { quote } from "../codec-values.js";
import { TransportError } from "../../transport/errors.js";
import { illegalBody } from "./errors.js";

/** Virtual, digital and analog pins, as the letter of their name (`V5`, `D8`, `A0`). */
export type PinType = "V" | "D" | "A";
/** Pin numbers are one byte in every library (`uint8_t pin`). */
export const MAX_PIN = 255;

/** Every field exactly as sent: "a\0" is ["a", ""]. For value lists, where "" is a value. */
export function fieldsOf(body: Buffer | string): string[] {
  const text = typeof body === "string" ? body : body.toString("utf8");
  return text.split("\0");
}

/**
 * Fields with one trailing NUL tolerated (libraries send none; the Linux build's info message
 * has one): "a\0b\0" is ["a", "b"]. For bodies of names and numbers, where "" is no field.
 */
export function fieldsTrimmed(body: Buffer | string): string[] {
  const fields = fieldsOf(body);
  if (fields.length > 1 && fields[fields.length - 1] === "") fields.pop();
  return fields;
}

function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

/** Fields -> body text; a field holding NUL would split, so it is refused. */
export function joinFields(fields: readonly unknown[], what: string): string {
  return fields
    .map((field, i) => {
      if (typeof field !== "string") throw invalid(`${what}: field ${i} must be text, got ${describeValue(field)}`);
      if (field.includes("\0")) throw invalid(`${what}: field ${i} ${quote(field)} must not contain NUL (NUL separates fields)`);
      return field;
    })
    .join("\0");
}

const DIGITS = /^\d{1,3}$/;

/** A pin number as received: 0..255 in decimal ("05" reads as 5). */
export function parsePin(text: string | undefined, what: string): number {
  if (text === undefined || text === "") throw illegalBody(`${what}: the pin number is missing`);
  const pin = DIGITS.test(text) ? Number(text) : Number.NaN;
  if (!(pin <= MAX_PIN)) throw illegalBody(`${what}: pin ${quote(text)} is not a pin number; accepted: 0 to ${MAX_PIN}`);
  return pin;
}

/** A pin number to send. */
export function pinText(pin: unknown, what: string): string {
  if (typeof pin !== "number" || !Number.isInteger(pin) || pin < 0 || pin > MAX_PIN) {
    throw invalid(`${what}: pin must be a whole number from 0 to ${MAX_PIN}, got ${describeValue(pin)}`);
  }
  return String(pin);
}

const WHOLE = /^\d{1,16}$/;

/** A non-negative whole number as received (up to 2^53), e.g. a timestamp or a port. */
export function parseWhole(text: string | undefined, what: string, max: number = Number.MAX_SAFE_INTEGER): number {
  const n = text !== undefined && WHOLE.test(text) ? Number(text) : Number.NaN;
  if (!(n <= max)) throw illegalBody(`${what} ${text === undefined ? "is missing" : `${quote(text)} is not a whole number from 0 to ${max}`}`);
  return n;
}

/** A non-negative whole number to send. */
export function wholeText(n: unknown, what: string, max: number = Number.MAX_SAFE_INTEGER): string {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > max) {
    throw invalid(`${what} must be a whole number from 0 to ${max}, got ${describeValue(n)}`);
  }
  return String(n);
}

/** Non-empty text without NUL to send as one field. */
export function textField(value: unknown, what: string, options: { empty?: boolean } = {}): string {
  if (typeof value !== "string" || (value === "" && options.empty !== true)) {
    throw invalid(`${what} must be ${options.empty === true ? "" : "non-empty "}text, got ${describeValue(value)}`);
  }
  if (value.includes("\0")) throw invalid(`${what} ${quote(value)} must not contain NUL (NUL separates fields)`);
  return value;
}
