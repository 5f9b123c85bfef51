"use strict";
/* global RED, window */
// Every example as a user meets it in Node-RED's real editor (Debian's chromium, playwright-core):
// its file content imported with RED.view.importNodes (what Import > Examples does with it; the
// menu itself is walked by iot-history-example_spec.js) lands in a tab named after the example,
// with no overlapping nodes as the editor draws them, and no console problem. The examples that
// need no account (a local iot-broker, every device on it or on loopback) are then deployed, with
// their broker ports moved to free loopback ports, and show no red status and log no error.
// Dashboard 2.0 is not installed here: its nodes import as unknown types; they are removed before
// the deploy (as Node-RED would not start a flow with unknown types), so the rest is deployed.
// Screenshots of each example go to a temp folder (printed; SCREENSHOT_DIR overrides it).
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const randomText = (length) => crypto.randomBytes(length).toString("base64").replace(/[^A-Za-z0-9]/g, "").padEnd(length, "x").slice(0, length);
// The en-US "connecting" statuses of the device config nodes (the editor shows the translated text).
const CONNECTING = ["blynk-device", "thingsboard-device", "thingspeak-channel"].map((type) => require(`../../locales/en-US/${type}.json`)[type].status.connecting);
const EXAMPLES = path.join(__dirname, "..", "..", "examples");
const START_TAB = "e0e0e0e0e0e00001";
/** Least horizontal room between two nodes side by side, px (ports stick out 10 px, debug and inject buttons more). */
const MIN_GAP = 20;

/** Every example file, as "<folder>/<file>", in the order the Import menu lists them. */
function exampleFiles(dir = EXAMPLES, prefix = "") {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? exampleFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : e.name.endsWith(".json") ? [`${prefix}${e.name}`] : []));
}

const DEVICE_CONFIGS = new Set(["blynk-device", "thingsboard-device", "thingspeak-channel", "blynk-fleet", "thingsboard-fleet"]);
const LOOPBACK = /^[a-z]+s?:\/\/(127\.0\.0\.1|localhost)[:/]/;

/** Needs no account: it runs a broker, and every device it uses is hosted there or on loopback. */
function needsNoAccount(flow) {
  if (!flow.some((n) => n.type === "iot-broker")) return false;
  return flow.filter((n) => DEVICE_CONFIGS.has(n.type)).every((n) => n.connection === "local" || n.connection === undefined || LOOPBACK.test(n.server ?? ""));
}

/** The flow with each broker's ports moved to free ones on loopback, and every client pointed at them. */
async function onFreePorts(flow) {
  const moved = new Map();
  for (const broker of flow.filter((n) => n.type === "iot-broker")) {
    for (const key of ["port", "blynkPort", "blynkTlsPort", "wsPort"]) {
      if (broker[key] !== undefined && broker[key] !== "") moved.set(String(broker[key]), String(await freePort()));
    }
  }
  const patch = (value) => {
    if (typeof value === "string") {
      if (moved.has(value)) return moved.get(value);
      return value.replace(/(127\.0\.0\.1|localhost):(\d+)/g, (all, host, port) => (moved.has(port) ? `${host}:${moved.get(port)}` : all));
    }
    if (typeof value === "number" && moved.has(String(value))) return Number(moved.get(String(value)));
    if (Array.isArray(value)) return value.map(patch);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "id" || k === "z" ? v : patch(v)]));
    return value;
  };
  return flow.map((n) => ({ ...patch(n), ...(n.type === "iot-broker" ? { bind: "127.0.0.1" } : {}) }));
}

