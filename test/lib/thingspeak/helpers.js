"use strict";
const assert = require("node:assert/strict");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

/** Prints a table input readably in test titles. */
function show(v) {
  if (v === undefined) return "undefined";
  if (Buffer.isBuffer(v)) return `Buffer<${v.toString("hex")}>`;
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  const text = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return text.length > 90 ? `${text.slice(0, 90)}…` : text;
}

/**
 * Runs `fn` over two tables: [input, expected] must return expected (deepEqual), and
 * [input, fragment, code?] must throw a TransportError (code "invalid" unless given) whose
 * message contains the fragment.
 */
function table(name, fn, ok, bad = []) {
  describe(name, function () {
    for (const [input, expected] of ok) {
      it(`${show(input)} -> ${show(expected)}`, function () {
        assert.deepEqual(fn(input), expected);
      });
    }
    for (const [input, fragment, code = "invalid"] of bad) {
      it(`${show(input)} is refused (${code}): ${fragment}`, function () {
        assert.throws(
          () => fn(input),
          (err) => {
            assert.ok(err instanceof TransportError, `not a TransportError: ${err}`);
            assert.equal(err.code, code, err.message);
            assert.ok(err.message.includes(fragment), `message: ${err.message}`);
            return true;
          },
        );
      });
    }
  });
}

module.exports = { table, show };
