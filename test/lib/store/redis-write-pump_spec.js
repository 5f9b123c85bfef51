"use strict";
// RedisWritePump (the write side RedisDeviceStores and RedisHistory share) on a real redis-server,
// with an owner of its own: flushes settle in the order of the writes they wait for, a failed send
// rejects only the flushes it covered and is tried again (by its timer, without a new write),
// a dropped connection rejects the flushes and "ready" sends again, close rejects every flush.
const assert = require("node:assert/strict");
const { Redis } = require("ioredis");
const { RedisWritePump } = require("../../../dist/nodes/lib/store/redis-write-pump.js");
const { startRedis, haveRedis } = require("../fixtures/redis-server.js");
const { waitFor } = require("../../support/wait.js");

let keys = 0;

/** An owner as the stores are: commands wait in `waiting`, a failure puts back what `fix` makes of them. */
function owner(db, fix = (cmd) => cmd) {
  const o = {
    waiting: [],
    sent: 0,
    failures: [],
    events: [],
    pump: undefined,
    /** Puts a command in waiting and counts it as a write. */
    write(...cmd) {
      o.waiting.push(cmd);
      o.pump.wrote();
    },
    /** A flush whose settling is recorded in `events` as `<label> ok|failed`. */
    flush(label) {
      return o.pump.flush().then(
        () => o.events.push(`${label} ok`),
        (err) => {
          o.events.push(`${label} failed`);
          throw err;
        },
      );
    },
  };
  o.pump = new RedisWritePump(db, {
    waiting: () => o.waiting.length > 0,
    take: () => {
      const batch = o.waiting;
      o.waiting = [];
      const pipeline = db.pipeline();
      for (const [name, ...args] of batch) pipeline[name](...args);
      return {
        pipeline,
        failed: (err) => {
          o.waiting = [...batch.map(fix), ...o.waiting];
          return new Error(`spec owner: ${err.message}`);
        },
      };
    },
    unavailable: () => new Error("spec owner: unavailable"),
    closed: () => new Error("spec owner: closed"),
    onSent: () => o.sent++,
    onFailed: (err) => o.failures.push(err.message),
  });
  db.on("ready", () => o.pump.schedule());
  return o;
}

(haveRedis() ? describe : describe.skip)("RedisWritePump (real redis-server)", function () {
  this.timeout(30_000);
  let server;
  let db;
  let key;
  before(async function () {
    server = await startRedis();
  });
  beforeEach(async function () {
    db = new Redis(server.url, { lazyConnect: true });
    await db.connect();
    key = (name) => `pump-spec-${process.pid}-${++keys}-${name}`;
  });
  afterEach(function () {
    db.disconnect();
  });
  after(async function () {
    await server?.remove();
  });

  it("a flush resolves once the writes counted before it are in Redis, before the flushes of later writes", async function () {
    const o = owner(db);
    const [a, b] = [key("a"), key("b")];
    await o.pump.flush(); // nothing written: resolves at once
    o.write("set", a, "1");
    const first = o.flush("first");
    void o.pump.send(); // `a` goes now; `b` waits for the next send
    o.write("set", b, "2");
    const second = o.flush("second");
    await first;
    assert.deepEqual(o.events, ["first ok"]);
    assert.equal(await db.get(a), "1");
    await second;
    assert.deepEqual(o.events, ["first ok", "second ok"]);
    assert.equal(await db.get(b), "2");
    assert.equal(o.sent, 2);
  });

  it("a failed send rejects only the flushes it covered, with the owner's error; the owner's put-back is tried again without a new write", async function () {
    const [text, fixed, later] = [key("text"), key("fixed"), key("later")];
    await db.set(text, "not a number");
    // The failed INCR comes back as a SET, so the try after the failure can succeed.
    const o = owner(db, (cmd) => (cmd[0] === "incr" ? ["set", fixed, "put back"] : cmd));
    o.write("incr", text);
    const covered = o.flush("covered");
    void o.pump.send();
    o.write("set", later, "3");
    const notCovered = o.flush("not covered");
    await assert.rejects(covered, /^Error: spec owner: .*not an integer/);
    assert.deepEqual(o.events, ["covered failed"]);
    assert.equal(o.failures.length, 1);
    await notCovered; // after the retry timer
    assert.deepEqual(o.events, ["covered failed", "not covered ok"]);
    assert.equal(await db.get(fixed), "put back");
    assert.equal(await db.get(later), "3");
    assert.equal(o.failures.length, 1);
  });

  it("a dropped connection rejects the waiting flushes and refuses new ones; once ready again, what waits is sent", async function () {
    const o = owner(db);
    const a = key("a");
    o.write("set", a, "1");
    const waiting = o.flush("waiting");
    const closed = waitFor(db, "close");
    db.disconnect(); // before the scheduled send runs
    await closed;
    await assert.rejects(waiting, /spec owner: unavailable/);
    await assert.rejects(o.pump.flush(), /spec owner: unavailable/);
    assert.equal(o.waiting.length, 1);
    await db.connect(); // its "ready" schedules the send
    await o.pump.flush();
    assert.equal(await db.get(a), "1");
  });

  it("close rejects every waiting flush with the given error, sends nothing more and refuses later flushes", async function () {
    const o = owner(db);
    const a = key("a");
    o.write("set", a, "1");
    const first = o.flush("first");
    o.write("set", a, "2");
    const second = o.flush("second");
    const why = new Error("spec owner: closed before sending");
    o.pump.close(why);
    await assert.rejects(first, (err) => err === why);
    await assert.rejects(second, (err) => err === why);
    await assert.rejects(o.pump.flush(), /spec owner: closed$/);
    o.pump.schedule();
    await new Promise((resolve) => setImmediate(resolve)); // a send scheduled before would have run by now
    assert.equal(o.waiting.length, 2);
    assert.equal(await db.get(a), null);
  });

  it("drain sends everything that waits before close", async function () {
    const o = owner(db);
    const a = key("a");
    o.write("set", a, "1");
    const flushed = o.flush("flushed");
    await o.pump.drain();
    o.pump.close(new Error("spec owner: closed"));
    await flushed;
    assert.equal(await db.get(a), "1");
  });
});
