"use strict";
// What the `redis` persistence's specs share: one real redis-server per spec file
// (test/lib/fixtures/redis-server.js) and Redis stores on it, each under a prefix of its own
// unless a spec gives one (two instances of one broker share a prefix), all closed after each
// spec. `storage()` opens one as an iot-broker node's BrokerStorage does (engineStorageOptions).
const { store } = require("./fixtures.js");
const { startRedis, haveRedis } = require("../fixtures/redis-server.js");
const { until } = require("../../support/wait.js");

let prefixes = 0;

/** Per spec file: `redis()` is the server; `open`/`start` a store, `storage` a broker storage; everything opened is closed after each spec. */
function redisSuite(suite) {
  const opened = [];
  let server;
  suite.timeout(30_000);
  before(async function () {
    server = await startRedis();
  });
  afterEach(async function () {
    await Promise.all(opened.splice(0).map((b) => b.close()));
    if (!server.running) await server.start();
  });
  after(async function () {
    await server?.remove();
  });
  return {
    redis: () => server,
    newPrefix: () => `spec-${process.pid}-${++prefixes}:`,
    /** An opened store (not started). */
    open(options = {}) {
      const b = store.openRedisStore({ url: server.url, prefix: options.prefix ?? `spec-${process.pid}-${++prefixes}:`, ...options });
      opened.push(b);
      return b;
    },
    /** A broker storage on the server (connecting), as the iot-broker node opens it; `settings` beside url and prefix. */
    storage(settings = {}) {
      const s = store.openRedisStorage({ kind: "redis", url: server.url, prefix: `spec-${process.pid}-${++prefixes}:`, retentionDays: 0, ...settings });
      opened.push(s);
      return s;
    },
    /** An opened and started store. */
    async start(options = {}) {
      const b = this.open(options);
      await b.start();
      return b;
    },
  };
}

/** Waits until `read()` deep-equals `expected` (a replica catching up), on every macrotask. */
async function untilEqual(read, expected, ms = 5_000) {
  const text = JSON.stringify(expected);
  await until(() => JSON.stringify(read()) === text, ms, `${text} (last: ${JSON.stringify(read())})`);
}

/** Resolves with the first status of a Redis store (now or later) that passes `predicate`. */
function untilStatus(store, predicate, ms = 15_000) {
  if (predicate(store.status)) return Promise.resolve(store.status);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no such status within ${ms} ms (last: ${JSON.stringify(store.status)})`));
    }, ms);
    const stop = store.watch((status) => {
      if (!predicate(status)) return;
      clearTimeout(timer);
      stop();
      resolve(status);
    });
  });
}

module.exports = { redisSuite, untilEqual, untilStatus, haveRedis };
