"use strict";
// Canvas statuses stay short (issue 13: texts of 150-200 characters ran across the canvas, and
// ThingsBoard's said "refused: refused: ..."): every status each platform's view makes, from a
// table of realistic link statuses, rendered with its en-US text and arguments, fits in
// STATUS_TEXT_MAX; so does every `status` text of every en-US catalog with realistic arguments;
// and the detail a short status leaves out is warned once per problem, not on every retry.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { STATUS_TEXT_MAX, LinkProblems, linkProblem } = require("../../../dist/nodes/lib/transport/link-users.js");
const blynk = require("../../../dist/nodes/lib/blynk/link-user.js");
const tb = require("../../../dist/nodes/lib/thingsboard/link-user.js");
const ts = require("../../../dist/nodes/lib/thingspeak/link-user.js");

const LOCALES = path.join(__dirname, "../../../locales/en-US");
const catalog = (type) => JSON.parse(fs.readFileSync(path.join(LOCALES, `${type}.json`), "utf8"))[type];
/** Node-RED's interpolation (__name__); a placeholder left over would show as is. */
const render = (text, params = {}) => text.replace(/__([a-zA-Z]+)__/g, (whole, name) => (name in params ? String(params[name]) : whole));

const LONG_REASON = "could not connect: connection refused by mqtt.example-broker.internal:8883 (is the server running on that port?)";
const TB_REFUSAL = "the server refused the credentials: not authorized (code 0x05)";
/** Realistic link statuses: every state, nothing or hundreds queued, long reasons, big fleets, ThingSpeak's pending writes. */
function statuses() {
  const table = [];
  for (const queued of [0, 1, 250]) {
    table.push({ state: "connecting", queued });
    table.push({ state: "connected", queued });
    table.push({ state: "connected", queued, deviceOnline: true });
    table.push({ state: "connected", queued, deviceOnline: false });
    table.push({ state: "connected", queued, fleet: { online: 3, total: 50 } });
    table.push({ state: "connected", queued, fleet: { online: 0, total: 500 } });
    table.push({ state: "connected", queued, fleet: { online: 500, total: 500 } });
    table.push({ state: "disconnected", queued, reason: LONG_REASON });
    table.push({ state: "disconnected", queued, reason: "the token is already used by the device Kitchen thermostat", hosted: false });
    table.push({ state: "auth-failed", queued, reason: TB_REFUSAL, refusal: 5 });
    table.push({ state: "auth-failed", queued, reason: "unauthorized: ThingsBoard does not know this access token (HTTP 401)", refusal: 401 });
    table.push({ state: "closed", queued });
  }
  table.push({ state: "connected", queued: 0, pending: { fields: 8, writes: 120, nextInMs: 86_400_000 } });
  table.push({ state: "connected", queued: 0, pending: { fields: 1, writes: 1, nextInMs: 900 } });
  return table;
}

const PLATFORMS = [
  { type: "blynk-device", view: blynk.statusView, modes: ["mqtt", "https", "binary", "local"] },
  { type: "thingsboard-device", view: tb.statusView, modes: ["mqtt", "http", "local"] },
  { type: "thingspeak-channel", view: ts.statusView, modes: ["mqtt", "rest", "local"] },
];

