"use strict";
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { DigestIndex, findByDigest, tokenDigest } = require("../../../dist/nodes/lib/transport/secret-match.js");

describe("transport/secret-match", function () {
  const holder = (token) => ({ token, digest: tokenDigest(token) });

  it("DigestIndex finds a holder by its secret with one comparison, whatever its size", function () {
    const index = new DigestIndex();
    const all = Array.from({ length: 500 }, (_, i) => holder(`secret-${i}`));
    for (const h of all) assert.equal(index.add(h), true);
    assert.equal(index.size, 500);
    const original = crypto.timingSafeEqual;
    let calls = 0;
    crypto.timingSafeEqual = (a, b) => (calls++, original(a, b));
    try {
      assert.equal(index.find("secret-499"), all[499]);
      assert.equal(index.find(Buffer.from("secret-7")), all[7]);
      assert.equal(index.find("secret-500"), undefined);
      assert.equal(index.find(""), undefined);
    } finally {
      crypto.timingSafeEqual = original;
    }
    assert.ok(calls <= 3, `${calls} comparisons`);
    assert.equal(findByDigest(all, "secret-3"), all[3], "the scanning helper still agrees");
  });

  it("refuses a second holder of the same secret; delete() removes only the holder given", function () {
    const index = new DigestIndex();
    const a = holder("same");
    const b = holder("same");
    assert.equal(index.add(a), true);
    assert.equal(index.add(b), false);
    index.delete(b);
    assert.equal(index.find("same"), a);
    index.delete(a);
    assert.equal(index.find("same"), undefined);
    assert.equal(index.size, 0);
  });
});
