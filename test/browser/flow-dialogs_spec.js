"use strict";
/* global RED, window, document, $ */
// The flow nodes' dialogs in Node-RED's real editor (Debian's chromium, playwright-core): every node
// of the package is in the palette under "IoT Bridge"; a flow saved before the typedInputs (no
// <name>Type) opens and saves with its values unchanged; every flow node's dialog opens with no
// console error, shows a bad value as invalid, switches its typedInput to msg, saves and deploys;
// the canvas label and icon say the direction of the nodes that send or emit depending on the
// mode. Screenshots of each step go to a temp folder (printed; SCREENSHOT_DIR overrides it).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "f1d1f1d1f1d10001";
const BROKER = "f1d1f1d1f1d10002";
const BLYNK = "f1d1f1d1f1d10011";
const TB = "f1d1f1d1f1d10021";
const TS = "f1d1f1d1f1d10031";
const id = (n) => `f1d1f1d1f1d1${String(n).padStart(4, "0")}`;

/**
 * Every flow node type, as a flow saved before the typedInputs has it (no <name>Type), and its
 * dialog's check: the typedInput `field`, a `bad` value the dialog must show invalid, and the msg
 * property it is switched to (`kinds` without msg: switched to env instead).
 */
const NODES = [
  { id: id(101), type: "blynk-write", device: BLYNK, settings: { datastream: "Temperature", fleetDevice: "" }, field: "datastream", bad: "a/b", to: "msg", value: "target" },
  { id: id(102), type: "blynk-device-in", device: BLYNK, settings: { datastream: "Humidity", raw: false, sync: true, system: false, interval: "" }, field: "datastream", bad: "a+b", to: "env", value: "IOTB_DATASTREAM", outputs: 1 },
  // A local device: its events are filtered by a code fixed at deploy (str or env), never read per message.
  { id: id(103), type: "blynk-event", device: BLYNK, settings: { event: "temp_alert" }, field: "event", bad: "has space", to: "env", value: "IOTB_EVENT", outputs: 1 },
  { id: id(104), type: "blynk-fleet", device: BLYNK, settings: {}, outputs: 2 },
  { id: id(201), type: "thingsboard-telemetry", device: TB, settings: { subDevice: "" }, field: "subDevice", bad: "   ", to: "msg", value: "room", outputs: 1 },
  { id: id(202), type: "thingsboard-attributes", device: TB, settings: { subDevice: "", fleetDevice: "", timeout: 10000 }, field: "timeout", bad: "soon", to: "msg", value: "wait", outputs: 1 },
  { id: id(203), type: "thingsboard-rpc", device: TB, settings: { subDevice: "", fleetDevice: "", mode: "call", timeout: 5000 }, field: "timeout", bad: "0", to: "msg", value: "wait", outputs: 1 },
  { id: id(204), type: "thingsboard-fleet", device: TB, settings: {}, outputs: 2 },
  { id: id(301), type: "thingspeak-field", channel: TS, settings: { field: "1", mode: "write", bulk: false, interval: "" }, field: "field", bad: "9", to: "msg", value: "which", outputs: 1 },
  { id: id(401), type: "iot-history", settings: { platform: "", device: BLYNK, subDevice: "", key: "Temperature", from: "-24h", to: "", limit: "1000", format: "points" }, plain: { field: "limit", bad: "0" }, outputs: 1 },
];

