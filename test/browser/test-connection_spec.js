"use strict";
/* global RED, window, document, getComputedStyle */
// The "Test connection" button of the blynk-device dialog in Node-RED's real editor (Debian's
// chromium), against a real iot-broker hosting a Blynk device: a device dialog in mqtt mode
// pointed at that broker reports a wrong token's refusal in words (red) and the right token's
// success (green), with the token typed into the dialog and never saved; the hosted device's
// own dialog (token unchanged: the stored one is used) says the broker hosts it. A device with
// no token shows the short "no token" status after deploy. Screenshots of each step; the page
// logs no error.
const assert = require("node:assert/strict");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "7e570c0000000001";
const BROKER = "7e570c0000000002";
const HOSTED = "7e570c0000000011";
const CLOUD = "7e570c0000000021";
const TOKEN = "TestConnToken0123456789abcdefGHI";
const WRONG = "WrongConnToken0123456789abcdefGH";

function initialFlows(brokerPort) {
  const at = (x, y) => ({ x, y, z: TAB });
  return [
    { id: TAB, type: "tab", label: "Test connection", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", ...at(120, 60), wires: [[]] },
    { id: HOSTED, type: "blynk-device", name: "Hosted thermostat", connection: "local", broker: BROKER, server: "", pins: "", tls: "" },
    { id: "7e570c0000000012", type: "blynk-write", name: "to hosted", device: HOSTED, datastream: "Temp", ...at(120, 140), wires: [] },
    // No token yet (as an example just imported): "no token" after deploy.
    { id: CLOUD, type: "blynk-device", name: "As a device", connection: "mqtt", server: `mqtt://127.0.0.1:${brokerPort}`, pins: "", tls: "" },
    { id: "7e570c0000000022", type: "blynk-write", name: "as device", device: CLOUD, datastream: "Temp", ...at(120, 220), wires: [] },
  ];
}

describe(`editor "Test connection" button in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(60000);
  let editor;
  let browser;
  let page;
  let shots;
  let shot = 0;

  before(async function () {
    skipWithoutChromium(this);
    shots = screenshotFolder("test-connection");
    console.log(`      screenshots: ${shots}`);
    const starting = startNodeRedEditor({ flows: initialFlows(await freePort()), credentials: { [HOSTED]: { token: TOKEN } } });
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

  async function snap(name) {
    shot += 1;
    await page.screenshot({ path: path.join(shots, `test-connection-${String(shot).padStart(2, "0")}-${name}.png`), style: "#red-ui-notifications { display: none !important; }" });
  }
  async function openDevice(flowNode) {
    await page.locator(`[id="${flowNode}"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
    await page.locator("#node-input-btn-device-edit, #node-input-device-btn-device-edit").first().click();
    await page.locator("#node-config-dialog-ok").waitFor();
  }
  async function closeDialogs() {
    await page.locator("#node-config-dialog-cancel").click();
    await page.locator("#node-config-dialog-ok").waitFor({ state: "detached" });
    await page.locator("#node-dialog-cancel").click();
    await page.locator("#node-dialog-ok").waitFor({ state: "detached" });
  }
  /** Clicks the button and waits for its verdict: {state, text}. */
  async function testConnection() {
    const result = page.locator("#blynk-device-test-connection-result");
    await page.locator("#blynk-device-test-connection").click();
    await page.waitForFunction(() => {
      const el = document.getElementById("blynk-device-test-connection-result");
      return el && (el.dataset.state === "ok" || el.dataset.state === "failed");
    });
    await result.scrollIntoViewIfNeeded();
    return { state: await result.getAttribute("data-state"), text: await result.textContent(), color: await result.evaluate((el) => getComputedStyle(el).color) };
  }

  it("a device without a token shows the short \"no token\" status after deploy", async function () {
    const status = page.locator(`[id="7e570c0000000022"] .red-ui-flow-node-status-label`);
    await status.waitFor();
    assert.equal(await status.textContent(), "no token");
    await snap("no-token-status");
  });

  it("mqtt mode pointed at the broker: a wrong token is refused in words (red), the right one connects (green)", async function () {
    await openDevice("7e570c0000000022");
    await page.locator("#blynk-device-test-connection").waitFor();
    await page.locator("#node-config-input-token").fill(WRONG);
    const refused = await testConnection();
    await snap("wrong-token-refused");
    assert.equal(refused.state, "failed", refused.text);
    assert.match(refused.text, /^127\.0\.0\.1:\d+ refused the auth token \(MQTT .*\)$/);
    assert.equal(refused.color, "rgb(198, 40, 40)");
    assert.equal(refused.text.includes(WRONG), false, "the token is not shown");
    await page.locator("#node-config-input-token").fill(TOKEN);
    const connected = await testConnection();
    await snap("right-token-connected");
    assert.equal(connected.state, "ok", connected.text);
    assert.match(connected.text, /^Connected to 127\.0\.0\.1:\d+ and the auth token was accepted$/);
    assert.equal(connected.color, "rgb(46, 125, 50)");
    await closeDialogs();
    assert.equal(await page.evaluate((id) => Boolean(RED.nodes.node(id).credentials && RED.nodes.node(id).credentials.token), CLOUD), false, "testing saved nothing");
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });

  it("the hosted device's dialog (token unchanged) says the broker hosts it", async function () {
    await openDevice("7e570c0000000012");
    const hosted = await testConnection();
    await snap("local-hosted");
    assert.equal(hosted.state, "ok", hosted.text);
    assert.match(hosted.text, /"Test broker" is running and hosts this device with this token/);
    await closeDialogs();
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });
});
