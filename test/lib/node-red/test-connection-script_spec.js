"use strict";
// The pure part of resources/test-connection.js (the dialog's "Test connection" button): which
// dialog fields become settings and which credentials, a password left unchanged sent as the
// stored marker, and the words shown for an answer or a failed request.
const assert = require("node:assert/strict");
const { collectSettings, resultView } = require("../../../resources/test-connection.js");

describe("resources/test-connection.js", function () {
  it("splits the dialog's fields into settings and credentials; a credential without a field is the stored one", function () {
    const entries = [
      { id: "node-config-input-name", value: "Boiler" },
      { id: "node-config-input-connection", value: "mqtt" },
      { id: "node-config-input-server", value: "mqtt://127.0.0.1:1883" },
      { id: "node-config-input-syncOnConnect", value: true },
      { id: "node-config-input-tls", value: "_ADD_" },
      { id: "node-config-input-token", value: "__PWRD__" },
      { id: "node-config-input-server-preset", value: "ignored: not a field" },
      { id: "blynk-device-server-preset", value: "ignored" },
    ];
    assert.deepEqual(collectSettings("n1", entries, ["token", "password"]), {
      id: "n1",
      config: { name: "Boiler", connection: "mqtt", server: "mqtt://127.0.0.1:1883", syncOnConnect: true, tls: "" },
      credentials: { token: "__PWRD__", password: "__PWRD__" },
    });
  });

  it("words: the answer's message, green or red; a failed request in the catalog's words", function () {
    const t = (key, args) => `${key} ${JSON.stringify(args)}`;
    assert.deepEqual(resultView({ ok: true, code: "connected", message: "Connected" }, t), { text: "Connected", state: "ok" });
    assert.deepEqual(resultView({ ok: false, code: "refused", message: "Refused" }, t), { text: "Refused", state: "failed" });
    assert.deepEqual(resultView({ error: "unauthorized" }, t), { text: 'error {"error":"unauthorized"}', state: "failed" });
    assert.deepEqual(resultView({ status: "0 error" }, t), { text: 'error {"error":"0 error"}', state: "failed" });
  });
});
