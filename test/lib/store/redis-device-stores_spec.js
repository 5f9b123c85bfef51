"use strict";
// RedisDeviceStores on a real redis-server: the DeviceStore contract (with a reopen on a new
// store after each case), and what two instances of one broker see of each other's writes:
// a change made through B is what A reads; concurrent writes end the same everywhere; a change
// missed while A's channel was cut is loaded when it is back; writes made while Redis is down are
// kept and sent once it is up, and flush() says so.
const assert = require("node:assert/strict");
const Redis = require("ioredis");
const { deviceStoreContract } = require("../../support/device-store-contract.js");
const { redisSuite, untilEqual, untilStatus, haveRedis } = require("./redis-fixtures.js");

(haveRedis() ? describe : describe.skip)("RedisDeviceStores (real redis-server)", function () {
  const suite = redisSuite(this);

  describe("under the contract", function () {
    const make = (flushEach) => async () => {
      const prefix = suite.newPrefix();
      const first = await suite.start({ prefix });
      return {
        store: first.deviceStores.open("toy", "device-1"),
        flushEach,
        reopen: async () => {
          const again = await suite.start({ prefix });
          return again.deviceStores.open("toy", "device-1");
        },
      };
    };
    deviceStoreContract("RedisDeviceStores, writes sent together, reopened on another store", make(false));
    deviceStoreContract("RedisDeviceStores, a flush after every step", make(true));
  });

  it("state written through B is what A reads; a device B writes first appears on A too", async function () {
    const prefix = suite.newPrefix();
    const [a, b] = [await suite.start({ prefix }), await suite.start({ prefix })];
    const onA = a.deviceStores.open("blynk", "dev-1");
    const onB = b.deviceStores.open("blynk", "dev-1");
    onB.set("ds", "Temp", 21.5, 1000);
    onB.set("meta", "zone", "Europe/Berlin", 1001);
    await onB.flush();
    await untilEqual(() => onA.entries("ds"), [["Temp", { value: 21.5, at: 1000 }]]);
    await untilEqual(() => onA.get("meta", "zone"), { value: "Europe/Berlin", at: 1001 });
    onB.delete("meta", "zone");
    onB.clear("ds");
    b.deviceStores.open("thingsboard", "later").set("client", "fw", "1.2", 5);
    await untilEqual(() => [onA.size("ds"), onA.size("meta")], [0, 0]);
    await untilEqual(() => a.deviceStores.open("thingsboard", "later").get("client", "fw"), { value: "1.2", at: 5 });
    // A's own write wins over nothing and comes back to B.
    onA.set("ds", "Hum", 40, 7);
    await untilEqual(() => onB.get("ds", "Hum"), { value: 40, at: 7 });
  });

  it("concurrent writes of one entry from two instances end with what Redis holds, everywhere", async function () {
    const prefix = suite.newPrefix();
    const [a, b] = [await suite.start({ prefix }), await suite.start({ prefix })];
    const onA = a.deviceStores.open("toy", "d");
    const onB = b.deviceStores.open("toy", "d");
    for (let round = 0; round < 50; round++) {
      onA.set("s", "k", `a${round}`, round);
      onB.set("s", "k", `b${round}`, round);
      if (round % 7 === 0) onB.clear("s");
      if (round % 11 === 0) onA.delete("s", "k");
    }
    await Promise.all([onA.flush(), onB.flush()]);
    const third = await suite.start({ prefix });
    const truth = () => third.deviceStores.open("toy", "d").entries("s");
    await untilEqual(() => onA.entries("s"), truth());
    await untilEqual(() => onB.entries("s"), truth());
  });

  it("a change A missed while its channel was cut is there once it is back (the replica is loaded again)", async function () {
    const prefix = suite.newPrefix();
    const [a, b] = [await suite.start({ prefix }), await suite.start({ prefix })];
    const onA = a.deviceStores.open("toy", "d");
    const admin = new Redis(suite.redis().url);
    try {
      const cut = untilStatus(a, (s) => !s.available);
      // Every subscribed connection goes (both instances' channels and buses); B's command connection stays,
      // and writes while A's channel reconnects (its first retry waits 200 ms): A gets it by loading again.
      await admin.client("KILL", "TYPE", "pubsub");
      await cut;
      const onB = b.deviceStores.open("toy", "d");
      onB.set("s", "while-cut", true, 1);
      await onB.flush();
      await untilStatus(a, (s) => s.available);
      await untilEqual(() => onA.get("s", "while-cut"), { value: true, at: 1 });
    } finally {
      admin.disconnect();
    }
  });

  it("while Redis is down: reads answer, writes are kept, flush() refuses; once it is back they are sent", async function () {
    const prefix = suite.newPrefix();
    const a = await suite.start({ prefix });
    const store = a.deviceStores.open("toy", "d");
    store.set("s", "before", 1, 1);
    await store.flush();
    await suite.redis().stop();
    await untilStatus(a, (s) => !s.available);
    store.set("s", "during", 2, 2);
    assert.deepEqual(store.get("s", "during"), { value: 2, at: 2 });
    await assert.rejects(store.flush(), (err) => err.code === "unavailable" && !/password/i.test(err.message));
    await suite.redis().start();
    await untilStatus(a, (s) => s.available);
    await store.flush();
    const other = await suite.start({ prefix });
    assert.deepEqual(other.deviceStores.open("toy", "d").entries("s"), [
      ["before", { value: 1, at: 1 }],
      ["during", { value: 2, at: 2 }],
    ]);
  });

  it("refuses a value JSON cannot hold, naming the entry, and keeps the store usable", async function () {
    const a = await suite.start();
    const store = a.deviceStores.open("toy", "d");
    assert.throws(() => store.set("s", "big", 10n, 1), (err) => err.code === "invalid" && /toy device d s\/big/.test(err.message));
    store.set("s", "ok", 1, 1);
    await store.flush();
    assert.equal(store.size("s"), 1);
  });
});
