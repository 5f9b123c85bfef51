"use strict";
const assert = require("node:assert/strict");
const codec = require("../../../dist/nodes/lib/transport/value-codec.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");
const { show, table } = require("../../support/table.js");

const circular = { a: 1 };
circular.self = circular;

describe("transport/value-codec", function () {
  table(
    "toNumber",
    (v) => codec.toNumber(v, "Temperature"),
    [
      [21.5, 21.5],
      [0, 0],
      [-3, -3],
      ["42", 42],
      [" 42 ", 42],
      ["-1.5", -1.5],
      ["+7", 7],
      [".5", 0.5],
      ["5.", 5],
      ["1e3", 1000],
      ["2.5E-1", 0.25],
      ["007", 7],
      [12n, 12],
    ],
    [
      ["abc", 'value for "Temperature" must be a number, got "abc" (string); accepted: finite numbers or numeric strings'],
      ["", 'got "" (empty string)'],
      ["   ", 'got "   " (string)'],
      ["0x10", 'got "0x10" (string)'],
      ["1,5", 'got "1,5" (string)'],
      ["12abc", 'got "12abc" (string)'],
      ["Infinity", 'got "Infinity" (string)'],
      ["1e999", 'got "1e999" (string)'],
      [NaN, "got NaN (number)"],
      [Infinity, "got Infinity (number)"],
      [true, "got true (boolean)"],
      [null, "got null"],
      [undefined, "got undefined (no value)"],
      [{}, "got an object"],
      [[1], "got an array of 1"],
      [2n ** 64n, "got 18446744073709551616n (bigint)"],
      ["x".repeat(100), `got "${"x".repeat(40)}"… (string)`],
    ],
  );

  describe("toNumber with a range", function () {
    const ok = [
      [[5, { min: 1, max: 8 }], 5],
      [["1", { min: 1 }], 1],
      [[8, { max: 8 }], 8],
    ];
    const bad = [
      [[0, { min: 1, max: 8 }], 'value for "field" must be between 1 and 8, got 0'],
      [[9, { min: 1, max: 8 }], "must be between 1 and 8, got 9"],
      [[-1, { min: 0 }], "must be at least 0, got -1"],
      [[11, { max: 10 }], "must be at most 10, got 11"],
    ];
    for (const [[v, range], expected] of ok) {
      it(`${show(v)} in ${show(range)} -> ${expected}`, function () {
        assert.equal(codec.toNumber(v, "field", range), expected);
      });
    }
    for (const [[v, range], fragment] of bad) {
      it(`${show(v)} outside ${show(range)} is refused`, function () {
        assert.throws(() => codec.toNumber(v, "field", range), (e) => e.code === "invalid" && e.message.includes(fragment));
      });
    }
  });

  table(
    "toInteger",
    (v) => codec.toInteger(v, "V1"),
    [
      [3, 3],
      ["3", 3],
      ["3.0", 3],
      [" -12 ", -12],
      ["1e2", 100],
      [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    ],
    [
      [3.5, 'value for "V1" must be a whole number, got 3.5 (number); accepted: integers or integer strings'],
      ["3.5", 'got "3.5" (string)'],
      ["three", 'got "three" (string); accepted: integers or integer strings'],
      [2 ** 53, "accepted: integers or integer strings between"],
      [true, "got true (boolean)"],
    ],
  );

  it("toInteger checks a range too", function () {
    assert.equal(codec.toInteger("8", "field", { min: 1, max: 8 }), 8);
    assert.throws(() => codec.toInteger(9, "field", { min: 1, max: 8 }), { message: 'value for "field" must be between 1 and 8, got 9' });
  });

  table(
    "toBoolean",
    (v) => codec.toBoolean(v, "Switch"),
    [
      [true, true],
      [false, false],
      [1, true],
      [0, false],
      ["true", true],
      ["false", false],
      ["TRUE", true],
      ["False", false],
      ["on", true],
      ["OFF", false],
      ["1", true],
      ["0", false],
      [" on ", true],
    ],
    [
      ["yes", 'value for "Switch" must be a boolean, got "yes" (string); accepted: true/false, 1/0, or the strings "true"/"false", "on"/"off", "1"/"0"'],
      [2, "got 2 (number)"],
      [-1, "got -1 (number)"],
      ["", 'got "" (empty string)'],
      [null, "got null"],
      [undefined, "got undefined"],
      [{}, "got an object"],
      ["1.0", 'got "1.0" (string)'],
    ],
  );

  table(
    "toText",
    (v) => codec.toText(v, "Label"),
    [
      ["hello", "hello"],
      ["", ""],
      [42, "42"],
      [-0.5, "-0.5"],
      [true, "true"],
      [false, "false"],
      [10n, "10"],
      [Buffer.from("héllo"), "héllo"],
    ],
    [
      [{ a: 1 }, 'value for "Label" must be text, got an object; accepted: strings, finite numbers or booleans (objects and arrays are not accepted here)'],
      [[1, 2], "got an array of 2"],
      [null, "got null"],
      [undefined, "got undefined"],
      [NaN, "got NaN (number)"],
      [Buffer.from([0xff, 0xfe]), "got a Buffer of 2 bytes; accepted: strings, numbers, booleans, or Buffers holding UTF-8 text"],
    ],
  );

  table(
    "toText with allowObjects",
    (v) => codec.toText(v, "Label", { allowObjects: true }),
    [
      [{ a: 1 }, '{"a":1}'],
      [[1, "x"], '[1,"x"]'],
      ["s", "s"],
    ],
    [
      [null, "accepted: strings, finite numbers, booleans, objects or arrays (sent as JSON)"],
      [circular, 'value for "Label" cannot be sent as JSON: it refers to itself (circular structure)'],
    ],
  );

  table(
    "toJsonText",
    (v) => codec.toJsonText(v, "attributes"),
    [
      [{ temperature: 21.5, on: true }, '{"temperature":21.5,"on":true}'],
      [[1, "a", null], '[1,"a",null]'],
      ["abc", '"abc"'],
      [5, "5"],
      [false, "false"],
      [null, "null"],
      [{ when: new Date(0) }, '{"when":"1970-01-01T00:00:00.000Z"}'],
    ],
    [
      [undefined, 'value for "attributes" cannot be sent as JSON: undefined (no value) has no JSON form'],
      [NaN, "cannot be sent as JSON: it contains NaN"],
      [{ a: Infinity }, "it contains Infinity"],
      [[1, -Infinity], "it contains -Infinity"],
      [{ f() {} }, "it contains a function"],
      [() => 1, "it contains a function"],
      [{ big: 1n }, "BigInt"],
      [circular, "it refers to itself (circular structure)"],
    ],
  );

  table(
    "parseScalar",
    (v) => codec.parseScalar(v),
    [
      ["42", 42],
      ["100.00000", 100],
      ["-3.5", -3.5],
      ["0", 0],
      ["-0", -0],
      ["1e3", 1000],
      ["-3E-2", -0.03],
      ["9007199254740991", 9007199254740991],
      // stays text: not exactly a number as written
      ["", ""],
      [" 1", " 1"],
      ["1 ", "1 "],
      ["007", "007"],
      ["+5", "+5"],
      [".5", ".5"],
      ["5.", "5."],
      ["0x10", "0x10"],
      ["NaN", "NaN"],
      ["Infinity", "Infinity"],
      ["1e999", "1e999"],
      ["12345678901234567890", "12345678901234567890"], // would lose digits
      ["abc", "abc"],
      ["true", "true"],
      ["1,5", "1,5"],
    ],
    [],
  );

  describe("coerce", function () {
    // [value, kind, expected]
    const ok = [
      ["21.5", "number", 21.5],
      [1, "boolean", true],
      ["off", "boolean", false],
      [3, "string", "3"],
      [{ a: 1 }, "json", '{"a":1}'],
      ["text", "json", '"text"'],
      ["42", "auto", 42],
      ["100.00000", "auto", 100],
      ["hello", "auto", "hello"],
      ["", "auto", ""],
      [7, "auto", 7],
      [true, "auto", true],
      [Buffer.from("12"), "auto", 12],
    ];
    for (const [value, kind, expected] of ok) {
      it(`${show(value)} as ${kind} -> ${show(expected)}`, function () {
        assert.ok(Object.is(codec.coerce(value, kind, "ds"), expected));
      });
    }
    // [value, kind, fragment]
    const bad = [
      ["abc", "number", 'value for "ds" must be a number, got "abc" (string)'],
      ["maybe", "boolean", 'value for "ds" must be a boolean'],
      [{ a: 1 }, "string", 'value for "ds" must be text, got an object'],
      [undefined, "json", "has no JSON form"],
      [{ a: 1 }, "auto", 'value for "ds" must be a single value, got an object; accepted: strings, finite numbers or booleans'],
      [null, "auto", "got null"],
      [NaN, "auto", "got NaN (number)"],
      [1, "xml", 'unknown value kind "xml"; accepted: string, number, boolean, json, auto'],
    ];
    for (const [value, kind, fragment] of bad) {
      it(`${show(value)} as ${kind} is refused`, function () {
        assert.throws(() => codec.coerce(value, kind, "ds"), (e) => e instanceof TransportError && e.code === "invalid" && e.message.includes(fragment), fragment);
      });
    }
  });

  it("says just 'value' when no name is given", function () {
    assert.throws(() => codec.toNumber("x"), { message: 'value must be a number, got "x" (string); accepted: finite numbers or numeric strings' });
  });
});

describe("isPlainObject across realms", function () {
  const vm = require("node:vm");
  const { isPlainObject } = require("../../../dist/nodes/lib/transport/value-codec.js");
  // Node-RED's Function nodes run in a vm context: their objects have another Object.prototype.
  const table = [
    ["an object literal", {}, true],
    ["an object from a Function node's context", vm.runInNewContext("({ temperature: 21.5 })"), true],
    ["a null-prototype object", Object.create(null), true],
    ["an array", [1], false],
    ["an array from another context", vm.runInNewContext("[1]"), false],
    ["a Date", new Date(0), false],
    ["a Buffer", Buffer.from("x"), false],
    ["a class instance", new (class Reading {})(), false],
    ["null", null, false],
    ["a string", "x", false],
  ];
  for (const [name, value, expected] of table) {
    it(`${name}: ${expected}`, function () {
      require("node:assert/strict").equal(isPlainObject(value), expected);
    });
  }
});
