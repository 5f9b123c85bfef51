"use strict";
const assert = require("node:assert/strict");
const s = require("../../../dist/nodes/lib/thingspeak/rest-server.js");
const r = require("../../../dist/nodes/lib/thingspeak/rest-codec.js");
const c = require("../../../dist/nodes/lib/thingspeak/codec.js");
const { table } = require("../../support/table.js");

const T0 = Date.UTC(2024, 0, 19, 12, 25, 30);
const Q = { results: 100, status: false, location: false };
const FORM = "application/x-www-form-urlencoded";

describe("thingspeak/rest-server (self-hosted API)", function () {
  table(
    "parseRestRequest: update",
    ([method, path, query, body, type, headers]) => s.parseRestRequest(method, path, query, body, type, headers),
    [
      [["GET", "/update?api_key=W&field1=45&field2=60"], { op: "update", format: "text", apiKey: "W", update: { fields: { 1: "45", 2: "60" } }, ignored: [] }],
      [["get", "/update", { api_key: "W", field1: "1" }], { op: "update", format: "text", apiKey: "W", update: { fields: { 1: "1" } }, ignored: [] }],
      [["POST", "/update.json", undefined, "api_key=W&field1=a+b&status=%C3%BC&timezone=UTC", FORM], { op: "update", format: "json", apiKey: "W", update: { fields: { 1: "a b" }, status: "ü" }, timezone: "UTC", ignored: [] }],
      [["POST", "/update", undefined, Buffer.from('{"api_key":"W","field1":73,"lat":1.5}'), "application/json"], { op: "update", format: "text", apiKey: "W", update: { fields: { 1: "73" }, lat: 1.5 }, ignored: [] }],
      [["POST", "/update", undefined, { field1: "9", talkback_key: "T" }, FORM, { thingspeakapikey: "H" }], { op: "update", format: "text", apiKey: "H", update: { fields: { 1: "9" } }, ignored: ["talkback_key"] }],
      [["POST", "/update", "api_key=Q&field1=1", "field1=2"], { op: "update", format: "text", apiKey: "Q", update: { fields: { 1: "2" } }, ignored: [] }],
      [["GET", "/update?api_key=W&field1=1&created_at=2024-01-19%2012:00:00&timezone=Etc/UTC"], { op: "update", format: "text", apiKey: "W", update: { fields: { 1: "1" }, created_at: "2024-01-19 12:00:00" }, timezone: "Etc/UTC", ignored: [] }],
      [["GET", "/update?api_key=W&field1=1&created_at=2024-01-19T12:00:00-05:00&timezone=America/New_York"], { op: "update", format: "text", apiKey: "W", update: { fields: { 1: "1" }, created_at: "2024-01-19T12:00:00-05:00" }, timezone: "America/New_York", ignored: [] }],
      // A zone-less created_at is read on the named zone's wall clock (New York is 5 h behind UTC in January).
      [["GET", "/update?api_key=W&field1=1&created_at=2024-01-19%2012:00:00&timezone=America/New_York"], { op: "update", format: "text", apiKey: "W", update: { fields: { 1: "1" }, created_at: Date.UTC(2024, 0, 19, 17) }, timezone: "America/New_York", ignored: [] }],
      [["POST", "/update", new URLSearchParams("api_key=W"), "", FORM], { op: "update", format: "text", apiKey: "W", update: { fields: {} }, ignored: [] }],
    ],
  );

  table(
    "parseRestRequest: refusals with the documented status and code",
    ([method, path, query, body, type]) => s.parseRestRequest(method, path, query, body, type),
    [
      [["GET", "/update?field1=1"], { status: 401, error: "error_auth_required", message: "the write API key is missing; send it as api_key or in the THINGSPEAKAPIKEY header" }],
      [["DELETE", "/update"], { status: 405, error: "error_method_invalid", message: "DELETE is not allowed on /update; accepted: GET or POST" }],
      [["GET", "/update.xml"], { status: 404, error: "error_resource_not_found", message: "update.xml is not served here; accepted: /update or /update.json" }],
      [["GET", `/update?api_key=W&status=${"x".repeat(2994)}`], { status: 413, error: "error_request_too_large", message: "the update is 3001 bytes; ThingSpeak accepts at most 3000 bytes per message; shorten the status or field texts" }],
      [["GET", "/update?api_key=W&status=%FF"], { status: 422, error: "error_invalid_byte_sequence", message: 'the value of "status" is not valid UTF-8 after percent-decoding; accepted: UTF-8 text, percent-encoded (RFC 3986)' }],
      [["GET", "/update?api_key=W&lat=100"], { status: 400, error: "error_bad_request", message: 'value for "lat (latitude)" must be between -90 and 90, got 100' }],
      [["POST", "/update", undefined, "{", "application/json"], { status: 400, error: "error_bad_request", message: 'the body is not valid JSON; accepted: a JSON object such as {"api_key":"...","field1":45}' }],
      [["POST", "/update", undefined, 42, FORM], { status: 400, error: "error_bad_request", message: "the body is not form data or JSON; accepted: application/x-www-form-urlencoded or application/json" }],
      [["GET", "/channels/09/feeds.json"], { status: 404, error: "error_resource_not_found", message: 'channel "09" does not exist; accepted: a positive whole number' }],
      [["GET", "/channels/9/fields/9.json"], { status: 404, error: "error_resource_not_found", message: 'field "9" does not exist; accepted: 1 to 8' }],
      [["GET", "/channels/9/feeds.xml"], { status: 404, error: "error_resource_not_found", message: "format xml is not served here; accepted: json, csv" }],
      [["GET", "/channels/9/feeds/last.txt"], { status: 404, error: "error_resource_not_found", message: "format txt is not served here; accepted: json, csv" }],
      [["POST", "/channels/9/feeds.json"], { status: 405, error: "error_method_invalid", message: "POST is not allowed on /channels/9/feeds.json; accepted: GET" }],
      [["GET", "/channels/9/feeds.json?results=abc"], { status: 400, error: "error_bad_request", message: 'results "abc" is not accepted; accepted: a positive whole number' }],
      [["GET", "/channels/9/feeds.json?days=0"], { status: 400, error: "error_bad_request", message: 'days "0" is not accepted; accepted: a positive whole number' }],
      [["GET", "/channels/9/feeds.json?average=10&median=5"], { status: 400, error: "error_bad_request", message: "average, median are not offered by the self-hosted API; accepted: results, days, minutes, start, end, timezone, offset, status, location, prepend, append" }],
      [["GET", "/channels/9/feeds.json?start=2024-01-19%2012:00:00&timezone=Eastern%20Time%20(US%20%26%20Canada)"], { status: 400, error: "error_bad_request", message: 'timezone "Eastern Time (US & Canada)" is not known here; accepted: an IANA time zone such as America/New_York or Europe/Berlin, or UTC' }],
      [["GET", "/update?api_key=W&field1=1&created_at=2024-01-19%2012:00:00&timezone=Mars/Olympus"], { status: 400, error: "error_bad_request", message: 'timezone "Mars/Olympus" is not known here; accepted: an IANA time zone such as America/New_York or Europe/Berlin, or UTC' }],
      [["GET", "/channels/9/feeds.json?offset=15"], { status: 400, error: "error_bad_request", message: 'offset "15" is not accepted; accepted: whole hours from -12 to 14' }],
      [["GET", "/channels/9/feeds.json?end=tomorrow"], { status: 400, error: "error_bad_request", message: 'created_at "tomorrow" (string) is not a time; accepted: a Date, milliseconds since 1970, or ISO 8601 text such as "2024-01-19T12:25:30Z" or "2024-01-19 12:25:30" (read as UTC)' }],
    ],
  );

  it("an unknown path names what is served", function () {
    const got = s.parseRestRequest("GET", "/channels/9/charts/1");
    assert.equal(got.status, 404);
    assert.match(got.message, /is not served here; accepted: \/update, \/channels\/<id>\/feeds/);
  });

  table(
    "parseRestRequest: reads",
    ([path, query, headers]) => s.parseRestRequest("GET", path, query, undefined, undefined, headers),
    [
      ["/channels/9/feeds.json", { op: "feeds", channelId: 9, format: "json", query: Q }],
      ["/channels/9/feeds", { op: "feeds", channelId: 9, format: "json", query: Q }],
      [["/channels/9/feeds.csv?api_key=R&results=20000&status=true&location=true"], { op: "feeds", channelId: 9, format: "csv", apiKey: "R", query: { results: 8000, status: true, location: true } }],
      [["/channels/9/feeds.json", { results: "5", days: "1", minutes: "30" }], { op: "feeds", channelId: 9, format: "json", query: { ...Q, results: 5, days: 1, minutes: 30 } }],
      [["/channels/9/feeds.json?start=2024-01-19%2012:25:30&end=2024-01-19T13:25:30Z"], { op: "feeds", channelId: 9, format: "json", query: { ...Q, results: 8000, start: T0, end: T0 + 3600000 } }],
      [["/channels/9/feeds.json?start=2024-01-19T14:25:30%2B02:00&timezone=Europe/Berlin"], { op: "feeds", channelId: 9, format: "json", query: { ...Q, results: 8000, start: T0, timezone: "Europe/Berlin" } }],
      // Zone-less start and end on the zone's wall clock: Berlin is UTC+1 in January; offset=-3 is 3 h behind UTC.
      [["/channels/9/feeds.json?start=2024-01-19%2013:25:30&timezone=Europe/Berlin"], { op: "feeds", channelId: 9, format: "json", query: { ...Q, results: 8000, start: T0, timezone: "Europe/Berlin" } }],
      [["/channels/9/feeds.json?end=2024-01-19%2009:25:30&offset=-3"], { op: "feeds", channelId: 9, format: "json", query: { ...Q, results: 8000, end: T0, offset: -3 } }],
      [["/channels/9/status.json"], { op: "status", channelId: 9, format: "json", query: { ...Q, results: 8000, days: 1 } }],
      [["/channels/9/status.csv?results=5&minutes=10"], { op: "status", channelId: 9, format: "csv", query: { ...Q, results: 5, minutes: 10 } }],
      [["/channels/9/feeds/last_data_age.json"], { op: "age", channelId: 9, format: "json", query: Q }],
      [["/channels/9/fields/3/last_data_age.txt"], { op: "field-age", channelId: 9, field: 3, format: "txt", query: Q }],
      [["/channels/9/feeds/last.json", undefined, { THINGSPEAKAPIKEY: "H" }], { op: "last", channelId: 9, format: "json", apiKey: "H", query: Q }],
      ["/channels/9/fields/2.csv", { op: "field", channelId: 9, field: 2, format: "csv", query: Q }],
      [["/channels/9/fields/2/last.txt?prepend=%3C&append=%3E"], { op: "field-last", channelId: 9, field: 2, format: "txt", query: { ...Q, prepend: "<", append: ">" } }],
    ].map(([p, e]) => [Array.isArray(p) ? p : [p], e]),
  );

  const ch = { id: 9, name: "House", fieldNames: { 1: "Temp", 2: "Hum" }, last_entry_id: 2 };
  const e1 = c.entryFromUpdate(9, 1, c.parseUpdate("field1=21.5&field2=40&status=ok"), T0);
  const e2 = c.entryFromUpdate(9, 2, c.parseUpdate('field1=22&field2=a,"b"&lat=1&long=2'), T0 + 15000);

  table(
    "formatUpdateAnswer",
    ([format, entry]) => s.formatUpdateAnswer(format, entry),
    [
      [["text", e1], { status: 200, contentType: "text/plain; charset=utf-8", body: "1" }],
      [["json", e1], { status: 200, contentType: "application/json; charset=utf-8", body: c.encodeEntry(e1) }],
      [["text", undefined], { status: 200, contentType: "text/plain; charset=utf-8", body: "0" }],
      [["json", undefined], { status: 200, contentType: "application/json; charset=utf-8", body: "0" }],
    ],
  );

  it("update answers parse back on the client", function () {
    assert.equal(r.parseUpdateAnswer(s.formatUpdateAnswer("text", e2).body), 2);
    assert.equal(r.parseUpdateAnswer(s.formatUpdateAnswer("json", e2).body), 2);
    assert.throws(() => r.parseUpdateAnswer(s.formatUpdateAnswer("text", undefined).body), { code: "rate-limited" });
  });

  it("feeds json round-trips through the client parser", function () {
    const answer = s.formatFeedsAnswer("json", ch, [e1, e2], { status: true, location: true });
    assert.deepEqual(JSON.parse(answer.body), {
      channel: { id: 9, name: "House", field1: "Temp", field2: "Hum", last_entry_id: 2 },
      feeds: [
        { created_at: "2024-01-19T12:25:30Z", entry_id: 1, field1: "21.5", field2: "40", latitude: null, longitude: null, elevation: null, status: "ok" },
        { created_at: "2024-01-19T12:25:45Z", entry_id: 2, field1: "22", field2: 'a,"b"', latitude: "1", longitude: "2", elevation: null, status: null },
      ],
    });
    assert.deepEqual(r.parseFeedsAnswer(answer.body), { channel: { id: 9, name: "House", fieldNames: { 1: "Temp", 2: "Hum" }, last_entry_id: 2 }, feeds: [e1, e2] });
  });

  it("feeds without named fields list all eight; a field read lists only its field", function () {
    const all = JSON.parse(s.formatFeedsAnswer("json", { id: 9, fieldNames: {} }, [e1]).body);
    assert.deepEqual(Object.keys(all.feeds[0]), ["created_at", "entry_id", "field1", "field2", "field3", "field4", "field5", "field6", "field7", "field8"]);
    const one = JSON.parse(s.formatFeedsAnswer("json", ch, [e1], { field: 2 }).body);
    assert.deepEqual(one.feeds, [{ created_at: "2024-01-19T12:25:30Z", entry_id: 1, field2: "40" }]);
  });

  table(
    "CSV answers and parseFeedsCsv",
    ([entries, shape]) => s.formatFeedsAnswer("csv", ch, entries, shape).body,
    [
      [[[e1, e2]], 'created_at,entry_id,field1,field2\n2024-01-19T12:25:30Z,1,21.5,40\n2024-01-19T12:25:45Z,2,22,"a,""b"""\n'],
      [[[e1], { status: true }], "created_at,entry_id,field1,field2,status\n2024-01-19T12:25:30Z,1,21.5,40,ok\n"],
      [[[]], "created_at,entry_id,field1,field2\n"],
    ],
  );

  it("CSV round-trips (quotes, commas, line breaks, CRLF)", function () {
    const tricky = { ...e2, status: 'line1\nline2 "q", end' };
    const body = s.formatFeedsAnswer("csv", ch, [e1, tricky], { status: true, location: true }).body;
    assert.deepEqual(s.parseFeedsCsv(body, 9), [e1, tricky]);
    assert.deepEqual(s.parseFeedsCsv(body.replace(/\n(?=2024|$)/g, "\r\n"), 9), [e1, tricky]);
    assert.deepEqual(s.parseFeedsCsv("", 9), []);
  });

  table(
    "formatLastAnswer",
    ([format, entry, shape]) => s.formatLastAnswer(format, ch, entry, shape).body,
    [
      [["json", e1], '{"created_at":"2024-01-19T12:25:30Z","entry_id":1,"field1":"21.5","field2":"40"}'],
      [["json", e1, { field: 1 }], '{"created_at":"2024-01-19T12:25:30Z","entry_id":1,"field1":"21.5"}'],
      [["csv", e1, { field: 1 }], "created_at,entry_id,field1\n2024-01-19T12:25:30Z,1,21.5\n"],
      [["txt", e1, { field: 1 }], "21.5"],
      [["txt", e1, { field: 1, prepend: "T=", append: "C" }], "T=21.5C"],
      [["txt", e1, { field: 3 }], ""],
      [["json", undefined], "-1"],
      [["txt", undefined, { field: 1 }], "-1"],
    ],
  );

  it("last answers parse back on the client", function () {
    assert.deepEqual(r.parseLastAnswer(s.formatLastAnswer("json", ch, e1).body, 9), { ...e1, status: null });
    assert.equal(r.parseLastAnswer(s.formatLastAnswer("json", ch, undefined).body, 9), undefined);
  });

  table(
    "formatRestError (documented JSON form, or the code as text)",
    ([status, format]) => s.formatRestError(s.restRefusal(status, "details here"), format),
    [
      [[401], { status: 401, contentType: "application/json; charset=utf-8", body: '{"status":"401","error":{"error_code":"error_auth_required","message":"the API key is missing or not valid for this channel","details":"details here"}}' }],
      [[429, "text"], { status: 429, contentType: "text/plain; charset=utf-8", body: "error_too_many_requests" }],
      [[404, "text"], { status: 404, contentType: "text/plain; charset=utf-8", body: "error_resource_not_found" }],
    ],
  );

  it("server errors are described by the client", function () {
    const answer = s.formatRestError(s.restRefusal(401, "wrong key"));
    assert.equal(r.describeRestError(answer.status, answer.body), 'HTTP 401 error_auth_required: the API key is missing or not valid for this channel (server: "wrong key")');
  });

  table(
    "selectEntries (time range, then the last `results`)",
    (query) => s.selectEntries([e1, e2], { ...Q, ...query }, T0 + 60000).map((e) => e.entry_id),
    [
      [{}, [1, 2]],
      [{ results: 1 }, [2]],
      [{ start: T0 + 1000 }, [2]],
      [{ end: T0 }, [1]],
      [{ minutes: 1 }, [1, 2]],
      [{ minutes: 1, results: 1 }, [2]],
      [{ start: T0 + 20000 }, []],
    ],
  );
});
