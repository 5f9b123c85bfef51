"use strict";
// The hosted-device contract (broker/hosted-device.ts, hosted-runtime.ts, device-store.ts,
// hosted-directory.ts) with a toy platform: what every platform's local link relies on.
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const broker = require("../../../dist/nodes/lib/broker/index.js");
const { followDeploys, sweepAll } = require("../../../dist/nodes/lib/transport/parking.js");
const { waitFor, until, untilStatus } = require("../../support/wait.js");

const { BrokerEngine, brokers, hostDevice, HostedRuntimeBase, HostedDirectory, DirectoryConflict, MemoryDeviceStore, endKeptHosting } = broker;

/** A toy runtime: stores what flows send under "sent", acknowledges with its engine's number. */
class ToyRuntime extends HostedRuntimeBase {
  constructor(id, store, engineNo, report) {
    super({ id, name: `toy ${id}`, platform: "Toy" }, store, report);
    this.engineNo = engineNo;
    this.sent = [];
    this.infoValue = undefined;
  }

  info() {
    return this.infoValue;
  }

  send(message) {
    this.sent.push(message);
    this.store.set("sent", String(this.sent.length), message, Date.now());
    const ack = `ack ${message} on engine ${this.engineNo}`;
    // A held runtime acknowledges only when the test lets it (a delivery still in flight).
    return ToyRuntime.hold === undefined ? Promise.resolve(ack) : ToyRuntime.hold.then(() => ack);
  }
}

ToyRuntime.hold = undefined;

let engineCount = 0;
class ToyPlugin {
  constructor(engine) {
    this.name = "toy";
    this.engine = engine;
    this.engineNo = ++engineCount;
    this.devices = new Map();
    this.removed = [];
  }

  authenticate() {
    return undefined;
  }

  add(id, report) {
    if (this.devices.has(id)) throw new Error(`toy ${id} is hosted already`);
    if (ToyPlugin.refuseNext > 0) {
      ToyPlugin.refuseNext--;
      throw new Error(`toy ${id}: this engine's device store could not be opened`);
    }
    const runtime = new ToyRuntime(id, this.engine.deviceStores.open("toy", id), this.engineNo, report);
    this.devices.set(id, runtime);
    return runtime;
  }

  remove(id) {
    this.devices.delete(id);
    this.removed.push(id);
    this.engine.deviceStores.close("toy", id);
  }
}

ToyPlugin.refuseNext = 0;

const plugins = [];
function spec(brokerId, id, extra = {}) {
  return {
    plugin: "toy",
    brokerId,
    id,
    settings: { id, ...extra.settings },
    offline: extra.offline ?? "queue",
    outboxLimit: extra.outboxLimit,
    claim: (runtime) => ({ claimed: id, release: extra.claim?.(runtime) ?? (() => undefined) }),
    create: (engine) => {
      const plugin = new ToyPlugin(engine);
      plugins.push(plugin);
      return plugin;
    },
  };
}

