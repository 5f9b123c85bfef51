"use strict";
// The packet guards must cost nothing per packet and per connection once a connection is
// accepted: the broker benchmark (bench/README.md) found them at ~15% more broker CPU per
// message, because restoring parse() with `delete` turned every parser into a slow
// dictionary-mode object and the guards' packet listener stayed for the connection's life.
// Checked on bare aedes + the guards.
const assert = require("node:assert/strict");
const net = require("node:net");
const v8 = require("node:v8");
const { once } = require("node:events");
const { PacketGuards, brokerLimits } = require("../../../dist/nodes/lib/broker/guards.js");
const { connect } = require("../fixtures/engine.js");

// The only way to reach V8's own check from a test. The flag is on around each call too: V8 may
// drop the function's bytecode in a long run (bytecode flushing) and compile it again when called.
const withNatives = (run) => {
  v8.setFlagsFromString("--allow-natives-syntax");
  try {
    return run();
  } finally {
    v8.setFlagsFromString("--no-allow-natives-syntax");
  }
};
const fastPropertiesCheck = withNatives(() => new Function("o", "return %HasFastProperties(o)"));
const hasFastProperties = (o) => withNatives(() => fastPropertiesCheck(o));

describe("packet guards on the hot path", function () {
  let aedes;
  let server;
  let mqttClient;
  const handled = [];

  before(async function () {
    const { Aedes } = await import("aedes");
    aedes = await Aedes.createBroker();
    const guards = new PacketGuards(brokerLimits({}), () => undefined);
    guards.hardenBroker(aedes);
    server = net.createServer((socket) => {
      const client = aedes.handle(socket);
      guards.guardClient(client);
      handled.push(client);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
  });
  after(async function () {
    await mqttClient?.endAsync(true);
    await new Promise((resolve) => server.close(() => resolve()));
    await new Promise((resolve) => aedes.close(() => resolve()));
  });

  it("leaves an accepted connection's parser with aedes' parse() and packet listener only, in fast mode", async function () {
    mqttClient = await connect(`mqtt://127.0.0.1:${server.address().port}`, { clientId: "hot-path" });
    await mqttClient.subscribeAsync(["a/#", "b/#"]); // a multi-filter SUBSCRIBE still goes through the __proto__ guard
    for (let i = 0; i < 5; i++) await mqttClient.publishAsync("a/x", "payload", { qos: 1 });
    const parser = handled.find((c) => c.id === "hot-path")._parser;
    assert.equal(Object.hasOwn(parser, "parse"), false, "parse() is the prototype's");
    assert.equal(parser.listenerCount("packet"), 1, "only aedes' own packet listener");
    assert.equal(hasFastProperties(parser), true, "the parser is not in dictionary mode");
  });
});
