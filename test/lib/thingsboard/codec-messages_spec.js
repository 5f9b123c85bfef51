"use strict";
const assert = require("node:assert/strict");
const tb = require("../../../dist/nodes/lib/thingsboard/codec.js");
const { table, show, wire } = require("../../support/table.js");

describe("thingsboard/codec: attributes", function () {
  table(
    "encodeAttributes",
    tb.encodeAttributes,
    [
      [{ attribute1: "value1", attribute2: true }, { attribute1: "value1", attribute2: true }],
      [
        { attribute3: 42.0, attribute4: 73, attribute5: { someNumber: 42, someArray: [1, 2, 3], someNestedObject: { key: "value" } } },
        { attribute3: 42, attribute4: 73, attribute5: { someNumber: 42, someArray: [1, 2, 3], someNestedObject: { key: "value" } } },
      ],
      [{ fw_version: "1.0", list: [] }, { fw_version: "1.0", list: [] }],
    ],
    [
      [{}, "attributes is empty: name at least one key"],
      [[{ a: 1 }], "attributes must be an object of key -> value, got an array of 1"],
      ["a=1", 'attributes must be an object of key -> value, got "a=1" (string)'],
      [{ a: null }, 'attributes: value of "a" is null'],
      [{ a: NaN }, 'attributes: value of "a" is NaN'],
      [{ "": 1 }, "attributes: key must be non-empty text"],
    ],
  );

  table(
    "parseAttributes",
    (p) => tb.parseAttributes(p),
    [
      [wire({ attribute1: "value1", attribute2: true }), { attribute1: "value1", attribute2: true }],
      [wire({ a: null, b: { c: null } }), { b: { c: null } }],
      ['{"n":"5"}', { n: "5" }],
    ],
    [
      ["[1]", "attributes payload must be a JSON object, got an array of 1"],
      ["", "attributes payload is empty"],
      ["{", "attributes payload is not valid JSON"],
    ],
  );

  table(
    "encodeAttributeUpdate (shared attribute push)",
    tb.encodeAttributeUpdate,
    [
      [{ values: { key1: "value1" } }, { key1: "value1" }],
      [{ values: { a: 1 }, deleted: ["b", "c"] }, { a: 1, deleted: ["b", "c"] }],
      [{ deleted: "b,c" }, { deleted: ["b", "c"] }],
    ],
    [
      [{}, "attribute update must be an object of key -> value, got undefined"],
      [{ values: {} }, "attribute update is empty"],
      [{ values: { deleted: 1 }, deleted: ["x"] }, 'has a key "deleted" and a list of deleted keys'],
    ],
  );

  table(
    "parseAttributeUpdate",
    tb.parseAttributeUpdate,
    [
      [wire({ key1: "value1" }), { values: { key1: "value1" }, deleted: [] }],
      [wire({ a: 1, deleted: ["b"] }), { values: { a: 1 }, deleted: ["b"] }],
      [wire({ deleted: ["b", "c"] }), { values: {}, deleted: ["b", "c"] }],
      [wire({ deleted: "yes" }), { values: { deleted: "yes" }, deleted: [] }],
      [wire({ deleted: [1, 2] }), { values: { deleted: [1, 2] }, deleted: [] }],
    ],
    [["5", "attribute update must be a JSON object"]],
  );

  describe("round trip: encodeAttributeUpdate -> parseAttributeUpdate", function () {
    for (const update of [{ values: { a: 1, j: { k: [1] } } }, { values: { a: "x" }, deleted: ["old"] }, { deleted: ["gone"] }]) {
      it(show(update), function () {
        const parsed = tb.parseAttributeUpdate(wire(tb.encodeAttributeUpdate(update)));
        assert.deepEqual(parsed, { values: update.values ?? {}, deleted: update.deleted ?? [] });
      });
    }
  });

  table(
    "toKeyList",
    (v) => tb.toKeyList(v, "keys"),
    [
      [undefined, []],
      [null, []],
      ["", []],
      ["a,b", ["a", "b"]],
      [" a , b ,, c ", ["a", "b", "c"]],
      [["a", " b "], ["a", "b"]],
      ["a,a,b", ["a", "b"]],
      [["fw title"], ["fw title"]],
    ],
    [
      [["a,b"], 'keys: key "a,b" contains a comma, which ThingsBoard reads as a separator'],
      [[""], "keys: item 0 must be a non-empty key"],
      [[1], "keys: item 0 must be a non-empty key, got 1 (number)"],
      [5, 'keys must be keys as "a,b,c" or ["a", "b", "c"], got 5 (number)'],
      [{ a: 1 }, "keys must be keys as"],
    ],
  );

  table(
    "encodeAttributeRequest",
    tb.encodeAttributeRequest,
    [
      [{ clientKeys: "a1,a2", sharedKeys: "s1,s2" }, { clientKeys: "a1,a2", sharedKeys: "s1,s2" }],
      [{ clientKeys: ["a1", "a2"], sharedKeys: ["s1"] }, { clientKeys: "a1,a2", sharedKeys: "s1" }],
      [{ sharedKeys: " s1 , s2 " }, { sharedKeys: "s1,s2" }],
      [{ clientKeys: [] }, {}],
      [{}, {}],
    ],
    [[{ clientKeys: ["x,y"] }, 'clientKeys: key "x,y" contains a comma']],
  );

  table(
    "parseAttributeRequest (device actor's selection rule)",
    tb.parseAttributeRequest,
    [
      [wire({ clientKeys: "a1,a2", sharedKeys: "s1,s2" }), { all: false, clientKeys: ["a1", "a2"], sharedKeys: ["s1", "s2"] }],
      [wire({ clientKeys: "a1" }), { all: false, clientKeys: ["a1"], sharedKeys: [] }],
      [wire({ sharedKeys: "s1, s2" }), { all: false, clientKeys: [], sharedKeys: ["s1", "s2"] }],
      [wire({ clientKeys: ["a1"], sharedKeys: ["s1"] }), { all: false, clientKeys: ["a1"], sharedKeys: ["s1"] }],
      [wire({}), { all: true, clientKeys: [], sharedKeys: [] }],
      [wire({ clientKeys: "", sharedKeys: "" }), { all: true, clientKeys: [], sharedKeys: [] }],
      ["", { all: true, clientKeys: [], sharedKeys: [] }],
      [Buffer.alloc(0), { all: true, clientKeys: [], sharedKeys: [] }],
    ],
    [
      ['"a,b"', "attribute request must be a JSON object"],
      [wire({ clientKeys: 5 }), "clientKeys must be keys as"],
    ],
  );

  describe("round trip: encodeAttributeRequest -> parseAttributeRequest", function () {
    for (const request of [{ clientKeys: ["a1", "a2"], sharedKeys: ["s1"] }, { clientKeys: ["a"] }, { sharedKeys: ["s"] }, {}]) {
      it(show(request), function () {
        const parsed = tb.parseAttributeRequest(wire(tb.encodeAttributeRequest(request)));
        const clientKeys = request.clientKeys ?? [];
        const sharedKeys = request.sharedKeys ?? [];
        assert.deepEqual(parsed, { all: clientKeys.length + sharedKeys.length === 0, clientKeys, sharedKeys });
      });
    }
  });

  table(
    "encodeAttributeResponse",
    tb.encodeAttributeResponse,
    [
      [{ client: { attribute1: "value1", attribute2: true } }, { client: { attribute1: "value1", attribute2: true } }],
      [{ client: { a: 1 }, shared: { s: "x" } }, { client: { a: 1 }, shared: { s: "x" } }],
      [{ client: {}, shared: { s: 1 } }, { shared: { s: 1 } }],
      [{}, {}],
    ],
    [[{ client: { a: undefined } }, 'client attributes: value of "a" is undefined']],
  );

  table(
    "parseAttributeResponse",
    tb.parseAttributeResponse,
    [
      [wire({ client: { attribute1: "value1", attribute2: true } }), { client: { attribute1: "value1", attribute2: true }, shared: {} }],
      [wire({ client: { a: 1 }, shared: { s: { j: 1 } } }), { client: { a: 1 }, shared: { s: { j: 1 } } }],
      [wire({}), { client: {}, shared: {} }],
      ["", { client: {}, shared: {} }],
    ],
    [[wire({ client: 5 }), 'attribute response "client" must be a JSON object']],
  );
});

