"use strict";
// The `redis` persistence's connections: a password from the credentials (or the URL) is used and
// never shown (status, errors, events); a wrong or missing one shows as Redis says it, and the
// store keeps trying; the server is named without credentials; MQTT filters become Redis
// patterns that match no less than the filter.
const assert = require("node:assert/strict");
const { BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");
const { engineStorageOptions } = require("../../../dist/nodes/lib/broker/broker-storage.js");
const { store } = require("./fixtures.js");
const { startRedis, haveRedis } = require("../fixtures/redis-server.js");
const { untilStatus } = require("./redis-fixtures.js");
const { table } = require("../../support/table.js");

const PASSWORD = "Sup3r-s3cret-redis-pw";

describe("redis persistence: names and patterns", function () {
  table(
    "describeRedis names the server without user or password",
    (url) => store.describeRedis(url),
    [
      ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379"],
      ["redis://:pw@cache.lan:6380/3", "redis://cache.lan:6380/3"],
      ["rediss://admin:pw@cache.lan", "rediss://cache.lan"],
      ["not a url", "redis (an unreadable URL)"],
    ],
  );
  table(
    "redisPattern: a filter with wildcards becomes a pattern matching at least what it matches; others stay channel names",
    (filter) => store.redisPattern(filter),
    [
      ["a/b", "a/b"],
      ["a/+/c", "a/*/c"],
      ["a/#", "a*"],
      ["#", "*"],
      ["+/x", "*/x"],
      ["odd[1]/+/y", "odd\\[1\\]/*/y"],
      ["q?/*/\\/#", "q\\?/\\*/\\\\*"],
      ["$SYS/+/new/clients", "$SYS/*/new/clients"],
    ],
  );
});

(haveRedis() ? describe : describe.skip)("redis persistence: a server with a password (real redis-server)", function () {
  this.timeout(30_000);
  let redis;
  const opened = [];
  const open = (options) => {
    const b = store.openRedisStore({ url: redis.url, prefix: "pw:", ...options });
    opened.push(b);
    return b;
  };
  /** As the iot-broker node opens it: the password from its credentials. */
  const storage = (password) => {
    const s = store.openRedisStorage({ kind: "redis", url: redis.url, prefix: "pw:", retentionDays: 0, ...(password === undefined ? {} : { password }) });
    opened.push(s);
    return s;
  };
  before(async function () {
    redis = await startRedis({ password: PASSWORD });
  });
  afterEach(async function () {
    await Promise.all(opened.splice(0).map((b) => b.close()));
  });
  after(async function () {
    await redis?.remove();
  });

  it("connects with the password from the credentials, or from the URL", async function () {
    await open({ password: PASSWORD }).start();
    await open({ url: `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${redis.port}` }).start();
  });

  for (const [what, password] of [
    ["without a password", undefined],
    ["with a wrong password", "not-the-password"],
  ]) {
    it(`${what}: not available, says why as Redis does, never shows a password, and keeps trying`, async function () {
      const broker = storage(password);
      const reported = [];
      broker.report({ failed: (err) => reported.push(err.message), recovered: () => undefined, badRow: () => undefined });
      const engine = new BrokerEngine({ id: "pw", ...engineStorageOptions(broker) });
      const events = [];
      engine.on("event", (e) => events.push(e));
      engine.ready().catch(() => undefined);
      const status = await untilStatus(broker.store, (s) => s.error !== undefined && /NOAUTH|WRONGPASS|auth/i.test(s.error));
      assert.equal(status.available, false);
      assert.match(broker.failure().message, /NOAUTH|WRONGPASS|auth/i, "the storage's failure says why");
      assert.ok(reported.length > 0, "and its reporter heard it");
      const shown = JSON.stringify([status, events, broker.store.where, reported, broker.failure().message]);
      assert.doesNotMatch(shown, new RegExp(PASSWORD));
      if (password !== undefined) assert.doesNotMatch(shown, new RegExp(password));
      assert.ok(events.some((e) => e.event === "store-unavailable" && e.where === redis.url));
      await engine.close();
      await assert.rejects(engine.ready());
    });
  }
});

(haveRedis() ? describe : describe.skip)("redis persistence: a connection's writes (real redis-server)", function () {
  this.timeout(30_000);
  const { openConnection, endConnection } = require("../../../dist/nodes/lib/store/redis-connection.js");
  let redis;
  let connection;
  before(async function () {
    redis = await startRedis();
  });
  afterEach(async function () {
    if (connection) await endConnection(connection);
  });
  after(async function () {
    await redis?.remove();
  });

  /** Counts the socket's write calls to the system (one per write or writev). */
  const countWrites = (socket) => {
    const counted = { n: 0 };
    for (const name of ["_write", "_writev"]) {
      const own = socket[name];
      socket[name] = function (...args) {
        counted.n++;
        return own.apply(this, args);
      };
    }
    return counted;
  };

  it("the commands of one turn leave in one socket write; each gets its own answer, in order; a later lone command is sent too", async function () {
    connection = openConnection({ url: redis.url }, { name: "spec-writes", keyPrefix: "writes:" });
    await connection.connect();
    const writes = countWrites(connection.stream);
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(connection.incr("n"));
    assert.deepEqual(await Promise.all(answers), Array.from({ length: 100 }, (_, i) => i + 1));
    assert.equal(writes.n, 1, "one write for the turn's 100 commands");
    assert.equal(await connection.get("n"), "100");
    assert.equal(writes.n, 2);
  });
});
