"use strict";
// ThingsBoard OTA codec (docs/PROTOCOLS.md 4.6): table tests of topics, chunk sizes, chunk
// cutting and checksums (against node:crypto / zlib and ThingsBoard's CRC32 text form), and a
// fuzz: no input makes a parser throw anything but a TransportError.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const zlib = require("node:zlib");
const fc = require("fast-check");
const { check } = require("../fixtures/fuzz.js");
const f = require("../../../dist/nodes/lib/thingsboard/codec-firmware.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

describe("ThingsBoard OTA codec", function () {
  it("topics: request and response with the id text echoed, software too; other topics are not chunk topics", function () {
    const cases = [
      ["v2/fw/request/1/chunk/0", "request", { type: "firmware", requestId: "1", chunk: 0 }],
      ["v2/fw/request/007/chunk/12", "request", { type: "firmware", requestId: "007", chunk: 12 }],
      ["v2/sw/request/3/chunk/2", "request", { type: "software", requestId: "3", chunk: 2 }],
      ["v2/fw/response/1/chunk/0", "response", { type: "firmware", requestId: "1", chunk: 0 }],
      ["v2/fw/response/1/chunk/0", "request", undefined],
      ["v2/fw/request/1/chunk/", "request", undefined],
      ["v2/fw/request/-1/chunk/0", "request", undefined],
      ["v2/fw/request/1/chunk/0/", "request", undefined],
      ["v2/xw/request/1/chunk/0", "request", undefined],
      ["v1/devices/me/telemetry", "request", undefined],
      [42, "request", undefined],
    ];
    for (const [topic, direction, expected] of cases) assert.deepEqual(f.parseChunkTopic(topic, direction), expected, String(topic));
    assert.equal(f.chunkRequestTopic(0, 5), "v2/fw/request/0/chunk/5");
    assert.equal(f.chunkResponseTopic("007", 1, "software"), "v2/sw/response/007/chunk/1");
    assert.equal(f.chunkResponseFilter(), "v2/fw/response/+/chunk/+");
    assert.equal(f.errorTopic(), "v2/fw/error");
    assert.throws(() => f.chunkRequestTopic(-1, 0), TransportError);
    assert.throws(() => f.chunkRequestTopic(1, 1.5), TransportError);
  });

  it("chunk size: digits, JSON-quoted digits (the Python SDK), empty or \"\" -> undefined; anything else refused in words", function () {
    const ok = [["4096", 4096], ['"4096"', 4096], [" 16 ", 16], ["", undefined], ['""', undefined], [Buffer.from("0"), 0]];
    for (const [payload, expected] of ok) assert.equal(f.parseChunkSize(payload), expected, JSON.stringify(String(payload)));
    for (const bad of ["-1", "1.5", "abc", "1e3", "{}", "99999999999"]) {
      assert.throws(() => f.parseChunkSize(bad), (err) => err instanceof TransportError && /chunk size/.test(err.message), bad);
    }
  });

  it("chunks as ThingsBoard cuts them: size 0 is the whole image as chunk 0, the last one short, past the end empty", function () {
    const image = Buffer.from("0123456789");
    const table = [[4, 0, "0123"], [4, 1, "4567"], [4, 2, "89"], [4, 3, ""], [4, 1000, ""], [0, 0, "0123456789"], [0, 1, ""], [10, 0, "0123456789"], [10, 1, ""]];
    for (const [size, index, expected] of table) assert.equal(f.chunkOf(image, size, index).toString(), expected, `${size}/${index}`);
  });

  it("checksums: SHA256/384/512 and MD5 as hex, CRC32 little-endian as ThingsBoard writes it; MURMUR3 refused in words", function () {
    const data = crypto.randomBytes(5000);
    for (const alg of ["SHA256", "SHA384", "SHA512", "MD5"]) {
      assert.equal(f.checksumOf(alg, data), crypto.createHash(alg.toLowerCase()).update(data).digest("hex"), alg);
    }
    const le = Buffer.alloc(4);
    le.writeUInt32LE(zlib.crc32(data));
    assert.equal(f.checksumOf("CRC32", data), le.toString("hex"));
    assert.equal(f.checksumOf("CRC32", Buffer.from("123456789")), "2639f4cb", "the CRC-32 check value 0xCBF43926, byte-reversed");
    assert.equal(f.checksumMatches("SHA256", data, crypto.createHash("sha256").update(data).digest("hex").toUpperCase()), true);
    assert.equal(f.checksumMatches("SHA256", data, "00"), false);
    assert.equal(f.checksumAlgorithm("sha256"), "SHA256");
    assert.equal(f.checksumAlgorithm("crc32"), "CRC32");
    assert.throws(() => f.checksumAlgorithm("MURMUR3_128"), /MURMUR3_128 is not supported here/);
    assert.throws(() => f.checksumAlgorithm("SHA1"), /not known; accepted: SHA256, SHA384, SHA512, MD5, CRC32/);
  });

  it("package attributes: encoded and parsed back; a missing algorithm is SHA256; unrelated attributes are no package", function () {
    const info = { type: "firmware", title: "TEST", version: "1.1", size: 10, checksum: "ab", algorithm: "MD5" };
    const attributes = f.encodePackageAttributes(info);
    assert.deepEqual(attributes, { fw_title: "TEST", fw_version: "1.1", fw_checksum: "ab", fw_checksum_algorithm: "MD5", fw_size: 10 });
    assert.deepEqual(f.parsePackageAttributes(attributes), info);
    assert.equal(f.parsePackageAttributes({ fw_title: "T", fw_version: "2", fw_checksum: "AB" }).algorithm, "SHA256");
    assert.equal(f.parsePackageAttributes({ fw_title: "T", fw_version: "2", fw_checksum: "AB" }).size, -1);
    assert.equal(f.parsePackageAttributes({ temperature: 3 }), undefined);
    assert.equal(f.parsePackageAttributes({ sw_title: "S", sw_version: "1", sw_checksum: "cd", sw_size: 3 }, "software").title, "S");
    assert.throws(() => f.parsePackageAttributes({ fw_title: "T", fw_version: "1", fw_checksum: "xyz" }), /not a hex checksum/);
    assert.throws(() => f.parsePackageAttributes({ fw_title: "T", fw_version: "1", fw_checksum: "ab", fw_size: -3 }), /not a size/);
    assert.deepEqual(f.packageRequestKeys(), ["fw_checksum", "fw_checksum_algorithm", "fw_size", "fw_title", "fw_version"]);
  });

  it("fw_state telemetry: FAILED carries fw_error; UPDATED names the current package", function () {
    assert.deepEqual(f.encodeState("DOWNLOADING"), { fw_state: "DOWNLOADING" });
    assert.deepEqual(f.encodeState("FAILED", { error: "checksum mismatch" }), { fw_state: "FAILED", fw_error: "checksum mismatch" });
    assert.deepEqual(f.encodeState("UPDATED", { title: "T", version: "2" }), { fw_state: "UPDATED", current_fw_title: "T", current_fw_version: "2" });
    assert.deepEqual(f.FW_STATES, ["DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING", "UPDATED", "FAILED"]);
  });

  it("fuzz: parsers never throw anything but a TransportError, chunks never exceed the image or the size", function () {
    const onlyTransport = (fn) => {
      try {
        fn();
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
      }
    };
    check(
      fc.property(fc.string(), fc.uint8Array({ maxLength: 64 }), fc.anything(), (text, bytes, value) => {
        f.parseChunkTopic(text, "request");
        onlyTransport(() => f.parseChunkSize(text));
        onlyTransport(() => f.parseChunkSize(Buffer.from(bytes)));
        onlyTransport(() => f.parsePackageAttributes(value));
        onlyTransport(() => f.checksumAlgorithm(value));
      }),
      500,
    );
    check(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(400), fc.nat(400), (bytes, size, index) => {
        const chunk = f.chunkOf(Buffer.from(bytes), size, index);
        assert.ok(chunk.length <= bytes.length);
        if (size > 0) assert.ok(chunk.length <= size);
      }),
      500,
    );
  });
});
