"use strict";
// A resumed session gets its CONNACK before any message (resume-order.ts): aedes restores a
// stored session's subscriptions before it sends CONNACK, and a live delivery in between would
// reach the client first (MQTT.js then stalls for good). Which sessions aedes restores is the
// Clean Start flag, not Session Expiry: an MQTT 5 client resuming with Clean Start 0 and no
// Session Expiry (what MQTT.js sends for {protocolVersion: 5, clean: false}) is one of them.
// The gap is made deterministic: the store's delWill (after the subscriptions are restored, before
// CONNACK) waits until the test has published a message and had it acknowledged.
const assert = require("node:assert/strict");
const net = require("node:net");
const mqttPacket = require("mqtt-packet");
const { startEngine, connect } = require("../fixtures/engine.js");
const { until } = require("../../support/wait.js");

describe("broker engine: a resumed session's CONNACK comes before its messages", function () {
  this.timeout(20_000);
  let engine;
  let restore;
  const clients = [];

  afterEach(async function () {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
    await engine?.close();
    engine = undefined;
    restore?.();
  });

  /** Once armed, aedes' delWill of client `id` waits for `open()`; `reached` resolves when it is waiting. */
  async function gateDelWill(id) {
    const { Aedes } = await import("aedes");
    const create = Aedes.createBroker;
    let reached;
    let open;
    let armed = false;
    const gate = { reached: new Promise((r) => (reached = r)), opened: new Promise((r) => (open = r)) };
    Aedes.createBroker = async function (...args) {
      const broker = await create.apply(this, args);
      const persistence = broker.persistence;
      const delWill = persistence.delWill.bind(persistence);
      persistence.delWill = async (client) => {
        if (armed && client.id === id) {
          reached();
          await gate.opened;
        }
        return delWill(client);
      };
      return broker;
    };
    restore = () => {
      Aedes.createBroker = create;
    };
    return { reached: gate.reached, open, arm: () => (armed = true) };
  }

  for (const [label, props] of [
    ["MQTT 5, Clean Start 0, no Session Expiry", {}],
    ["MQTT 5, Clean Start 0, Session Expiry 3600", { properties: { sessionExpiryInterval: 3600 } }],
  ]) {
    it(`${label}: CONNACK first, then the message published while the session was restored`, async function () {
      const gate = await gateDelWill("resumer");
      const started = await startEngine({ allowAnonymous: true });
      engine = started.engine;
      const first = await connect(started.url, { clientId: "resumer", clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      await first.subscribeAsync("t/#", { qos: 1 });
      await first.endAsync();
      const publisher = await connect(started.url, { clientId: "publisher" });
      clients.push(publisher);

      const seen = [];
      const socket = net.connect(started.port, "127.0.0.1");
      socket.on("error", () => undefined);
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on("packet", (packet) => seen.push(packet.cmd === "publish" ? `publish ${packet.payload.toString()}` : packet.cmd));
      socket.on("data", (chunk) => parser.parse(chunk));
      try {
        await new Promise((resolve) => socket.once("connect", resolve));
        gate.arm();
        socket.write(mqttPacket.generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 5, clean: false, clientId: "resumer", keepalive: 30, ...props }));
        await gate.reached; // subscriptions restored, CONNACK not sent yet
        await publisher.publishAsync("t/x", "live", { qos: 1 }); // acknowledged: delivered to the resumer (or held)
        gate.open();
        await until(() => seen.includes("publish live"), 5000, "the live message at the resumed client");
        assert.equal(seen[0], "connack", `packets in order: ${seen.join(", ")}`);
      } finally {
        socket.destroy();
      }
    });
  }
});
