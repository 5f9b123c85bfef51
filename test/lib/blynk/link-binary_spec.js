"use strict";
// binary mode: Node-RED as a device over Blynk's binary protocol (docs/PROTOCOLS.md 3), against a
// loopback stand-in of the legacy blynk-server (test/lib/fixtures/blynk-legacy-server.js):
// login and the info message, writes both ways with the pin table, sync, properties, events,
// timestamped writes, redirect, invalid token, heartbeat, reconnect with the outbox, TLS.
const assert = require("node:assert/strict");
const net = require("node:net");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { parseBinaryServer } = require("../../../dist/nodes/lib/blynk/link-binary.js");
const { parseBlynkDevice } = require("../../../dist/nodes/lib/blynk/link-config.js");
const { startLegacyServer, TLS } = require("../fixtures/blynk-legacy-server.js");
const { frame, CMD } = require("../fixtures/blynk-wire.js");
const { waitFor, untilStatus, until } = require("../../support/wait.js");
const { collect } = require("../../support/links.js");

const TOKEN = "0123456789abcdef0123456789abcdef";
const OTHER = "fedcba9876543210fedcba9876543210";
const FAST = { reconnect: { initialMs: 20, maxMs: 40 }, authBackoff: { initialMs: 30, maxMs: 60 } };

