"use strict";
// A real platform on the `redis` persistence: a hosted Blynk device's values, written by the device
// and by flows, are answered from Redis by the next engine (as after Node-RED restarts), and its
// history is there too.
const assert = require("node:assert/strict");
const Redis = require("ioredis");
const { engineStorageOptions } = require("../../../dist/nodes/lib/broker/broker-storage.js");
const { hostedBroker, TOKENS } = require("../blynk/fixtures.js");
const { redisSuite, haveRedis } = require("./redis-fixtures.js");

const DEVICE = { id: "a1b2c3d4e5f6aa01", token: TOKENS.alpha, name: "Greenhouse" };

(haveRedis() ? describe : describe.skip)("a hosted Blynk device on the redis persistence (real redis-server)", function () {
  const suite = redisSuite(this);
  let ctx;
  afterEach(async function () {
    await ctx?.cleanup();
    ctx = undefined;
  });

  it("answers get/ds from Redis after its broker's engine was replaced, with what the device and flows wrote", async function () {
    const prefix = suite.newPrefix();
    ctx = await hostedBroker({ devices: [DEVICE], ...engineStorageOptions(suite.storage({ prefix })), allowAnonymous: false });
    const writer = await ctx.device(DEVICE.token);
    await writer.publishAsync("ds/Temp", "21.50", { qos: 1 });
    await ctx.uplink(DEVICE.id, (u) => u.message.kind === "ds");
    await ctx.handles.get(DEVICE.id).send({ kind: "ds", datastream: "Light", text: "1" });
    await ctx.engine.deviceStores.open("blynk", DEVICE.id).flush();
    await ctx.cleanup();
    // The next engine is on another storage (as after Node-RED restarted), on the same Redis.

    ctx = await hostedBroker({ devices: [DEVICE], ...engineStorageOptions(suite.storage({ prefix })), allowAnonymous: false });
    const dev = await ctx.device(DEVICE.token);
    await dev.subscribeAsync("downlink/#");
    await dev.publishAsync("get/ds", "Temp,Light", { qos: 1 });
    assert.equal((await dev.box.next("downlink/ds/Temp")).payload, "21.50");
    assert.equal((await dev.box.next("downlink/ds/Light")).payload, "1");
    await assertNoTokenIn(prefix);
  });

  /** Every key under the broker's prefix, and what it holds: no token anywhere (state is keyed by device id). */
  async function assertNoTokenIn(prefix) {
    const redis = new Redis(suite.redis().url);
    try {
      const keys = await redis.keys(`${prefix}*`);
      assert.ok(keys.some((k) => k.includes(DEVICE.id)), "the device's state is there, under its id");
      for (const key of keys) {
        const type = await redis.type(key);
        const content =
          type === "string" ? await redis.get(key)
          : type === "hash" ? await redis.hgetall(key)
          : type === "list" ? await redis.lrange(key, 0, -1)
          : type === "set" ? await redis.smembers(key)
          : type === "zset" ? await redis.zrange(key, 0, -1)
          : "";
        assert.doesNotMatch(key + JSON.stringify(content), new RegExp(DEVICE.token), `a token in ${key}`);
      }
    } finally {
      redis.disconnect();
    }
  }
});
