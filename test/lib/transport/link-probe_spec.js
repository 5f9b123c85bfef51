"use strict";
// probeLink (the "Test connection" button's one bounded try) on real links over loopback: a
// server that accepts the TCP connection and never answers MQTT's CONNECT ends in "timeout"
// within the deadline, a closed port is "port-closed", a throwing request is its words; the
// link is closed in every case (no retry left running). Reason words are classified by cause.
const assert = require("node:assert/strict");
const net = require("node:net");
const { once } = require("node:events");
const { probeLink, unreachableCause } = require("../../../dist/nodes/lib/transport/link-probe.js");
const { createBlynkLink } = require("../../../dist/nodes/lib/blynk/link.js");
const { createThingSpeakLink } = require("../../../dist/nodes/lib/thingspeak/link.js");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const http = require("node:http");
const { freePort } = require("../fixtures/ports.js");

const TOKEN = "ProbeToken0123456789abcdefGHIJKL";

describe("probeLink", function () {
  this.timeout(10_000);

  it("a server that never answers the CONNECT: timeout, and the link is closed", async function () {
    const sockets = new Set();
    const silent = net.createServer((s) => sockets.add(s)).listen(0, "127.0.0.1");
    await once(silent, "listening");
    try {
      const link = createBlynkLink({ connection: "mqtt", token: TOKEN, server: `mqtt://127.0.0.1:${silent.address().port}` });
      const outcome = await probeLink(link, { timeoutMs: 300 });
      assert.deepEqual(outcome, { kind: "timeout" });
      assert.equal(link.status.state, "closed");
      assert.ok(sockets.size >= 1, "it really tried");
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("a closed port: unreachable, port-closed, with the link's words; closed after", async function () {
    const port = await freePort();
    const link = createBlynkLink({ connection: "mqtt", token: TOKEN, server: `mqtt://127.0.0.1:${port}` });
    const outcome = await probeLink(link, { timeoutMs: 5000 });
    assert.equal(outcome.kind, "unreachable");
    assert.equal(outcome.cause, "port-closed");
    assert.match(outcome.reason, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal(outcome.reason.includes(TOKEN), false);
    assert.equal(link.status.state, "closed");
  });

  it("a request that fails decides the outcome (REST, which sends nothing on start)", async function () {
    const port = await freePort();
    const link = createThingSpeakLink({ connection: "rest", id: "c1", channelId: 7, server: `http://127.0.0.1:${port}`, http: { retries: 0 } });
    const outcome = await probeLink(link, { timeoutMs: 5000, request: () => link.readNew() });
    assert.equal(outcome.kind, "unreachable", JSON.stringify(outcome));
    assert.equal(link.status.state, "closed");
  });

  it("classifies reasons by cause", function () {
    const table = [
      ["could not connect: host name of nowhere.invalid:1883 not found (check the address and the DNS)", "dns"],
      ["getaddrinfo ENOTFOUND nowhere.invalid", "dns"],
      ["could not connect: connection refused by 127.0.0.1:9 (is the server running on that port?)", "port-closed"],
      ["could not connect: 10.0.0.1:1883 did not answer the MQTT CONNECT in time", "timeout"],
      ["could not connect: TLS certificate of x:8883 not accepted: self-signed certificate", "tls"],
      ["connection lost: x:1883 closed the connection", "other"],
      // Addresses say nothing about the cause: a long poll's ?timeout=, a host named tls/ssl.
      ["GET http://127.0.0.1:8080/api/v1/***/attributes/updates?timeout=60000 failed: HTTP 500", "other"],
      ["connection lost: ssl.example.com:8883 closed the connection", "other"],
      ["could not connect: connection to tls.example.com:8883 timed out", "timeout"],
    ];
    for (const [reason, cause] of table) assert.equal(unreachableCause(reason), cause, reason);
  });

  it("a ThingsBoard HTTP server answering 500: unreachable but not a timeout (its URL holds ?timeout=)", async function () {
    const server = http.createServer((req, res) => { req.resume(); res.writeHead(500, { "content-type": "text/plain" }); res.end("boom"); }).listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const link = createThingsBoardLink({ connection: "http", token: TOKEN, server: `http://127.0.0.1:${server.address().port}`, http: { retries: 0 } });
      const outcome = await probeLink(link, { timeoutMs: 5000, request: () => link.requestAttributes({}) });
      assert.equal(outcome.kind, "unreachable", JSON.stringify(outcome));
      assert.equal(outcome.cause, "other", JSON.stringify(outcome));
      assert.equal(link.status.state, "closed");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("a ThingSpeak mqtt probe link keeps out of the process-wide session pool (no conflict warning for a deployed channel)", async function () {
    const { sharedMqttSessions } = require("../../../dist/nodes/lib/transport/mqtt-pool.js");
    const port = await freePort();
    const login = { clientId: "ProbeClient0123456789", username: "ProbeUser0123456789", server: `mqtt://127.0.0.1:${port}` };
    const deployed = createThingSpeakLink({ connection: "mqtt", id: "c1", channelId: 7, ...login, password: "DeployedPassword0123456789" });
    const conflicts = [];
    deployed.on("conflict", (why) => conflicts.push(why));
    deployed.start();
    const before = sharedMqttSessions.size;
    const probe = createThingSpeakLink({ connection: "mqtt", id: "draft", channelId: 7, ...login, password: "TriedPassword0123456789", probe: true });
    assert.equal(sharedMqttSessions.size, before, "the probe's session is its own");
    await probeLink(probe, { timeoutMs: 2000 });
    await deployed.close();
    assert.deepEqual(conflicts, []);
  });
});
