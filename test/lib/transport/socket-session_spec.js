"use strict";
// transport/socket-session.ts: the TCP/TLS connection under Blynk's binary mode, on loopback:
// the protocol's hooks in order, established/fail with the two backoffs, a TLS handshake that
// never completes given up after the connect timeout, redirects, and close at any moment.
const assert = require("node:assert/strict");
const net = require("node:net");
const { SocketSession } = require("../../../dist/nodes/lib/transport/socket-session.js");
const { waitFor, untilStatus, until } = require("../../support/wait.js");

describe("SocketSession (TCP/TLS connection kept across attempts)", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
  });

  async function tcpServer(onSocket = () => {}) {
    const sockets = new Set();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
      onSocket(socket);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(resolve);
    }));
    return { port: server.address().port, sockets };
  }

  function session(port, hooks = {}, options = {}) {
    const calls = [];
    const s = new SocketSession(
      { target: { host: "127.0.0.1", port, tls: false }, reconnect: { initialMs: 20, maxMs: 40 }, authBackoff: { initialMs: 5000, maxMs: 5000, jitter: 0 }, ...options },
      {
        opened: (a) => { calls.push("opened"); hooks.opened?.(a); },
        data: (a, chunk) => { calls.push(`data ${chunk}`); hooks.data?.(a, chunk); },
        drained: () => {},
        closed: (_a, was) => { calls.push(`closed ${was}`); },
      },
    );
    cleanups.push(() => s.close());
    s.calls = calls;
    return s;
  }

  it("opens, hands the protocol the bytes, is connected once established, and retries after a loss", async function () {
    const srv = await tcpServer((socket) => socket.on("data", (d) => socket.write(`echo ${d}`)));
    const s = session(srv.port, {
      opened: (a) => a.write(Buffer.from("hello")),
      data: (a) => a.established(),
    });
    s.start();
    await untilStatus(s, (st) => st.state === "connected");
    assert.deepEqual(s.calls, ["opened", "data echo hello"]);
    for (const sock of srv.sockets) sock.destroy();
    const down = await untilStatus(s, (st) => st.state === "disconnected");
    assert.match(down.reason, /connection lost/);
    assert.ok(down.retryInMs <= 40);
    await until(() => s.calls.filter((c) => c === "opened").length === 2);
    assert.ok(s.calls.includes("closed true"));
  });

  it("fails an attempt with the auth backoff and the refusal it names", async function () {
    const srv = await tcpServer();
    const s = session(srv.port, { opened: (a) => a.fail("token refused", { auth: true, refusal: 9 }) });
    s.start();
    const refused = await untilStatus(s, (st) => st.state === "auth-failed");
    assert.deepEqual(refused, { state: "auth-failed", reason: "token refused", retryInMs: 5000, refusal: 9 });
  });

  it("gives up a TLS handshake the server never answers after the connect timeout", async function () {
    const srv = await tcpServer(); // accepts TCP, never speaks TLS
    const s = new SocketSession({ target: { host: "127.0.0.1", port: srv.port, tls: true }, connectTimeoutMs: 100, reconnect: { initialMs: 1000, maxMs: 1000 } }, {
      opened: () => assert.fail("no handshake happened"), data: () => {}, drained: () => {}, closed: () => {},
    });
    cleanups.push(() => s.close());
    s.start();
    const down = await untilStatus(s, (st) => st.state === "disconnected");
    assert.match(down.reason, /timed out/);
  });

  it("redirects to another server at once, and closes during an attempt without trying again", async function () {
    const a = await tcpServer();
    const b = await tcpServer();
    const s = session(a.port, { opened: (att) => { if (att.target.port === b.port) att.established(); } });
    s.start();
    await until(() => a.sockets.size === 1);
    s.redirect({ host: "127.0.0.1", port: b.port, tls: false });
    await untilStatus(s, (st) => st.state === "connected");
    assert.equal(s.target.port, b.port);
    const closed = waitFor(s, "status", (st) => st.state === "closed");
    await s.close();
    await closed;
    assert.throws(() => s.start(), /closed/);
  });
});
