"use strict";
// Hosted ThingsBoard devices' history: every telemetry point (MQTT, gateway, HTTP API) goes to the
// engine's DeviceHistory under its key, with its ts; a gateway's sub-devices' as <sub-device>/<key>
// under the gateway's id; attributes are state, not history. Real engine, MQTT.js devices, real HTTP.
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const { thingsBoardHttpApi } = require("../../../dist/nodes/lib/thingsboard/http-api.js");
const { historyStream } = require("../../../dist/nodes/lib/thingsboard/hosted-state.js");
const { STORE_LIMITS } = require("../../../dist/nodes/lib/thingsboard/hosted-store.js");
const { until } = require("../../support/wait.js");
const { TOKENS, hostedBroker } = require("./fixtures.js");

const DEVICE = { id: "e1b2c3d4e5f60718", name: "Greenhouse", token: TOKENS.alpha, gateway: false };
const GATEWAY = { id: "a7b2c3d4e5f60718", name: "Gateway", token: TOKENS.gateway, gateway: true };
const ME = "v1/devices/me";

describe("self-hosted ThingsBoard: history", function () {
  let ctx;

  beforeEach(async function () {
    ctx = await hostedBroker({ devices: [DEVICE, GATEWAY] });
  });

  afterEach(async function () {
    await ctx.cleanup();
  });

  const points = (id, key) => ctx.engine.history.query("thingsboard", id, key);
  async function pointsOf(id, key, n) {
    let got = [];
    await until(async () => (got = await points(id, key)).length >= n, 5000, `${n} points of ${id} ${key}; got ${JSON.stringify(got)}`);
    return got;
  }

  it("keeps every telemetry point with its ts (or arrival time), older ones too; attributes are not history", async function () {
    const dev = await ctx.device(DEVICE.token);
    const t0 = Date.UTC(2024, 0, 19, 12, 0, 0);
    const before = Date.now();
    await dev.publishAsync(`${ME}/telemetry`, JSON.stringify({ temperature: 21.5, state: "ok", config: { a: [1, 2] } }), { qos: 1 });
    await dev.publishAsync(`${ME}/telemetry`, JSON.stringify([{ ts: t0 + 1000, values: { temperature: 20 } }, { ts: t0, values: { temperature: 19 } }]), { qos: 1 });
    await dev.publishAsync(`${ME}/attributes`, JSON.stringify({ firmware: "1.2" }), { qos: 1 });
    await dev.publishAsync(`${ME}/telemetry`, JSON.stringify({ after: 1 }), { qos: 1 });
    await pointsOf(DEVICE.id, "after", 1);
    const temperature = await points(DEVICE.id, "temperature");
    assert.deepEqual(temperature.map((p) => p.value), [19, 20, 21.5]);
    assert.deepEqual(temperature.slice(0, 2).map((p) => p.ts), [t0, t0 + 1000]);
    assert.ok(temperature[2].ts >= before);
    assert.deepEqual((await points(DEVICE.id, "config")).map((p) => p.value), [{ a: [1, 2] }]);
    assert.deepEqual((await ctx.engine.history.streams("thingsboard", DEVICE.id)).sort(), ["after", "config", "state", "temperature"]);
    // The latest value stays the newest by ts, whatever order the points came in.
    assert.equal(ctx.handles.get(DEVICE.id).store.get("telemetry", "temperature").value, 21.5);
  });

  it("keeps a gateway's sub-devices under its id as <sub-device>/<key>, no two series in one stream", async function () {
    const gw = await ctx.device(GATEWAY.token);
    await gw.publishAsync("v1/gateway/telemetry", JSON.stringify({ "Room/1": [{ ts: 1000, values: { "t/x": 1 } }], Room: [{ ts: 1000, values: { "1/t/x": 2 } }], "100%": [{ ts: 1000, values: { t: 4 } }] }), { qos: 1 });
    await gw.publishAsync(`${ME}/telemetry`, JSON.stringify({ "Room/1/t/x": 3, plain: 5 }), { qos: 1 });
    assert.deepEqual([historyStream("t/x", "Room/1"), historyStream("1/t/x", "Room"), historyStream("Room/1/t/x"), historyStream("plain")], ["Room%2F1/t/x", "Room/1/t/x", "Room%2F1%2Ft%2Fx", "plain"]);
    await pointsOf(GATEWAY.id, "plain", 1);
    assert.deepEqual((await points(GATEWAY.id, "Room%2F1/t/x")).map((p) => [p.ts, p.value]), [[1000, 1]]);
    assert.deepEqual((await points(GATEWAY.id, "Room/1/t/x")).map((p) => [p.ts, p.value]), [[1000, 2]]);
    assert.deepEqual((await points(GATEWAY.id, "100%25/t")).map((p) => p.value), [4]);
    assert.deepEqual((await points(GATEWAY.id, "Room%2F1%2Ft%2Fx")).map((p) => p.value), [3]);
    assert.deepEqual((await ctx.engine.history.streams("thingsboard", GATEWAY.id)).sort(), ["100%25/t", "Room%2F1%2Ft%2Fx", "Room%2F1/t/x", "Room/1/t/x", "plain"]);
  });

  it("bounds a gateway's history as one device's, however many sub-devices it invents", async function () {
    await ctx.cleanup();
    const { MemoryDeviceHistory } = require("../../../dist/nodes/lib/broker/index.js");
    ctx = await hostedBroker({ devices: [GATEWAY], history: new MemoryDeviceHistory({ maxStreamsPerDevice: 5 }) });
    const gw = await ctx.device(GATEWAY.token);
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`Sensor ${i}`, [{ ts: 1000, values: { t: i } }]]));
    await gw.publishAsync("v1/gateway/telemetry", JSON.stringify(many), { qos: 1 });
    await gw.publishAsync(`${ME}/telemetry`, JSON.stringify({ after: 1 }), { qos: 1 });
    await until(() => ctx.handles.get(GATEWAY.id).store.get("telemetry", "after") !== undefined, 5000, "the last telemetry stored");
    assert.equal((await ctx.engine.history.streams("thingsboard", GATEWAY.id)).length, 5);
  });

  it("keeps telemetry posted to the HTTP device API", async function () {
    const api = thingsBoardHttpApi();
    const server = http.createServer((req, res) => api(req, res, () => res.end("next")));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const res = await fetch(`http://127.0.0.1:${server.address().port}/api/v1/${DEVICE.token}/telemetry`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ts: 5000, values: { humidity: 40 } }),
      });
      assert.equal(res.status, 200);
      assert.deepEqual((await pointsOf(DEVICE.id, "humidity", 1)).map((p) => [p.ts, p.value]), [[5000, 40]]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("leaves out what the state refuses: values over the size limit, keys over the key limit", async function () {
    const dev = await ctx.device(DEVICE.token);
    const keys = Object.fromEntries(Array.from({ length: STORE_LIMITS.keys + 1 }, (_, i) => [`k${i}`, i]));
    await dev.publishAsync(`${ME}/telemetry`, JSON.stringify({ big: "x".repeat(STORE_LIMITS.valueBytes), ...keys }), { qos: 1 });
    await dev.publishAsync(`${ME}/telemetry`, JSON.stringify({ k0: -1 }), { qos: 1 });
    await pointsOf(DEVICE.id, "k0", 2);
    assert.deepEqual(await points(DEVICE.id, "big"), []);
    assert.deepEqual(await points(DEVICE.id, `k${STORE_LIMITS.keys}`), []);
    assert.deepEqual((await points(DEVICE.id, `k${STORE_LIMITS.keys - 1}`)).map((p) => p.value), [STORE_LIMITS.keys - 1]);
  });
});
