"use strict";
const assert = require("node:assert/strict");
const { ZoneClock, isTimeZone, offsetText } = require("../../../dist/nodes/lib/transport/time-zone.js");
const { table } = require("../../support/table.js");

const T = (...parts) => Date.UTC(...parts);

describe("transport/time-zone", function () {
  table("isTimeZone", isTimeZone, [
    ["Europe/Berlin", true],
    ["UTC", true],
    ["Etc/GMT-3", true],
    ["Mars/Olympus", false],
    ["Eastern Time (US & Canada)", false],
    ["", false],
  ]);

  table("offsetText", ([ms, z]) => offsetText(ms, z), [
    [[0, "Z"], "Z"],
    [[0], "+00:00"],
    [[3_600_000], "+01:00"],
    [[-5 * 3_600_000], "-05:00"],
    [[5.5 * 3_600_000], "+05:30"],
  ]);

  table(
    "iso: the zone's wall clock with its offset (summer and winter time)",
    ([zone, ms]) => new ZoneClock(zone).iso(ms, true),
    [
      [["Europe/Berlin", T(2024, 0, 19, 12, 25, 30)], "2024-01-19T13:25:30+01:00"],
      [["Europe/Berlin", T(2024, 6, 19, 12, 25, 30)], "2024-07-19T14:25:30+02:00"],
      [["America/New_York", T(2024, 0, 1, 3, 0, 0)], "2023-12-31T22:00:00-05:00"],
      [["Asia/Kolkata", T(2024, 0, 19, 0, 0, 0)], "2024-01-19T05:30:00+05:30"],
      [["UTC", T(2024, 0, 19, 0, 0, 0)], "2024-01-19T00:00:00Z"],
      [["Etc/GMT-3", T(2024, 0, 19, 0, 0, 0)], "2024-01-19T03:00:00+03:00"],
    ],
  );

  it("instant reads a wall-clock time in the zone, on both sides of a change", function () {
    const berlin = new ZoneClock("Europe/Berlin");
    assert.equal(berlin.instant({ year: 2024, month: 1, day: 19, hour: 13, minute: 25, second: 30 }), T(2024, 0, 19, 12, 25, 30));
    assert.equal(berlin.instant({ year: 2024, month: 7, day: 19, hour: 14, minute: 25, second: 30 }), T(2024, 6, 19, 12, 25, 30));
    // 2024-03-31 03:30 Berlin is summer time (UTC+2), 01:30 still winter time (UTC+1).
    assert.equal(berlin.instant({ year: 2024, month: 3, day: 31, hour: 3, minute: 30, second: 0 }), T(2024, 2, 31, 1, 30));
    assert.equal(berlin.instant({ year: 2024, month: 3, day: 31, hour: 1, minute: 30, second: 0 }), T(2024, 2, 31, 0, 30));
  });

  table(
    "unitStart: calendar units start on the zone's wall clock",
    ([zone, ms, size]) => new ZoneClock(zone).unitStart(ms, size),
    [
      [["UTC", T(2024, 0, 19, 12, 25, 30), 60_000], T(2024, 0, 19, 12, 25)],
      [["Asia/Kolkata", T(2024, 0, 19, 12, 25, 30), 3_600_000], T(2024, 0, 19, 11, 30)],
      [["Europe/Berlin", T(2024, 0, 19, 23, 30), 86_400_000], T(2024, 0, 19, 23, 0)],
      [["America/New_York", T(2024, 0, 19, 3, 0), 86_400_000], T(2024, 0, 18, 5, 0)],
    ],
  );
});