describe("thingsboard/codec: RPC", function () {
  table(
    "encodeRpcRequest",
    tb.encodeRpcRequest,
    [
      [{ method: "setGpio", params: { pin: 23, value: 1 } }, { method: "setGpio", params: { pin: 23, value: 1 } }],
      [{ method: "getTime" }, { method: "getTime", params: {} }],
      [{ method: "getSessionLimits", params: {} }, { method: "getSessionLimits", params: {} }],
      [{ method: "m", params: null }, { method: "m", params: null }],
      [{ method: "m", params: "text" }, { method: "m", params: "text" }],
      [{ method: "m", params: [1, { a: [2] }] }, { method: "m", params: [1, { a: [2] }] }],
    ],
    [
      [{ method: "" }, 'RPC method must be non-empty text, got "" (empty string)'],
      [{ method: "   " }, "RPC method must be non-empty text"],
      [{ method: 5 }, "RPC method must be non-empty text, got 5 (number)"],
      [{}, "RPC method must be non-empty text, got undefined"],
      [{ method: "m", params: { x: NaN } }, 'params of RPC "m" cannot be sent as JSON: it contains NaN'],
    ],
  );

  table(
    "parseRpcRequest",
    tb.parseRpcRequest,
    [
      [wire({ method: "setGpio", params: { pin: 23 } }), { method: "setGpio", params: { pin: 23 } }],
      [wire({ method: "getTime" }), { method: "getTime", params: null }],
      [wire({ method: "m", params: 5, extra: 1 }), { method: "m", params: 5 }],
    ],
    [
      [wire({ params: {} }), 'RPC request "method" must be non-empty text, got undefined'],
      [wire({ method: "" }), 'RPC request "method" must be non-empty text'],
      ["[]", "RPC request must be a JSON object"],
      ["", "RPC request is empty"],
    ],
  );

  describe("round trip: encodeRpcRequest -> parseRpcRequest", function () {
    for (const request of [{ method: "setGpio", params: { pin: 23, value: 1 } }, { method: "getTime", params: {} }, { method: "m", params: [1, "a", null] }]) {
      it(show(request), function () {
        assert.deepEqual(tb.parseRpcRequest(wire(tb.encodeRpcRequest(request))), request);
      });
    }
  });

  table(
    "encodeRpcResponse",
    tb.encodeRpcResponse,
    [
      [{ success: true }, { success: true }],
      ["ok", "ok"],
      [42, 42],
      [null, null],
      [[1, 2], [1, 2]],
    ],
    [
      [undefined, 'RPC reply is undefined; accepted: any JSON value (use null for "no result")'],
      [NaN, "RPC reply"],
    ],
  );

  table(
    "parseRpcResponse",
    tb.parseRpcResponse,
    [
      [wire({ time: "Thursday" }), { time: "Thursday" }],
      ['"ok"', "ok"],
      ["42", 42],
      ["null", null],
      [null, null],
      ["ok", "ok"],
      [Buffer.from("plain text reply"), "plain text reply"],
      ["", ""],
      [Buffer.alloc(0), ""],
      [{ already: 1 }, { already: 1 }],
    ],
  );

  table(
    "rpcError",
    tb.rpcError,
    [
      [{ error: "timeout" }, "timeout"],
      [{ error: "x", more: 1 }, undefined],
      [{ error: 5 }, undefined],
      ["error", undefined],
      [null, undefined],
    ],
  );
});

