"use strict";
// The editor's "Test connection" endpoint (POST /iot-bridge/test-connection/:type) against real
// things on loopback: the real iot-broker engine hosting devices (so a cloud-mode dialog pointed
// at it meets the real Blynk / ThingsBoard / ThingSpeak MQTT logins), a real HTTP server standing
// in for Blynk's HTTPS API and ThingsBoard's HTTP API, and a closed port. Right credentials,
// wrong ones, nothing listening, local mode deployed or not, the stored credential used for an
// unchanged password field, the write permission asked for, and no secret in any answer.
const assert = require("node:assert/strict");
const net = require("node:net");
const { once } = require("node:events");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { startHttpServer } = require("../lib/fixtures/http-server.js");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const { until } = require("../support/wait.js");
const { translatingFor, testTab } = require("../support/node-harness.js");

helper.init(nodeRedPath);
const runtime = { RED: undefined };
const translating = translatingFor(runtime);
const NODES = ["iot-broker", "blynk-device", "thingsboard-device", "thingspeak-channel"].map((t) => translating(require(`../../dist/nodes/${t}.js`)));
const TAB = testTab("test connection");
const TOKEN = "HostedToken0123456789abcdefGHIJK";
const TB_TOKEN = "tbHostedAccessToken42";
const TS = { clientId: "TsClientId0123456789ab", username: "TsUserName0123456789ab", password: "TsPassword0123456789abcd" };

