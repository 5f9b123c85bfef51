"use strict";
// Typed messages of Blynk's binary protocol, each command both ways, from the protocol facts
// (docs/PROTOCOLS.md 3.2-3.4): the bytes a peer sends -> the message (parseMessage), and the
// message -> the same bytes (encodeMessage); then what is tolerated, and what is refused.
const assert = require("node:assert/strict");
const bin = require("../../../../dist/nodes/lib/blynk/binary/index.js");
const { CMD, header, frame, rawFrame, response, showBody } = require("../../fixtures/blynk-wire.js");
const { throwsWith } = require("../../../support/table.js");

const TOKEN = "AlphaTok_0123456789abcdefghijklm";
const TOKEN2 = "BetaTok_0123456789abcdefghijklmn";
const other = (side) => (side === "device" ? "server" : "device");

/** The one frame in `bytes`, parsed as `from` sent it. */
function parse(bytes, from, maxBody) {
  const decoder = new bin.FrameDecoder({ from, maxBody });
  const { frames, error } = decoder.push(bytes);
  assert.equal(error ?? decoder.end(), undefined);
  assert.equal(frames.length, 1);
  return bin.parseMessage(frames[0], from);
}

const title = (bytes) => `${bytes[0]} id ${bytes.readUInt16BE(1)} "${showBody(bytes.subarray(5))}"`;

