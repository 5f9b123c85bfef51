"use strict";
// The DeviceStore contract (nodes/lib/broker/device-store.ts) as one behaviour table, run against
// every implementation: MemoryDeviceStore and the SQLite store (test/lib/store/). Each case is a
// list of steps on one device's store: ["set", section, key, value, at], ["delete", section, key,
// expectedBoolean], ["clear", section], and checks ["get", section, key, expected],
// ["entries", section, expected], ["size", section, n]. A durable store is also checked after a
// flush and a reopen: every section the case names reads the same as before.
const assert = require("node:assert/strict");

const ALL_JSON = [
  ["s", { value: "text", at: 1 }],
  ["empty", { value: "", at: 2 }],
  ["unicode", { value: "°C ✓ \u{1F600} \"quoted\" \\ \n", at: 3 }],
  ["int", { value: -42, at: 4 }],
  ["float", { value: 21.375, at: 5 }],
  ["zero", { value: 0, at: 6 }],
  ["true", { value: true, at: 7 }],
  ["false", { value: false, at: 8 }],
  ["null", { value: null, at: 9 }],
  ["array", { value: [1, "two", [3], { four: 4 }], at: 10 }],
  ["object", { value: { a: { b: [null, true] }, "": "empty key" }, at: 11 }],
];

const CASES = [
  {
    title: "an empty store answers nothing",
    steps: [
      ["get", "ds", "a", undefined],
      ["entries", "ds", []],
      ["size", "ds", 0],
      ["delete", "ds", "a", false],
      ["clear", "ds"],
      ["entries", "ds", []],
    ],
  },
  {
    title: "keeps entries per section in first-written order, with their time",
    steps: [
      ["set", "ds", "b", "1", 10],
      ["set", "ds", "a", { x: [1] }, 20],
      ["set", "ds", "b", "2", 30],
      ["set", "meta", "zone", "UTC", 5],
      ["entries", "ds", [["b", { value: "2", at: 30 }], ["a", { value: { x: [1] }, at: 20 }]]],
      ["size", "ds", 2],
      ["get", "meta", "zone", { value: "UTC", at: 5 }],
      ["entries", "meta", [["zone", { value: "UTC", at: 5 }]]],
    ],
  },
  {
    title: "a deleted entry is gone; set again, it goes last",
    steps: [
      ["set", "ds", "a", 1, 1],
      ["set", "ds", "b", 2, 2],
      ["set", "ds", "c", 3, 3],
      ["delete", "ds", "a", true],
      ["delete", "ds", "a", false],
      ["delete", "other", "b", false],
      ["get", "ds", "a", undefined],
      ["set", "ds", "a", 4, 4],
      ["entries", "ds", [["b", { value: 2, at: 2 }], ["c", { value: 3, at: 3 }], ["a", { value: 4, at: 4 }]]],
    ],
  },
  {
    title: "clear empties one section only; later writes start a new order",
    steps: [
      ["set", "ds", "a", 1, 1],
      ["set", "ds", "b", 2, 2],
      ["set", "meta", "m", "x", 3],
      ["clear", "ds"],
      ["size", "ds", 0],
      ["get", "ds", "a", undefined],
      ["set", "ds", "b", 5, 5],
      ["set", "ds", "a", 6, 6],
      ["entries", "ds", [["b", { value: 5, at: 5 }], ["a", { value: 6, at: 6 }]]],
      ["entries", "meta", [["m", { value: "x", at: 3 }]]],
    ],
  },
  {
    title: "set, clear, set and delete of one key in a row keep only the last word",
    steps: [
      ["set", "ds", "k", 1, 1],
      ["clear", "ds"],
      ["set", "ds", "k", 2, 2],
      ["delete", "ds", "k", true],
      ["set", "ds", "k", 3, 3],
      ["set", "ds", "j", 4, 4],
      ["clear", "ds"],
      ["set", "ds", "j", 5, 5],
      ["entries", "ds", [["j", { value: 5, at: 5 }]]],
    ],
  },
  {
    title: "every kind of JSON value comes back as it went in",
    steps: [...ALL_JSON.map(([key, v]) => ["set", "values", key, v.value, v.at]), ["entries", "values", ALL_JSON]],
  },
  {
    title: "section and key names are any text (client:<sub>, quotes, unicode, empty)",
    steps: [
      ["set", "client:sub-1", "temp'; DROP TABLE x; --", 1, 1],
      ["set", "client:sub-1", "", 2, 2],
      ["set", "", "ключ", 3, 3],
      ["entries", "client:sub-1", [["temp'; DROP TABLE x; --", { value: 1, at: 1 }], ["", { value: 2, at: 2 }]]],
      ["entries", "", [["ключ", { value: 3, at: 3 }]]],
      ["entries", "client:sub-2", []],
    ],
  },
  {
    title: "times keep their value (0, a recent ms, a far future)",
    steps: [
      ["set", "t", "zero", 1, 0],
      ["set", "t", "now", 1, 1_780_000_000_123],
      ["set", "t", "far", 1, 8_000_000_000_000],
      ["entries", "t", [["zero", { value: 1, at: 0 }], ["now", { value: 1, at: 1_780_000_000_123 }], ["far", { value: 1, at: 8_000_000_000_000 }]]],
    ],
  },
  {
    title: "thousands of entries in one section keep their order",
    steps: [
      ...Array.from({ length: 2_500 }, (_, i) => ["set", "feed", String(2_500 - i), i, i]),
      ...Array.from({ length: 500 }, (_, i) => ["set", "feed", String(2_500 - i * 5), -i - 1, i]),
      ["size", "feed", 2_500],
      ["entries", "feed", Array.from({ length: 2_500 }, (_, i) => [String(2_500 - i), i % 5 === 0 ? { value: -(i / 5) - 1, at: i / 5 } : { value: i, at: i }])],
    ],
  },
];

