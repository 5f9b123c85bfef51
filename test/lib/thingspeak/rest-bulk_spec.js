"use strict";
// ThingSpeak's bulk_update.json body, server side: updates checked, then their times resolved.
const { parseBulkBody, resolveTimes } = require("../../../dist/nodes/lib/thingspeak/rest-bulk.js");
const { table } = require("../../support/table.js");

const NOW = Date.UTC(2024, 0, 19, 12, 0, 0);
const body = (updates, extra = {}) => JSON.stringify({ write_api_key: "W", updates, ...extra });

describe("thingspeak/rest-bulk (bulk_update.json)", function () {
  table(
    "parseBulkBody",
    (input) => parseBulkBody(input, 3),
    [
      [body([{ created_at: "2024-01-19 11:00:00", field1: 21.5, field2: "on" }]), { apiKey: "W", items: [{ update: { fields: { 1: "21.5", 2: "on" } }, at: Date.UTC(2024, 0, 19, 11) }] }],
      [Buffer.from(body([{ created_at: 1705662000, status: "ok" }, { delta_t: "15", latitude: 52.5, longitude: 13.4, elevation: 34 }])), {
        apiKey: "W",
        items: [
          { update: { fields: {}, status: "ok" }, at: 1705662000000 },
          { update: { fields: {}, lat: 52.5, long: 13.4, elevation: 34 }, deltaS: 15 },
        ],
      }],
      // A body parser's object, no key (it may come in a header), ignored keys.
      [{ updates: [{ delta_t: 0, field8: 1, twitter: "x" }] }, { items: [{ update: { fields: { 8: "1" } }, deltaS: 0 }] }],
      [{ updates: [{ created_at: "2024-01-19T11:00:00+01:00", field1: "1" }] }, { items: [{ update: { fields: { 1: "1" } }, at: Date.UTC(2024, 0, 19, 10) }] }],
    ],
    [
      ["{", "the body is not valid JSON"],
      ["[]", "the body must be a JSON object"],
      [body([]), "updates must be a non-empty array"],
      [body("x"), "updates must be a non-empty array"],
      [JSON.stringify({ write_api_key: 7, updates: [{ delta_t: 1, field1: 1 }] }), "write_api_key must be text"],
      [body([{ delta_t: 1 }, { delta_t: 1 }, { delta_t: 1 }, { delta_t: 1 }]), "has 4 updates; accepted: at most 3 per call", "too-large"],
      [body([7]), "update 0 is not an object"],
      [body([{ field1: 1 }]), "update 0 needs created_at or delta_t (one of them)"],
      [body([{ field1: 1, created_at: "2024-01-19 11:00:00", delta_t: 5 }]), "update 0 needs created_at or delta_t"],
      [body([{ delta_t: 1, field1: 1 }, { delta_t: 0, field1: 2 }]), "update 1: delta_t 0 is not accepted"],
      [body([{ delta_t: -1, field1: 1 }]), "update 0: delta_t -1 is not accepted"],
      [body([{ delta_t: 5, field1: 1 }, { created_at: "2024-01-19 11:00:00", field1: 2 }]), "update 0 has delta_t but a later update has created_at"],
      [body([{ created_at: "yesterday", field1: 1 }]), ["update 0:", '"yesterday"', "is not a time"]],
      [body([{ created_at: -5, field1: 1 }]), "update 0: created_at -5 is not a time"],
      [body([{ created_at: 1, lat: 100 }]), ["update 0:", "lat (latitude)", "between -90 and 90"]],
      [body([{ created_at: 1, status: "x".repeat(3000) }]), ["update 0:", "3000 bytes"], "too-large"],
    ],
  );

  table(
    "resolveTimes",
    (items) => resolveTimes(items, NOW).map((u) => (u.created_at - NOW) / 1000),
    [
      // Only relative times: the last update is now, the others count back.
      [[{ update: { fields: {} }, deltaS: 0 }, { update: { fields: {} }, deltaS: 10 }, { update: { fields: {} }, deltaS: 5 }], [-15, -5, 0]],
      // From the first created_at on; a later created_at stands as given, delta_t counts on from it.
      [[{ update: { fields: {} }, at: NOW - 60_000 }, { update: { fields: {} }, deltaS: 20 }, { update: { fields: {} }, at: NOW }, { update: { fields: {} }, deltaS: 1 }], [-60, -40, 0, 1]],
      [[{ update: { fields: {} }, at: NOW - 1500 }], [-1.5]],
    ],
  );
});
