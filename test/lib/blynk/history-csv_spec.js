"use strict";
// Blynk's data/get export, the pure part: the cloud's parameters and the CSV made from history points.
const assert = require("node:assert/strict");
const { exportCsv, parseExportRequest, valueCell } = require("../../../dist/nodes/lib/blynk/history-csv.js");
const { table } = require("../../support/table.js");

const T0 = Date.UTC(2024, 0, 19, 12, 25, 30);
const DEFAULTS = { period: "MONTH", granularity: "RAW_DATA", source: "AVG", tzName: "UTC", format: "TS" };
const points = [
  { ts: T0, value: 21.5 },
  { ts: T0 + 20_000, value: 22 },
  { ts: T0 + 45_000, value: "warm, \"very\"" },
  { ts: T0 + 3_600_000, value: [13.4, 52.52] },
  { ts: T0 + 3_600_001, value: true },
];

describe("blynk/history-csv (data/get export)", function () {
  table("parseExportRequest", parseExportRequest, [
    [[], DEFAULTS],
    [[["period", "DAY"], ["granularityType", "HOURLY"], ["sourceType", "MAX"], ["tzName", "Europe/Berlin"], ["format", "ISO_SIMPLE"], ["sendEvents", "true"]], { period: "DAY", granularity: "HOURLY", source: "MAX", tzName: "Europe/Berlin", format: "ISO_SIMPLE" }],
    [[["period", "HOUR"], ["period", "WEEK"], ["unknown", "x"]], { ...DEFAULTS, period: "WEEK" }],
    [[["period", "YEAR"]], { problem: 'period "YEAR" is not one of HOUR, DAY, WEEK, MONTH, THREE_MONTHS' }],
    [[["period", "day"]], { problem: 'period "day" is not one of HOUR, DAY, WEEK, MONTH, THREE_MONTHS' }],
    [[["granularityType", "SECOND"]], { problem: 'granularityType "SECOND" is not one of RAW_DATA, MINUTE, HOURLY, DAILY' }],
    [[["sourceType", "MEDIAN"]], { problem: 'sourceType "MEDIAN" is not one of AVG, MIN, MAX, SUM, COUNT' }],
    [[["format", "ISO"]], { problem: 'format "ISO" is not one of TS, ISO_US, ISO_SIMPLE' }],
    [[["sendEvents", "yes"]], { problem: 'sendEvents "yes" is not one of true, false' }],
    [[["tzName", "Mars/Olympus"]], { problem: 'tzName "Mars/Olympus" is not a time zone; accepted: an IANA zone such as Europe/Berlin' }],
  ]);

  table("valueCell", valueCell, [
    [21.5, "21.5"],
    ["on", "on"],
    ['a,"b"', '"a,""b"""'],
    ["two\nlines", '"two\nlines"'],
    [true, "1"],
    [false, "0"],
    [[13.4, 52.52], '"[13.4,52.52]"'],
  ]);

  table(
    "exportCsv",
    (request) => exportCsv(points, { ...DEFAULTS, ...request }),
    [
      [{}, `${T0},21.5\n${T0 + 20_000},22\n${T0 + 45_000},"warm, ""very"""\n${T0 + 3_600_000},"[13.4,52.52]"\n${T0 + 3_600_001},1\n`],
      [{ format: "ISO_SIMPLE", tzName: "Europe/Berlin" }, '2024-01-19 13:25:30,21.5\n2024-01-19 13:25:50,22\n2024-01-19 13:26:15,"warm, ""very"""\n2024-01-19 14:25:30,"[13.4,52.52]"\n2024-01-19 14:25:30,1\n'],
      [{ format: "ISO_US" }, '01/19/2024 12:25:30,21.5\n01/19/2024 12:25:50,22\n01/19/2024 12:26:15,"warm, ""very"""\n01/19/2024 13:25:30,"[13.4,52.52]"\n01/19/2024 13:25:30,1\n'],
      // Units hold the numbers of a minute / hour / day; text, arrays and booleans only count.
      [{ granularity: "MINUTE" }, `${Date.UTC(2024, 0, 19, 12, 25)},21.75\n`],
      [{ granularity: "MINUTE", source: "COUNT" }, `${Date.UTC(2024, 0, 19, 12, 25)},2\n${Date.UTC(2024, 0, 19, 12, 26)},1\n${Date.UTC(2024, 0, 19, 13, 25)},2\n`],
      [{ granularity: "HOURLY", source: "MAX" }, `${Date.UTC(2024, 0, 19, 12)},22\n`],
      [{ granularity: "HOURLY", source: "MIN", tzName: "Asia/Kolkata", format: "ISO_SIMPLE" }, "2024-01-19 17:00:00,21.5\n"],
      [{ granularity: "DAILY", source: "SUM", tzName: "America/New_York", format: "ISO_SIMPLE" }, "2024-01-19 00:00:00,43.5\n"],
    ],
  );

  it("no points, or no number in any unit, make no file", function () {
    assert.equal(exportCsv([], DEFAULTS), "");
    assert.equal(exportCsv([{ ts: T0, value: "text" }], { ...DEFAULTS, granularity: "HOURLY" }), "");
  });

  it("aggregates units far larger than a call's argument limit", function () {
    const many = Array.from({ length: 200_000 }, (_, i) => ({ ts: T0 + (i % 1000), value: i }));
    assert.equal(exportCsv(many, { ...DEFAULTS, granularity: "DAILY", source: "MAX" }), `${Date.UTC(2024, 0, 19)},199999\n`);
  });
});
