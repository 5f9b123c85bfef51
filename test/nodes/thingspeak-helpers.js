"use strict";
// The ThingSpeak node modules for node specs; the generic harness is test/support/node-harness.js.
const { translatingFor, testTab } = require("../support/node-harness.js");

const modules = {
  channel: require("../../dist/nodes/thingspeak-channel.js"),
  field: require("../../dist/nodes/thingspeak-field.js"),
  broker: require("../../dist/nodes/iot-broker.js"),
};

/** What the node modules were handed (RED.httpNode for the self-hosted REST API). */
const runtime = { RED: undefined };
const translating = translatingFor(runtime);
const tsNodes = [modules.channel, modules.field].map(translating);
const withBroker = [translating(modules.broker), ...tsNodes];
const STATUS = "@iot-bridge/node-red/thingspeak-channel:thingspeak-channel.status.";
const TAB = testTab("thingspeak");

module.exports = { modules, runtime, tsNodes, withBroker, STATUS, TAB };
