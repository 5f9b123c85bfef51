"use strict";
/** Table-test helpers shared by the Blynk codec specs. */
const assert = require("node:assert/strict");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

/** Prints a table input readably in test titles (NUL shown as \0, long strings cut). */
function show(v) {
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return `${v}n`;
  if (Buffer.isBuffer(v)) return `Buffer<${v.toString("hex")}>`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  let text = typeof v === "number" ? String(v) : JSON.stringify(v);
  if (text === undefined) text = String(v);
  return text.length > 90 ? `${text.slice(0, 90)}…(${text.length})` : text;
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

/** ok rows: [input, expected]; bad rows: [input, fragment(s), code?]. Inputs are spread when `spread`. */
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
      it(`${show(input)} is refused: ${fragment}`, function () {
        throwsWith(() => call(input), fragment, code);
      });
    }
  });
}

module.exports = { show, throwsWith, table };
