// Node-RED embedded the way users run it, for the benchmarks and the soak: the devDependency's
// runtime with RED.init + RED.start on an express server, editor and admin API on 127.0.0.1 at a
// free port, a flows file in `userDir` with credentials in clear (a throwaway userDir).
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

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