describe("thingsboard/codec: claim", function () {
  table(
    "encodeClaim",
    tb.encodeClaim,
    [
      [{ secretKey: "value", durationMs: 60000 }, { secretKey: "value", durationMs: 60000 }],
      [{ secretKey: "" }, { secretKey: "" }],
      [{ durationMs: "60000" }, { durationMs: 60000 }],
      [{}, {}],
      [undefined, {}],
    ],
    [
      [{ secretKey: 5 }, "claim secretKey must be text, got 5 (number)"],
      [{ durationMs: -1 }, "claim durationMs must be whole milliseconds, got -1 (number)"],
      [{ durationMs: 1.5 }, "claim durationMs must be whole milliseconds"],
      [{ durationMs: "1m" }, 'got "1m" (string)'],
    ],
  );

  table(
    "parseClaim",
    tb.parseClaim,
    [
      [wire({ secretKey: "value", durationMs: 60000 }), { secretKey: "value", durationMs: 60000 }],
      [wire({ secretKey: 1234 }), { secretKey: "1234" }],
      [wire({}), {}],
      ["", {}],
      [Buffer.alloc(0), {}],
      [wire({ secretKey: null, durationMs: null }), {}],
    ],
    [
      ["[1]", "claim must be a JSON object"],
      [wire({ durationMs: "soon" }), "claim durationMs must be whole milliseconds"],
    ],
  );

  it("round trip: encodeClaim -> parseClaim", function () {
    for (const claim of [{ secretKey: "s", durationMs: 1 }, { secretKey: "only" }, { durationMs: 5 }, {}]) {
      assert.deepEqual(tb.parseClaim(wire(tb.encodeClaim(claim))), claim);
    }
  });
});