// [from, bytes, message]: canonical, so the message encodes back to exactly these bytes.
const BOTH_WAYS = [
  // logins (docs/PROTOCOLS.md 3.4): HW_LOGIN from library 0.6.1 on (and the npm library), LOGIN before
  ["device", frame(CMD.HW_LOGIN, 1, TOKEN), { type: "login", id: 1, token: TOKEN, legacy: false }],
  ["device", frame(CMD.LOGIN, 1, TOKEN), { type: "login", id: 1, token: TOKEN, legacy: true }],
  ["server", response(1, 200), { type: "response", id: 1, status: 200 }],
  ["server", response(1, 4), { type: "response", id: 1, status: 4 }],
  ["server", response(1, 9), { type: "response", id: 1, status: 9 }],
  ["device", response(111, 2), { type: "response", id: 111, status: 2 }],
  ["device", response(5, 200), { type: "response", id: 5, status: 200 }],
  // ping, both ways
  ["device", header(CMD.PING, 5, 0), { type: "ping", id: 5 }],
  ["server", header(CMD.PING, 9, 0), { type: "ping", id: 9 }],
  // HARDWARE from a device: writes
  ["device", frame(CMD.HARDWARE, 2, "vw", "5", "23.5"), { type: "hardware", id: 2, op: "write", pinType: "V", pin: 5, values: ["23.5"] }],
  ["device", frame(CMD.HARDWARE, 3, "vw", "1", "a", "b", "c"), { type: "hardware", id: 3, op: "write", pinType: "V", pin: 1, values: ["a", "b", "c"] }],
  ["device", rawFrame(CMD.HARDWARE, 3, "vw\x00255\x00"), { type: "hardware", id: 3, op: "write", pinType: "V", pin: 255, values: [""] }],
  ["device", frame(CMD.HARDWARE, 3, "vw", "0", "Grüße"), { type: "hardware", id: 3, op: "write", pinType: "V", pin: 0, values: ["Grüße"] }],
  ["device", frame(CMD.HARDWARE, 4, "dw", "8", "1"), { type: "hardware", id: 4, op: "write", pinType: "D", pin: 8, values: ["1"] }],
  ["device", frame(CMD.HARDWARE, 4, "aw", "0", "1023"), { type: "hardware", id: 4, op: "write", pinType: "A", pin: 0, values: ["1023"] }],
  // HARDWARE from the server: writes (BLYNK_WRITE), reads, pin modes
  ["server", frame(CMD.HARDWARE, 111, "vw", "5", "1"), { type: "hardware", id: 111, op: "write", pinType: "V", pin: 5, values: ["1"] }],
  ["server", frame(CMD.HARDWARE, 7, "vw", "3", "255", "0", "128"), { type: "hardware", id: 7, op: "write", pinType: "V", pin: 3, values: ["255", "0", "128"] }],
  ["server", frame(CMD.HARDWARE, 7, "dw", "13", "0"), { type: "hardware", id: 7, op: "write", pinType: "D", pin: 13, values: ["0"] }],
  ["server", frame(CMD.HARDWARE, 7, "aw", "5", "512"), { type: "hardware", id: 7, op: "write", pinType: "A", pin: 5, values: ["512"] }],
  ["server", frame(CMD.HARDWARE, 3, "vr", "4"), { type: "hardware", id: 3, op: "read", pinType: "V", pin: 4 }],
  ["server", frame(CMD.HARDWARE, 3, "dr", "13"), { type: "hardware", id: 3, op: "read", pinType: "D", pin: 13 }],
  ["server", frame(CMD.HARDWARE, 3, "ar", "0"), { type: "hardware", id: 3, op: "read", pinType: "A", pin: 0 }],
  ["server", frame(CMD.HARDWARE, 1, "pm", "13", "out", "2", "in", "5", "pwm", "4", "pu", "12", "pd"), {
    type: "hardware", id: 1, op: "pin-mode", modes: [{ pin: 13, mode: "out" }, { pin: 2, mode: "in" }, { pin: 5, mode: "pwm" }, { pin: 4, mode: "pu" }, { pin: 12, mode: "pd" }],
  }],
  // HARDWARE_SYNC
  ["device", header(CMD.HARDWARE_SYNC, 5, 0), { type: "sync", id: 5, all: true }],
  ["device", frame(CMD.HARDWARE_SYNC, 6, "vr", "1", "2", "10"), { type: "sync", id: 6, all: false, pinType: "V", pins: [1, 2, 10] }],
  ["device", frame(CMD.HARDWARE_SYNC, 6, "dr", "13"), { type: "sync", id: 6, all: false, pinType: "D", pins: [13] }],
  // PROPERTY
  ["device", frame(CMD.PROPERTY, 7, "1", "label", "Temp"), { type: "property", id: 7, pin: 1, property: "label", values: ["Temp"] }],
  ["device", frame(CMD.PROPERTY, 7, "2", "labels", "Off", "On"), { type: "property", id: 7, pin: 2, property: "labels", values: ["Off", "On"] }],
  ["device", frame(CMD.PROPERTY, 7, "3", "color", "#D3435C"), { type: "property", id: 7, pin: 3, property: "color", values: ["#D3435C"] }],
  ["device", rawFrame(CMD.PROPERTY, 7, "3\x00label\x00"), { type: "property", id: 7, pin: 3, property: "label", values: [""] }],
  // EVENT_LOG / EVENT_CLEAR
  ["device", frame(CMD.EVENT_LOG, 8, "temp_alert", "Too hot: 41 °C"), { type: "event", id: 8, code: "temp_alert", description: "Too hot: 41 °C" }],
  ["device", frame(CMD.EVENT_LOG, 8, "temp_alert"), { type: "event", id: 8, code: "temp_alert" }],
  ["device", frame(CMD.EVENT_CLEAR, 8, "temp_alert"), { type: "event-clear", id: 8, code: "temp_alert", all: false }],
  ["device", frame(CMD.EVENT_CLEAR, 8, "temp_alert", "all"), { type: "event-clear", id: 8, code: "temp_alert", all: true }],
  // the legacy notifications (library <= 1.1)
  ["device", frame(CMD.NOTIFY, 9, "Door opened"), { type: "notify", id: 9, text: "Door opened" }],
  ["device", frame(CMD.TWEET, 9, "Plant needs water"), { type: "tweet", id: 9, text: "Plant needs water" }],
  ["device", frame(CMD.SMS, 9, "Alarm"), { type: "sms", id: 9, text: "Alarm" }],
  ["device", frame(CMD.EMAIL, 9, "me@example.org", "Subject", "Body"), { type: "email", id: 9, to: "me@example.org", subject: "Subject", body: "Body" }],
  ["device", frame(CMD.EMAIL, 9, "Subject", "Body"), { type: "email", id: 9, subject: "Subject", body: "Body" }],
  // BRIDGE: a device's channel form, and what the server forwards to the target
  ["device", frame(CMD.BRIDGE, 10, "64", "i", TOKEN2), { type: "bridge", id: 10, channel: 64, op: "init", token: TOKEN2 }],
  ["device", frame(CMD.BRIDGE, 11, "64", "vw", "5", "1"), { type: "bridge", id: 11, channel: 64, op: "write", pinType: "V", pin: 5, values: ["1"] }],
  ["device", frame(CMD.BRIDGE, 11, "1", "dw", "13", "0"), { type: "bridge", id: 11, channel: 1, op: "write", pinType: "D", pin: 13, values: ["0"] }],
  ["device", frame(CMD.BRIDGE, 11, "1", "aw", "3", "200"), { type: "bridge", id: 11, channel: 1, op: "write", pinType: "A", pin: 3, values: ["200"] }],
  ["server", frame(CMD.BRIDGE, 11, "vw", "5", "1"), { type: "bridged", id: 11, op: "write", pinType: "V", pin: 5, values: ["1"] }],
  // GROUP (library 1.2+)
  ["device", frame(CMD.GROUP, 12, "t", "1705667130000"), { type: "group", id: 12, action: "begin", time: 1705667130000 }],
  ["device", frame(CMD.GROUP, 12, "b"), { type: "group", id: 12, action: "begin" }],
  ["device", frame(CMD.GROUP, 13, "e"), { type: "group", id: 13, action: "end" }],
  // INTERNAL both ways (the info message of every version: internal_spec.js)
  ["device", frame(CMD.INTERNAL, 2, "ver", "1.0.0", "h-beat", "45", "buff-in", "1024", "dev", "ESP32", "fw-type", "TMPLx", "fw", "0.1.0", "build", "Jan 19 2024 12:25:30", "tmpl", "TMPLx"), {
    type: "internal", id: 2, kind: "info", info: { ver: "1.0.0", heartbeat: 45, buffIn: 1024, dev: "ESP32", fwType: "TMPLx", fw: "0.1.0", build: "Jan 19 2024 12:25:30", tmpl: "TMPLx" },
  }],
  ["device", frame(CMD.INTERNAL, 14, "rtc", "sync"), { type: "internal", id: 14, kind: "rtc-sync" }],
  ["server", frame(CMD.INTERNAL, 14, "rtc", "1705667130"), { type: "internal", id: 14, kind: "rtc", time: 1705667130 }],
  ["device", frame(CMD.INTERNAL, 15, "utc", "time"), { type: "internal", id: 15, kind: "utc-request", item: "time" }],
  ["server", frame(CMD.INTERNAL, 15, "utc", "time", "1705667130123"), { type: "internal", id: 15, kind: "utc", item: "time", values: ["1705667130123"] }],
  ["server", frame(CMD.INTERNAL, 15, "utc", "tz", "60", "0"), { type: "internal", id: 15, kind: "utc", item: "tz", values: ["60", "0"] }],
  ["server", frame(CMD.INTERNAL, 2, "ota", "http://192.168.1.2:1880/fw.bin"), { type: "internal", id: 2, kind: "ota", url: "http://192.168.1.2:1880/fw.bin" }],
  ["device", frame(CMD.INTERNAL, 16, "meta", "set", "Hotspot Name", "Home"), { type: "internal", id: 16, kind: "meta-set", field: "Hotspot Name", value: "Home" }],
  ["server", frame(CMD.INTERNAL, 2, "acon"), { type: "internal", id: 2, kind: "app", connected: true }],
  ["server", frame(CMD.INTERNAL, 2, "adis"), { type: "internal", id: 2, kind: "app", connected: false }],
  ["device", frame(CMD.INTERNAL, 16, "dbg", "free", "1024"), { type: "internal", id: 16, kind: "other", code: "dbg", args: ["free", "1024"] }],
  ["server", frame(CMD.INTERNAL, 16, "vfs", "ls"), { type: "internal", id: 16, kind: "other", code: "vfs", args: ["ls"] }],
  // REDIRECT and DEBUG_PRINT (server -> device)
  ["server", frame(CMD.REDIRECT, 1, "fra1.blynk.cloud", "443"), { type: "redirect", id: 1, host: "fra1.blynk.cloud", port: 443 }],
  ["server", frame(CMD.REDIRECT, 1, "192.168.1.2", "8080"), { type: "redirect", id: 1, host: "192.168.1.2", port: 8080 }],
  ["server", frame(CMD.DEBUG_PRINT, 3, "hello"), { type: "debug-print", id: 3, text: "hello" }],
];

