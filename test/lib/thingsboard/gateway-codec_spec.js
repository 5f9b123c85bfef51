"use strict";
const assert = require("node:assert/strict");
const gw = require("../../../dist/nodes/lib/thingsboard/gateway-codec.js");
const tb = require("../../../dist/nodes/lib/thingsboard/codec.js");
const { table, show, wire } = require("../../support/table.js");

const TS = 1483228800000;

describe("thingsboard/gateway-codec: connect and disconnect", function () {
  table(
    "encodeGatewayConnect",
    ([device, type]) => gw.encodeGatewayConnect(device, type),
    [
      [["Device A"], { device: "Device A" }],
      [["Device A", "Sensor A"], { device: "Device A", type: "Sensor A" }],
      [["Device A", ""], { device: "Device A" }],
    ],
    [
      [[""], 'device name must be non-empty text, got "" (empty string); accepted: the sub-device name'],
      [["   "], "device name must be non-empty text"],
      [[5], "device name must be non-empty text, got 5 (number)"],
      [["d".repeat(256)], "has 256 characters"],
      [["Device A", 7], "device type (profile) must be text, got 7 (number)"],
    ],
  );

  table(
    "parseGatewayConnect",
    gw.parseGatewayConnect,
    [
      [wire({ device: "Device A" }), { device: "Device A", type: "default" }],
      [wire({ device: "Device A", type: "Sensor A" }), { device: "Device A", type: "Sensor A" }],
      [wire({ device: "Device A", type: null }), { device: "Device A", type: "default" }],
    ],
    [
      [wire({ type: "x" }), 'gateway connect "device" must be non-empty text, got undefined'],
      ["", "gateway connect is empty"],
      ['"Device A"', "gateway connect must be a JSON object"],
    ],
  );

  table("encodeGatewayDisconnect", gw.encodeGatewayDisconnect, [["Device A", { device: "Device A" }]], [[null, "device name must be non-empty text, got null"]]);
  table(
    "parseGatewayDisconnect",
    gw.parseGatewayDisconnect,
    [
      [wire({ device: "Device A" }), { device: "Device A" }],
      [wire({ device: "Device A", reason: 1 }), { device: "Device A" }],
    ],
    [[wire({}), 'gateway disconnect "device" must be non-empty text']],
  );
});

