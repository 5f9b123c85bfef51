"use strict";
// docs/ARCHITECTURE.md 3.5: every platform's local-mode link is a thin adapter over the
// hosted-device handle. It reaches neither its emulation nor its store nor any registry: the
// handle (injected by link.ts) is its only way to the hosted device.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const FORBIDDEN = /^\.\/(emulation|hosted-plugin|hosted-device|hosted-channel|hosted-store|hosted-index|channel-runtime|http-api|rest-api|rest-server)\.js$|^\.\.\/broker\//;

for (const platform of ["blynk", "thingsboard", "thingspeak"]) {
  describe(`${platform} local link: the hosted-device seam`, function () {
    const source = fs.readFileSync(path.join(__dirname, `../../nodes/lib/${platform}/link-local.ts`), "utf8");

    it("imports no emulation, store, registry or broker internals", function () {
      const imports = [...source.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
      assert.ok(imports.includes("./hosted-types.js"), "the handle's types come from hosted-types.ts");
      assert.deepEqual(imports.filter((i) => FORBIDDEN.test(i)), []);
    });

    it("uses neither the old in-process PubSub nor look-ups by credential", function () {
      assert.doesNotMatch(source, /BrokerPubSub|hostedByToken|hostedDevice\(|hostedEntries|brokers\./);
    });

    it("is handed its hosting by link.ts", function () {
      const factory = fs.readFileSync(path.join(__dirname, `../../nodes/lib/${platform}/link.ts`), "utf8");
      assert.match(factory, /new Local\w+Link\(\{ \.\.\.options, host: host\w+ \}\)/);
    });
  });
}
