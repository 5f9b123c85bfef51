"use strict";
const assert = require("node:assert/strict");
const { Redactor, maskSecrets, redactUrls, REDACTION_MASK } = require("../../../dist/nodes/lib/transport/redact.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

describe("transport/redact", function () {
  it("masks with ***", function () {
    assert.equal(REDACTION_MASK, "***");
  });

  describe("redactUrls", function () {
    // [input, expected]
    const cases = [
      // userinfo
      ["mqtt://user:pass@host:1883", "mqtt://user:***@host:1883"],
      ["connect to mqtts://device:Abc123xyz@blynk.cloud:8883 failed", "connect to mqtts://device:***@blynk.cloud:8883 failed"],
      ["wss://u:p%40ss@host/mqtt", "wss://u:***@host/mqtt"],
      ["mqtt://u:p@ss@host:1883", "mqtt://u:***@host:1883"], // an unencoded @ in the password
      ["http://:secret@host/", "http://:***@host/"],
      ["two: http://a:b1@h1/ http://c:d2@h2/", "two: http://a:***@h1/ http://c:***@h2/"],
      // secret query parameters
      ["https://fra1.blynk.cloud/external/api/get?token=abc123&v1", "https://fra1.blynk.cloud/external/api/get?token=***&v1"],
      ["https://api.thingspeak.com/update?api_key=XYZ&field1=5", "https://api.thingspeak.com/update?api_key=***&field1=5"],
      ["/x?field1=5&api_key=XYZ", "/x?field1=5&api_key=***"],
      ["/x?Token=A&KEY=B&apiKey=C&access_token=D&password=E&pass=F&secret=G&auth=H", "/x?Token=***&KEY=***&apiKey=***&access_token=***&password=***&pass=***&secret=***&auth=***"],
      ["/x?write_key=A&read_key=B", "/x?write_key=***&read_key=***"],
      ["/channels/1/bulk_update.csv?write_api_key=A&time_format=absolute", "/channels/1/bulk_update.csv?write_api_key=***&time_format=absolute"],
      ["/x?read_api_key=A", "/x?read_api_key=***"],
      ["/x?token=abc#frag", "/x?token=***#frag"],
      ["/x?token=", "/x?token=***"],
      // non-secret parameters and text stay as they are
      ["https://blynk.cloud/external/api/update?pin=V1&value=23.5", "https://blynk.cloud/external/api/update?pin=V1&value=23.5"],
      ["/x?tokens=1&monkey=2&keyboard=3&passport=4", "/x?tokens=1&monkey=2&keyboard=3&passport=4"],
      ["/external/api/get?token", "/external/api/get?token"],
      ["no url here: token is bad", "no url here: token is bad"],
      ["mailto user@example.com", "mailto user@example.com"],
      ["https://host/path", "https://host/path"],
      ["http://host:8080/x?email=a@b.c", "http://host:8080/x?email=a@b.c"], // no userinfo: the @ is in the query
    ];
    for (const [input, expected] of cases) {
      it(`${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, function () {
        assert.equal(redactUrls(input), expected);
      });
    }
  });

  describe("Redactor", function () {
    // [registered secrets, input, expected]
    const cases = [
      [["abcd1234"], "token abcd1234 refused", "token *** refused"],
      // A short secret glued to other letters is another word (finding 5); a long one is masked anywhere.
      [["abcd1234"], "abcd1234abcd1234", "abcd1234abcd1234"],
      [["AlphaTok_0123456789abcdefghijklm"], "xAlphaTok_0123456789abcdefghijklmAlphaTok_0123456789abcdefghijklm", "x******"],
      // Issue 8, finding 5: whole secrets only; words that contain a short secret stay intact.
      [["xter"], "the external API refused xter", "the external API refused ***"],
      [["pass"], "password and passes, but pass", "password and passes, but ***"],
      [["Secret1"], "Secret1, (Secret1) 'Secret1' \"Secret1\" /Secret1/ Secret1s _Secret1 Secret10 sSecret1", "***, (***) '***' \"***\" /***/ Secret1s _Secret1 Secret10 sSecret1"],
      [["tok-en"], "tok-en and tok-ens and atok-en", "*** and tok-ens and atok-en"],
      [["café"], "cafés and café", "cafés and ***"],
      [["a.b*c"], "a.b*c and aXbbc", "*** and aXbbc"],
      [["ThingSpeakKey16c"], "key=ThingSpeakKey16c; xThingSpeakKey16cx", "key=***; x***x"],
      [["abc"], "abc is too short to be a secret", "abc is too short to be a secret"],
      [["", null, undefined], "nothing registered", "nothing registered"],
      [["p@ss w/rd+1"], "user=p%40ss%20w%2Frd%2B1 and p@ss w/rd+1", "user=*** and ***"],
      [["secret", "secret-longer"], "secret-longer and secret", "*** and ***"],
      [["tok3nValue"], "GET https://h/x?token=tok3nValue&v1 said tok3nValue", "GET https://h/x?token=***&v1 said ***"],
      [["pathTok99"], "POST http://tb/api/v1/pathTok99/telemetry", "POST http://tb/api/v1/***/telemetry"],
    ];
    for (const [secrets, input, expected] of cases) {
      it(`with ${JSON.stringify(secrets)}: ${JSON.stringify(input)} -> ${JSON.stringify(expected)}`, function () {
        assert.equal(new Redactor().add(...secrets).redact(input), expected);
      });
    }

    it("maskSecrets (an HTTP API not echoing a presented token) masks whole secrets only, short ones included", function () {
      const body = '{"error":{"message":"Invalid token x. See /external/api: x"}}';
      assert.equal(maskSecrets(body, ["x"]), '{"error":{"message":"Invalid token ***. See /external/api: ***"}}');
      assert.equal(maskSecrets("nothing to hide", []), "nothing to hide");
      assert.equal(maskSecrets("keys K1 and KEYKEYKEYKEY22 (KEYKEYKEYKEY22x)", new Set(["K1", "KEYKEYKEYKEY22"])), "keys *** and *** (***x)");
    });

    it("also masks secret-shaped URL parts nobody registered", function () {
      assert.equal(new Redactor().redact("mqtt://u:pw@h ?token=t"), "mqtt://u:***@h ?token=***");
    });

    it("is chainable and accumulates secrets", function () {
      const r = new Redactor().add("first1").add("second2");
      assert.equal(r.redact("first1 second2"), "*** ***");
    });

    it("redacts an Error's message and stack into a copy, keeping class, name and code", function () {
      const r = new Redactor().add("hunter22");
      const original = new TransportError("auth", "login with hunter22 refused", { status: 5 });
      const copy = r.redactError(original);
      assert.notEqual(copy, original);
      assert.ok(copy instanceof TransportError);
      assert.equal(copy.name, "TransportError");
      assert.equal(copy.code, "auth");
      assert.equal(copy.status, 5);
      assert.equal(copy.message, "login with *** refused");
      assert.ok(!copy.stack.includes("hunter22"), copy.stack);
      assert.ok(!String(copy).includes("hunter22"));
      assert.ok(!JSON.stringify(copy).includes("hunter22"));
      assert.equal(original.message, "login with hunter22 refused", "the original is untouched");
    });

    it("returns the same Error when there is nothing to redact", function () {
      const err = new Error("all fine");
      assert.equal(new Redactor().add("hunter22").redactError(err), err);
    });

    it("redacts URLs inside error messages", function () {
      const err = new Error("connect mqtt://dev:tok@host failed");
      assert.equal(new Redactor().redactError(err).message, "connect mqtt://dev:***@host failed");
    });
  });
});
