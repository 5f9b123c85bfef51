"use strict";
// The floors' one-way rule: only nodes/lib/node-red (the thin Node-RED glue) may import Node-RED,
// and nothing below it imports the glue, so the core and the platforms run without Node-RED.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const LIB = path.join(__dirname, "../../../nodes/lib");
const NODE_RED_FREE = ["transport", "broker", "blynk", "thingsboard", "thingspeak"];
const FORBIDDEN = /from\s+"(node-red|@node-red\/[^"]*|\.\.\/node-red\/[^"]*)"|require\("node-red"\)/;

describe("nodes/lib layering", function () {
  it("nothing in transport, broker or a platform folder imports Node-RED or nodes/lib/node-red", function () {
    const offenders = [];
    for (const floor of NODE_RED_FREE) {
      for (const file of fs.readdirSync(path.join(LIB, floor))) {
        if (!file.endsWith(".ts")) continue;
        const text = fs.readFileSync(path.join(LIB, floor, file), "utf8");
        if (FORBIDDEN.test(text)) offenders.push(`${floor}/${file}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
