"use strict";
const assert = require("node:assert/strict");
const { Outbox } = require("../../../dist/nodes/lib/transport/outbox.js");

describe("Outbox", function () {
  it("keeps items in order and drops the oldest beyond the limit", function () {
    const box = new Outbox(3);
    for (const n of [1, 2, 3]) assert.deepEqual(box.push(n), []);
    assert.deepEqual(box.push(4), [1]);
    assert.equal(box.length, 3);
    assert.deepEqual(box.drain(), [2, 3, 4]);
    assert.equal(box.length, 0);
  });

  it("puts requeued items at the front and drops the oldest of them when over the limit", function () {
    const box = new Outbox(3);
    box.push("c");
    box.push("d");
    assert.deepEqual(box.requeue(["a", "b"]), ["a"]);
    assert.deepEqual(box.drain(), ["b", "c", "d"]);
    assert.deepEqual(box.requeue([]), []);
  });

  it("shifts the oldest item, one at a time, and keeps order with pushes in between", function () {
    const box = new Outbox(3);
    assert.equal(box.shift(), undefined);
    box.push("a");
    box.push("b");
    assert.equal(box.shift(), "a");
    box.push("c");
    assert.equal(box.length, 2);
    assert.equal(box.shift(), "b");
    assert.equal(box.shift(), "c");
    assert.equal(box.shift(), undefined);
    box.push("d");
    assert.deepEqual(box.drain(), ["d"]);
  });

  it("with limit 0 drops every item at once", function () {
    const box = new Outbox(0);
    assert.deepEqual(box.push("x"), ["x"]);
    assert.equal(box.length, 0);
  });

  it("stays correct over many drops (compaction of the dropped prefix)", function () {
    const box = new Outbox(10);
    const dropped = [];
    for (let n = 0; n < 5000; n++) dropped.push(...box.push(n));
    assert.equal(dropped.length, 4990);
    assert.deepEqual(dropped.slice(0, 3), [0, 1, 2]);
    assert.deepEqual(box.drain(), [4990, 4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999]);
  });

  it("rejects a limit that is not a whole number >= 0", function () {
    assert.throws(() => new Outbox(-1), RangeError);
    assert.throws(() => new Outbox(1.5), RangeError);
  });
});
