"use strict";
// The published artefact, end to end: `npm pack` this package, install the tarball into a fresh
// userDir, start Node-RED through its real CLI (red.js) on a loopback port and ask its admin HTTP
// API whether every node set loaded with its editor html, help, message catalog, icons and
// examples. Runs against the Node-RED the specs use (NODE_RED_PATH, see fixtures/node-red-path.js)
// with the Node that runs mocha, so the Node-RED 5 lane (scripts/test-node-red-5.sh) covers it too.
// Needs a built dist/ (`npm test` builds first through `pretest`).
const assert = require("node:assert/strict");
const { execFile, spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { promisify } = require("node:util");
const nodeRedMain = require("../lib/fixtures/node-red-path");

const execFileP = promisify(execFile);
const root = path.resolve(__dirname, "..", "..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const nodeSets = Object.entries(pkg["node-red"].nodes); // [setName, "dist/nodes/<x>.js"]

/** Folder of the node-red package whose main file is `main` (node-red/lib/red.js). */
function packageDirOf(main) {
  for (let dir = path.dirname(main); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file) && JSON.parse(fs.readFileSync(file, "utf8")).name === "node-red") return dir;
  }
  throw new Error(`no node-red package.json above ${main}`);
}
const nodeRedDir = packageDirOf(nodeRedMain);
const nodeRedVersion = JSON.parse(fs.readFileSync(path.join(nodeRedDir, "package.json"), "utf8")).version;

/**
 * The environment of a child npm/Node-RED: without the npm_* variables of an enclosing `npm test`,
 * and without node_modules/.bin on PATH, so `npm` is the user's npm and not the npm 10 that
 * node-red's registry depends on (which runs `prepare` on `npm pack --ignore-scripts`).
 */
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== "INIT_CWD") env[k] = v;
  }
  env.PATH = (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((p) => p && !/[\\/]node_modules[\\/]\.bin[\\/]?$/.test(p))
    .join(path.delimiter);
  return env;
}

