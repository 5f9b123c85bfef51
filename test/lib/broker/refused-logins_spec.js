"use strict";
// Refused logins remembered for adopting them (broker/refused-logins.ts): a real engine and
// MQTT.js logins; the credentials stay server-side (never in list()), a retrying device is one
// entry, a broker user's wrong password is no device, the list is bounded and expires.
const assert = require("node:assert/strict");
const { RefusedLogins } = require("../../../dist/nodes/lib/broker/refused-logins.js");
const { startEngine, connectRefused } = require("../fixtures/engine.js");

const TOKEN = "UnknownDeviceToken_0123456789abc";

describe("broker refused logins (for adopting a device)", function () {
  let ctx;
  afterEach(async function () {
    await ctx?.engine.close();
    ctx = undefined;
  });

  it("remembers an unknown token's login with its client id and address, the secret kept apart; a retry counts", async function () {
    ctx = await startEngine({ users: [{ username: "alice", password: "right", publish: [], subscribe: [] }] });
    let changes = 0;
    ctx.engine.refusedLogins.watch(() => changes++);
    await connectRefused(ctx.url, { username: "device", password: TOKEN, clientId: "esp-1" });
    await connectRefused(ctx.url, { username: "device", password: TOKEN, clientId: "esp-1" });
    await connectRefused(ctx.url, { username: "alice", password: "wrong", clientId: "alice-1" });
    const list = ctx.engine.refusedLogins.list();
    assert.equal(list.length, 1, "one entry per credentials; a broker user's wrong password is not listed");
    const [login] = list;
    assert.equal(login.clientId, "esp-1");
    assert.equal(login.username, undefined, "an unclaimed username may be a token: not listed");
    assert.equal(login.count, 2);
    assert.match(login.remoteAddress, /127\.0\.0\.1/);
    assert.equal(JSON.stringify(list).includes(TOKEN), false, "no token in the list");
    assert.equal(changes, 2);
    const credentials = ctx.engine.refusedLogins.credentials(login.id);
    assert.equal(credentials.password, TOKEN);
    assert.equal(credentials.username, "device");
    assert.equal(ctx.engine.refusedLogins.forget(login.id), true);
    assert.deepEqual(ctx.engine.refusedLogins.list(), []);
    assert.equal(ctx.engine.refusedLogins.credentials(login.id), undefined);
  });

  it("keeps a username that may be a token (ThingsBoard's) out of the list", async function () {
    ctx = await startEngine();
    // A plugin that names its username as no secret (Blynk's "device") has it listed.
    // A plugin's refusal is listed only when it says the credentials are no hosted device's
    // (`unknown`), not a known device's wrong password.
    ctx.engine.addPlugin({
      name: "toy",
      authenticate: (r) => (r.username === "device" ? { accept: false, returnCode: 4, reason: "unknown token", unknown: true } : r.username === "known" ? { accept: false, returnCode: 4, reason: "wrong password" } : undefined),
    });
    await connectRefused(ctx.url, { username: "known", password: "wrong", clientId: "known-1" });
    assert.deepEqual(ctx.engine.refusedLogins.list(), [], "a known device's wrong password is no device to adopt");
    await connectRefused(ctx.url, { username: "device", password: "x1", clientId: "toy-1" });
    assert.equal(ctx.engine.refusedLogins.list()[0].username, "device");
    await connectRefused(ctx.url, { username: "TbAccessToken0123456", clientId: "tb-1" });
    const login = ctx.engine.refusedLogins.list()[0];
    assert.equal(login.clientId, "tb-1");
    assert.equal(login.username, undefined);
    assert.equal(JSON.stringify(login).includes("TbAccessToken0123456"), false);
    assert.equal(ctx.engine.refusedLogins.credentials(login.id).username, "TbAccessToken0123456");
  });

  it("is bounded (the newest kept), expires, and skips logins without credentials or with huge ones", function () {
    let now = 1_000;
    const logins = new RefusedLogins({ max: 3, ttlMs: 60_000, now: () => now });
    const request = (i, extra = {}) => ({ clientId: `c${i}`, username: "device", password: Buffer.from(`token-${i}`), protocolVersion: 4, remoteAddress: "10.0.0.1", ...extra });
    for (let i = 1; i <= 5; i++) logins.record(request(i), "unknown", false);
    assert.deepEqual(logins.list().map((l) => l.clientId), ["c5", "c4", "c3"]);
    logins.record(request(9, { username: undefined, password: undefined }), "anonymous", false);
    logins.record(request(10, { password: Buffer.alloc(300, 97) }), "unknown", false);
    assert.equal(logins.list().length, 3);
    now += 30_000;
    logins.record(request(3), "unknown", false);
    now += 40_000;
    assert.deepEqual(logins.list().map((l) => l.clientId), ["c3"], "the others expired");
  });
});
