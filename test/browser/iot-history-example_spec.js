"use strict";
/* global RED, window, $ */
// The history example as a user meets it, in Node-RED's real editor (Debian's chromium,
// playwright-core): Import > Examples > @iot-bridge/node-red > history > 01, the channel's
// Generate button for its device credentials (an exported flow has none), Deploy. Node-RED logs
// no error, the page none, the broker keeps the history in SQLite under the userDir, and the
// chart page and CSV download serve what the simulated sensor wrote. The broker is moved to a
// free loopback port first (the example listens on 1887 on every interface). Screenshots go to a
// temp folder (printed; SCREENSHOT_DIR overrides it).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { until } = require("../support/wait");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const EXAMPLE = "01 - Chart a self-hosted channel's history";

describe(`history example imported from the Import menu (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(120_000);
  let editor;
  let browser;
  let page;
  let shots;
  let shot = 0;

  before(async function () {
    skipWithoutChromium(this);
    shots = screenshotFolder("history-example");
    console.log(`      screenshots: ${shots}`);
    const starting = startNodeRedEditor({ flows: [{ id: "b0b0b0b0b0b00001", type: "tab", label: "Flow 1", disabled: false, info: "" }] });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    // The editor's first load is ~100 requests: on a busy machine it takes a while.
    await page.goto(editor.base + "/", { timeout: 45_000 });
    await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.workspace("b0b0b0b0b0b00001"));
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
    await page.screenshot({ path: path.join(shots, `${String(shot).padStart(2, "0")}-${name}.png`) });
  }

  it("imports, takes the channel's generated credentials, deploys with no error and serves the chart and CSV", async function () {
    await page.evaluate(() => RED.actions.invoke("core:show-examples-import-dialog"));
    const tree = page.locator(".red-ui-clipboard-dialog-tabs-content .red-ui-treeList-label");
    await tree.filter({ hasText: "@iot-bridge/node-red" }).click();
    await tree.filter({ hasText: /^history$/ }).click();
    await tree.filter({ hasText: EXAMPLE }).click();
    await snap("import-menu");
    await page.locator("#red-ui-clipboard-dialog-ok").click();
    await page.waitForFunction(() => RED.nodes.filterNodes({ type: "iot-history" }).length === 3);
    // The example comes in a tab of its own, named after it: open it, as the user clicks it.
    await page.evaluate(() => RED.workspaces.show(RED.nodes.filterNodes({ type: "iot-history" })[0].z));
    // The imported nodes follow the mouse until placed.
    await page.mouse.click(600, 500);

    const channel = await page.evaluate(() => {
      let id;
      RED.nodes.eachConfig((n) => {
        if (n.type === "thingspeak-channel") id = n.id;
      });
      return id;
    });
    await page.evaluate((id) => RED.editor.editConfig("", "thingspeak-channel", id), channel);
    await page.locator("#thingspeak-channel-generate-mqtt").click();
    await snap("channel-generated");
    await page.locator("#node-config-dialog-ok").click();
    await page.locator("#node-config-dialog-ok").waitFor({ state: "detached" });

    // The broker's dialog, as a user changes it: a free port on loopback.
    const brokerPort = await freePort();
    const broker = await page.evaluate(() => RED.nodes.filterNodes({ type: "iot-broker" })[0].id);
    await page.evaluate((id) => RED.editor.edit(RED.nodes.node(id)), broker);
    await page.locator("#node-input-port").fill(String(brokerPort));
    await page.locator("#node-input-bind").fill("127.0.0.1");
    assert.equal(await page.locator("#node-input-persistence").inputValue(), "sqlite");
    await page.locator("#node-dialog-ok").click();
    await page.locator("#node-dialog-ok").waitFor({ state: "detached" });

    const posted = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/flows");
    await page.locator("#red-ui-header-button-deploy").click();
    assert.equal((await posted).status(), 200);
    await page.locator("#red-ui-header-button-deploy.disabled").waitFor();

    // The simulated sensor writes its first entry a second after the deploy; the chart page shows it.
    let html = "";
    await until(async () => {
      html = await (await fetch(`${editor.base}/garden/chart`)).text();
      return /\((?:[1-9]\d*) points\)/.test(html);
    }, 20_000, "the chart page to show the sensor's first point");
    assert.match(html, /<polyline points=/);
    const csv = await fetch(`${editor.base}/garden/history.csv`);
    assert.equal(csv.status, 200);
    assert.match(await csv.text(), /^time,ts,value\n\S+Z,\d+,\d+(\.\d+)?\n/);
    const db = path.join(editor.userDir, "iot-bridge", `${broker}.sqlite`);
    assert.ok(fs.existsSync(db), `the history is in ${db}`);
    // "1 point" or "N points": the status of a history node that answered.
    await page.waitForFunction(() => $(".red-ui-flow-node-status-label").filter((_i, el) => /\d+ points?\b/.test(el.textContent)).length > 0, undefined, { timeout: 30_000 });
    await snap("deployed");

    const errors = editor.output().split("\n").filter((line) => /\[error\]/.test(line));
    assert.deepEqual(errors, [], "Node-RED logged errors");
    assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
  });
});