describe("status texts", function () {
  for (const { type, view, modes } of PLATFORMS) {
    it(`${type}: every status its view makes fits in ${STATUS_TEXT_MAX} characters, with no reason repeated`, function () {
      const texts = catalog(type).status;
      let checked = 0;
      for (const mode of modes) {
        for (const status of statuses()) {
          const shown = view(status, mode);
          if (shown === undefined) continue;
          const text = texts[shown.key];
          assert.equal(typeof text, "string", `${type}.status.${shown.key} exists (for ${JSON.stringify(status)} in ${mode})`);
          const words = render(text, shown.params);
          assert.ok(!/__\w+__/.test(words), `every placeholder of ${shown.key} is given: ${words}`);
          assert.ok(words.length <= STATUS_TEXT_MAX, `${type} ${mode} ${JSON.stringify(status)} -> "${words}" (${words.length} characters)`);
          assert.ok(!/refused: refused/.test(words) && !words.includes(status.reason ?? "\u0000"), `no reason in the status: "${words}"`);
          checked++;
        }
      }
      assert.ok(checked > 50);
    });
  }

  it("ThingsBoard's refusal is a short status; its words (the code) go to the warning", function () {
    const status = { state: "auth-failed", queued: 0, reason: TB_REFUSAL, refusal: 5 };
    assert.deepEqual(tb.statusView(status, "mqtt"), { fill: "red", shape: "ring", key: "refused" });
    assert.match(tb.refusalDetail(status, "mqtt"), /^refused: not authorized — ThingsBoard does not know this access token.*\(code 0x05\)$/);
    assert.match(tb.refusalDetail({ ...status, refusal: 401 }, "http"), /\(HTTP 401\)$/);
  });

  it("every status text of every en-US catalog fits with realistic arguments", function () {
    const args = { count: 250, online: 500, total: 500, seconds: 900, reason: "x", points: 250 };
    let checked = 0;
    for (const file of fs.readdirSync(LOCALES).filter((f) => f.endsWith(".json"))) {
      const type = file.replace(/\.json$/, "");
      // The sidebar plugin's catalog is not a node type's and has no statuses.
      const texts = catalog(type)?.status ?? {};
      for (const [key, text] of Object.entries(texts)) {
        const words = render(text, args);
        assert.ok(words.length <= STATUS_TEXT_MAX, `${type}.status.${key}: "${words}" (${words.length} characters)`);
        assert.ok(!text.includes("__reason__"), `${type}.status.${key} takes no reason: the detail is a warning`);
        checked++;
      }
    }
    assert.ok(checked > 60);
  });

  it("the flow nodes' short statuses for missing credentials exist in every config catalog", function () {
    for (const { type } of PLATFORMS) {
      for (const key of ["no-token", "no-credentials", "no-broker", "config-error"]) assert.equal(typeof catalog(type).status[key], "string", `${type}.status.${key}`);
    }
  });

  it("the detail is warned once per problem, again only after 10 minutes (a connect in between is no reset), bounded", function () {
    let now = 0;
    const problems = new LinkProblems(() => now);
    const refused = linkProblem({ state: "auth-failed", queued: 0, reason: "bad user name or password" }, false);
    assert.deepEqual(refused, { key: "auth-failed", reason: "bad user name or password" });
    assert.equal(problems.note(refused, false), true);
    assert.equal(problems.note(refused, false), false, "a retry meeting the same refusal is quiet");
    const down = linkProblem({ state: "disconnected", queued: 0, reason: LONG_REASON }, false);
    assert.equal(problems.note(down, false), true, "another problem is news");
    assert.equal(problems.note(refused, false), false, "and the first stays said while they alternate");
    now += 60_000;
    assert.equal(problems.note(undefined, true), false, "connected");
    assert.equal(problems.note(undefined, true), false, "connected again");
    assert.equal(problems.note(down, false), false, "the first drop of a connection that was up is not news by itself");
    assert.equal(problems.note(down, false), false, "and a problem said a minute ago is not news again");
    now += LinkProblems.REPEAT_MS;
    assert.equal(problems.note(refused, false), true, "ten minutes on, it is said again");
    for (let i = 0; i < 100; i++) problems.note({ key: "disconnected", reason: `attempt ${i}` }, false);
    assert.equal(problems.note({ key: "disconnected", reason: "one more" }, false), false, "bounded");
    now += LinkProblems.REPEAT_MS;
    assert.equal(problems.note({ key: "disconnected", reason: "one more" }, false), true, "old ones make room");
    assert.equal(linkProblem({ state: "disconnected", queued: 0, reason: "not started" }, false), undefined);
    assert.equal(linkProblem({ state: "disconnected", queued: 0, reason: "broker stopped" }, true), undefined, "a stopped broker says so on its own node");
    assert.deepEqual(linkProblem({ state: "disconnected", queued: 0, reason: "token taken", hosted: false }, true), { key: "not-hosted", reason: "token taken" });
  });

  it("an HTTP mode alternating connected (writes work) and refused (the read key) warns once, not on every poll", function () {
    let now = 0;
    const problems = new LinkProblems(() => now);
    const refused = linkProblem({ state: "auth-failed", queued: 0, reason: "the read key was refused (HTTP 401)", refusal: 401 }, false);
    let warned = 0;
    for (let poll = 0; poll < 50; poll++) {
      now += 5_000;
      if (problems.note(undefined, true)) warned++;
      if (problems.note(refused, false)) warned++;
    }
    assert.equal(warned, 1);
  });
});
