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
    ["persistence memory", { persistence: "memory" }, {}, { persistence: { kind: "memory" } }],
    ["persistence redis, blank URL (local Redis)", { persistence: "redis", redisUrl: " " }, {}, { persistence: { kind: "redis", url: "redis://127.0.0.1:6379" } }],
    ["persistence redis with URL and password credential", { persistence: "redis", redisUrl: " rediss://cache.lan:6380/2 " }, { redisPassword: "pw" }, { persistence: { kind: "redis", url: "rediss://cache.lan:6380/2", password: "pw" } }],
    ["a Redis URL ignored with persistence memory", { persistence: "memory", redisUrl: "not a url" }, { redisPassword: "pw" }, { persistence: { kind: "memory" } }],
  ];
  for (const [name, props, creds, expected] of accepted) {
    it(`accepts ${name}`, function () {
      const s = parseBrokerNode(props, creds);
      const flat = { host: s.host, port: s.port, wsPort: s.wsPort, wsPath: s.wsPath, allowAnonymous: s.options.allowAnonymous, users: s.options.users.length, persistence: s.options.persistence };
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(flat[k], v, k);
    });
  }

  const refused = [
    ["port 0", { port: 0 }, "invalid-port", { field: "port", value: "0" }],
    ["port 70000", { port: "70000" }, "invalid-port", { field: "port", value: "70000" }],
    ["a non-numeric port", { port: "mqtt" }, "invalid-port", { field: "port", value: "mqtt" }],
    ["a fractional websocket port", { wsPort: "80.5" }, "invalid-port", { field: "wsPort", value: "80.5" }],
    ["a relative websocket path", { wsPath: "mqtt" }, "invalid-path", { value: "mqtt" }],
    ["an unknown persistence", { persistence: "mongodb" }, "invalid-persistence", { value: "mongodb" }],
    ["a Redis URL that is no URL", { persistence: "redis", redisUrl: "localhost:6379" }, "invalid-redis-url", { error: "it must start with redis:// or rediss:// (not localhost://)" }],
    ["an http URL for Redis", { persistence: "redis", redisUrl: "http://h:6379" }, "invalid-redis-url", { error: "it must start with redis:// or rediss:// (not http://)" }],
    ["a Redis URL whose database is no number (its password is never quoted)", { persistence: "redis", redisUrl: "redis://:s3cret@h:6379/x" }, "invalid-redis-url", { error: "its database (after the last /) must be a number" }],
    ["unparsable Redis URL", { persistence: "redis", redisUrl: "redis://:s3cret@[h" }, "invalid-redis-url", { error: "not a URL (expected redis://host:port/db)" }],
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
