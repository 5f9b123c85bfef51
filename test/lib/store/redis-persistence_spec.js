"use strict";
// The `redis` persistence's aedes side on a real redis-server: aedes-persistence's own contract
// (its abstract suite, as aedes 2.0.0-beta.1 reads a persistence: streams piped) on
// aedes-persistence-redis 11 behind redisAedesPersistence, each case on an emptied database.
const assert = require("node:assert");
const Redis = require("ioredis");
const abstractPersistence = require("aedes-persistence/abstract.js");
const { store } = require("./fixtures.js");
const { startRedis, haveRedis } = require("../fixtures/redis-server.js");

/** node:test's `t`, as the abstract suite uses it (plan and diagnostics are not needed under mocha). */
const T = { plan() {}, diagnostic() {}, assert };

(haveRedis() ? describe : describe.skip)("redisAedesPersistence: aedes-persistence's abstract suite on a real Redis", function () {
  this.timeout(20_000);
  let redis;
  const connections = [];
  before(async function () {
    redis = await startRedis();
  });
  afterEach(async function () {
    for (const c of connections.splice(0)) c.disconnect();
  });
  after(async function () {
    await redis?.remove();
  });

  abstractPersistence({
    test: (name, fn) => it(name, () => fn(T)),
    persistence: async () => {
      const conn = new Redis(redis.url, { keyPrefix: "contract:" });
      connections.push(conn);
      await conn.flushdb();
      return store.redisAedesPersistence(conn);
    },
    testAsync: true,
  });
});
