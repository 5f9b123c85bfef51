// Node-RED embedded the way users run it, for the benchmarks and the soak: the devDependency's
// runtime with RED.init + RED.start on an express server, editor and admin API on 127.0.0.1 at a
// free port, a flows file in `userDir` with credentials in clear (a throwaway userDir).
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

/** This repository: the package the benchmarks install into a userDir. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Installs this package into `userDir` the way `npm start` does (a symlink in its node_modules),
 * so Node-RED loads all of its nodes. Returns the package's name.
 */
export function linkPackage(userDir) {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const link = join(userDir, "node_modules", ...pkg.name.split("/"));
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(ROOT, link, "dir");
  writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "bench-userdir", private: true, dependencies: { [pkg.name]: "file:" + ROOT } }));
  return pkg.name;
}

const QUIET = { console: { level: "warn", metrics: false, audit: false } };

/**
 * Starts Node-RED on `userDir`; `logging` replaces the default (warnings and errors on the console).
 * Resolves with the runtime, its HTTP server (listening) and Node-RED's version.
 */
export async function startEmbeddedNodeRed({ userDir, logging = QUIET }) {
  const nodeRedDir = dirname(require.resolve("node-red/package.json"));
  const nodeRedVersion = JSON.parse(readFileSync(join(nodeRedDir, "package.json"), "utf8")).version;
  const RED = require("node-red");
  const express = require(require.resolve("express", { paths: [nodeRedDir] }));
  const app = express();
  const server = createServer(app);
  const settings = {
    userDir,
    flowFile: "flows.json",
    credentialSecret: false,
    uiHost: "127.0.0.1",
    uiPort: 0,
    httpAdminRoot: "/",
    httpNodeRoot: "/api",
    logging,
    telemetry: { enabled: false, updateNotification: false },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    externalModules: { palette: { allowInstall: false } },
    editorTheme: { projects: { enabled: false }, tours: false },
  };
  RED.init(server, settings);
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);
  try {
    await new Promise((ok, fail) => {
      server.once("error", fail);
      server.listen(0, "127.0.0.1", ok);
    });
    await RED.start();
  } catch (err) {
    server.close();
    throw err;
  }
  return { RED, server, nodeRedVersion };
}
