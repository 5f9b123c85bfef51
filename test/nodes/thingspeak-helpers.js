"use strict";
// Shared by the ThingSpeak node specs: the node modules (with a RED._ that shows parameters),
// and the check that no password or API key shows up anywhere a user could see it. The generic
// flow helpers are the Blynk specs' (loadFlow, inject, statusOf...).
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const shared = require("./blynk-helpers.js");

const modules = {
  channel: require("../../dist/nodes/thingspeak-channel.js"),
  field: require("../../dist/nodes/thingspeak-field.js"),
  broker: require("../../dist/nodes/iot-broker.js"),
};

/** What the node modules were handed (RED.httpNode for the self-hosted REST API). */
const runtime = { RED: undefined };

function translating(mod) {
  return function (RED) {
    RED._ = (key, params) => (params !== undefined && Object.keys(params).length > 0 ? `${key} ${JSON.stringify(params)}` : key);
    runtime.RED = RED;
    return mod(RED);
  };
}
const tsNodes = [modules.channel, modules.field].map(translating);
const withBroker = [translating(modules.broker), ...tsNodes];

const STATUS = "@iot-bridge/node-red/thingspeak-channel:thingspeak-channel.status.";

/** Asserts none of `secrets` is in the log, any node's status/error/warn/log calls, the flows or `extra`. */
function assertNoSecret(secrets, ids, ...extra) {
  for (const secret of secrets) shared.assertNoToken(secret, ids, ...extra);
  const text = shared.reveal(helper._redNodes.getFlows());
  for (const secret of secrets) assert.ok(!text.includes(secret), "a secret is in the exported flow");
}

module.exports = { ...shared, modules, runtime, tsNodes, withBroker, STATUS, assertNoSecret };
