"use strict";
// Seeded property-based fuzzing of the Blynk binary protocol codec (docs/PROTOCOLS.md 3.1):
// - valid streams cut at random points decode to the same frames and the same messages;
// - random and mutated bytes never throw out of the decoder, never make it hold more than one
//   header and one body within its limit, and always end in frames or a typed error;
// - every frame parses to a message or a refusal with the status to answer, and a parsed
//   message that encodes again parses back to itself;
// - what the encoder accepts is exactly one valid frame for its receiver.
// A call that does not return within 30 s ends the run naming it. Replay with the FUZZ_SEED it
// prints (see test/lib/fixtures/fuzz.js).
const assert = require("node:assert/strict");
const bin = require("../../dist/nodes/lib/blynk/binary/index.js");
const { fc, check, checkAsync, watched, snapshot, assertNoPollution, assertNormalError, anything, nastyText, nastyBuffer } = require("../lib/fixtures/fuzz.js");
const { hostedBroker, TOKENS } = require("../lib/blynk/fixtures.js");
const { rawDevice } = require("../lib/blynk/binary-wire.js");
const { until } = require("../support/wait.js");

const RUNS = 200;
const SIDES = ["device", "server"];
const other = (side) => (side === "device" ? "server" : "device");
const REASONS = ["unknown-command", "zero-id", "oversize", "bad-length", "truncated"];
const WIDE = 0xffff;

// --- valid messages, per sending side ------------------------------------------------------

const text = fc.string({ unit: "grapheme", maxLength: 8 });
const word = fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 });
const id = fc.integer({ min: 1, max: 0xffff });
const pin = fc.integer({ min: 0, max: 255 });
const pinType = fc.constantFrom("V", "D", "A");
const values = fc.array(text, { minLength: 1, maxLength: 4 });
const code = fc.stringMatching(/^[A-Za-z0-9_.-]{1,16}$/);
const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/);
const statuses = fc.constantFrom(...Object.values(bin.Status));
const compact = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const write = fc.record({ op: fc.constant("write"), pinType, pin, values });
const read = fc.record({ op: fc.constant("read"), pinType, pin });
const pinMode = fc.record({ op: fc.constant("pin-mode"), modes: fc.array(fc.record({ pin, mode: fc.constantFrom(...bin.PIN_MODES) }), { minLength: 1, maxLength: 4 }) });
const info = fc
  .record({ ver: fc.option(word, { nil: undefined }), mcu: fc.option(word, { nil: undefined }), heartbeat: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }), buffIn: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), dev: fc.option(text, { nil: undefined }), tmpl: fc.option(word, { nil: undefined }), con: fc.option(word, { nil: undefined }) })
  .map(compact)
  .filter((i) => Object.keys(i).length > 0);
const otherCode = fc.stringMatching(/^[a-z]{2,5}$/).filter((c) => !bin.isInfoKey(c) && !["rtc", "utc", "ota", "meta", "acon", "adis"].includes(c));

