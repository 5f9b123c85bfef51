"use strict";
// A real Node-RED (its CLI, the one the specs use: fixtures/node-red-path.js, on the Node running
// mocha) with this package linked into a temp userDir and a given flow, serving the editor on an
// ephemeral loopback port. For the browser specs; needs a built dist/.
//
//   const editor = await startNodeRedEditor({ flows, credentials });
//   editor.base            // "http://127.0.0.1:<port>"
//   editor.userDir         // its temp userDir (removed by stop())
//   await editor.flows()   // GET /flows (admin API v1: the array of nodes)
//   await editor.stop();   // also removes the userDir
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const nodeRedMain = require("../lib/fixtures/node-red-path");

const root = path.resolve(__dirname, "..", "..");
const pkgName = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).name;

/** Folder of the node-red package whose main file (lib/red.js) is `main`. */
function nodeRedDirOf(main) {
  for (let dir = path.dirname(main); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file) && JSON.parse(fs.readFileSync(file, "utf8")).name === "node-red") return dir;
  }
  throw new Error(`no node-red package.json above ${main}`);
}

const nodeRedDir = nodeRedDirOf(nodeRedMain);
const nodeRedVersion = JSON.parse(fs.readFileSync(path.join(nodeRedDir, "package.json"), "utf8")).version;

/** The child's environment without the npm_* variables of an enclosing `npm test`. */
function childEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== "INIT_CWD"));
}

async function startNodeRedEditor({ flows, credentials = {}, startMs = 30000 }) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-editor-"));
  const link = path.join(userDir, "node_modules", ...pkgName.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(root, link, "dir");
  fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flows, null, 2));
  fs.writeFileSync(path.join(userDir, "flows_cred.json"), JSON.stringify(credentials, null, 2));
  const settings = {
    uiHost: "127.0.0.1",
    uiPort: 0,
    flowFile: "flows.json",
    // Plain flows_cred.json: the spec writes it as such.
    credentialSecret: false,
    logging: { console: { level: "info", metrics: false, audit: false } },
    telemetry: { enabled: false, updateNotification: false },
    editorTheme: { tours: false, projects: { enabled: false } },
  };
  fs.writeFileSync(path.join(userDir, "settings.js"), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);

  let output = "";
  const child = spawn(process.execPath, [path.join(nodeRedDir, "red.js"), "--userDir", userDir, "--settings", path.join(userDir, "settings.js")], {
    cwd: userDir,
    env: childEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      const killer = setTimeout(() => child.kill("SIGKILL"), 10000);
      child.kill("SIGTERM");
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(userDir, { recursive: true, force: true });
  }

  let base;
  try {
    base = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Node-RED did not start within ${startMs} ms:\n${output}`)), startMs);
      const onData = (chunk) => {
        output += chunk.toString("utf8");
        const started = /Started flows/.test(output) && /Server now running at (http:\/\/127\.0\.0\.1:\d+)\//.exec(output);
        if (started) {
          clearTimeout(timer);
          resolve(started[1]);
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`Node-RED exited (${signal ?? code}) while starting:\n${output}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    base,
    userDir,
    nodeRedVersion,
    output: () => output,
    async flows() {
      const res = await fetch(`${base}/flows`, { headers: { "Node-RED-API-Version": "v1" } });
      if (res.status !== 200) throw new Error(`GET /flows answered ${res.status}`);
      return res.json();
    },
    stop,
  };
}

module.exports = { startNodeRedEditor, nodeRedVersion };