// [from, bytes, message]: what the libraries may send beyond the canonical form.
const TOLERATED = [
  ["device", rawFrame(CMD.HW_LOGIN, 1, `${TOKEN}\x00`), { type: "login", id: 1, token: TOKEN, legacy: false }],
  ["device", rawFrame(CMD.HW_LOGIN, 1, ` ${TOKEN}\r\n`), { type: "login", id: 1, token: TOKEN, legacy: false }],
  ["device", rawFrame(CMD.LOGIN, 1, "short"), { type: "login", id: 1, token: "short", legacy: true }],
  ["device", rawFrame(CMD.HARDWARE, 2, "vw\x005"), { type: "hardware", id: 2, op: "write", pinType: "V", pin: 5, values: [""] }],
  ["device", rawFrame(CMD.HARDWARE, 2, "vw\x00005\x001"), { type: "hardware", id: 2, op: "write", pinType: "V", pin: 5, values: ["1"] }],
  ["device", rawFrame(CMD.HARDWARE, 2, "vw\x005\x00a\x00"), { type: "hardware", id: 2, op: "write", pinType: "V", pin: 5, values: ["a", ""] }],
  ["server", rawFrame(CMD.HARDWARE, 2, "dr\x0013\x00"), { type: "hardware", id: 2, op: "read", pinType: "D", pin: 13 }],
  ["server", rawFrame(CMD.HARDWARE, 2, "pm\x001\x00in\x00"), { type: "hardware", id: 2, op: "pin-mode", modes: [{ pin: 1, mode: "in" }] }],
  ["server", rawFrame(CMD.HARDWARE, 2, "pm"), { type: "hardware", id: 2, op: "pin-mode", modes: [] }],
  ["device", rawFrame(CMD.HARDWARE_SYNC, 3, "vr\x001\x002\x00"), { type: "sync", id: 3, all: false, pinType: "V", pins: [1, 2] }],
  ["device", rawFrame(CMD.EVENT_LOG, 4, "e1\x00"), { type: "event", id: 4, code: "e1", description: "" }],
  ["device", rawFrame(CMD.EVENT_LOG, 4, "e1\x00d\x00"), { type: "event", id: 4, code: "e1", description: "d" }],
  ["device", rawFrame(CMD.EVENT_CLEAR, 4, "e1\x00all\x00"), { type: "event-clear", id: 4, code: "e1", all: true }],
  ["device", rawFrame(CMD.NOTIFY, 4, "hi\x00"), { type: "notify", id: 4, text: "hi" }],
  ["device", rawFrame(CMD.EMAIL, 4, "a@b.c\x00s\x00b\x00"), { type: "email", id: 4, to: "a@b.c", subject: "s", body: "b" }],
  ["device", rawFrame(CMD.GROUP, 4, "e\x00"), { type: "group", id: 4, action: "end" }],
  ["device", rawFrame(CMD.INTERNAL, 4, "rtc"), { type: "internal", id: 4, kind: "rtc-sync" }],
  ["device", rawFrame(CMD.INTERNAL, 4, "meta\x00set\x00f\x00v\x00"), { type: "internal", id: 4, kind: "meta-set", field: "f", value: "v" }],
  ["device", rawFrame(CMD.INTERNAL, 4, "meta\x00get\x00f"), { type: "internal", id: 4, kind: "other", code: "meta", args: ["get", "f"] }],
  ["server", rawFrame(CMD.REDIRECT, 1, "blynk.example.org"), { type: "redirect", id: 1, host: "blynk.example.org", port: 80 }],
  ["server", rawFrame(CMD.REDIRECT, 1, "h\x009443\x00"), { type: "redirect", id: 1, host: "h", port: 9443 }],
  ["server", rawFrame(CMD.BRIDGE, 1, "vw\x005"), { type: "bridged", id: 1, op: "write", pinType: "V", pin: 5, values: [""] }],
  ["server", header(CMD.DEBUG_PRINT, 3, 0), { type: "debug-print", id: 3, text: "" }],
  ["device", rawFrame(CMD.HARDWARE, 2, Buffer.from([0x76, 0x77, 0, 0x31, 0, 0xff, 0xfe])), { type: "hardware", id: 2, op: "write", pinType: "V", pin: 1, values: ["\uFFFD\uFFFD"] }],
];

