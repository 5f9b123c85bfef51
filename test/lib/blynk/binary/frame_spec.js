"use strict";
// Frames of Blynk's binary protocol (docs/PROTOCOLS.md 3.1): the streaming decoder (any chunking,
// limits, every invalid header with the exact error it gives) and the encoder (exact bytes, and
// what it refuses to send).
const assert = require("node:assert/strict");
const bin = require("../../../../dist/nodes/lib/blynk/binary/index.js");
const { CMD, header, frame, rawFrame, response, showBody } = require("../../fixtures/blynk-wire.js");
const { throwsWith } = require("../../../support/table.js");

/** Everything the decoder makes of `bytes` pushed in one chunk, then end(). */
function decodeAll(bytes, options) {
  const decoder = new bin.FrameDecoder(options);
  const { frames, error } = decoder.push(bytes);
  return { frames, error: error ?? decoder.end(), decoder };
}

const plain = (f) => ({ command: f.command, id: f.id, ...(f.status === undefined ? {} : { status: f.status }), body: showBody(f.body) });

// [what, from, bytes, the frame it is]
const VALID = [
  ["HW_LOGIN with a 32-char token", "device", frame(CMD.HW_LOGIN, 1, "A".repeat(32)), { command: 29, id: 1, body: "A".repeat(32) }],
  ["LOGIN (library <= 0.5.4)", "device", frame(CMD.LOGIN, 1, "tok"), { command: 2, id: 1, body: "tok" }],
  ["PING", "device", header(CMD.PING, 7, 0), { command: 6, id: 7, body: "" }],
  ["PING from the server", "server", header(CMD.PING, 65535, 0), { command: 6, id: 65535, body: "" }],
  ["RESPONSE 200 from the server", "server", response(1, 200), { command: 0, id: 1, status: 200, body: "" }],
  ["RESPONSE 9 (invalid token)", "server", response(1, 9), { command: 0, id: 1, status: 9, body: "" }],
  ["RESPONSE 200 from a device", "device", response(42, 200), { command: 0, id: 42, status: 200, body: "" }],
  ["RESPONSE with a status outside the table (not a length: no body follows)", "device", response(3, 65535), { command: 0, id: 3, status: 65535, body: "" }],
  ["HARDWARE from a device", "device", frame(CMD.HARDWARE, 2, "vw", "5", "1.5"), { command: 20, id: 2, body: "vw\\05\\01.5" }],
  ["HARDWARE from the server", "server", frame(CMD.HARDWARE, 111, "vw", "1", "on"), { command: 20, id: 111, body: "vw\\01\\0on" }],
  ["HARDWARE_SYNC, empty (all pins)", "device", header(CMD.HARDWARE_SYNC, 4, 0), { command: 16, id: 4, body: "" }],
  ["INTERNAL info", "device", frame(CMD.INTERNAL, 2, "ver", "0.5.4"), { command: 17, id: 2, body: "ver\\00.5.4" }],
  ["BRIDGE from a device", "device", frame(CMD.BRIDGE, 5, "64", "i", "tok"), { command: 15, id: 5, body: "64\\0i\\0tok" }],
  ["BRIDGE from the server", "server", frame(CMD.BRIDGE, 5, "vw", "1", "2"), { command: 15, id: 5, body: "vw\\01\\02" }],
  ["PROPERTY", "device", frame(CMD.PROPERTY, 6, "1", "label", "x"), { command: 19, id: 6, body: "1\\0label\\0x" }],
  ["GROUP", "device", frame(CMD.GROUP, 6, "e"), { command: 21, id: 6, body: "e" }],
  ["EVENT_LOG", "device", frame(CMD.EVENT_LOG, 6, "alarm"), { command: 64, id: 6, body: "alarm" }],
  ["EVENT_CLEAR", "device", frame(CMD.EVENT_CLEAR, 6, "alarm", "all"), { command: 65, id: 6, body: "alarm\\0all" }],
  ["NOTIFY", "device", frame(CMD.NOTIFY, 6, "hi"), { command: 14, id: 6, body: "hi" }],
  ["TWEET", "device", frame(CMD.TWEET, 6, "hi"), { command: 12, id: 6, body: "hi" }],
  ["SMS", "device", frame(CMD.SMS, 6, "hi"), { command: 18, id: 6, body: "hi" }],
  ["EMAIL", "device", frame(CMD.EMAIL, 6, "a@b.c", "s", "b"), { command: 13, id: 6, body: "a@b.c\\0s\\0b" }],
  ["REDIRECT", "server", frame(CMD.REDIRECT, 9, "host", "8080"), { command: 41, id: 9, body: "host\\08080" }],
  ["DEBUG_PRINT, empty", "server", header(CMD.DEBUG_PRINT, 9, 0), { command: 55, id: 9, body: "" }],
  ["a body of exactly 256 bytes", "device", frame(CMD.HARDWARE, 3, "vw", "1", "x".repeat(251)), { command: 20, id: 3, body: `vw\\01\\0${"x".repeat(251)}` }],
];

