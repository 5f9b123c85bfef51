"use strict";
// Shared by the Blynk node specs: the node modules, flows, status waiting, and the check that a
// token shows up nowhere a user could see it (log, status, errors, warnings, messages, flows).
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const { until } = require("../lib/fixtures/wait.js");

const modules = {
  device: require("../../dist/nodes/blynk-device.js"),
  in: require("../../dist/nodes/blynk-device-in.js"),
  write: require("../../dist/nodes/blynk-write.js"),
  event: require("../../dist/nodes/blynk-event.js"),
  broker: require("../../dist/nodes/iot-broker.js"),
};

/** What the node modules were handed (RED.httpNode for the self-hosted HTTPS API). */
const runtime = { RED: undefined };

/**
 * The test helper's RED._ returns the bare key; this one appends the parameters, so specs can
 * check what a message says and that no token is in it.
 */
function translating(mod) {
  return function (RED) {
    RED._ = (key, params) => (params !== undefined && Object.keys(params).length > 0 ? `${key} ${JSON.stringify(params)}` : key);
    runtime.RED = RED;
    return mod(RED);
  };
}
const blynkNodes = [modules.device, modules.in, modules.write, modules.event].map(translating);
const withBroker = [translating(modules.broker), ...blynkNodes];

const TAB = { id: "f1", type: "tab", label: "blynk" };
let y = 0;
/** A flow node on the test tab. */
function onTab(node) {
  y += 40;
  return { z: "f1", x: 200, y, wires: [], ...node };
}
function sink(id) {
  return onTab({ id, type: "helper" });
}

/** The argument lists of `method` calls on this node (the helper's spies are shared by all nodes). */
const callsOf = (node, method) => node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
/** The first arguments of this node's error / warn / log calls. */
const errorsOf = (node) => callsOf(node, "error").map((a) => a[0]);
const warningsOf = (node) => callsOf(node, "warn").map((a) => a[0]);

/** Every status the node has shown, as objects. */
const statuses = (node) => callsOf(node, "status").map((a) => a[0]);

/** Waits until the node has shown a status that satisfies `predicate`; resolves with it. */
async function statusOf(node, predicate, what = "the node status") {
  await until(() => statuses(node).some(predicate), 5000, `${what}; saw ${JSON.stringify(statuses(node))}`);
  return statuses(node).find(predicate);
}

/** The latest status of a node. */
const lastStatus = (node) => statuses(node).at(-1);

/** Messages arriving at a helper node. */
function received(node) {
  const messages = [];
  node.on("input", (msg) => messages.push(msg));
  messages.next = async (predicate = () => true, what = "a message") => {
    let found;
    await until(() => (found = messages.find(predicate)) !== undefined, 5000, `${what}; got ${JSON.stringify(messages.map((m) => [m.topic, m.payload]))}`);
    return found;
  };
  return messages;
}

/**
 * Loads (or, with `deploy`, redeploys) a flow and collects what reaches the `sinks` helper
 * nodes from the moment the flows have started: nothing sent early is missed.
 */
async function loadFlow(modules, flow, credentials, sinks = [], deploy = undefined) {
  const got = {};
  const attach = () => {
    for (const id of sinks) got[id] = received(helper.getNode(id));
  };
  helper._events.once("flows:started", attach);
  try {
    if (deploy === undefined) await helper.load(modules, flow, credentials);
    else await helper.setFlows(flow, deploy, credentials);
  } finally {
    helper._events.off("flows:started", attach);
  }
  return got;
}

/**
 * Sends `msg` into a node and resolves once the node called done(): with the error it passed
 * (which the runtime reported through node.error exactly once), or undefined.
 */
function inject(node, msg) {
  const id = `m${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    const original = node._complete;
    node._complete = function (m, err) {
      original.call(this, m, err);
      if (m?._msgid !== id) return;
      node._complete = original;
      if (err !== undefined && err !== null) {
        const reported = callsOf(node, "error").filter((a) => a[1]?._msgid === id);
        assert.equal(reported.length, 1, "done(err) is reported once, and the node did not also call node.error");
      }
      resolve(err ?? undefined);
    };
    node.receive({ ...msg, _msgid: id });
  });
}

/** JSON of anything, with Errors spelled out (message, stack, cause). */
function reveal(value) {
  return JSON.stringify(value, (_key, v) => (v instanceof Error ? { message: v.message, stack: v.stack, cause: v.cause } : Buffer.isBuffer(v) ? v.toString() : v));
}

/** Asserts the token is in none of: the log, every node's status/error/warn/log calls, the flows, `extra`. */
function assertNoToken(token, ids, ...extra) {
  const nodes = ids.map((id) => helper.getNode(id)).filter(Boolean);
  const seen = [
    helper.log().args,
    nodes.map((n) => [n.status?.args, n.error?.args, n.warn?.args, n.log?.args]),
    helper._redNodes.getFlows(),
    extra,
  ];
  const text = reveal(seen);
  assert.ok(!text.includes(token), "the token leaked");
  assert.ok(!text.includes(encodeURIComponent(token)), "the token leaked URL-encoded");
}

module.exports = { loadFlow, callsOf, errorsOf, warningsOf, modules, blynkNodes, withBroker, runtime, TAB, onTab, sink, statuses, statusOf, lastStatus, received, inject, reveal, assertNoToken };
