"use strict";
// Broker passwords as salted scrypt hashes: the hash format, constant-time verification, the
// bounded queue of scrypt work, the engine checking hashed users over MQTT (with the cache of
// verified passwords), and the node migrating an old clear-text `users` credential.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const helper = require("node-red-node-test-helper");
const nodeRedPath = require("../lib/fixtures/node-red-path.js");
const brokerNode = require("../../dist/nodes/iot-broker.js");
const { hashPassword, verifyPassword, isPasswordHash, PasswordCheckBusy } = require("../../dist/nodes/lib/broker/password-hash.js");
const { UserDirectory } = require("../../dist/nodes/lib/broker/users.js");
const { parseUsers, serialiseUsers } = require("../../dist/nodes/lib/broker/node-config.js");
const { startEngine, connect, connectRefused } = require("../lib/fixtures/engine.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");

helper.init(nodeRedPath);

const PASSWORD = "correct-horse-battery-1";
/** A valid hash with the cheapest parameters: fills the scrypt queue without costing time. */
const CHEAP = `$scrypt$ln=1,r=1,p=1$${Buffer.alloc(16, 1).toString("base64")}$${Buffer.alloc(32, 2).toString("base64")}`;

describe("hostile: broker passwords are stored and checked as salted hashes", function () {
  this.timeout(20000);
  let hash;

  before(async function () {
    hash = await hashPassword(PASSWORD);
  });

  describe("password-hash", function () {
    it("writes a self-describing salted scrypt hash that verifies only the right password", async function () {
      assert.match(hash, /^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
      assert.ok(!hash.includes(PASSWORD));
      assert.notEqual(await hashPassword(PASSWORD), hash, "a fresh salt each time");
      assert.equal(await verifyPassword(hash, PASSWORD), true);
      assert.equal(await verifyPassword(hash, Buffer.from(PASSWORD)), true);
      assert.equal(await verifyPassword(hash, PASSWORD + "x"), false);
      assert.equal(await verifyPassword(hash, ""), false);
    });

    it("refuses malformed hashes and parameters that would cost too much memory", async function () {
      const key = Buffer.alloc(32).toString("base64");
      const salt = Buffer.alloc(16).toString("base64");
      for (const bad of ["", "plain", "$scrypt$", `$scrypt$ln=14,r=8,p=1$${salt}`, `$scrypt$ln=25,r=8,p=1$${salt}$${key}`, `$scrypt$ln=20,r=64,p=1$${salt}$${key}`, `$bcrypt$ln=14,r=8,p=1$${salt}$${key}`]) {
        assert.equal(isPasswordHash(bad), false, bad);
        assert.equal(await verifyPassword(bad, PASSWORD), false, bad);
      }
      assert.equal(isPasswordHash(hash), true);
      assert.equal(isPasswordHash(CHEAP), true);
    });

    it("bounds the scrypt work: beyond the queue a check is refused as busy, not queued", async function () {
      const calls = Array.from({ length: 80 }, () => verifyPassword(CHEAP, "x").then(() => "done", (err) => err));
      const results = await Promise.all(calls);
      const busy = results.filter((r) => r instanceof PasswordCheckBusy);
      assert.ok(busy.length >= 10, `some refused as busy, got ${busy.length}`);
      assert.ok(results.filter((r) => r === "done").length >= 60, "the queued ones ran");
      // And the queue drained: a later check runs normally.
      assert.equal(await verifyPassword(CHEAP, "x"), false);
    });
  });

  describe("UserDirectory", function () {
    const user = (fields) => ({ username: "u", publish: ["#"], subscribe: ["#"], ...fields });

    it("checks a hashed user asynchronously, then reconnects and wrong passwords without scrypt", async function () {
      const users = new UserDirectory([user({ hash })]);
      const first = users.check("u", Buffer.from(PASSWORD));
      assert.ok(first instanceof Promise, "the first check runs scrypt off the event loop");
      assert.equal((await first).username, "u");
      assert.equal(users.check("u", Buffer.from(PASSWORD)).username, "u", "verified before: synchronous");
      assert.equal(users.check("u", Buffer.from("wrong")), undefined, "only one password matches a hash");
      assert.equal(users.check("u", undefined), undefined);
      assert.equal(users.check("nobody", Buffer.from(PASSWORD)), undefined);
    });

    it("runs one scrypt for a burst of identical CONNECTs and refuses a wrong password", async function () {
      const users = new UserDirectory([user({ hash })]);
      const burst = Array.from({ length: 5 }, () => users.check("u", Buffer.from(PASSWORD)));
      assert.equal(new Set(burst).size, 1, "the same promise");
      assert.equal((await burst[0]).username, "u");
      const other = new UserDirectory([user({ hash })]);
      assert.equal(await other.check("u", Buffer.from("not-it")), undefined);
    });

    it("still checks clear-text users (engine callers, old flows) in constant time", function () {
      const users = new UserDirectory([user({ password: "plain-pw" })]);
      assert.equal(users.check("u", Buffer.from("plain-pw")).username, "u");
      assert.equal(users.check("u", Buffer.from("plain-pw ")), undefined);
    });

    it("refuses a bad hash or both password and hash, without echoing either", function () {
      for (const [fields, pattern] of [
        [{ hash: "$scrypt$nonsense" }, /user 1 \("u"\): the password hash is not one this broker can check/],
        [{ hash, password: "pw-both-given" }, /either a password or its hash, not both/],
        [{}, /password must be a non-empty string/],
      ]) {
        assert.throws(() => new UserDirectory([user(fields)]), (err) => {
          assert.match(err.message, pattern);
          assert.ok(!err.message.includes("nonsense") && !err.message.includes("pw-both-given") && !err.message.includes(hash));
          return true;
        });
      }
    });
  });

  describe("users credential", function () {
    it("reads hashes and clear-text passwords; a given password wins; stores hashes only", function () {
      assert.deepEqual(parseUsers(JSON.stringify([{ username: "a", hash, publish: ["x"], subscribe: [] }])), [{ username: "a", hash, publish: ["x"], subscribe: [] }]);
      assert.deepEqual(parseUsers(JSON.stringify([{ username: "a", password: "pw", hash }])), [{ username: "a", password: "pw", publish: ["#"], subscribe: ["#"] }]);
      const stored = serialiseUsers([{ username: "a", hash, publish: ["x"], subscribe: [] }]);
      assert.deepEqual(JSON.parse(stored), [{ username: "a", hash, publish: ["x"], subscribe: [] }]);
      assert.throws(() => serialiseUsers([{ username: "a", password: "pw", publish: [], subscribe: [] }]), /no password hash/);
    });

    it("reports a malformed list without quoting any of it (V8 quotes the text around the error)", function () {
      for (const raw of ['[{"username":"a","password":SecretPartOfIt}]', '[{"username":"a","password":"SecretPartOfIt" x}]', '[{"password":"SecretPartOfIt"}]]']) {
        assert.throws(() => parseUsers(raw), (err) => {
          assert.match(err.params.error, /^not valid JSON/);
          assert.ok(!err.message.includes("Secret") && !err.message.includes("password"), err.message);
          return true;
        });
      }
    });
  });

  describe("engine", function () {
    let ctx;
    afterEach(async function () {
      await ctx?.engine.close();
    });

    it("accepts a hashed user's password over MQTT (3.1.1 and 5) and refuses a wrong one with CONNACK 4", async function () {
      ctx = await startEngine({ users: [{ username: "alice", hash, publish: ["#"], subscribe: ["#"] }] });
      assert.equal((await connectRefused(ctx.url, { username: "alice", password: "wrong-password-9" })).code, 4);
      const a = await connect(ctx.url, { username: "alice", password: PASSWORD });
      await a.endAsync();
      const b = await connect(ctx.url, { protocolVersion: 5, username: "alice", password: PASSWORD });
      await b.endAsync();
      assert.equal((await connectRefused(ctx.url, { username: "alice", password: "wrong-password-9" })).code, 4);
      const text = JSON.stringify(ctx.events);
      assert.ok(!text.includes(PASSWORD) && !text.includes("wrong-password-9") && !text.includes(hash));
    });

    it("refuses a burst of CONNECTs with distinct wrong passwords (CONNACK 4, or 3 when busy) and still lets the right one in", async function () {
      // Cheap scrypt parameters so the burst measures the queue, not the CPU.
      const salt = crypto.randomBytes(16);
      const cheap = `$scrypt$ln=1,r=1,p=1$${salt.toString("base64")}$${crypto.scryptSync("burst-right-pw", salt, 32, { N: 2, r: 1, p: 1 }).toString("base64")}`;
      // Throttling off: this test is about the scrypt queue, not about guessing (guessing_spec.js).
      ctx = await startEngine({ users: [{ username: "bob", hash: cheap, publish: ["#"], subscribe: ["#"] }], authThrottle: false });
      const codes = await Promise.all(Array.from({ length: 100 }, (_, i) => connectRefused(ctx.url, { username: "bob", password: `burst-wrong-${i}` }).then((err) => err.code)));
      assert.ok(codes.every((c) => c === 4 || c === 3), `refusal codes ${[...new Set(codes)]}`);
      const ok = await connect(ctx.url, { username: "bob", password: "burst-right-pw" });
      await ok.endAsync();
    });
  });

  describe("iot-broker node", function () {
    beforeEach(function (done) {
      helper.startServer(done);
    });
    afterEach(async function () {
      await helper.unload();
      await new Promise((resolve) => helper.stopServer(resolve));
    });

    const flow = (port) => [
      { id: "f1", type: "tab", label: "t" },
      { id: "b1", type: "iot-broker", z: "f1", port, bind: "127.0.0.1", allowAnonymous: false, wires: [[]] },
    ];

    it("accepts an old clear-text users credential and migrates it to hashes, which work after a restart", async function () {
      const port = await freePort();
      const old = JSON.stringify([{ username: "legacy", password: PASSWORD, publish: ["a/#"], subscribe: ["a/#"] }]);
      await helper.load(brokerNode, flow(port), { b1: { users: old } });
      const url = `mqtt://127.0.0.1:${port}`;
      const first = await connect(url, { username: "legacy", password: PASSWORD });
      await first.endAsync();
      // The stored credential (what Node-RED writes at its next save) now holds a hash instead.
      const stored = () => helper._redNodes.getCredentials("b1")?.users ?? "";
      await until(() => stored().includes("$scrypt$"), 10000, "the users credential rewritten with a hash");
      const migrated = stored();
      assert.ok(!migrated.includes(PASSWORD), "no clear-text password left");
      assert.deepEqual(JSON.parse(migrated).map((u) => [u.username, u.publish, u.subscribe, "password" in u]), [["legacy", ["a/#"], ["a/#"], false]]);
      assert.equal(await verifyPassword(JSON.parse(migrated)[0].hash, PASSWORD), true);

      // Node-RED restarted with the migrated credential: the same login still works.
      await helper.unload();
      await helper.load(brokerNode, flow(port), { b1: { users: migrated } });
      await until(() => helper.getNode("b1") !== null, 5000, "the node");
      const again = await connect(url, { username: "legacy", password: PASSWORD });
      await again.endAsync();
      assert.equal((await connectRefused(url, { username: "legacy", password: "not-the-password" })).code, 4);
      assert.equal(stored(), migrated, "an already hashed list is left as it is");
    });

    it("hashes a new password for the editor on the admin API, and refuses what is not one", async function () {
      await helper.load(brokerNode, flow(await freePort()), {});
      const res = await helper.request().post("/iot-broker/password-hash").send({ password: PASSWORD }).expect(200);
      assert.equal(res.headers["cache-control"], "no-store");
      assert.equal(await verifyPassword(res.body.hash, PASSWORD), true);
      for (const body of [{}, { password: "" }, { password: 42 }, { password: "x".repeat(70000) }]) {
        const bad = await helper.request().post("/iot-broker/password-hash").send(body).expect(400);
        assert.match(bad.body.error, /password must be a non-empty string/);
      }
    });
  });
});
