/**
 * The nesting limit for JSON that devices and HTTP callers send. V8 parses any depth, but every
 * recursive step after parsing (checking values, copying them, JSON.stringify) runs out of stack
 * somewhere past a few thousand levels, and a RangeError there is a 500 or a dropped message
 * rather than a clear refusal. No platform payload needs more than a few levels: 64 is generous.
 * Checked without recursion, before anything else walks the value.
 */
import { TransportError } from "./errors.js";

export const MAX_JSON_DEPTH = 64;

/** The refusal for JSON nested deeper than `limit`, naming what it was and what is accepted. */
export function tooDeep(what: string, limit = MAX_JSON_DEPTH): TransportError {
  return new TransportError("invalid", `${what} is nested deeper than ${limit} levels; accepted: JSON with at most ${limit} levels of arrays and objects`);
}

/** Whether JSON text opens more than `limit` arrays/objects at once (brackets inside strings do not count). */
export function jsonTextTooDeep(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Whether an already parsed value nests more than `limit` arrays/objects (iterative; stops at the first path too deep). */
export function valueTooDeep(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [current, depth] = next;
    if (typeof current !== "object" || current === null || Buffer.isBuffer(current)) continue;
    if (depth + 1 > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** JSON.parse that refuses text nested deeper than the limit first (TransportError "invalid", see tooDeep). */
export function parseJson(text: string, what: string, limit = MAX_JSON_DEPTH): unknown {
  if (jsonTextTooDeep(text, limit)) throw tooDeep(what, limit);
  return JSON.parse(text) as unknown;
}
