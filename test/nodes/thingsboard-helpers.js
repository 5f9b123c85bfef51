"use strict";
// The ThingsBoard node modules for node specs; the generic harness is test/support/node-harness.js.
const { translatingFor, testTab } = require("../support/node-harness.js");

const modules = {
  device: require("../../dist/nodes/thingsboard-device.js"),
  telemetry: require("../../dist/nodes/thingsboard-telemetry.js"),
  attributes: require("../../dist/nodes/thingsboard-attributes.js"),
  rpc: require("../../dist/nodes/thingsboard-rpc.js"),
  broker: require("../../dist/nodes/iot-broker.js"),
};

/** What the node modules were handed (RED.httpNode serves the self-hosted HTTP device API). */
const runtime = { RED: undefined };
const translating = translatingFor(runtime);
const tbNodes = [modules.device, modules.telemetry, modules.attributes, modules.rpc].map(translating);
const withBroker = [translating(modules.broker), ...tbNodes];
const STATUS = "@iot-bridge/node-red/thingsboard-device:thingsboard-device.status.";
const TAB = testTab("thingsboard");

module.exports = { runtime, modules, tbNodes, withBroker, STATUS, TAB };
