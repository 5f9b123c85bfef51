"use strict";
// The ThingsBoard link in http mode (Node-RED is a device over the HTTP device API) against a
// loopback HTTP server standing in for ThingsBoard: requests as documented, long polls that
// answer 408 / an update / an RPC, replies with the right id, refusals in words.
const assert = require("node:assert/strict");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { startHttpServer, unusedPort } = require("../fixtures/http-server.js");
const { until, untilStatus } = require("../../support/wait.js");

const TOKEN = "HttpTOKEN0123456789a";
const API = `/api/v1/${TOKEN}`;

describe("ThingsBoard link, http mode (Node-RED is the device over HTTP)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });
  async function server() {
    const s = await startHttpServer();
    cleanups.push(() => s.close());
    return s;
  }
  function link(origin, extra = {}) {
    const l = createThingsBoardLink({ connection: "http", token: TOKEN, server: origin, name: "Pi", pollTimeoutMs: 1000, pollBackoff: { initialMs: 10, maxMs: 20 }, http: { retries: 0 }, ...extra });
    cleanups.push(() => l.close());
    const got = { incoming: [], warnings: [] };
    l.on("incoming", (m) => got.incoming.push(m));
    l.on("warning", (w) => got.warnings.push(w));
    return { l, got };
  }

  it("posts telemetry and attributes, reads attributes and calls the server as documented", async function () {
    const s = await server();
    s.hang("GET", `${API}/attributes/updates`).hang("GET", `${API}/rpc`);
    s.reply("POST", `${API}/telemetry`, 200, "").reply("POST", `${API}/attributes`, 200, "");
    s.reply("GET", `${API}/attributes`, 200, { client: { fw: "1.0" }, shared: { interval: 5 } });
    s.reply("POST", `${API}/rpc`, 200, { time: 1700000000000 });
    const { l } = link(s.origin);
    l.start();
    const ts = 1_700_000_000_000;
    await l.sendTelemetry([{ ts, values: { temperature: 21.5 } }, { ts: ts + 1, values: { temperature: 21.6 } }]);
    await l.publishAttributes({ fw: "1.0" });
    assert.deepEqual(await l.requestAttributes({ clientKeys: ["fw"], sharedKeys: "interval" }), { client: { fw: "1.0" }, shared: { interval: 5 } });
    assert.deepEqual(await l.callRpc("getTime", {}, { timeoutMs: 2000 }), { time: 1700000000000 });
    const sent = s.requests.filter((r) => !r.path.endsWith("/updates") && !(r.method === "GET" && r.path.endsWith("/rpc")));
    assert.deepEqual(sent.map((r) => [r.method, r.path.slice(API.length), r.rawQuery, r.text]), [
      ["POST", "/telemetry", "", JSON.stringify([{ ts, values: { temperature: 21.5 } }, { ts: ts + 1, values: { temperature: 21.6 } }])],
      ["POST", "/attributes", "", '{"fw":"1.0"}'],
      ["GET", "/attributes", "clientKeys=fw&sharedKeys=interval", ""],
      ["POST", "/rpc", "", '{"method":"getTime","params":{}}'],
    ]);
    assert.equal(sent[0].headers["content-type"], "application/json");
    assert.equal((await untilStatus(l, (st) => st.state === "connected")).state, "connected");
  });

  it("long-polls shared attribute updates and server RPC (408 = poll again) and posts the reply with the request's id", async function () {
    const s = await server();
    s.sequence("GET", `${API}/attributes/updates`, [[408, ""], [200, { targetTemperature: 22 }], [408, ""]]);
    s.sequence("GET", `${API}/rpc`, [[408, ""], [200, { id: 5, method: "setGpio", params: { pin: 4 } }], [408, ""]]);
    s.reply("POST", `${API}/rpc/5`, 200, "");
    const { l, got } = link(s.origin);
    l.start();
    await until(() => got.incoming.length === 2, 5000, "the attribute update and the RPC");
    const update = got.incoming.find((m) => m.kind === "attributes");
    assert.deepEqual([update.scope, update.values, update.device], ["shared", { targetTemperature: 22 }, "Pi"]);
    const rpc = got.incoming.find((m) => m.kind === "rpc");
    assert.deepEqual([rpc.method, rpc.params, rpc.id], ["setGpio", { pin: 4 }, 5]);
    await l.replyRpc({ id: rpc.id }, { done: true });
    const posted = s.requests.find((r) => r.method === "POST" && r.path === `${API}/rpc/5`);
    assert.equal(posted.text, '{"done":true}');
    const polls = s.requests.filter((r) => r.path.endsWith("/updates"));
    assert.ok(polls.length >= 3, "polls again after 408 and after an answer");
    assert.equal(polls[0].query.get("timeout"), "1000");
    assert.deepEqual(got.warnings, []);
  });

  it("shows 401 as auth failed and network failures as disconnected, backing off; refusals in words without the token", async function () {
    const s = await server();
    s.reply("*", `${API}/attributes/updates`, 401, "").reply("*", `${API}/rpc`, 401, "").reply("POST", `${API}/telemetry`, 401, "");
    const { l } = link(s.origin);
    l.start();
    const refused = await untilStatus(l, (st) => st.state === "auth-failed");
    assert.match(refused.reason, /unauthorized: ThingsBoard does not know this access token \(HTTP 401\)/);
    assert.equal(refused.refusal, 401, "the HTTP status travels as the refusal code");
    await assert.rejects(l.sendTelemetry({ a: 1 }), (err) => err.code === "auth" && !err.message.includes(TOKEN));
    await assert.rejects(l.sendTelemetry({ a: undefined }), /undefined/);
    await assert.rejects(l.publishAttributes({ a: 1 }, { device: "Other" }), /only a gateway has/);

    const down = link(`http://127.0.0.1:${await unusedPort()}`);
    down.l.start();
    const lost = await untilStatus(down.l, (st) => st.state === "disconnected" && st.reason !== "not started");
    assert.match(lost.reason, /refused|ECONNREFUSED/i);
    assert.ok(!JSON.stringify([refused, lost]).includes(TOKEN));
  });
});