/** Resolves with the first match of `pattern` in the child's output; rejects on exit or deadline. */
function waitForOutput(child, pattern, ms) {
  return new Promise((resolve, reject) => {
    let seen = "";
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.stderr.off("data", onData);
      child.off("exit", onExit);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Node-RED did not report ${pattern} within ${ms} ms. Output:\n${seen}`));
    }, ms);
    function onData(chunk) {
      seen += chunk.toString("utf8");
      const m = pattern.exec(seen);
      if (m) {
        cleanup();
        resolve(m);
      }
    }
    function onExit(code, signal) {
      cleanup();
      reject(new Error(`Node-RED exited (${signal ?? code}) before reporting ${pattern}. Output:\n${seen}`));
    }
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", onExit);
  });
}

/** Stops the child (SIGTERM, then SIGKILL after a deadline) and resolves once it has exited. */
function stopChild(child, ms = 10000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Splits GET /nodes (text/html) into the part each node set contributes. */
function htmlOfSet(allHtml, setId) {
  const marker = `<!-- --- [red-module:${setId}] --- -->`;
  const start = allHtml.indexOf(marker);
  if (start < 0) return null;
  const next = allHtml.indexOf("<!-- --- [red-module:", start + marker.length);
  return allHtml.slice(start, next < 0 ? undefined : next);
}

/** Node types registered in editor html, with their palette category (as the scorecard parses it). */
function registeredTypes(html) {
  const types = new Map();
  const parts = html.split(/RED\.nodes\.registerType\(\s*/).slice(1);
  for (const part of parts) {
    const m = /^["']([^"']+)["']/.exec(part);
    if (!m) continue;
    const category = /category\s*:\s*["']([^"']+)["']/.exec(part);
    types.set(m[1], category ? category[1] : "");
  }
  return types;
}

describe(`packed tarball in Node-RED ${nodeRedVersion} (CLI) on Node ${process.version}`, function () {
  let tmp;
  let userDir;
  let tarball;
  let entries; // paths inside the tarball, without the leading "package/"
  let child;
  let base; // http://127.0.0.1:<port>/

  async function get(route, accept = "application/json", lang = "en-US") {
    const res = await fetch(new URL(route, base), { headers: { Accept: accept, "Accept-Language": lang } });
    return res;
  }
  async function getJson(route) {
    const res = await get(route);
    assert.equal(res.status, 200, `GET ${route} answered ${res.status}`);
    return res.json();
  }

  before(async function () {
    this.timeout(60000);
    for (const [name, file] of nodeSets) {
      assert.ok(fs.existsSync(path.join(root, file)), `node set ${name}: ${file} is not built (run npm run build)`);
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-pack-"));
    const env = childEnv();

    // 1. Pack. --ignore-scripts: `prepare` (the build) already ran in pretest; the tarball must carry dist/.
    const packed = await execFileP("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], {
      cwd: root,
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
    tarball = path.join(tmp, JSON.parse(packed.stdout)[0].filename);
    const listed = await execFileP("tar", ["-tzf", tarball], { maxBuffer: 16 * 1024 * 1024 });
    entries = listed.stdout
      .split("\n")
      .filter(Boolean)
      .map((e) => e.replace(/^package\//, ""));

    // 2. Install it into a fresh userDir the way a user would (from the registry, here a tarball);
    //    no lifecycle scripts, so nothing can build what the tarball lacks.
    userDir = path.join(tmp, "userDir");
    fs.mkdirSync(userDir);
    fs.writeFileSync(path.join(userDir, "package.json"), JSON.stringify({ name: "iotb-pack-e2e", private: true }));
    await execFileP(
      "npm",
      ["install", "--no-audit", "--no-fund", "--prefer-offline", "--omit=dev", "--ignore-scripts", tarball],
      { cwd: userDir, env, maxBuffer: 16 * 1024 * 1024 },
    );

    // 3. Node-RED's real CLI, editor on an ephemeral loopback port (uiPort 0; the log names the real one).
    const settings = path.join(tmp, "settings.js");
    fs.writeFileSync(
      settings,
      `module.exports = ${JSON.stringify(
        {
          uiHost: "127.0.0.1",
          uiPort: 0,
          flowFile: "flows.json",
          credentialSecret: "iotb-pack-e2e",
          logging: { console: { level: "info", metrics: false, audit: false } },
          telemetry: { enabled: false, updateNotification: false },
          editorTheme: { tours: false, projects: { enabled: false } },
        },
        null,
        2,
      )};\n`,
    );
    child = spawn(process.execPath, [path.join(nodeRedDir, "red.js"), "--userDir", userDir, "--settings", settings], {
      cwd: tmp,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const m = await waitForOutput(child, /http:\/\/127\.0\.0\.1:(\d+)\//, 30000);
    base = `http://127.0.0.1:${m[1]}/`;
  });

  after(async function () {
    this.timeout(20000);
    await stopChild(child);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("ships dist/ (js, html, locales, icons) and examples, and nothing of the sources or tooling", function () {
    const has = (p) => entries.includes(p);
    for (const must of ["package.json", "README.md", "LICENSE", "CHANGELOG.md"]) {
      assert.ok(has(must), `tarball lacks ${must}`);
    }
    for (const [name, file] of nodeSets) {
      assert.ok(has(file), `tarball lacks ${file}`);
      assert.ok(has(file.replace(/\.c?js$/, ".html")), `tarball lacks the editor html of ${name}`);
      const stem = path.basename(file).replace(/\.c?js$/, "");
      const catalogs = entries.filter((e) => e.startsWith(`${path.dirname(file)}/locales/`) && e.endsWith(`/${stem}.json`));
      assert.ok(catalogs.length > 0, `tarball lacks a message catalog locales/<lang>/${stem}.json for ${name}`);
    }
    // everything the repository has in icons/ and examples/ is shipped
    const repoFiles = (dir) =>
      fs.existsSync(path.join(root, dir))
        ? fs.readdirSync(path.join(root, dir), { recursive: true }).filter((f) => fs.statSync(path.join(root, dir, f)).isFile())
        : [];
    for (const icon of repoFiles("icons")) assert.ok(has(`dist/nodes/icons/${icon}`), `tarball lacks icon ${icon}`);
    const examples = repoFiles("examples").filter((f) => f.endsWith(".json"));
    assert.ok(examples.length > 0, "the repository has no examples/*.json");
    for (const ex of examples) assert.ok(has(`examples/${ex}`), `tarball lacks examples/${ex}`);

    const forbidden = entries.filter(
      (e) =>
        /^(test|bench|\.ci|scripts|nodes|src|coverage|\.node-red|\.nr5|node_modules)\//.test(e) ||
        /\.ts$/.test(e) ||
        /^(tsconfig\.json|eslint\.config\.mjs|\.mocharc\.json|package-lock\.json)$/.test(e),
    );
    assert.deepEqual(forbidden, [], "tarball ships files that are not for users");
  });

  it("loads every node set of package.json from the installed tarball, enabled and without error", async function () {
    const mod = await getJson(`nodes/${pkg.name}`);
    assert.equal(mod.version, pkg.version);
    assert.equal(
      fs.realpathSync(mod.path),
      fs.realpathSync(path.join(userDir, "node_modules", pkg.name)),
      "the module was not loaded from the userDir installation",
    );
    const list = await getJson("nodes");
    for (const [name] of nodeSets) {
      const id = `${pkg.name}/${name}`;
      const set = list.find((s) => s.id === id);
      assert.ok(set, `GET /nodes does not list ${id}; module sets: ${JSON.stringify(list.filter((s) => s.module === pkg.name))}`);
      assert.equal(set.err, undefined, `${id} failed to load: ${set.err}`);
      assert.equal(set.enabled, true, `${id} is not enabled`);
      assert.ok(set.types.length > 0, `${id} registers no node type`);
    }
  });

  it("loads the iot-bridge-devices plugin (the IoT devices sidebar) with its catalog and its scripts", async function () {
    const id = `${pkg.name}/iot-bridge-devices`;
    const plugin = (await getJson("plugins")).find((p) => p.id === id);
    assert.ok(plugin, `GET /plugins does not list ${id}`);
    assert.equal(plugin.err, undefined, `${id} failed to load: ${plugin.err}`);
    const catalogs = await getJson("plugins/messages?lng=en-US");
    assert.equal(catalogs[id]?.sidebar?.label, "IoT devices");
    const html = await (await get("plugins", "text/html")).text();
    assert.match(html, /resources\/@iot-bridge\/node-red\/devices-sidebar\.js/);
    for (const file of ["devices-sidebar.js", "devices-view.js"]) {
      const res = await get(`resources/${pkg.name}/${file}`, "*/*");
      assert.equal(res.status, 200, `resources/${file} is not served`);
    }
    assert.equal((await get("iot-bridge/devices")).status, 200, "the snapshot endpoint answers");
  });

  it("serves a non-empty en-US message catalog for every node set", async function () {
    for (const [name] of nodeSets) {
      const catalog = await getJson(`locales/${pkg.name}/${name}?lng=en-US`);
      assert.ok(Object.keys(catalog).length > 0, `empty catalog for ${name}`);
    }
  });

  it("serves the editor template and help text of every node type", async function () {
    const list = await getJson("nodes");
    const res = await get("nodes", "text/html");
    assert.equal(res.status, 200);
    const html = await res.text();
    for (const [name] of nodeSets) {
      const id = `${pkg.name}/${name}`;
      const part = htmlOfSet(html, id);
      assert.ok(part, `GET /nodes (html) has no section for ${id}`);
      for (const type of list.find((s) => s.id === id).types) {
        assert.match(part, new RegExp(`data-template-name=["']${type}["']`), `no editor template for ${type}`);
        assert.match(part, new RegExp(`data-help-name=["']${type}["']`), `no help text for ${type}`);
      }
    }
  });

  it("lists the package's icons and serves them byte for byte", async function () {
    const iconDir = path.join(root, "icons");
    const icons = fs.existsSync(iconDir) ? fs.readdirSync(iconDir).filter((f) => /\.(svg|png|gif)$/.test(f)) : [];
    if (icons.length === 0) this.skip(); // the nodes use core icons only
    const all = await getJson("icons");
    const ours = all[pkg.name] ?? [];
    for (const icon of icons) {
      assert.ok(ours.includes(icon), `GET /icons does not list ${icon} under ${pkg.name}: ${JSON.stringify(ours)}`);
      const res = await get(`icons/${pkg.name}/${icon}`, "*/*");
      assert.equal(res.status, 200);
      const served = Buffer.from(await res.arrayBuffer());
      assert.ok(served.equals(fs.readFileSync(path.join(iconDir, icon))), `${icon} is not served as shipped (default icon?)`);
    }
  });

  it("offers the examples in the library, each a flow, covering every non-config node type", async function () {
    const shipped = entries
      .filter((e) => e.startsWith("examples/") && e.endsWith(".json"))
      .map((e) => e.slice("examples/".length, -".json".length))
      .sort();
    // walk the examples tree of the module as the editor's Import > Examples menu does
    const found = [];
    async function walk(prefix) {
      const listing = await getJson(`library/examples/flows/${pkg.name}${prefix ? `/${prefix}` : ""}`);
      for (const entry of listing) {
        if (typeof entry === "string") await walk(prefix ? `${prefix}/${entry}` : entry);
        else found.push(prefix ? `${prefix}/${entry.fn}` : entry.fn);
      }
    }
    await walk("");
    assert.deepEqual(found.sort(), shipped);

    const used = new Set();
    for (const name of found) {
      const flow = await getJson(`library/examples/flows/${pkg.name}/${name}`);
      assert.ok(Array.isArray(flow) && flow.length > 0, `example ${name} is not a flow`);
      for (const n of flow) used.add(n.type);
    }
    const res = await get("nodes", "text/html");
    const html = await res.text();
    for (const [name] of nodeSets) {
      for (const [type, category] of registeredTypes(htmlOfSet(html, `${pkg.name}/${name}`) ?? "")) {
        if (category !== "config") assert.ok(used.has(type), `no example flow uses ${type}`);
      }
    }
  });
});
