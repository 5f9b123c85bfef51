"use strict";
// Memory before and after login: no packet size was set, so one unauthenticated socket could make
// the broker buffer up to 256 MB until the connect timeout. Every listener now refuses a packet
// as soon as its declared length is over the limit (16 kB until CONNACK, maxPacketSize after),
// and a socket that never sends CONNECT is closed by the connect timeout.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { once } = require("node:events");
const { WebSocket } = require("ws");
const { BrokerEngine } = require("../../dist/nodes/lib/broker/index.js");
const { parseBrokerNode } = require("../../dist/nodes/lib/broker/node-config.js");
const { startEngine, connect } = require("../lib/fixtures/engine.js");
const { rawClient, fixedHeader } = require("../lib/fixtures/raw-mqtt.js");
const { until, waitFor } = require("../support/wait.js");

const USER = { username: "u", password: "p", publish: ["#"], subscribe: ["#"] };
const LOGIN = { username: "u", password: Buffer.from("p") };
const CONNECT_LIMIT = 16384;
const certs = path.join(__dirname, "..", "lib", "fixtures", "certs");

describe("hostile: packet size limits and the connect timeout", function () {
  this.timeout(10000);
  let ctx;
  const limitEvent = (limit) => ctx.events.find((e) => e.event === "limit-exceeded" && e.limit === limit);
  const waitLimit = async (limit) => {
    await until(() => limitEvent(limit) !== undefined, 5000, `a ${limit} event; got ${JSON.stringify(ctx.events)}`);
    return limitEvent(limit);
  };

  afterEach(async function () {
    await ctx?.engine.close();
    ctx = undefined;
  });

  it("closes a socket declaring a 200 MB CONNECT as soon as the length is read, before anything like the limit was sent", async function () {
    ctx = await startEngine({ users: [USER] });
    const raw = await rawClient(ctx.port);
    raw.write(Buffer.concat([fixedHeader(0x10, 200_000_000), Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04])]));
    // Keep sending 1 kB at a time until the broker hangs up: it must not wait for the body.
    const filler = Buffer.alloc(1024);
    let open = true;
    raw.socket.once("close", () => (open = false));
    await until(() => {
      if (open && raw.bytesSent < CONNECT_LIMIT) raw.write(filler);
      return !open;
    }, 5000, "the broker to close the socket");
    assert.ok(raw.bytesSent < CONNECT_LIMIT, `closed only after ${raw.bytesSent} bytes`);
    const event = await waitLimit("connect-packet-size");
    assert.equal(event.max, CONNECT_LIMIT);
    assert.ok(event.value > 200_000_000);
    assert.equal(event.clientId, "");
    assert.equal(event.remoteAddress, "127.0.0.1");
    assert.equal(ctx.events.filter((e) => e.event === "limit-exceeded" || e.event === "client-error").length, 1, "reported once");
  });

  it("refuses a whole CONNECT over 16 kB (a huge will) that arrived in one piece, and accepts one with a 10 kB will", async function () {
    ctx = await startEngine({ users: [USER] });
    const big = await rawClient(ctx.port);
    big.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId: "big", keepalive: 0, ...LOGIN, will: { topic: "w", payload: Buffer.alloc(20_000), qos: 0, retain: false } });
    await big.closedWithin();
    assert.equal(big.packets.length, 0, "no CONNACK");
    assert.equal((await waitLimit("connect-packet-size")).value, big.bytesSent);
    assert.ok(!ctx.events.some((e) => e.event === "client-connected" || e.event === "auth-refused"), "never authenticated");

    const fine = await rawClient(ctx.port);
    const connack = await fine.login({ ...LOGIN, clientId: "fine", will: { topic: "w", payload: Buffer.alloc(10_000), qos: 0, retain: false } });
    assert.equal(connack.returnCode, 0);
    fine.end();
  });

  it("disconnects a logged-in MQTT 3.1.1 client that publishes over maxPacketSize (256 kB by default), with an event", async function () {
    ctx = await startEngine({ users: [USER] });
    const client = await connect(ctx.url, { username: "u", password: "p", clientId: "heavy" });
    const closed = waitFor(client, "close");
    await client.publishAsync("t", Buffer.alloc(200_000)); // under the limit: fine
    client.publish("t", Buffer.alloc(300_000));
    await closed;
    const event = await waitLimit("packet-size");
    assert.deepEqual([event.clientId, event.max, event.value], ["heavy", 262144, 1 + 3 + 2 + 1 + 300_000]);
  });

  it("drops a logged-in client as soon as a PUBLISH declares more than the limit, not after buffering it", async function () {
    ctx = await startEngine({ users: [USER], maxPacketSize: 4096 });
    const raw = await rawClient(ctx.port);
    await raw.login(LOGIN);
    raw.write(Buffer.concat([fixedHeader(0x30, 100_000_000), Buffer.from([0x00, 0x01, 0x74])]));
    await raw.closedWithin();
    assert.equal((await waitLimit("packet-size")).max, 4096);
  });

  it("tells MQTT 5 clients the limit in CONNACK and why it disconnects them (0x95)", async function () {
    ctx = await startEngine({ users: [USER], maxPacketSize: 4096 });
    const raw = await rawClient(ctx.port, { protocolVersion: 5 });
    const connack = await raw.login(LOGIN);
    assert.equal(connack.properties.maximumPacketSize, 4096);
    raw.send({ cmd: "publish", topic: "t", payload: Buffer.alloc(5000), qos: 0, retain: false, dup: false });
    assert.equal((await raw.next("disconnect")).reasonCode, 0x95);
    await raw.closedWithin();
    assert.equal((await waitLimit("packet-size")).value, 5000 + 1 + 2 + 2 + 1 + 1);
  });

  it("closes a socket that never sends CONNECT once the connect timeout passes", async function () {
    ctx = await startEngine({ users: [USER], connectTimeoutMs: 150 });
    const raw = await rawClient(ctx.port);
    await raw.closedWithin();
    assert.deepEqual((({ max, clientId }) => ({ max, clientId }))(await waitLimit("connect-timeout")), { max: 150, clientId: "" });
  });

  it("closes a TLS socket that never finishes its handshake once the connect timeout passes", async function () {
    const engine = await BrokerEngine.create({ connectTimeoutMs: 150 });
    ctx = { engine, events: [] };
    const tls = { key: fs.readFileSync(path.join(certs, "server.key")), cert: fs.readFileSync(path.join(certs, "server.crt")) };
    const info = await engine.listen({ kind: "tls", host: "127.0.0.1", port: 0, tls });
    const socket = net.connect(info.port, "127.0.0.1");
    socket.on("error", () => undefined);
    const closed = once(socket, "close");
    await once(socket, "connect");
    await Promise.race([closed, new Promise((_r, reject) => setTimeout(() => reject(new Error("TLS socket left open")), 5000))]);
  });

  it("refuses a WebSocket message over maxPacketSize from its frame header (close code 1009)", async function () {
    const engine = await BrokerEngine.create({ users: [USER], maxPacketSize: 2048 });
    ctx = { engine, events: [] };
    const info = await engine.listen({ kind: "ws", host: "127.0.0.1", port: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${info.port}`, "mqtt");
    ws.on("error", () => undefined);
    await once(ws, "open");
    const closed = once(ws, "close");
    ws.send(Buffer.alloc(4096));
    const [code] = await closed;
    assert.equal(code, 1009);
  });

  it("allows a WebSocket message of only 16 kB before CONNACK, and of maxPacketSize after", async function () {
    const engine = await BrokerEngine.create({ users: [USER] });
    ctx = { engine, events: [] };
    const info = await engine.listen({ kind: "ws", host: "127.0.0.1", port: 0 });
    const ws = new WebSocket(`ws://127.0.0.1:${info.port}`, "mqtt");
    ws.on("error", () => undefined);
    await once(ws, "open");
    const closed = once(ws, "close");
    ws.send(Buffer.alloc(CONNECT_LIMIT + 1024));
    assert.equal((await closed)[0], 1009);

    const client = await connect(`ws://127.0.0.1:${info.port}`, { username: "u", password: "p", clientId: "ws-big" });
    await client.subscribeAsync("big");
    const got = waitFor(client, "message");
    await client.publishAsync("big", Buffer.alloc(100_000));
    assert.equal((await got)[1].length, 100_000);
    await client.endAsync();
  });

  it("reads maxPacketSize from the node's flow properties (default 262144) and names a bad value", function () {
    assert.equal(parseBrokerNode({}).options.maxPacketSize, 262144);
    assert.equal(parseBrokerNode({ maxPacketSize: "" }).options.maxPacketSize, 262144);
    assert.equal(parseBrokerNode({ maxPacketSize: "65536" }).options.maxPacketSize, 65536);
    assert.equal(parseBrokerNode({ maxPacketSize: 1024 }).options.maxPacketSize, 1024);
    for (const bad of ["12", "1e6", "-5", "abc", "268435461"]) {
      assert.throws(() => parseBrokerNode({ maxPacketSize: bad }), (err) => err.key === "invalid-max-packet-size" && err.params.value === bad);
    }
    assert.throws(() => new BrokerEngine({ maxPacketSize: 10 }), /maxPacketSize must be a whole number from 1024/);
    assert.throws(() => new BrokerEngine({ connectTimeoutMs: 0 }), /connectTimeoutMs/);
  });
});

