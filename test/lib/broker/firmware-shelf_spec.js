"use strict";
// The firmware shelf (broker/firmware-shelf.ts): an image is kept once however many devices get
// it, a flow's Buffer changed in place and shipped again is a new image (found in review: the
// per-Buffer cache compared lengths only and shipped the old bytes under the new version), and
// both limits refuse in words before anything changes.
const assert = require("node:assert/strict");
const { createHash } = require("node:crypto");
const { FirmwareShelf, imageChecksum } = require("../../../dist/nodes/lib/broker/firmware-shelf.js");

const sha = (b) => createHash("sha256").update(b).digest("hex");

describe("firmware shelf", function () {
  it("keeps one copy for every device given the same bytes, and drops it with the last device", function () {
    const shelf = new FirmwareShelf({ maxImageBytes: 100, maxTotalBytes: 150 });
    const a = Buffer.from("firmware A");
    for (const id of ["d1", "d2", "d3"]) shelf.assign("tb", id, "fw", shelf.image(Buffer.from(a)));
    assert.equal(shelf.size, 1);
    assert.equal(shelf.totalBytes, a.length);
    shelf.release("tb", "d1");
    shelf.release("tb", "d2");
    assert.equal(shelf.imageOf("tb", "d3", "fw").sha256, sha(a));
    shelf.release("tb", "d3");
    assert.equal(shelf.size, 0);
    assert.equal(shelf.totalBytes, 0);
  });

  it("a Buffer changed in place and shipped again is the new bytes, not the cached image", function () {
    const shelf = new FirmwareShelf({ maxImageBytes: 100, maxTotalBytes: 150 });
    const buffer = Buffer.from("version 1.0.0");
    const first = shelf.image(buffer);
    shelf.assign("blynk", "d1", "fw", first);
    buffer.write("version 2.0.0");
    const second = shelf.image(buffer);
    assert.equal(second.sha256, sha(Buffer.from("version 2.0.0")));
    assert.equal(second.data.toString(), "version 2.0.0");
    assert.equal(shelf.image(buffer), second, "an unchanged Buffer is not hashed again");
    assert.equal(first.data.toString(), "version 1.0.0", "the shelf holds its own copy");
  });

  it("refuses an image over the per-image limit and a shipment over the total, changing nothing", function () {
    const shelf = new FirmwareShelf({ maxImageBytes: 100, maxTotalBytes: 150 });
    assert.throws(() => shelf.image(Buffer.alloc(101)), (err) => err.code === "too-large" && /101 bytes; at most 100/.test(err.message));
    shelf.assign("tb", "d1", "fw", shelf.image(Buffer.alloc(100, 1)));
    assert.throws(() => shelf.assign("tb", "d2", "fw", shelf.image(Buffer.alloc(60, 2))), (err) => err.code === "too-large");
    assert.equal(shelf.size, 1);
    assert.equal(shelf.imageOf("tb", "d2", "fw"), undefined);
  });

  it("a checksum of an image is computed once however many devices are shipped it", function () {
    const shelf = new FirmwareShelf({ maxImageBytes: 100, maxTotalBytes: 150 });
    let runs = 0;
    const md5 = (data) => (runs++, createHash("md5").update(data).digest("hex"));
    const sums = ["d1", "d2", "d3"].map((id) => {
      const image = shelf.image(Buffer.from("one image"));
      shelf.assign("blynk", id, "ota", image);
      return imageChecksum(image, "md5", md5);
    });
    assert.deepEqual(sums, Array(3).fill(createHash("md5").update("one image").digest("hex")));
    assert.equal(runs, 1);
  });
});