describe(`every example imports into a named tab; those needing no account deploy with no red status (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(120_000);
  let editor;
  let browser;
  let page;
  let shots;
  let shot = 0;
  let logged = 0;

  before(async function () {
    skipWithoutChromium(this);
    shots = screenshotFolder("examples");
    console.log(`      screenshots: ${shots}`);
    const starting = startNodeRedEditor({ flows: [{ id: START_TAB, type: "tab", label: "Flow 1", disabled: false, info: "" }] });
    const started = await Promise.allSettled([starting, launchChromium({ allowOrigin: starting.then((e) => e.base) })]);
    [editor, browser] = started.map((r) => (r.status === "fulfilled" ? r.value : undefined));
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(editor.base + "/", { timeout: 45_000 });
    await page.waitForFunction((tab) => window.RED && RED.nodes && RED.nodes.workspace(tab), START_TAB);
    assert.deepEqual(browser.takeProblems(), [], "the editor loaded without console problems");
  });

  afterEach(async function () {
    if (this.currentTest.state === "failed" && page) await snap(`failed-${this.currentTest.title.slice(0, 40)}`);
  });

  after(async function () {
    if (browser) await browser.close();
    if (editor) await editor.stop();
  });

  async function snap(name) {
    shot += 1;
    await page.screenshot({ path: path.join(shots, `${String(shot).padStart(2, "0")}-${name.replace(/[^\w.-]+/g, "_")}.png`) });
  }

  /** Deploys what the editor has and waits for Node-RED to take it. */
  async function deploy() {
    const posted = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/flows");
    posted.catch(() => undefined); // the page may close on a failure first
    await page.locator("#red-ui-header-button-deploy").click();
    // The editor asks first when it finds nodes it marks invalid (or unknown): a finding here.
    const confirm = page.locator("#red-ui-deploy-dialog-confirm-deploy-deploy");
    const first = await Promise.race([posted.then(() => "posted"), confirm.waitFor({ timeout: 30_000 }).then(() => "asked", () => "none")]);
    if (first === "asked") {
      const text = await page.locator(".red-ui-notification", { has: confirm }).innerText();
      await page.locator(".red-ui-notification", { has: confirm }).getByRole("button", { name: /cancel/i }).click();
      throw new Error(`the editor asked before deploying: ${text}`);
    }
    assert.equal((await posted).status(), 200);
    await page.locator("#red-ui-header-button-deploy.disabled").waitFor();
  }

  /**
   * What the user enters after an import (exported flows carry no credentials): a token, or the
   * MQTT device credentials and keys, in each device config node the example ships without them.
   * A device on loopback (the example's own simulated device) gets those of the hosted one of its type.
   */
  async function fillCredentials(flow) {
    const made = {
      "blynk-device": () => ({ token: randomText(32) }),
      "thingsboard-device": () => ({ token: randomText(20) }),
      "thingspeak-channel": () => {
        const id = randomText(23);
        return { clientId: id, username: id, password: randomText(24), writeKey: randomText(16).toUpperCase(), readKey: randomText(16).toUpperCase() };
      },
    };
    const given = {};
    for (const n of flow.filter((c) => made[c.type] && !c.credentials && c.connection === "local")) {
      given[n.id] = made[n.type]();
      given[n.type] ??= given[n.id];
    }
    for (const n of flow.filter((c) => made[c.type] && !c.credentials && c.connection !== "local" && LOOPBACK.test(c.server ?? ""))) {
      given[n.id] = given[n.type] ?? made[n.type]();
    }
    await page.evaluate((byId) => {
      for (const [id, credentials] of Object.entries(byId)) {
        const n = RED.nodes.node(id);
        if (!n) continue;
        // As the editor holds typed credentials: the value, and has_<name> for its checks.
        n.credentials = { ...credentials, ...Object.fromEntries(Object.keys(credentials).map((k) => [`has_${k}`, true])) };
        n.changed = true;
        n.dirty = true;
        // The device and the flow nodes using it: the editor marked those invalid with it.
        RED.editor.validateNode(n);
        (n.users || []).forEach((user) => RED.editor.validateNode(user));
      }
      RED.nodes.dirty(true);
      RED.view.redraw(true);
    }, Object.fromEntries(Object.entries(given).filter(([k]) => !made[k])));
  }

  /** Node-RED's error lines since the last call. */
  function newErrors() {
    const lines = editor.output().split("\n");
    const fresh = lines.slice(logged);
    logged = lines.length;
    return fresh.filter((line) => /\[error\]/.test(line));
  }

  for (const file of exampleFiles()) {
    const shipped = JSON.parse(fs.readFileSync(path.join(EXAMPLES, file), "utf8"));
    const deployable = needsNoAccount(shipped);
    it(`${file.replace(/\.json$/, "")}: imports into its named tab${deployable ? ", deploys with no red status" : ""}`, async function () {
      const tab = shipped.find((n) => n.type === "tab");
      assert.ok(tab, "the example has a tab node");
      assert.doesNotMatch(tab.label, /^Flow \d+$/);
      const flow = deployable ? await onFreePorts(shipped) : shipped;

      try {
        await page.evaluate((nodes) => RED.view.importNodes(nodes, { generateIds: false, addFlow: false, touchImport: true, notify: false }), flow);
        await page.waitForFunction((id) => RED.nodes.workspace(id) !== undefined, tab.id);
        await page.evaluate((id) => RED.workspaces.show(id), tab.id);
        const placed = await page.evaluate((id) => {
          const ws = RED.nodes.workspace(id);
          const nodes = RED.nodes.filterNodes({ z: id });
          return { label: ws.label, count: nodes.length };
        }, tab.id);
        assert.equal(placed.label, tab.label);
        assert.equal(placed.count, shipped.filter((n) => n.z === tab.id).length, "every flow node is on the example's tab");

        // Overlaps as the editor draws the nodes (their width comes from the label it renders).
        await page.waitForFunction((id) => RED.nodes.filterNodes({ z: id }).every((n) => n.w > 0 && n.h > 0), tab.id);
        const overlaps = await page.evaluate(({ id, gap }) => {
          const boxes = RED.nodes.filterNodes({ z: id }).map((n) => ({ name: n.name || n.type, x0: n.x - n.w / 2, x1: n.x + n.w / 2, y0: n.y - n.h / 2, y1: n.y + n.h / 2 }));
          const found = [];
          for (let i = 0; i < boxes.length; i++) {
            for (let j = i + 1; j < boxes.length; j++) {
              const [a, b] = [boxes[i], boxes[j]];
              // Side by side they need room for their ports, buttons and a wire (MIN_GAP).
              if (a.x0 < b.x1 + gap && b.x0 < a.x1 + gap && a.y0 < b.y1 && b.y0 < a.y1) found.push(`"${a.name}" and "${b.name}"`);
            }
          }
          return found;
        }, { id: tab.id, gap: MIN_GAP });
        await snap(`${file}-imported`);
        assert.deepEqual(overlaps, [], "nodes drawn over each other");

        if (deployable) {
          // Dashboard 2.0's nodes (not installed here) are unknown types: taken out, the rest deploys.
          const unknown = await page.evaluate((ids) => {
            const gone = [];
            for (const id of ids) {
              const n = RED.nodes.node(id);
              // The editor keeps a node of a type it does not know as type "unknown", named after that type.
              if (n && n.type === "unknown") {
                gone.push(n.name);
                RED.nodes.remove(id);
              }
            }
            RED.nodes.dirty(true);
            RED.view.redraw(true);
            return gone;
          }, flow.map((n) => n.id));
          if (unknown.length > 0) assert.ok(unknown.every((t) => t.startsWith("ui-")), `only Dashboard 2.0 nodes are unknown: ${unknown.join(", ")}`);
          await fillCredentials(flow);
          await deploy();
          const brokers = flow.filter((n) => n.type === "iot-broker").map((n) => n.id);
          await page.waitForFunction((ids) => ids.every((id) => RED.nodes.node(id)?.status?.fill === "green"), brokers, { timeout: 30_000 });
          // Settled: nothing still connecting (a hosted device waiting for its firmware stays a yellow
          // "device offline", which is not a passing state: waiting for every yellow to go cost 8 s an example).
          await page
            .waitForFunction(({ id, connecting }) => RED.nodes.filterNodes({ z: id }).every((n) => !(n.status?.fill === "yellow" && connecting.includes(n.status.text))), { id: tab.id, connecting: CONNECTING }, { timeout: 15_000 })
            .catch(() => undefined);
          await snap(`${file}-deployed`);
          const red = await page.evaluate((id) => RED.nodes.filterNodes({ z: id }).filter((n) => n.status?.fill === "red").map((n) => `${n.name || n.type}: ${n.status.text}`), tab.id);
          assert.deepEqual(red, [], "red statuses after the deploy");
          assert.deepEqual(newErrors(), [], "Node-RED logged errors");
        }
        assert.deepEqual(browser.takeProblems(), [], "the page logged problems");
      } finally {
        // Out again (its tab and config nodes), deployed, so the next example starts from Flow 1 alone.
        await page.evaluate(
          ({ ids, tabId }) => {
            RED.workspaces.show(RED.nodes.workspace("e0e0e0e0e0e00001").id);
            for (const id of ids) if (id !== tabId && RED.nodes.node(id)) RED.nodes.remove(id);
            RED.workspaces.delete(RED.nodes.workspace(tabId));
            RED.nodes.dirty(true);
          },
          { ids: flow.map((n) => n.id), tabId: tab.id },
        );
        await deploy();
        await page.waitForFunction((ids) => ids.every((id) => !RED.nodes.node(id) && !RED.nodes.workspace(id)), flow.map((n) => n.id));
        newErrors();
        browser.takeProblems();
      }
    });
  }
});