describe("thingsboard/codec: provisioning", function () {
  const key = { provisionDeviceKey: "u7piawkboq8v32dmcmpp", provisionDeviceSecret: "jpmwdn8ptlswmf4m29bw" };
  table(
    "encodeProvisionRequest",
    tb.encodeProvisionRequest,
    [
      [{ deviceName: "DEVICE_NAME", ...key }, { deviceName: "DEVICE_NAME", ...key }],
      [{ ...key }, { ...key }],
      [{ ...key, credentialsType: "ACCESS_TOKEN", token: "tok" }, { ...key, credentialsType: "ACCESS_TOKEN", token: "tok" }],
      [{ ...key, token: "tok" }, { ...key, token: "tok" }],
      [
        { ...key, credentialsType: "MQTT_BASIC", clientId: "c", username: "u", password: "p" },
        { ...key, credentialsType: "MQTT_BASIC", clientId: "c", username: "u", password: "p" },
      ],
      [{ ...key, credentialsType: "MQTT_BASIC", clientId: "c" }, { ...key, credentialsType: "MQTT_BASIC", clientId: "c" }],
      [{ ...key, credentialsType: "X509_CERTIFICATE", hash: "PEM" }, { ...key, credentialsType: "X509_CERTIFICATE", hash: "PEM" }],
    ],
    [
      [{ provisionDeviceKey: "k" }, '"provisionDeviceSecret" is missing'],
      [{ provisionDeviceSecret: "s" }, '"provisionDeviceKey" is missing'],
      [{ ...key, provisionDeviceKey: "" }, '"provisionDeviceKey" must be non-empty text'],
      [{ ...key, credentialsType: "PASSWORD" }, 'credentialsType "PASSWORD" (string) is unknown; accepted: "ACCESS_TOKEN", "MQTT_BASIC" or "X509_CERTIFICATE"'],
      [{ ...key, clientId: "c" }, '"clientId" belongs to credentialsType MQTT_BASIC, not ACCESS_TOKEN (the default)'],
      [{ ...key, credentialsType: "MQTT_BASIC", token: "t" }, '"token" belongs to credentialsType ACCESS_TOKEN, not MQTT_BASIC'],
      [{ ...key, credentialsType: "MQTT_BASIC", username: "u" }, "basic MQTT credentials are incomplete"],
      [{ ...key, credentialsType: "X509_CERTIFICATE" }, 'X509_CERTIFICATE needs "hash"'],
      [{ ...key, deviceName: "d".repeat(256) }, "deviceName has 256 characters"],
      [[key], "provisioning request must be an object"],
    ],
  );

  table(
    "parseProvisionRequest",
    tb.parseProvisionRequest,
    [
      [wire({ deviceName: "DEVICE_NAME", ...key }), { deviceName: "DEVICE_NAME", ...key }],
      [wire({ ...key, deviceName: "", extra: 1 }), { ...key }],
      [wire({ ...key, credentialsType: "MQTT_BASIC", clientId: "c", username: "u", password: "p" }), { ...key, credentialsType: "MQTT_BASIC", clientId: "c", username: "u", password: "p" }],
      [wire({ provisionDeviceKey: 12, provisionDeviceSecret: 34 }), { provisionDeviceKey: "12", provisionDeviceSecret: "34" }],
    ],
    [
      [wire({ deviceName: "x" }), '"provisionDeviceKey" is missing'],
      ["", "provisioning request is empty"],
    ],
  );

  table(
    "encodeProvisionResponse",
    tb.encodeProvisionResponse,
    [
      [{ ok: true, credentials: { credentialsType: "ACCESS_TOKEN", token: "tok" } }, { status: "SUCCESS", credentialsType: "ACCESS_TOKEN", credentialsValue: "tok" }],
      [
        { ok: true, credentials: { credentialsType: "MQTT_BASIC", clientId: "c", username: "u", password: "p" } },
        { status: "SUCCESS", credentialsType: "MQTT_BASIC", credentialsValue: { clientId: "c", userName: "u", password: "p" } },
      ],
      [{ ok: true, credentials: { credentialsType: "X509_CERTIFICATE", value: "PEM" } }, { status: "SUCCESS", credentialsType: "X509_CERTIFICATE", credentialsValue: "PEM" }],
      [{ ok: false, status: "NOT_FOUND", errorMsg: "" }, { status: "NOT_FOUND", errorMsg: "Provision data was not found!" }],
      [{ ok: false, status: "FAILURE", errorMsg: "" }, { status: "FAILURE", errorMsg: "Failed to provision device!" }],
      [{ ok: false, status: "WHATEVER", errorMsg: "no" }, { status: "FAILURE", errorMsg: "no" }],
    ],
    [[{ ok: true, credentials: { credentialsType: "ACCESS_TOKEN", token: "" } }, "credentials token must be non-empty text"]],
  );

  table(
    "parseProvisionResponse",
    tb.parseProvisionResponse,
    [
      [wire({ status: "SUCCESS", credentialsType: "ACCESS_TOKEN", credentialsValue: "tok" }), { ok: true, credentials: { credentialsType: "ACCESS_TOKEN", token: "tok" } }],
      [
        wire({ status: "SUCCESS", credentialsType: "MQTT_BASIC", credentialsValue: { clientId: "c", userName: "u", password: "p" } }),
        { ok: true, credentials: { credentialsType: "MQTT_BASIC", clientId: "c", username: "u", password: "p" } },
      ],
      [wire({ status: "SUCCESS", credentialsType: "X509_CERTIFICATE", credentialsValue: "PEM" }), { ok: true, credentials: { credentialsType: "X509_CERTIFICATE", value: "PEM" } }],
      [wire({ provisionDeviceStatus: "SUCCESS", accessToken: "old" }), { ok: true, credentials: { credentialsType: "ACCESS_TOKEN", token: "old" } }],
      [wire({ status: "NOT_FOUND", errorMsg: "Provision data was not found!" }), { ok: false, status: "NOT_FOUND", errorMsg: "Provision data was not found!" }],
      [wire({ status: "FAILURE" }), { ok: false, status: "FAILURE", errorMsg: "" }],
    ],
    [
      [wire({ credentialsValue: "x" }), 'provisioning response has no "status"'],
      [wire({ status: "SUCCESS", credentialsType: "ACCESS_TOKEN" }), "credentialsValue (the access token) must be non-empty text, got undefined"],
      [wire({ status: "SUCCESS", credentialsType: "LWM2M_CREDENTIALS" }), 'credentialsType "LWM2M_CREDENTIALS" (string) with a credentialsValue of type undefined is not understood'],
      [wire({ status: "SUCCESS", credentialsType: "LWM2M_CREDENTIALS", credentialsValue: "SECRET-TOKEN-1234" }), "with a credentialsValue of type string is not understood"],
      [wire({ status: "SUCCESS", credentialsType: "ACCESS_TOKEN", credentialsValue: 12345 }), "credentialsValue (the access token) must be non-empty text, got number"],
    ],
  );

  it("parseProvisionResponse never quotes a credential it cannot use", function () {
    for (const answer of [{ credentialsType: "LWM2M_CREDENTIALS", credentialsValue: "SECRET-TOKEN-1234" }, { credentialsType: "MQTT_BASIC", credentialsValue: "SECRET-TOKEN-1234" }]) {
      assert.throws(() => tb.parseProvisionResponse(wire({ status: "SUCCESS", ...answer })), (err) => !err.message.includes("SECRET"));
    }
  });

  describe("round trip: provisioning request and response", function () {
    const requests = [{ deviceName: "d", ...key }, { ...key, credentialsType: "MQTT_BASIC", username: "u", password: "p" }, { ...key, credentialsType: "X509_CERTIFICATE", hash: "h" }];
    for (const request of requests) {
      it(`request ${show(request)}`, function () {
        assert.deepEqual(tb.parseProvisionRequest(wire(tb.encodeProvisionRequest(request))), request);
      });
    }
    const responses = [
      { ok: true, credentials: { credentialsType: "ACCESS_TOKEN", token: "t" } },
      { ok: true, credentials: { credentialsType: "MQTT_BASIC", clientId: "c" } },
      { ok: true, credentials: { credentialsType: "X509_CERTIFICATE", value: "v" } },
      { ok: false, status: "NOT_FOUND", errorMsg: "Provision data was not found!" },
    ];
    for (const response of responses) {
      it(`response ${show(response)}`, function () {
        assert.deepEqual(tb.parseProvisionResponse(wire(tb.encodeProvisionResponse(response))), response);
      });
    }
  });
});