// [what, from, bytes, options, reason, exact message]
const INVALID = [
  ["an unknown command", "device", header(99, 1, 0), {}, "unknown-command", "frame with command 99 (unknown), which a device does not send (message id 1, length 0)"],
  ["command 0xFF", "device", header(255, 300, 512), {}, "unknown-command", "frame with command 255 (unknown), which a device does not send (message id 300, length 512)"],
  ["a mobile-app command (LOAD_PROFILE 4)", "device", header(4, 1, 0), {}, "unknown-command", "frame with command 4 (unknown), which a device does not send (message id 1, length 0)"],
  ["DEBUG_PRINT from a device", "device", frame(CMD.DEBUG_PRINT, 1, "x"), {}, "unknown-command", "frame with command 55 (DEBUG_PRINT), which a device does not send (message id 1, length 1)"],
  ["REDIRECT from a device", "device", frame(CMD.REDIRECT, 1, "h", "1"), {}, "unknown-command", "frame with command 41 (REDIRECT), which a device does not send (message id 1, length 3)"],
  ["HW_LOGIN from a server", "server", frame(CMD.HW_LOGIN, 1, "tok"), {}, "unknown-command", "frame with command 29 (HW_LOGIN), which a server does not send (message id 1, length 3)"],
  ["GROUP from a server", "server", frame(CMD.GROUP, 1, "b"), {}, "unknown-command", "frame with command 21 (GROUP), which a server does not send (message id 1, length 1)"],
  ["message id 0 on HARDWARE", "device", frame(CMD.HARDWARE, 0, "vw", "1", "1"), {}, "zero-id", "20 (HARDWARE) frame with message id 0 (ids run from 1 to 65535)"],
  ["message id 0 on a login", "device", frame(CMD.HW_LOGIN, 0, "tok"), {}, "zero-id", "29 (HW_LOGIN) frame with message id 0 (ids run from 1 to 65535)"],
  ["message id 0 on RESPONSE", "server", response(0, 200), {}, "zero-id", "0 (RESPONSE) frame with message id 0 (ids run from 1 to 65535)"],
  ["message id 0 on PING", "server", header(CMD.PING, 0, 0), {}, "zero-id", "6 (PING) frame with message id 0 (ids run from 1 to 65535)"],
  ["a body of 257 bytes (default limit 256)", "device", header(CMD.HARDWARE, 3, 257), {}, "oversize", "20 (HARDWARE) frame (message id 3) announces a 257-byte body; the limit is 256 bytes"],
  ["a body of 65535 bytes", "server", header(CMD.INTERNAL, 3, 65535), {}, "oversize", "17 (INTERNAL) frame (message id 3) announces a 65535-byte body; the limit is 256 bytes"],
  ["a body over the given limit", "device", header(CMD.HARDWARE, 3, 1025), { maxBody: 1024 }, "oversize", "20 (HARDWARE) frame (message id 3) announces a 1025-byte body; the limit is 1024 bytes"],
  ["a PING with a body", "device", frame(CMD.PING, 2, "abc"), {}, "bad-length", "a 6 (PING) has no body, got 3 bytes (message id 2)"],
  ["an empty HARDWARE", "device", header(CMD.HARDWARE, 2, 0), {}, "bad-length", "a 20 (HARDWARE) needs a body, got an empty one (message id 2)"],
  ["a login without a token", "device", header(CMD.HW_LOGIN, 1, 0), {}, "bad-length", "a 29 (HW_LOGIN) needs a body, got an empty one (message id 1)"],
  ["an empty INTERNAL from the server", "server", header(CMD.INTERNAL, 4, 0), {}, "bad-length", "a 17 (INTERNAL) needs a body, got an empty one (message id 4)"],
  ["an empty REDIRECT", "server", header(CMD.REDIRECT, 4, 0), {}, "bad-length", "a 41 (REDIRECT) needs a body, got an empty one (message id 4)"],
  ["a stream ending inside a header", "device", Buffer.from([20, 0]), {}, "truncated", "the stream ended inside a frame (2 of the 5 header bytes)"],
  ["a stream ending inside a body", "device", header(CMD.HARDWARE, 9, 10), {}, "truncated", "the stream ended inside a frame (0 of its 10 body bytes)"],
  ["a stream ending inside a body, part read", "device", Buffer.concat([header(CMD.HARDWARE, 9, 10), Buffer.from("vw")]), {}, "truncated", "the stream ended inside a frame (2 of its 10 body bytes)"],
];