// [from, bytes, fragment(s), status]: bodies that make no sense; `status` is what to answer.
const BAD_BODIES = [
  ["device", frame(CMD.HARDWARE, 2, "xx", "5"), 'HARDWARE operation "xx" is not known; accepted: vw, dw, aw, vr, dr, ar, pm', 2],
  ["device", frame(CMD.HARDWARE, 2, "vwx", "5", "1"), 'HARDWARE operation "vwx" is not known', 2],
  ["device", frame(CMD.HARDWARE, 2, "vw"), "HARDWARE vw: the pin number is missing", 11],
  ["device", frame(CMD.HARDWARE, 2, "vw", "256", "1"), 'HARDWARE vw: pin "256" is not a pin number; accepted: 0 to 255', 11],
  ["device", frame(CMD.HARDWARE, 2, "vw", "-1", "1"), 'pin "-1" is not a pin number', 11],
  ["device", frame(CMD.HARDWARE, 2, "dw", "A0", "1"), 'HARDWARE dw: pin "A0" is not a pin number', 11],
  ["device", frame(CMD.HARDWARE, 2, "vw", "V1", "1"), 'pin "V1" is not a pin number', 11],
  ["server", frame(CMD.HARDWARE, 2, "vr", "5", "6"), "HARDWARE vr reads one pin, got 2 fields", 11],
  ["server", frame(CMD.HARDWARE, 2, "pm", "1"), "HARDWARE pm needs pin and mode pairs, got 1 fields", 11],
  ["server", frame(CMD.HARDWARE, 2, "pm", "1", "analog"), 'HARDWARE pm: mode "analog" of pin 1 is not known; accepted: in, out, pwm, pu, pd', 11],
  ["device", frame(CMD.HARDWARE_SYNC, 3, "vw", "1"), 'HARDWARE_SYNC "vw" is not a read', 11],
  ["device", frame(CMD.HARDWARE_SYNC, 3, "vr"), "HARDWARE_SYNC vr names no pin", 11],
  ["device", frame(CMD.HARDWARE_SYNC, 3, "vr", "x"), 'HARDWARE_SYNC: pin "x" is not a pin number', 11],
  ["device", frame(CMD.PROPERTY, 4, "1", "label"), "PROPERTY 1 label has no value", 11],
  ["device", frame(CMD.PROPERTY, 4, "1", "bad name", "x"), 'property name "bad name" must not contain spaces', 11],
  ["device", frame(CMD.PROPERTY, 4, "V1", "label", "x"), 'PROPERTY: pin "V1" is not a pin number', 11],
  ["device", frame(CMD.EVENT_LOG, 5, "high temp"), 'event code "high temp" must not contain spaces', 11],
  ["device", frame(CMD.EVENT_LOG, 5, "e", "d", "x"), "EVENT_LOG takes 1 or 2 fields, got 3", 11],
  ["device", frame(CMD.EVENT_CLEAR, 5, "e", "some"), 'EVENT_CLEAR takes an event code and optionally "all"', 11],
  ["device", frame(CMD.EMAIL, 6, "only"), "EMAIL takes 2 or 3 fields, got 1", 11],
  ["device", frame(CMD.EMAIL, 6, "a", "b", "c", "d"), "EMAIL takes 2 or 3 fields, got 4", 11],
  ["device", frame(CMD.GROUP, 7, "x"), 'GROUP "x" with 0 more fields is not known; accepted: b, t <ms>, e', 11],
  ["device", frame(CMD.GROUP, 7, "t"), 'GROUP "t" with 0 more fields is not known', 11],
  ["device", frame(CMD.GROUP, 7, "t", "-5"), 'GROUP timestamp "-5" is not a whole number', 11],
  ["device", frame(CMD.GROUP, 7, "b", "1"), 'GROUP "b" with 1 more fields is not known', 11],
  ["device", rawFrame(CMD.HW_LOGIN, 1, "   "), "login without a token", 11],
  ["device", rawFrame(CMD.HW_LOGIN, 1, "secret\x00token"), "login token contains NUL", 11],
  ["device", frame(CMD.BRIDGE, 8, "64", "i"), "BRIDGE 64 init needs exactly one token field, got 0 fields", 11],
  ["device", frame(CMD.BRIDGE, 8, "64", "i", "secret-token", "x"), "BRIDGE 64 init needs exactly one token field, got 2 fields", 11],
  ["device", frame(CMD.BRIDGE, 8, "V64", "i", "tok"), 'BRIDGE channel: pin "V64" is not a pin number', 11],
  ["device", frame(CMD.BRIDGE, 8, "64"), "BRIDGE 64 has no operation", 11],
  ["device", frame(CMD.BRIDGE, 8, "64", "zz", "1"), 'BRIDGE 64 operation "zz" is not known', 2],
  ["device", frame(CMD.INTERNAL, 9, "ver", "1.0", "h-beat"), "INTERNAL info has a key without a value (3 fields; pairs expected)", 11],
  ["device", frame(CMD.INTERNAL, 9, "ver", "1.0", "h-beat", "ten"), 'INTERNAL info h-beat "ten" is not a whole number from 0 to 65535', 11],
  ["device", frame(CMD.INTERNAL, 9, "ver", "1.0", "h-beat", "0"), "INTERNAL info h-beat must be at least 1, got 0", 11],
  ["device", frame(CMD.INTERNAL, 9, "buff-in", "-1"), 'INTERNAL info buff-in "-1" is not a whole number', 11],
  ["device", frame(CMD.INTERNAL, 9, "rtc", "x", "y"), 'INTERNAL rtc takes "sync" or a time, got 2 fields', 11],
  ["server", frame(CMD.INTERNAL, 9, "rtc", "soon"), 'INTERNAL rtc time "soon" is not a whole number', 11],
  ["device", frame(CMD.INTERNAL, 9, "utc"), "INTERNAL utc names no item", 11],
  ["server", frame(CMD.INTERNAL, 9, "ota"), "INTERNAL ota takes one URL, got 0 fields", 11],
  ["server", frame(CMD.INTERNAL, 9, "ota", "u1", "u2"), "INTERNAL ota takes one URL, got 2 fields", 11],
  ["device", rawFrame(CMD.INTERNAL, 9, "\x00x"), "INTERNAL body names no sub-command", 11],
  ["server", frame(CMD.REDIRECT, 1, "h", "0"), "REDIRECT port 0 is not a port", 11],
  ["server", frame(CMD.REDIRECT, 1, "h", "70000"), 'REDIRECT port "70000" is not a whole number from 0 to 65535', 11],
  ["server", frame(CMD.REDIRECT, 1, "", "80"), "REDIRECT names no host", 11],
  ["server", frame(CMD.REDIRECT, 1, "h", "80", "x"), "REDIRECT takes 1 or 2 fields, got 3", 11],
];

