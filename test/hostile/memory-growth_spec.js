"use strict";
// Memory that grew with traffic in the soak (bench/soak.mjs, SOAK_HEAP_SNAPSHOTS=1 and
// bench/heap-diff.mjs): proven by structure, not by measuring the heap.
const assert = require("node:assert/strict");
const { PacedQueue } = require("../../dist/nodes/lib/transport/paced-queue.js");
const { until } = require("../lib/fixtures/wait.js");

describe("hostile: memory that grows with traffic", function () {
  it("a paced queue keeps no sent item: idle after 3000 answers, it holds no slot", async function () {
    const sent = [];
    const queue = new PacedQueue({ limit: 64, send: async (n) => void sent.push(n) });
    // The emulations' pattern: a few answers at a time, the queue running empty in between.
    for (let round = 0; round < 1000; round++) {
      for (let i = 0; i < 3; i++) assert.ok(queue.offer(round * 3 + i));
      await until(() => sent.length === (round + 1) * 3);
    }
    assert.equal(queue.waiting, 0);
    assert.equal(queue.held, 0, `an idle queue still holds ${queue.held} slots of sent answers`);
  });
});
