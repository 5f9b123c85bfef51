"use strict";
// Sessions bound to their identity: aedes keys persistent sessions by client id alone, so a user
// connecting with clean:false under another user's client id inherited that session, its
// subscriptions and the messages already queued for it. Now a session belongs to the identity
// that made it (user, hosted device, or anonymous); another identity on that client id gets a
// fresh session (the old one is discarded), also after the store passed to a new engine.
const assert = require("node:assert/strict");
const { SessionStore } = require("../../dist/nodes/lib/broker/index.js");
const { startEngine, connect, inbox } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");

const ALICE = { username: "alice", password: "pa", publish: ["#"], subscribe: ["#"] };
const BOB = { username: "bob", password: "pb", publish: ["#"], subscribe: ["#"] };
const USERS = [ALICE, BOB];
const as = (user, extra) => ({ username: user.username, password: user.password, ...extra });

describe("hostile: a persistent session belongs to its identity", function () {
  this.timeout(20000);
  let ctx;
  const cleanups = [];

  afterEach(async function () {
    for (const c of cleanups.splice(0)) await c();
    await ctx?.engine.close();
    ctx = undefined;
  });

  async function client(options) {
    const c = await connect(ctx.url, options);
    cleanups.push(() => c.endAsync(true));
    return c;
  }

  /** Alice leaves a session on `shared` subscribed to secret/#, with 3 messages queued. */
  async function aliceLeavesSecrets() {
    const alice = await connect(ctx.url, as(ALICE, { clientId: "shared", clean: false }));
    await alice.subscribeAsync("secret/#", { qos: 1 });
    await alice.endAsync();
    const publisher = await client(as(ALICE, { clientId: "alice-pub" }));
    for (const n of [1, 2, 3]) await publisher.publishAsync("secret/pin", `s${n}`, { qos: 1 });
    return publisher;
  }

  /** Bob takes the client id; returns what he got, ended by a marker he subscribed to himself. */
  async function bobTakesOver(publisher) {
    const bob = await client(as(BOB, { clientId: "shared", clean: false }));
    assert.equal(bob.connackPacket?.sessionPresent ?? false, false, "no session present for bob");
    const box = inbox(bob);
    await bob.subscribeAsync("marker", { qos: 1 });
    await publisher.publishAsync("secret/pin", "s4", { qos: 1 });
    await publisher.publishAsync("marker", "end", { qos: 1 });
    await box.next("marker");
    return box.messages.filter((m) => m.topic !== "marker");
  }

  it("gives another user on the same client id none of the queued messages or subscriptions", async function () {
    ctx = await startEngine({ users: USERS });
    const publisher = await aliceLeavesSecrets();
    assert.deepEqual(await bobTakesOver(publisher), []);
  });

  it("gives none of it either when the first user is still connected (the takeover closes her connection)", async function () {
    ctx = await startEngine({ users: USERS });
    const alice = await connect(ctx.url, as(ALICE, { clientId: "shared", clean: false }));
    await alice.subscribeAsync("secret/#", { qos: 1 });
    const publisher = await client(as(ALICE, { clientId: "alice-pub" }));
    const closed = new Promise((resolve) => alice.once("close", resolve));
    assert.deepEqual(await bobTakesOver(publisher), []);
    await closed;
    await alice.endAsync(true);
  });

  it("still resumes the session for the identity that made it", async function () {
    ctx = await startEngine({ users: USERS });
    const publisher = await aliceLeavesSecrets();
    const alice = await client(as(ALICE, { clientId: "shared", clean: false }));
    assert.equal(alice.connackPacket?.sessionPresent, true);
    const box = inbox(alice);
    await publisher.publishAsync("secret/pin", "s4", { qos: 1 });
    await box.next("secret/pin");
    await until(() => box.messages.length === 4, 5000, "4 messages");
    assert.deepEqual(box.messages.map((m) => m.payload), ["s1", "s2", "s3", "s4"]);
  });

  it("discards the session taken over: the first user comes back to a fresh one", async function () {
    ctx = await startEngine({ users: USERS });
    const publisher = await aliceLeavesSecrets();
    assert.deepEqual(await bobTakesOver(publisher), []);
    const alice = await client(as(ALICE, { clientId: "shared", clean: false }));
    assert.equal(alice.connackPacket?.sessionPresent ?? false, false);
  });

  it("keeps the owner across a redeploy on the same session store", async function () {
    const sessions = new SessionStore();
    ctx = await startEngine({ users: USERS, sessions });
    const first = await aliceLeavesSecrets();
    cleanups.splice(0);
    await first.endAsync();
    await ctx.engine.close();
    ctx = await startEngine({ users: USERS, sessions });
    const publisher = await client(as(ALICE, { clientId: "alice-pub" }));
    assert.deepEqual(await bobTakesOver(publisher), []);
  });

  it("tells an anonymous client apart from a user", async function () {
    ctx = await startEngine({ users: USERS, allowAnonymous: true });
    const publisher = await aliceLeavesSecrets();
    const anon = await client({ clientId: "shared", clean: false });
    assert.equal(anon.connackPacket?.sessionPresent ?? false, false);
    const box = inbox(anon);
    await anon.subscribeAsync("marker", { qos: 1 });
    await publisher.publishAsync("marker", "end", { qos: 1 });
    await box.next("marker");
    assert.deepEqual(box.messages.map((m) => m.topic), ["marker"]);
  });
});
