"use strict";
const assert = require("node:assert/strict");
const transport = require("../../../dist/nodes/lib/transport/index.js");

describe("transport/index", function () {
  it("re-exports the public API of every transport module", function () {
    const expected = [
      "TransportError", "toError", "Backoff", "Redactor", "redactUrls", "REDACTION_MASK", "TypedEmitter",
      "assertTopicName", "assertTopicFilter", "topicMatches", "filterCovers", "HttpClient", "HttpError",
      "Correlator", "TokenBucket", "toNumber", "toInteger", "toBoolean", "toText", "toJsonText",
      "parseScalar", "coerce", "describeValue", "Outbox", "MqttSession",
    ];
    for (const name of expected) assert.equal(typeof transport[name], name === "REDACTION_MASK" ? "string" : "function", name);
  });
});
