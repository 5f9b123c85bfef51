"use strict";
// A listener whose port another program holds: the engine waits for it and listens once it is
// free; cancelling while it waits leaves no timer and no listening socket behind.
const assert = require("node:assert/strict");
const net = require("node:net");
const { BrokerEngine } = require("../../../dist/nodes/lib/broker/index.js");
const { PortWait } = require("../../../dist/nodes/lib/broker/port-wait.js");
const { connect } = require("../fixtures/engine.js");
const { portIsClosed } = require("../fixtures/ports.js");
const { until } = require("../../support/wait.js");

/** Another program holding a loopback port. */
async function occupy() {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: server.address().port, free: () => new Promise((resolve) => server.close(resolve)) };
}

/** Counts of the resources keeping the event loop alive (timers, servers). */
function resources() {
  const counts = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

describe("PortWait (a busy listener port)", function () {
  let engine;
  afterEach(async function () {
    if (engine) await engine.close();
    engine = undefined;
  });

  it("keeps trying while the port is busy and listens once it is free", async function () {
    engine = await BrokerEngine.create({ allowAnonymous: true });
    const holder = await occupy();
    const config = { kind: "tcp", host: "127.0.0.1", port: holder.port };
    const seen = [];
    let tries = 0;
    const wait = new PortWait(
      {
        busy: (err) => seen.push(["busy", err.code, err.port]),
        listening: () => seen.push(["listening"]),
        failed: (err) => seen.push(["failed", err.message]),
      },
      { firstMs: 10, maxMs: 40 },
    );
    const listen = () => {
      tries += 1;
      return engine.listen(config);
    };
    assert.equal(await wait.listen(config, listen), false);
    assert.deepEqual(seen, [["busy", "address-in-use", holder.port]]);
    assert.equal(wait.waiting, 1);
    await until(() => tries >= 4, 5000, "several tries while the port is busy");
    assert.deepEqual(seen, [["busy", "address-in-use", holder.port]], "one busy report, however many tries");

    await holder.free();
    await until(() => seen.length === 2, 5000, "the listener once the port is free");
    assert.deepEqual(seen[1], ["listening"]);
    assert.equal(wait.waiting, 0);
    const client = await connect(`mqtt://127.0.0.1:${holder.port}`, { clientId: "after-wait" });
    await client.endAsync();
  });

  it("listens at once when the port is free, and passes other failures on", async function () {
    engine = await BrokerEngine.create({ allowAnonymous: true });
    const wait = new PortWait({ busy: assert.fail, listening: assert.fail, failed: assert.fail });
    const config = { kind: "tcp", host: "127.0.0.1", port: 0 };
    assert.equal(await wait.listen(config, () => engine.listen(config)), true);
    const bad = { kind: "tcp", host: "203.0.113.1", port: 1 }; // not an address of this machine
    await assert.rejects(wait.listen(bad, () => engine.listen(bad)), (err) => err.code === "listen-failed");
    assert.equal(wait.waiting, 0);
  });

  it("cancelled while it waits, leaves no timer and never listens", async function () {
    engine = await BrokerEngine.create({ allowAnonymous: true });
    const holder = await occupy();
    const before = resources();
    const config = { kind: "tcp", host: "127.0.0.1", port: holder.port };
    let tries = 0;
    const wait = new PortWait({ busy: () => undefined, listening: assert.fail, failed: assert.fail }, { firstMs: 10, maxMs: 20 });
    assert.equal(
      await wait.listen(config, () => {
        tries += 1;
        return engine.listen(config);
      }),
      false,
    );
    // Between two tries exactly one timer of its own is pending.
    await until(() => tries >= 2 && (resources().Timeout ?? 0) === (before.Timeout ?? 0) + 1, 5000, "a second try, then its timer");
    const triesAtCancel = tries;
    wait.cancel();
    assert.equal(resources().Timeout ?? 0, before.Timeout ?? 0, "no timer after cancel");
    assert.equal(wait.waiting, 0);
    await holder.free();
    await engine.close();
    engine = undefined;
    assert.equal(tries, triesAtCancel);
    assert.equal(await portIsClosed(holder.port), true, "the freed port is not taken by the cancelled wait");
    assert.equal(resources().TCPServerWrap ?? 0, (before.TCPServerWrap ?? 0) - 1, "only the holder's server is gone");
  });
});