let brokerNo = 0;
describe("hosted-device contract (toy platform)", function () {
  const cleanups = [];
  let brokerId;
  beforeEach(function () {
    brokerId = `hosted-spec-${++brokerNo}`;
  });
  afterEach(async function () {
    ToyRuntime.hold = undefined;
    ToyPlugin.refuseNext = 0;
    while (cleanups.length) await cleanups.pop()();
    sweepAll();
  });

  async function startEngine() {
    const engine = await BrokerEngine.create({});
    brokers.attach(brokerId, engine);
    cleanups.push(async () => {
      brokers.detach(brokerId, engine);
      await engine.close();
    });
    return engine;
  }

  async function stopEngine(engine) {
    brokers.detach(brokerId, engine);
    await engine.close();
  }

  function host(id, extra, errors = []) {
    const handle = hostDevice(spec(brokerId, id, extra), (err) => errors.push(err.message));
    cleanups.push(() => handle.close());
    return handle;
  }

  it("queues sends while no broker runs, delivers them in order once one does, then goes straight through", async function () {
    const handle = host("d1");
    assert.equal(handle.status.state, "disconnected");
    assert.equal(handle.store, undefined);
    assert.equal(await handle.send("a"), undefined);
    await handle.send("b");
    assert.equal(handle.status.queued, 2);
    const connected = waitFor(handle, "status", (s) => s.state === "connected");
    const online = waitFor(handle, "online");
    const engine = await startEngine();
    await connected;
    assert.deepEqual(await online, { online: false });
    const runtime = plugins.at(-1).devices.get("d1");
    assert.deepEqual(runtime.sent, ["a", "b"]);
    assert.equal(await handle.send("c"), `ack c on engine ${runtime.engineNo}`);
    assert.deepEqual(handle.store.entries("sent").map(([, v]) => v.value), ["a", "b", "c"]);
    assert.equal(handle.store, engine.deviceStores.open("toy", "d1"));
  });

  it("refuses sends while no broker runs when the platform says so", async function () {
    const handle = host("d2", { offline: "refuse" });
    await assert.rejects(handle.send("x"), (err) => err.code === "network" && /not running/.test(err.message));
    assert.equal(handle.status.queued, 0);
  });

  it("bounds the offline queue, dropping the oldest with a warning", async function () {
    const handle = host("d3", { outboxLimit: 2 });
    const warnings = [];
    handle.on("warning", (w) => warnings.push(w));
    for (const m of ["1", "2", "3"]) await handle.send(m);
    assert.equal(handle.status.queued, 2);
    assert.match(warnings[0], /outbox is full \(2 messages\)/);
    await startEngine();
    await until(() => plugins.at(-1).devices.get("d3")?.sent.length === 2, 5000, "the queued sends");
    assert.deepEqual(plugins.at(-1).devices.get("d3").sent, ["2", "3"]);
  });

  it("hands on what the runtime says: uplinks, online changes once each, info changes once each", async function () {
    const handle = host("d4");
    await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    const runtime = plugins.at(-1).devices.get("d4");
    const seen = [];
    handle.on("uplink", (m) => seen.push(["uplink", m]));
    handle.on("online", (s) => seen.push(["online", s.online]));
    handle.on("info", (i) => seen.push(["info", i.v]));
    runtime.listeners.uplink({ kind: "ds", value: 1 });
    runtime.current = { clientId: "c1", protocolVersion: 4, identity: {} };
    runtime.listeners.online(runtime.onlineState());
    runtime.listeners.online(runtime.onlineState()); // the same state again: no event
    runtime.listeners.info({ v: 1 });
    runtime.listeners.info({ v: 1 });
    runtime.listeners.info({ v: 2 });
    assert.deepEqual(seen, [["uplink", { kind: "ds", value: 1 }], ["online", true], ["info", 1], ["info", 2]]);
    assert.deepEqual(handle.online, { online: true, clientId: "c1", protocolVersion: 4 });
  });

  it("a listener that throws keeps the other listeners from nothing and never reaches the broker hook", async function () {
    const errors = [];
    const a = host("d5", {}, errors);
    await startEngine();
    await untilStatus(a, (s) => s.state === "connected");
    const got = [];
    a.on("uplink", () => {
      throw new Error("flow bug");
    });
    const runtime = plugins.at(-1).devices.get("d5");
    runtime.listeners.add({ uplink: (m) => got.push(m), online() {}, info() {} });
    assert.doesNotThrow(() => runtime.listeners.uplink("u"));
    assert.deepEqual(got, ["u"]);
  });

  it("follows the broker across restarts: disconnected while it is stopped, the new engine's runtime after", async function () {
    const handle = host("d6");
    const first = await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    const firstRuntime = plugins.at(-1).devices.get("d6");
    const stopped = waitFor(handle, "status", (s) => s.state === "disconnected");
    await stopEngine(first);
    await stopped;
    assert.equal(handle.store, undefined);
    assert.deepEqual(plugins.at(-1).removed, ["d6"]);
    await handle.send("while stopped");
    await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    const secondRuntime = plugins.at(-1).devices.get("d6");
    assert.notEqual(secondRuntime, firstRuntime);
    assert.deepEqual(secondRuntime.sent, ["while stopped"]);
    const seen = [];
    handle.on("uplink", (m) => seen.push(m));
    firstRuntime.listeners.uplink("from the old engine");
    secondRuntime.listeners.uplink("from the new engine");
    assert.deepEqual(seen, ["from the new engine"]);
  });

  it("is adopted across a redeploy with unchanged settings (same runtime, never removed), replaced with changed ones", async function () {
    const events = new EventEmitter();
    followDeploys(events);
    const first = hostDevice(spec(brokerId, "d7"), () => undefined);
    await startEngine();
    await untilStatus(first, (s) => s.state === "connected");
    const plugin = plugins.at(-1);
    const runtime = plugin.devices.get("d7");

    events.emit("flows:stopping");
    await first.close();
    assert.equal(first.status.state, "closed");
    const second = hostDevice(spec(brokerId, "d7"), () => undefined);
    cleanups.push(() => second.close());
    events.emit("flows:started");
    await untilStatus(second, (s) => s.state === "connected");
    assert.deepEqual(plugin.removed, []);
    assert.equal(plugin.devices.get("d7"), runtime);
    assert.equal(await second.send("after"), `ack after on engine ${runtime.engineNo}`);
    const seen = [];
    first.on("uplink", (m) => seen.push(["closed handle", m]));
    second.on("uplink", (m) => seen.push(["adopting handle", m]));
    runtime.listeners.uplink("u");
    assert.deepEqual(seen, [["adopting handle", "u"]]);

    events.emit("flows:stopping");
    await second.close();
    const third = hostDevice(spec(brokerId, "d7", { settings: { changed: true } }), () => undefined);
    cleanups.push(() => third.close());
    events.emit("flows:started");
    await untilStatus(third, (s) => s.state === "connected");
    assert.deepEqual(plugin.removed, ["d7"]);
    assert.notEqual(plugin.devices.get("d7"), runtime);
  });

  it("closes cleanly: unhosted at once outside a redeploy, sends refused, no more events", async function () {
    const handle = hostDevice(spec(brokerId, "d8"), () => undefined);
    await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    const plugin = plugins.at(-1);
    const runtime = plugin.devices.get("d8");
    await handle.close();
    await handle.close();
    assert.deepEqual(plugin.removed, ["d8"]);
    assert.equal(runtime.listeners.size, 0);
    await assert.rejects(handle.send("late"), (err) => err.code === "closed");
  });

  it("a device whose claim fails is not hosted: the error is reported, the handle stays disconnected", async function () {
    const errors = [];
    const handle = host("d9", { claim: () => { throw new Error("same token as d0"); } }, errors);
    await startEngine();
    assert.deepEqual(errors, ["same token as d0"]);
    assert.equal(plugins.length === 0 || !plugins.at(-1).devices.has("d9"), true);
    assert.equal(handle.status.state, "disconnected");
  });

  it("the claim's runtime finder gives the device on the running engine", async function () {
    let find;
    const handle = host("d10", { claim: (runtime) => { find = runtime; return () => undefined; } });
    assert.equal(find(), undefined);
    const engine = await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    assert.equal(find(), plugins.at(-1).devices.get("d10"));
    await stopEngine(engine);
    assert.equal(find(), undefined);
  });
  it("keeps the part of its backlog not yet handed over when the broker stops meanwhile, and delivers it to the next engine in order", async function () {
    const handle = host("d11");
    for (const m of ["a", "b", "c"]) await handle.send(m);
    let release;
    ToyRuntime.hold = new Promise((resolve) => { release = resolve; });
    const first = await startEngine();
    const firstRuntime = plugins.at(-1).devices.get("d11");
    await until(() => firstRuntime.sent.length === 1, 5000, "the first queued send in flight");
    await stopEngine(first);
    ToyRuntime.hold = undefined;
    release();
    await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    const secondRuntime = plugins.at(-1).devices.get("d11");
    assert.deepEqual(firstRuntime.sent, ["a"], "nothing more went to the engine that had stopped");
    assert.deepEqual(secondRuntime.sent, ["b", "c"]);
  });

  it("refuses only while no broker runs: from the moment a running engine hosts the device, sends go to it", async function () {
    await startEngine();
    const handle = host("d12", { offline: "refuse" });
    assert.equal(await handle.send("at once"), `ack at once on engine ${plugins.at(-1).engineNo}`);
  });

  it("claims afresh after a redeploy when its claim had failed (the holder of the credential may be gone)", async function () {
    const events = new EventEmitter();
    followDeploys(events);
    const directory = new HostedDirectory();
    const claimToken = (name) => () => directory.claim(name, [{ kind: "token", value: "the same token", secret: true }]);
    await startEngine();
    const a = hostDevice(spec(brokerId, "d13a", { claim: claimToken("a") }), () => undefined);
    const b = hostDevice(spec(brokerId, "d13b", { claim: claimToken("b") }), () => undefined);
    assert.match(b.problem, /already uses the same token/);

    // A redeploy that deletes a and leaves b unchanged.
    events.emit("flows:stopping");
    await a.close();
    endKeptHosting("d13a");
    await b.close();
    const again = hostDevice(spec(brokerId, "d13b", { claim: claimToken("b") }), () => undefined);
    cleanups.push(() => again.close());
    events.emit("flows:started");
    assert.equal(again.problem, undefined);
    await untilStatus(again, (s) => s.state === "connected");
    assert.ok(plugins.at(-1).devices.has("d13b"));
  });

  it("says why in its status and problem when a later engine cannot host the device, and recovers on the next one", async function () {
    const errors = [];
    const handle = host("d14", {}, errors);
    const first = await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    await stopEngine(first);
    ToyPlugin.refuseNext = 1;
    const second = await startEngine();
    assert.match(errors.join("\n"), /device store could not be opened/);
    assert.equal(handle.status.state, "disconnected");
    assert.match(handle.status.reason, /device store could not be opened/);
    assert.match(handle.problem, /device store could not be opened/);
    await stopEngine(second);
    assert.equal(handle.problem, undefined);
    assert.match(handle.status.reason, /stopped/);
    await startEngine();
    await untilStatus(handle, (s) => s.state === "connected");
    assert.equal(handle.problem, undefined);
  });
});