describe("blynk/binary messages", function () {
  describe("each command both ways: bytes -> message -> the same bytes", function () {
    for (const [from, bytes, message] of BOTH_WAYS) {
      it(`from a ${from}: ${title(bytes)} is ${message.type}${message.op ? ` ${message.op}` : ""}${message.kind ? ` ${message.kind}` : ""}`, function () {
        assert.deepStrictEqual(parse(bytes, from), message);
        assert.deepEqual(bin.encodeMessage(message, { to: other(from) }), bytes);
      });
    }

    it("covers every command of the table (each side's)", function () {
      for (const side of ["device", "server"]) {
        const seen = new Set(BOTH_WAYS.filter(([from]) => from === side).map(([, bytes]) => bytes[0]));
        assert.deepEqual([...bin.sentBy(side)].filter((c) => !seen.has(c)), [], `commands a ${side} sends that no row shows`);
      }
    });
  });

  describe("what the libraries may send beyond the canonical form", function () {
    for (const [from, bytes, message] of TOLERATED) {
      it(`from a ${from}: ${title(bytes)}`, function () {
        assert.deepStrictEqual(parse(bytes, from), message);
      });
    }
  });

  describe("bodies that make no sense: a TransportError with the status to answer", function () {
    for (const [from, bytes, fragment, status] of BAD_BODIES) {
      it(`from a ${from}: ${title(bytes)} -> ${status}: ${fragment}`, function () {
        const decoder = new bin.FrameDecoder({ from });
        const [f] = decoder.push(bytes).frames;
        assert.throws(() => bin.parseMessage(f, from), (err) => {
          assert.equal(err.name, "TransportError");
          assert.equal(err.code, "invalid");
          assert.equal(err.status, status, err.message);
          assert.ok(err.message.includes(fragment), `"${err.message}" lacks "${fragment}"`);
          assert.ok(!err.message.includes("secret") && !err.message.includes(TOKEN), "no token in the error");
          return true;
        });
      });
    }

    it("a command the side does not send is refused as an illegal command (2), e.g. a login from a server", function () {
      assert.throws(() => bin.parseMessage({ command: CMD.HW_LOGIN, id: 1, body: Buffer.from(TOKEN) }, "server"), (err) => err.status === 2 && /command 29 \(HW_LOGIN\) is not one a server sends/.test(err.message) && !err.message.includes(TOKEN));
      assert.throws(() => bin.parseMessage({ command: 99, id: 1, body: Buffer.alloc(0) }, "device"), (err) => err.status === 2 && /command 99 \(unknown\)/.test(err.message));
    });
  });

  describe("encodeMessage refuses what a peer would drop", function () {
    const vw = (values, extra = {}) => ({ type: "hardware", id: 1, op: "write", pinType: "V", pin: 1, values, ...extra });
    // [what, message, to, fragment, code]
    const REFUSED = [
      ["a device's bridge form to a device", { type: "bridge", id: 1, channel: 1, op: "init", token: TOKEN }, "device", 'a "bridge" message (with a channel) goes from a device to its server'],
      ["the forwarded bridge form to a server", { type: "bridged", id: 1, op: "write", pinType: "V", pin: 1, values: ["1"] }, "server", 'a "bridged" message goes from the server to the bridge\'s target device'],
      ["a login to a device", { type: "login", id: 1, token: TOKEN, legacy: false }, "device", "command 29 (HW_LOGIN) is not one a server sends a device"],
      ["GROUP to a device", { type: "group", id: 1, action: "end" }, "device", "command 21 (GROUP) is not one a server sends a device"],
      ["REDIRECT to a server", { type: "redirect", id: 1, host: "h", port: 80 }, "server", "command 41 (REDIRECT) is not one a device sends a server"],
      ["a write without values", vw([]), "device", "HARDWARE write: values must be a non-empty array of text fields, got an array of 0; see valuesFrom()"],
      ["a write whose value holds NUL", vw(["a\0b"]), "device", 'HARDWARE write value 0 "a\\u0000b" must not contain NUL'],
      ["a write of a number (not text)", vw([1]), "device", "HARDWARE write value 0 must be text, got 1 (number)"],
      ["pin 256", vw(["1"], { pin: 256 }), "device", "HARDWARE: pin must be a whole number from 0 to 255, got 256"],
      ["pin type X", vw(["1"], { pinType: "X" }), "device", 'HARDWARE: pinType must be "V", "D" or "A", got "X"'],
      ["an unknown operation", { type: "hardware", id: 1, op: "erase" }, "device", 'HARDWARE operation "erase" (string) is not known; accepted: write, read, pin-mode'],
      ["pm without modes", { type: "hardware", id: 1, op: "pin-mode", modes: [] }, "device", "HARDWARE pm: modes must be a non-empty array"],
      ["pm with a bad mode", { type: "hardware", id: 1, op: "pin-mode", modes: [{ pin: 1, mode: "analog" }] }, "device", 'HARDWARE pm: mode "analog" (string) is not known; accepted: in, out, pwm, pu, pd'],
      ["sync of no pins", { type: "sync", id: 1, all: false, pinType: "V", pins: [] }, "server", "HARDWARE_SYNC: pins must be a non-empty array of pin numbers (or all: true)"],
      ["a property name that is no identifier", { type: "property", id: 1, pin: 1, property: "my label", values: ["x"] }, "server", 'property name "my label" must not contain spaces'],
      ["a property without values", { type: "property", id: 1, pin: 1, property: "label", values: [] }, "server", "PROPERTY values must be a non-empty array"],
      ["an event code with spaces", { type: "event", id: 1, code: "high temp" }, "server", 'event code "high temp" must not contain spaces'],
      ["an empty login token", { type: "login", id: 1, token: "", legacy: false }, "server", "login token must be non-empty text without NUL"],
      ["a login token with NUL (not quoted)", { type: "login", id: 1, token: "secret\0x", legacy: false }, "server", "login token must be non-empty text without NUL"],
      ["a bridge token with NUL (not quoted)", { type: "bridge", id: 1, channel: 1, op: "init", token: "secret\0x" }, "server", "BRIDGE init: the token must be non-empty text without NUL"],
      ["a redirect host over 63 characters", { type: "redirect", id: 1, host: "h".repeat(64), port: 80 }, "device", "is 64 characters; a device keeps at most 63"],
      ["a redirect to port 0", { type: "redirect", id: 1, host: "h", port: 0 }, "device", "REDIRECT port 0 is not a port"],
      ["a redirect to port 65536", { type: "redirect", id: 1, host: "h", port: 65536 }, "device", "REDIRECT port must be a whole number from 0 to 65535, got 65536"],
      ["a redirect without port", { type: "redirect", id: 1, host: "h" }, "device", "REDIRECT port must be a whole number"],
      ["an empty notification", { type: "notify", id: 1, text: "" }, "server", "notify text must be non-empty text"],
      ["a group timestamp that is not whole ms", { type: "group", id: 1, action: "begin", time: 1.5 }, "server", "GROUP timestamp (ms) must be a whole number"],
      ["an rtc time that is negative", { type: "internal", id: 1, kind: "rtc", time: -1 }, "device", "INTERNAL rtc time (seconds) must be a whole number"],
      ["an INTERNAL 'other' that is a known sub-command", { type: "internal", id: 1, kind: "other", code: "rtc", args: [] }, "device", 'INTERNAL sub-command "rtc" has its own kind; use it'],
      ["an unknown INTERNAL kind", { type: "internal", id: 1, kind: "reboot" }, "device", 'INTERNAL kind "reboot" (string) is not known; accepted: info, rtc-sync, rtc, utc-request, utc, ota, meta-set, app, other'],
      ["an unknown type", { type: "reboot", id: 1 }, "device", 'message type "reboot" (string) is not known; accepted: response, login, ping, hardware, bridge'],
      ["no object", null, "device", 'message must be an object with a "type", got null'],
      ["id 0", { type: "ping", id: 0 }, "device", "message id must be a whole number from 1 to 65535, got 0"],
      ["an unknown status", { type: "response", id: 1, status: 999 }, "device", "RESPONSE status 999 (number) is not a Blynk status code"],
    ];
    for (const [what, message, to, fragment, code] of REFUSED) {
      it(`${what} (to a ${to})`, function () {
        throwsWith(() => bin.encodeMessage(message, { to }), fragment, code);
        try {
          bin.encodeMessage(message, { to });
        } catch (err) {
          assert.ok(!err.message.includes("secret") && !err.message.includes(TOKEN), "no token in the error");
        }
      });
    }

    it("a write over the device's buffer is too large; within its buff-in it goes", function () {
      const message = vw(["x".repeat(300)]);
      throwsWith(() => bin.encodeMessage(message, { to: "device" }), "20 (HARDWARE) body is 305 bytes; the device's limit is 256 bytes", "too-large");
      const limit = bin.sendLimit({ buffIn: 4096 });
      assert.equal(bin.encodeMessage(message, { to: "device", maxBody: limit }).length, 5 + 305);
    });
  });

  describe("values", function () {
    it("valuesFrom: a flow's value -> text fields (booleans as 1/0, arrays as multi-values)", function () {
      assert.deepEqual(bin.valuesFrom(23.5), ["23.5"]);
      assert.deepEqual(bin.valuesFrom(true), ["1"]);
      assert.deepEqual(bin.valuesFrom(""), [""]);
      assert.deepEqual(bin.valuesFrom([255, 0, "x"]), ["255", "0", "x"]);
      throwsWith(() => bin.valuesFrom("a\0b", "V1"), 'value for "V1" must not contain NUL');
      throwsWith(() => bin.valuesFrom([]), "empty array");
    });

    it("valueOf: text fields -> a value (numbers only for exact numbers; several fields an array)", function () {
      assert.equal(bin.valueOf(["23.5"]), 23.5);
      assert.equal(bin.valueOf(["007"]), "007");
      assert.equal(bin.valueOf([""]), "");
      assert.deepEqual(bin.valueOf(["1", "x", ""]), [1, "x", ""]);
      assert.deepEqual(bin.valueOf(["1", "2"], { raw: true }), ["1", "2"]);
    });
  });
});
