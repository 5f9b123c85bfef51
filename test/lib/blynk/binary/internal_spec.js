"use strict";
// INTERNAL bodies of Blynk's binary protocol (docs/PROTOCOLS.md 3.4): the info message as every
// library version sends it (keys in any order), and the helpers a server builds answers with.
const assert = require("node:assert/strict");
const bin = require("../../../../dist/nodes/lib/blynk/binary/index.js");
const { utcInfo } = require("../../../../dist/nodes/lib/blynk/codec-time.js");
const { CMD, frame, rawFrame } = require("../../fixtures/blynk-wire.js");

function parseInternal(bytes) {
  const { frames, error } = new bin.FrameDecoder({ from: "device" }).push(bytes);
  assert.equal(error, undefined);
  return bin.parseMessage(frames[0], "device");
}

const BUILD = "Jan 19 2024 12:25:30";

// [which library, the fields it sends, the info]
const INFO_BY_VERSION = [
  ["C++ 0.6.1", ["ver", "0.6.1", "h-beat", "10", "buff-in", "256", "dev", "Arduino Uno", "cpu", "ATmega328P", "con", "W5100", "fw", "1.2.3", "build", BUILD, "tmpl", "TMPL0001"],
    { ver: "0.6.1", heartbeat: 10, buffIn: 256, dev: "Arduino Uno", cpu: "ATmega328P", con: "W5100", fw: "1.2.3", build: BUILD, tmpl: "TMPL0001" }],
  ["C++ 0.6.1 with only the required keys", ["ver", "0.6.1", "h-beat", "10", "buff-in", "256", "build", BUILD],
    { ver: "0.6.1", heartbeat: 10, buffIn: 256, build: BUILD }],
  ["C++ 1.0-1.2", ["ver", "1.2.0", "h-beat", "45", "buff-in", "1024", "dev", "ESP32", "cpu", "ESP32", "con", "WiFi", "fw-type", "TMPL0001", "fw", "0.1.0", "build", BUILD, "tmpl", "TMPL0001"],
    { ver: "1.2.0", heartbeat: 45, buffIn: 1024, dev: "ESP32", cpu: "ESP32", con: "WiFi", fwType: "TMPL0001", fw: "0.1.0", build: BUILD, tmpl: "TMPL0001" }],
  ["C++ 1.3+ (mcu first)", ["mcu", "0.0.0", "fw-type", "TMPL0001", "build", BUILD, "blynk", "1.3.2", "h-beat", "45", "buff-in", "1024", "dev", "ESP32", "cpu", "ESP32", "con", "WiFi", "tmpl", "TMPL0001"],
    { mcu: "0.0.0", fwType: "TMPL0001", build: BUILD, blynk: "1.3.2", heartbeat: 45, buffIn: 1024, dev: "ESP32", cpu: "ESP32", con: "WiFi", tmpl: "TMPL0001" }],
  ["C++ 1.3+ with an NCP", ["ncp", "0.6.3", "build", BUILD, "blynk", "1.3.2", "h-beat", "45", "buff-in", "1024"],
    { ncp: "0.6.3", build: BUILD, blynk: "1.3.2", heartbeat: 45, buffIn: 1024 }],
  ["C++ HEAD on Linux (observed: conn, trailing NUL)", ["ver", "1.4.0", "h-beat", "40", "buff-in", "4096", "dev", "Linux", "fw-type", "TMPL0001", "fw", "0.1.0", "build", BUILD, "conn", "Socket", "tmpl", "TMPL0001", ""],
    { ver: "1.4.0", heartbeat: 40, buffIn: 4096, dev: "Linux", fwType: "TMPL0001", fw: "0.1.0", build: BUILD, con: "Socket", tmpl: "TMPL0001" }],
  ["npm blynk-library 0.5.4 (observed)", ["ver", "0.5.4", "buff-in", "4096", "dev", "js"], { ver: "0.5.4", buffIn: 4096, dev: "js" }],
  ["keys in any order, unknown keys kept", ["dev", "X", "h-beat", "30", "vendor", "acme", "ver", "9.9"], { dev: "X", heartbeat: 30, ver: "9.9", other: { vendor: "acme" } }],
];

