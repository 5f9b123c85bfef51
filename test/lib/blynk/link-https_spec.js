"use strict";
// The Blynk link in https mode (Node-RED controls a device through the device HTTPS API)
// against loopback HTTP servers standing in for Blynk.Cloud and a regional host.
const assert = require("node:assert/strict");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { startHttpServer, unusedPort } = require("../fixtures/http-server.js");
const { waitFor, untilStatus } = require("../../support/wait.js");

const TOKEN = "HttpsTok_0123456789abcdefghijkl";
const API = "/external/api/";

describe("Blynk link, https mode (Node-RED controls a device)", function () {
  const cleanups = [];
  const later = (fn) => cleanups.push(fn);
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function server() {
    const s = await startHttpServer();
    later(() => s.close());
    return s;
  }
  /** A Blynk-like server: isHardwareConnected true, every write 200, recorded. */
  async function blynk() {
    const s = await server();
    s.reply("GET", `${API}isHardwareConnected`, 200, "true");
    for (const path of ["update", "batch/update", "update/property", "logEvent"]) s.reply("*", API + path, 200, "");
    return s;
  }
  function link(options) {
    const l = createBlynkLink({ connection: "https", token: TOKEN, http: { retries: 0 }, ...options });
    later(() => l.close());
    return l;
  }
  const queryOf = (s) => s.requests.map((r) => [r.method, r.path.slice(API.length), r.rawQuery]);

  it("checks the device at start, then writes with the documented calls", async function () {
    const s = await blynk();
    const l = link({ server: s.origin });
    const ready = waitFor(l, "ready");
    l.start();
    await ready;
    assert.deepEqual(l.status, { state: "connected", queued: 0, deviceOnline: true });
    const ts = Date.now() - 60_000;
    await l.write("V1", 21.5);
    await l.write("v2", [13.4, 52.52]);
    await l.writeBatch({ V1: 1, v3: "on" });
    await l.writeTimestamped("V1", [[ts, 20]]);
    await l.write("V1", 22, { timestamp: new Date(ts + 1000) });
    await l.setProperty("V1", "color", "#FF0000");
    await l.logEvent("overheat", "too hot");
    await l.logEvent("idle");
    const t = `token=${TOKEN}`;
    assert.deepEqual(queryOf(s), [
      ["GET", "isHardwareConnected", t],
      ["GET", "update", `${t}&v1=21.5`],
      ["GET", "update", `${t}&pin=v2&value=13.4&value=52.52`],
      ["GET", "batch/update", `${t}&v1=1&v3=on`],
      ["POST", "batch/update", `${t}&pin=v1`],
      ["POST", "batch/update", `${t}&pin=v1`],
      ["GET", "update/property", `${t}&pin=v1&color=%23FF0000`],
      ["GET", "logEvent", `${t}&code=overheat&description=too%20hot`],
      ["GET", "logEvent", `${t}&code=idle`],
    ]);
    const posts = s.requests.filter((r) => r.method === "POST");
    assert.deepEqual(posts.map((r) => JSON.parse(r.text)), [[[ts, 20]], [[ts + 1000, 22]]]);
    assert.ok(posts.every((r) => r.headers["content-type"] === "application/json"));
  });

  it("reads one pin (bare key), several, and all", async function () {
    const s = await blynk();
    s.route("GET", `${API}get`, (req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(req.rawQuery.endsWith("&v1") ? "100.00000" : JSON.stringify({ v1: 1.5, v2: "on" }));
    });
    s.reply("GET", `${API}getAll`, 200, { v1: 1, v5: [13.4, 52.52], v6: "text" });
    const l = link({ server: s.origin });
    const [one] = await l.read(["V1"]);
    assert.deepEqual(one, { kind: "value", datastream: "v1", value: 100, text: "100.00000", source: "read" });
    const two = await l.read(["V1", "v2"]);
    assert.deepEqual(two.map((m) => [m.datastream, m.value]), [["v1", 1.5], ["v2", "on"]]);
    const all = await l.sync({ system: true });
    assert.deepEqual(all.map((m) => (m.kind === "value" ? [m.datastream, m.value, m.text] : [m.topic, m.value])), [
      ["v1", 1, "1"],
      ["v5", [13.4, 52.52], "13.4\u000052.52"],
      ["v6", "text", "text"],
      ["$system/online", true],
    ]);
    assert.deepEqual(s.requests.filter((r) => r.path === `${API}get`).map((r) => r.rawQuery), [`token=${TOKEN}&v1`, `token=${TOKEN}&v1&v2`]);
  });

  it("follows a 308 to the device's region and goes there directly from then on", async function () {
    const region = await blynk();
    const cloud = await server();
    cloud.redirect("*", `${API}isHardwareConnected`, 308, (req) => region.origin + req.url);
    cloud.redirect("*", `${API}update`, 308, (req) => region.origin + req.url);
    const l = link({ server: cloud.origin });
    const redirected = waitFor(l, "redirected");
    l.start();
    assert.deepEqual(await redirected, { server: region.origin });
    await untilStatus(l, (st) => st.state === "connected");
    assert.equal(l.server, region.origin);
    await l.write("V1", 1);
    assert.equal(cloud.requests.length, 1, "only the first request went to the GeoDNS host");
    assert.deepEqual(region.requests.map((r) => r.path), [`${API}isHardwareConnected`, `${API}update`]);
  });

  it("says so when Blynk refuses the token, and never shows it", async function () {
    const s = await server();
    s.reply("*", `${API}isHardwareConnected`, 400, { error: { message: "Invalid token." } });
    s.reply("*", `${API}update`, 400, { error: { message: "Invalid token." } });
    const l = link({ server: s.origin });
    l.start();
    const status = await untilStatus(l, (st) => st.state === "auth-failed");
    assert.equal(status.reason, "invalid token");
    const err = await l.write("V1", 1).catch((e) => e);
    assert.equal(err.code, "auth");
    assert.match(err.message, /Invalid token\./);
    assert.doesNotMatch(`${err.message} ${err.stack} ${JSON.stringify(l.status)}`, new RegExp(TOKEN));
  });

  it("passes Blynk's own refusal on in its words, and reports an unreachable server", async function () {
    const s = await blynk();
    s.reply("GET", `${API}update`, 400, { error: { message: "Wrong pin format." } });
    const l = link({ server: s.origin });
    l.start();
    await untilStatus(l, (st) => st.state === "connected");
    await assert.rejects(l.write("V1", 1), (err) => err.code === "http" && /Wrong pin format\./.test(err.message) && !err.message.includes(TOKEN));
    assert.equal(l.status.state, "connected", "a refused request says nothing about the link");
    await assert.rejects(l.write("Temperature", 1), (err) => err.code === "invalid" && /v0\.\.v255/.test(err.message));
    await assert.rejects(l.erase("V1"), (err) => err.code === "invalid" && /https mode/.test(err.message));
    const before = s.requests.length;
    await assert.rejects(l.writeBatch({ V1: [1, 2] }), (err) => err.code === "invalid");
    assert.equal(s.requests.length, before, "refused before sending");

    const gone = link({ server: `http://127.0.0.1:${await unusedPort()}` });
    gone.start();
    const down = await untilStatus(gone, (st) => st.state === "disconnected" && st.reason !== "not started");
    assert.match(down.reason, /connection refused/);
    assert.doesNotMatch(down.reason, new RegExp(TOKEN));
  });
});
