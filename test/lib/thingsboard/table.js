"use strict";
/** Table helpers shared by the ThingsBoard codec specs (not a spec itself). */
const assert = require("node:assert/strict");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

/** Prints a table input readably in test titles. */
function show(v) {
  if (typeof v === "number" || v === undefined) return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "bigint") return `${v}n`;
  if (Buffer.isBuffer(v)) return `Buffer<${v.toString("utf8").slice(0, 60)}>`;
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? "invalid" : v.toISOString()})`;
  if (typeof v === "function") return "<function>";
  try {
    const text = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : typeof x === "function" ? "<function>" : x));
    return text === undefined ? String(v) : text.length > 110 ? `${text.slice(0, 110)}…` : text;
  } catch {
    return "<circular>";
  }
}

/** True when `fn` throws TransportError `code` whose message holds `fragment`. */
function throwsWith(fn, fragment, code = "invalid") {
  assert.throws(
    fn,
    (err) => {
      assert.ok(err instanceof TransportError, `not a TransportError: ${err}`);
      assert.equal(err.code, code, err.message);
      assert.ok(err.message.includes(fragment), `message "${err.message}" lacks "${fragment}"`);
      return true;
    },
  );
}

/**
 * [input, expected] rows must return expected (deepEqual; Object.is for primitives), [input,
 * fragment] rows must throw TransportError("invalid") whose message contains the fragment. A
 * bad row may give a third item: the error code.
 */
function table(name, fn, ok, bad = []) {
  describe(name, function () {
    for (const [input, expected] of ok) {
      it(`${show(input)} -> ${show(expected)}`, function () {
        const got = fn(input);
        if (typeof expected === "object" && expected !== null) assert.deepEqual(got, expected);
        else assert.ok(Object.is(got, expected), `got ${show(got)} (${typeof got})`);
      });
    }
    for (const [input, fragment, code] of bad) {
      it(`${show(input)} is refused: ${fragment}`, function () {
        throwsWith(() => fn(input), fragment, code);
      });
    }
  });
}

/** Encoded value -> the bytes a device would see. */
function wire(value) {
  return Buffer.from(JSON.stringify(value), "utf8");
}

module.exports = { table, show, throwsWith, wire };
