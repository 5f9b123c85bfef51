"use strict";
// Nodes waiting for "flows:started" share one listener per runtime (node-red/flows-started.ts):
// a listener each made Node-RED warn MaxListenersExceededWarning past ten device nodes.
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const { onFlowsStarted } = require("../../../dist/nodes/lib/node-red/flows-started.js");

describe("onFlowsStarted", function () {
  it("one listener for any number of waiters; once-waiters run once, others every time; a throw stops no one", function () {
    const RED = { events: new EventEmitter() };
    const runs = [];
    for (let i = 0; i < 20; i++) onFlowsStarted(RED, () => runs.push(`once${i}`), true);
    onFlowsStarted(RED, () => { throw new Error("a node's bug"); });
    const stop = onFlowsStarted(RED, () => runs.push("every"));
    onFlowsStarted(RED, () => runs.push("removed"), true)();
    assert.equal(RED.events.listenerCount("flows:started"), 1);
    RED.events.emit("flows:started");
    assert.equal(runs.filter((r) => r.startsWith("once")).length, 20);
    assert.deepEqual(runs.filter((r) => !r.startsWith("once")), ["every"]);
    RED.events.emit("flows:started");
    assert.deepEqual(runs.slice(21), ["every"]);
    stop();
    RED.events.emit("flows:started");
    assert.equal(runs.length, 22);
  });
});