function initialFlows(brokerPort) {
  const nodes = NODES.map((n, i) => ({
    id: n.id, type: n.type, name: "", ...(n.device ? { device: n.device } : {}), ...(n.channel ? { channel: n.channel } : {}), ...n.settings,
    x: 160 + 220 * (i % 3), y: 80 + 80 * Math.floor(i / 3), z: TAB, wires: Array.from({ length: n.outputs ?? 0 }, () => []),
  }));
  return [
    { id: TAB, type: "tab", label: "Flow dialogs", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", x: 160, y: 500, z: TAB, wires: [[]] },
    { id: BLYNK, type: "blynk-device", name: "Hosted Blynk", connection: "local", broker: BROKER, server: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "V1=Temperature" },
    { id: TB, type: "thingsboard-device", name: "Hosted ThingsBoard", connection: "local", broker: BROKER, server: "", gateway: false, auth: "token", qos: "1", tls: "" },
    { id: TS, type: "thingspeak-channel", name: "Hosted ThingSpeak", connection: "local", broker: BROKER, server: "", channelId: "100001", updateInterval: "15", fieldNames: "1=Temperature" },
    ...nodes,
  ];
}

const CREDENTIALS = {
  [BLYNK]: { token: "AbCdEfGhIjKlMnOpQrStUvWxYz012345" },
  [TB]: { token: "A1b2C3d4E5f6G7h8I9j0" },
  [TS]: { clientId: "ABCDEFGHIJKLMNOPQRSTUVW", username: "ABCDEFGHIJKLMNOPQRSTUVW", password: "abcdefghijklmnopqrstuvwx", writeKey: "WRITEKEY00000001", readKey: "READKEY000000001" },
};

describe(`editor flow-node dialogs in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(60000);
  let editor;
  let browser;
  let page;
  let shots;
  let shot = 0;

  before(async function () {
    skipWithoutChromium(this);
    const brokerPort = await freePort();
    shots = screenshotFolder("flow-dialog");
    console.log(`      screenshots: ${shots}`);
    const starting = startNodeRedEditor({ flows: initialFlows(brokerPort), credentials: CREDENTIALS });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    await openEditor();
    await snap("editor-loaded");
  });

  // A failed step may leave dialogs open: the next test starts on a fresh editor page.
  afterEach(async function () {
    if (this.currentTest.state !== "failed" || !page) return;
    await snap("failed");
    const problems = browser.takeProblems();
    if (problems.length > 0) console.log(`      the page logged:\n${problems.join("\n")}`);
    await page.close({ runBeforeUnload: false });
    await openEditor();
  });

  after(async function () {
    if (browser) await browser.close();
    if (editor) await editor.stop();
  });

  async function openEditor() {
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(editor.base + "/");
    await page.waitForFunction((nodeId) => window.RED && RED.nodes && RED.nodes.node(nodeId), NODES[0].id);
    await page.locator(`[id="${NODES[0].id}"]`).waitFor();
  }

  async function snap(name, { notifications = false } = {}) {
    shot += 1;
    const file = path.join(shots, `${String(shot).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, style: notifications ? "" : "#red-ui-notifications { display: none !important; }" });
  }

  async function openFlowNode(nodeId) {
    await page.locator(`[id="${nodeId}"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
  }

  async function closeWith(button) {
    await page.locator(button).click();
    await page.locator(button).waitFor({ state: "detached" });
  }

  async function dismissNotifications() {
    const notes = "#red-ui-notifications .red-ui-notification";
    await page.$$eval(notes, (els) => els.forEach((el) => el.click()));
    await page.waitForFunction((selector) => document.querySelectorAll(selector).length === 0, notes);
  }

  /** Deploys and answers the deployed flows; the page must have logged no problem. */
  async function deploy(label) {
    const posted = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/flows");
    await page.locator("#red-ui-header-button-deploy").click();
    const res = await posted;
    assert.equal(res.status(), 200, `deploy answered ${res.status()}`);
    await page.locator("#red-ui-header-button-deploy.disabled").waitFor();
    await snap(`${label}-deployed`, { notifications: true });
    await dismissNotifications();
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
    return editor.flows();
  }

  /** Sets a typedInput's value as typing does (the dialog validates on change). */
  async function typeInto(field, value) {
    const input = page.locator(`#node-input-${field}`).locator("xpath=following-sibling::div[contains(@class,'red-ui-typedInput-container')]").locator("input.red-ui-typedInput-input");
    await input.fill(value);
    await input.dispatchEvent("change");
  }

  const container = (field) => page.locator(`#node-input-${field} + .red-ui-typedInput-container`);
  const hasError = (field) => container(field).evaluate((el) => el.classList.contains("input-error"));

  it("lists every node of the package in the palette, under IoT Bridge", async function () {
    const types = Object.keys(JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"))["node-red"].nodes);
    const listed = await page.evaluate((all) => {
      const found = {};
      for (const type of all) {
        const def = RED.nodes.getType(type);
        const el = $(`.red-ui-palette-node[data-palette-type="${type}"]`);
        found[type] = { config: def && def.category === "config", header: el.closest(".red-ui-palette-category").find(".red-ui-palette-header span").first().text(), label: el.find(".red-ui-palette-label").text() };
      }
      return found;
    }, types);
    for (const type of types) {
      if (listed[type].config) continue;
      assert.equal(listed[type].header, "IoT Bridge", `${type} is in the IoT Bridge category`);
      assert.ok(listed[type].label.length > 0 && !/^tb /.test(listed[type].label), `${type} has a readable palette label: ${listed[type].label}`);
    }
    assert.deepEqual(
      NODES.map((n) => n.type).filter((type) => listed[type].header !== "IoT Bridge"),
      [],
      "every flow node type is in the palette",
    );
    await page.locator("#red-ui-palette-container-IoT_Bridge").scrollIntoViewIfNeeded();
    await snap("palette");
    // The palette filter matches types and labels: "mqtt" finds the broker by its label.
    const filter = page.locator("#red-ui-palette-search input");
    await filter.fill("mqtt");
    await page.locator('.red-ui-palette-node[data-palette-type="iot-broker"]').waitFor({ state: "visible" });
    await snap("palette-filter-mqtt");
    await filter.fill("");
  });

  it("says the direction in the canvas label and icon (local mode: the nodes emit what devices send)", async function () {
    const shown = await page.evaluate((ids) => ids.map((nodeId) => {
      const el = document.getElementById(nodeId);
      const icon = el.querySelector(".red-ui-flow-node-icon");
      return { label: el.querySelector(".red-ui-flow-node-label").textContent, icon: icon ? icon.getAttribute("style") || icon.getAttribute("xlink:href") || icon.getAttribute("href") || "" : "" };
    }), [id(103), id(201), id(202)]);
    assert.equal(shown[0].label, "temp_alert events");
    assert.equal(shown[1].label, "device telemetry");
    assert.equal(shown[2].label, "set shared attributes");
    const icons = await page.evaluate((ids) => ids.map((nodeId) => RED.utils.getNodeIcon(RED.nodes.node(nodeId)._def, RED.nodes.node(nodeId))), [id(103), id(201), id(202)]);
    assert.match(icons[0], /blynk-event-receive\.svg$/);
    assert.match(icons[1], /thingsboard-receive\.svg$/);
    assert.match(icons[2], /thingsboard-attributes-down\.svg$/);
    await snap("canvas-labels");
  });

  it("opens and saves every node of a flow from before the typedInputs with its values unchanged", async function () {
    for (const n of NODES) {
      await openFlowNode(n.id);
      await snap(`${n.type}-old-opened`);
      await closeWith("#node-dialog-ok");
    }
    const flows = await deploy("old-style");
    for (const n of NODES) {
      const saved = flows.find((f) => f.id === n.id);
      for (const [key, value] of Object.entries(n.settings)) assert.deepEqual(saved[key], value, `${n.type}.${key} unchanged`);
      if (n.field) assert.ok([undefined, n.field === "timeout" ? "num" : "str"].includes(saved[`${n.field}Type`]), `${n.type}.${n.field}Type is the old default`);
    }
  });

  for (const n of NODES) {
    const what = n.field ? `shows a bad ${n.field} invalid, switches it to ${n.to} and deploys` : n.plain ? `shows a bad ${n.plain.field} invalid and deploys` : "opens and deploys";
    it(`${n.type}: ${what}`, async function () {
      await openFlowNode(n.id);
      assert.deepEqual(browser.takeProblems(), [], "the dialog opened without a console problem");
      if (n.plain) {
        const input = page.locator(`#node-input-${n.plain.field}`);
        const before = await input.inputValue();
        await input.fill(n.plain.bad);
        await input.dispatchEvent("change");
        await page.waitForFunction((f) => document.getElementById(`node-input-${f}`).classList.contains("input-error"), n.plain.field);
        await snap(`${n.type}-invalid`);
        await input.fill(before);
        await input.dispatchEvent("change");
        await page.waitForFunction((f) => !document.getElementById(`node-input-${f}`).classList.contains("input-error"), n.plain.field);
      }
      if (n.field) {
        assert.ok(await container(n.field).isVisible(), `${n.field} is a typedInput`);
        await typeInto(n.field, n.bad);
        await page.waitForFunction((f) => document.querySelector(`#node-input-${f} + .red-ui-typedInput-container`).classList.contains("input-error"), n.field);
        await snap(`${n.type}-invalid`);
        // Switched as a user does: the type menu, then the kind.
        await container(n.field).locator("button.red-ui-typedInput-type-select").click();
        await page.locator(`.red-ui-typedInput-options:visible a[value="${n.to}"]`).click();
        await typeInto(n.field, n.value);
        assert.equal(await hasError(n.field), false, `a ${n.to} ${n.field} is valid`);
        await snap(`${n.type}-${n.to}`);
      }
      // A name too, so that a dialog without a typedInput has something to save and deploy.
      await page.locator("#node-input-name").fill(`${n.type} saved`);
      await closeWith("#node-dialog-ok");
      const flows = await deploy(n.type);
      const saved = flows.find((f) => f.id === n.id);
      assert.equal(saved.name, `${n.type} saved`);
      if (n.field) assert.deepEqual([saved[n.field], saved[`${n.field}Type`]], [n.value, n.to]);
      const problems = await page.evaluate((nodeId) => {
        const node = RED.nodes.node(nodeId);
        return node.valid ? [] : node.validationErrors || ["invalid"];
      }, n.id);
      assert.deepEqual(problems, [], "the node is valid after saving");
    });
  }

  it("limits the kinds where no message is at hand: thingspeak-field in subscribe mode, thingsboard-rpc serving", async function () {
    await openFlowNode(id(301));
    await page.locator("#node-input-mode").selectOption("subscribe");
    await page.locator("#node-input-mode").dispatchEvent("change");
    await container("field").locator("button.red-ui-typedInput-type-select").click();
    const kinds = await page.locator(".red-ui-typedInput-options:visible a").evaluateAll((els) => els.map((el) => el.getAttribute("value")));
    assert.deepEqual(kinds, ["str", "num", "env"]);
    await snap("thingspeak-field-subscribe-kinds");
    await page.keyboard.press("Escape");
    await closeWith("#node-dialog-cancel");
    assert.deepEqual(browser.takeProblems(), []);
  });
});