describe("thingsboard/gateway-codec: telemetry, attributes, claim", function () {
  table(
    "encodeGatewayTelemetry",
    (input) => gw.encodeGatewayTelemetry(input),
    [
      [
        { "Device A": [{ ts: TS, values: { temperature: 42, humidity: 80 } }, { ts: TS + 1000, values: { temperature: 43, humidity: 82 } }], "Device B": [{ ts: TS, values: { temperature: 42 } }] },
        { "Device A": [{ ts: TS, values: { temperature: 42, humidity: 80 } }, { ts: TS + 1000, values: { temperature: 43, humidity: 82 } }], "Device B": [{ ts: TS, values: { temperature: 42 } }] },
      ],
      [{ "Device A": { temperature: 1 } }, { "Device A": [{ temperature: 1 }] }],
      [{ "Device A": { ts: new Date(TS), values: { t: 1 } } }, { "Device A": [{ ts: TS, values: { t: 1 } }] }],
      [[["Device A", { t: 1 }], ["Device B", [{ u: 2 }]]], { "Device A": [{ t: 1 }], "Device B": [{ u: 2 }] }],
    ],
    [
      [{}, "gateway telemetry names no device"],
      [[], "gateway telemetry names no device"],
      [5, "gateway telemetry must be an object keyed by device name, got 5 (number)"],
      [{ "": { t: 1 } }, 'gateway telemetry: device name must be non-empty text, got "" (empty string)'],
      [{ "Device A": {} }, "telemetry is empty"],
      [{ "Device A": { t: null } }, 'value of "t" is null'],
      [{ "Device A": { values: { ts: 1, values: { a: 1 } } } }, 'telemetry of "Device A", item 0 has keys "ts" and "values" but no timestamp'],
    ],
  );

  table(
    "parseGatewayTelemetry",
    (payload) => gw.parseGatewayTelemetry(payload),
    [
      [
        wire({ "Device A": [{ ts: TS, values: { temperature: 42 } }, { ts: TS + 1000, values: { temperature: 43 } }], "Device B": [{ ts: TS, values: { temperature: 1 } }] }),
        [
          { device: "Device A", entries: [{ ts: TS, values: { temperature: 42 } }, { ts: TS + 1000, values: { temperature: 43 } }] },
          { device: "Device B", entries: [{ ts: TS, values: { temperature: 1 } }] },
        ],
      ],
      [wire({ "Device A": [{ t: 1 }] }), [{ device: "Device A", entries: [{ values: { t: 1 } }] }]],
      [wire({ "Device A": { t: 1 } }), [{ device: "Device A", entries: [{ values: { t: 1 } }] }]],
      [wire({}), []],
    ],
    [
      [wire([{ t: 1 }]), "gateway telemetry must be a JSON object, got an array of 1"],
      [wire({ "": [{ t: 1 }] }), "gateway telemetry: device name must be non-empty text"],
      [wire({ "Device A": 5 }), "telemetry payload must be a JSON object, got 5 (number)"],
    ],
  );

  it("parseGatewayTelemetry stamps with now when asked", function () {
    assert.deepEqual(gw.parseGatewayTelemetry(wire({ D: [{ t: 1 }] }), { now: 5 }), [{ device: "D", entries: [{ ts: 5, values: { t: 1 } }] }]);
  });

  table(
    "encodeGatewayAttributes",
    gw.encodeGatewayAttributes,
    [
      [
        { "Device A": { attribute1: "value1", attribute2: 42 }, "Device B": { attribute1: "value1", attribute2: 42 } },
        { "Device A": { attribute1: "value1", attribute2: 42 }, "Device B": { attribute1: "value1", attribute2: 42 } },
      ],
      [[["Device A", { fw_version: "1.0", battery: 87 }]], { "Device A": { fw_version: "1.0", battery: 87 } }],
    ],
    [
      [{ "Device A": 5 }, 'attributes of "Device A" must be an object of key -> value'],
      [{ "Device A": {} }, 'attributes of "Device A" is empty'],
    ],
  );

  table(
    "parseGatewayAttributes",
    gw.parseGatewayAttributes,
    [[wire({ "Device A": { fw_version: "1.0", battery: 87, gone: null } }), [{ device: "Device A", values: { fw_version: "1.0", battery: 87 } }]]],
    [[wire({ "Device A": [1] }), 'attributes of "Device A" must be a JSON object']],
  );

  table(
    "encodeGatewayAttributeUpdate",
    ([device, update]) => gw.encodeGatewayAttributeUpdate(device, update),
    [
      [["Device A", { values: { attribute1: "value1", attribute2: 42 } }], { device: "Device A", data: { attribute1: "value1", attribute2: 42 } }],
      [["Device A", { deleted: ["x"] }], { device: "Device A", data: { deleted: ["x"] } }],
    ],
    [
      [["", { values: { a: 1 } }], "device name must be non-empty text"],
      [["Device A", { values: { deleted: 1 }, deleted: ["x"] }], 'has a key "deleted"'],
    ],
  );

  table(
    "parseGatewayAttributeUpdate",
    gw.parseGatewayAttributeUpdate,
    [
      [wire({ device: "Device A", data: { attribute1: "value1", attribute2: 42 } }), { device: "Device A", values: { attribute1: "value1", attribute2: 42 }, deleted: [] }],
      [wire({ device: "Device A", data: { a: 1, deleted: ["b"] } }), { device: "Device A", values: { a: 1 }, deleted: ["b"] }],
    ],
    [
      [wire({ device: "Device A" }), 'gateway attribute update "data" must be an object, got undefined'],
      [wire({ data: {} }), 'gateway attribute update "device" must be non-empty text'],
    ],
  );

  table(
    "encodeGatewayClaim",
    gw.encodeGatewayClaim,
    [
      [
        { "Device A": { secretKey: "value_A", durationMs: 60000 }, "Device B": { secretKey: "value_B", durationMs: 60000 } },
        { "Device A": { secretKey: "value_A", durationMs: 60000 }, "Device B": { secretKey: "value_B", durationMs: 60000 } },
      ],
      [{ "Device A": undefined }, { "Device A": {} }],
    ],
    [[{ "Device A": { durationMs: -5 } }, 'claim of "Device A" durationMs must be whole milliseconds']],
  );

  table(
    "parseGatewayClaim",
    gw.parseGatewayClaim,
    [
      [wire({ "Device A": { secretKey: "mySecret", durationMs: 60000 } }), [{ device: "Device A", secretKey: "mySecret", durationMs: 60000 }]],
      [wire({ "Device A": {} }), [{ device: "Device A" }]],
    ],
    [[wire({ "Device A": "s" }), 'claim of "Device A" must be an object']],
  );

  describe("round trips: encode -> wire -> parse", function () {
    it("telemetry", function () {
      const input = { "Device A": [{ ts: TS, values: { t: 1 } }, { u: { j: [1] } }], "Device B": { v: "x" } };
      assert.deepEqual(gw.parseGatewayTelemetry(wire(gw.encodeGatewayTelemetry(input))), [
        { device: "Device A", entries: tb.normalizeTelemetry(input["Device A"]) },
        { device: "Device B", entries: tb.normalizeTelemetry(input["Device B"]) },
      ]);
    });
    it("attributes", function () {
      const input = { "Device A": { a: 1 }, "Device B": { b: true } };
      assert.deepEqual(gw.parseGatewayAttributes(wire(gw.encodeGatewayAttributes(input))), [
        { device: "Device A", values: { a: 1 } },
        { device: "Device B", values: { b: true } },
      ]);
    });
    it("attribute update", function () {
      assert.deepEqual(gw.parseGatewayAttributeUpdate(wire(gw.encodeGatewayAttributeUpdate("D", { values: { a: 1 }, deleted: ["b"] }))), { device: "D", values: { a: 1 }, deleted: ["b"] });
    });
    it("claim", function () {
      const input = { "Device A": { secretKey: "s", durationMs: 1 }, "Device B": {} };
      assert.deepEqual(gw.parseGatewayClaim(wire(gw.encodeGatewayClaim(input))), [{ device: "Device A", secretKey: "s", durationMs: 1 }, { device: "Device B" }]);
    });
    it("connect / disconnect", function () {
      assert.deepEqual(gw.parseGatewayConnect(wire(gw.encodeGatewayConnect("D", "Sensor"))), { device: "D", type: "Sensor" });
      assert.deepEqual(gw.parseGatewayDisconnect(wire(gw.encodeGatewayDisconnect("D"))), { device: "D" });
    });
  });
});

