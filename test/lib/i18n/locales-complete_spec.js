"use strict";
// Every language Node-RED's editor ships has every catalog key and every help page of en-US:
// a key added in en-US alone fails here, as does a placeholder (`__value__`) a translation lost,
// a key a translation kept after en-US dropped it, or a help page for another node type.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..", "..", "..");
const locales = path.join(root, "locales");
const SOURCE = "en-US";
// The languages of Node-RED's own editor (node_modules/@node-red/editor-client/locales).
const LANGUAGES = ["de", "es-ES", "fr", "ja", "ko", "pt-BR", "ru", "zh-CN", "zh-TW"];

/** { "a.b.c": "text" } of a catalog's nested object. */
function flatten(value, prefix = "", out = {}) {
  for (const [key, v] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (v !== null && typeof v === "object") flatten(v, name, out);
    else out[name] = v;
  }
  return out;
}

const placeholders = (text) => [...String(text).matchAll(/__[A-Za-z0-9_-]+__/g)].map((m) => m[0]).sort();
const helpNames = (html) => [...html.matchAll(/data-help-name="([^"]+)"/g)].map((m) => m[1]).sort();
const sourceFiles = fs.readdirSync(path.join(locales, SOURCE)).filter((f) => /\.(json|html)$/.test(f)).sort();

describe("locales: every language has every key", function () {
  it("covers the languages Node-RED's editor ships", function () {
    const editorLocales = path.join(path.dirname(require.resolve("@node-red/editor-client/package.json")), "locales");
    const shipped = fs.readdirSync(editorLocales).filter((d) => d !== SOURCE && d !== "en" && fs.statSync(path.join(editorLocales, d)).isDirectory());
    for (const lang of shipped) assert.ok(LANGUAGES.includes(lang), `Node-RED's editor ships ${lang}: add it to LANGUAGES and translate it`);
  });

  for (const lang of LANGUAGES) {
    describe(lang, function () {
      const dir = path.join(locales, lang);

      it("has the same files as en-US and no others", function () {
        assert.ok(fs.existsSync(dir), `locales/${lang} is missing`);
        const files = fs.readdirSync(dir).filter((f) => /\.(json|html)$/.test(f)).sort();
        assert.deepEqual(files, sourceFiles);
      });

      for (const file of sourceFiles.filter((f) => f.endsWith(".json"))) {
        it(`${file}: every key, with its placeholders, translated`, function () {
          const source = flatten(JSON.parse(fs.readFileSync(path.join(locales, SOURCE, file), "utf8")));
          const target = path.join(dir, file);
          assert.ok(fs.existsSync(target), `locales/${lang}/${file} is missing`);
          const translated = flatten(JSON.parse(fs.readFileSync(target, "utf8")));
          const missing = Object.keys(source).filter((k) => !(k in translated));
          const extra = Object.keys(translated).filter((k) => !(k in source));
          assert.deepEqual(missing, [], `keys missing in locales/${lang}/${file}`);
          assert.deepEqual(extra, [], `keys in locales/${lang}/${file} that en-US no longer has`);
          const wrong = Object.keys(source).filter((k) => typeof translated[k] !== "string" || translated[k].trim() === "" || placeholders(translated[k]).join() !== placeholders(source[k]).join());
          assert.deepEqual(wrong, [], `empty values or placeholders other than en-US's in locales/${lang}/${file}`);
          // Product names and codes stay as they are, but a catalog all in English was not translated.
          const keys = Object.keys(source);
          if (keys.length > 5) assert.ok(keys.some((k) => translated[k] !== source[k]), `locales/${lang}/${file} is en-US's text`);
        });
      }

      for (const file of sourceFiles.filter((f) => f.endsWith(".html"))) {
        it(`${file}: the help page of the same node types, translated`, function () {
          const target = path.join(dir, file);
          assert.ok(fs.existsSync(target), `locales/${lang}/${file} is missing`);
          const source = fs.readFileSync(path.join(locales, SOURCE, file), "utf8");
          const translated = fs.readFileSync(target, "utf8");
          assert.deepEqual(helpNames(translated), helpNames(source));
          assert.notEqual(translated, source, `locales/${lang}/${file} is en-US's page`);
        });
      }
    });
  }
});
