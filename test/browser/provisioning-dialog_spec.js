"use strict";
/* global RED, window */
// The provisioning settings of the thingsboard-device dialog in Node-RED's real editor (Debian's
// chromium): mqtt mode offers "provision the device" (key, secret, credentials asked for), a
// local fleet "devices may join" (key, secret, strategy, flow answer time), a single hosted
// device and http mode offer nothing; what is entered is saved (the secret as a credential);
// the page logs no error.
const assert = require("node:assert/strict");
const { skipWithoutChromium, launchChromium } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "9a0f7a0f7a0f0001";
const BROKER = "9a0f7a0f7a0f0002";
const MQTT = "9a0f7a0f7a0f0011";
const FLEET = "9a0f7a0f7a0f0021";

function initialFlows(brokerPort) {
  const at = (x, y) => ({ x, y, z: TAB });
  return [
    { id: TAB, type: "tab", label: "Provisioning dialog test", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", ...at(100, 60), wires: [[]] },
    { id: MQTT, type: "thingsboard-device", name: "Self-provisioning", connection: "mqtt", server: "mqtt://127.0.0.1:1", gateway: false, auth: "token", qos: "1", tls: "" },
    { id: "9a0f7a0f7a0f0012", type: "thingsboard-telemetry", name: "as device", device: MQTT, subDevice: "", ...at(100, 140), wires: [[]] },
    { id: FLEET, type: "thingsboard-device", name: "Open fleet", connection: "local", broker: BROKER, hosting: "fleet", server: "", gateway: false, auth: "token", qos: "1", tls: "" },
    { id: "9a0f7a0f7a0f0022", type: "thingsboard-telemetry", name: "fleet", device: FLEET, subDevice: "", ...at(100, 220), wires: [[]] },
  ];
}

describe(`editor provisioning settings in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(60000);
  let editor;
  let browser;
  let page;

  before(async function () {
    skipWithoutChromium(this);
    const starting = startNodeRedEditor({ flows: initialFlows(await freePort()), credentials: {} });
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

  after(async function () {
    if (browser) await browser.close();
    if (editor) await editor.stop();
  });

  async function openDevice(flowNode) {
    await page.locator(`[id="${flowNode}"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
    for (let attempt = 1; ; attempt++) {
      await page.locator("#node-input-btn-device-edit, #node-input-device-btn-device-edit").first().click();
      try {
        await page.locator("#node-config-dialog-ok").waitFor({ timeout: 5000 });
        return;
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  }
  async function closeDialogs(save) {
    await page.locator(save ? "#node-config-dialog-ok" : "#node-config-dialog-cancel").click();
    await page.locator("#node-config-dialog-ok").waitFor({ state: "detached" });
    await page.locator("#node-dialog-cancel").click();
    await page.locator("#node-dialog-ok").waitFor({ state: "detached" });
  }
  /** Whether `selector` is shown, once the dialog has settled on it (waits for the expected state first). */
  async function visible(selector, expected) {
    await page.locator(selector).waitFor({ state: expected ? "visible" : "hidden", timeout: 5000 }).catch(() => undefined);
    return page.locator(selector).isVisible();
  }

  it("mqtt: provisioning rows follow the checkbox; key, type and secret are saved; http offers none", async function () {
    await openDevice("9a0f7a0f7a0f0012");
    assert.equal(await visible("#node-config-input-provision", true), true);
    assert.equal(await visible("#node-config-input-provisionKey", false), false, "rows hidden until ticked");
    await page.locator("#node-config-input-provision").check();
    assert.equal(await visible("#node-config-input-provisionKey", true), true);
    assert.equal(await visible("#node-config-input-provisionType", true), true);
    assert.equal(await visible("#node-config-input-provisionStrategy", false), false, "a strategy is the server's");
    await page.locator("#node-config-input-provisionKey").fill("profile-key");
    await page.locator("#node-config-input-provisionSecret").fill("profile-secret");
    await page.locator("#node-config-input-provisionType").selectOption("MQTT_BASIC");
    await page.locator("#node-config-input-connection").selectOption("http");
    assert.equal(await visible("#node-config-input-provision", false), false, "no provisioning over http");
    await page.locator("#node-config-input-connection").selectOption("mqtt");
    await closeDialogs(true);
    const saved = await page.evaluate((id) => {
      const n = RED.nodes.node(id);
      return { provision: n.provision, key: n.provisionKey, type: n.provisionType, secret: n.credentials && n.credentials.provisionSecret };
    }, MQTT);
    assert.deepEqual(saved, { provision: true, key: "profile-key", type: "MQTT_BASIC", secret: "profile-secret" });
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });

  it("local fleet: key, secret, strategy and flow answer time; a single hosted device offers none", async function () {
    await openDevice("9a0f7a0f7a0f0022");
    assert.equal(await visible("#node-config-input-provision", true), true);
    await page.locator("#node-config-input-provision").check();
    assert.equal(await visible("#node-config-input-provisionStrategy", true), true);
    assert.equal(await visible("#node-config-input-provisionWait", true), true);
    assert.equal(await visible("#node-config-input-provisionType", false), false, "credentials are the device's to ask for");
    await page.locator("#node-config-input-provisionKey").fill("fleet-key");
    await page.locator("#node-config-input-provisionStrategy").selectOption("pre-provisioned");
    await page.locator("#node-config-input-hosting").selectOption("device");
    assert.equal(await visible("#node-config-input-provision", false), false, "one hosted device cannot be joined");
    await page.locator("#node-config-input-hosting").selectOption("fleet");
    assert.equal(await visible("#node-config-input-provisionStrategy", true), true);
    await closeDialogs(true);
    const saved = await page.evaluate((id) => {
      const n = RED.nodes.node(id);
      return { provision: n.provision, key: n.provisionKey, strategy: n.provisionStrategy };
    }, FLEET);
    assert.deepEqual(saved, { provision: true, key: "fleet-key", strategy: "pre-provisioned" });
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });
});
