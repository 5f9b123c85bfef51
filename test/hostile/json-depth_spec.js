"use strict";
// Issue 8, finding 4: deeply nested JSON sent to the HTTP device APIs got 500 (the stack ran out
// while checking or copying the value); it must be 400 naming the nesting limit, whether the API
// reads the body itself or a body parser (express.json, as in Node-RED) parsed it first. The
// legacy Blynk HTTP API's JSON bodies (PUT update, PUT extra/pin, POST notify/email) too.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { hostBlynkDevice } = require("../../dist/nodes/lib/blynk/emulation.js");
const { blynkHttpApi } = require("../../dist/nodes/lib/blynk/http-api.js");
const { blynkLegacyHttpApi } = require("../../dist/nodes/lib/blynk/legacy-http-api.js");
const { hostThingsBoardDevice } = require("../../dist/nodes/lib/thingsboard/emulation.js");
const { thingsBoardHttpApi } = require("../../dist/nodes/lib/thingsboard/http-api.js");
const { hostThingSpeakChannel } = require("../../dist/nodes/lib/thingspeak/emulation.js");
const { thingSpeakRestApi } = require("../../dist/nodes/lib/thingspeak/rest-api.js");
const { MAX_JSON_DEPTH } = require("../../dist/nodes/lib/transport/json-limits.js");
const { startEngine } = require("../lib/fixtures/engine.js");

const BROKER_ID = "hostile-json-broker";
const BLYNK_TOKEN = "JsonTok_0123456789abcdefghijklmn";
const TB_TOKEN = "JsonTbTOKEN000000001";
const WRITE_KEY = "JSONWRITEKEY0001";

const nested = (depth, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
const nestedObject = (depth) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

/** Serves the three APIs; with `preParse`, a body parser reads JSON bodies first (as express.json does). */
async function serve(preParse) {
  const apis = [blynkHttpApi(), thingsBoardHttpApi(), thingSpeakRestApi(), blynkLegacyHttpApi()];
  const server = http.createServer(async (req, res) => {
    if (preParse && (req.headers["content-type"] ?? "").includes("json")) {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      req.body = JSON.parse(Buffer.concat(chunks).toString()); // V8's parser itself copes with any depth
    }
    const chain = (i) => {
      if (i === apis.length) {
        res.statusCode = 404;
        res.end("next");
        return;
      }
      apis[i](req, res, () => chain(i + 1));
    };
    chain(0);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

describe("hostile: deeply nested JSON on the HTTP device APIs (finding 4)", function () {
  this.timeout(20_000);
  let engine;
  const unhost = [];

  before(async function () {
    engine = await startEngine();
    brokers.attach(BROKER_ID, engine.engine);
    const warn = () => undefined;
    unhost.push(hostBlynkDevice(BROKER_ID, { id: "j0000000000000001", name: "JsonBlynk", token: BLYNK_TOKEN }, warn));
    unhost.push(hostThingsBoardDevice(BROKER_ID, { id: "j0000000000000002", name: "JsonTb", token: TB_TOKEN }, warn));
    unhost.push(
      hostThingSpeakChannel(BROKER_ID, { id: "j0000000000000003", channelId: 5151, name: "JsonTs", clientId: "JsonClient000000000001", username: "JsonClient000000000001", password: "JsonPassword000000001", writeKey: WRITE_KEY, updateIntervalMs: 0 }, warn),
    );
  });

  after(async function () {
    for (const stop of unhost) stop();
    brokers.detach(BROKER_ID, engine.engine);
    await engine.engine.close();
  });

  const REQUESTS = [
    ["ThingsBoard telemetry", `/api/v1/${TB_TOKEN}/telemetry`, (deep) => deep],
    ["ThingsBoard attributes", `/api/v1/${TB_TOKEN}/attributes`, (deep) => `{"a":${deep}}`],
    ["ThingsBoard client RPC", `/api/v1/${TB_TOKEN}/rpc`, (deep) => `{"method":"m","params":${deep}}`],
    ["Blynk batch update", `/external/api/batch/update?token=${BLYNK_TOKEN}&pin=v1`, (deep) => `[[1700000000000,${deep}]]`],
    ["ThingSpeak update", "/update.json", (deep) => `{"api_key":"${WRITE_KEY}","field1":${deep}}`],
    ["Blynk legacy update", `/${BLYNK_TOKEN}/update/V1`, (deep) => `[${deep}]`, "PUT"],
    ["Blynk legacy extra/pin", `/${BLYNK_TOKEN}/extra/pin/V1`, (deep) => `[{"timestamp":1,"value":${deep}}]`, "PUT"],
    ["Blynk legacy notify", `/${BLYNK_TOKEN}/notify`, (deep) => `{"body":${deep}}`],
    ["Blynk legacy email", `/${BLYNK_TOKEN}/email`, (deep) => `{"to":"a@b","subj":${deep}}`],
  ];

  for (const preParse of [false, true]) {
    describe(preParse ? "body parsed by a body parser first" : "body read by the API", function () {
      let web;
      before(async function () {
        web = await serve(preParse);
      });
      after(function () {
        web.server.closeAllConnections();
        web.server.close();
      });

      for (const [name, path, wrap, method = "POST"] of REQUESTS) {
        for (const [shape, deep] of [
          ["arrays 100,000 deep", nested(100_000)],
          ["objects 50,000 deep", nestedObject(50_000)],
          ["arrays just over the limit", nested(MAX_JSON_DEPTH + 1)],
        ]) {
          it(`${name}: ${shape} -> 400 naming the limit`, async function () {
            const res = await fetch(web.origin + path, { method, headers: { "content-type": "application/json" }, body: wrap(deep) });
            const text = await res.text();
            assert.equal(res.status, 400, text.slice(0, 300));
            assert.match(text, new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`));
          });
        }
      }
    });
  }
});
