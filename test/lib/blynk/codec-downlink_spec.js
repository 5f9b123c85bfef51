"use strict";
const assert = require("node:assert/strict");
const codec = require("../../../dist/nodes/lib/blynk/codec.js");
const { show, table } = require("../../support/table.js");

describe("blynk/codec: utc info, downlink, server URLs", function () {
  const berlinWinter = Date.UTC(2024, 0, 15, 12, 0, 0);
  const berlinSummer = Date.UTC(2024, 6, 15, 12, 0, 0);
  const dstStart = Date.UTC(2024, 2, 31, 1, 0, 0);
  table("utcInfo", (args) => codec.utcInfo(...args), [
    [[berlinWinter, "Europe/Berlin"], {
      tz_name: "Europe/Berlin", tz_rule: "CET-1CEST,M3.5.0,M10.5.0/3", tz_offset: 60, dst_offset: 0, time: berlinWinter, iso8601: "2024-01-15T13:00:00+01:00",
    }],
    [[berlinSummer, "Europe/Berlin"], {
      tz_name: "Europe/Berlin", tz_rule: "CET-1CEST,M3.5.0,M10.5.0/3", tz_offset: 60, dst_offset: 60, time: berlinSummer, iso8601: "2024-07-15T14:00:00+02:00",
    }],
    [[dstStart - 1, "Europe/Berlin"], {
      tz_name: "Europe/Berlin", tz_rule: "CET-1CEST,M3.5.0,M10.5.0/3", tz_offset: 60, dst_offset: 0, time: dstStart - 1, iso8601: "2024-03-31T01:59:59+01:00",
    }],
    [[dstStart, "Europe/Berlin"], {
      tz_name: "Europe/Berlin", tz_rule: "CET-1CEST,M3.5.0,M10.5.0/3", tz_offset: 60, dst_offset: 60, time: dstStart, iso8601: "2024-03-31T03:00:00+02:00",
    }],
    [[berlinWinter, "UTC"], { tz_name: "UTC", tz_rule: "UTC0", tz_offset: 0, dst_offset: 0, time: berlinWinter, iso8601: "2024-01-15T12:00:00+00:00" }],
    [[berlinSummer, "UTC"], { tz_name: "UTC", tz_rule: "UTC0", tz_offset: 0, dst_offset: 0, time: berlinSummer, iso8601: "2024-07-15T12:00:00+00:00" }],
    [[berlinSummer, "America/New_York"], {
      tz_name: "America/New_York", tz_rule: "EST5EDT,M3.2.0,M11.1.0", tz_offset: -300, dst_offset: 60, time: berlinSummer, iso8601: "2024-07-15T08:00:00-04:00",
    }],
    [[berlinWinter, "Australia/Sydney"], {
      tz_name: "Australia/Sydney", tz_rule: "AEST-10AEDT,M10.1.0,M4.1.0/3", tz_offset: 600, dst_offset: 60, time: berlinWinter, iso8601: "2024-01-15T23:00:00+11:00",
    }],
  ], [
    [[berlinWinter, "Mars/Olympus"], ['time zone "Mars/Olympus" is not known', "IANA zone name"]],
    [[NaN, "UTC"], "finite number of ms"],
    [[berlinWinter, ""], "non-empty"],
  ]);

  it("utcInfo gives a POSIX rule with a numeric offset for zones without DST", function () {
    const info = codec.utcInfo(berlinWinter, "Asia/Kolkata");
    assert.equal(info.tz_offset, 330);
    assert.equal(info.dst_offset, 0);
    assert.match(info.tz_rule, /^(IST|<\+0530>)-5:30$/);
    assert.equal(info.iso8601, "2024-01-15T17:30:00+05:30");
  });

  // [message, encoded, parsed (defaults to the message)]
  const berlinInfo = codec.utcInfo(berlinWinter, "Europe/Berlin");
  const downlinks = [
    [{ kind: "ds", datastream: "Set Temperature", value: 22 }, { topic: "downlink/ds/Set Temperature", payload: "22" }],
    [{ kind: "ds", datastream: "Multi", value: ["a", "b"] }, { topic: "downlink/ds/Multi", payload: "a\0b" }],
    [{ kind: "ds", datastream: "Power", value: true }, { topic: "downlink/ds/Power", payload: "1" }, { kind: "ds", datastream: "Power", value: 1 }],
    [{ kind: "meta", field: "Time Zone", value: "Europe/Berlin" }, { topic: "downlink/meta/Time Zone", payload: "Europe/Berlin" }],
    [{ kind: "utc", info: berlinInfo }, { topic: "downlink/utc/all/json", payload: JSON.stringify(berlinInfo) }],
    [{ kind: "loc", lat: 52.52, lon: 13.405 }, { topic: "downlink/loc/all", payload: "52.52,13.405" }],
    [
      { kind: "ota", ota: { url: "https://fra1.blynk.cloud/static/fw.bin?token=x", size: 123456, type: "TMPL1", ver: "1.0.1", build: "Jan 19 2024 12:25:30" } },
      { topic: "downlink/ota/json", payload: '{"url":"https://fra1.blynk.cloud/static/fw.bin?token=x","size":123456,"type":"TMPL1","ver":"1.0.1","build":"Jan 19 2024 12:25:30"}' },
    ],
    [{ kind: "ota", ota: { url: "http://10.0.0.2/fw.bin" } }, { topic: "downlink/ota/json", payload: '{"url":"http://10.0.0.2/fw.bin"}' }],
    [{ kind: "redirect", url: "mqtt://ny3.blynk.cloud:1883" }, { topic: "downlink/redirect", payload: "mqtt://ny3.blynk.cloud:1883" }],
    [{ kind: "redirect", url: "mqtts://ny3.blynk.cloud:8883" }, { topic: "downlink/redirect", payload: "mqtts://ny3.blynk.cloud:8883" }],
    [{ kind: "redirect", url: "ws://fra1.blynk.cloud:80/mqtt" }, { topic: "downlink/redirect", payload: "ws://fra1.blynk.cloud:80/mqtt" }],
    [{ kind: "redirect", url: "wss://fra1.blynk.cloud:443/mqtt" }, { topic: "downlink/redirect", payload: "wss://fra1.blynk.cloud:443/mqtt" }],
    [{ kind: "reboot" }, { topic: "downlink/reboot", payload: "" }],
    [{ kind: "reconfigure" }, { topic: "downlink/reconfigure", payload: "" }],
    [{ kind: "ping" }, { topic: "downlink/ping", payload: "" }],
    [{ kind: "diag", text: "Too many requests" }, { topic: "downlink/diag", payload: "Too many requests" }],
  ];

  describe("downlink round trips (encodeDownlink then parseDownlink)", function () {
    for (const [message, encoded, parsed = message] of downlinks) {
      it(`${message.kind} ${show(encoded.topic)} ${show(encoded.payload)}`, function () {
        assert.deepStrictEqual(codec.encodeDownlink(message), encoded);
        assert.deepStrictEqual(codec.parseDownlink(encoded.topic, encoded.payload), parsed);
        assert.deepStrictEqual(codec.parseDownlink(encoded.topic, Buffer.from(encoded.payload)), parsed);
      });
    }
  });

  table("parseDownlink (what the cloud sends)", (args) => codec.parseDownlink(...args), [
    [["downlink/ds/x", "1\x002"], { kind: "ds", datastream: "x", value: [1, 2] }],
    [["downlink/ds/x", "1\x002", { raw: true }], { kind: "ds", datastream: "x", value: ["1", "2"] }],
    [["downlink/ds/With Space", "on"], { kind: "ds", datastream: "With Space", value: "on" }],
    [["downlink/loc/all", " 52.5 , -13.4 "], { kind: "loc", lat: 52.5, lon: -13.4 }],
    [["downlink/ota/json", '{"url":"https://h/fw","size":"123"}'], { kind: "ota", ota: { url: "https://h/fw", size: 123 } }],
    [["downlink/redirect", "  mqtts://x.blynk.cloud:8883\n"], { kind: "redirect", url: "mqtts://x.blynk.cloud:8883" }],
    [["downlink/reboot", "junk"], { kind: "reboot" }],
    [["downlink/ping", Buffer.alloc(0)], { kind: "ping" }],
  ]);

  describe("parseDownlink odd payloads and unknown topics -> unknown (never throws)", function () {
    const rows = [
      ["downlink/utc/all/json", "{bad"],
      ["downlink/utc/all/json", '{"tz_name":"UTC"}'],
      ["downlink/loc/all", "52.5"],
      ["downlink/loc/all", "a,b"],
      ["downlink/loc/all", "95,10"],
      ["downlink/ota/json", "{}"],
      ["downlink/ota/json", '{"url":"ftp://x/fw"}'],
      ["downlink/ota/json", '{"url":"https://x/fw","size":-1}'],
      ["downlink/redirect", "http://x.blynk.cloud"],
      ["downlink/redirect", "nonsense"],
      ["downlink/ds/", "1"],
      ["downlink/ds/a/b", "1"],
      ["downlink/meta", "1"],
      ["downlink/unknown", "x"],
      ["downlink/", ""],
      ["ds/x", "1"],
    ];
    for (const [topic, payload] of rows) {
      it(`${topic} ${show(payload)}`, function () {
        assert.deepStrictEqual(codec.parseDownlink(topic, payload), { kind: "unknown", topic, payload });
      });
    }
  });

  table("encodeDownlink refusals", (m) => codec.encodeDownlink(m), [], [
    [{ kind: "nope" }, "accepted kinds: ds, meta"],
    [{ kind: "ds", datastream: "a#", value: 1 }, '"#"'],
    [{ kind: "meta", field: "Serial", value: 5 }, "must be text"],
    [{ kind: "utc", info: {} }, "utc info is incomplete"],
    [{ kind: "loc", lat: 91, lon: 0 }, "lat -90..90"],
    [{ kind: "ota", ota: { url: "ftp://x/fw" } }, "http(s) URL"],
    [{ kind: "redirect", url: "http://x" }, ["not usable", "mqtt, mqtts, ws or wss"]],
    [{ kind: "diag", text: 5 }, "must be a string"],
  ]);

  table("mqttServerUrl", (args) => codec.mqttServerUrl(...args), [
    [["fra1.blynk.cloud"], "mqtts://fra1.blynk.cloud:8883"],
    [["fra1.blynk.cloud", "mqtts"], "mqtts://fra1.blynk.cloud:8883"],
    [["blynk.cloud", "mqtt"], "mqtt://blynk.cloud:1883"],
    [["blynk.cloud", "wss"], "wss://blynk.cloud:443/mqtt"],
    [["localhost:1884", "mqtt"], "mqtt://localhost:1884"],
    [["[::1]:9443", "wss"], "wss://[::1]:9443/mqtt"],
  ], [
    [[""], "host name"],
    [["https://blynk.cloud"], "without scheme or path"],
    [["a b"], "host name"],
    [["blynk.cloud", "tcp"], "accepted: mqtts, mqtt, wss"],
  ]);

  table("httpsServerUrl and regionHost", (h) => (h.includes(".") || h.includes(":") ? codec.httpsServerUrl(h) : codec.httpsServerUrl(codec.regionHost(h))), [
    ["blynk.cloud", "https://blynk.cloud"],
    ["ny3", "https://ny3.blynk.cloud"],
    ["localhost:8443", "https://localhost:8443"],
  ], [
    ["mars1", ["is not known", "fra1, lon1, ny3, sgp1, blr1"]],
  ]);
});