describe("HostedDirectory", function () {
  it("finds entries by secret and plain keys, refuses a second holder of a key, releases", function () {
    const directory = new HostedDirectory();
    const a = { name: "a" };
    const b = { name: "b" };
    const releaseA = directory.claim(a, [{ kind: "token", value: "secret-a", secret: true }, { kind: "channel", value: "7" }]);
    assert.equal(directory.find("token", "secret-a"), a);
    assert.equal(directory.find("token", Buffer.from("secret-a")), a);
    assert.equal(directory.find("token", "secret-b"), undefined);
    assert.equal(directory.find("channel", "7"), a);
    assert.throws(
      () => directory.claim(b, [{ kind: "token", value: "secret-b", secret: true }, { kind: "channel", value: "7" }]),
      (err) => err instanceof DirectoryConflict && err.holder === a && err.kind === "channel",
    );
    // Nothing of the refused claim stayed.
    assert.equal(directory.find("token", "secret-b"), undefined);
    assert.deepEqual(directory.values(), [a]);
    releaseA();
    releaseA();
    assert.equal(directory.find("token", "secret-a"), undefined);
    directory.claim(b, [{ kind: "token", value: "secret-a", secret: true }, { kind: "channel", value: "" }]);
    assert.equal(directory.find("token", "secret-a"), b);
    assert.equal(directory.size, 1);
  });
});

describe("MemoryDeviceStore", function () {
  it("keeps entries per section in first-written order, with their time", function () {
    const store = new MemoryDeviceStore();
    store.set("ds", "b", "1", 10);
    store.set("ds", "a", { x: [1] }, 20);
    store.set("ds", "b", "2", 30);
    store.set("meta", "zone", "UTC", 5);
    assert.deepEqual(store.entries("ds"), [["b", { value: "2", at: 30 }], ["a", { value: { x: [1] }, at: 20 }]]);
    assert.equal(store.size("ds"), 2);
    assert.deepEqual(store.get("meta", "zone"), { value: "UTC", at: 5 });
    assert.equal(store.delete("ds", "b"), true);
    assert.equal(store.delete("ds", "b"), false);
    store.clear("meta");
    assert.equal(store.size("meta"), 0);
    assert.deepEqual(store.entries("none"), []);
  });
});
