"use strict";
// The legacy Blynk HTTP API's pure part: which paths are its routes, its pins, its JSON bodies.
const assert = require("node:assert/strict");
const codec = require("../../../dist/nodes/lib/blynk/legacy-http-codec.js");

const { LEGACY_ERRORS: E } = codec;

describe("legacy Blynk HTTP API codec", function () {
  it("knows the legacy server's routes and methods, nothing more", function () {
    const table = [
      [["get", "V1"], { op: "get", pin: "V1" }],
      [["pin", "v2"], { op: "update", pin: "v2" }],
      [["update", "D8"], { op: "update", pin: "D8" }],
      [["extra", "pin", "A0"], { op: "extra", pin: "A0" }],
      [["data", "V1"], { op: "data", pin: "V1" }],
      ...["isHardwareConnected", "isAppConnected", "project", "rtc", "notify", "email"].map((op) => [[op], { op }]),
      [["get"], undefined],
      [["get", ""], undefined],
      [["get", "V1", ""], undefined],
      [["extra", "V1"], undefined],
      [["extra", "pin", "V1", "x"], undefined],
      [["qr"], undefined],
      [["external", "api"], undefined],
      [[], undefined],
    ];
    for (const [rest, route] of table) assert.deepEqual(codec.routeOf(rest), route, rest.join("/"));
    const allows = (rest, method) => codec.routeAllows(codec.routeOf(rest), method);
    assert.ok(allows(["get", "V1"], "GET") && allows(["get", "V1"], "HEAD") && !allows(["get", "V1"], "PUT"));
    assert.ok(allows(["update", "V1"], "GET") && allows(["update", "V1"], "PUT") && !allows(["update", "V1"], "HEAD") && !allows(["update", "V1"], "POST"));
    assert.ok(allows(["notify"], "POST") && !allows(["notify"], "GET") && allows(["notify"], "OPTIONS"));
    // GET on the older pin/ path reads; PUT writes.
    assert.deepEqual(codec.routeFor(codec.routeOf(["pin", "V1"]), "GET", ["pin", "V1"]), { op: "get", pin: "V1" });
    assert.deepEqual(codec.routeFor(codec.routeOf(["pin", "V1"]), "PUT", ["pin", "V1"]), { op: "update", pin: "V1" });
    assert.deepEqual(codec.routeFor(codec.routeOf(["update", "V1"]), "GET", ["update", "V1"]), { op: "update", pin: "V1" });
  });

  it("splits paths and tells token-shaped first segments", function () {
    assert.deepEqual(codec.splitPath("/abc/get/V1"), { token: "abc", rest: ["get", "V1"] });
    for (const path of ["", "/", "/abc", "//get/V1", "abc/get/V1"]) assert.equal(codec.splitPath(path), undefined, path);
    assert.ok(codec.tokenShaped("4ae3851817194e2596cf1b7103603ef8"));
    assert.ok(codec.tokenShaped("AlphaTok_0123456789abcdefghijk-m"));
    for (const t of ["short", "4ae3851817194e2596cf1b7103603ef8a", "4ae3851817194e2596cf1b7103603ef.", "external"]) assert.ok(!codec.tokenShaped(t), t);
  });

  it("reads pins V/D/A 0..255 in either case", function () {
    assert.deepEqual(codec.parseLegacyPin("v5"), { type: "V", number: 5, name: "V5" });
    assert.deepEqual(codec.parseLegacyPin("D255"), { type: "D", number: 255, name: "D255" });
    assert.deepEqual(codec.parseLegacyPin("a0"), { type: "A", number: 0, name: "A0" });
    for (const pin of ["V256", "V01", "V-1", "X1", "V", "1", "V1.5", " V1", "V1e2"]) assert.equal(codec.parseLegacyPin(pin), undefined, pin);
  });

  it("reads the JSON bodies, refusing in the legacy server's words", function () {
    assert.deepEqual(codec.parseValues('["1","a"]'), ["1", "a"]);
    assert.deepEqual(codec.parseValues([2, false]), ["2", "false"]);
    assert.deepEqual(codec.parseValues("[]"), { error: E.noValues });
    for (const bad of ["x", "{}", '[{"a":1}]', "[null]", '"1"']) assert.deepEqual(codec.parseValues(bad), { error: E.wrongRequest }, bad);
    assert.deepEqual(codec.parseExtraPoints('[{"timestamp":5,"value":"1"},{"timestamp":3,"value":2}]', 10), [[5, "1"], [3, "2"]]);
    assert.deepEqual(codec.parseExtraPoints("[]", 10), { error: E.noValues });
    for (const bad of ['[{"value":"1"}]', '[{"timestamp":-1,"value":"1"}]', '[{"timestamp":1.5,"value":"1"}]', '[{"timestamp":1}]', "[1]"]) {
      assert.deepEqual(codec.parseExtraPoints(bad, 10), { error: E.wrongRequest }, bad);
    }
    assert.match(codec.parseExtraPoints(JSON.stringify([{ timestamp: 1, value: "1" }, { timestamp: 2, value: "2" }]), 1).error, /At most 1 points/);
    assert.deepEqual(codec.parseNotify('{"body":"hi"}'), { body: "hi" });
    assert.deepEqual(codec.parseNotify({ body: "x".repeat(255) }), { body: "x".repeat(255) });
    for (const bad of ['{"body":""}', { body: "x".repeat(256) }, "{}", "[]", "no"]) assert.deepEqual(codec.parseNotify(bad), { error: E.notifyBody });
    assert.deepEqual(codec.parseEmail('{"to":"a@b","subj":"S","title":"T"}'), { to: "a@b", subject: "S", body: "T" });
    assert.deepEqual(codec.parseEmail({ to: "a@b", subj: "S" }), { to: "a@b", subject: "S", body: "" });
    for (const bad of ['{"to":"a@b"}', '{"subj":"S"}', '{"to":"","subj":"S"}', "[]"]) assert.deepEqual(codec.parseEmail(bad), { error: E.emailBody });
  });
});
