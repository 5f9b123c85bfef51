"use strict";
/* global RED, window */
// The fleet table in the config dialogs (resources/fleet-editor.js, docs/ARCHITECTURE.md 3.8) in
// Node-RED's real editor (Debian's chromium): a deployed blynk-device and thingsboard-device
// hosting fleets show their table; a device added in the dialog is in the running fleet at once
// (no deploy), its token can be shown; a name with markup stays text; the page logs no error.
const assert = require("node:assert/strict");
const { skipWithoutChromium, launchChromium } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "f1ee7f1ee7f10001";
const BROKER = "f1ee7f1ee7f10002";
const BLYNK = "f1ee7f1ee7f10011";
const TB = "f1ee7f1ee7f10021";

function initialFlows(brokerPort) {
  const at = (x, y) => ({ x, y, z: TAB });
  return [
    { id: TAB, type: "tab", label: "Fleet dialog test", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", ...at(100, 60), wires: [[]] },
    { id: BLYNK, type: "blynk-device", name: "Blynk fleet", connection: "local", broker: BROKER, hosting: "fleet", server: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
    { id: "f1ee7f1ee7f10012", type: "blynk-write", name: "Blynk write", device: BLYNK, datastream: "", fleetDevice: "", ...at(100, 140), wires: [] },
    { id: TB, type: "thingsboard-device", name: "TB fleet", connection: "local", broker: BROKER, hosting: "fleet", server: "", gateway: false, auth: "token", qos: "1", tls: "" },
    { id: "f1ee7f1ee7f10022", type: "thingsboard-attributes", name: "TB attributes", device: TB, subDevice: "", fleetDevice: "", timeout: "10000", ...at(100, 220), wires: [[]] },
  ];
}

describe(`editor fleet table in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(60000);
  let editor;
  let browser;
  let page;

  before(async function () {
    skipWithoutChromium(this);
    const brokerPort = await freePort();
    const starting = startNodeRedEditor({ flows: initialFlows(brokerPort), credentials: {} });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(editor.base + "/");
    await page.waitForFunction((id) => window.RED && RED.nodes && RED.nodes.node(id), BROKER);
    await page.locator(`[id="${BROKER}"]`).waitFor();
  });

  // A failed step may leave dialogs open: the next test starts on a fresh editor page.
  afterEach(async function () {
    if (this.currentTest.state !== "failed" || !page) return;
    const problems = browser.takeProblems();
    if (problems.length > 0) console.log(`      the page logged:\n${problems.join("\n")}`);
    await page.close({ runBeforeUnload: false });
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(editor.base + "/");
    await page.waitForFunction((id) => window.RED && RED.nodes && RED.nodes.node(id), BROKER);
    await page.locator(`[id="${BROKER}"]`).waitFor();
  });

  after(async function () {
    if (browser) await browser.close();
    if (editor) await editor.stop();
  });

  // Both fleet control nodes come from one definition (resources/fleet-editor.js registerNode).
  it("blynk-fleet and thingsboard-fleet are in the palette with their config node, colour and labels", async function () {
    for (const [type, configType] of [["blynk-fleet", "blynk-device"], ["thingsboard-fleet", "thingsboard-device"]]) {
      await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).waitFor({ state: "attached" });
      const def = await page.evaluate((t) => {
        const d = RED.nodes.getType(t);
        return { device: d.defaults.device.type, outputs: d.outputs, color: d.color, label: d.paletteLabel.call(d), out: d.outputLabels.call(d, 1) };
      }, type);
      assert.equal(def.device, configType);
      assert.equal(def.outputs, 2);
      assert.match(def.color, /^#[0-9a-f]{6}$/);
      assert.ok(!def.label.includes(".") && def.label !== "", `${type} palette label translated: ${def.label}`);
      assert.ok(!def.out.includes("outputLabels"), `${type} output label translated: ${def.out}`);
    }
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });

  for (const [type, flowNode, id] of [["blynk-device", "f1ee7f1ee7f10012", BLYNK], ["thingsboard-device", "f1ee7f1ee7f10022", TB]]) {
    it(`${type}: the table of the running fleet, a device added without a deploy, its token shown, markup kept as text`, async function () {
      await page.locator(`[id="${flowNode}"] .red-ui-flow-node`).dblclick();
      await page.locator("#node-dialog-ok").waitFor();
      // The flow node offers its Fleet device field for a fleet.
      await page.locator("#node-input-fleetDevice + .red-ui-typedInput-container").waitFor({ state: "visible" });
      for (let attempt = 1; ; attempt++) {
        await page.locator("#node-input-btn-device-edit, #node-input-device-btn-device-edit").first().click();
        try {
          await page.locator("#node-config-dialog-ok").waitFor({ timeout: 5000 });
          break;
        } catch (err) {
          if (attempt === 3) throw err;
        }
      }
      const table = `#${type}-fleet-table`;
      await page.locator(`${table} .form-tips`).filter({ hasText: "0 devices" }).waitFor();
      assert.equal(await page.locator(`#node-config-input-token`).isVisible(), false, "a fleet has no token of its own");
      const name = `<img src=x onerror="window.__pwned=1">${type}`;
      await page.locator(`${table} .iotb-fleet-add input`).first().fill(name);
      await page.locator(`${table} .iotb-fleet-add button`).click();
      await page.locator(`${table} tbody tr`).first().waitFor();
      assert.equal(await page.locator(`${table} tbody tr td`).first().textContent(), name);
      assert.equal(await page.evaluate(() => window.__pwned), undefined, "a device name is never markup");
      // The running fleet has it: no deploy was needed.
      const listed = await page.evaluate(async ([t, i]) => (await (await fetch(`${t}/${i}/fleet`)).json()).devices.map((d) => d.name), [type, id]);
      assert.deepEqual(listed, [name]);
      await page.locator(`${table} tbody tr button[title]`).first().click();
      await page.locator(`${table} tbody tr td code`).nth(1).filter({ hasText: /^[A-Za-z0-9_-]{20,32}$/ }).waitFor();
      await page.locator("#node-config-dialog-cancel").click();
      await page.locator("#node-config-dialog-ok").waitFor({ state: "detached" });
      await page.locator("#node-dialog-cancel").click();
      await page.locator("#node-dialog-ok").waitFor({ state: "detached" });
      assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
    });
  }
});
