"use strict";
// The fleet core (broker/fleet.ts): a device table in the broker node's storage, credentials
// sealed with the runtime's secret, changes only while the broker runs, the table read again by
// the next engine and after a restart on SQLite, with no token in clear in the file.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { BrokerEngine, brokers, Fleet, FleetError, fleetOf, memberId } = require("../../../dist/nodes/lib/broker/index.js");
const { engineStorageOptions, memoryStorage } = require("../../../dist/nodes/lib/broker/broker-storage.js");
const { openSqliteStorage } = require("../../../dist/nodes/lib/store/index.js");
const { SecretBox } = require("../../../dist/nodes/lib/transport/secret-box.js");
const { blynkFleetPlatform } = require("../../../dist/nodes/lib/blynk/fleet.js");
const { tbFleetPlatform } = require("../../../dist/nodes/lib/thingsboard/fleet.js");
const { tempDir, removeTempDirs } = require("../store/fixtures.js");

const BROKER = "fleet-core-broker";
const BOX = new SecretBox("the credential secret of this runtime");

describe("fleet core: the device table in the broker's storage", function () {
  const cleanups = [];
  afterEach(async function () {
    while (cleanups.length > 0) await cleanups.pop()();
    removeTempDirs();
  });

  async function engineOn(storage) {
    const engine = new BrokerEngine({ authThrottle: false, ...engineStorageOptions(storage) });
    brokers.attach(BROKER, engine);
    const stop = async () => {
      brokers.detach(BROKER, engine);
      await engine.close();
    };
    cleanups.push(stop);
    return { engine, stop };
  }

  function fleet(id = "cfg1", platform = blynkFleetPlatform, box = BOX) {
    const f = new Fleet({ id, brokerId: BROKER, platform, box });
    const events = [];
    for (const e of ["added", "changed", "removed", "loaded", "unloaded", "warning"]) f.on(e, (d, before) => events.push([e, e === "loaded" ? d.length : d?.name ?? d, before?.name]));
    f.start();
    cleanups.push(async () => f.close());
    return { f, events };
  }

  it("adds (token generated), finds by name or id, changes, removes; refuses duplicates and unknown names in words; registered by config node id", async function () {
    await engineOn(memoryStorage());
    const { f, events } = fleet();
    assert.equal(fleetOf("cfg1"), f);
    assert.equal(f.available, true);
    const a = await f.add({ name: "Kitchen", pins: "V1=Temp", meta: { floor: 1 } });
    assert.match(a.credentials.token, /^[A-Za-z0-9_-]{32}$/);
    assert.match(a.id, /^[0-9a-f]{12}$/);
    assert.deepEqual(a.pins, { v1: "Temp" });
    const b = await f.add({ name: "Hall", id: "hall", credentials: { token: "HallToken_0123456789abcdefghijk" } });
    assert.equal(b.id, "hall");
    assert.equal(memberId("cfg1", "hall"), "cfg1.hall");
    assert.equal(f.find("Kitchen").id, a.id);
    assert.equal(f.find({ id: "hall" }).name, "Hall");
    assert.equal(f.find({ name: "Hall" }).id, "hall");
    assert.equal(f.find("Nowhere"), undefined);
    assert.equal("credentials" in f.find("Hall"), false, "a listed device carries no credentials");
    assert.deepEqual(f.credentials("Hall"), { token: "HallToken_0123456789abcdefghijk" });

    await assert.rejects(f.add({ name: "Kitchen" }), (err) => err instanceof FleetError && err.code === "duplicate" && /Kitchen/.test(err.message));
    await assert.rejects(f.add({ name: "Other", credentials: { token: "HallToken_0123456789abcdefghijk" } }), (err) => err.code === "duplicate" && !/HallToken/.test(err.message));
    await assert.rejects(f.add({ name: "Bad", credentials: { token: "has space" } }), (err) => err.code === "invalid" && !/has space/.test(err.message));
    await assert.rejects(f.add({}), (err) => err.code === "invalid");
    assert.throws(() => f.resolve("Attic"), (err) => err.code === "unknown-device" && /"Attic"/.test(err.message) && /\{"name"/.test(err.message));

    const changed = await f.change("Hall", { name: "Hallway", meta: { floor: 0 } });
    assert.equal(changed.id, "hall");
    assert.equal(changed.credentials.token, "HallToken_0123456789abcdefghijk", "credentials stay unless given");
    assert.equal(f.find("Hall"), undefined, "the old name is free after a rename");
    assert.equal(f.find("Hallway").id, "hall");
    const retokened = await f.change({ id: "hall" }, { credentials: { token: "" } });
    assert.equal(retokened.credentials.token, "HallToken_0123456789abcdefghijk", "an empty token keeps the old one");
    await f.remove({ id: "hall" });
    assert.deepEqual(f.list().map((d) => d.name), ["Kitchen"]);
    assert.equal(f.find("Hallway"), undefined, "a removed device is not found by name");
    assert.deepEqual(events, [["loaded", 0, undefined], ["added", "Kitchen", undefined], ["added", "Hall", undefined], ["changed", "Hallway", "Hall"], ["changed", "Hallway", "Hallway"], ["removed", "Hallway", undefined]]);
  });

  it("cannot change while the broker is stopped; the next engine on the same storage reads the same table (only differences are events)", async function () {
    const storage = memoryStorage();
    const first = await engineOn(storage);
    const { f, events } = fleet();
    const a = await f.add({ name: "A" });
    await first.stop();
    assert.equal(f.available, false);
    assert.deepEqual(f.list().map((d) => d.name), ["A"], "the last table stays readable");
    await assert.rejects(f.add({ name: "B" }), (err) => err.code === "unavailable" && /iot-broker/.test(err.message));
    await engineOn(storage);
    assert.equal(f.available, true);
    assert.deepEqual(f.credentials("A"), a.credentials);
    assert.deepEqual(events.map((e) => e[0]), ["loaded", "added", "unloaded", "loaded"]);
  });

  it("SQLite: the table survives a restart, and no token is in clear in the file; another secret cannot read it", async function () {
    const file = path.join(tempDir(), "broker.sqlite");
    let storage = openSqliteStorage({ kind: "sqlite", file, retentionDays: 0 });
    let run = await engineOn(storage);
    let { f } = fleet("cfg2", tbFleetPlatform);
    const added = [];
    for (let i = 0; i < 5; i++) added.push(await f.add({ name: `dev ${i}`, ...(i === 0 ? { credentials: { clientId: "c0", username: "u0", password: "SecretPassword0" } } : {}) }));
    assert.match(added[1].credentials.token, /^[A-Za-z0-9]{20}$/);
    assert.deepEqual(Object.keys(added[0].credentials).sort(), ["clientId", "password", "token", "username"]);
    f.close();
    await run.stop();
    await storage.close();

    const bytes = Buffer.concat(fs.readdirSync(path.dirname(file)).map((n) => fs.readFileSync(path.join(path.dirname(file), n))));
    for (const d of added) assert.equal(bytes.includes(Buffer.from(d.credentials.token)), false, "a token is in the file in clear");
    assert.equal(bytes.includes(Buffer.from("SecretPassword0")), false);
    assert.equal(bytes.includes(Buffer.from("dev 3")), true, "names are kept (they are not secrets)");

    storage = openSqliteStorage({ kind: "sqlite", file, retentionDays: 0 });
    cleanups.push(async () => storage.close());
    run = await engineOn(storage);
    ({ f } = fleet("cfg2", tbFleetPlatform));
    assert.deepEqual(f.list().map((d) => d.name), added.map((d) => d.name));
    for (const d of added) assert.deepEqual(f.credentials({ id: d.id }), d.credentials);
    f.close();

    const other = fleet("cfg2", tbFleetPlatform, new SecretBox("another secret"));
    assert.equal(other.f.size, 0);
    assert.equal(other.events.filter((e) => e[0] === "warning").length, 5);
    assert.ok(other.events.every((e) => e[0] !== "warning" || !added.some((d) => String(e[1]).includes(d.credentials.token))));
  });
});
