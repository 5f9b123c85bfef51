"use strict";
/* global RED, window */
// The thingspeak-channel dialog in Node-RED's real editor (chromium, playwright-core) for a
// hosted channel whose MQTT device is also authorised for another hosted channel: it shows the
// device's flags (The device may: publish / subscribe) and, as deployed, the other channel of
// the device with its flags. Skipped without chromium, as the other browser specs.
const assert = require("node:assert/strict");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "e1d1e1d1e1d10001";
const BROKER = "e1d1e1d1e1d10002";
const DEVICE = { clientId: "SharedDeviceClient0001", username: "SharedDeviceUser000001", password: "SharedDevicePassword01" };

function flows(brokerPort) {
  return [
    { id: TAB, type: "tab", label: "Editor test", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", x: 100, y: 60, z: TAB, wires: [[]] },
    { id: "e1d1e1d1e1d10011", type: "thingspeak-channel", name: "Greenhouse", connection: "local", broker: BROKER, server: "", channelId: "101", updateInterval: "15", fieldNames: "" },
    { id: "e1d1e1d1e1d10012", type: "thingspeak-channel", name: "Display", connection: "local", broker: BROKER, server: "", channelId: "102", updateInterval: "15", fieldNames: "", allowPublish: false, allowSubscribe: true },
    { id: "e1d1e1d1e1d10013", type: "thingspeak-field", name: "TS field", channel: "e1d1e1d1e1d10011", field: "1", mode: "write", bulk: false, interval: "", x: 100, y: 140, z: TAB, wires: [] },
  ];
}

describe(`editor: thingspeak-channel, one MQTT device on several hosted channels (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(120000);
  let editor;
  let browser;
  let page;
  let shots;

  before(async function () {
    skipWithoutChromium(this);
    const brokerPort = await freePort();
    shots = screenshotFolder("ts-device");
    const starting = startNodeRedEditor({ flows: flows(brokerPort), credentials: { e1d1e1d1e1d10011: { ...DEVICE }, e1d1e1d1e1d10012: { ...DEVICE } } });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  });

  after(async function () {
    if (browser) await browser.close();
    if (editor) await editor.stop();
  });

  it("shows the device's flags and the other channel it is authorised for", async function () {
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(editor.base + "/");
    await page.waitForFunction((id) => window.RED && RED.nodes && RED.nodes.node(id), "e1d1e1d1e1d10013");
    await page.locator(`[id="e1d1e1d1e1d10013"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
    await page.locator("#node-input-btn-channel-edit, #node-input-channel-btn-channel-edit").first().click();
    await page.locator("#node-config-dialog-ok").waitFor();
    const tip = page.locator("#thingspeak-channel-device-channels");
    await tip.waitFor({ state: "visible" });
    await tip.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(shots, "thingspeak-device-channels.png") });
    assert.equal(await tip.textContent(), "As deployed, the device with these credentials is also authorised for: Display (102: subscribe).");
    assert.deepEqual([await page.locator("#node-config-input-allowPublish").isChecked(), await page.locator("#node-config-input-allowSubscribe").isChecked()], [true, true]);
    assert.deepEqual(browser.takeProblems(), []);
  });
});