/** Applies a case's steps to `store`, asserting each check (with `flushEach`, a flush after each); returns the sections it named. */
async function play(store, steps, flushEach) {
  const sections = new Set();
  for (const [op, section, ...args] of steps) {
    if (flushEach) await store.flush();
    sections.add(section);
    const where = `${op} ${JSON.stringify(section)} ${args.map((a) => JSON.stringify(a)).join(" ")}`.slice(0, 120);
    switch (op) {
      case "set":
        assert.equal(store.set(section, args[0], args[1], args[2]), undefined, where);
        break;
      case "delete":
        assert.equal(store.delete(section, args[0]), args[1], where);
        break;
      case "clear":
        store.clear(section);
        break;
      case "get":
        assert.deepStrictEqual(store.get(section, args[0]), args[1], where);
        break;
      case "entries":
        assert.deepStrictEqual(store.entries(section), args[0], where);
        break;
      case "size":
        assert.equal(store.size(section), args[0], where);
        break;
      default:
        throw new Error(`unknown step ${op}`);
    }
  }
  return sections;
}

/** What a store shows of `sections` (to compare one store with another). */
function view(store, sections) {
  return [...sections].map((s) => [s, store.entries(s), store.size(s)]);
}

/**
 * Runs the table. `make()` returns { store, reopen?: async () => store, close?: async () => void,
 * flushEach?: boolean }; with `reopen`, the state after the steps must read the same from the
 * reopened store; with `flushEach`, every step meets a committed state (not only pending writes).
 */
function deviceStoreContract(name, make) {
  describe(`DeviceStore contract: ${name}`, function () {
    for (const c of CASES) {
      it(c.title, async function () {
        const subject = await make();
        try {
          const sections = await play(subject.store, c.steps, subject.flushEach === true);
          const before = view(subject.store, sections);
          // A copy: changing what entries() answered does not change the store.
          const first = [...sections][0];
          subject.store.entries(first).push(["intruder", { value: 1, at: 1 }]);
          assert.deepStrictEqual(view(subject.store, sections), before);
          await subject.store.flush();
          if (subject.reopen !== undefined) {
            const reopened = await subject.reopen();
            assert.deepStrictEqual(view(reopened, sections), before, "after flush and reopen");
          }
        } finally {
          await subject.close?.();
        }
      });
    }
  });
}

module.exports = { deviceStoreContract, CASES };