describe("blynk/binary INTERNAL", function () {
  describe("the info message of every library version", function () {
    for (const [which, fields, info] of INFO_BY_VERSION) {
      it(which, function () {
        assert.deepStrictEqual(parseInternal(frame(CMD.INTERNAL, 2, ...fields)), { type: "internal", id: 2, kind: "info", info });
      });
    }

    it("a repeated key: the last wins; a \"__proto__\" key is a plain key", function () {
      const message = parseInternal(frame(CMD.INTERNAL, 2, "h-beat", "10", "h-beat", "20", "__proto__", "x", "constructor", "y"));
      assert.equal(message.info.heartbeat, 20);
      assert.deepEqual(Object.keys(message.info.other), ["__proto__", "constructor"]);
      assert.equal(Object.getPrototypeOf(message.info.other), Object.prototype);
      assert.equal({}.x, undefined);
    });

    it("encodes with ver first (the legacy server only applies info whose first key starts with v, f, h, b, d, c or t)", function () {
      const info = { mcu: "1.0.0", tmpl: "T", buffIn: 1024, heartbeat: 45, ver: "1.0.0", blynk: "1.3.2", con: "WiFi", other: { vendor: "acme" } };
      const bytes = bin.encodeMessage({ type: "internal", id: 2, kind: "info", info }, { to: "server" });
      assert.deepEqual(bytes, frame(CMD.INTERNAL, 2, "ver", "1.0.0", "h-beat", "45", "buff-in", "1024", "con", "WiFi", "tmpl", "T", "blynk", "1.3.2", "mcu", "1.0.0", "vendor", "acme"));
      assert.deepStrictEqual(parseInternal(bytes).info, info);
    });

    it("refuses to encode an info without keys, with a number that is not whole, or an 'other' key that has a field", function () {
      const send = (info) => () => bin.encodeMessage({ type: "internal", id: 2, kind: "info", info }, { to: "server" });
      assert.throws(send({}), /INTERNAL info names no key/);
      assert.throws(send({ heartbeat: 4.5 }), /INTERNAL info h-beat must be a whole number from 0 to 65535, got 4.5/);
      assert.throws(send({ other: { "h-beat": "1" } }), /INTERNAL info "other" key "h-beat" is a known key; set it by its field/);
      assert.throws(send({ dev: "a\0b" }), /must not contain NUL/);
    });

    it("isInfoKey: every version's keys, and no sub-command", function () {
      for (const key of ["ver", "mcu", "ncp", "blynk", "h-beat", "buff-in", "dev", "cpu", "con", "conn", "fw-type", "fw", "build", "tmpl"]) assert.ok(bin.isInfoKey(key), key);
      for (const key of ["rtc", "utc", "ota", "meta", "acon", "adis", "vfs", "dbg", "", "VER"]) assert.ok(!bin.isInfoKey(key), key);
    });
  });

  describe("helpers for the server's answers", function () {
    const NOW = Date.UTC(2024, 0, 19, 12, 25, 30, 123);

    it("utcAnswer: time (ms), iso, tz (minutes), tz_name, tz_rule from Node-RED's clock and zone", function () {
      const info = utcInfo(NOW, "Europe/Berlin");
      const answer = (item) => bin.utcAnswer(item, info);
      assert.deepEqual(answer("time"), { kind: "utc", item: "time", values: [String(NOW)] });
      assert.deepEqual(answer("iso"), { kind: "utc", item: "iso", values: ["2024-01-19T13:25:30+01:00"] });
      assert.deepEqual(answer("tz"), { kind: "utc", item: "tz", values: ["60", "0"] });
      assert.deepEqual(answer("tz_name"), { kind: "utc", item: "tz_name", values: ["Europe/Berlin"] });
      assert.deepEqual(answer("tz_rule"), { kind: "utc", item: "tz_rule", values: [info.tz_rule] });
      assert.equal(answer("dst_next"), undefined);
      assert.equal(answer("toString"), undefined);
      assert.deepEqual(bin.encodeMessage({ type: "internal", id: 15, ...answer("time") }, { to: "device" }), frame(CMD.INTERNAL, 15, "utc", "time", String(NOW)));
    });

    it("an rtc answer carries seconds", function () {
      const bytes = bin.encodeMessage({ type: "internal", id: 14, kind: "rtc", time: Math.floor(NOW / 1000) }, { to: "device" });
      assert.deepEqual(bytes, frame(CMD.INTERNAL, 14, "rtc", "1705667130"));
    });

    it("sendLimit: a device's buff-in (capped at 65535), else 256", function () {
      assert.equal(bin.sendLimit(undefined), 256);
      assert.equal(bin.sendLimit({ ver: "0.6.1" }), 256);
      assert.equal(bin.sendLimit({ buffIn: 128 }), 128);
      assert.equal(bin.sendLimit({ buffIn: 4096 }), 4096);
      assert.equal(bin.sendLimit({ buffIn: 1_000_000 }), 65535);
    });

    it("heartbeatTimeoutMs: ceil(2.3 x h-beat) seconds, as the legacy server (45 s -> 104 s)", function () {
      assert.equal(bin.heartbeatTimeoutMs(45), 104_000);
      assert.equal(bin.heartbeatTimeoutMs(40), 92_000);
      assert.equal(bin.heartbeatTimeoutMs(10), 23_000);
      assert.equal(bin.heartbeatTimeoutMs(1), 3_000);
    });

    it("a trailing NUL after the last pair is tolerated; an empty last value in meta is a value", function () {
      assert.deepEqual(parseInternal(rawFrame(CMD.INTERNAL, 2, "ver\x001.0\x00")).info, { ver: "1.0" });
      assert.deepEqual(parseInternal(rawFrame(CMD.INTERNAL, 2, "meta\x00set\x00Name\x00")), { type: "internal", id: 2, kind: "meta-set", field: "Name", value: "" });
    });

    // Found by fuzzing (test/hostile/fuzz-blynk-binary_spec.js): parse and encode disagreed.
    it("an empty last info value is a value where the pairs need it (\"dev\\0\" is dev = \"\")", function () {
      assert.deepEqual(parseInternal(rawFrame(CMD.INTERNAL, 2, "dev\x00")).info, { dev: "" });
      assert.deepEqual(bin.encodeMessage({ type: "internal", id: 2, kind: "info", info: { dev: "" } }, { to: "server" }), rawFrame(CMD.INTERNAL, 2, "dev\x00"));
    });

    it("an unknown sub-command keeps its fields exactly, trailing empty ones too", function () {
      const message = parseInternal(rawFrame(CMD.INTERNAL, 2, "xyz\x000\x00\x00"));
      assert.deepEqual(message, { type: "internal", id: 2, kind: "other", code: "xyz", args: ["0", "", ""] });
      assert.deepEqual(bin.encodeMessage(message, { to: "server" }), rawFrame(CMD.INTERNAL, 2, "xyz\x000\x00\x00"));
    });
  });
});