describe("thingsboard/gateway-codec: attribute request and response", function () {
  table(
    "encodeGatewayAttributeRequest (the server's form)",
    gw.encodeGatewayAttributeRequest,
    [
      [{ id: 1, device: "Device A", scope: "client", keys: "k" }, { id: 1, device: "Device A", client: true, key: "k" }],
      [{ id: 2, device: "Device A", scope: "shared", keys: ["k1", "k2"] }, { id: 2, device: "Device A", client: false, keys: ["k1", "k2"] }],
      [{ id: "3", device: "Device A", scope: "shared", keys: "k1, k2" }, { id: 3, device: "Device A", client: false, keys: ["k1", "k2"] }],
      [{ id: 0, device: "D", scope: "client", keys: ["only"] }, { id: 0, device: "D", client: true, key: "only" }],
    ],
    [
      [{ id: 1, device: "D", scope: "server", keys: "k" }, 'scope must be "client" or "shared", got "server" (string)'],
      [{ id: 1, device: "D", scope: "client", keys: [] }, "gateway attribute request names no key"],
      [{ id: -1, device: "D", scope: "client", keys: "k" }, "request id must be a whole number, got -1 (number)"],
      [{ id: 1, device: "", scope: "client", keys: "k" }, "device name must be non-empty text"],
    ],
  );

  table(
    "parseGatewayAttributeRequest (both documented forms)",
    gw.parseGatewayAttributeRequest,
    [
      [wire({ id: 1, device: "Device A", client: true, key: "k" }), { id: 1, device: "Device A", clientKeys: ["k"], sharedKeys: [] }],
      [wire({ id: 2, device: "Device A", client: false, keys: ["k1", "k2"] }), { id: 2, device: "Device A", clientKeys: [], sharedKeys: ["k1", "k2"] }],
      [wire({ id: 3, device: "Device A", client: ["key1", "key2"], shared: ["key3", "key4"] }), { id: 3, device: "Device A", clientKeys: ["key1", "key2"], sharedKeys: ["key3", "key4"] }],
      [wire({ id: 4, device: "Device A", shared: ["key3"] }), { id: 4, device: "Device A", clientKeys: [], sharedKeys: ["key3"] }],
      [wire({ id: "5", device: "D", client: true, keys: [] }), { id: 5, device: "D", clientKeys: [], sharedKeys: [] }],
    ],
    [
      [wire({ device: "D", client: true, key: "k" }), 'gateway attribute request "id" must be a whole number, got undefined'],
      [wire({ id: 1, client: true, key: "k" }), 'gateway attribute request "device" must be non-empty text'],
      [wire({ id: 1, device: "D", key: "k" }), 'gateway attribute request "client" must be true/false or an array of keys, got undefined'],
      [wire({ id: 1, device: "D", client: true, key: "a,b" }), 'key "a,b" contains a comma'],
      [wire({ id: 1.5, device: "D", client: true, key: "k" }), "got 1.5 (number)"],
    ],
  );

  table(
    "encodeGatewayAttributeResponse",
    gw.encodeGatewayAttributeResponse,
    [
      [{ id: 1, device: "Device A", values: { k: "v" }, multiple: false }, { id: 1, device: "Device A", value: "v" }],
      [{ id: 2, device: "Device A", values: { k1: 1, k2: { j: true } }, multiple: true }, { id: 2, device: "Device A", values: { k1: 1, k2: { j: true } } }],
      [{ id: 3, device: "Device A", values: { k1: 1 }, multiple: true }, { id: 3, device: "Device A", values: { k1: 1 } }],
      [{ id: 4, device: "Device A", values: {}, multiple: false }, { id: 4, device: "Device A" }],
    ],
    [[{ id: 1, device: "D", values: 5, multiple: false }, "gateway attribute response values must be an object"]],
  );

  table(
    "parseGatewayAttributeResponse",
    ([payload, keys]) => gw.parseGatewayAttributeResponse(payload, keys),
    [
      [[wire({ id: 1, device: "Device A", value: "v" }), ["k"]], { id: 1, device: "Device A", values: { k: "v" } }],
      [[wire({ id: 1, device: "Device A", value: { j: 1 } }), undefined], { id: 1, device: "Device A", values: {}, value: { j: 1 } }],
      [[wire({ id: 1, device: "Device A", value: 5 }), ["a", "b"]], { id: 1, device: "Device A", values: {}, value: 5 }],
      [[wire({ id: 2, device: "Device A", values: { k1: 1, k2: 2 } }), ["k1", "k2"]], { id: 2, device: "Device A", values: { k1: 1, k2: 2 } }],
      [[wire({ id: 3, device: "Device A" }), ["k"]], { id: 3, device: "Device A", values: {} }],
    ],
    [
      [[wire({ device: "D", value: 1 }), ["k"]], 'gateway attribute response "id" must be a whole number'],
      [[wire({ id: 1, device: "D", values: [1] }), ["k"]], 'gateway attribute response "values" must be a JSON object'],
    ],
  );

  describe("round trip: request -> parse -> response -> parse", function () {
    const cases = [
      { scope: "client", keys: ["k"], found: { k: "v" } },
      { scope: "shared", keys: ["a", "b"], found: { a: 1, b: [2] } },
      { scope: "shared", keys: ["a", "b"], found: { a: 1 } },
      { scope: "client", keys: ["missing"], found: {} },
    ];
    for (const c of cases) {
      it(show(c), function () {
        const request = gw.parseGatewayAttributeRequest(wire(gw.encodeGatewayAttributeRequest({ id: 9, device: "Dev", scope: c.scope, keys: c.keys })));
        const keys = c.scope === "client" ? request.clientKeys : request.sharedKeys;
        assert.deepEqual(keys, c.keys);
        const multiple = request.clientKeys.length + request.sharedKeys.length > 1;
        const response = gw.encodeGatewayAttributeResponse({ id: request.id, device: request.device, values: c.found, multiple });
        assert.deepEqual(gw.parseGatewayAttributeResponse(wire(response), c.keys), { id: 9, device: "Dev", values: c.found });
      });
    }
  });
});

