"use strict";
// Functions given to page.evaluate run in the editor page, where these are defined.
/* global window, document, $, RED */
// Secret scans on a real Node-RED (the `npm start` userDir in a temp dir): a broker with users
// (one added through the editor's hashing endpoint, one hand-written with a clear-text password),
// hosted devices of every platform, cloud-mode devices with tokens of their own, two deploys and
// failed logins over MQTT and HTTP. Then no password, token or key may appear in Node-RED's log,
// in node status or broker events (both routed to the log), in GET /flows, in
// GET /credentials/<type>/<id> of any node of this package, or in clear in any file of the userDir.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { connect, connectRefused } = require("../lib/fixtures/engine.js");
const { readCredentials } = require("../lib/fixtures/node-red-credentials.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { until } = require("../support/wait.js");
const { verifyPassword } = require("../../dist/nodes/lib/broker/password-hash.js");
const { chromium } = require("playwright-core");

const root = path.join(__dirname, "..", "..");
const PACKAGE = "@iot-bridge/node-red";
const BROKER = "b0d9e1a1c0de0004"; // the demo broker (scripts/start.mjs)
const BROKER_EVENTS = "b0d9e1a1c0de0005"; // the debug node on its output
const HOSTED = { blynk: "b0d9e1a1c0de0102", tb: "b0d9e1a1c0de0202", ts: "b0d9e1a1c0de0302" };
const TS_CHANNEL = 100001;
const DEMO_PASSWORD = "iot-bridge-demo";

/** Distinct, recognisable secrets of this run (long enough that no other text contains one by chance). */
const mine = (label) => `${label}-${Math.random().toString(36).slice(2, 10)}${Date.now().toString(36)}`;
const S = {
  scanPassword: mine("ScanUserPw"),
  legacyPassword: mine("LegacyUserPw"),
  wrongDemo: mine("WrongDemoPw"),
  wrongScan: mine("WrongScanPw"),
  wrongTbToken: mine("WrongTbTok"),
  wrongBlynkToken: mine("WrongBlynkTok"),
  // Shaped like a legacy token (32 letters and digits): the legacy HTTP API answers it "Invalid token.".
  wrongLegacyToken: mine("WrongLegacyTok").replace(/[^A-Za-z0-9]/g, "").padEnd(32, "0").slice(0, 32),
  wrongTsKey: mine("WRONGTSKEY"),
  cloudBlynkToken: mine("CloudBlynkTok"),
  cloudTbToken: mine("CloudTbTok"),
  cloudTsPassword: mine("CloudTsPw"),
  cloudTsWriteKey: mine("CLOUDTSWRITE"),
  editorPassword: mine("EditorUserPw"),
};

describe("hostile: secrets stay out of logs, status, events, flows, the credentials API and files", function () {
  this.timeout(120000); // a cold Node-RED, Chromium and two deploys
  let child;
  let userDir;
  let output = "";
  let api;
  let secrets; // every secret to look for: ours above plus the demo's generated tokens and keys
  let mqttUrl;

  /** Node-RED's admin API (JSON in and out). */
  const request = async (method, url, body, headers = {}) => {
    const res = await fetch(api + url, {
      method,
      headers: { "Content-Type": "application/json", "Node-RED-API-Version": "v2", ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${url}: ${res.status} ${text}`);
    return text;
  };

  const deploy = async (flows, rev) => {
    await request("POST", "flows", { rev, flows }, { "Node-RED-Deployment-Type": "full" });
    // Wait for the new broker to listen (the deploy answers before the flows have restarted).
    const listening = output.split("MQTT broker listening").length;
    await until(() => output.split("MQTT broker listening").length > listening, 20000, "the broker to restart");
  };

  /** Routes every node status (a status node per tab) and the broker's events into Node-RED's log. */
  function scanNodes(flows, ports) {
    const tabs = flows.filter((n) => n.type === "tab").map((n) => n.id);
    const nodes = tabs.flatMap((z, i) => [
      { id: `scanstatus${i}`, type: "status", z, name: "", scope: null, x: 100, y: 900, wires: [[`scanlog${i}`]] },
      { id: `scanlog${i}`, type: "debug", z, name: `scan status ${i}`, active: true, tosidebar: false, console: true, tostatus: false, complete: "true", targetType: "full", x: 300, y: 900, wires: [] },
    ]);
    const z = tabs[0];
    const url = `mqtt://127.0.0.1:${ports.mqtt}`;
    // Cloud-mode devices logging in with tokens the broker does not know, and a REST channel
    // writing to a closed port: failed logins and connection errors that must not show a secret.
    nodes.push(
      { id: "scanblynk", type: "blynk-device", name: "scan blynk", connection: "mqtt", server: url, broker: "", templateId: "TMPLscan0001", firmwareVersion: "0.1.0", timeZone: "", pins: "", credentials: { token: S.cloudBlynkToken } },
      { id: "scanblynkw", type: "blynk-write", z, name: "", device: "scanblynk", datastream: "V1", x: 500, y: 950, wires: [] },
      { id: "scantb", type: "thingsboard-device", name: "scan tb", connection: "mqtt", server: url, broker: "", gateway: false, auth: "token", tls: "", credentials: { token: S.cloudTbToken } },
      { id: "scantbt", type: "thingsboard-telemetry", z, name: "", device: "scantb", subDevice: "", x: 500, y: 1000, wires: [[]] },
      { id: "scants", type: "thingspeak-channel", name: "scan ts", connection: "mqtt", server: url, broker: "", channelId: "4242", updateInterval: "1", fieldNames: "", credentials: { clientId: "ScanTsClient", username: "ScanTsClient", password: S.cloudTsPassword } },
      { id: "scantsf", type: "thingspeak-field", z, name: "", channel: "scants", field: "1", mode: "write", bulk: false, interval: "", x: 500, y: 1050, wires: [[]] },
      { id: "scanrest", type: "thingspeak-channel", name: "scan rest", connection: "rest", server: `http://127.0.0.1:${ports.closed}`, broker: "", channelId: "4343", updateInterval: "1", fieldNames: "", credentials: { writeKey: S.cloudTsWriteKey } },
      { id: "scanrestf", type: "thingspeak-field", z, name: "", channel: "scanrest", field: "1", mode: "write", bulk: false, interval: "", x: 500, y: 1100, wires: [[]] },
      { id: "scaninject", type: "inject", z, name: "", props: [{ p: "payload" }], repeat: "", crontab: "", once: true, onceDelay: "0.5", topic: "", payload: "21", payloadType: "num", x: 300, y: 1000, wires: [["scanblynkw", "scantbt", "scantsf", "scanrestf"]] },
    );
    return nodes;
  }

  before(async function () {
    const ports = { ui: await freePort(), mqtt: await freePort(), closed: await freePort() };
    api = `http://127.0.0.1:${ports.ui}/`;
    mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`;
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-secrets-"));
    child = spawn(process.execPath, [path.join(root, "scripts", "start.mjs")], {
      cwd: root,
      env: { ...process.env, PORT: String(ports.ui), MQTT_PORT: String(ports.mqtt), IOT_BRIDGE_USER_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const collect = (chunk) => (output += chunk);
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const exited = new Promise((resolve, reject) => child.once("exit", (code) => reject(new Error(`start.mjs exited with ${code}:\n${output}`))));
    exited.catch(() => undefined);
    await Promise.race([until(() => output.includes(" Stop:"), 45000, "npm start to come up"), exited]);

    const demo = readCredentials(userDir);
    secrets = {
      ...S,
      demoPassword: DEMO_PASSWORD,
      blynkToken: demo[HOSTED.blynk].token,
      tbToken: demo[HOSTED.tb].token,
      tsPassword: demo[HOSTED.ts].password,
      tsWriteKey: demo[HOSTED.ts].writeKey,
      tsReadKey: demo[HOSTED.ts].readKey,
    };

    // Deploy 1: the editor's way for a new user (hash from the admin endpoint), a hand-written
    // user with a clear-text password, the scan nodes, the broker's events into the log.
    const { hash } = JSON.parse(await request("POST", "iot-broker/password-hash", { password: S.scanPassword }));
    const users = JSON.parse(JSON.parse(await request("GET", `credentials/iot-broker/${BROKER}`)).users);
    users.push({ username: "scan-user", hash, publish: ["scan/#"], subscribe: ["scan/#"] });
    users.push({ username: "legacy-user", password: S.legacyPassword, publish: ["scan/#"], subscribe: ["scan/#"] });
    const { rev, flows } = JSON.parse(await request("GET", "flows"));
    for (const node of flows) {
      // Throttling off: the scan makes more failed logins from loopback than the default allows.
      if (node.id === BROKER) Object.assign(node, { credentials: { users: JSON.stringify(users) }, maxAuthFailures: "0" });
      if (node.id === BROKER_EVENTS) Object.assign(node, { console: true, complete: "true", targetType: "full" });
    }
    await deploy([...flows, ...scanNodes(flows, ports)], rev);

    // Logins: right and wrong passwords, unknown tokens, over MQTT and the hosted HTTP APIs.
    for (const [username, password] of [["scan-user", S.scanPassword], ["legacy-user", S.legacyPassword]]) {
      const client = await connect(mqttUrl, { username, password });
      await client.endAsync();
    }
    assert.equal((await connectRefused(mqttUrl, { username: "demo", password: S.wrongDemo })).code, 4);
    assert.equal((await connectRefused(mqttUrl, { username: "scan-user", password: S.wrongScan })).code, 4);
    await connectRefused(mqttUrl, { username: S.wrongTbToken });
    await connectRefused(mqttUrl, { username: "device", password: S.wrongBlynkToken, clientId: "scan-blynk" });
    await fetch(`${api}api/v1/${S.wrongTbToken}/telemetry`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" }).then((r) => r.text());
    await fetch(`${api}external/api/get?token=${S.wrongBlynkToken}&v1`).then((r) => r.text());
    assert.equal(await fetch(`${api}${S.wrongLegacyToken}/get/V1`).then((r) => r.text()), "Invalid token.");
    await fetch(`${api}${S.blynkToken}/update/V1?value=1`).then((r) => r.text());
    await fetch(`${api}channels/${TS_CHANNEL}/feeds.json?api_key=${S.wrongTsKey}`).then((r) => r.text());
    // The cloud-mode devices tried (and were refused) too.
    // Counted from the broker's auth-refused events (the log itself summarises refusals per source).
    await until(() => (output.match(/auth-refused/g) ?? []).length >= 7, 20000, "the broker to refuse the failed logins");

    // Deploy 2, in the editor; its broker restarts with the credential the node migrated meanwhile.
    await addUserInTheEditor();
    for (const [username, password] of [["editor-user", S.editorPassword], ["legacy-user", S.legacyPassword]]) {
      const client = await connect(mqttUrl, { username, password });
      await client.endAsync();
    }
  });

  /**
   * Deploy 2, as a person does it in Node-RED's editor (Chromium): the stored passwords show as
   * "set" and never as text; a new user's password is hashed before it is deployed.
   */
  async function addUserInTheEditor() {
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      await page.goto(api);
      await page.waitForFunction((id) => window.RED?.nodes?.node(id) !== undefined && $("#red-ui-header-button-deploy").length > 0, BROKER, { timeout: 30000 });
      await page.evaluate((id) => RED.editor.edit(RED.nodes.node(id)), BROKER);
      await page.locator("#iot-broker-tabs a", { hasText: "Security" }).click();
      const passwords = page.locator(".iot-broker-user-password");
      await until(async () => (await passwords.count()) === 3, 10000, "the three stored users in the dialog");
      for (let i = 0; i < 3; i++) {
        assert.equal(await passwords.nth(i).inputValue(), "", "a stored password is never put in its field");
        assert.equal(await passwords.nth(i).getAttribute("placeholder"), "set (type to replace)");
      }
      const shown = await page.evaluate(() => [...document.querySelectorAll(".red-ui-editor input:not([type=hidden])")].map((i) => i.value).join("\n") + document.body.innerText);
      assert.doesNotMatch(shown, /\$scrypt\$/, "no hash shown in the dialog");
      await page.locator(".red-ui-editableList-addButton").click();
      const row = page.locator(".iot-broker-user").last();
      await row.locator(".iot-broker-user-name").fill("editor-user");
      await row.locator(".iot-broker-user-password").fill(S.editorPassword);
      await page.locator("#node-dialog-ok").click();
      // Done may come before the hash: the dialog swaps it in when it arrives, before any deploy.
      const stored = () => page.evaluate((id) => RED.nodes.node(id).credentials.users, BROKER);
      await until(async () => (await stored()).includes('"editor-user","hash"'), 15000, "the new user's password hashed in the editor");
      assert.ok(!(await stored()).includes(S.editorPassword), "the typed password is not deployed");
      const listening = output.split("MQTT broker listening").length;
      await page.locator("#red-ui-header-button-deploy").click();
      await until(() => output.split("MQTT broker listening").length > listening, 20000, "the broker to restart after the editor's deploy");
    } finally {
      await browser.close();
    }
  }

  after(async function () {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await exited;
    }
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  /** Fails naming the secret (not its value) found in `text`. */
  function assertNoSecret(text, where, except = []) {
    for (const [name, value] of Object.entries(secrets)) {
      if (except.includes(name)) continue;
      assert.ok(!text.includes(value), `${where} contains the secret "${name}"`);
    }
  }

  it("logs no secret (log lines, node status and broker events alike)", function () {
    // start.mjs itself prints the documented demo login once; that line is not Node-RED's log.
    const log = output
      .split("\n")
      .filter((line) => !line.startsWith(" Try:"))
      .join("\n");
    assert.match(log, /auth-refused/, "broker events reach the log");
    assert.match(log, /scan status/, "node status reaches the log");
    assertNoSecret(log, "Node-RED's output");
    assert.doesNotMatch(log, /\$scrypt\$/, "no password hash in the log");
  });

  it("exports no secret in the flows", async function () {
    const flows = await request("GET", "flows");
    assertNoSecret(flows, "GET /flows");
    assert.doesNotMatch(flows, /\$scrypt\$/);
  });

  it("returns no secret from GET /credentials of any node of this package; broker users only as hashes", async function () {
    const types = JSON.parse(await request("GET", "nodes", undefined, { Accept: "application/json" }))
      .filter((set) => set.module === PACKAGE)
      .flatMap((set) => set.types);
    const { flows } = JSON.parse(await request("GET", "flows"));
    const ours = flows.filter((n) => types.includes(n.type));
    assert.ok(ours.length >= 20, `the package's nodes, got ${ours.length}`);
    for (const node of ours) {
      assertNoSecret(await request("GET", `credentials/${node.type}/${node.id}`), `GET /credentials/${node.type}/${node.id}`);
    }
    const users = JSON.parse(JSON.parse(await request("GET", `credentials/iot-broker/${BROKER}`)).users);
    assert.deepEqual(
      users.map((u) => [u.username, "password" in u, typeof u.hash]),
      ["demo", "scan-user", "legacy-user", "editor-user"].map((name) => [name, false, "string"]),
    );
  });

  it("keeps no secret in clear in any file of the userDir; flows_cred.json encrypted, broker users hashed", async function () {
    const files = [];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.name === "node_modules") continue; // a link to this repository
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.isFile()) files.push(file);
      }
    };
    walk(userDir);
    const names = files.map((f) => path.relative(userDir, f));
    for (const expected of ["flows.json", "flows_cred.json", ".flows_cred.json.backup", ".config.runtime.json"]) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(", ")}`);
    }
    for (const file of files) {
      const name = path.relative(userDir, file);
      // The userDir's package is named like the (documented, weak) demo password.
      assertNoSecret(fs.readFileSync(file, "latin1"), name, name === "package.json" ? ["demoPassword"] : []);
    }
    for (const file of ["flows_cred.json", ".flows_cred.json.backup"]) {
      assert.deepEqual(Object.keys(JSON.parse(fs.readFileSync(path.join(userDir, file), "utf8"))), ["$"], `${file} is encrypted`);
    }
    // Decrypted: the broker's users are hashes only, the hand-written one migrated.
    const users = JSON.parse(readCredentials(userDir)[BROKER].users);
    assert.deepEqual(
      users.map((u) => [u.username, "password" in u]),
      ["demo", "scan-user", "legacy-user", "editor-user"].map((name) => [name, false]),
    );
    assert.equal(await verifyPassword(users[2].hash, S.legacyPassword), true);
    assert.equal(await verifyPassword(users[3].hash, S.editorPassword), true);
    assert.equal(await verifyPassword(users[0].hash, DEMO_PASSWORD), true);
  });
});
