"use strict";
// Secrets are found through digests (transport/secret-match.ts), here as broker/hosted-directory.ts
// uses them: one constant-time comparison per look-up, however many devices are hosted.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { tokenDigest } = require("../../../dist/nodes/lib/transport/secret-match.js");
const { HostedDirectory } = require("../../../dist/nodes/lib/broker/hosted-directory.js");
const { matchesBasicCredentials } = require("../../../dist/nodes/lib/thingsboard/codec-session.js");

function countingCompares(run) {
  const original = crypto.timingSafeEqual;
  let calls = 0;
  crypto.timingSafeEqual = (a, b) => (calls++, original(a, b));
  try {
    run();
  } finally {
    crypto.timingSafeEqual = original;
  }
  return calls;
}

describe("transport/secret-match", function () {
  it("a digest is fixed-size and never the secret", function () {
    assert.equal(tokenDigest("a").length, 32);
    assert.equal(tokenDigest(Buffer.from("abc")).equals(tokenDigest("abc")), true);
    assert.equal(tokenDigest("abc").toString("utf8").includes("abc"), false);
  });

  it("a directory finds a holder by its secret with one comparison, whatever its size", function () {
    const directory = new HostedDirectory();
    const all = Array.from({ length: 500 }, (_, i) => ({ i }));
    all.forEach((entry, i) => directory.claim(entry, [{ kind: "token", value: `secret-${i}`, secret: true }]));
    const calls = countingCompares(() => {
      assert.equal(directory.find("token", "secret-499"), all[499]);
      assert.equal(directory.find("token", Buffer.from("secret-7")), all[7]);
      assert.equal(directory.find("token", "secret-500"), undefined);
      assert.equal(directory.find("token", ""), undefined);
    });
    assert.ok(calls <= 3, `${calls} comparisons`);
  });

  it("ThingsBoard basic credentials compare the password in constant time", function () {
    const stored = { type: "basic", username: "u", password: "right-password" };
    let result;
    const calls = countingCompares(() => {
      result = [
        matchesBasicCredentials(stored, { type: "basic", username: "u", password: "right-password" }),
        matchesBasicCredentials(stored, { type: "basic", username: "u", password: "right-passwore" }),
      ];
    });
    assert.deepEqual(result, [true, false]);
    assert.equal(calls, 2);
  });
});
