"use strict";
// The `redis` persistence as a broker node's BrokerStorage (store/redis-storage.ts) on a real
// redis-server: its flush resolves only once Redis holds what was written before it (what QoS 1
// PUBACKs and HTTP 200s wait for), a device store's flush covers the history too, a redeploy's
// retention applies in place, and close() sends what still waits.
const assert = require("node:assert/strict");
const Redis = require("ioredis");
const { redisSuite, haveRedis } = require("./redis-fixtures.js");

(haveRedis() ? describe : describe.skip)("the redis BrokerStorage (real redis-server)", function () {
  const suite = redisSuite(this);
  let plain;
  beforeEach(function () {
    plain = new Redis(suite.redis().url);
  });
  afterEach(function () {
    plain.disconnect();
  });

  /** What Redis itself holds (over a connection of its own, not the storage's replica). */
  async function inRedis(prefix, device) {
    const state = await plain.hgetall(`${prefix}state:${JSON.stringify(["toy", device])}`);
    const history = await plain.zrange(`${prefix}hist:${JSON.stringify(["toy", device, "t"])}`, 0, -1);
    return { state: Object.keys(state).filter((f) => !f.startsWith("#")).length, history: history.length };
  }

  it("flush() resolves once Redis holds the state and history written before it", async function () {
    const prefix = suite.newPrefix();
    const storage = suite.storage({ prefix });
    await storage.store.start();
    const store = storage.deviceStores.open("toy", "d1");
    for (let i = 0; i < 50; i++) {
      store.set("s", `k${i}`, i, 1_000 + i);
      storage.history.append("toy", "d1", "t", 1_000 + i, i);
    }
    await storage.flush();
    assert.deepEqual(await inRedis(prefix, "d1"), { state: 50, history: 50 });
  });

  it("a device store's flush (what an HTTP 200 waits for) covers the history written with it", async function () {
    const prefix = suite.newPrefix();
    const storage = suite.storage({ prefix });
    await storage.store.start();
    const store = storage.deviceStores.open("toy", "d2");
    store.set("s", "v", 1, 1_000);
    storage.history.append("toy", "d2", "t", 1_000, 1);
    await store.flush();
    assert.deepEqual(await inRedis(prefix, "d2"), { state: 1, history: 1 });
  });

  it("takes a redeploy's retention in place", async function () {
    const storage = suite.storage({ retentionDays: 30 });
    assert.equal(storage.history.retentionDays, 30);
    storage.update({ kind: "redis", url: suite.redis().url, prefix: "iot-bridge:any:", retentionDays: 2 });
    assert.equal(storage.history.retentionDays, 2);
  });

  it("close() sends what still waits before it disconnects", async function () {
    const prefix = suite.newPrefix();
    const storage = suite.storage({ prefix });
    await storage.store.start();
    storage.deviceStores.open("toy", "d3").set("s", "last", 3, 3_000);
    storage.history.append("toy", "d3", "t", 3_000, 3);
    await storage.close();
    assert.deepEqual(await inRedis(prefix, "d3"), { state: 1, history: 1 });
  });
});
