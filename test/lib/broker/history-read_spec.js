"use strict";
// Reading history as a flow asks for it (broker/history-read.ts): tables of the time, limit and
// format settings, accepted and refused (a HistoryRefusal naming the catalog key and what was
// given), the range check, and the CSV text.
const assert = require("node:assert/strict");
const { parseTime, parseLimit, parseFormat, checkRange, historyCsv, HistoryRefusal, DEFAULT_LIMIT, MAX_LIMIT } = require("../../../dist/nodes/lib/broker/history-read.js");
const { show } = require("../../support/table.js");

const NOW = Date.UTC(2024, 5, 15, 12, 0, 0); // 2024-06-15T12:00:00Z
const H = 3_600_000;
const D = 24 * H;
/** ms of a local wall-clock time (ISO without a zone is the machine's local time). */
const local = (...parts) => new Date(...parts).getTime();

/** Asserts `fn` throws a HistoryRefusal with `key` and params containing `params`. */
function refuses(fn, key, params = {}) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof HistoryRefusal, `not a HistoryRefusal: ${err}`);
    assert.equal(err.key, key, err.message);
    for (const [k, v] of Object.entries(params)) assert.equal(err.params[k], v, `param ${k} of ${err.message}`);
    return true;
  });
}

describe("history-read: from/to", function () {
  const ok = [
    [undefined, undefined],
    [null, undefined],
    ["", undefined],
    ["   ", undefined],
    ["now", NOW],
    [" NOW ", NOW],
    ["-24h", NOW - 24 * H],
    ["24h", NOW - 24 * H],
    ["-30m", NOW - 30 * 60_000],
    ["-30min", NOW - 30 * 60_000],
    ["-7d", NOW - 7 * D],
    ["-2w", NOW - 14 * D],
    ["-90s", NOW - 90_000],
    ["-500ms", NOW - 500],
    ["-1h30m", NOW - 1.5 * H],
    ["-1h 30m", NOW - 1.5 * H],
    ["-1.5h", NOW - 1.5 * H],
    ["-0s", NOW],
    ["-24H", NOW - 24 * H],
    ["2024-06-01T08:00:00Z", Date.UTC(2024, 5, 1, 8)],
    ["2024-06-01T08:00Z", Date.UTC(2024, 5, 1, 8)],
    ["2024-06-01t08:00:00.250z", Date.UTC(2024, 5, 1, 8, 0, 0, 250)],
    ["2024-06-01T08:00:00.123456Z", Date.UTC(2024, 5, 1, 8, 0, 0, 123)],
    ["2024-06-01T08:00:00+02:00", Date.UTC(2024, 5, 1, 6)],
    ["2024-06-01T08:00:00-0530", Date.UTC(2024, 5, 1, 13, 30)],
    ["2024-06-01T08:00", local(2024, 5, 1, 8)],
    ["2024-06-01 08:00:30", local(2024, 5, 1, 8, 0, 30)],
    ["2024-06-01", local(2024, 5, 1)],
    ["2024-02-29", local(2024, 1, 29)],
    ["0050-01-01T00:00Z", -60589296000000],
    ["1717228800000", 1717228800000],
    [1717228800000, 1717228800000],
    [0, 0],
    [new Date(Date.UTC(2024, 0, 1)), Date.UTC(2024, 0, 1)],
  ];
  for (const [input, expected] of ok) {
    it(`${show(input)} -> ${show(expected)}`, function () {
      assert.equal(parseTime(input, "from", NOW), expected);
    });
  }

  const bad = [
    "yesterday",
    "-24",
    "-5",
    "+24h",
    "-24x",
    "24 hours",
    "h",
    "-",
    "2024-02-30",
    "2023-02-29",
    "2024-13-01",
    "2024-00-10",
    "2024-06-01T24:00Z",
    "2024-06-01T12:60Z",
    "2024-06-01T12:00:60Z",
    "2024-06-01T12:00+25:00",
    "2024-6-1",
    "06/01/2024",
    "1e12",
    "99999999999999999999",
    -1,
    1.5,
    Number.NaN,
    Infinity,
    9e15,
    true,
    {},
    [],
    new Date(Number.NaN),
    `-${"9".repeat(400)}h`,
  ];
  for (const input of bad) {
    it(`${show(input)} is refused (invalid-time)`, function () {
      refuses(() => parseTime(input, "to", NOW), "invalid-time", { which: "to" });
    });
  }

  it("a refusal quotes at most 40 characters of what was given", function () {
    refuses(() => parseTime("x".repeat(500), "from", NOW), "invalid-time", { got: `"${"x".repeat(40)}"…` });
  });

  it("a range whose From is after its To is refused, naming both", function () {
    checkRange(undefined, NOW);
    checkRange(NOW, undefined);
    checkRange(NOW, NOW);
    refuses(() => checkRange(NOW + 1, NOW), "reversed-range", { from: new Date(NOW + 1).toISOString(), to: new Date(NOW).toISOString() });
  });
});

