"use strict";
// The codec against a real device: the npm `blynk-library` (JS, 0.5.4) logs in over loopback to
// a minimal server made of the codec (FrameDecoder, parseMessage, encodeMessage). What the
// library sends parses to the expected messages; what the codec encodes reaches the library's
// handlers (docs/PROTOCOLS.md 3.1-3.4).
const assert = require("node:assert/strict");
const net = require("node:net");
const { once } = require("node:events");
const bin = require("../../../../dist/nodes/lib/blynk/binary/index.js");
const { jsDevice } = require("../../fixtures/blynk-js-device.js");
const { waitFor, until } = require("../../../support/wait.js");

const TOKEN = "AlphaTok_0123456789abcdefghijklm";
const TOKEN2 = "BetaTok_0123456789abcdefghijklmn";

/**
 * A TCP server on 127.0.0.1 that decodes what devices send and answers logins (with
 * `loginStatus`), pings and info messages with their id; every message lands in `heard`.
 */
async function codecServer({ loginStatus = bin.Status.SUCCESS } = {}) {
  const heard = [];
  const sockets = new Set();
  const problems = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const decoder = new bin.FrameDecoder({ from: "device", maxBody: 4096 });
    const send = (message) => socket.write(bin.encodeMessage(message, { to: "device", maxBody: 4096 }));
    server.send = send;
    socket.on("data", (chunk) => {
      const { frames, error } = decoder.push(chunk);
      if (error) problems.push(error.message);
      for (const frame of frames) {
        let message;
        try {
          message = bin.parseMessage(frame, "device");
        } catch (err) {
          problems.push(err.message);
          continue;
        }
        heard.push(message);
        server.emit("message", message);
        if (message.type === "login") send({ type: "response", id: message.id, status: loginStatus });
        if (message.type === "ping" || (message.type === "internal" && message.kind === "info")) send({ type: "response", id: message.id, status: bin.Status.SUCCESS });
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    server,
    heard,
    problems,
    port: server.address().port,
    send: (message) => server.send(message),
    next: (predicate) => waitFor(server, "message", predicate),
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** The messages without their ids (the library numbers them itself). */
const withoutIds = (messages) => messages.map(({ id: _id, ...rest }) => rest);

describe("blynk/binary against the npm blynk-library (a real device over loopback)", function () {
  const open = [];
  afterEach(async function () {
    for (const thing of open.splice(0).reverse()) await thing.close();
  });

  async function connected(options) {
    const server = await codecServer(options);
    open.push(server);
    const device = jsDevice({ port: server.port, token: TOKEN });
    open.push(device);
    await waitFor(device.blynk, "connect");
    await until(() => server.heard.some((m) => m.type === "internal"), 5000, "the info message");
    return { server, device };
  }

  it("logs in with HW_LOGIN id 1 and its token; after 200 it sends its info message", async function () {
    const { server } = await connected();
    assert.deepEqual(server.heard.slice(0, 2), [
      { type: "login", id: 1, token: TOKEN, legacy: false },
      { type: "internal", id: 2, kind: "info", info: { ver: "0.5.4", buffIn: 4096, dev: "js" } },
    ]);
    assert.equal(bin.sendLimit(server.heard[1].info), 4096);
    assert.deepEqual(server.problems, []);
  });

  it("RESPONSE 4 (already registered) is a successful login too", async function () {
    const { device } = await connected({ loginStatus: bin.Status.ALREADY_REGISTERED });
    assert.deepEqual(device.events, ["connect"]);
  });

  it("RESPONSE 9 to the login: the library reports an invalid token", async function () {
    const server = await codecServer({ loginStatus: bin.Status.INVALID_TOKEN });
    open.push(server);
    const device = jsDevice({ port: server.port, token: "NotAToken_0123456789abcdefghijk" });
    open.push(device);
    await until(() => device.events.includes("error INVALID_TOKEN"), 5000, "the INVALID_TOKEN error");
    assert.ok(!device.events.includes("connect"));
  });

  it("what the library sends parses to the expected messages", async function () {
    const { server, device } = await connected();
    const { blynk } = device;
    const start = server.heard.length;
    const bridge = new blynk.WidgetBridge(64);
    blynk.virtualWrite(5, 23.5);
    blynk.virtualWrite(6, [255, "x", ""]);
    blynk.setProperty(1, "label", "Temperature");
    blynk.setProperty(2, "labels", ["Off", "On"]);
    blynk.eventLog("door_open", "Front door");
    blynk.syncAll();
    blynk.syncVirtual(3);
    blynk.notify("Door opened");
    blynk.email("me@example.org", "Subject", "Body");
    blynk.tweet("Plant needs water");
    bridge.setAuthToken(TOKEN2);
    bridge.virtualWrite(7, "on");
    bridge.digitalWrite(13, 1);
    bridge.analogWrite(3, 200);
    await until(() => server.heard.length >= start + 14, 5000, "14 messages");
    const got = server.heard.slice(start);
    assert.deepEqual(withoutIds(got), [
      { type: "hardware", op: "write", pinType: "V", pin: 5, values: ["23.5"] },
      { type: "hardware", op: "write", pinType: "V", pin: 6, values: ["255", "x", ""] },
      { type: "property", pin: 1, property: "label", values: ["Temperature"] },
      { type: "property", pin: 2, property: "labels", values: ["Off", "On"] },
      { type: "event", code: "door_open", description: "Front door" },
      { type: "sync", all: true },
      { type: "sync", all: false, pinType: "V", pins: [3] },
      { type: "notify", text: "Door opened" },
      { type: "email", to: "me@example.org", subject: "Subject", body: "Body" },
      { type: "tweet", text: "Plant needs water" },
      { type: "bridge", channel: 64, op: "init", token: TOKEN2 },
      { type: "bridge", channel: 64, op: "write", pinType: "V", pin: 7, values: ["on"] },
      { type: "bridge", channel: 64, op: "write", pinType: "D", pin: 13, values: ["1"] },
      { type: "bridge", channel: 64, op: "write", pinType: "A", pin: 3, values: ["200"] },
    ]);
    const ids = got.map((m) => m.id);
    assert.ok(ids.every((id, i) => id > 0 && (i === 0 || id > ids[i - 1])), `fresh ids: ${ids}`);
    assert.equal(bin.valueOf(got[0].values), 23.5);
    assert.deepEqual(server.problems, []);
  });

  it("what the codec encodes reaches the library's handlers", async function () {
    const { server, device } = await connected();
    const { blynk } = device;
    const v5 = new blynk.VirtualPin(5);
    const v6 = new blynk.VirtualPin(6);
    const writes = [];
    v5.on("write", (params) => writes.push(["V5", params]));
    v6.on("write", (params) => writes.push(["V6", params]));
    v6.on("read", () => writes.push(["V6 read"]));
    server.send({ type: "hardware", id: 111, op: "write", pinType: "V", pin: 5, values: bin.valuesFrom(42) });
    server.send({ type: "hardware", id: 3, op: "write", pinType: "V", pin: 6, values: bin.valuesFrom([255, 0, "x"]) });
    server.send({ type: "bridged", id: 4, op: "write", pinType: "V", pin: 5, values: ["from a bridge"] });
    server.send({ type: "hardware", id: 5, op: "read", pinType: "V", pin: 6 });
    server.send({ type: "internal", id: 6, kind: "rtc", time: 1705667130 });
    server.send({ type: "debug-print", id: 7, text: "hello device" });
    const pong = server.next((m) => m.type === "response" && m.id === 8);
    server.send({ type: "ping", id: 8 });
    assert.deepEqual(await pong, { type: "response", id: 8, status: 200 }, "the ping answered with its id");
    await until(() => writes.length >= 4, 5000, "four handler calls");
    assert.deepEqual(writes, [["V5", ["42"]], ["V6", ["255", "0", "x"]], ["V5", ["from a bridge"]], ["V6 read"]]);
    await until(() => device.lines.some((l) => l.includes("hello device")), 5000, "the debug print");
    assert.deepEqual(device.events, ["connect"], "still connected: nothing it received made it drop the connection");
  });

  it("a REDIRECT sends the library to the other server, where it logs in again", async function () {
    const { server, device } = await connected();
    const second = await codecServer();
    open.push(second);
    server.send({ type: "redirect", id: 9, host: "127.0.0.1", port: second.port });
    // The library reconnects after its 5 s retry timer.
    await until(() => second.heard.some((m) => m.type === "login"), 9000, "the login at the second server");
    assert.deepEqual(second.heard[0], { type: "login", id: 1, token: TOKEN, legacy: false });
    assert.ok(device.events.includes("disconnect"));
  }).timeout(15000);
});
