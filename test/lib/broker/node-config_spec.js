"use strict";
const assert = require("node:assert/strict");
const { parseBrokerNode, parseUsers, BrokerConfigError } = require("../../../dist/nodes/lib/broker/node-config.js");

describe("iot-broker node configuration", function () {
  const accepted = [
    ["defaults", {}, {}, { host: "0.0.0.0", port: 1883, wsPort: undefined, wsPath: undefined, allowAnonymous: false, users: 0 }],
    ["string port and bind", { port: "1884", bind: " 127.0.0.1 " }, {}, { host: "127.0.0.1", port: 1884 }],
    ["anonymous as boolean", { allowAnonymous: true }, {}, { allowAnonymous: true }],
    ["anonymous as string", { allowAnonymous: "true" }, {}, { allowAnonymous: true }],
    ["websocket port and path", { wsPort: "9001", wsPath: "/mqtt" }, {}, { wsPort: 9001, wsPath: "/mqtt" }],
    ["blank websocket settings mean none", { wsPort: " ", wsPath: "" }, {}, { wsPort: undefined, wsPath: undefined }],
    ["one user", {}, { users: '[{"username":"a","password":"p","publish":["x/#"],"subscribe":"y/#, z"}]' }, { users: 1 }],
  ];
  for (const [name, props, creds, expected] of accepted) {
    it(`accepts ${name}`, function () {
      const s = parseBrokerNode(props, creds);
      const flat = { host: s.host, port: s.port, wsPort: s.wsPort, wsPath: s.wsPath, allowAnonymous: s.options.allowAnonymous, users: s.options.users.length };
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(flat[k], v, k);
    });
  }

  const refused = [
    ["port 0", { port: 0 }, "invalid-port", { field: "port", value: "0" }],
    ["port 70000", { port: "70000" }, "invalid-port", { field: "port", value: "70000" }],
    ["a non-numeric port", { port: "mqtt" }, "invalid-port", { field: "port", value: "mqtt" }],
    ["a fractional websocket port", { wsPort: "80.5" }, "invalid-port", { field: "wsPort", value: "80.5" }],
    ["a relative websocket path", { wsPath: "mqtt" }, "invalid-path", { value: "mqtt" }],
    ["an unknown persistence", { persistence: "redis" }, "invalid-persistence", { value: "redis" }],
  ];
  for (const [name, props, key, params] of refused) {
    it(`refuses ${name} with "${key}"`, function () {
      assert.throws(() => parseBrokerNode(props), (err) => {
        assert.ok(err instanceof BrokerConfigError);
        assert.equal(err.key, key);
        assert.deepEqual(err.params, params);
        return true;
      });
    });
  }

  describe("users credential", function () {
    const table = [
      [undefined, []],
      ["", []],
      ["[]", []],
      [
        '[{"username":" bob ","password":"pw","publish":"a/#,b","subscribe":[]}]',
        [{ username: "bob", password: "pw", publish: ["a/#", "b"], subscribe: [] }],
      ],
      ['[{"username":"c","password":"pw"}]', [{ username: "c", password: "pw", publish: ["#"], subscribe: ["#"] }]],
    ];
    for (const [raw, expected] of table) {
      it(`parses ${JSON.stringify(raw)}`, function () {
        assert.deepEqual(parseUsers(raw), expected);
      });
    }
    const bad = [
      ["{oops", /not valid JSON/],
      ['{"username":"a"}', /expected a list of users/],
      ["[1]", /user 1 is not an object/],
    ];
    for (const [raw, message] of bad) {
      it(`refuses ${raw}`, function () {
        assert.throws(() => parseUsers(raw), (err) => err.key === "invalid-users" && message.test(err.params.error));
      });
    }
  });
});
