"use strict";
const assert = require("node:assert/strict");
const { assertTopicName, assertTopicFilter, topicMatches, filterCovers } = require("../../../dist/nodes/lib/transport/topic.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

function expectInvalid(fn, fragment, code = "invalid") {
  assert.throws(fn, (err) => err instanceof TransportError && err.code === code && err.message.includes(fragment), fragment);
}

describe("transport/topic", function () {
  describe("assertTopicName", function () {
    const valid = ["a", "ds/Temp", "/", "a//b", "/leading", "trailing/", "$SYS/broker/uptime", "v1/devices/me/telemetry", "channels/123/publish/fields/field1", "ünïcødé/∞", " ", "a".repeat(65_535)];
    for (const topic of valid) {
      it(`accepts ${JSON.stringify(topic.length > 40 ? `${topic.slice(0, 10)}…(${topic.length})` : topic)}`, function () {
        assert.doesNotThrow(() => assertTopicName(topic));
      });
    }
    // [value, fragment, code]
    const invalid = [
      ["", "topic must be a non-empty string, got an empty string"],
      [undefined, "got undefined"],
      [null, "got null"],
      [42, "got number"],
      ["a/+/b", "must not contain the wildcards + or # when publishing"],
      ["a/#", "must not contain the wildcards"],
      ["a+b", "must not contain the wildcards"],
      ["a\u0000b", 'topic "a\\0b" must not contain a NUL character'],
      ["a".repeat(65_536), "is 65536 bytes; MQTT allows at most 65535", "too-large"],
      ["é".repeat(40_000), "is 80000 bytes", "too-large"],
    ];
    for (const [value, fragment, code] of invalid) {
      it(`refuses ${typeof value === "string" && value.length > 20 ? `a ${value.length}-char string` : JSON.stringify(value) ?? "undefined"}`, function () {
        expectInvalid(() => assertTopicName(value), fragment, code);
      });
    }
  });

  describe("assertTopicFilter", function () {
    const valid = ["#", "+", "a/#", "a/+/b", "+/+", "/+", "+/", "$SYS/#", "$share/group/a/b", "a/b/c", "a//#", "+/#"];
    for (const filter of valid) {
      it(`accepts ${JSON.stringify(filter)}`, function () {
        assert.doesNotThrow(() => assertTopicFilter(filter));
      });
    }
    const invalid = [
      ["", "topic filter must be a non-empty string"],
      [7, "got number"],
      ["a/#/b", "# is allowed only as the whole last level"],
      ["#/a", "# is allowed only as the whole last level"],
      ["a#", "# is allowed only as the whole last level"],
      ["a/b#", "# is allowed only as the whole last level"],
      ["a+", "+ must occupy a whole level"],
      ["a/+b/c", "+ must occupy a whole level"],
      ["++", "+ must occupy a whole level"],
      ["a/\u0000", "must not contain a NUL character"],
    ];
    for (const [value, fragment] of invalid) {
      it(`refuses ${JSON.stringify(value)}`, function () {
        expectInvalid(() => assertTopicFilter(value), fragment);
      });
    }
  });

  describe("topicMatches", function () {
    // [filter, topic, matches]
    const cases = [
      ["a/b", "a/b", true],
      ["a/b", "a/c", false],
      ["a/b", "a/b/c", false],
      ["a/b/c", "a/b", false],
      ["#", "a", true],
      ["#", "a/b/c", true],
      ["#", "/", true],
      ["a/#", "a", true], // # also matches the parent level (MQTT 4.7.1.2)
      ["a/#", "a/b/c", true],
      ["a/#", "ab", false],
      ["a/+", "a/b", true],
      ["a/+", "a", false],
      ["a/+", "a/", true], // + matches an empty level
      ["a/+", "a/b/c", false],
      ["+/+", "/finance", true],
      ["/+", "/finance", true],
      ["+", "/finance", false],
      ["+/b/+", "x/b/y", true],
      ["A/b", "a/b", false], // case-sensitive
      // $ topics never match a filter starting with a wildcard (MQTT 4.7.2)
      ["#", "$SYS/uptime", false],
      ["+/uptime", "$SYS/uptime", false],
      ["+/#", "$SYS/uptime", false],
      ["$SYS/#", "$SYS/uptime", true],
      ["$SYS/+", "$SYS/uptime", true],
      ["$iot/#", "$iot/blynk/dev1/up/ds/Temp", true],
      ["a/$x", "a/$x", true],
      ["a/+", "a/$x", true], // only a leading $ is special
    ];
    for (const [filter, topic, expected] of cases) {
      it(`${JSON.stringify(filter)} ${expected ? "matches" : "does not match"} ${JSON.stringify(topic)}`, function () {
        assert.equal(topicMatches(filter, topic), expected);
      });
    }
  });

  describe("filterCovers", function () {
    // [pattern, filter, covered]
    const cases = [
      ["#", "a/b", true],
      ["#", "#", true],
      ["#", "+/x", true],
      ["#", "$SYS/#", false],
      ["+/#", "$SYS/x", false],
      ["$SYS/#", "$SYS/x", true],
      ["a/#", "a", true],
      ["a/#", "a/#", true],
      ["a/#", "a/b/#", true],
      ["a/#", "a/+/c", true],
      ["a/#", "b/#", false],
      ["a/+", "a/b", true],
      ["a/+", "a/+", true],
      ["a/+", "a/#", false],
      ["a/+", "a/b/c", false],
      ["a/+", "a", false],
      ["a/b", "a/b", true],
      ["a/b", "a/+", false],
      ["a/b", "a/b/#", false],
      ["a/b", "a/#", false],
      ["+", "#", false],
      ["+/+", "a/+", true],
      ["devices/%u/#", "devices/%u/x", true],
    ];
    for (const [pattern, filter, expected] of cases) {
      it(`${JSON.stringify(pattern)} ${expected ? "covers" : "does not cover"} ${JSON.stringify(filter)}`, function () {
        assert.equal(filterCovers(pattern, filter), expected);
      });
    }

    it("agrees with topicMatches: whatever a covered filter matches, the pattern matches", function () {
      const topics = ["a", "a/b", "a/b/c", "b", "/", "a/", "$SYS/x", "x/y"];
      const filters = ["#", "+", "a/#", "a/+", "a/b", "+/+", "+/#", "$SYS/#", "a/+/c", "b/#"];
      for (const pattern of filters) {
        for (const filter of filters) {
          if (!filterCovers(pattern, filter)) continue;
          for (const topic of topics) {
            if (topicMatches(filter, topic)) {
              assert.ok(topicMatches(pattern, topic), `${pattern} covers ${filter}, which matches ${topic}, but ${pattern} does not`);
            }
          }
        }
      }
    });
  });
});
