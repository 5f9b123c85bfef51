"use strict";
// Shared by the ThingsBoard node specs: the node modules (with a RED._ that shows parameters)
// plus the generic flow, status, inject and token checks of the Blynk helpers.
const generic = require("./blynk-helpers.js");

const modules = {
  device: require("../../dist/nodes/thingsboard-device.js"),
  telemetry: require("../../dist/nodes/thingsboard-telemetry.js"),
  attributes: require("../../dist/nodes/thingsboard-attributes.js"),
  rpc: require("../../dist/nodes/thingsboard-rpc.js"),
  broker: require("../../dist/nodes/iot-broker.js"),
};

/** What the node modules were handed (RED.httpNode serves the self-hosted HTTP device API). */
const runtime = { RED: undefined };

/** RED._ appends the parameters, so specs can check what a message says and that no token is in it. */
function translating(mod) {
  return function (RED) {
    RED._ = (key, params) => (params !== undefined && Object.keys(params).length > 0 ? `${key} ${JSON.stringify(params)}` : key);
    runtime.RED = RED;
    return mod(RED);
  };
}
const tbNodes = [modules.device, modules.telemetry, modules.attributes, modules.rpc].map(translating);
const withBroker = [translating(modules.broker), ...tbNodes];
const STATUS = "@iot-bridge/node-red/thingsboard-device:thingsboard-device.status.";
const TAB = { id: "f1", type: "tab", label: "thingsboard" };

module.exports = { ...generic, runtime, modules, tbNodes, withBroker, STATUS, TAB };