const both = [
  fc.record({ type: fc.constant("response"), id, status: statuses }),
  fc.record({ type: fc.constant("ping"), id }),
  fc.tuple(id, write).map(([i, op]) => ({ type: "hardware", id: i, ...op })),
  fc.tuple(id, otherCode, fc.array(word, { maxLength: 3 })).map(([i, c, args]) => ({ type: "internal", id: i, kind: "other", code: c, args })),
];
// Plain JSON objects (fast-check may make null-prototype records).
const plainJson = (m) => JSON.parse(JSON.stringify(m));
const FROM = {
  device: fc.oneof(
    ...both,
    fc.record({ type: fc.constant("login"), id, token, legacy: fc.boolean() }),
    fc.record({ type: fc.constant("sync"), id, all: fc.constant(true) }),
    fc.record({ type: fc.constant("sync"), id, all: fc.constant(false), pinType, pins: fc.array(pin, { minLength: 1, maxLength: 5 }) }),
    fc.tuple(id, info).map(([i, inf]) => ({ type: "internal", id: i, kind: "info", info: inf })),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("rtc-sync") }),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("utc-request"), item: word }),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("meta-set"), field: word, value: text }),
    fc.record({ type: fc.constant("property"), id, pin, property: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/), values }),
    fc.record({ type: fc.constant("event"), id, code, description: fc.option(text, { nil: undefined }) }).map(compact),
    fc.record({ type: fc.constant("event-clear"), id, code, all: fc.boolean() }),
    fc.record({ type: fc.constantFrom("notify", "tweet", "sms"), id, text: word }),
    fc.record({ type: fc.constant("email"), id, to: fc.option(word, { nil: undefined }), subject: text, body: text }).map(compact),
    fc.record({ type: fc.constant("group"), id, action: fc.constant("begin"), time: fc.option(fc.maxSafeNat(), { nil: undefined }) }).map(compact),
    fc.record({ type: fc.constant("group"), id, action: fc.constant("end") }),
    fc.record({ type: fc.constant("bridge"), id, channel: pin, op: fc.constant("init"), token }),
    fc.tuple(id, pin, write).map(([i, channel, op]) => ({ type: "bridge", id: i, channel, ...op })),
  ).map(plainJson),
  server: fc.oneof(
    ...both,
    fc.tuple(id, fc.oneof(read, pinMode)).map(([i, op]) => ({ type: "hardware", id: i, ...op })),
    fc.tuple(id, fc.oneof(write, read)).map(([i, op]) => ({ type: "bridged", id: i, ...op })),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("rtc"), time: fc.nat() }),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("utc"), item: word, values: fc.array(word, { minLength: 1, maxLength: 3 }) }),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("ota"), url: word }),
    fc.record({ type: fc.constant("internal"), id, kind: fc.constant("app"), connected: fc.boolean() }),
    fc.record({ type: fc.constant("redirect"), id, host: fc.stringMatching(/^[a-z0-9.-]{1,63}$/), port: fc.integer({ min: 1, max: 65535 }) }),
    fc.record({ type: fc.constant("debug-print"), id, text }),
  ).map(plainJson),
};

// --- streams ------------------------------------------------------------------------------

/** `bytes` cut at random points (the cut list is drawn by fast-check). */
function cut(bytes, cuts) {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const chunks = [];
  let last = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  return chunks;
}
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

/** Feeds chunks, checking the decoder's promises after each; returns what it made. */
function feed(decoder, chunks) {
  const frames = [];
  let error;
  for (const chunk of chunks) {
    const result = watched("FrameDecoder.push", () => decoder.push(chunk), []);
    for (const f of result.frames) assert.ok(f.body.length <= decoder.maxBody, `a ${f.body.length}-byte body over the ${decoder.maxBody}-byte limit`);
    assert.ok(decoder.buffered <= 5 + decoder.maxBody, `holds ${decoder.buffered} bytes with a ${decoder.maxBody}-byte limit`);
    if (error !== undefined) assert.deepEqual(result.frames, [], "no frame after an error");
    frames.push(...result.frames);
    error ??= result.error;
    if (error !== undefined) assert.equal(result.error, error, "the same error on every later push");
  }
  const end = watched("FrameDecoder.end", () => decoder.end(), []);
  if (error !== undefined) assert.equal(end, error);
  return { frames, error: end };
}

/** A valid stream of one side, mutated: bytes flipped, cut, spliced or a random header put in. */
const mutation = fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), kind: fc.constantFrom("flip", "truncate", "splice", "header", "none"), byte: fc.integer({ min: 0, max: 255 }), junk: nastyBuffer });
function mutate(bytes, m) {
  const at = Math.floor(m.at * bytes.length);
  switch (m.kind) {
    case "flip": {
      const copy = Buffer.from(bytes);
      if (copy.length > 0) copy[Math.min(at, copy.length - 1)] ^= m.byte || 1;
      return copy;
    }
    case "truncate":
      return bytes.subarray(0, at);
    case "splice":
      return Buffer.concat([bytes.subarray(0, at), m.junk, bytes.subarray(at)]);
    case "header": {
      const h = Buffer.from([m.byte % 70, m.byte, m.byte >> 1, m.junk.length >> 8, m.junk.length & 0xff]);
      return Buffer.concat([bytes.subarray(0, at), h, m.junk, bytes.subarray(at)]);
    }
    default:
      return bytes;
  }
}

const encodeAll = (messages, from) => Buffer.concat(messages.map((m) => bin.encodeMessage(m, { to: other(from), maxBody: WIDE })));
const stream = (from) => fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.array(FROM[from], { maxLength: 8 }), mutation).map(([ms, m]) => mutate(encodeAll(ms, from), m)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: nastyBuffer },
);