describe("thingsboard/codec: CONNECT and CONNACK", function () {
  table(
    "connectCredentials",
    tb.connectCredentials,
    [
      [{ type: "access-token", token: "A1_TEST_TOKEN" }, { username: "A1_TEST_TOKEN" }],
      [{ type: "basic", clientId: "c" }, { clientId: "c" }],
      [{ type: "basic", username: "u", password: "p" }, { username: "u", password: "p" }],
      [{ type: "basic", clientId: "c", username: "u", password: "p" }, { clientId: "c", username: "u", password: "p" }],
      [{ type: "basic", clientId: "c", username: "u" }, { clientId: "c", username: "u" }],
      [{ type: "provision" }, { username: "provision" }],
    ],
    [
      [{ type: "access-token", token: "" }, "access token must be non-empty text without surrounding spaces, got empty text"],
      [{ type: "access-token", token: " SECRET " }, "got empty text or text with surrounding spaces"],
      [{ type: "access-token", token: 5 }, "access token must be text, got 5 (number)"],
      [{ type: "basic", username: "u" }, "a user name alone is the access-token form"],
      [{ type: "basic", password: "p", clientId: "c" }, "a password needs a user name"],
      [{ type: "basic" }, "basic MQTT credentials are incomplete"],
      [{ type: "basic", clientId: "a\nb" }, "client id must not contain control characters"],
      [{ type: "x509" }, 'unknown authentication type "x509" (string)'],
    ],
  );

  it("never echoes a token in a refusal", function () {
    assert.throws(() => tb.connectCredentials({ type: "access-token", token: " SECRET_TOKEN " }), (err) => !err.message.includes("SECRET"));
  });

  table(
    "classifyConnect",
    tb.classifyConnect,
    [
      [{ clientId: "x", username: "TOKEN" }, { kind: "device", token: "TOKEN", clientId: "x", username: "TOKEN", password: undefined }],
      [{ clientId: "", username: "TOKEN", password: Buffer.alloc(0) }, { kind: "device", token: "TOKEN", clientId: "", username: "TOKEN", password: undefined }],
      [{ clientId: "c", username: "u", password: Buffer.from("p") }, { kind: "device", token: "u", clientId: "c", username: "u", password: "p" }],
      [{ clientId: "c" }, { kind: "device", token: undefined, clientId: "c", username: undefined, password: undefined }],
      [{}, { kind: "device", token: undefined, clientId: "", username: undefined, password: undefined }],
      [{ clientId: "x", username: "provision" }, { kind: "provision" }],
      [{ clientId: "provision" }, { kind: "provision" }],
    ],
  );

  table(
    "matchesBasicCredentials",
    ([stored, presented]) => tb.matchesBasicCredentials(stored, presented),
    [
      [[{ clientId: "c" }, { clientId: "c" }], true],
      [[{ clientId: "c" }, { clientId: "c", username: "any" }], true],
      [[{ clientId: "c" }, { clientId: "d" }], false],
      [[{ username: "u", password: "p" }, { clientId: "random", username: "u", password: "p" }], true],
      [[{ username: "u", password: "p" }, { username: "u", password: "q" }], false],
      [[{ username: "u", password: "p" }, { username: "u" }], false],
      [[{ clientId: "c", username: "u", password: "p" }, { clientId: "c", username: "u", password: "p" }], true],
      [[{ clientId: "c", username: "u", password: "p" }, { clientId: "x", username: "u", password: "p" }], false],
      [[{ username: "u" }, { username: "u" }], true],
      [[{}, {}], false],
    ],
  );

  table(
    "refusalCode",
    ([reason, version]) => tb.refusalCode(reason, version),
    [
      [["empty-username", 4], 4],
      [["unknown-credentials", 4], 5],
      [["empty-username", 5], 0x86],
      [["unknown-credentials", 5], 0x87],
      [["unknown-credentials", 3], 5],
    ],
  );

  table(
    "describeConnack",
    tb.describeConnack,
    [
      [0, "connected (code 0x00)"],
      [4, "refused: bad user name or password — ThingsBoard sends this when the user name is empty; put the device's access token in the user name (code 0x04)"],
      [5, "refused: not authorized — ThingsBoard does not know this access token (or these basic MQTT credentials); check the token on the device's page (code 0x05)"],
      [0x87, "refused: not authorized — ThingsBoard does not know this access token (or these basic MQTT credentials); check the token on the device's page (code 0x87)"],
      [3, "refused: server unavailable (code 0x03)"],
      [0x9f, "refused (code 0x9f)"],
      [9, "unknown return code (code 0x09)"],
    ],
  );
});