describe("POST /iot-bridge/test-connection/:type", function () {
  this.timeout(30_000);
  let port;
  let blynkPort;
  let http;
  beforeEach(async function () {
    await new Promise((resolve) => helper.startServer(resolve));
    port = await freePort();
    blynkPort = await freePort();
    await helper.load(NODES, [
      TAB,
      { id: "b1", z: "f1", type: "iot-broker", name: "Home broker", port, blynkPort, bind: "127.0.0.1", wires: [[]] },
      // Deployed, but it cannot listen: its port is b1's, so it waits for it (port-wait.ts).
      { id: "b2", z: "f1", type: "iot-broker", name: "Clash", port, bind: "127.0.0.1", wires: [[]] },
      { id: "host", type: "blynk-device", name: "Thermostat", connection: "local", broker: "b1" },
      { id: "tbhost", type: "thingsboard-device", name: "Meter", connection: "local", broker: "b1" },
      { id: "tshost", type: "thingspeak-channel", name: "Weather", connection: "local", broker: "b1", channelId: "42" },
    ], { host: { token: TOKEN }, tbhost: { token: TB_TOKEN }, tshost: TS });
    await until(() => brokers.engine("b1") !== undefined, 5000, "the broker running");
    http = await startHttpServer();
  });
  afterEach(async function () {
    await http.close();
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  const secrets = [TOKEN, TB_TOKEN, TS.password, "WrongToken0123456789abcdefGHIJKL"];
  async function test(type, body, status = 200) {
    const res = await helper.request().post(`/iot-bridge/test-connection/${type}`).send(body).expect(status);
    for (const secret of secrets) assert.equal(JSON.stringify(res.body).includes(secret), false, "no credential in the answer");
    assert.equal(res.headers["cache-control"], "no-store");
    return res.body;
  }
  const blynkMqtt = (token, server = `mqtt://127.0.0.1:${port}`) => ({ id: "draft", config: { connection: "mqtt", server }, credentials: { token } });

  it("Blynk mqtt: the right token connects, a wrong one is refused in words with the MQTT code", async function () {
    const ok = await test("blynk-device", blynkMqtt(TOKEN));
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.code, "connected");
    assert.match(ok.message, /^blynk-device\.test\.connected .*127\.0\.0\.1:\d+/);
    const refused = await test("blynk-device", blynkMqtt("WrongToken0123456789abcdefGHIJKL"));
    assert.deepEqual([refused.ok, refused.code], [false, "refused"]);
    assert.match(refused.message, /blynk-device\.test\.refused .*MQTT .*\(code 0x0[45]\)/);
  });

  it("nothing listening: port-closed, naming host and port", async function () {
    const closed = await freePort();
    const answer = await test("blynk-device", blynkMqtt(TOKEN, `mqtt://127.0.0.1:${closed}`));
    assert.deepEqual([answer.ok, answer.code], [false, "port-closed"]);
    assert.ok(answer.message.includes(`127.0.0.1:${closed}`), answer.message);
  });

  it("Blynk https: a real HTTP server stands in for Blynk.Cloud; right token, wrong token", async function () {
    http.route("GET", "/external/api/isHardwareConnected", (req, res) => {
      const good = req.query.get("token") === TOKEN;
      res.writeHead(good ? 200 : 400, { "content-type": good ? "text/plain" : "application/json" });
      res.end(good ? "true" : JSON.stringify({ error: { message: "Invalid token." } }));
    });
    const body = (token) => ({ id: "draft", config: { connection: "https", server: http.origin }, credentials: { token } });
    const ok = await test("blynk-device", body(TOKEN));
    assert.deepEqual([ok.ok, ok.code], [true, "connected"], ok.message);
    const refused = await test("blynk-device", body("WrongToken0123456789abcdefGHIJKL"));
    assert.deepEqual([refused.ok, refused.code], [false, "refused"], refused.message);
    assert.match(refused.message, /HTTP 400/);
  });

  it("Blynk https against a server that is not Blynk's API (404, 401, 403) or slows down (429): answered in its words, not 'no answer'", async function () {
    const answers = { "/a/external/api/isHardwareConnected": 404, "/b/external/api/isHardwareConnected": 401, "/c/external/api/isHardwareConnected": 403 };
    for (const [path, status] of Object.entries(answers)) http.reply("GET", path, status, "<html>nope</html>", { "content-type": "text/html" });
    http.reply("GET", "/d/external/api/isHardwareConnected", 429, "slow down", { "content-type": "text/plain", "retry-after": "30" });
    const body = (prefix) => ({ id: "draft", config: { connection: "https", server: `${http.origin}/${prefix}` }, credentials: { token: TOKEN } });
    for (const [prefix, status] of [["a", 404], ["b", 401], ["c", 403], ["d", 429]]) {
      const answer = await test("blynk-device", body(prefix));
      assert.equal(answer.ok, false, answer.message);
      assert.notEqual(answer.code, "timeout", answer.message);
      assert.match(answer.message, new RegExp(`HTTP ${status}`), answer.message);
    }
  });

  it("ThingsBoard http and ThingSpeak REST answered 429 with a long Retry-After: HTTP 429 in words (no retry waited out)", async function () {
    http.reply("GET", `/api/v1/${TB_TOKEN}/attributes`, 429, "slow down", { "content-type": "text/plain", "retry-after": "30" });
    const tb = await test("thingsboard-device", { id: "draft", config: { connection: "http", auth: "token", server: http.origin }, credentials: { token: TB_TOKEN } });
    assert.equal(tb.ok, false, tb.message);
    assert.notEqual(tb.code, "timeout", tb.message);
    assert.match(tb.message, /HTTP 429/);
    http.reply("GET", "/channels/42/feeds.json", 429, "slow down", { "content-type": "text/plain", "retry-after": "30" });
    const ts = await test("thingspeak-channel", { id: "draft", config: { connection: "rest", channelId: "42", server: http.origin }, credentials: { readKey: "READKEY123456789" } });
    assert.equal(ts.ok, false, ts.message);
    assert.notEqual(ts.code, "timeout", ts.message);
    assert.match(ts.message, /HTTP 429/);
  });

  it("a password field the dialog left unchanged (__PWRD__) is the deployed node's stored credential; an emptied one is none", async function () {
    const kept = await test("blynk-device", { id: "host", config: { connection: "mqtt", server: `mqtt://127.0.0.1:${port}` }, credentials: { token: "__PWRD__" } });
    assert.equal(kept.code, "connected", kept.message);
    const none = await test("blynk-device", { id: "undeployed", config: { connection: "mqtt", server: `mqtt://127.0.0.1:${port}` }, credentials: { token: "" } });
    assert.deepEqual([none.ok, none.code], [false, "config"]);
    assert.match(none.message, /blynk-device\.errors\.missing-token/);
    // An emptied field is no credential, even for a deployed node that has one stored.
    const emptied = await test("blynk-device", { id: "host", config: { connection: "mqtt", server: `mqtt://127.0.0.1:${port}` }, credentials: { token: "" } });
    assert.deepEqual([emptied.ok, emptied.code], [false, "config"], emptied.message);
    assert.match(emptied.message, /blynk-device\.errors\.missing-token/);
  });

  it("masks only secret credentials: a client id is shown (a clientId 'thingsboard' must not turn the host into ***)", async function () {
    const answer = await test("thingsboard-device", {
      id: "draft", config: { connection: "mqtt", auth: "basic", server: "mqtt://thingsboard.invalid:1883" },
      credentials: { clientId: "thingsboard", username: "meter", password: "MeterPassword0123456789" },
    });
    assert.deepEqual([answer.ok, answer.code], [false, "dns"], answer.message);
    assert.match(answer.message, /thingsboard\.invalid/);
    assert.equal(answer.message.includes("***"), false, answer.message);
  });

  it("local mode: hosted now, hosted after a deploy, token taken, broker not deployed", async function () {
    const local = (id, token, broker = "b1") => ({ id, config: { connection: "local", broker }, credentials: { token } });
    const hosted = await test("blynk-device", local("host", "__PWRD__"));
    assert.deepEqual([hosted.ok, hosted.code], [true, "hosted"], hosted.message);
    assert.match(hosted.message, /Home broker/);
    const later = await test("blynk-device", local("draft", "AnotherToken0123456789abcdefGHIJ"));
    assert.deepEqual([later.ok, later.code], [true, "after-deploy"], later.message);
    const taken = await test("blynk-device", local("draft", TOKEN));
    assert.deepEqual([taken.ok, taken.code], [false, "taken"], taken.message);
    assert.match(taken.message, /Thermostat/);
    const fleet = await test("blynk-device", { id: "draft", config: { connection: "local", broker: "b1", hosting: "fleet" }, credentials: {} });
    assert.deepEqual([fleet.ok, fleet.code], [true, "fleet"], fleet.message);
    const missing = await test("blynk-device", local("draft", TOKEN, "nope"));
    assert.deepEqual([missing.ok, missing.code], [false, "broker-missing"], missing.message);
  });

  it("Blynk binary against the broker's Blynk port: right token, wrong token", async function () {
    const body = (token) => ({ id: "draft", config: { connection: "binary", server: `tcp://127.0.0.1:${blynkPort}` }, credentials: { token } });
    const ok = await test("blynk-device", body(TOKEN));
    assert.deepEqual([ok.ok, ok.code], [true, "connected"], ok.message);
    const refused = await test("blynk-device", body("WrongToken0123456789abcdefGHIJKL"));
    assert.deepEqual([refused.ok, refused.code], [false, "refused"], refused.message);
  });

  it("local mode: a broker deployed but not running says so", async function () {
    const answer = await test("blynk-device", { id: "draft", config: { connection: "local", broker: "b2" }, credentials: { token: TOKEN } });
    assert.deepEqual([answer.ok, answer.code], [false, "broker-stopped"], answer.message);
    assert.match(answer.message, /Clash/);
  });

  it("a stored credential is used only for a node of the tested type", async function () {
    // tbhost's token must not be tried as a Blynk token (the permission asked for is blynk-device's).
    const answer = await test("blynk-device", { id: "tbhost", config: { connection: "mqtt", server: `mqtt://127.0.0.1:${port}` }, credentials: { token: "__PWRD__" } });
    assert.deepEqual([answer.ok, answer.code], [false, "config"], answer.message);
    assert.match(answer.message, /missing-token/);
  });

  it("at most four tests at once: a fifth is told to wait (429 busy)", async function () {
    const sockets = new Set();
    const silent = net.createServer((socket) => sockets.add(socket)).listen(0, "127.0.0.1");
    await once(silent, "listening");
    try {
      const running = [1, 2, 3, 4].map(() => test("blynk-device", blynkMqtt(TOKEN, `mqtt://127.0.0.1:${silent.address().port}`)));
      await until(() => sockets.size >= 4, 5000, "four tests connected");
      const busy = await test("blynk-device", blynkMqtt(TOKEN), 429);
      assert.deepEqual([busy.ok, busy.code], [false, "busy"]);
      for (const socket of sockets) socket.destroy();
      for (const answer of await Promise.all(running)) assert.equal(answer.ok, false);
      assert.equal((await test("blynk-device", blynkMqtt(TOKEN))).code, "connected", "free again");
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it("ThingsBoard mqtt against the hosted device; http against a real HTTP server answering 401", async function () {
    const mqttBody = (token) => ({ id: "draft", config: { connection: "mqtt", auth: "token", server: `mqtt://127.0.0.1:${port}` }, credentials: { token } });
    const ok = await test("thingsboard-device", mqttBody(TB_TOKEN));
    assert.deepEqual([ok.ok, ok.code], [true, "connected"], ok.message);
    const refused = await test("thingsboard-device", mqttBody("NotTheToken42"));
    assert.deepEqual([refused.ok, refused.code], [false, "refused"], refused.message);
    assert.match(refused.message, /not authorized \(code 0x05\)/);
    http.reply("GET", `/api/v1/${TB_TOKEN}/attributes`, 200, {});
    http.reply("GET", "/api/v1/NotTheToken42/attributes", 401, "");
    const httpBody = (token) => ({ id: "draft", config: { connection: "http", auth: "token", server: http.origin }, credentials: { token } });
    const httpOk = await test("thingsboard-device", httpBody(TB_TOKEN));
    assert.deepEqual([httpOk.ok, httpOk.code], [true, "connected"], httpOk.message);
    const httpRefused = await test("thingsboard-device", httpBody("NotTheToken42"));
    assert.deepEqual([httpRefused.ok, httpRefused.code], [false, "refused"], httpRefused.message);
    assert.match(httpRefused.message, /HTTP 401/);
  });

  it("ThingSpeak mqtt against the hosted channel: right and wrong device credentials; local hosted", async function () {
    const body = (password) => ({ id: "draft", config: { connection: "mqtt", channelId: "42", server: `mqtt://127.0.0.1:${port}` }, credentials: { ...TS, password } });
    const ok = await test("thingspeak-channel", body(TS.password));
    assert.deepEqual([ok.ok, ok.code], [true, "connected"], ok.message);
    const refused = await test("thingspeak-channel", body("WrongToken0123456789abcdefGHIJKL"));
    assert.deepEqual([refused.ok, refused.code], [false, "refused"], refused.message);
    const hosted = await test("thingspeak-channel", { id: "tshost", config: { connection: "local", channelId: "42", broker: "b1" }, credentials: { clientId: TS.clientId, username: TS.username, password: "__PWRD__" } });
    assert.deepEqual([hosted.ok, hosted.code], [true, "hosted"], hosted.message);
  });

  it("ThingSpeak REST against a real HTTP server: the newest entry is read (a write key is not tried: it would write)", async function () {
    http.reply("GET", "/channels/42/feeds.json", 200, { channel: { id: 42 }, feeds: [] });
    const answer = await test("thingspeak-channel", { id: "draft", config: { connection: "rest", channelId: "42", server: http.origin }, credentials: { writeKey: "WRITEKEY12345678", readKey: "" } });
    assert.deepEqual([answer.ok, answer.code], [true, "read"], answer.message);
    assert.deepEqual(http.requests.map((r) => [r.method, r.path]), [["GET", "/channels/42/feeds.json"]], "nothing written");
  });

  it("asks for <type>.write, and answers nothing without it; unknown types are 404", async function () {
    const auth = runtime.RED.auth;
    const original = auth.needsPermission;
    const asked = [];
    auth.needsPermission = (permission) => (_req, res) => {
      asked.push(permission);
      res.status(401).json({ error: "unauthorized" });
    };
    try {
      const res = await helper.request().post("/iot-bridge/test-connection/thingsboard-device").send(blynkMqtt(TOKEN)).expect(401);
      assert.deepEqual(res.body, { error: "unauthorized" });
      // Without the permission an unknown type is no 404 either: nothing is told.
      await helper.request().post("/iot-bridge/test-connection/iot-broker").send({}).expect(401);
    } finally {
      auth.needsPermission = original;
    }
    assert.deepEqual(asked, ["thingsboard-device.write", "iot-broker.write"]);
    await helper.request().post("/iot-bridge/test-connection/iot-broker").send({}).expect(404);
  });
});
