"use strict";
// A ThingsBoard device that provisioned itself keeps its credentials across a real Node-RED
// restart without any deploy in between (Node-RED writes flows_cred.json only on a deploy): the
// second start logs in with the token it was given and does not provision again. The kept
// record is sealed with the userDir's credential secret: the token is not in the file in clear.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const mqtt = require("mqtt");
const { startBareBroker } = require("../lib/fixtures/bare-broker.js");
const { freePort } = require("../lib/fixtures/ports.js");
const { prepareUserDir, startNodeRed, stopNodeRed } = require("../lib/fixtures/node-red-process.js");
const { until } = require("../support/wait.js");

const ISSUED = "RestartIssuedTOKEN0123";
const SECRET = "restartProvisionSecret";

describe("a self-provisioned ThingsBoard device across a Node-RED restart (real Node-RED process)", function () {
  this.timeout(120_000);
  let userDir;
  let running;
  let broker;
  let responder;
  const connects = [];
  const requests = [];

  before(async function () {
    broker = await startBareBroker({ preConnect: (_client, packet, done) => (connects.push(packet), done(null, true)) });
    responder = await mqtt.connectAsync(broker.url, { clientId: "tb-standin", reconnectPeriod: 0 });
    await responder.subscribeAsync("/provision/request", { qos: 1 });
    responder.on("message", (_topic, payload) => {
      const request = JSON.parse(payload.toString());
      requests.push(request);
      const ok = request.provisionDeviceKey === "restartKey" && request.provisionDeviceSecret === SECRET;
      const answer = ok ? { status: "SUCCESS", credentialsType: "ACCESS_TOKEN", credentialsValue: ISSUED } : { status: "FAILURE", errorMsg: "Failed to provision device!" };
      responder.publish("/provision/response", JSON.stringify(answer), { qos: 1 });
    });
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-tbprov-"));
    const flows = [
      { id: "tab1", type: "tab", label: "provisioning" },
      { id: "dev1", type: "thingsboard-device", name: "Boiler 9", connection: "mqtt", server: broker.url, provision: true, provisionKey: "restartKey", provisionType: "ACCESS_TOKEN" },
      { id: "tel1", type: "thingsboard-telemetry", z: "tab1", device: "dev1", wires: [[]] },
    ];
    prepareUserDir(userDir, { uiPort: await freePort(), flows, credentials: { dev1: { provisionSecret: SECRET } } });
    // Encrypted credentials, as by default: the kept record must be sealed too.
    const settingsFile = path.join(userDir, "settings.js");
    fs.writeFileSync(settingsFile, fs.readFileSync(settingsFile, "utf8").replace('"credentialSecret": false', '"credentialSecret": "restart test secret"'));
  });

  after(async function () {
    if (running) await stopNodeRed(running.child, "SIGKILL");
    await responder?.endAsync(true);
    await broker?.close();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  const tokenLogins = () => connects.filter((c) => c.username === ISSUED).length;

  it("provisions on the first start, then logs in with the kept token after a restart", async function () {
    running = await startNodeRed(userDir);
    await until(() => tokenLogins() === 1, 20_000, "a login with the issued token");
    assert.deepEqual(requests, [{ deviceName: "Boiler 9", provisionDeviceKey: "restartKey", provisionDeviceSecret: SECRET }]);
    const keptFile = path.join(userDir, "iot-bridge", "kept-credentials", "dev1.json");
    const kept = fs.readFileSync(keptFile, "utf8");
    assert.ok(!kept.includes(ISSUED), "the token is not in the kept file in clear");
    assert.ok(!kept.includes(Buffer.from(ISSUED).toString("base64")), "nor base64 of it");
    assert.equal(fs.statSync(keptFile).mode & 0o077, 0, "only the owner may read it");
    assert.ok(!running.output().includes(ISSUED) && !running.output().includes(SECRET), "no secret in the log");
    assert.match(running.output(), /Provisioned as "Boiler 9" \(ACCESS_TOKEN\)/);
    await stopNodeRed(running.child, "SIGTERM");

    running = await startNodeRed(userDir);
    await until(() => tokenLogins() === 2, 20_000, "a second login with the kept token");
    assert.equal(requests.length, 1, "not provisioned again");
    assert.ok(!running.output().includes(ISSUED), "no token in the log");
  });
});
