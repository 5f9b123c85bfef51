"use strict";
// The command and status tables of Blynk's binary protocol, row by row from the protocol facts
// (docs/PROTOCOLS.md 3.2, 3.3), and which side sends which command.
const assert = require("node:assert/strict");
const bin = require("../../../../dist/nodes/lib/blynk/binary/index.js");

// [code, name, device sends it, server sends it]
const COMMANDS = [
  [0, "RESPONSE", true, true],
  [2, "LOGIN", true, false],
  [6, "PING", true, true],
  [12, "TWEET", true, false],
  [13, "EMAIL", true, false],
  [14, "NOTIFY", true, false],
  [15, "BRIDGE", true, true],
  [16, "HARDWARE_SYNC", true, false],
  [17, "INTERNAL", true, true],
  [18, "SMS", true, false],
  [19, "PROPERTY", true, false],
  [20, "HARDWARE", true, true],
  [21, "GROUP", true, false],
  [29, "HW_LOGIN", true, false],
  [41, "REDIRECT", false, true],
  [55, "DEBUG_PRINT", false, true],
  [64, "EVENT_LOG", true, false],
  [65, "EVENT_CLEAR", true, false],
];

const STATUSES = [
  [200, "SUCCESS"], [1, "QUOTA_LIMIT"], [2, "ILLEGAL_COMMAND"], [3, "NOT_REGISTERED"], [4, "ALREADY_REGISTERED"],
  [5, "NOT_AUTHENTICATED"], [6, "NOT_ALLOWED"], [7, "DEVICE_NOT_IN_NETWORK"], [8, "NO_ACTIVE_DASHBOARD"], [9, "INVALID_TOKEN"],
  [11, "ILLEGAL_COMMAND_BODY"], [12, "GET_GRAPH_DATA_EXCEPTION"], [13, "NTF_INVALID_BODY"], [14, "NTF_NOT_AUTHORIZED"],
  [15, "NTF_EXCEPTION"], [16, "TIMEOUT"], [17, "NO_DATA"], [18, "DEVICE_WENT_OFFLINE"], [19, "SERVER_EXCEPTION"],
  [20, "NOT_SUPPORTED_VERSION"], [21, "ENERGY_LIMIT"], [23, "OPERATION_ACCEPT"], [24, "OPERATION_DECLINE"],
];

describe("blynk/binary commands and statuses", function () {
  describe("commands", function () {
    for (const [code, name, device, server] of COMMANDS) {
      it(`${code} is ${name}; sent by ${[device && "devices", server && "servers"].filter(Boolean).join(" and ")}`, function () {
        assert.equal(bin.Command[name], code);
        assert.equal(bin.commandName(code), name);
        assert.equal(bin.describeCommand(code), `${code} (${name})`);
        assert.equal(bin.DEVICE_SENDS.has(code), device);
        assert.equal(bin.SERVER_SENDS.has(code), server);
        assert.equal(bin.sentBy("device").has(code), device);
        assert.equal(bin.sentBy("server").has(code), server);
      });
    }

    it("has no other command, and names none of the mobile-app commands", function () {
      assert.deepEqual(Object.keys(bin.Command).sort(), COMMANDS.map(([, name]) => name).sort());
      for (const code of [1, 3, 4, 5, 7, 8, 9, 10, 11, 22, 28, 30, 40, 42, 54, 56, 63, 66, 255]) {
        assert.equal(bin.commandName(code), undefined, String(code));
        assert.equal(bin.describeCommand(code), `${code} (unknown)`);
        assert.equal(bin.DEVICE_SENDS.has(code) || bin.SERVER_SENDS.has(code), false);
      }
    });
  });

  describe("statuses", function () {
    for (const [code, name] of STATUSES) {
      it(`${code} is ${name}`, function () {
        assert.equal(bin.Status[name], code);
        assert.equal(bin.statusName(code), name);
      });
    }

    it("has no other status (10 and 22 are unassigned)", function () {
      assert.deepEqual(Object.keys(bin.Status).sort(), STATUSES.map(([, name]) => name).sort());
      for (const code of [0, 10, 22, 25, 199, 201, 65535]) assert.equal(bin.statusName(code), undefined, String(code));
    });
  });
});
