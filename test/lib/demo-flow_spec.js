"use strict";
// The `npm start` demo flows (scripts/start.mjs, scripts/demo/*.mjs): what reaches the Debug
// sidebar, and the ThingSpeak demo's status of the updates it sent.
const assert = require("node:assert/strict");
const path = require("node:path");
const { pathToFileURL } = require("node:url");
const jsonata = require("jsonata");

const demo = (file) => import(pathToFileURL(path.join(__dirname, "..", "..", "scripts", "demo", file)).href);

describe("npm start demo flows", function () {
  let flows;
  before(async function () {
    const options = { port: 1883, brokerId: "b0d9e1a1c0de0004", httpPort: 1880 };
    flows = {
      broker: (await demo("broker.mjs")).brokerDemo({ port: 1883, user: "demo" }),
      blynk: (await demo("blynk.mjs")).blynkDemo(options).nodes,
      thingsboard: (await demo("thingsboard.mjs")).thingsboardDemo(options).nodes,
      thingspeak: (await demo("thingspeak.mjs")).thingspeakDemo(options).nodes,
    };
  });

  it("sends nothing periodic to the Debug sidebar: only errors and broker events reach it, every other debug node shows a status", function () {
    for (const [name, nodes] of Object.entries(flows)) {
      for (const debug of nodes.filter((n) => n.type === "debug")) {
        assert.equal(debug.tostatus, true, `${name}: "${debug.name}" shows its latest message as a status`);
        if (!debug.tosidebar) continue;
        const sources = nodes.filter((n) => (n.wires ?? []).some((out) => out.includes(debug.id)));
        assert.ok(sources.length > 0);
        for (const source of sources) {
          // A catch node, an error output, or the broker's events (connects, refusals: rare).
          assert.ok(source.type === "catch" || source.type === "iot-broker" || debug.complete === "error", `${name}: "${debug.name}" goes to the sidebar but is fed by ${source.type} "${source.name}"`);
        }
      }
    }
  });

  it("the ThingSpeak device's status tells an update sent alone from one that combined writes", async function () {
    const debug = flows.thingspeak.find((n) => n.type === "debug" && n.name === "device: updates sent");
    assert.equal(debug.statusType, "jsonata");
    const status = (thingspeak) => jsonata(debug.statusVal).evaluate({ thingspeak });
    // msg.thingspeak.coalesced is how many writes the update carried (thingspeak-field.ts).
    assert.equal(await status({ coalesced: 1, sent: { field1: 21.5 } }), "alone: field1");
    assert.equal(await status({ coalesced: 3, sent: { field1: 21.5, field2: 60 } }), "combined: field1 + field2");
  });
});
