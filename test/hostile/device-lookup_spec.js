"use strict";
// Issue 8, finding 2: logins of hosted devices slowed down with their number (every token was
// compared with every device). Proven by structure, not by timing: with 2,000 hosted devices per
// platform, one login (or HTTP look-up) makes a fixed, small number of secret comparisons.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { brokers } = require("../../dist/nodes/lib/broker/index.js");
const blynk = require("../../dist/nodes/lib/blynk/emulation.js");
const thingsboard = require("../../dist/nodes/lib/thingsboard/emulation.js");
const thingspeak = require("../../dist/nodes/lib/thingspeak/emulation.js");
const { thingSpeakChannels, CHANNEL_KINDS } = thingspeak;
const byWriteKey = (key) => thingSpeakChannels.find(CHANNEL_KINDS.writeKey, key);
const { startEngine, connect, connectRefused } = require("../lib/fixtures/engine.js");
const { until } = require("../support/wait.js");

const BROKER_ID = "hostile-lookup-broker";
const COUNT = 2000;
/** A login compares a handful of digests whatever the number of devices (the old scan made COUNT). */
const MAX_COMPARISONS = 3;

/** Counts constant-time comparisons (each look-up candidate costs one) while `run` runs. */
async function comparisonsDuring(run) {
  const original = crypto.timingSafeEqual;
  let calls = 0;
  crypto.timingSafeEqual = (a, b) => {
    calls++;
    return original(a, b);
  };
  try {
    await run();
  } finally {
    crypto.timingSafeEqual = original;
  }
  return calls;
}

/** Fails naming the count: "2000 comparisons" says what went wrong, "false == true" does not. */
function atMost(calls, max) {
  assert.ok(calls <= max, `${calls} secret comparisons for one look-up; at most ${max} expected`);
}

const pad = (i) => String(i).padStart(6, "0");

describe(`hostile: ${COUNT} hosted devices per platform, logins by map look-up (finding 2)`, function () {
  this.timeout(30_000);
  let ctx;

  before(async function () {
    ctx = await startEngine();
    brokers.attach(BROKER_ID, ctx.engine);
    ctx.unhost = [];
    const warnings = [];
    const warn = (err) => warnings.push(err.message);
    for (let i = 0; i < COUNT; i++) {
      ctx.unhost.push(blynk.hostBlynkDevice(BROKER_ID, { id: `bl${pad(i)}`, name: `B${i}`, token: `BlynkTok_${pad(i)}_abcdefghijklmnop` }, warn));
      ctx.unhost.push(thingsboard.hostThingsBoardDevice(BROKER_ID, { id: `tb${pad(i)}`, name: `T${i}`, token: `TbTok_${pad(i)}_abcdefgh`, ...(i % 2 ? { basic: { clientId: `tbc-${pad(i)}`, username: `tbu-${pad(i)}`, password: "pw" } } : {}) }, warn));
      ctx.unhost.push(
        thingspeak.hostThingSpeakChannel(
          BROKER_ID,
          { id: `ts${pad(i)}`, channelId: 100000 + i, name: `S${i}`, clientId: `TsClient${pad(i)}`, username: `TsClient${pad(i)}`, password: `TsPassword${pad(i)}`, writeKey: `TSWRITE${pad(i)}`, updateIntervalMs: 0 },
          warn,
        ),
      );
    }
    assert.deepEqual(warnings, []);
  });

  after(async function () {
    for (const stop of ctx.unhost) stop();
    brokers.detach(BROKER_ID, ctx.engine);
    await ctx.engine.close();
  });

  async function login(options) {
    const client = await connect(ctx.url, { clientId: "", ...options });
    await client.endAsync(true);
  }

  it("Blynk: a device login (the last hosted token, and an unknown one) and the HTTPS API's look-up", async function () {
    const last = `BlynkTok_${pad(COUNT - 1)}_abcdefghijklmnop`;
    atMost(await comparisonsDuring(() => login({ username: "device", password: last })), MAX_COMPARISONS);
    atMost(await comparisonsDuring(() => connectRefused(ctx.url, { username: "device", password: "BlynkTok_unknown_abcdefghijklmnop" })), MAX_COMPARISONS);
    let found;
    atMost(await comparisonsDuring(() => { found = blynk.hostedByToken(last); }), 1);
    assert.equal(found.device.id, `bl${pad(COUNT - 1)}`);
    assert.equal(blynk.hostedByToken("nope"), undefined);
  });

  it("ThingsBoard: access token and basic credentials logins, and the HTTP API's look-up", async function () {
    const token = `TbTok_${pad(COUNT - 2)}_abcdefgh`;
    atMost(await comparisonsDuring(() => login({ username: token })), MAX_COMPARISONS);
    atMost(await comparisonsDuring(() => login({ clientId: `tbc-${pad(COUNT - 1)}`, username: `tbu-${pad(COUNT - 1)}`, password: "pw" })), MAX_COMPARISONS);
    assert.equal((await connectRefused(ctx.url, { clientId: `tbc-${pad(COUNT - 1)}`, username: `tbu-${pad(COUNT - 1)}`, password: "wrong" })).code, 5);
    atMost(await comparisonsDuring(() => connectRefused(ctx.url, { username: "TbTok_unknown_abcdefgh" })), MAX_COMPARISONS);
    let found;
    atMost(await comparisonsDuring(() => { found = thingsboard.hostedByToken(token); }), 1);
    assert.equal(found.device.id, `tb${pad(COUNT - 2)}`);
  });

  it("ThingSpeak: an MQTT device login and the REST API's write key look-up", async function () {
    const i = pad(COUNT - 1);
    atMost(await comparisonsDuring(() => login({ clientId: `TsClient${i}`, username: `TsClient${i}`, password: `TsPassword${i}` })), MAX_COMPARISONS);
    assert.equal((await connectRefused(ctx.url, { clientId: `TsClient${i}`, username: `TsClient${i}`, password: "wrong" })).code, 5);
    let found;
    atMost(await comparisonsDuring(() => { found = byWriteKey(`TSWRITE${i}`); }), 1);
    assert.equal(found.config.channelId, 100000 + COUNT - 1);
    assert.equal(byWriteKey("TSWRITEnone"), undefined);
    assert.equal(thingspeak.hostedByCredentials(`TsClient${i}`, `TsClient${i}`, `TsPassword${i}`).channelId, 100000 + COUNT - 1);
    await until(() => ctx.engine.clients().length === 0);
  });
});
