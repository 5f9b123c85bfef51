"use strict";
// A raw device of Blynk's binary protocol over loopback for the server specs: writes hand-made
// frames (test/lib/fixtures/blynk-wire.js) and reads what the server sends, frame by frame,
// with its own minimal header parser (independent of the codec under test).
const net = require("node:net");
const tls = require("node:tls");
const { EventEmitter } = require("node:events");
const { CMD, frame } = require("../fixtures/blynk-wire.js");
const { until } = require("../../support/wait.js");

/** Connects to host:port (TLS with `tls` options); resolves once connected. */
function rawDevice(port, options = {}) {
  return new Promise((resolve, reject) => {
    const socket = options.tls ? tls.connect({ port, host: "127.0.0.1", ...options.tls }) : net.connect(port, "127.0.0.1");
    const device = new EventEmitter();
    device.socket = socket;
    device.frames = [];
    device.closed = false;
    let buffer = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 5) {
        const command = buffer[0];
        const id = buffer.readUInt16BE(1);
        const length = buffer.readUInt16BE(3);
        if (command === CMD.RESPONSE) {
          device.frames.push({ command, id, status: length });
          buffer = buffer.subarray(5);
          continue;
        }
        if (buffer.length < 5 + length) break;
        const body = buffer.subarray(5, 5 + length).toString("utf8");
        device.frames.push({ command, id, length, body, fields: body.split("\0") });
        buffer = buffer.subarray(5 + length);
      }
      device.emit("frame");
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      device.closed = true;
      device.emit("close");
    });
    socket.once(options.tls ? "secureConnect" : "connect", () => resolve(device));
    socket.once("error", reject);
    device.send = (...frames) => socket.write(Buffer.concat(frames.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f)))));
    /** The first frame (from `from` on) passing `predicate`. */
    device.next = async (predicate, ms = 5000) => {
      let found;
      await until(() => (found = device.frames.find(predicate)) !== undefined, ms, `a frame; got ${JSON.stringify(device.frames)}`);
      return found;
    };
    device.untilClosed = (ms = 5000) => until(() => device.closed, ms, "the server to close the connection");
    /** HW_LOGIN (or LOGIN with legacy) id 1; resolves with the RESPONSE's status. */
    device.login = async (token, legacy = false) => {
      socket.write(frame(legacy ? CMD.LOGIN : CMD.HW_LOGIN, 1, token));
      return (await device.next((f) => f.command === CMD.RESPONSE && f.id === 1)).status;
    };
    device.end = () => socket.destroy();
  });
}

module.exports = { rawDevice };
