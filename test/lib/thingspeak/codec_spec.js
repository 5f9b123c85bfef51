"use strict";
const assert = require("node:assert/strict");
const c = require("../../../dist/nodes/lib/thingspeak/codec.js");
const { table } = require("../../support/table.js");

const T0 = Date.UTC(2024, 0, 19, 12, 25, 30);

describe("thingspeak/codec", function () {
  describe("LIMITS (docs/PROTOCOLS.md 5.3)", function () {
    it("holds the documented numbers", function () {
      assert.deepEqual(c.LIMITS, {
        fields: 8,
        messageBytes: 3000,
        updateIntervalMs: { free: 15000, paid: 1000 },
        bulkMessages: { free: 960, paid: 14400 },
        bulkIntervalMs: 15000,
        readResults: 8000,
      });
    });
  });

  table(
    "toFieldNumber",
    (v) => c.toFieldNumber(v),
    [[1, 1], [8, 8], ["3", 3], ["field3", 3], ["Field7", 7], [" field2 ", 2]],
    [
      [9, "field 9 does not exist; accepted: field1 to field8"],
      [0, "field 0 does not exist"],
      ["field9", "field 9 does not exist"],
      [1.5, "is not a field; accepted: field1 to field8"],
      ["temp", '"temp" (string) is not a field'],
      [null, "null is not a field"],
    ],
  );

  table(
    "toChannelUpdate(input, 'field2')",
    (v) => c.toChannelUpdate(v, "field2"),
    [
      [21.5, { fields: { 2: 21.5 } }],
      ["on", { fields: { 2: "on" } }],
      [true, { fields: { 2: true } }],
      [Buffer.from("45"), { fields: { 2: "45" } }],
      [{ field1: 3, field3: "x" }, { fields: { 1: 3, 3: "x" } }],
      [{ 1: 3, 8: 4 }, { fields: { 1: 3, 8: 4 } }],
      [{ fields: { 1: 3 }, status: "ok" }, { fields: { 1: 3 }, status: "ok" }],
      [{ field1: 1, lat: "45.5", long: -73, elevation: 12.5 }, { fields: { 1: 1 }, lat: 45.5, long: -73, elevation: 12.5 }],
      [{ latitude: 10, longitude: 20 }, { fields: {}, lat: 10, long: 20 }],
      [{ status: 42 }, { fields: {}, status: "42" }],
      [{ field1: 1, field2: undefined, field3: null }, { fields: { 1: 1 } }],
      [{ field1: 1, created_at: T0 }, { fields: { 1: 1 }, created_at: T0 }],
      [{ field1: 1, created_at: new Date(T0) }, { fields: { 1: 1 }, created_at: new Date(T0) }],
      [{ field1: 1, created_at: "2014-12-31 23:59:59" }, { fields: { 1: 1 }, created_at: "2014-12-31 23:59:59" }],
    ],
    [
      [{ field9: 1 }, "field 9 does not exist; accepted: field1 to field8"],
      [{ 9: 1 }, "field 9 does not exist"],
      [{ temp: 1 }, 'unknown key "temp"; accepted: field1 to field8 (or the numbers 1 to 8), lat (or latitude), long (or longitude), elevation, status, created_at'],
      [{}, "nothing to write"],
      [{ created_at: T0 }, "nothing to write"],
      [{ field1: null }, "nothing to write"],
      [{ field1: "" }, "field1 is an empty string, which writes nothing"],
      [{ field1: {} }, "field1 cannot be written, got an object; accepted: a non-empty string, a finite number or a boolean"],
      [{ field1: [1, 2] }, "field1 cannot be written, got an array of 2"],
      [{ field1: NaN }, "field1 cannot be written, got NaN (number)"],
      [{ field1: 1, 1: 2 }, "is given twice"],
      [{ lat: 1, latitude: 2 }, "is given twice"],
      [{ lat: 91 }, 'value for "lat (latitude)" must be between -90 and 90, got 91'],
      [{ long: -181 }, "must be between -180 and 180"],
      [{ elevation: "high" }, 'value for "elevation (metres)" must be a number'],
      [{ status: "" }, "status must be non-empty text"],
      [{ field1: 1, created_at: "yesterday" }, 'created_at "yesterday" (string) is not a time; accepted: a Date'],
      [{ field1: 1, created_at: "2024-02-30T00:00:00Z" }, "is not a time"],
      [{ field1: 1, created_at: new Date(NaN) }, "is not a time"],
      [{ field1: 1, created_at: -5 }, "is not a time"],
      [null, "cannot write null; accepted: a single value for one field or an object"],
      [[1, 2], "cannot write an array of 2"],
      [Buffer.from([0xff]), "field2 is a Buffer that is not valid UTF-8"],
    ],
  );

  table(
    "toChannelUpdate(single value, no field)",
    (v) => c.toChannelUpdate(v),
    [],
    [[21.5, "a single value needs a field: set the node's field or msg.topic to one of field1 to field8"]],
  );

  table(
    "mergeUpdates (coalescing: latest value per key wins)",
    ([a, b]) => c.mergeUpdates(a, b),
    [
      [[{ fields: { 1: 1 } }, { fields: { 2: 2 } }], { fields: { 1: 1, 2: 2 } }],
      [[{ fields: { 1: 1, 2: 2 } }, { fields: { 2: 20 } }], { fields: { 1: 1, 2: 20 } }],
      [[{ fields: { 1: 1 }, status: "a" }, { fields: {}, status: "b" }], { fields: { 1: 1 }, status: "b" }],
      [[{ fields: {}, status: "a", lat: 1, long: 2 }, { fields: { 3: 3 } }], { fields: { 3: 3 }, status: "a", lat: 1, long: 2 }],
      [[{ fields: {}, lat: 1, long: 2 }, { fields: {}, lat: 5 }], { fields: {}, lat: 5, long: 2 }],
      [[{ fields: { 1: 1 }, created_at: 1000 }, { fields: { 1: 2 }, created_at: 2000 }], { fields: { 1: 2 }, created_at: 2000 }],
      // An undated later write lets the send time date the row rather than a's older time.
      [[{ fields: { 1: 1 }, created_at: 1000 }, { fields: { 2: 2 } }], { fields: { 1: 1, 2: 2 } }],
    ],
  );

  it("mergeUpdates folds a burst into one update without changing its inputs", function () {
    const writes = [{ fields: { 1: 1 } }, { fields: { 2: 2 } }, { fields: { 1: 3 }, status: "x" }, { fields: { 8: 8 } }];
    const copy = structuredClone(writes);
    assert.deepEqual(writes.reduce(c.mergeUpdates), { fields: { 1: 3, 2: 2, 8: 8 }, status: "x" });
    assert.deepEqual(writes, copy);
  });

  table(
    "encodeUpdate (order field1..8, lat, long, elevation, status, created_at; RFC 3986)",
    (u) => c.encodeUpdate(u),
    [
      [{ fields: { 2: 60, 1: 45 }, status: "MQTTPUBLISH" }, "field1=45&field2=60&status=MQTTPUBLISH"],
      [{ fields: { 1: "a b" } }, "field1=a%20b"],
      [{ fields: { 1: "a&b=c+d" } }, "field1=a%26b%3Dc%2Bd"],
      [{ fields: { 1: "ü€" } }, "field1=%C3%BC%E2%82%AC"],
      [{ fields: { 1: "it's (ok)!*~._-" } }, "field1=it%27s%20%28ok%29%21%2A~._-"],
      [{ fields: { 1: true, 2: false, 3: -0, 4: 1e-7 } }, "field1=1&field2=0&field3=0&field4=1e-7"],
      [{ fields: {}, status: "x", elevation: 3, long: 2, lat: 1 }, "lat=1&long=2&elevation=3&status=x"],
      [{ fields: { 1: 1 }, created_at: T0 }, "field1=1&created_at=2024-01-19T12%3A25%3A30Z"],
      [{ fields: { 1: 1 }, created_at: new Date(T0 + 250) }, "field1=1&created_at=2024-01-19T12%3A25%3A30.250Z"],
      [{ fields: { 1: 1 }, created_at: "2014-12-31 23:59:59" }, "field1=1&created_at=2014-12-31%2023%3A59%3A59"],
      [{ fields: { 1: "x".repeat(2993) } }, `field1=${"x".repeat(2993)}`], // exactly 3000 bytes
    ],
    [
      [{ fields: { 1: "x".repeat(2994) } }, "is 3001 bytes; ThingSpeak accepts at most 3000 bytes per message", "too-large"],
      [{ fields: { 1: "é".repeat(1000) } }, "is 6007 bytes", "too-large"],
      [{ fields: { 9: 1 } }, "field 9 does not exist"],
      [{ fields: {} }, "nothing to write"],
      [{ fields: { 1: "\ud800" } }, "lone UTF-16 surrogate"],
    ],
  );

  table(
    "parseUpdate (server side; tolerant form decoding)",
    (body) => c.parseUpdate(body),
    [
      // The documented mosquitto_pub form: -t channels/<id>/publish -m "field1=45&field2=60&status=MQTTPUBLISH"
      ["field1=45&field2=60&status=MQTTPUBLISH", { fields: { 1: "45", 2: "60" }, status: "MQTTPUBLISH" }],
      [Buffer.from("field1=45"), { fields: { 1: "45" } }],
      ["status=a+b%20c", { fields: {}, status: "a b c" }],
      ["status=a%2Bb%26c%3Dd", { fields: {}, status: "a+b&c=d" }],
      ["status=%C3%BC", { fields: {}, status: "ü" }],
      [Buffer.from("status=héllo wörld"), { fields: {}, status: "héllo wörld" }],
      ["status=100%", { fields: {}, status: "100%" }],
      ["status=%zz", { fields: {}, status: "%zz" }],
      ["field1=1&field1=2", { fields: { 1: "2" } }],
      ["field1=&field2=5&field3", { fields: { 2: "5" } }],
      ["field1=1&&field2=2&", { fields: { 1: "1", 2: "2" } }],
      ["lat=45.5&long=-73.25&elevation=30", { fields: {}, lat: 45.5, long: -73.25, elevation: 30 }],
      ["field1=1&created_at=2014-12-31T23:59:59Z", { fields: { 1: "1" }, created_at: "2014-12-31T23:59:59Z" }],
      ["field1=1&field9=3&twitter=me&api_key=K", { fields: { 1: "1" } }],
      ["", { fields: {} }],
      [`field1=${"x".repeat(2993)}`, { fields: { 1: "x".repeat(2993) } }],
    ],
    [
      [`field1=${"x".repeat(2994)}`, "the update is 3001 bytes", "too-large"],
      ["status=%FF", "is not valid UTF-8 after percent-decoding"],
      ["lat=north", 'value for "lat (latitude)" must be a number'],
      ["lat=95", "must be between -90 and 90"],
      ["field1=1&created_at=soon", "is not a time"],
    ],
  );

  table(
    "parseUpdateForm (api_key, timezone, ignored keys, size)",
    (body) => c.parseUpdateForm(body),
    [
      ["api_key=K&field1=1&timezone=UTC&field9=2&tweet=x", { update: { fields: { 1: "1" } }, apiKey: "K", timezone: "UTC", ignored: ["field9", "tweet"], bytes: 8 }],
      ["field1=45&field2=60&status=MQTTPUBLISH", { update: { fields: { 1: "45", 2: "60" }, status: "MQTTPUBLISH" }, ignored: [], bytes: 38 }],
      [{ api_key: "K", field1: 73, status: ["a", "b"] }, { update: { fields: { 1: "73" }, status: "b" }, apiKey: "K", ignored: [], bytes: 18 }],
    ],
  );

  describe("round trips encode -> parse", function () {
    const updates = [
      { fields: { 1: "45", 2: "60" }, status: "MQTTPUBLISH" },
      { fields: { 1: "a b & c = d + e % f" } },
      { fields: { 3: "ü€😀", 8: "日本" }, status: "line\nbreak" },
      { fields: { 1: "1" }, lat: -33.5, long: 151.25, elevation: 10, status: "s", created_at: "2024-01-19T12:25:30Z" },
      { fields: { 5: "x".repeat(2993) } },
    ];
    for (const u of updates) {
      it(JSON.stringify(u).slice(0, 80), function () {
        assert.deepEqual(c.parseUpdate(c.encodeUpdate(u)), u);
      });
    }
  });

  table(
    "topics (builders)",
    ([fn, ...args]) => c[fn](...args),
    [
      [["publishTopic", 12], "channels/12/publish"],
      [["publishTopic", "12"], "channels/12/publish"],
      [["publishFieldTopic", 12, 3], "channels/12/publish/fields/field3"],
      [["publishFieldTopic", 12, "field8"], "channels/12/publish/fields/field8"],
      [["subscribeTopic", 12], "channels/12/subscribe"],
      [["subscribeFieldTopic", 12, 1], "channels/12/subscribe/fields/field1"],
      [["subscribeFieldTopic", 12, "+"], "channels/12/subscribe/fields/+"],
    ],
    [
      [["publishTopic", 0], 'value for "channel id" must be at least 1'],
      [["publishTopic", 1.5], 'value for "channel id" must be a whole number'],
      [["publishTopic", "abc"], 'value for "channel id" must be a whole number'],
      [["publishFieldTopic", 12, 9], "field 9 does not exist"],
      [["publishFieldTopic", 12, "+"], '"+" (string) is not a field'],
    ],
  );

  table(
    "parseTopic",
    (t) => c.parseTopic(t),
    [
      ["channels/12/publish", { kind: "publish", channelId: 12 }],
      ["channels/12/publish/fields/field3", { kind: "publish-field", channelId: 12, field: 3 }],
      ["channels/12/subscribe", { kind: "subscribe", channelId: 12 }],
      ["channels/12/subscribe/fields/field8", { kind: "subscribe-field", channelId: 12, field: 8 }],
      ["channels/12/subscribe/fields/+", { kind: "subscribe-field", channelId: 12, field: "+" }],
      ["channels/12/publish/fields/+", undefined],
      ["channels/12/publish/fields/field9", undefined],
      ["channels/12/publish/fields/field0", undefined],
      ["channels/012/publish", undefined],
      ["channels/0/publish", undefined],
      ["channels/99999999999999999999/publish", undefined],
      ["channels/12/publish/WRITEKEY", undefined],
      ["channels/12/subscribe/json/READKEY", undefined],
      ["channels/12/subscribe/#", undefined],
      ["channels/+/subscribe", undefined],
      ["v1/devices/me/telemetry", undefined],
    ],
  );

  it("topic builders round-trip through parseTopic", function () {
    for (const n of c.FIELD_NUMBERS) {
      assert.deepEqual(c.parseTopic(c.publishFieldTopic(7, n)), { kind: "publish-field", channelId: 7, field: n });
      assert.deepEqual(c.parseTopic(c.subscribeFieldTopic(7, n)), { kind: "subscribe-field", channelId: 7, field: n });
    }
    assert.deepEqual(c.parseTopic(c.publishTopic(7)), { kind: "publish", channelId: 7 });
    assert.deepEqual(c.parseTopic(c.subscribeTopic(7)), { kind: "subscribe", channelId: 7 });
  });

  table(
    "field-topic payloads",
    ([value, field]) => c.encodeFieldPayload(value, field),
    [
      [[45, 1], "45"],
      [["a b&c", 2], "a b&c"], // raw text: field topics are not form-encoded
      [[true, 3], "1"],
      [["x".repeat(3000), 4], "x".repeat(3000)],
    ],
    [
      [["", 1], "field1 is an empty string"],
      [[1, 9], "field 9 does not exist"],
      [["x".repeat(3001), 4], "is 3001 bytes", "too-large"],
    ],
  );

  table(
    "parseFieldPayload",
    (p) => c.parseFieldPayload(p),
    [[Buffer.from("45"), "45"], ["a+b%20", "a+b%20"], [Buffer.from("ü"), "ü"]],
    [[Buffer.from([0xc3]), "not valid UTF-8"]],
  );

  const entry = {
    channel_id: 12, created_at: "2024-01-19T12:25:30Z", entry_id: 7,
    field1: "45", field2: "60", field3: null, field4: null, field5: null, field6: null, field7: null, field8: null,
    latitude: null, longitude: null, elevation: null, status: "MQTTPUBLISH",
  };
  const entryJson =
    '{"channel_id":12,"created_at":"2024-01-19T12:25:30Z","entry_id":7,"field1":"45","field2":"60","field3":null,"field4":null,' +
    '"field5":null,"field6":null,"field7":null,"field8":null,"latitude":null,"longitude":null,"elevation":null,"status":"MQTTPUBLISH"}';

  table(
    "entryFromUpdate (server side: a device's publish -> the stored entry)",
    ([update, now]) => c.entryFromUpdate(12, 7, update, now),
    [
      [[c.parseUpdate("field1=45&field2=60&status=MQTTPUBLISH"), T0], entry],
      [[c.parseUpdate("field1=45&field2=60&status=MQTTPUBLISH"), new Date(T0 + 999)], entry],
      [[{ fields: { 1: "45", 2: 60 }, status: "MQTTPUBLISH", created_at: "2024-01-19 14:25:30+02:00" }, 0], entry],
      [[{ fields: { 8: true }, lat: 1.5, long: -2, elevation: 100 }, T0], { ...entry, field1: null, field2: null, field8: "1", latitude: "1.5", longitude: "-2", elevation: "100", status: null }],
    ],
  );

  table(
    "encodeEntry / parseEntry (subscribe JSON)",
    ([fn, v]) => (fn === "encode" ? c.encodeEntry(v) : c.parseEntry(v)),
    [
      [["encode", entry], entryJson],
      [["parse", entryJson], entry],
      [["parse", Buffer.from(entryJson)], entry],
      [["parse", { ...entry, field1: 45, field3: undefined, extra: "ignored" }], entry],
      [["parse", { ...entry, entry_id: "7" }], entry],
    ],
    [
      [["parse", "{not json"], "the entry is not JSON"],
      [["parse", "[1]"], "the entry is an array of 1"],
      [["parse", { ...entry, entry_id: 0 }], "entry key entry_id is 0 (number); accepted: a positive whole number"],
      [["parse", { ...entry, channel_id: undefined }], "entry key channel_id is undefined"],
      [["parse", { ...entry, created_at: 5 }], "entry key created_at is 5 (number)"],
      [["parse", { ...entry, created_at: "later" }], "is not a time"],
      [["parse", { ...entry, field2: { a: 1 } }], "entry key field2 is an object"],
    ],
  );

  it("parseEntry fills channel_id from the argument (REST entries carry none)", function () {
    const rest = { ...entry };
    delete rest.channel_id;
    assert.deepEqual(c.parseEntry(rest, 12), entry);
  });

  it("entryMessages: the JSON on subscribe, then each present field on its field topic", function () {
    assert.deepEqual(c.entryMessages(entry), [
      { topic: "channels/12/subscribe", payload: entryJson },
      { topic: "channels/12/subscribe/fields/field1", payload: "45" },
      { topic: "channels/12/subscribe/fields/field2", payload: "60" },
    ]);
  });

  it("entryFields and entryField", function () {
    assert.deepEqual(c.entryFields({ ...entry, field3: "007", field4: "on" }), { 1: 45, 2: 60, 3: "007", 4: "on" });
    assert.deepEqual(c.entryFields(entry, { raw: true }), { 1: "45", 2: "60" });
    assert.equal(c.entryField(entry, "field2"), "60");
    assert.equal(c.entryField(entry, 3), undefined);
  });

  table(
    "createdAtMs",
    (v) => c.createdAtMs(v),
    [
      [T0, T0],
      [new Date(T0), T0],
      ["2024-01-19T12:25:30Z", T0],
      ["2024-01-19 12:25:30", T0],
      ["2024-01-19 12:25:30 UTC", T0],
      ["2024-01-19T14:25:30+02:00", T0],
      ["2024-01-19T07:25:30-0500", T0],
      ["2024-01-19T12:25:30.5Z", T0 + 500],
      ["2024-01-19", Date.UTC(2024, 0, 19)],
    ],
    [["2024-13-01", "is not a time"], ["2024-01-19T24:00:00Z", "is not a time"], ["12:00", "is not a time"], [1.5, "is not a time"]],
  );
});
