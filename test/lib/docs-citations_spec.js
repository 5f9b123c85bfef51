"use strict";
// Code comments cite the design documents as `docs/PROTOCOLS.md 4.2` or `docs/ARCHITECTURE.md 3.4`.
// This spec keeps those citations true: the cited file must exist in the repository, every cited
// section number must be a numbered heading of it, and every source tag (TS-PUB, TB-MQTT, B-AUTH)
// a comment in nodes/ names must be listed in docs/PROTOCOLS.md.
const assert = require("node:assert/strict");
const { readFileSync, readdirSync, existsSync } = require("node:fs");
const { join, relative } = require("node:path");

const root = join(__dirname, "..", "..");
const SCANNED = ["nodes", "test", "bench", "scripts"];
const SKIPPED_DIRS = new Set(["node_modules", "dist", "results", ".nr5", "certs"]);
const EXTENSIONS = /\.(ts|js|mjs|cjs|html|sh)$/;
const DESIGN_DOCS = ["PROTOCOLS", "ARCHITECTURE", "CONVENTIONS", "BLYNK-BINARY", "FINDINGS", "RELIABILITY", "CONTRIBUTING"];
// Where each design document lives; any other place cited for it is wrong.
const HOME = { CONTRIBUTING: "CONTRIBUTING.md" };
const homeOf = (name) => HOME[name] ?? `docs/${name}.md`;

const CITATION = new RegExp(`((?:[\\w.-]+/)*)(${DESIGN_DOCS.join("|")})\\.md\\b`, "g");
const SECTION = "\\d+(?:\\.\\d+)*";
// After the file name: an optional "section", then numbers joined by ",", "-", "–" or "and",
// possibly across a comment's line break (" * ", "// ").
const SECTIONS = new RegExp(`^\\s*(?:section\\s+|§\\s*)?(${SECTION}(?:\\s*(?:,|-|–|and)[\\s*/]*${SECTION})*)`);
const SOURCE_TAG = /\b(?:B|TB|TS)-[A-Z0-9]+(?:-[A-Z0-9]+)*\b/g;

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : filesUnder(path);
    return EXTENSIONS.test(entry.name) && path !== __filename ? [path] : [];
  });
}

/** Every citation in `text`: the path as written, the document's name, the section numbers, the line. */
function citationsIn(text) {
  const found = [];
  for (const match of text.matchAll(CITATION)) {
    const after = text.slice(match.index + match[0].length);
    const list = SECTIONS.exec(after)?.[1];
    const sections = list === undefined ? [] : list.match(new RegExp(SECTION, "g"));
    found.push({ path: match[0], name: match[2], sections, line: text.slice(0, match.index).split("\n").length });
  }
  return found;
}

/** The numbers of a markdown file's numbered headings ("## 3. Title" -> "3", "### 3.4 Title" -> "3.4"). */
function headingNumbers(markdown) {
  const numbers = new Set();
  for (const line of markdown.split("\n")) {
    const m = /^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/.exec(line);
    if (m) numbers.add(m[1]);
  }
  return numbers;
}

/** Problems with one citation, in words (empty when it resolves). */
function problemsOf(citation, readDoc) {
  const home = homeOf(citation.name);
  if (citation.path !== home) return [`cites "${citation.path}"; write "${home}"`];
  const doc = readDoc(home);
  if (doc === undefined) return [`cites ${home}, which does not exist`];
  const numbers = headingNumbers(doc);
  return citation.sections.filter((s) => !numbers.has(s)).map((s) => `cites ${home} ${s}, which has no heading numbered ${s}`);
}

function readDocFromRepo(path) {
  const full = join(root, path);
  return existsSync(full) ? readFileSync(full, "utf8") : undefined;
}

describe("design document citations", function () {
  const sources = SCANNED.flatMap((dir) => filesUnder(join(root, dir))).map((path) => ({
    file: relative(root, path),
    text: readFileSync(path, "utf8"),
  }));

  it("finds citations, and flags a wrong path or a missing section", function () {
    const docs = { "docs/PROTOCOLS.md": "# P\n## 4. ThingsBoard\n### 4.2 Topics\n### 4.5 HTTP\n" };
    const read = (path) => docs[path];
    const text = "/**\n * Payloads (docs/PROTOCOLS.md 4.2,\n * 4.5) and (docs/PROTOCOLS.md 4.2-4.3); see PROTOCOLS.md 4.2 and docs/FINDINGS.md.\n */";
    const found = citationsIn(text);
    assert.deepEqual(found.map((c) => [c.path, c.sections, c.line]), [
      ["docs/PROTOCOLS.md", ["4.2", "4.5"], 2],
      ["docs/PROTOCOLS.md", ["4.2", "4.3"], 3],
      ["PROTOCOLS.md", ["4.2"], 3],
      ["docs/FINDINGS.md", [], 3],
    ]);
    assert.deepEqual(found.map((c) => problemsOf(c, read)), [
      [],
      ["cites docs/PROTOCOLS.md 4.3, which has no heading numbered 4.3"],
      ['cites "PROTOCOLS.md"; write "docs/PROTOCOLS.md"'],
      ["cites docs/FINDINGS.md, which does not exist"],
    ]);
  });

  it("every citation in nodes/, test/, bench/ and scripts/ names a document and sections that exist", function () {
    const problems = [];
    let count = 0;
    for (const { file, text } of sources) {
      for (const citation of citationsIn(text)) {
        count++;
        for (const problem of problemsOf(citation, readDocFromRepo)) problems.push(`${file}:${citation.line}: ${problem}`);
      }
    }
    assert.deepEqual(problems, [], `unresolved citations:\n${problems.join("\n")}`);
    assert.ok(count >= 30, `only ${count} citations found: has the citation pattern stopped matching?`);
  });

  it("every source tag named in nodes/ is listed in docs/PROTOCOLS.md", function () {
    const protocols = readDocFromRepo("docs/PROTOCOLS.md") ?? "";
    const listed = new Set(protocols.match(SOURCE_TAG) ?? []);
    const problems = [];
    for (const { file, text } of sources.filter((s) => s.file.startsWith("nodes"))) {
      for (const match of text.matchAll(SOURCE_TAG)) {
        if (!listed.has(match[0])) problems.push(`${file}:${text.slice(0, match.index).split("\n").length}: source ${match[0]} is not in docs/PROTOCOLS.md`);
      }
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });
});