describe("thingsboard/gateway-codec: RPC", function () {
  table(
    "encodeGatewayRpcRequest",
    gw.encodeGatewayRpcRequest,
    [
      [{ device: "Device A", id: 1, method: "toggle_gpio", params: { pin: 1 } }, { device: "Device A", data: { id: 1, method: "toggle_gpio", params: { pin: 1 } } }],
      [{ device: "Device A", id: 2, method: "reboot" }, { device: "Device A", data: { id: 2, method: "reboot", params: {} } }],
    ],
    [
      [{ device: "Device A", id: 1, method: "" }, "RPC method must be non-empty text"],
      [{ device: "Device A", id: "x", method: "m" }, 'request id must be a whole number, got "x" (string)'],
    ],
  );

  table(
    "parseGatewayRpcRequest",
    gw.parseGatewayRpcRequest,
    [
      [wire({ device: "Device A", data: { id: 1, method: "toggle_gpio", params: { pin: 1 } } }), { device: "Device A", id: 1, method: "toggle_gpio", params: { pin: 1 } }],
      [wire({ device: "Device A", data: { id: "7", method: "m" } }), { device: "Device A", id: 7, method: "m", params: null }],
    ],
    [
      [wire({ device: "Device A", data: { method: "m" } }), 'gateway RPC "id" must be a whole number, got undefined'],
      [wire({ device: "Device A" }), 'gateway RPC "data" must be an object with id, method and params'],
      [wire({ device: "Device A", data: { id: 1 } }), 'gateway RPC "method" must be non-empty text'],
    ],
  );

  table(
    "encodeGatewayRpcResponse",
    gw.encodeGatewayRpcResponse,
    [
      [{ device: "Device A", id: 1, result: { success: true } }, { device: "Device A", id: 1, data: { success: true } }],
      [{ device: "Device A", id: "12", result: "done" }, { device: "Device A", id: 12, data: "done" }],
      [{ device: "Device A", id: 1, result: null }, { device: "Device A", id: 1, data: null }],
    ],
    [[{ device: "Device A", id: 1, result: undefined }, "RPC reply is undefined"]],
  );

  table(
    "parseGatewayRpcResponse",
    gw.parseGatewayRpcResponse,
    [[wire({ device: "Device A", id: 1, data: { success: true } }), { device: "Device A", id: 1, data: { success: true } }]],
    [
      [wire({ device: "Device A", id: 1 }), 'gateway RPC reply has no "data"'],
      [wire({ device: "Device A", data: {} }), 'gateway RPC reply "id" must be a whole number'],
    ],
  );

  table(
    "isGatewayRpcRequest (shared v1/gateway/rpc topic)",
    gw.isGatewayRpcRequest,
    [
      [wire({ device: "D", data: { id: 1, method: "m", params: {} } }), true],
      [wire({ device: "D", id: 1, data: { method: "m" } }), false],
      [wire({ device: "D", id: 1, data: { success: true } }), false],
    ],
  );

  it("round trip: server RPC -> gateway -> reply", function () {
    const request = gw.parseGatewayRpcRequest(wire(gw.encodeGatewayRpcRequest({ device: "Device A", id: 42, method: "setGpio", params: { pin: 2, value: 1 } })));
    assert.deepEqual(request, { device: "Device A", id: 42, method: "setGpio", params: { pin: 2, value: 1 } });
    const reply = gw.parseGatewayRpcResponse(wire(gw.encodeGatewayRpcResponse({ device: request.device, id: request.id, result: { pin: 2, value: 1 } })));
    assert.deepEqual(reply, { device: "Device A", id: 42, data: { pin: 2, value: 1 } });
  });
});
