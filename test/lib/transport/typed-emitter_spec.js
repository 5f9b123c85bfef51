"use strict";
const assert = require("node:assert/strict");
const { TypedEmitter } = require("../../../dist/nodes/lib/transport/typed-emitter.js");

/** `emit` is protected in TypeScript; a subclass exposes it as a socket callback would use it. */
class Emitter extends TypedEmitter {
  fire(event, ...args) {
    this.emit(event, ...args);
  }
}

describe("transport/typed-emitter", function () {
  it("calls listeners in order with the arguments", function () {
    const e = new Emitter();
    const seen = [];
    e.on("data", (a, b) => seen.push(["first", a, b]));
    e.on("data", (a, b) => seen.push(["second", a, b]));
    e.fire("data", 1, "x");
    assert.deepEqual(seen, [["first", 1, "x"], ["second", 1, "x"]]);
  });

  it("does not let a throwing listener unwind into the emitter, and still calls the others", function () {
    const e = new Emitter();
    const seen = [];
    e.on("data", () => {
      throw new Error("listener bug");
    });
    e.on("data", (v) => seen.push(v));
    assert.doesNotThrow(() => e.fire("data", 7));
    assert.deepEqual(seen, [7]);
  });

  it("reports a listener's throw as listenerError with the event name", function () {
    const e = new Emitter();
    const reported = [];
    const boom = new Error("boom");
    e.on("listenerError", (err, event) => reported.push([err, event]));
    e.on("status", () => {
      throw boom;
    });
    e.fire("status", {});
    assert.deepEqual(reported, [[boom, "status"]]);
  });

  it("swallows a throwing listenerError listener too (no recursion, no throw)", function () {
    const e = new Emitter();
    let calls = 0;
    e.on("listenerError", () => {
      calls++;
      throw new Error("again");
    });
    e.on("x", () => {
      throw new Error("first");
    });
    assert.doesNotThrow(() => e.fire("x"));
    assert.equal(calls, 1);
  });

  it("emitting 'error' with no listener does not throw (unlike EventEmitter)", function () {
    assert.doesNotThrow(() => new Emitter().fire("error", new Error("nobody listens")));
  });

  it("calls a once listener only once and then removes it", function () {
    const e = new Emitter();
    const seen = [];
    e.once("data", (v) => seen.push(v));
    e.fire("data", 1);
    e.fire("data", 2);
    assert.deepEqual(seen, [1]);
    assert.equal(e.listenerCount("data"), 0);
  });

  it("removes a once listener even when it throws", function () {
    const e = new Emitter();
    let calls = 0;
    e.once("data", () => {
      calls++;
      throw new Error("x");
    });
    e.fire("data");
    e.fire("data");
    assert.equal(calls, 1);
  });

  it("off removes on and once listeners; removeAllListeners clears all", function () {
    const e = new Emitter();
    const seen = [];
    const a = (v) => seen.push(["a", v]);
    const b = (v) => seen.push(["b", v]);
    e.on("data", a);
    e.once("data", b);
    assert.equal(e.listenerCount("data"), 2);
    e.off("data", a);
    e.off("data", b);
    e.fire("data", 1);
    assert.deepEqual(seen, []);
    e.on("data", a).on("other", b);
    e.removeAllListeners();
    assert.equal(e.listenerCount("data") + e.listenerCount("other"), 0);
  });

  it("lets a listener remove itself or add another during emit without skipping or looping", function () {
    const e = new Emitter();
    const seen = [];
    const self = () => {
      seen.push("self");
      e.off("data", self);
      e.on("data", () => seen.push("added"));
    };
    e.on("data", self);
    e.on("data", () => seen.push("next"));
    e.fire("data");
    assert.deepEqual(seen, ["self", "next"]);
    e.fire("data");
    assert.deepEqual(seen, ["self", "next", "next", "added"]);
  });
});
