"use strict";
// The flow-node harness every node spec uses (on node-red-node-test-helper): flows on one test
// tab, loading them with the sinks attached from the start, the statuses, errors and messages
// of a node, inject-and-wait-for-done, and the check that a secret shows up nowhere a user
// could see it (log, status, errors, warnings, messages, flows). The node modules of each
// platform are in test/nodes/<platform>-helpers.js.
const assert = require("node:assert/strict");
const helper = require("node-red-node-test-helper");
const { until } = require("./wait.js");

/**
 * Wraps node modules so they record the RED they were handed in `runtime.RED` (specs reach
 * RED.httpNode through it) and get a RED._ that appends the parameters to the key (the test
 * helper's returns the bare key), so specs can check what a message says and that no secret is in it.
 */
function translatingFor(runtime) {
  return (mod) =>
    function (RED) {
      RED._ = (key, params) => (params !== undefined && Object.keys(params).length > 0 ? `${key} ${JSON.stringify(params)}` : key);
      runtime.RED = RED;
      return mod(RED);
    };
}

/** The test tab of a platform's flows (every onTab node is on it). */
const testTab = (label) => ({ id: "f1", type: "tab", label });

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

/** Asserts none of `secrets` is in the log, any node's status/error/warn/log calls, the flows or `extra`. */
function assertNoSecret(secrets, ids, ...extra) {
  for (const secret of secrets) assertNoToken(secret, ids, ...extra);
  const text = reveal(helper._redNodes.getFlows());
  for (const secret of secrets) assert.ok(!text.includes(secret), "a secret is in the exported flow");
}

module.exports = { translatingFor, testTab, loadFlow, callsOf, errorsOf, warningsOf, onTab, sink, statuses, statusOf, lastStatus, received, inject, reveal, assertNoToken, assertNoSecret };