/** parseMessage: a message, or a refusal that is a TransportError naming the status to answer. */
function parseSafely(frame, from) {
  const before = snapshot();
  try {
    const message = watched("parseMessage", bin.parseMessage, [frame, from]);
    assert.equal(typeof message.type, "string");
    assert.equal(message.id, frame.id);
    return message;
  } catch (err) {
    assertNormalError(err, "parseMessage");
    assert.equal(err.name, "TransportError", `parseMessage refused with a ${err.name}: ${err.message}`);
    assert.equal(err.code, "invalid");
    assert.ok(err.status === 2 || err.status === 11, `status ${err.status} for: ${err.message}`);
    return undefined;
  } finally {
    assertNoPollution(before);
  }
}

describe("hostile: Blynk binary protocol fuzzing (fast-check, seeded)", function () {
  this.timeout(60_000);

  for (const from of SIDES) {
    describe(`frames a ${from} sends`, function () {
      it("a valid stream cut at random points gives the same frames and the same messages", function () {
        check(
          fc.property(fc.array(FROM[from], { minLength: 1, maxLength: 20 }), cuts, (messages, points) => {
            const bytes = encodeAll(messages, from);
            const whole = feed(new bin.FrameDecoder({ from, maxBody: WIDE }), [bytes]);
            const chunked = feed(new bin.FrameDecoder({ from, maxBody: WIDE }), cut(bytes, points));
            assert.equal(whole.error, undefined);
            assert.equal(chunked.error, undefined);
            assert.deepEqual(chunked.frames, whole.frames);
            assert.deepStrictEqual(chunked.frames.map((f) => bin.parseMessage(f, from)), messages);
          }),
          RUNS,
        );
      });

      it("random and mutated bytes: no throw, nothing held over the limit, frames or a typed error at the end", function () {
        check(
          fc.property(stream(from), cuts, fc.constantFrom(1, 5, 64, 256, 4096), (bytes, points, maxBody) => {
            const decoder = new bin.FrameDecoder({ from, maxBody });
            const { frames, error } = feed(decoder, cut(bytes, points));
            if (error === undefined) {
              const used = frames.reduce((n, f) => n + 5 + f.body.length, 0);
              assert.equal(used, bytes.length, "every byte is in a frame when no error is reported");
            } else {
              assert.ok(error instanceof bin.BlynkFrameError, `not a BlynkFrameError: ${error}`);
              assert.ok(REASONS.includes(error.reason), error.reason);
              assert.ok(error.message.length > 0);
            }
            for (const f of frames) assert.ok(bin.sentBy(from).has(f.command) && f.id > 0);
          }),
          RUNS,
        );
      });

      it("every decoded frame parses or is refused with a status; a parsed message that encodes parses back to itself", function () {
        check(
          fc.property(stream(from), (bytes) => {
            const { frames } = feed(new bin.FrameDecoder({ from, maxBody: WIDE }), [bytes]);
            for (const f of frames) {
              const message = parseSafely(f, from);
              if (message === undefined) continue;
              let again;
              try {
                again = bin.encodeMessage(message, { to: other(from), maxBody: WIDE });
              } catch (err) {
                assert.equal(err.name, "TransportError", `${err.name}: ${err.message}`);
                continue;
              }
              const round = feed(new bin.FrameDecoder({ from, maxBody: WIDE }), [again]);
              assert.equal(round.error, undefined);
              assert.deepStrictEqual(bin.parseMessage(round.frames[0], from), message);
            }
          }),
          RUNS,
        );
      });

      it(`what the encoder accepts for a ${other(from)} is exactly one frame it takes`, function () {
        const field = fc.constantFrom("id", "type", "op", "pin", "pinType", "values", "token", "kind", "info", "status", "host", "port", "text", "code", "time", "modes", "channel", "property");
        const message = fc.oneof(
          FROM[from],
          fc.tuple(FROM[from], field, anything).map(([m, k, v]) => ({ ...m, [k]: v })),
          fc.record({ type: fc.oneof(fc.constantFrom("hardware", "internal", "login", "bridge", "bridged", "redirect", "response", "sync", "group"), nastyText), id: fc.oneof(id, anything), op: anything, values: anything, kind: anything, info: anything, token: anything }, { requiredKeys: ["type"] }),
        );
        check(
          fc.property(message, fc.constantFrom(undefined, 16, 256, 4096), (m, maxBody) => {
            const before = snapshot();
            let bytes;
            try {
              bytes = watched("encodeMessage", bin.encodeMessage, [m, { to: other(from), maxBody }]);
            } catch (err) {
              assertNormalError(err, "encodeMessage");
              assert.equal(err.name, "TransportError", `encodeMessage refused with a ${err.name}: ${err.message}`);
              return;
            } finally {
              assertNoPollution(before);
            }
            const { frames, error } = feed(new bin.FrameDecoder({ from, maxBody: maxBody ?? 256 }), [bytes]);
            assert.equal(error, undefined, error?.message);
            assert.equal(frames.length, 1);
            assert.ok(parseSafely(frames[0], from) !== undefined, "the receiver can read what was sent");
          }),
          RUNS,
        );
      });
    });
  }
});