describe("hostile: the iot-broker node's maxPacketSize setting", function () {
  const helper = require("node-red-node-test-helper");
  const brokerNode = require("../../dist/nodes/iot-broker.js");
  const { freePort } = require("../lib/fixtures/ports.js");
  helper.init(require("../lib/fixtures/node-red-path.js"));
  this.timeout(10000);

  beforeEach(function (done) {
    helper.startServer(done);
  });

  afterEach(async function () {
    await helper.unload();
    await new Promise((resolve) => helper.stopServer(resolve));
  });

  it("applies the flow's maxPacketSize and sends a limit-exceeded event out of the node", async function () {
    const port = await freePort();
    const flow = [
      { id: "f1", type: "tab", label: "test" },
      { id: "b1", type: "iot-broker", z: "f1", port, bind: "127.0.0.1", maxPacketSize: "2048", wires: [["out"]] },
      { id: "out", type: "helper", z: "f1", wires: [] },
    ];
    await helper.load(brokerNode, flow, { b1: { users: JSON.stringify([USER]) } });
    const events = [];
    helper.getNode("out").on("input", (msg) => events.push(msg));
    const client = await connect(`mqtt://127.0.0.1:${port}`, { username: "u", password: "p", clientId: "big", protocolVersion: 5 });
    assert.equal(client.connackPacket.properties.maximumPacketSize, 2048);
    const closed = waitFor(client, "close");
    client.publish("t", Buffer.alloc(3000));
    await closed;
    await until(() => events.some((m) => m.topic === "limit-exceeded"), 5000, "a limit-exceeded message");
    const { payload } = events.find((m) => m.topic === "limit-exceeded");
    assert.deepEqual([payload.clientId, payload.limit, payload.max], ["big", "packet-size", 2048]);
    await client.endAsync(true);
  });
});
