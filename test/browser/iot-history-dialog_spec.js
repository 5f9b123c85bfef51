"use strict";
/* global RED, window, document */
// The iot-history dialog in Node-RED's real editor (Debian's chromium, playwright-core): its device
// picker lists the self-hosted devices of every broker (naming the broker) and no cloud one, the
// Platform narrows it, the sub-device field shows for ThingsBoard only, the key field lists and
// suggests the keys the deployed device has history of (a real device sent one over MQTT), a
// From that is no time is marked, and what the dialog saves is what is deployed. Screenshots go to
// a temp folder (printed; SCREENSHOT_DIR overrides it).
const assert = require("node:assert/strict");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { connect } = require("../lib/fixtures/engine");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "a1b2c3d4e5f60001";
const BROKER = "a1b2c3d4e5f60002";
const GARAGE = "a1b2c3d4e5f60003";
const IDS = { blynk: "a1b2c3d4e5f60011", cloud: "a1b2c3d4e5f60012", door: "a1b2c3d4e5f60013", tb: "a1b2c3d4e5f60021", ts: "a1b2c3d4e5f60031", history: "a1b2c3d4e5f60041" };

function initialFlows(brokerPort, closedPort, garagePort) {
  return [
    { id: TAB, type: "tab", label: "History dialog", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", x: 120, y: 60, z: TAB, wires: [[]] },
    { id: IDS.blynk, type: "blynk-device", name: "Greenhouse", connection: "local", broker: BROKER, server: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "V1=Temperature" },
    { id: GARAGE, type: "iot-broker", name: "Garage broker", port: garagePort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", x: 320, y: 60, z: TAB, wires: [[]] },
    { id: IDS.door, type: "blynk-device", name: "Door", connection: "local", broker: GARAGE, server: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
    { id: IDS.cloud, type: "blynk-device", name: "Cloud device", connection: "mqtt", broker: "", server: `mqtt://127.0.0.1:${closedPort}`, tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
    { id: IDS.tb, type: "thingsboard-device", name: "Gateway", connection: "local", broker: BROKER, server: "", gateway: true, auth: "token", qos: "1", tls: "" },
    { id: IDS.ts, type: "thingspeak-channel", name: "Weather", connection: "local", broker: BROKER, server: "", channelId: "100001", updateInterval: "15", fieldNames: "1=Outside temperature" },
    { id: IDS.history, type: "iot-history", name: "", device: IDS.blynk, subDevice: "", key: "Temperature", from: "-24h", to: "", limit: "1000", format: "points", x: 120, y: 140, z: TAB, wires: [[]] },
  ];
}

const CREDENTIALS = {
  [IDS.blynk]: { token: "AbCdEfGhIjKlMnOpQrStUvWxYz012345" },
  [IDS.cloud]: { token: "ZyXwVuTsRqPoNmLkJiHgFeDcBa543210" },
  [IDS.door]: { token: "DoorDoorDoorDoorDoorDoorDoor0001" },
  [IDS.tb]: { token: "A1b2C3d4E5f6G7h8I9j0" },
  [IDS.ts]: { clientId: "ABCDEFGHIJKLMNOPQRSTUVW", username: "ABCDEFGHIJKLMNOPQRSTUVW", password: "abcdefghijklmnopqrstuvwx", writeKey: "WRITEKEY00000001", readKey: "READKEY000000001" },
};

describe(`iot-history dialog in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(120_000);
  let editor;
  let browser;
  let page;
  let shots;
  let shot = 0;

  before(async function () {
    skipWithoutChromium(this);
    const [brokerPort, closedPort, garagePort] = [await freePort(), await freePort(), await freePort()];
    shots = screenshotFolder("history");
    console.log(`      screenshots: ${shots}`);
    const starting = startNodeRedEditor({ flows: initialFlows(brokerPort, closedPort, garagePort), credentials: CREDENTIALS });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    // The Blynk device sends a value: its deployed history has the key Temperature.
    const device = await connect(`mqtt://127.0.0.1:${brokerPort}`, { username: "device", password: CREDENTIALS[IDS.blynk].token, clientId: "" });
    await device.publishAsync("ds/Temperature", "21.5", { qos: 1 });
    await device.endAsync();
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    // The editor's first load is ~100 requests: on a busy machine it takes a while.
    await page.goto(editor.base + "/", { timeout: 45_000 });
    await page.waitForFunction((id) => window.RED && RED.nodes && RED.nodes.node(id) && RED.nodes.node(id).type === "iot-history", IDS.history);
    await page.locator(`[id="${IDS.history}"]`).waitFor();
  });

  afterEach(async function () {
    if (this.currentTest.state === "failed" && page) await snap("failed");
  });

  after(async function () {
    if (browser) await browser.close();
    if (editor) await editor.stop();
  });

  async function snap(name) {
    shot += 1;
    await page.screenshot({ path: path.join(shots, `${String(shot).padStart(2, "0")}-${name}.png`), style: "#red-ui-notifications { display: none !important; }" });
  }

  async function setField(selector, value) {
    const field = page.locator(selector);
    if ((await field.evaluate((el) => el.tagName)) === "SELECT") await field.selectOption(value);
    else await field.fill(value);
    await field.dispatchEvent("change");
  }

  it("lists the self-hosted devices of every broker only, narrows them by platform, follows the chosen platform, marks a bad From, and deploys what it saved", async function () {
    await page.locator(`[id="${IDS.history}"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
    const picker = page.locator("#node-input-device");
    const options = () => picker.locator("option").evaluateAll((list) => list.map((o) => [o.value, o.textContent]));
    assert.deepEqual(
      await options(),
      [
        ["", "from msg.device"],
        [IDS.door, "Blynk: Door (on Garage broker)"],
        [IDS.tb, "ThingsBoard: Gateway (on Test broker)"],
        [IDS.blynk, "Blynk: Greenhouse (on Test broker)"],
        [IDS.ts, "ThingSpeak: Weather (on Test broker)"],
      ],
      "from msg, then the local devices of both brokers by name; no cloud device",
    );
    assert.equal(await picker.inputValue(), IDS.blynk);
    assert.equal(await page.locator("#node-input-platform").inputValue(), "");
    assert.equal(await page.locator("#iot-history-sub-device-row").isVisible(), false);
    assert.match(await page.locator("#iot-history-tip-key").textContent(), /datastream/);
    // The runtime answered which keys the deployed device has: the one its device sent.
    await page.locator("#iot-history-tip-keys", { hasText: "The device has history of: Temperature" }).waitFor();
    const key = page.locator("#node-input-key");
    await key.fill("");
    await key.pressSequentially("Te");
    const menu = page.locator(".red-ui-autoComplete-container");
    await menu.waitFor();
    assert.match(await menu.textContent(), /Temperature/);
    await key.press("Escape");
    await snap("blynk");

    await setField("#node-input-platform", "blynk");
    assert.deepEqual((await options()).map(([value]) => value), ["", IDS.door, IDS.blynk], "Blynk devices only");
    assert.equal(await picker.inputValue(), IDS.blynk, "the chosen device stays");
    await setField("#node-input-platform", "thingspeak");
    assert.deepEqual((await options()).map(([value]) => value), ["", IDS.ts]);
    assert.equal(await picker.inputValue(), "", "a device of another platform is unchosen");
    assert.match(await page.locator("#iot-history-tip-key").textContent(), /msg\.device/);
    await snap("platform");

    await setField("#node-input-device", IDS.ts);
    assert.equal(await page.locator("#iot-history-sub-device-row").isVisible(), false);
    await key.fill("");
    await key.pressSequentially("Outs");
    await menu.waitFor();
    assert.match(await menu.textContent(), /Outside temperature/);
    await snap("thingspeak-key");
    await key.press("Escape");

    await setField("#node-input-platform", "");
    await setField("#node-input-device", IDS.tb);
    assert.equal(await page.locator("#iot-history-sub-device-row").isVisible(), true);
    await setField("#node-input-subDevice", "Pump 1");
    await setField("#node-input-key", "rpm");
    await setField("#node-input-from", "yesterday");
    await page.locator("#node-input-from.input-error").waitFor();
    await setField("#node-input-from", "-7d");
    await page.waitForFunction(() => !document.querySelector("#node-input-from").classList.contains("input-error"));
    await setField("#node-input-limit", "500");
    await setField("#node-input-format", "csv");
    await snap("thingsboard");
    await page.locator("#node-dialog-ok").click();
    await page.locator("#node-dialog-ok").waitFor({ state: "detached" });

    const posted = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/flows");
    await page.locator("#red-ui-header-button-deploy").click();
    assert.equal((await posted).status(), 200);
    await page.locator("#red-ui-header-button-deploy.disabled").waitFor();
    const saved = (await editor.flows()).find((n) => n.id === IDS.history);
    assert.deepEqual(
      { platform: saved.platform, device: saved.device, subDevice: saved.subDevice, key: saved.key, from: saved.from, to: saved.to, limit: saved.limit, format: saved.format },
      { platform: "", device: IDS.tb, subDevice: "Pump 1", key: "rpm", from: "-7d", to: "", limit: "500", format: "csv" },
    );
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });

  it("saves no sub-device for a device that is not ThingsBoard", async function () {
    await page.locator(`[id="${IDS.history}"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
    assert.equal(await page.locator("#node-input-subDevice").inputValue(), "Pump 1");
    await setField("#node-input-device", IDS.blynk);
    await page.locator("#node-dialog-ok").click();
    await page.locator("#node-dialog-ok").waitFor({ state: "detached" });
    const node = await page.evaluate((id) => ({ device: RED.nodes.node(id).device, subDevice: RED.nodes.node(id).subDevice }), IDS.history);
    assert.deepEqual(node, { device: IDS.blynk, subDevice: "" });
  });
});
