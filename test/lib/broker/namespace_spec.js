"use strict";
const assert = require("node:assert/strict");
const { userNamespace, deviceNamespace, devicePrefix, openNamespace } = require("../../../dist/nodes/lib/broker/index.js");

describe("broker namespaces", function () {
  describe("user namespace (ACL, %u and %c)", function () {
    const ns = userNamespace({ username: "kitchen", publish: ["sensors/%u/#", "log/%c"], subscribe: ["cmd/%u/+", "all/#"] }, "esp-1");
    const table = [
      ["publish", "sensors/kitchen/temp", "sensors/kitchen/temp"],
      ["publish", "sensors/hall/temp", null],
      ["publish", "log/esp-1", "log/esp-1"],
      ["publish", "log/esp-2", null],
      ["publish", "$iot/blynk/1/up/ds/x", null],
      ["subscribe", "cmd/kitchen/light", "cmd/kitchen/light"],
      ["subscribe", "cmd/kitchen/+", "cmd/kitchen/+"],
      ["subscribe", "cmd/kitchen/#", null],
      ["subscribe", "cmd/+/light", null],
      ["subscribe", "all/#", "all/#"],
      ["subscribe", "all/x/+", "all/x/+"],
      ["subscribe", "#", null],
      ["forward", "anything/at/all", "anything/at/all"],
      ["forward", "$iot/blynk/1/down/x", null],
    ];
    for (const [op, topic, expected] of table) {
      it(`${op} ${topic} -> ${expected}`, function () {
        assert.equal(ns[op](topic), expected);
      });
    }
  });

  describe("open namespace (anonymous)", function () {
    for (const [op, topic, expected] of [
      ["publish", "a/b", "a/b"],
      ["publish", "$iot/x", null],
      ["subscribe", "#", "#"],
      ["subscribe", "$iot/#", null],
      ["forward", "$iot/x/y", null],
    ]) {
      it(`${op} ${topic} -> ${expected}`, function () {
        assert.equal(openNamespace[op](topic), expected);
      });
    }
  });

  describe("device namespace", function () {
    const ns = deviceNamespace({ plugin: "blynk", deviceId: "7", canSubscribe: (f) => f.startsWith("downlink/") });
    const table = [
      ["publish", "ds/Temp", "$iot/blynk/7/up/ds/Temp"],
      ["subscribe", "downlink/#", "$iot/blynk/7/down/downlink/#"],
      ["subscribe", "#", null],
      ["forward", "$iot/blynk/7/down/downlink/ds/Power", "downlink/ds/Power"],
      ["forward", "$iot/blynk/7/up/ds/Temp", null],
      ["forward", "$iot/blynk/8/down/downlink/ds/Power", null],
      ["forward", "$iot/blynk/77/down/x", null],
    ];
    for (const [op, topic, expected] of table) {
      it(`${op} ${topic} -> ${expected}`, function () {
        assert.equal(ns[op](topic), expected);
      });
    }
    for (const [plugin, id] of [["blynk", "a/b"], ["blynk", "+"], ["", "1"], ["x#", "1"], ["blynk", ""]]) {
      it(`refuses plugin "${plugin}" / device "${id}"`, function () {
        assert.throws(() => devicePrefix(plugin, id, "up"), /must be non-empty and contain none of/);
      });
    }
  });
});
