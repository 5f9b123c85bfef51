"use strict";
const assert = require("node:assert/strict");
const r = require("../../../dist/nodes/lib/thingspeak/rest-codec.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");
const { table } = require("../../support/table.js");

const T0 = Date.UTC(2024, 0, 19, 12, 25, 30);
const FORM = { "Content-Type": "application/x-www-form-urlencoded", THINGSPEAKAPIKEY: "WKEY" };

describe("thingspeak/rest-codec (client)", function () {
  table(
    "buildUpdateRequest",
    ([update, options]) => r.buildUpdateRequest(update, "WKEY", options),
    [
      [[{ fields: { 1: 45, 2: 60 }, status: "a b" }], { method: "POST", path: "/update", query: {}, body: "field1=45&field2=60&status=a%20b", headers: FORM }],
      [[{ fields: { 1: 45 } }, { format: "json" }], { method: "POST", path: "/update.json", query: {}, body: "field1=45", headers: FORM }],
      [[{ fields: { 1: 45 }, created_at: T0 }, { method: "GET" }], { method: "GET", path: "/update", query: { api_key: "WKEY", field1: "45", created_at: "2024-01-19T12:25:30Z" } }],
      [[{ fields: { 3: true }, lat: 1, long: 2 }, { method: "GET", format: "json" }], { method: "GET", path: "/update.json", query: { api_key: "WKEY", field3: "1", lat: "1", long: "2" } }],
    ],
    [
      [[{ fields: {} }], "nothing to write"],
      [[{ fields: { 1: "x".repeat(2994) } }], "3001 bytes", "too-large"],
      [[{ fields: { 1: 1 } }, { method: "PUT" }], 'method "PUT" (string) is not offered; accepted: POST, GET'],
      [[{ fields: { 1: 1 } }, { format: "xml" }], "answer format"],
    ],
  );

  table(
    "write key checks (the key never appears in messages)",
    (key) => r.buildUpdateRequest({ fields: { 1: 1 } }, key),
    [],
    [
      [undefined, "the write API key must be set, got undefined"],
      ["", "got an empty string"],
      ["SECRET KEY", "got text with spaces or control characters"],
    ],
  );

  table(
    "buildBulkUpdateRequest",
    ([updates, tier]) => r.buildBulkUpdateRequest(9, "WKEY", updates, tier),
    [
      [
        [[{ fields: { 1: 1.5, 2: "x" }, created_at: T0, lat: 1, long: 2, elevation: 3, status: "s" }, { fields: { 3: false }, delta_t: 15 }]],
        {
          method: "POST",
          path: "/channels/9/bulk_update.json",
          query: {},
          body: {
            write_api_key: "WKEY",
            updates: [
              { created_at: "2024-01-19T12:25:30Z", field1: 1.5, field2: "x", latitude: 1, longitude: 2, elevation: 3, status: "s" },
              { delta_t: 15, field3: 0 },
            ],
          },
          headers: { "Content-Type": "application/json" },
        },
      ],
    ],
    [
      [[[]], "a bulk update needs a non-empty array of updates"],
      [["x"], "a bulk update needs a non-empty array"],
      [[[{ fields: { 1: 1 } }]], "bulk update 0 needs exactly one of created_at or delta_t"],
      [[[{ fields: { 1: 1 }, created_at: T0, delta_t: 1 }]], "needs exactly one of created_at or delta_t"],
      [[[{ fields: { 1: 1 }, delta_t: -1 }]], 'value for "bulk update 0 delta_t" must be at least 0'],
      [[[{ fields: { 9: 1 }, delta_t: 1 }]], "field 9 does not exist"],
      [[Array.from({ length: 961 }, () => ({ fields: { 1: 1 }, delta_t: 15 }))], "961 messages is over the free limit; accepted: 1 to 960", "too-large"],
      [[Array.from({ length: 14401 }, () => ({ fields: { 1: 1 }, delta_t: 1 })), "paid"], "accepted: 1 to 14400", "too-large"],
    ],
  );

  it("bulk accepts exactly 960 (free) and 14400 (paid)", function () {
    assert.equal(r.buildBulkUpdateRequest(9, "K", Array.from({ length: 960 }, () => ({ fields: { 1: 1 }, delta_t: 15 }))).body.updates.length, 960);
    assert.equal(r.buildBulkUpdateRequest(9, "K", Array.from({ length: 14400 }, () => ({ fields: { 1: 1 }, delta_t: 1 })), "paid").body.updates.length, 14400);
  });

  table(
    "read request builders",
    ([fn, ...args]) => r[fn](...args),
    [
      [["buildFeedsRequest", 9], { method: "GET", path: "/channels/9/feeds.json", query: {} }],
      [["buildFeedsRequest", 9, { readKey: "RKEY", results: 8000, status: true, location: true }], { method: "GET", path: "/channels/9/feeds.json", query: { api_key: "RKEY", results: "8000", status: "true", location: "true" } }],
      [["buildFeedsRequest", 9, { start: T0, end: new Date(T0 + 60000) }], { method: "GET", path: "/channels/9/feeds.json", query: { start: "2024-01-19 12:25:30", end: "2024-01-19 12:26:30", timezone: "UTC" } }],
      [["buildFeedsRequest", 9, { start: "2024-01-19 12:25:30", timezone: "Europe/Berlin", format: "csv" }], { method: "GET", path: "/channels/9/feeds.csv", query: { start: "2024-01-19 12:25:30", timezone: "Europe/Berlin" } }],
      [["buildFeedsRequest", 9, { days: 2, minutes: 30 }], { method: "GET", path: "/channels/9/feeds.json", query: { days: "2", minutes: "30" } }],
      [["buildFieldRequest", 9, "field2", { results: 10 }], { method: "GET", path: "/channels/9/fields/2.json", query: { results: "10" } }],
      [["buildLastRequest", 9, { readKey: "RKEY" }], { method: "GET", path: "/channels/9/feeds/last.json", query: { api_key: "RKEY" } }],
      [["buildLastRequest", 9, { format: "csv", timezone: "UTC" }], { method: "GET", path: "/channels/9/feeds/last.csv", query: { timezone: "UTC" } }],
      [["buildFieldLastRequest", 9, 3, { format: "txt" }], { method: "GET", path: "/channels/9/fields/3/last.txt", query: {} }],
    ],
    [
      [["buildFeedsRequest", 9, { results: 8001 }], 'value for "results" must be between 1 and 8000'],
      [["buildFeedsRequest", 9, { results: 0 }], "between 1 and 8000"],
      [["buildFeedsRequest", 9, { start: "last week" }], "is not a time"],
      [["buildFeedsRequest", 9, { format: "xml" }], "format \"xml\" (string) is not offered; accepted: json, csv"],
      [["buildLastRequest", 9, { format: "txt" }], "accepted: json, csv"],
      [["buildFieldRequest", 9, 0], "field 0 does not exist"],
      [["buildFeedsRequest", -1], "channel id"],
      [["buildFeedsRequest", 9, { readKey: "" }], "the read API key must be set"],
    ],
  );

  const updateEntry = {
    channel_id: 266256, created_at: "2018-09-10T17:41:59Z", entry_id: 2, field1: "123", field2: null, field3: null, field4: null,
    field5: null, field6: null, field7: null, field8: null, latitude: null, longitude: null, elevation: null, status: null,
  };

  table(
    "parseUpdateAnswer",
    (body) => r.parseUpdateAnswer(body),
    [["18", 18], [" 18\n", 18], [Buffer.from("7"), 7], [42, 42], [JSON.stringify(updateEntry), 2], [updateEntry, 2]],
    [
      ["0", "ThingSpeak did not store the update (answer 0)", "rate-limited"],
      [0, "most likely it came sooner than the channel's update interval", "rate-limited"],
      ["-1", "the write API key is not accepted", "auth"],
      ["<html>", "is not an entry id", "protocol"],
      [{ entry_id: "x" }, "is not an entry id", "protocol"],
    ],
  );

  it("a 0 answer is retryable", function () {
    assert.throws(() => r.parseUpdateAnswer("0"), (err) => err instanceof TransportError && err.retryable === true);
  });

  const feeds = {
    channel: { id: 9, name: "House", latitude: "0.0", field1: "Temp", field2: "Hum", created_at: "2024-01-01T00:00:00Z", last_entry_id: 2 },
    feeds: [
      { created_at: "2024-01-19T12:25:30Z", entry_id: 1, field1: "21.5", field2: "40" },
      { created_at: "2024-01-19T12:25:45Z", entry_id: 2, field1: "22", field2: null },
    ],
  };
  const blank = { field3: null, field4: null, field5: null, field6: null, field7: null, field8: null, latitude: null, longitude: null, elevation: null, status: null };

  table(
    "parseFeedsAnswer",
    (body) => r.parseFeedsAnswer(body),
    [
      [
        JSON.stringify(feeds),
        {
          channel: { id: 9, name: "House", latitude: "0.0", fieldNames: { 1: "Temp", 2: "Hum" }, created_at: "2024-01-01T00:00:00Z", last_entry_id: 2 },
          feeds: [
            { channel_id: 9, created_at: "2024-01-19T12:25:30Z", entry_id: 1, field1: "21.5", field2: "40", ...blank },
            { channel_id: 9, created_at: "2024-01-19T12:25:45Z", entry_id: 2, field1: "22", field2: null, ...blank },
          ],
        },
      ],
      [{ channel: { id: "9" }, feeds: [] }, { channel: { id: 9, fieldNames: {} }, feeds: [] }],
    ],
    [
      ["-1", "ThingSpeak answered -1: the channel is private and the read API key is missing or wrong", "auth"],
      ["[]", 'is not {"channel": {...}, "feeds": [...]}', "protocol"],
      [{ channel: {}, feeds: [] }, "the channel id undefined (no value) of a read answer", "protocol"],
      [{ channel: { id: 9 }, feeds: [{ entry_id: 1 }] }, "ThingSpeak answered an unusable entry: entry key created_at", "protocol"],
    ],
  );

  table(
    "parseLastAnswer",
    (body) => r.parseLastAnswer(body, 9),
    [
      [JSON.stringify(feeds.feeds[0]), { channel_id: 9, created_at: "2024-01-19T12:25:30Z", entry_id: 1, field1: "21.5", field2: "40", ...blank }],
      ["-1", undefined],
      [-1, undefined],
    ],
    [["{}", "entry key created_at", "protocol"]],
  );

  table(
    "describeRestError (TS-ERR codes in words)",
    ([status, body]) => r.describeRestError(status, body),
    [
      [[401, '{"status":"401","error":{"error_code":"error_auth_required","message":"Please provide proper authentication details.","details":"Invalid API key"}}'],
        'HTTP 401 error_auth_required: the API key is missing or not valid for this channel (server: "Please provide proper authentication details.; Invalid API key")'],
      [[429, "error_too_many_requests"], "HTTP 429 error_too_many_requests: too many requests: faster than the channel's update interval (15 s free, 1 s paid) or a rate limit"],
      [[400, ""], "HTTP 400 error_bad_request: the request is malformed or a parameter is not accepted"],
      [[402], "HTTP 402 error_payment_required: the account's license or message quota does not allow this"],
      [[404, "error_resource_not_found"], "HTTP 404 error_resource_not_found: there is no such channel, field or API path"],
      [[405], "HTTP 405 error_method_invalid: this HTTP method is not allowed on this path"],
      [[409], "HTTP 409 error_conflict: it conflicts with stored data (e.g. an entry with the same created_at exists)"],
      [[413], "HTTP 413 error_request_too_large: the request is too large (at most 3000 bytes per message)"],
      [[421], "HTTP 421 error_no_action: the server had nothing to do with the request (e.g. no value to write)"],
      [[422], "HTTP 422 error_invalid_byte_sequence: the request holds bytes that are not valid UTF-8"],
      [[503, "<html>busy</html>"], "HTTP 503: ThingSpeak has a server problem; try again later"],
      [[418], "HTTP 418: unexpected answer"],
      [[200, "0"], "ThingSpeak did not store the update (answer 0), most likely because of the update interval"],
      [[200, "-1"], "ThingSpeak answered -1: the channel is private and the read API key is missing or wrong (or, for a last-entry read, the channel has no entries yet)"],
    ],
  );

  table(
    "restError codes",
    (status) => {
      const err = r.restError(status, "");
      return [err.code, err.status, err.retryable];
    },
    [[401, ["auth", 401, false]], [429, ["rate-limited", 429, true]], [413, ["too-large", 413, false]], [400, ["http", 400, false]], [500, ["http", 500, true]]],
  );
});
