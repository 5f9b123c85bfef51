"use strict";
// The Blynk node modules for node specs; the generic harness is test/support/node-harness.js.
const { translatingFor, testTab } = require("../support/node-harness.js");

const modules = {
  device: require("../../dist/nodes/blynk-device.js"),
  in: require("../../dist/nodes/blynk-device-in.js"),
  write: require("../../dist/nodes/blynk-write.js"),
  event: require("../../dist/nodes/blynk-event.js"),
  broker: require("../../dist/nodes/iot-broker.js"),
};

/** What the node modules were handed (RED.httpNode for the self-hosted HTTPS API). */
const runtime = { RED: undefined };
const translating = translatingFor(runtime);
const blynkNodes = [modules.device, modules.in, modules.write, modules.event].map(translating);
const withBroker = [translating(modules.broker), ...blynkNodes];
const TAB = testTab("blynk");

module.exports = { modules, runtime, blynkNodes, withBroker, TAB };
