"use strict";
const assert = require("node:assert/strict");
const path = require("node:path");
const { parseBrokerNode, parseStorage, parseUsers, BrokerConfigError, DEFAULT_RETENTION_DAYS } = require("../../../dist/nodes/lib/broker/node-config.js");
const { storageKey } = require("../../../dist/nodes/lib/broker/broker-storage.js");

describe("iot-broker node configuration", function () {
  const accepted = [
    ["defaults", {}, {}, { host: "0.0.0.0", port: 1883, wsPort: undefined, wsPath: undefined, allowAnonymous: false, users: 0 }],
    ["string port and bind", { port: "1884", bind: " 127.0.0.1 " }, {}, { host: "127.0.0.1", port: 1884 }],
    ["anonymous as boolean", { allowAnonymous: true }, {}, { allowAnonymous: true }],
    ["anonymous as string", { allowAnonymous: "true" }, {}, { allowAnonymous: true }],
    ["websocket port and path", { wsPort: "9001", wsPath: "/mqtt" }, {}, { wsPort: 9001, wsPath: "/mqtt" }],
    ["blank websocket settings mean none", { wsPort: " ", wsPath: "" }, {}, { wsPort: undefined, wsPath: undefined }],
    ["Blynk binary ports", { blynkPort: "8080", blynkTlsPort: 9443 }, {}, { blynkPort: 8080, blynkTlsPort: 9443 }],
    ["blank Blynk ports mean none", { blynkPort: "", blynkTlsPort: " " }, {}, { blynkPort: undefined, blynkTlsPort: undefined }],
    ["one user", {}, { users: '[{"username":"a","password":"p","publish":["x/#"],"subscribe":"y/#, z"}]' }, { users: 1 }],
  ];
  for (const [name, props, creds, expected] of accepted) {
    it(`accepts ${name}`, function () {
      const s = parseBrokerNode(props, creds);
      const flat = { host: s.host, port: s.port, wsPort: s.wsPort, wsPath: s.wsPath, blynkPort: s.blynkPort, blynkTlsPort: s.blynkTlsPort, allowAnonymous: s.options.allowAnonymous, users: s.options.users.length };
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(flat[k], v, k);
    });
  }

  const refused = [
    ["port 0", { port: 0 }, "invalid-port", { field: "port", value: "0" }],
    ["port 70000", { port: "70000" }, "invalid-port", { field: "port", value: "70000" }],
    ["a non-numeric port", { port: "mqtt" }, "invalid-port", { field: "port", value: "mqtt" }],
    ["a fractional websocket port", { wsPort: "80.5" }, "invalid-port", { field: "wsPort", value: "80.5" }],
    ["a Blynk port out of range", { blynkPort: "65536" }, "invalid-port", { field: "blynkPort", value: "65536" }],
    ["a Blynk TLS port that is no number", { blynkTlsPort: "https" }, "invalid-port", { field: "blynkTlsPort", value: "https" }],
    ["the Blynk port on the MQTT port", { port: 8080, blynkPort: "8080" }, "port-clash", { field: "blynkPort", port: "8080", other: "port" }],
    ["the Blynk TLS port on the WS port", { wsPort: 9443, blynkTlsPort: "9443" }, "port-clash", { field: "blynkTlsPort", port: "9443", other: "wsPort" }],
    ["both Blynk ports on one port", { blynkPort: 8080, blynkTlsPort: 8080 }, "port-clash", { field: "blynkTlsPort", port: "8080", other: "blynkPort" }],
    ["a relative websocket path", { wsPath: "mqtt" }, "invalid-path", { value: "mqtt" }],
    ["an unknown persistence", { persistence: "mongodb" }, "invalid-persistence", { value: "mongodb", accepted: "memory, sqlite, redis" }],
    ["a Redis URL that is no URL", { persistence: "redis", redisUrl: "localhost:6379" }, "invalid-redis-url", { error: "it must start with redis:// or rediss:// (not localhost://)" }],
    ["an http URL for Redis", { persistence: "redis", redisUrl: "http://h:6379" }, "invalid-redis-url", { error: "it must start with redis:// or rediss:// (not http://)" }],
    ["a Redis URL whose database is no number (its password is never quoted)", { persistence: "redis", redisUrl: "redis://:s3cret@h:6379/x" }, "invalid-redis-url", { error: "its database (after the last /) must be a number" }],
    ["an unparsable Redis URL", { persistence: "redis", redisUrl: "redis://:s3cret@[h" }, "invalid-redis-url", { error: "not a URL (expected redis://host:port/db)" }],
    ["a negative retention on redis", { persistence: "redis", retention: "-1" }, "invalid-whole-number", { field: "retention", value: "-1", min: "0", max: "36500" }],
    ["sqlite without a userDir for its default file", { persistence: "sqlite" }, "no-user-dir", { value: "" }],
    ["sqlite with a relative file and no userDir", { persistence: "sqlite", dbPath: "data/b.sqlite" }, "no-user-dir", { value: "data/b.sqlite" }],
    ["a file name with a NUL", { persistence: "sqlite", dbPath: "/tmp/a\u0000b" }, "invalid-db-path", { value: "/tmp/a\\0b" }],
    ["a negative retention", { persistence: "sqlite", dbPath: "/tmp/b.sqlite", retention: "-1" }, "invalid-whole-number", { field: "retention", value: "-1", min: "0", max: "36500" }],
    ["a fractional retention", { persistence: "sqlite", dbPath: "/tmp/b.sqlite", retention: "1.5" }, "invalid-whole-number", { field: "retention", value: "1.5", min: "0", max: "36500" }],
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

  describe("persistence", function () {
    const userDir = path.resolve("/srv/node-red");
    const context = { userDir, nodeId: "b0d9e1a1c0de0004" };
    const table = [
      ["no persistence property (a flow from before it existed): memory", {}, {}, { kind: "memory" }],
      ["memory", { persistence: "memory", dbPath: "ignored.sqlite", retention: "x" }, {}, { kind: "memory" }],
      ["sqlite: the default file under the userDir, named after the node", { persistence: "sqlite" }, {}, { kind: "sqlite", file: path.join(userDir, "iot-bridge", "b0d9e1a1c0de0004.sqlite"), retentionDays: DEFAULT_RETENTION_DAYS }],
      ["sqlite: a relative file is under the userDir", { persistence: "sqlite", dbPath: " data/home.sqlite ", retention: "0" }, {}, { kind: "sqlite", file: path.join(userDir, "data", "home.sqlite"), retentionDays: 0 }],
      ["sqlite: an absolute file as given", { persistence: "sqlite", dbPath: "/var/lib/iot/broker.db", retention: 365 }, {}, { kind: "sqlite", file: path.resolve("/var/lib/iot/broker.db"), retentionDays: 365 }],
      // Every instance running this flow shares the data under the broker node's id.
      ["redis: a blank URL is the local Redis", { persistence: "redis", redisUrl: " " }, {}, { kind: "redis", url: "redis://127.0.0.1:6379", prefix: "iot-bridge:b0d9e1a1c0de0004:", retentionDays: DEFAULT_RETENTION_DAYS }],
      ["redis: URL, retention and the password credential", { persistence: "redis", redisUrl: " rediss://cache.lan:6380/2 ", retention: "7" }, { redisPassword: "pw" }, { kind: "redis", url: "rediss://cache.lan:6380/2", password: "pw", prefix: "iot-bridge:b0d9e1a1c0de0004:", retentionDays: 7 }],
      ["memory: a Redis URL and password are ignored", { persistence: "memory", redisUrl: "not a url" }, { redisPassword: "pw" }, { kind: "memory" }],
    ];
    for (const [name, props, creds, expected] of table) {
      it(`reads ${name}`, function () {
        assert.deepEqual(parseStorage(props, context, creds), expected);
        assert.deepEqual(parseBrokerNode(props, creds, context).storage, expected);
      });
    }

    it("keys a redis storage by server, prefix and password, holding none of them in clear", function () {
      const base = { kind: "redis", url: "redis://:Url-pw@h:6379", prefix: "iot-bridge:b1:", retentionDays: 30 };
      const key = storageKey({ ...base, password: "Sekr1t-pw" });
      assert.doesNotMatch(key, /Sekr1t-pw|Url-pw/);
      assert.notEqual(key, storageKey({ ...base, url: "redis://:Url-pw@h:6380", password: "Sekr1t-pw" }));
      assert.notEqual(key, storageKey({ ...base, password: "another" }), "a new password opens new connections");
      assert.equal(key, storageKey({ ...base, password: "Sekr1t-pw", retentionDays: 1 }), "the retention is updated in place");
      assert.notEqual(key, storageKey({ ...base, password: "Sekr1t-pw", prefix: "iot-bridge:b2:" }));
    });

    it("names a default file after any node id, keeping only file-name characters", function () {
      const { file } = parseStorage({ persistence: "sqlite" }, { userDir, nodeId: "../a b/c" });
      assert.equal(path.dirname(file), path.join(userDir, "iot-bridge"));
      assert.equal(path.basename(file), ".._a_b_c.sqlite");
    });

    it("gives the engine no persistence option of its own (the storage is handed to it)", function () {
      assert.equal(parseBrokerNode({ persistence: "sqlite" }, {}, context).options.persistence, undefined);
    });
  });

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