// The server (docs/ARCHITECTURE.md 3.7) over loopback: seeded streams of valid, mutated and random
// frames, before and after a login, in random chunks. The broker never fails, answers only with
// frames a device takes (no unknown command, no id 0), closes only the connection at fault, and
// lists no connection once every socket is gone.
describe("hostile: the Blynk binary server under seeded random frames (loopback)", function () {
  const ALPHA = { id: "a1b2c3d4e5f60718", token: TOKENS.alpha, name: "Alpha", pins: { v1: "Temp" } };
  const BETA = { id: "b1b2c3d4e5f60718", token: TOKENS.beta, name: "Beta" };
  let ctx;
  let blynkPort;

  before(async function () {
    ctx = await hostedBroker({ devices: [ALPHA, BETA], authThrottle: false, connectTimeoutMs: 2000 });
    blynkPort = (await ctx.engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0, protocol: "blynk" })).port;
  });

  after(async function () {
    await ctx?.cleanup();
  });

  const encoded = FROM.device.map((m) => {
    try {
      return bin.encodeMessage(m, { to: "server", maxBody: WIDE });
    } catch {
      return Buffer.from([bin.Command.PING, 0, 1, 0, 0]);
    }
  });
  const mutated = fc.tuple(encoded, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([bytes, at, byte]) => {
    const copy = Buffer.from(bytes);
    copy[at % copy.length] = byte;
    return copy;
  });
  const piece = fc.oneof({ weight: 6, arbitrary: encoded }, { weight: 2, arbitrary: mutated }, { weight: 1, arbitrary: nastyBuffer });
  const login = fc.constantFrom(undefined, TOKENS.alpha, TOKENS.beta, "NoSuchTok_0123456789abcdefghijk");

  it("survives every stream; answers are valid frames; only the sending connection is affected", async function () {
    this.timeout(120_000);
    await checkAsync(
      fc.asyncProperty(login, fc.array(piece, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }), async (token, pieces, cuts) => {
        const d = await rawDevice(blynkPort);
        try {
          const stream = Buffer.concat([...(token === undefined ? [] : [Buffer.concat([Buffer.from([bin.Command.HW_LOGIN, 0, 1, 0, token.length]), Buffer.from(token)])]), ...pieces]);
          for (let at = 0, i = 0; at < stream.length && !d.closed; i++) {
            const size = cuts[i % cuts.length];
            d.socket.write(stream.subarray(at, at + size));
            at += size;
          }
          // A PING after the stream: answered unless the connection was closed (or is still waiting for a login decision).
          if (!d.closed) d.socket.write(Buffer.from([bin.Command.PING, 0xff, 0xfe, 0, 0]));
          await until(() => d.closed || d.frames.some((f) => f.id === 0xfffe) || d.frames.length > 0, 3000).catch(() => undefined);
        } finally {
          d.end();
        }
        for (const f of d.frames) {
          assert.ok(bin.SERVER_SENDS.has(f.command), `the server sent command ${f.command}`);
          assert.notEqual(f.id, 0, "the server sent message id 0");
        }
        // Another device is served all along.
        const good = await rawDevice(blynkPort);
        try {
          good.socket.write(Buffer.concat([Buffer.from([bin.Command.HW_LOGIN, 0, 1, 0, BETA.token.length]), Buffer.from(BETA.token)]));
          await good.next((f) => f.id === 1 && (f.status === 200 || f.status === 6));
        } finally {
          good.end();
        }
      }),
      40,
    );
    await until(() => ctx.engine.clients().length === 0, 10_000, "every connection to be gone");
    assert.ok(!ctx.events.some((e) => e.event === "plugin-error"), JSON.stringify(ctx.events.filter((e) => e.event === "plugin-error")));
  });
});
