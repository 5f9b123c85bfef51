"use strict";
// nodes/iot-history.html's key suggestions, in Node.js: resources/flow-editor.js runs in a
// sandbox with a stand-in RED (its nodes are the test's) and the dialog's suggestedKeys function
// runs there as the dialog runs it.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const root = path.join(__dirname, "..", "..", "..");

/** suggestedKeys(node, device) of the iot-history dialog, over the flow's `nodes`. */
function suggestedKeysOver(nodes) {
  // A jQuery stand-in: every call and property chains (flow-editor.js appends its style at load).
  const chain = new Proxy(function () {}, { get: () => chain, apply: () => chain });
  const RED = { nodes: { eachNode: (fn) => nodes.forEach(fn), node: (id) => nodes.find((n) => n.id === id) ?? null }, _: (key) => key };
  const context = vm.createContext({ RED, jQuery: chain, $: chain });
  context.window = context;
  vm.runInContext(fs.readFileSync(path.join(root, "resources", "flow-editor.js"), "utf8"), context);
  const html = fs.readFileSync(path.join(root, "nodes", "iot-history.html"), "utf8");
  const source = /\n( *)function suggestedKeys\([\s\S]*?\n\1\}\n/.exec(html);
  assert.ok(source, "iot-history.html defines suggestedKeys");
  return vm.runInContext(`(function () { const FE = window.IotBridgeFlowEditor; ${source[0]}; return suggestedKeys; })()`, context);
}

describe("iot-history dialog: suggested keys", function () {
  it("suggests the typed datastreams of the device's blynk-write nodes, not the property or variable names of msg/flow/global/env ones", function () {
    const device = { id: "dev1", type: "blynk-device", pins: "V1=Temp" };
    const write = (id, datastream, datastreamType, on = "dev1") => ({ id, type: "blynk-write", device: on, datastream, ...(datastreamType ? { datastreamType } : {}) });
    const nodes = [
      device,
      write("old", "Humidity"),
      write("str", "Power", "str"),
      write("msg", "target.name", "msg"),
      write("flow", "stream", "flow"),
      write("global", "stream2", "global"),
      write("env", "DATASTREAM", "env"),
      write("other", "Elsewhere", "str", "dev2"),
      { id: "h2", type: "iot-history", device: "dev1", key: "Pressure" },
    ];
    const keys = suggestedKeysOver(nodes)({ id: "h1" }, device);
    assert.deepEqual([...keys].sort(), ["Humidity", "Power", "Pressure", "Temp"]);
  });
});