describe("blynk/binary frames", function () {
  describe("FrameDecoder: valid frames", function () {
    for (const [what, from, bytes, expected] of VALID) {
      it(`${what} (from a ${from})`, function () {
        const { frames, error } = decodeAll(bytes, { from });
        assert.equal(error, undefined, error?.message);
        assert.deepEqual(frames.map(plain), [expected]);
      });
    }

    it("every valid frame in one stream, in one chunk, in chunks of 1 to 7 bytes and byte by byte: the same frames", function () {
      for (const from of ["device", "server"]) {
        const rows = VALID.filter((row) => row[1] === from);
        const stream = Buffer.concat(rows.map((row) => row[2]));
        const expected = rows.map((row) => row[3]);
        for (const size of [stream.length, 1, 2, 3, 4, 5, 6, 7]) {
          const decoder = new bin.FrameDecoder({ from });
          const frames = [];
          for (let at = 0; at < stream.length; at += size) {
            const result = decoder.push(stream.subarray(at, at + size));
            assert.equal(result.error, undefined, result.error?.message);
            frames.push(...result.frames);
            assert.ok(decoder.buffered <= 5 + 256, `holds ${decoder.buffered} bytes`);
          }
          assert.equal(decoder.end(), undefined);
          assert.deepEqual(frames.map(plain), expected, `chunks of ${size}`);
        }
      }
    });

    it("a body is a copy: later chunks do not change a frame already returned", function () {
      const decoder = new bin.FrameDecoder({ from: "device" });
      const chunk = frame(CMD.HARDWARE, 1, "vw", "1", "a");
      const [f] = decoder.push(chunk).frames;
      chunk.fill(0);
      assert.equal(showBody(f.body), "vw\\01\\0a");
    });

    it("accepts a body up to its limit (buff-in 4096) and holds no more than that", function () {
      const decoder = new bin.FrameDecoder({ from: "server", maxBody: 4096 });
      const big = frame(CMD.HARDWARE, 2, "vw", "1", "y".repeat(4091));
      assert.equal(big.length, 5 + 4096);
      const first = decoder.push(big.subarray(0, 4000));
      assert.deepEqual(first.frames, []);
      assert.equal(decoder.buffered, 4000, "the header and the body bytes so far");
      const second = decoder.push(big.subarray(4000));
      assert.equal(second.frames[0].body.length, 4096);
      assert.equal(decoder.buffered, 0);
      assert.equal(decoder.maxBody, 4096);
      assert.equal(decoder.from, "server");
    });

    it("refuses a limit that is not 1..65535 bytes", function () {
      for (const maxBody of [0, -1, 1.5, 65536, "256", Number.NaN]) {
        throwsWith(() => new bin.FrameDecoder({ from: "device", maxBody }), "FrameDecoder maxBody must be a whole number of bytes from 1 to 65535");
      }
      assert.throws(() => new bin.FrameDecoder({ from: "app" }), /"from" must be "device" or "server"/);
    });
  });

  describe("FrameDecoder: invalid frames", function () {
    for (const [what, from, bytes, options, reason, message] of INVALID) {
      it(`${what}: ${reason}`, function () {
        const { frames, error, decoder } = decodeAll(bytes, { from, ...options });
        assert.deepEqual(frames, []);
        assert.ok(error instanceof bin.BlynkFrameError, "a BlynkFrameError");
        assert.equal(error.name, "TransportError");
        assert.equal(error.code, reason === "oversize" ? "too-large" : "protocol");
        assert.equal(error.reason, reason);
        assert.equal(error.message, message);
        assert.equal(decoder.failed, error);
        assert.equal(decoder.buffered, 0, "nothing is held after an error");
        if (reason !== "truncated") {
          assert.equal(error.command, bytes[0]);
          assert.equal(error.id, bytes.readUInt16BE(1));
          assert.equal(error.length, bytes.readUInt16BE(3));
        }
      });
    }

    it("an oversize body is refused from its header, before a byte of it is held", function () {
      const decoder = new bin.FrameDecoder({ from: "device" });
      const result = decoder.push(header(CMD.HARDWARE, 1, 60000));
      assert.equal(result.error.reason, "oversize");
      assert.equal(decoder.buffered, 0);
    });

    it("frames before a bad one in the same chunk are returned; the decoder then stops for good", function () {
      const decoder = new bin.FrameDecoder({ from: "device" });
      const result = decoder.push(Buffer.concat([header(CMD.PING, 1, 0), frame(CMD.HARDWARE, 2, "vw", "1", "1"), header(99, 3, 0), header(CMD.PING, 4, 0)]));
      assert.deepEqual(result.frames.map((f) => f.id), [1, 2]);
      assert.equal(result.error.reason, "unknown-command");
      const later = decoder.push(header(CMD.PING, 5, 0));
      assert.deepEqual(later.frames, []);
      assert.equal(later.error, result.error);
      assert.equal(decoder.end(), result.error);
    });

    it("push takes bytes only (a socket with an encoding set gives text)", function () {
      assert.throws(() => new bin.FrameDecoder({ from: "device" }).push("\x06\x00\x01\x00\x00"), /FrameDecoder.push takes bytes/);
      assert.deepEqual(new bin.FrameDecoder({ from: "device" }).push(new Uint8Array([6, 0, 1, 0, 0])).frames.map((f) => f.id), [1]);
    });

    it("a stream that ends between frames is no error", function () {
      const decoder = new bin.FrameDecoder({ from: "device" });
      decoder.push(header(CMD.PING, 1, 0));
      assert.equal(decoder.end(), undefined);
    });
  });

  describe("encodeFrame", function () {
    // [what, frame, options, exact bytes]
    const ENCODED = [
      ["RESPONSE 200 to a device", { command: 0, id: 1, status: 200 }, { to: "device" }, response(1, 200)],
      ["RESPONSE 9 to a device", { command: 0, id: 1, status: 9 }, { to: "device" }, response(1, 9)],
      ["RESPONSE 2 to the server", { command: 0, id: 77, status: 2 }, { to: "server" }, response(77, 2)],
      ["PING to a device", { command: 6, id: 65535 }, { to: "device" }, header(6, 65535, 0)],
      ["HARDWARE text body", { command: 20, id: 111, body: "vw\0" + "1\0" + "é" }, { to: "device" }, frame(20, 111, "vw", "1", "é")],
      ["HARDWARE Buffer body", { command: 20, id: 3, body: Buffer.from("dr\x0013") }, { to: "device" }, frame(20, 3, "dr", "13")],
      ["HW_LOGIN to a server", { command: 29, id: 1, body: "tok" }, { to: "server" }, frame(29, 1, "tok")],
      ["HARDWARE_SYNC, empty, to a server", { command: 16, id: 2 }, { to: "server" }, header(16, 2, 0)],
      ["a body of exactly the limit", { command: 20, id: 3, body: "x".repeat(256) }, { to: "device" }, rawFrame(20, 3, "x".repeat(256))],
      ["a body within a reported buff-in", { command: 20, id: 3, body: "x".repeat(4096) }, { to: "device", maxBody: 4096 }, rawFrame(20, 3, "x".repeat(4096))],
    ];
    for (const [what, f, options, bytes] of ENCODED) {
      it(what, function () {
        assert.deepEqual(bin.encodeFrame(f, options), bytes);
      });
    }

    // [what, frame, options, fragment, code]
    const REFUSED = [
      ["LOGIN to a device", { command: 2, id: 1, body: "t" }, { to: "device" }, "command 2 (LOGIN) is not one a server sends a device; a device drops the connection on it"],
      ["HW_LOGIN to a device", { command: 29, id: 1, body: "t" }, { to: "device" }, "command 29 (HW_LOGIN) is not one a server sends a device"],
      ["GROUP to a device", { command: 21, id: 1, body: "b" }, { to: "device" }, "command 21 (GROUP) is not one a server sends a device"],
      ["an unknown command to a device", { command: 99, id: 1 }, { to: "device" }, "command 99 (unknown) is not one a server sends a device"],
      ["a command that is no number", { command: "20", id: 1 }, { to: "device" }, 'command "20" (string) is not one a server sends a device'],
      ["REDIRECT to a server", { command: 41, id: 1, body: "h\x001" }, { to: "server" }, "command 41 (REDIRECT) is not one a device sends a server"],
      ["DEBUG_PRINT to a server", { command: 55, id: 1 }, { to: "server" }, "command 55 (DEBUG_PRINT) is not one a device sends a server"],
      ["message id 0", { command: 6, id: 0 }, { to: "device" }, "message id must be a whole number from 1 to 65535, got 0"],
      ["message id 65536", { command: 6, id: 65536 }, { to: "device" }, "message id must be a whole number from 1 to 65535, got 65536"],
      ["an unknown status", { command: 0, id: 1, status: 10 }, { to: "device" }, "RESPONSE status 10 (number) is not a Blynk status code"],
      ["a RESPONSE without status", { command: 0, id: 1 }, { to: "device" }, "RESPONSE status undefined (no value) is not a Blynk status code; accepted: 200 (SUCCESS), 1..9, 11..21, 23, 24"],
      ["a RESPONSE with a body", { command: 0, id: 1, status: 200, body: "x" }, { to: "device" }, "a RESPONSE has no body"],
      ["a body over 256 bytes", { command: 20, id: 1, body: "x".repeat(257) }, { to: "device" }, "20 (HARDWARE) body is 257 bytes; the device's limit is 256 bytes", "too-large"],
      ["a body over a reported buff-in", { command: 20, id: 1, body: "x".repeat(129) }, { to: "device", maxBody: 128 }, "20 (HARDWARE) body is 129 bytes; the device's limit is 128 bytes", "too-large"],
      ["UTF-8 counted in bytes", { command: 20, id: 1, body: "é".repeat(129) }, { to: "device" }, "body is 258 bytes", "too-large"],
      ["a PING with a body", { command: 6, id: 1, body: "x" }, { to: "device" }, "a 6 (PING) has no body, got 1 bytes"],
      ["an empty HARDWARE", { command: 20, id: 1, body: "" }, { to: "device" }, "a 20 (HARDWARE) needs a body, got an empty one"],
      ["a bad limit", { command: 6, id: 1 }, { to: "device", maxBody: 0 }, "maxBody must be a whole number of bytes from 1 to 65535, got 0"],
      ["a bad receiver", { command: 6, id: 1 }, { to: "app" }, '"to" must be "device" or "server", got "app"'],
      ["no options", { command: 6, id: 1 }, null, 'send options must be an object such as { to: "device" }, got null'],
      ["a body that is neither text nor bytes", { command: 20, id: 1, body: 5 }, { to: "device" }, "a frame body must be text or bytes, got 5 (number)"],
    ];
    for (const [what, f, options, fragment, code] of REFUSED) {
      it(`refuses ${what}`, function () {
        throwsWith(() => bin.encodeFrame(f, options), fragment, code);
      });
    }

    it("every encoded frame decodes to itself", function () {
      for (const [, f, options] of ENCODED) {
        const from = options.to === "device" ? "server" : "device";
        const { frames, error } = decodeAll(bin.encodeFrame(f, options), { from, maxBody: options.maxBody });
        assert.equal(error, undefined);
        const body = f.body === undefined ? "" : Buffer.from(f.body).toString("utf8");
        assert.deepEqual(frames.map((x) => ({ ...x, body: x.body.toString("utf8") })), [{ command: f.command, id: f.id, ...(f.status === undefined ? {} : { status: f.status }), body }]);
      }
    });
  });
});
