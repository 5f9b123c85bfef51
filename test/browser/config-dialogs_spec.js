"use strict";
/* global RED, window, document */
// The config dialogs in Node-RED's real editor (Debian's chromium, playwright-core): with an
// iot-broker in the flows, every device config node can be added in each of its modes from a
// flow node's dialog and deployed, an existing one can be re-saved, the broker is only chosen in
// local mode, the iot-broker node is left alone, and the page logs no error. Screenshots of every
// step go to a temp folder (printed; SCREENSHOT_DIR overrides it) for CI to keep.
const assert = require("node:assert/strict");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const TAB = "e0d1e0d1e0d10001";
const BROKER = "e0d1e0d1e0d10002";

/**
 * The flows the editor starts with: a broker and, per platform, a local device and a flow node using
 * it (on the canvas's left, clear of the notifications a deploy shows at the top centre).
 */
function initialFlows(brokerPort) {
  const at = (x, y) => ({ x, y, z: TAB });
  return [
    { id: TAB, type: "tab", label: "Editor test", disabled: false, info: "" },
    {
      id: BROKER, type: "iot-broker", name: "Test broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false,
      tls: "", wsPort: "", wsPath: "", persistence: "memory", ...at(100, 60), wires: [[]],
    },
    { id: "e0d1e0d1e0d10011", type: "blynk-device", name: "Hosted Blynk", connection: "local", broker: BROKER, server: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
    { id: "e0d1e0d1e0d10012", type: "blynk-write", name: "Blynk write", device: "e0d1e0d1e0d10011", datastream: "", ...at(100, 140), wires: [] },
    { id: "e0d1e0d1e0d10021", type: "thingsboard-device", name: "Hosted ThingsBoard", connection: "local", broker: BROKER, server: "", gateway: false, auth: "token", qos: "1", tls: "" },
    { id: "e0d1e0d1e0d10022", type: "thingsboard-telemetry", name: "TB telemetry", device: "e0d1e0d1e0d10021", subDevice: "", ...at(100, 220), wires: [[]] },
    { id: "e0d1e0d1e0d10031", type: "thingspeak-channel", name: "Hosted ThingSpeak", connection: "local", broker: BROKER, server: "", channelId: "100001", updateInterval: "15", fieldNames: "" },
    { id: "e0d1e0d1e0d10032", type: "thingspeak-field", name: "TS field", channel: "e0d1e0d1e0d10031", field: "1", mode: "write", bulk: false, interval: "", ...at(100, 300), wires: [] },
  ];
}

const CREDENTIALS = {
  e0d1e0d1e0d10011: { token: "AbCdEfGhIjKlMnOpQrStUvWxYz012345" },
  e0d1e0d1e0d10021: { token: "A1b2C3d4E5f6G7h8I9j0" },
  e0d1e0d1e0d10031: { clientId: "ABCDEFGHIJKLMNOPQRSTUVW", username: "ABCDEFGHIJKLMNOPQRSTUVW", password: "abcdefghijklmnopqrstuvwx", writeKey: "WRITEKEY00000001", readKey: "READKEY000000001" },
};

/**
 * Per config node type: the flow node that uses it (its id and property), its existing local node,
 * and how to fill each mode. Cloud servers point at a closed loopback port (`closed`) so that the
 * deployed nodes never leave the machine.
 */
const PLATFORMS = [
  {
    type: "blynk-device", flowNode: "e0d1e0d1e0d10012", property: "device", existing: "e0d1e0d1e0d10011",
    modes: {
      mqtt: { server: (closed) => `mqtt://127.0.0.1:${closed}`, fields: { token: "mqttToken0000000000000000000000x" } },
      https: { server: (closed) => `http://127.0.0.1:${closed}`, fields: { token: "httpsToken000000000000000000000x" } },
      local: { click: ["#blynk-device-generate"] },
      binary: { server: (closed) => `tcp://127.0.0.1:${closed}`, fields: { token: "binaryToken00000000000000000000x", pins: "V1=Temperature" } },
    },
  },
  {
    type: "thingsboard-device", flowNode: "e0d1e0d1e0d10022", property: "device", existing: "e0d1e0d1e0d10021",
    modes: {
      mqtt: { server: (closed) => `mqtt://127.0.0.1:${closed}`, fields: { token: "MqttToken00000000000" } },
      http: { server: (closed) => `http://127.0.0.1:${closed}`, fields: { token: "HttpToken00000000000" } },
      local: { click: ["#thingsboard-device-generate"] },
    },
  },
  {
    type: "thingspeak-channel", flowNode: "e0d1e0d1e0d10032", property: "channel", existing: "e0d1e0d1e0d10031",
    modes: {
      mqtt: {
        server: (closed) => `mqtt://127.0.0.1:${closed}`,
        fields: { channelId: "200001", clientId: "MQTTCLIENT0000000000001", username: "MQTTCLIENT0000000000001", password: "mqttpassword000000000001" },
      },
      rest: { server: (closed) => `http://127.0.0.1:${closed}`, fields: { channelId: "200002", writeKey: "RESTWRITE0000001", readKey: "RESTREAD00000001" } },
      local: { fields: { channelId: "200003" }, click: ["#thingspeak-channel-generate-mqtt", "#thingspeak-channel-generate-keys"] },
    },
  },
];

describe(`editor config dialogs in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(60000);
  let editor;
  let browser;
  let page;
  let original; // the iot-broker node as first deployed
  let shots;
  let shot = 0;
  let closedPort;

  before(async function () {
    skipWithoutChromium(this);
    const brokerPort = await freePort();
    closedPort = await freePort();
    shots = screenshotFolder("editor");
    console.log(`      screenshots: ${shots}`);
    // Node-RED and chromium start side by side; whichever started is stopped if the other failed.
    const starting = startNodeRedEditor({ flows: initialFlows(brokerPort), credentials: CREDENTIALS });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    await openEditor();
    await snap("editor-loaded");
    original = (await editor.flows()).find((n) => n.id === BROKER);
    assert.ok(original, "the iot-broker is deployed");
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
    await page.waitForFunction((id) => window.RED && RED.nodes && RED.nodes.node(id) && RED.nodes.node(id).type === "iot-broker", BROKER);
    await page.locator(`[id="${BROKER}"]`).waitFor();
  }

  /** Screenshot of the step; the editor's notifications (earlier deploys) would hide the dialog's top. */
  async function snap(name, { notifications = false } = {}) {
    shot += 1;
    const file = path.join(shots, `${String(shot).padStart(2, "0")}-${name}.png`);
    await page.screenshot({ path: file, style: notifications ? "" : "#red-ui-notifications { display: none !important; }" });
  }

  /** Opens a flow node's edit dialog by double-clicking it on the canvas. */
  async function openFlowNode(id) {
    await page.locator(`[id="${id}"] .red-ui-flow-node`).dblclick();
    await page.locator("#node-dialog-ok").waitFor();
  }

  /**
   * Clicks a config picker's button until its dialog opens: a click that lands while the editor is
   * still opening the flow node's tray is now and then ignored by the editor (seen on Node-RED 5
   * under load). Waits for the dialog each time, never for a fixed time.
   */
  async function openConfigDialog(button) {
    for (let attempt = 1; ; attempt++) {
      await page.locator(button).first().click();
      try {
        await page.locator("#node-config-dialog-ok").waitFor({ timeout: 5000 });
        return;
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  }

  /** Shows the dialog tab holding `selector` (the dialogs have tabs, as core's mqtt-broker has). */
  async function showTabOf(selector) {
    const pane = await page.locator(selector).evaluate((el) => {
      const tab = el.closest("[id$='-tabs-content'] > div");
      return tab && tab.style.display === "none" ? tab.id : null;
    });
    if (pane) await page.locator(`#red-ui-tab-${pane} a`).click();
  }

  /** Sets an input or select the way a user does, then lets the dialog's change handlers run. */
  async function setField(selector, value) {
    await showTabOf(selector);
    const field = page.locator(selector);
    if ((await field.evaluate((el) => el.tagName)) === "SELECT") await field.selectOption(value);
    else await field.fill(value);
    await field.dispatchEvent("change");
  }

  /** Clicks a dialog's button (Add, Update, Done) and waits for the dialog to close. */
  async function closeWith(button) {
    await page.locator(button).click();
    await page.locator(button).waitFor({ state: "detached" });
  }

  /** Config nodes of this package the editor holds invalid, with its reasons. */
  const invalidConfigNodes = () =>
    page.evaluate((types) => {
      const invalid = [];
      RED.nodes.eachConfig((n) => {
        if (types.includes(n.type) && !n.valid) invalid.push({ id: n.id, type: n.type, errors: n.validationErrors });
      });
      return invalid;
    }, PLATFORMS.map((p) => p.type));

  /** Clicks the editor's notifications away, as a user does: they cover the top of the next dialog. */
  async function dismissNotifications() {
    const notes = "#red-ui-notifications .red-ui-notification";
    await page.$$eval(notes, (els) => els.forEach((el) => el.click()));
    await page.waitForFunction((selector) => document.querySelectorAll(selector).length === 0, notes);
  }

  /** Deploys (all nodes valid first: the editor would otherwise ask) and answers the deployed flows. */
  async function deploy(label) {
    assert.deepEqual(await invalidConfigNodes(), [], "the editor holds every config node valid");
    const posted = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/flows");
    await page.locator("#red-ui-header-button-deploy").click();
    const res = await posted;
    assert.equal(res.status(), 200, `deploy answered ${res.status()}`);
    await page.locator("#red-ui-header-button-deploy.disabled").waitFor();
    await snap(`${label}-deployed`, { notifications: true });
    await dismissNotifications();
    const flows = await editor.flows();
    assert.deepEqual(flows.find((n) => n.id === BROKER), original, "the iot-broker node is unchanged");
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
    return flows;
  }

  for (const platform of PLATFORMS) {
    describe(platform.type, function () {
      const picker = `#node-input-${platform.property}`;
      // Node-RED 4.1 names the picker's buttons node-input-btn-<property>-<add|edit>.
      const pickerButton = (action) => `#node-input-btn-${platform.property}-${action}, #node-input-${platform.property}-btn-${platform.property}-${action}`;

      it("re-saves an existing local-mode node (Update) without touching the broker", async function () {
        await openFlowNode(platform.flowNode);
        assert.equal(await page.locator(picker).inputValue(), platform.existing);
        await openConfigDialog(pickerButton("edit"));
        assert.equal(await page.locator("#node-config-input-broker").inputValue(), BROKER);
        await setField("#node-config-input-name", "Renamed");
        await snap(`${platform.type}-update-dialog`);
        await closeWith("#node-config-dialog-ok");
        await closeWith("#node-dialog-ok");
        const flows = await deploy(`${platform.type}-update`);
        const saved = flows.find((n) => n.id === platform.existing);
        assert.deepEqual([saved.name, saved.connection, saved.broker], ["Renamed", "local", BROKER]);
      });

      for (const [mode, how] of Object.entries(platform.modes)) {
        it(`adds a ${mode}-mode node from the ${platform.property} picker of a flow node`, async function () {
          await openFlowNode(platform.flowNode);
          await openConfigDialog(pickerButton("add"));
          await setField("#node-config-input-name", `New ${mode}`);
          // Through local mode first: the broker picked there must not be saved in another mode.
          if (mode !== "local") await setField("#node-config-input-connection", "local");
          await setField("#node-config-input-connection", mode);
          if (how.server) {
            await setField(`#${platform.type}-server-preset`, "custom");
            await setField("#node-config-input-server", how.server(closedPort));
          }
          for (const [field, value] of Object.entries(how.fields ?? {})) await setField(`#node-config-input-${field}`, value);
          for (const button of how.click ?? []) await page.locator(button).click();
          const broker = page.locator("#node-config-input-broker");
          if (mode === "local") {
            // The picker lists the flows' iot-broker and picks it, the only one, for a new node.
            assert.deepEqual(await broker.locator("option").evaluateAll((options) => options.map((o) => o.value)), ["", BROKER]);
            assert.equal(await broker.inputValue(), BROKER);
            assert.ok(await broker.isVisible(), "the broker picker is shown in local mode");
          } else {
            assert.equal(await broker.isVisible(), false, "no broker picker outside local mode");
          }
          await snap(`${platform.type}-${mode}-dialog`);
          await closeWith("#node-config-dialog-ok");
          const added = await page.locator(picker).inputValue();
          assert.ok(added !== "" && added !== "_ADD_" && added !== platform.existing, `the flow node uses the added node (got "${added}")`);
          await snap(`${platform.type}-${mode}-added`);
          await closeWith("#node-dialog-ok");
          const flows = await deploy(`${platform.type}-${mode}`);
          const saved = flows.find((n) => n.id === added);
          assert.ok(saved, "the added config node is deployed");
          assert.deepEqual(
            [saved.type, saved.name, saved.connection, saved.broker],
            [platform.type, `New ${mode}`, mode, mode === "local" ? BROKER : ""],
          );
          assert.equal(flows.find((n) => n.id === platform.flowNode)[platform.property], added);
        });
      }
    });
  }
  describe("checks before a deploy", function () {
    const catalog = (type) => require(`../../locales/en-US/${type}.json`)[type];
    const TOKEN_FIELD = { "blynk-device": "#node-config-input-token", "thingsboard-device": "#node-config-input-token", "thingspeak-channel": "#node-config-input-password" };

    /** Visible tips per tab of the open dialog (`prefix`-tabs-content), leaving the first tab shown. */
    async function tipsPerTab(prefix) {
      // The tray's buttons show before the dialog's form is built: wait for its tabs' panes.
      await page.locator(`#${prefix}-tabs-content > div`).first().waitFor({ state: "attached" });
      const panes = await page.locator(`#${prefix}-tabs-content > div`).evaluateAll((els) => els.map((el) => el.id));
      assert.ok(panes.length > 0 && panes.every((id) => id !== ""), `the ${prefix} dialog's tab panes: ${JSON.stringify(panes)}`);
      const counts = {};
      for (const pane of panes) {
        await page.locator(`#red-ui-tab-${pane} a`).click();
        counts[pane] = await page.locator(`#${pane} .form-tips:visible`).count();
      }
      await page.locator(`#red-ui-tab-${panes[0]} a`).click();
      return counts;
    }

    /** The editor's validity of nodes, with the reasons it holds. */
    const validity = (ids) => page.evaluate((list) => list.map((id) => {
      const n = RED.nodes.node(id);
      return n ? { id, valid: n.valid, errors: n.validationErrors || [] } : { id, missing: true };
    }), ids);

    const waitValid = (ids, valid) => page.waitForFunction(({ list, want }) => list.every((id) => RED.nodes.node(id) && RED.nodes.node(id).valid === want), { list: ids, want: valid });

    it("finds the iot-broker when \"mqtt\" is typed into the palette search", async function () {
      const search = page.locator("#red-ui-palette-search input");
      await search.fill("mqtt");
      await page.locator('.red-ui-palette-node[data-palette-type="iot-broker"]').waitFor({ state: "visible" });
      await snap("palette-search-mqtt");
      await search.fill("");
      assert.deepEqual(browser.takeProblems(), []);
    });

    it("loads each device's stored credentials without a dialog, so the deployed devices are valid", async function () {
      await waitValid(PLATFORMS.map((p) => p.existing), true);
      const loaded = await page.evaluate((ids) => ids.map((id) => RED.nodes.node(id).credentials && RED.nodes.node(id).credentials._ !== undefined), PLATFORMS.map((p) => p.existing));
      assert.deepEqual(loaded, [true, true, true]);
      assert.deepEqual(browser.takeProblems(), []);
    });

    for (const platform of PLATFORMS) {
      it(`${platform.type}: the dialog opens at 1280x720 with the credentials in view`, async function () {
        await page.setViewportSize({ width: 1280, height: 720 });
        try {
          await openFlowNode(platform.flowNode);
          await openConfigDialog(`#node-input-btn-${platform.property}-add, #node-input-${platform.property}-btn-${platform.property}-add`);
          const field = page.locator(TOKEN_FIELD[platform.type]);
          await field.waitFor({ state: "visible" });
          const box = await field.boundingBox();
          await snap(`${platform.type}-1280x720`);
          assert.ok(box && box.y >= 0 && box.y + box.height <= 720, `the field is in view: ${JSON.stringify(box)}`);
          // A new device has no token yet: that field, and only a credential field, is marked.
          const marked = await page.locator("#node-config-dialog-ok").evaluate(() => [...document.querySelectorAll(".red-ui-editor .input-error")].map((el) => el.id));
          assert.ok(marked.length > 0 && marked.every((id) => /-(token|clientId|username|password|channelId)$/.test(id)), `marked: ${marked}`);
          // Every label and option is translated (a missing key would show as "label.custom-server").
          const raw = await page.evaluate(() =>
            [...document.querySelectorAll(".red-ui-editor label, .red-ui-editor option, .red-ui-editor span, .red-ui-editor .form-tips")]
              .map((el) => el.textContent.trim())
              .filter((text) => /^[a-z-]+(\.[a-zA-Z0-9-]+)+$/.test(text)));
          assert.deepEqual(raw, []);
          for (const mode of Object.keys(platform.modes)) {
            await setField("#node-config-input-connection", mode);
            const tips = await tipsPerTab(platform.type);
            assert.ok(Object.keys(tips).length >= 2 && Object.values(tips).every((n) => n <= 1), `${mode}: tips per tab: ${JSON.stringify(tips)}`);
          }
          await closeWith("#node-config-dialog-cancel");
          await closeWith("#node-dialog-cancel");
          assert.deepEqual(browser.takeProblems(), []);
        } finally {
          await page.setViewportSize({ width: 1400, height: 900 });
        }
      });
    }

    it("a malformed token marks only that field, saves, marks the device and its flow node, and deploys once fixed", async function () {
      const blynk = PLATFORMS[0];
      await openFlowNode(blynk.flowNode);
      // The device the flow node uses now (the tests above had it add some).
      const deviceId = await page.locator("#node-input-device").inputValue();
      await openConfigDialog(`#node-input-btn-device-edit, #node-input-device-btn-device-edit`);
      await setField("#node-config-input-token", "not/a/token");
      const marked = await page.evaluate(() => [...document.querySelectorAll(".red-ui-editor .input-error")].map((el) => el.id));
      assert.deepEqual(marked, ["node-config-input-token"]);
      await snap("blynk-device-bad-token");
      await closeWith("#node-config-dialog-ok");
      await closeWith("#node-dialog-ok");
      await waitValid([deviceId, blynk.flowNode], false);
      const [device] = await validity([deviceId]);
      assert.deepEqual(device.errors, [catalog("blynk-device").validation["token-invalid"]]);
      // The red triangle on the flow node, as a user sees it before deploying.
      await page.locator(`[id="${blynk.flowNode}"] .red-ui-flow-node-error:not(.hide)`).waitFor();
      await snap("blynk-device-bad-token-canvas");
      await openFlowNode(blynk.flowNode);
      await openConfigDialog(`#node-input-btn-device-edit, #node-input-device-btn-device-edit`);
      await setField("#node-config-input-token", "AbCdEfGhIjKlMnOpQrStUvWxYz012345");
      await closeWith("#node-config-dialog-ok");
      await closeWith("#node-dialog-ok");
      await waitValid([deviceId, blynk.flowNode], true);
      await deploy("blynk-device-token-fixed");
    });

    it("the broker's dialog has at most one tip per tab, and a bad port marks the port field only", async function () {
      await openFlowNode(BROKER);
      const tips = await tipsPerTab("iot-broker");
      assert.ok(Object.keys(tips).length === 4 && Object.values(tips).every((n) => n <= 1), `tips per tab: ${JSON.stringify(tips)}`);
      await page.locator("#node-input-port").fill("70000");
      await page.locator("#node-input-port").dispatchEvent("change");
      const marked = await page.evaluate(() => [...document.querySelectorAll(".red-ui-editor .input-error")].map((el) => el.id));
      assert.deepEqual(marked, ["node-input-port"]);
      await snap("iot-broker-bad-port");
      await closeWith("#node-dialog-cancel");
      assert.deepEqual(browser.takeProblems(), []);
    });

    it("a device imported without credentials is invalid before a deploy, with the reason", async function () {
      const ids = { device: "e0d1e0d1e0d10041", flowNode: "e0d1e0d1e0d10042" };
      await page.evaluate(({ tab, device, flowNode, server }) => {
        RED.nodes.import([
          { id: device, type: "blynk-device", name: "No token yet", connection: "mqtt", server, broker: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
          { id: flowNode, type: "blynk-write", z: tab, name: "write without token", device, datastream: "", x: 320, y: 140, wires: [] },
        ]);
        RED.view.redraw(true);
      }, { tab: TAB, ...ids, server: `mqtt://127.0.0.1:${closedPort}` });
      await waitValid([ids.device, ids.flowNode], false);
      const [device] = await validity([ids.device]);
      assert.deepEqual(device.errors, [catalog("blynk-device").validation["token-missing"]]);
      await page.locator(`[id="${ids.flowNode}"] .red-ui-flow-node-error:not(.hide)`).waitFor();
      await snap("blynk-device-no-token");
      await page.evaluate((list) => list.forEach((id) => RED.nodes.remove(id)), [ids.flowNode, ids.device]);
      await page.evaluate(() => RED.view.redraw(true));
      assert.deepEqual(browser.takeProblems(), []);
    });

    it("deleting the broker flags every local device and its flow nodes before a deploy; undo clears it", async function () {
      // Every device hosted on the broker (the existing ones and those the tests added) and the flow nodes using them.
      const { devices, flowNodes } = await page.evaluate((types) => {
        const found = { devices: [], flowNodes: [] };
        RED.nodes.eachConfig((n) => {
          if (types.includes(n.type) && n.connection === "local" && n.hosting !== "fleet") {
            found.devices.push(n.id);
            n.users.forEach((u) => found.flowNodes.push(u.id));
          }
        });
        return found;
      }, PLATFORMS.map((p) => p.type));
      assert.ok(devices.length >= 3 && flowNodes.length >= 2, JSON.stringify({ devices, flowNodes }));
      await waitValid(devices.concat(flowNodes), true);
      await page.locator(`[id="${BROKER}"] .red-ui-flow-node`).click();
      await page.keyboard.press("Delete");
      await page.waitForFunction((id) => !RED.nodes.node(id), BROKER);
      await waitValid(devices.concat(flowNodes), false);
      const reasons = (await validity(PLATFORMS.map((p) => p.existing))).map((d) => d.errors);
      assert.deepEqual(reasons, PLATFORMS.map((p) => [catalog(p.type).validation["broker-not-found"].replace("__id__", BROKER)]));
      await page.locator(`[id="${flowNodes[0]}"] .red-ui-flow-node-error:not(.hide)`).waitFor();
      await snap("broker-deleted");
      await page.evaluate(() => RED.actions.invoke("core:undo"));
      await page.waitForFunction((id) => Boolean(RED.nodes.node(id)), BROKER);
      await waitValid(devices.concat(flowNodes), true);
      await snap("broker-restored");
      assert.deepEqual(browser.takeProblems(), []);
    });
  });
});
