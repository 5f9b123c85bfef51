"use strict";
/* global RED, $, document, window */
// A dialog in another language: with the browser's locale set to de and to ja (Node-RED 4.1's
// editor ignores ?lang=, FINDINGS 7), the blynk-device dialog shows that language's catalog text
// for every label this package translates, its help is that language's page, and the page logs no
// error. Screenshots go to a temp folder (SCREENSHOT_DIR overrides it).
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { skipWithoutChromium, launchChromium, screenshotFolder } = require("../lib/fixtures/browser");
const { freePort } = require("../lib/fixtures/ports");
const { startNodeRedEditor, nodeRedVersion } = require("./node-red-editor");

const root = path.join(__dirname, "..", "..");
const TAB = "1a9c1a9c1a9c0001";
const BROKER = "1a9c1a9c1a9c0002";
const DEVICE = "1a9c1a9c1a9c0003";
const TYPE = "blynk-device";

function flows(brokerPort) {
  return [
    { id: TAB, type: "tab", label: "Languages", disabled: false, info: "" },
    { id: BROKER, type: "iot-broker", name: "Broker", port: brokerPort, bind: "127.0.0.1", allowAnonymous: false, tls: "", wsPort: "", wsPath: "", persistence: "memory", x: 120, y: 60, z: TAB, wires: [[]] },
    { id: DEVICE, type: TYPE, name: "Heater", connection: "local", broker: BROKER, server: "", tls: "", templateId: "", firmwareVersion: "", timeZone: "", pins: "" },
    { id: "1a9c1a9c1a9c0004", type: "blynk-write", name: "", device: DEVICE, datastream: "Heater", x: 120, y: 140, z: TAB, wires: [] },
  ];
}

/** The value at a dotted key of a catalog, or undefined. */
function lookup(catalog, key) {
  return key.split(".").reduce((v, part) => (v && typeof v === "object" ? v[part] : undefined), catalog);
}

/** What a browser shows of an html text. */
function textOf(html) {
  const entities = { lt: "<", gt: ">", amp: "&", quot: '"', nbsp: "\u00a0", "#39": "'" };
  return html.replace(/<[^>]+>/g, "").replace(/&(lt|gt|amp|quot|nbsp|#39);/g, (_, e) => entities[e]).trim();
}

/** The help page's first paragraph as text (tags dropped, white space folded). */
function firstParagraph(html) {
  const p = /<p>([\s\S]*?)<\/p>/.exec(html);
  return p ? textOf(p[1]).replace(/\s+/g, " ") : "";
}

describe(`a dialog in de and ja in chromium (Node-RED ${nodeRedVersion})`, function () {
  this.timeout(180000);
  let editor;
  let shots;

  before(async function () {
    skipWithoutChromium(this);
    shots = screenshotFolder("language");
    console.log(`      screenshots: ${shots}`);
    editor = await startNodeRedEditor({ flows: flows(await freePort()), credentials: { [DEVICE]: { token: "AbCdEfGhIjKlMnOpQrStUvWxYz012345" } } });
  });

  after(async function () {
    if (editor) await editor.stop();
  });

  for (const lang of ["de", "ja"]) {
    it(`opens the ${TYPE} dialog in ${lang}`, async function () {
      const catalog = JSON.parse(fs.readFileSync(path.join(root, "locales", lang, `${TYPE}.json`), "utf8"));
      const english = JSON.parse(fs.readFileSync(path.join(root, "locales", "en-US", `${TYPE}.json`), "utf8"));
      const help = fs.readFileSync(path.join(root, "locales", lang, `${TYPE}.html`), "utf8");
      const browser = await launchChromium({ allowOrigin: editor.base, locale: lang });
      try {
        const page = await browser.newPage();
        page.setDefaultTimeout(15000);
        await page.goto(editor.base + "/", { waitUntil: "domcontentloaded", timeout: 60000 });
        await page.waitForFunction((id) => window.RED && RED.nodes && RED.nodes.node(id), DEVICE, { timeout: 60000 });
        await page.evaluate(([type, id]) => RED.editor.editConfig("", type, id), [TYPE, DEVICE]);
        await page.locator("#node-config-dialog-ok").waitFor();
        await page.screenshot({ path: path.join(shots, `${lang}-${TYPE}-dialog.png`) });

        // Every element of the dialog that shows a text of this node's catalog: the editor rewrites
        // the template's data-i18n="<type>.<key>" to "<module>/<type>:<type>.<key>".
        const shown = await page.evaluate((type) => {
          const out = [];
          document.querySelectorAll("#node-config-dialog-edit-form [data-i18n]").forEach((el) => {
            for (const part of el.getAttribute("data-i18n").split(";")) {
              const html = part.trim().startsWith("[html]");
              const key = part.trim().replace(/^\[html\]/, "").replace(/^[^:[]*\/[^:]*:/, "");
              if (key.startsWith(type + ".")) out.push({ key, html, text: el.textContent.trim() });
            }
          });
          return out;
        }, TYPE);
        assert.ok(shown.length >= 3, `the dialog shows at least three texts of the catalog (found ${shown.length})`);
        for (const { key, html, text } of shown) {
          const expected = lookup(catalog, key);
          assert.equal(typeof expected, "string", `locales/${lang}/${TYPE}.json has ${key}`);
          assert.equal(text, html ? textOf(expected) : expected.trim(), `${key} is shown in ${lang}`);
        }
        assert.ok(shown.some(({ key }) => lookup(english, key) !== lookup(catalog, key)), `the dialog is not in English`);

        // The help Node-RED serves for this browser is the language's page.
        const helpText = await page.evaluate((type) => $(`script[data-help-name="${type}"]`).text(), TYPE);
        const expectedHelp = firstParagraph(help);
        assert.ok(expectedHelp.length > 0, `locales/${lang}/${TYPE}.html has a first paragraph`);
        assert.ok(firstParagraph(helpText) === expectedHelp, `the help is locales/${lang}/${TYPE}.html (got "${firstParagraph(helpText).slice(0, 80)}")`);

        await page.locator("#node-config-dialog-cancel").click();
        await page.locator("#node-config-dialog-cancel").waitFor({ state: "detached" });
        assert.deepEqual(browser.takeProblems(), [], "the page logged errors");
      } finally {
        await browser.close();
      }
    });
  }
});
