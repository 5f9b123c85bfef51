"use strict";
// The config dialogs' pure checks (resources/editor-checks.js), loaded as the browser does but
// through module.exports. Every problem is a key of the node's catalog: `t` answers the key and
// its arguments, so the tables name the message a user would read.
const assert = require("node:assert/strict");
const C = require("../../../resources/editor-checks.js");

const t = (key, args) => (args === undefined ? key : `${key} ${JSON.stringify(args)}`);
const keyOf = (text) => (text === null ? null : text.split(" ")[0]);

const BLYNK_RULES = { schemes: { mqtt: C.MQTT_SCHEMES, https: C.HTTP_SCHEMES, binary: ["tcp:", "tls:"] }, noQuery: ["https"] };
const TB_RULES = { schemes: { mqtt: C.MQTT_SCHEMES, http: C.HTTP_SCHEMES }, originOnly: ["http"] };
const TB_PRESETS = {
  mqtt: [{ url: "mqtts://thingsboard.cloud:8883", key: "cloud" }, { url: "mqtts://eu.thingsboard.cloud:8883", key: "eu" }],
  http: [{ url: "https://thingsboard.cloud", key: "cloud" }, { url: "https://eu.thingsboard.cloud", key: "eu" }],
};

describe("editor checks (resources/editor-checks.js)", function () {
  describe("serverProblem", function () {
    const table = [
      // [rules, mode, server, expected key]
      [BLYNK_RULES, "mqtt", "", null],
      [BLYNK_RULES, "mqtt", "   ", null],
      [BLYNK_RULES, "mqtt", "mqtts://blynk.cloud:8883", null],
      [BLYNK_RULES, "mqtt", "wss://blynk.cloud:443/mqtt", null],
      [BLYNK_RULES, "mqtt", "https://blynk.cloud", "validation.server-scheme-mqtt"],
      [BLYNK_RULES, "mqtt", "blynk.cloud", "validation.server-scheme-mqtt"],
      [BLYNK_RULES, "mqtt", "mqtt://", "validation.server-invalid"],
      [BLYNK_RULES, "mqtt", "mqtt://user:secret@blynk.cloud", "validation.server-credentials"],
      [BLYNK_RULES, "https", "https://blynk.cloud?x=1", "validation.server-query"],
      [BLYNK_RULES, "https", "https://blynk.cloud#top", "validation.server-query"],
      [BLYNK_RULES, "mqtt", "mqtt://blynk.cloud/?x=1", null],
      [BLYNK_RULES, "binary", "tcp://192.168.1.10:8080", null],
      [BLYNK_RULES, "binary", "mqtt://192.168.1.10:8080", "validation.server-scheme-binary"],
      [BLYNK_RULES, "local", "anything at all", null],
      [TB_RULES, "http", "https://thingsboard.cloud/", null],
      [TB_RULES, "http", "https://thingsboard.cloud/api/v1", "validation.server-path"],
      [TB_RULES, "http", "https://thingsboard.cloud?a", "validation.server-path"],
      [TB_RULES, "mqtt", "mqtt://demo.thingsboard.io:1883", null],
    ];
    for (const [rules, mode, server, expected] of table) {
      it(`${mode} ${JSON.stringify(server)} -> ${expected}`, function () {
        assert.equal(keyOf(C.serverProblem(t, rules, mode, server)), expected);
      });
    }
    it("quotes the trimmed value", function () {
      assert.equal(C.serverProblem(t, BLYNK_RULES, "mqtt", " ftp://x "), 'validation.server-scheme-mqtt {"value":"ftp://x"}');
    });
  });

  describe("presets", function () {
    it("finds a preset by its URL, spaces around ignored; -1 for others and unknown modes", function () {
      assert.equal(C.presetIndex(TB_PRESETS, "mqtt", " mqtts://eu.thingsboard.cloud:8883 "), 1);
      assert.equal(C.presetIndex(TB_PRESETS, "mqtt", "mqtt://127.0.0.1:1883"), -1);
      assert.equal(C.presetIndex(TB_PRESETS, "local", "mqtts://thingsboard.cloud:8883"), -1);
    });
    const table = [
      // [remembered, to mode, server, expected]
      [{}, "http", "mqtts://eu.thingsboard.cloud:8883", "https://eu.thingsboard.cloud"],
      [{}, "http", "mqtts://thingsboard.cloud:8883", "https://thingsboard.cloud"],
      [{ http: "http://10.0.0.2:8080" }, "http", "mqtts://eu.thingsboard.cloud:8883", "http://10.0.0.2:8080"],
      [{}, "mqtt", "http://10.0.0.2:8080", "mqtts://thingsboard.cloud:8883"],
      [{}, "mqtt", "mqtt://10.0.0.2:1883", "mqtt://10.0.0.2:1883"],
      [{}, "mqtt", "", "mqtts://thingsboard.cloud:8883"],
      [{}, "local", "mqtt://10.0.0.2:1883", "mqtt://10.0.0.2:1883"],
    ];
    for (const [remembered, mode, server, expected] of table) {
      it(`switching to ${mode} with ${JSON.stringify(server)} gives ${expected}`, function () {
        assert.equal(C.serverForMode(TB_RULES, TB_PRESETS, remembered, mode, server), expected);
      });
    }
    it("a cloud host the new mode has no preset for falls back to its first preset", function () {
      const presets = { mqtt: [{ url: "mqtts://mqtt3.thingspeak.com:8883" }], rest: [{ url: "https://api.thingspeak.com" }] };
      const rules = { schemes: { mqtt: C.MQTT_SCHEMES, rest: C.HTTP_SCHEMES } };
      assert.equal(C.serverForMode(rules, presets, {}, "rest", "mqtts://mqtt3.thingspeak.com:8883"), "https://api.thingspeak.com");
    });
  });

  describe("numbers", function () {
    const ports = [["1", true], ["65535", true], ["1883", true], [" 1883 ", true], ["0", false], ["65536", false], ["", false], ["18.5", false], ["-1", false], ["1e3", false], ["abc", false], [1883, true]];
    for (const [value, ok] of ports) {
      it(`isPort(${JSON.stringify(value)}) is ${ok}`, function () {
        assert.equal(C.isPort(value), ok);
      });
    }
    it("isWholeNumber takes blank and whole numbers in range only", function () {
      assert.deepEqual(["", "0", "5", "6", "2.5", "x", "-1"].map((v) => C.isWholeNumber(v, 0, 5)), [true, true, true, false, false, false, false]);
    });
    const intervals = [["15", null], ["1", null], ["0.5", "validation.update-interval"], ["86400", null], ["86401", "validation.update-interval"], ["", "validation.update-interval"], ["2.5", null], ["1e2", "validation.update-interval"]];
    for (const [value, expected] of intervals) {
      it(`update interval ${JSON.stringify(value)} -> ${expected}`, function () {
        assert.equal(keyOf(C.intervalProblem(t, value, 86400)), expected);
      });
    }
    const ids = [["100001", null], [" 7 ", null], ["", "validation.channel-id-missing"], ["0", "validation.channel-id"], ["012", "validation.channel-id"], ["12a", "validation.channel-id"], ["99999999999999999", "validation.channel-id"]];
    for (const [value, expected] of ids) {
      it(`channel id ${JSON.stringify(value)} -> ${expected}`, function () {
        assert.equal(keyOf(C.channelIdProblem(t, value)), expected);
      });
    }
  });

  describe("pin and field maps", function () {
    const pins = [
      ["", []],
      ["V1=Temperature, V2=Humidity", []],
      ["v0=a; V255=b\nV3=c", []],
      ["V1", ["validation.pins-entry"]],
      ["V1=", ["validation.pins-entry"]],
      ["V256=x", ["validation.pins-pin"]],
      ["D1=x", ["validation.pins-pin"]],
      ["V01=x", ["validation.pins-pin"]],
      ["V1=a, V1=b", ["validation.pins-duplicate-pin"]],
      ["V1=a, V2=a", ["validation.pins-duplicate-name"]],
      ["V1=a/b", ["validation.pins-name"]],
      ["V1=a#", ["validation.pins-name"]],
      ["V300=a+, x", ["validation.pins-pin", "validation.pins-name", "validation.pins-entry"]],
    ];
    for (const [value, expected] of pins) {
      it(`pins ${JSON.stringify(value)} -> ${JSON.stringify(expected)}`, function () {
        assert.deepEqual(C.pinsProblems(t, value).map(keyOf), expected);
      });
    }
    const fields = [
      ["1=Temperature, 8=Last", []],
      ["9=x", ["validation.field-names-field"]],
      ["0=x", ["validation.field-names-field"]],
      ["1=a, 1=b", ["validation.field-names-duplicate"]],
      ["1", ["validation.field-names-entry"]],
      [`1=${"x".repeat(256)}`, ["validation.field-names-name"]],
      ["2=tab\there", ["validation.field-names-name"]],
    ];
    for (const [value, expected] of fields) {
      it(`field names ${JSON.stringify(value).slice(0, 40)} -> ${JSON.stringify(expected)}`, function () {
        assert.deepEqual(C.fieldNamesProblems(t, value).map(keyOf), expected);
      });
    }
  });

  describe("randomText", function () {
    it("draws only from the alphabet, at the length asked", function () {
      for (const [alphabet, length] of [[C.BASE64URL, 32], [C.LETTERS_DIGITS, 20], [C.UPPER_DIGITS, 16]]) {
        const text = C.randomText(alphabet, length);
        assert.equal(text.length, length);
        assert.ok([...text].every((c) => alphabet.includes(c)), text);
      }
    });
    it("draws again for bytes that would bias the alphabet (rejection sampling)", function () {
      // 62 letters and digits: bytes 248..255 are refused; 0 -> "A", 61 -> "9".
      const bytes = [255, 248, 0, 61, 250, 1];
      let next = 0;
      const fill = (array) => array.forEach((_v, i) => (array[i] = bytes[next++ % bytes.length]));
      assert.equal(C.randomText(C.LETTERS_DIGITS, 3, fill), "A9B");
    });
  });

  describe("token hints", function () {
    const blynk = [["", ""], ["__PWRD__", ""], ["a".repeat(32), ""], ["a".repeat(31), "tip.token-length"], ["a b", "tip.token-spaces"]];
    for (const [value, expected] of blynk) {
      it(`Blynk ${JSON.stringify(value)} -> ${JSON.stringify(expected)}`, function () {
        assert.equal(keyOf(C.blynkTokenHint(t, value)) ?? "", expected);
      });
    }
    const tb = [["A1b2C3", "mqtt", ""], [" A1b2 ", "mqtt", "tip.token-spaces"], ["A1 b2", "mqtt", "tip.token-inner-spaces"], ["a/b", "mqtt", ""], ["a/b", "http", "tip.token-url"], ["a%b", "local", "tip.token-url"]];
    for (const [value, mode, expected] of tb) {
      it(`ThingsBoard ${JSON.stringify(value)} in ${mode} -> ${JSON.stringify(expected)}`, function () {
        assert.equal(keyOf(C.thingsboardTokenHint(t, value, mode)) ?? "", expected);
      });
    }
  });

  describe("credentialsProblem (what makes a device invalid before a deploy)", function () {
    /** cred() from a table: a string is a typed value, true a stored hidden one, false none, null unknown. */
    const creds = (given) => (field) => {
      const v = given[field];
      if (typeof v === "string") return { set: v.trim() !== "", value: v };
      if (v === true) return { set: true, value: null };
      return { set: v === undefined ? false : v, value: null };
    };
    const problem = (type, props, given) => {
      const found = C.credentialsProblem(t, type, props, creds(given));
      return found === null ? null : [found.field, keyOf(found.text)];
    };
    const table = [
      ["blynk-device", { connection: "mqtt" }, {}, ["token", "validation.token-missing"]],
      ["blynk-device", { connection: "local" }, {}, ["token", "validation.token-missing-local"]],
      ["blynk-device", { connection: "local", hosting: "fleet" }, {}, null],
      ["blynk-device", { connection: "https" }, { token: true }, null],
      ["blynk-device", { connection: "https" }, { token: null }, null],
      ["blynk-device", { connection: "mqtt" }, { token: "   " }, ["token", "validation.token-missing"]],
      ["blynk-device", { connection: "mqtt" }, { token: "abc/def" }, ["token", "validation.token-invalid"]],
      ["blynk-device", { connection: "mqtt" }, { token: "abc&def" }, ["token", "validation.token-invalid"]],
      // Spaces are dropped on save: not a problem of the token.
      ["blynk-device", { connection: "mqtt" }, { token: " abc def " }, null],
      ["thingsboard-device", { connection: "mqtt", auth: "token" }, {}, ["token", "validation.token-missing"]],
      ["thingsboard-device", { connection: "local", auth: "token" }, {}, ["token", "validation.token-missing-local"]],
      ["thingsboard-device", { connection: "mqtt", auth: "token" }, { token: "A1 b2" }, ["token", "validation.token-invalid"]],
      ["thingsboard-device", { connection: "mqtt", auth: "token" }, { token: " A1b2 " }, null],
      ["thingsboard-device", { connection: "mqtt", auth: "basic" }, { clientId: "dev1" }, null],
      ["thingsboard-device", { connection: "mqtt", auth: "basic" }, { username: "u", password: true }, null],
      ["thingsboard-device", { connection: "mqtt", auth: "basic" }, { username: "u" }, ["clientId", "tip.basic-incomplete"]],
      ["thingsboard-device", { connection: "mqtt", auth: "basic" }, { password: true }, ["username", "tip.basic-password-alone"]],
      // Basic credentials mean nothing over http: the token is what counts there.
      ["thingsboard-device", { connection: "http", auth: "basic" }, { clientId: "dev1" }, ["token", "validation.token-missing"]],
      ["thingsboard-device", { connection: "mqtt", auth: "token", provision: true, name: "Pump" }, { provisionSecret: true }, ["provisionKey", "validation.provision-key-missing"]],
      ["thingsboard-device", { connection: "mqtt", auth: "token", provision: true, name: "Pump", provisionKey: "k" }, {}, ["provisionSecret", "validation.provision-secret-missing"]],
      ["thingsboard-device", { connection: "mqtt", auth: "token", provision: true, name: "", provisionKey: "k" }, { provisionSecret: true }, ["token", "validation.provision-name-missing"]],
      ["thingsboard-device", { connection: "mqtt", auth: "token", provision: "true", name: "Pump", provisionKey: "k" }, { provisionSecret: true }, null],
      ["thingsboard-device", { connection: "local", hosting: "fleet" }, {}, null],
      ["thingsboard-device", { connection: "local", hosting: "fleet", provision: true, provisionKey: "k" }, {}, ["provisionSecret", "validation.provision-secret-missing"]],
      ["thingspeak-channel", { connection: "mqtt" }, { clientId: "c", username: "u" }, ["password", "validation.mqtt-credentials-missing"]],
      ["thingspeak-channel", { connection: "local" }, {}, ["clientId", "validation.mqtt-credentials-missing"]],
      ["thingspeak-channel", { connection: "rest" }, {}, null],
      ["thingspeak-channel", { connection: "mqtt" }, { clientId: "c", username: "u", password: true }, null],
      ["thingspeak-channel", { connection: "rest" }, { writeKey: "AB\u0001CD" }, ["writeKey", "validation.credential-spaces"]],
      ["thingspeak-channel", { connection: "mqtt" }, { clientId: null, username: null, password: null }, null],
      ["iot-broker", { connection: "mqtt" }, {}, null],
    ];
    for (const [type, props, given, expected] of table) {
      it(`${type} ${JSON.stringify(props)} ${JSON.stringify(given)} -> ${JSON.stringify(expected)}`, function () {
        assert.deepEqual(problem(type, props, given), expected);
      });
    }
    it("names the missing ThingSpeak credentials by their labels", function () {
      const found = C.credentialsProblem(t, "thingspeak-channel", { connection: "mqtt" }, creds({ username: "u" }));
      assert.equal(found.text, 'validation.mqtt-credentials-missing {"missing":"label.client-id, label.password"}');
    });
  });

  describe("topic filters (iot-broker users)", function () {
    it("splits a comma list, dropping empty parts", function () {
      assert.deepEqual(C.splitFilters(" a/#, ,b/+/c,"), ["a/#", "b/+/c"]);
      assert.deepEqual(C.splitFilters(undefined), []);
    });
    const table = [["#", null], ["a/+/b", null], ["a/#", null], ["+", null], ["a/#/b", "filter-hash"], ["a#", "filter-hash"], ["a+/b", "filter-plus"], ["a/\u0000", "filter-nul"], ["$iot/x", "filter-internal"], ["$iotx", null]];
    for (const [filter, expected] of table) {
      it(`${JSON.stringify(filter)} -> ${expected}`, function () {
        assert.equal(C.filterProblem(filter, "$iot/"), expected);
      });
    }
  });

  describe("brokerProblem", function () {
    const nodes = { b1: { id: "b1", type: "iot-broker" }, d1: { id: "d1", type: "debug" } };
    const lookup = (id) => nodes[id] || null;
    const table = [["mqtt", "", null], ["local", "", "validation.broker-missing"], ["local", "b1", null], ["local", "gone", "validation.broker-not-found"], ["local", "d1", "validation.broker-not-found"]];
    for (const [mode, id, expected] of table) {
      it(`${mode} broker ${JSON.stringify(id)} -> ${expected}`, function () {
        assert.equal(keyOf(C.brokerProblem(t, mode, id, lookup)), expected);
      });
    }
  });

  it("every message key the checks use is in each device's en-US catalog", function () {
    const used = {
      "blynk-device": ["validation.token-missing", "validation.token-missing-local", "validation.token-invalid", "validation.broker-missing", "validation.broker-not-found", "validation.server-scheme-mqtt", "validation.server-scheme-https", "validation.server-scheme-binary", "validation.server-invalid", "validation.server-credentials", "validation.server-query", "tip.token-spaces", "tip.token-length", "validation.pins-entry", "validation.pins-pin", "validation.pins-name", "validation.pins-duplicate-pin", "validation.pins-duplicate-name", "validation.connection", "tabs.connection", "tabs.device"],
      "thingsboard-device": ["validation.token-missing", "validation.token-missing-local", "validation.token-invalid", "validation.provision-key-missing", "validation.provision-secret-missing", "validation.provision-name-missing", "tip.basic-incomplete", "tip.basic-password-alone", "validation.server-path", "validation.server-scheme-http", "tip.token-inner-spaces", "tip.token-url", "tabs.connection", "tabs.device", "tip.device-http"],
      "thingspeak-channel": ["validation.mqtt-credentials-missing", "validation.credential-spaces", "label.client-id", "label.username", "label.password", "label.write-key", "label.read-key", "validation.channel-id", "validation.channel-id-missing", "validation.update-interval", "validation.field-names-entry", "validation.field-names-field", "validation.field-names-duplicate", "validation.field-names-name", "validation.server-query", "tabs.connection", "tabs.channel"],
    };
    for (const [type, keys] of Object.entries(used)) {
      const catalog = require(`../../../locales/en-US/${type}.json`)[type];
      const missing = keys.filter((key) => typeof key.split(".").reduce((o, k) => (o ? o[k] : undefined), catalog) !== "string");
      assert.deepEqual(missing, [], `${type} lacks`);
    }
  });
});