describe("history-read: limit and format", function () {
  const limits = [
    [undefined, DEFAULT_LIMIT],
    [null, DEFAULT_LIMIT],
    ["", DEFAULT_LIMIT],
    [" ", DEFAULT_LIMIT],
    [1, 1],
    ["250", 250],
    [" 250 ", 250],
    [MAX_LIMIT, MAX_LIMIT],
  ];
  for (const [input, expected] of limits) {
    it(`limit ${show(input)} -> ${expected}`, function () {
      assert.equal(parseLimit(input), expected);
    });
  }
  for (const input of [0, -1, 1.5, MAX_LIMIT + 1, "0", "1e3", "10 points", "-5", Number.NaN, Infinity, true, {}, [10]]) {
    it(`limit ${show(input)} is refused (invalid-limit)`, function () {
      refuses(() => parseLimit(input), "invalid-limit", { max: String(MAX_LIMIT) });
    });
  }

  for (const [input, expected] of [[undefined, "points"], [null, "points"], ["", "points"], ["points", "points"], ["csv", "csv"], [" csv ", "csv"]]) {
    it(`format ${show(input)} -> ${expected}`, function () {
      assert.equal(parseFormat(input), expected);
    });
  }
  for (const input of ["CSV", "json", "chart", 1, {}, true]) {
    it(`format ${show(input)} is refused (invalid-format)`, function () {
      refuses(() => parseFormat(input), "invalid-format");
    });
  }
});

describe("history-read: CSV", function () {
  it("has a header, then time (UTC), ts and value per point, oldest first", function () {
    const csv = historyCsv([
      { ts: Date.UTC(2024, 5, 1, 8), value: 21.5 },
      { ts: Date.UTC(2024, 5, 1, 9), value: true },
      { ts: Date.UTC(2024, 5, 1, 10), value: null },
    ]);
    assert.equal(csv, "time,ts,value\n2024-06-01T08:00:00.000Z,1717228800000,21.5\n2024-06-01T09:00:00.000Z,1717232400000,true\n2024-06-01T10:00:00.000Z,1717236000000,\n");
  });

  it("quotes text where CSV needs it, writes arrays and objects as JSON and defuses spreadsheet formulas", function () {
    const rows = historyCsv([
      { ts: 0, value: "plain" },
      { ts: 1, value: 'say "hi", then\nleave' },
      { ts: 2, value: [1, "a"] },
      { ts: 3, value: { lat: 1.5 } },
      { ts: 4, value: "=HYPERLINK(\"http://x\")" },
      { ts: 5, value: "+1" },
      { ts: 6, value: "-2" },
      { ts: 7, value: "@SUM(A1)" },
      { ts: 8, value: -3 },
    ])
      .trimEnd()
      .split("\n")
      .slice(1);
    assert.deepEqual(rows, [
      "1970-01-01T00:00:00.000Z,0,plain",
      '1970-01-01T00:00:00.001Z,1,"say ""hi"", then\nleave"'.split("\n")[0],
      "leave\"",
      '1970-01-01T00:00:00.002Z,2,"[1,""a""]"',
      '1970-01-01T00:00:00.003Z,3,"{""lat"":1.5}"',
      "1970-01-01T00:00:00.004Z,4,\"'=HYPERLINK(\"\"http://x\"\")\"",
      "1970-01-01T00:00:00.005Z,5,'+1",
      "1970-01-01T00:00:00.006Z,6,'-2",
      "1970-01-01T00:00:00.007Z,7,'@SUM(A1)",
      "1970-01-01T00:00:00.008Z,8,-3",
    ]);
  });

  it("is the header alone without points, and a time no Date holds is left empty rather than throwing", function () {
    assert.equal(historyCsv([]), "time,ts,value\n");
    assert.equal(historyCsv([{ ts: 9e15, value: 1 }]), "time,ts,value\n,9000000000000000,1\n");
  });
});