describe("blynk binary link (Node-RED as a device over the binary protocol)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function server(options = {}) {
    const s = await startLegacyServer({ tokens: [TOKEN], ...options });
    cleanups.push(() => s.close());
    return s;
  }
  function link(url, options = {}) {
    const l = createBlynkLink({ connection: "binary", token: TOKEN, server: url, ...options, binary: { ...FAST, ...options.binary } });
    cleanups.push(() => l.close());
    return l;
  }

  it("logs in with HW_LOGIN id 1, then sends the info message (ver first, h-beat, buff-in, template, firmware)", async function () {
    const s = await server();
    const l = link(s.url, { templateId: "TMPL1234", firmwareVersion: "2.1.0" });
    const login = waitFor(s.events, "login");
    const info = waitFor(s.events, "info");
    const ready = waitFor(l, "ready");
    l.start();
    assert.deepEqual(await login, { id: 1, legacy: false, logins: 1 });
    const got = await info;
    assert.equal(got.ver, "1.3.2");
    assert.equal(got.heartbeat, 45);
    assert.equal(got.buffIn, 1024);
    assert.equal(got.dev, "Node-RED");
    assert.equal(got.tmpl, "TMPL1234");
    assert.equal(got.fwType, "TMPL1234");
    assert.equal(got.fw, "2.1.0");
    assert.match(got.build, /^[A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2}$/);
    await ready;
    assert.equal(l.status.state, "connected");
    assert.equal(l.ready, true);
    assert.equal(l.server, s.url);
  });

  it("writes pins (mapped names, V/D/A pins) and receives the server's writes under the mapped name or the pin", async function () {
    const s = await server();
    const l = link(s.url, { pins: { v1: "Temperature", v7: "Heater" } });
    const got = collect(l);
    l.start();
    await waitFor(l, "ready");
    const writes = [];
    s.events.on("write", (w) => writes.push(w));
    await l.write("Temperature", 21.5);
    await l.write("V5", [1, "two"]);
    await l.write("d8", true);
    await l.write("A0", 512);
    await until(() => writes.length === 4);
    assert.deepEqual(writes.map((w) => [w.pin, w.values]), [["V1", ["21.5"]], ["V5", ["1", "two"]], ["D8", ["1"]], ["A0", ["512"]]]);
    assert.deepEqual(writes.map((w) => w.id), [3, 4, 5, 6], "ids follow the login (1) and the info message (2)");

    s.write(TOKEN, "V7", ["1"]);
    s.write(TOKEN, "V9", ["a", "b"]);
    const heater = await got.next((m) => m.datastream === "Heater");
    assert.deepEqual(heater, { kind: "value", datastream: "Heater", value: 1, text: "1", source: "cloud" });
    const v9 = await got.next((m) => m.datastream === "V9");
    assert.deepEqual(v9.value, ["a", "b"]);
    assert.equal(v9.text, "a\0b");

    await assert.rejects(l.write("Humidity", 1), /names no pin.*V1=Humidity/);
    await assert.rejects(l.write("V256", 1), /names no pin/);
    await assert.rejects(l.erase("V1"), /not possible in binary mode/);
  });

  it("syncs: all pins or the listed ones, answers marked sync; batch, property, event and timestamped writes go out as the protocol says", async function () {
    const s = await server();
    const l = link(s.url, { pins: { v1: "Temperature" } });
    const got = collect(l);
    l.start();
    await waitFor(l, "ready");
    s.device(TOKEN).pins.set("V1", ["20"]);
    s.device(TOKEN).pins.set("V2", ["on"]);
    assert.deepEqual(await l.sync(), []);
    const t = await got.next((m) => m.datastream === "Temperature");
    assert.equal(t.sync, true);
    assert.equal((await got.next((m) => m.datastream === "V2")).value, "on");
    got.incoming.length = 0;
    await l.sync({ datastreams: ["V2"] });
    const v2 = await got.next((m) => m.datastream === "V2");
    assert.equal(v2.sync, true);
    assert.equal(got.incoming.some((m) => m.datastream === "Temperature"), false);

    const frames = [];
    s.events.on("frame", (m) => frames.push(m));
    await l.writeBatch({ Temperature: 22, V3: "x" });
    await l.setProperty("Temperature", "color", "#D3435C");
    await l.logEvent("overheat", "too hot");
    const at = Date.now() - 60_000;
    await l.write("V4", 5, { timestamp: at });
    await until(() => frames.length >= 7);
    const shown = frames.map((m) => {
      if (m.type === "hardware") return `hw ${m.pinType}${m.pin}=${m.values.join(",")}`;
      if (m.type === "property") return `prop ${m.pin} ${m.property} ${m.values.join(",")}`;
      if (m.type === "event") return `event ${m.code} ${m.description}`;
      if (m.type === "group") return `group ${m.action}${m.time === undefined ? "" : ` ${m.time}`}`;
      return m.type;
    });
    assert.deepEqual(shown.filter((x) => x !== "ping"), [
      "hw V1=22", "hw V3=x", "prop 1 color #D3435C", "event overheat too hot", `group begin ${at}`, "hw V4=5", "group end",
    ]);
    await assert.rejects(l.setProperty("D3", "color", "#fff"), /virtual pins/);
  });

  it("answers the server's PING, read requests (vr with the last value written, as BLYNK_READ) and unknown operations (status 2)", async function () {
    const s = await server();
    const l = link(s.url);
    const got = collect(l);
    l.start();
    await waitFor(l, "ready");
    await l.write("V3", 42);
    await waitFor(s.events, "write");
    const sock = s.connections(TOKEN)[0];
    const seen = [];
    sock.on("data", (c) => seen.push(c));
    s.send(TOKEN, { type: "ping", id: 77 });
    s.send(TOKEN, { type: "hardware", id: 78, op: "read", pinType: "V", pin: 3 });
    await until(() => Buffer.concat(seen).length >= 5 + 5 + 7);
    const bytes = Buffer.concat(seen);
    assert.deepEqual([...bytes.subarray(0, 5)], [0, 0, 77, 0, 200], "RESPONSE 200 with the PING's id");
    assert.deepEqual(bytes.subarray(5), frame(CMD.HARDWARE, 78, "vw", "3", "42"), "vw with the read's id");
    const read = await got.next((m) => m.topic === "$system/read");
    assert.deepEqual(read.details, { pin: "V3" });

    // An operation the device does not know is answered ILLEGAL_COMMAND (2) with its id, as firmware does.
    seen.length = 0;
    s.sendRaw(TOKEN, frame(CMD.HARDWARE, 79, "xx", "1"));
    await until(() => Buffer.concat(seen).length >= 5);
    assert.deepEqual([...Buffer.concat(seen)], [0, 0, 79, 0, 2]);
    assert.ok(got.warnings.some((w) => /cannot use/.test(w)));
    assert.equal(l.status.state, "connected");
  });

  it("follows a REDIRECT (host and port) and reports the new server", async function () {
    const target = await server({ tokens: [TOKEN] });
    const first = await server({ tokens: [], redirects: { [TOKEN]: { host: "127.0.0.1", port: target.port } } });
    const l = link(first.url);
    const moved = waitFor(l, "redirected");
    const login = waitFor(target.events, "login");
    l.start();
    assert.deepEqual(await moved, { server: target.url });
    await login;
    await untilStatus(l, (s) => s.state === "connected");
    assert.equal(l.server, target.url);
  });

  it("follows redirects in a loop only with the reconnect backoff after five in a row", async function () {
    const port = await require("../fixtures/ports.js").freePort();
    const looping = await server({ tokens: [], port, redirects: { [TOKEN]: { host: "127.0.0.1", port } } });
    const l = link(looping.url, { binary: { reconnect: { initialMs: 200, maxMs: 400 } } });
    let redirects = 0;
    l.on("redirected", () => redirects++);
    l.start();
    const waiting = await untilStatus(l, (st) => st.state === "disconnected" && /redirected 6 times without a login/.test(st.reason ?? ""));
    assert.ok(waiting.retryInMs >= 100, `waits ${waiting.retryInMs} ms`);
    assert.equal(redirects, 6);
  });

  it("reports an invalid token (status 9) as auth-failed, retrying slowly, the token never shown", async function () {
    const s = await server({ tokens: [OTHER] });
    const l = link(s.url);
    const got = collect(l);
    l.start();
    const status = await untilStatus(l, (st) => st.state === "auth-failed");
    assert.equal(status.refusal, 9);
    assert.match(status.reason, /INVALID_TOKEN/);
    await waitFor(s.events, "refused"); // tried again
    for (const text of [JSON.stringify(got.statuses), ...got.warnings]) assert.equal(text.includes(TOKEN), false);
  });

  it("reconnects with backoff when the server goes, keeps writes in a bounded outbox and sends them in order after the login", async function () {
    const s = await server();
    const port = s.port;
    const l = link(s.url, { binary: { outboxLimit: 3 } });
    const got = collect(l);
    l.start();
    await waitFor(l, "ready");
    await s.close();
    await untilStatus(l, (st) => st.state === "disconnected" && st.retryInMs !== undefined);
    for (const v of [1, 2, 3, 4]) await l.write("V1", v);
    assert.equal(l.status.queued, 3);
    assert.ok(got.warnings.some((w) => /outbox is full/.test(w)));
    const back = await startLegacyServer({ tokens: [TOKEN], port });
    cleanups.push(() => back.close());
    const writes = [];
    back.events.on("write", (w) => writes.push(w.values[0]));
    await waitFor(l, "ready");
    await until(() => writes.length === 3);
    assert.deepEqual(writes, ["2", "3", "4"]);
    await untilStatus(l, (st) => st.state === "connected" && st.queued === 0);
  });

  it("pings after h-beat seconds of silence and gives up a server that stops answering (heartbeat timeout)", async function () {
    this.timeout(10_000);
    const s = await server();
    const l = link(s.url, { binary: { heartbeatSec: 1, timeoutMs: 100 } });
    l.start();
    await waitFor(l, "ready");
    await waitFor(s.events, "frame", (m) => m.type === "ping", 5000);
    s.state.answerPings = false;
    const down = await untilStatus(l, (st) => st.state === "disconnected", 8000);
    assert.match(down.reason, /heartbeat timeout/);
    s.state.answerPings = true;
    await waitFor(l, "ready");
  });

  it("drops a connection whose server sends a broken frame, and logs in again", async function () {
    const s = await server();
    const l = link(s.url);
    l.start();
    await waitFor(l, "ready");
    const again = waitFor(s.events, "login");
    s.sendRaw(TOKEN, Buffer.from([99, 0, 1, 0, 0])); // command 99: no server sends it
    const down = await untilStatus(l, (st) => st.state === "disconnected");
    assert.match(down.reason, /broken frame/);
    await again;
  });

  it("gives up a server that floods requests but never reads the answers (the socket's buffer stays bounded)", async function () {
    this.timeout(20_000);
    const s = await server();
    const l = link(s.url);
    const got = collect(l);
    l.start();
    await waitFor(l, "ready");
    await l.write("V3", "x".repeat(1000));
    await waitFor(s.events, "write");
    const sock = s.connections(TOKEN)[0];
    sock.pause(); // reads nothing from now on
    // Each read request (12 bytes) is answered with the 1000-byte value: 60 MB of answers.
    const read = frame(CMD.HARDWARE, 5, "vr", "3");
    s.sendRaw(TOKEN, Buffer.alloc(read.length * 60_000, read));
    const down = await untilStatus(l, (st) => st.state === "disconnected", 15_000);
    assert.match(down.reason, /does not read/, JSON.stringify(got.warnings));
  });

  it("connects over TLS with the CA of a tls-config", async function () {
    const s = await server({ tls: true });
    const l = link(s.url, { binary: { tls: { ca: TLS.ca } } });
    const info = waitFor(s.events, "info");
    l.start();
    await waitFor(l, "ready");
    assert.equal((await info).con, "TLS");
    await l.write("V1", 1);
    await waitFor(s.events, "write");

    const untrusted = link(s.url);
    untrusted.start();
    const down = await untilStatus(untrusted, (st) => st.state === "disconnected");
    assert.match(down.reason, /certificate/i);
  });

  it("reads tcp:// and tls:// servers (library default ports 80 and 443) and refuses other settings", function () {
    assert.deepEqual(parseBinaryServer("tcp://10.0.0.5:8080"), { host: "10.0.0.5", port: 8080, tls: false });
    assert.deepEqual(parseBinaryServer("tls://blynk.cloud"), { host: "blynk.cloud", port: 443, tls: true });
    assert.deepEqual(parseBinaryServer("tcp://[::1]"), { host: "::1", port: 80, tls: false });
    const creds = { token: TOKEN };
    assert.deepEqual(parseBlynkDevice("n1", { connection: "binary", server: "", pins: "V1=Temperature" }, creds), {
      connection: "binary", token: TOKEN, name: "n1", server: "tls://blynk.cloud:443", pins: { v1: "Temperature" },
    });
    assert.throws(() => parseBlynkDevice("n1", { connection: "binary", server: "mqtt://x" }, creds), (e) => e.key === "invalid-binary-server");
    assert.throws(() => parseBlynkDevice("n1", { connection: "binary", server: "tcp://u:p@x" }, creds), (e) => e.key === "server-credentials");
  });

  it("gives up a login the server never answers, and tries again", async function () {
    const silent = net.createServer((sock) => { sock.on("error", () => {}); });
    const sockets = [];
    silent.on("connection", (sock) => sockets.push(sock));
    await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => { for (const sock of sockets) sock.destroy(); silent.close(resolve); }));
    const l = link(`tcp://127.0.0.1:${silent.address().port}`, { binary: { timeoutMs: 50 } });
    l.start();
    const down = await untilStatus(l, (st) => st.state === "disconnected");
    assert.match(down.reason, /did not answer the login/);
    await until(() => sockets.length >= 2);
  });
});
