"use strict";
// The pure half of the "IoT devices" sidebar (resources/devices-view.js): sparkline paths, "last
// seen" words, the connection settings per platform, and how comms updates apply.
const assert = require("node:assert/strict");
const view = require("../../resources/devices-view.js");

const t = (key, args) => (args ? `${key} ${JSON.stringify(args)}` : key);

describe("resources/devices-view.js (the IoT devices sidebar's pure helpers)", function () {
  it("draws a sparkline through the numbers in its box; none for fewer than two; a flat line in the middle", function () {
    assert.equal(view.sparklinePath([1, 3, 2], 84, 20), "M2.0,18.0 L42.0,2.0 L82.0,10.0");
    assert.equal(view.sparklinePath([5], 80, 20), "");
    assert.equal(view.sparklinePath(undefined, 80, 20), "");
    assert.equal(view.sparklinePath([4, 4, NaN, "x"], 84, 20), "M2.0,10.0 L82.0,10.0");
  });

  it("says how long ago in the catalog's words", function () {
    const now = 10_000_000;
    assert.equal(view.ago(now - 1000, now, t), "ago.now");
    assert.equal(view.ago(now - 30_000, now, t), 'ago.seconds {"count":30}');
    assert.equal(view.ago(now - 125_000, now, t), 'ago.minutes {"count":2}');
    assert.equal(view.ago(now - 7_300_000, now, t), 'ago.hours {"count":2}');
    assert.equal(view.ago(now - 3 * 86_400_000, now, t), 'ago.days {"count":3}');
  });

  it("gives the settings a firmware needs per platform: host, ports, credential names and topics", function () {
    const broker = { listeners: [{ kind: "tcp", host: "0.0.0.0", port: 1883 }, { kind: "tcp", host: "0.0.0.0", port: 8080, protocol: "blynk" }] };
    const blynk = view.connectionSettings({ platform: "blynk" }, broker, { token: "tok" }, {}, "pi.local", t);
    assert.deepEqual(blynk, [["settings.server", "pi.local"], ["settings.port-mqtt", "1883"], ["settings.port-blynk", "8080"], ["settings.username", "device"], ["settings.token", "tok"], ["settings.publish", "ds/<datastream>"], ["settings.subscribe", "downlink/#"]]);
    const tb = view.connectionSettings({ platform: "thingsboard" }, { listeners: [{ kind: "tls", host: "192.168.1.5", port: 8883 }, { kind: "tcp", host: "192.168.1.5", port: 8080, protocol: "blynk" }] }, { token: "A1" }, {}, "x", t);
    assert.deepEqual(tb.slice(0, 3), [["settings.server", "192.168.1.5"], ["settings.port-mqtts", "8883"], ["settings.tb-token", "A1"]], "no Blynk port for ThingsBoard");
    const ts = view.connectionSettings({ platform: "thingspeak" }, broker, { clientId: "C", username: "U", password: "P" }, { channelId: "42" }, "h", t);
    assert.deepEqual(ts.at(-1), ["settings.publish", "channels/42/publish"]);
    assert.equal(view.settingsText([["a", "1"], ["b", "2"]]), "a: 1\nb: 2");
  });

  it("applies updates to the state (replace or add), and asks for a resync when told or without a state", function () {
    const state = { brokers: [{ id: "b", running: false }], devices: [{ key: "k1", online: false }] };
    assert.equal(view.applyUpdate(state, { brokers: [{ id: "b", running: true }], devices: [{ key: "k1", online: true }, { key: "k2" }] }), "applied");
    assert.deepEqual(state, { brokers: [{ id: "b", running: true }], devices: [{ key: "k1", online: true }, { key: "k2" }] });
    assert.equal(view.applyUpdate(state, { resync: true }), "resync");
    assert.equal(view.applyUpdate(null, { devices: [] }), "resync");
  });

  it("filters devices by name, platform or fleet name, showing at most max", function () {
    const devices = [{ name: "Porch", platform: "blynk", id: "a", fleet: "f" }, { name: "Boiler", platform: "thingsboard", id: "b" }, { name: "Attic", platform: "blynk", id: "c" }];
    assert.deepEqual(view.filterDevices(devices, "BLYNK", [], 1), { shown: [devices[0]], more: 1 });
    assert.deepEqual(view.filterDevices(devices, "garden", [{ id: "f", name: "Garden" }], 5).shown, [devices[0]]);
    assert.equal(view.filterDevices(devices, "", [], 5).shown.length, 3);
  });
});
