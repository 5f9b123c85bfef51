"use strict";
// Table tests for codecs and parsers: rows of [input, expected] that must come out, rows of
// [input, fragment(s), code?] that must be refused with a TransportError naming what was wrong.
const assert = require("node:assert/strict");
const { TransportError } = require("../../dist/nodes/lib/transport/errors.js");

const TITLE_CHARS = 100;

/** Prints a table input readably in test titles (-0, BigInt, Buffers, Dates, functions, cycles). */
function show(v) {
  if (v === undefined) return "undefined";
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "<function>";
  if (Buffer.isBuffer(v)) return `Buffer<${v.toString("hex")}>`;
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? "invalid" : v.toISOString()})`;
  let text;
  try {
    text = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : typeof x === "function" ? "<function>" : x));
  } catch {
    return "<circular>";
  }
  if (text === undefined) text = String(v);
  return text.length > TITLE_CHARS ? `${text.slice(0, TITLE_CHARS)}…(${text.length})` : text;
}

/** Asserts `fn` throws a TransportError of `code` whose message holds every fragment. */
function throwsWith(fn, fragment, code = "invalid") {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof TransportError, `not a TransportError: ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of [].concat(fragment)) assert.ok(err.message.includes(f), `"${err.message}" lacks "${f}"`);
    return true;
  });
}

/**
 * ok rows: [input, expected] (deepStrictEqual for objects, Object.is for primitives, so -0 and
 * NaN show); bad rows: [input, fragment(s), code?] (code "invalid" unless given). With `spread`
 * each input is an argument list.
 */
function table(name, fn, ok, bad = [], spread = false) {
  const call = (input) => (spread ? fn(...input) : fn(input));
  describe(name, function () {
    for (const [input, expected] of ok) {
      it(`${show(input)} -> ${show(expected)}`, function () {
        const got = call(input);
        if (typeof expected === "object" && expected !== null) assert.deepStrictEqual(got, expected);
        else assert.ok(Object.is(got, expected), `got ${show(got)} (${typeof got})`);
      });
    }
    for (const [input, fragment, code] of bad) {
      it(`${show(input)} is refused${code === undefined ? "" : ` (${code})`}: ${fragment}`, function () {
        throwsWith(() => call(input), fragment, code);
      });
    }
  });
}

/** A value as the JSON bytes a device would see. */
function wire(value) {
  return Buffer.from(JSON.stringify(value), "utf8");
}

module.exports = { show, throwsWith, table, wire };
