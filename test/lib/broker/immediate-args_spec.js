"use strict";
// aedes ends every packet it writes with `setImmediate(done, error, client)`. After a burst of
// queued immediates at a full-size young generation (Node-RED right after start-up), V8 used to
// allocate every such argument array in the old generation for good: the iot-broker in Node-RED
// spent ~7% more CPU per message than the same engine alone (bench/README.md, issue 9). The engine
// settles that decision before serving anyone (broker/immediate-args.ts). V8's decisions are per
// process and final, so each case runs in a fresh process.
const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const { join } = require("node:path");

const CHILD = join(__dirname, "..", "fixtures", "immediate-args-child.js");

function run(mode) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--allow-natives-syntax", "--min-semi-space-size=16", "--max-semi-space-size=16", CHILD, mode], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${mode}: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

describe("setImmediate's argument arrays stay in the young generation (immediate-args.ts)", function () {
  this.timeout(60_000);

  it("once a BrokerEngine exists, a burst of queued immediates no longer moves them to the old generation", async function () {
    const bare = await run("bare");
    // Without the engine the same burst shows the problem (if this V8 pretenures at all).
    if (bare.old === 0) this.skip();
    assert.equal(bare.old, bare.total, "without the engine every later argument array is old");
    const engine = await run("engine");
    assert.deepEqual(engine, { mode: "engine", old: 0, total: bare.total });
  });
});
