"use strict";
// "Nothing acknowledged is lost": a broker process (engine-child.js, the iot-broker's engine on
// the `sqlite` storage) is killed with SIGKILL right after it acknowledged QoS 1 messages, while
// further ones are in flight: retained messages and messages queued for an offline persistent
// session. Restarted on the same file (taking over the dead process's lock), it has every message
// it acknowledged. aedes alone acknowledges before storing; the engine waits for the store.
const assert = require("node:assert/strict");
const path = require("node:path");
const { fork } = require("node:child_process");
const mqtt = require("mqtt");
const { until, waitFor } = require("../../support/wait.js");
const { tempDir, removeTempDirs } = require("./fixtures.js");

const CHILD = path.join(__dirname, "engine-child.js");
const MESSAGES = 2000;
const WINDOW = 32;

describe("broker engine on SQLite: kill -9 right after PUBACKs", function () {
  this.timeout(60_000);
  const children = [];
  const clients = [];
  afterEach(function () {
    for (const c of clients.splice(0)) c.end(true);
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    removeTempDirs();
  });

  async function broker(file, mode = "engine") {
    const child = fork(CHILD, [file, mode], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    children.push(child);
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const [msg] = await Promise.race([
      waitFor(child, "message", (m) => m.port !== undefined, 15_000),
      waitFor(child, "exit", () => true, 15_000).then(() => {
        throw new Error(`the broker process exited: ${stderr}`);
      }),
    ]);
    return { child, url: `mqtt://127.0.0.1:${msg.port}` };
  }

  async function client(url, options) {
    const c = mqtt.connect(url, { reconnectPeriod: 0, ...options });
    c.on("error", () => undefined); // the broker dies under it
    clients.push(c);
    await waitFor(c, "connect", () => true, 5_000);
    return c;
  }

  /**
   * A persistent session subscribed to q/# goes offline; then QoS 1 messages go out without pause,
   * odd ones retained on r/<i>, even ones queued for the session on q/<i>. The broker is killed in
   * the callback of the `killAfter`-th PUBACK. Resolves with every payload acknowledged.
   */
  async function burstThenKill(url, child, killAfter) {
    const sleeper = await client(url, { clientId: "sleeper", clean: false });
    await sleeper.subscribeAsync("q/#", { qos: 1 });
    await sleeper.endAsync();
    const pub = await client(url, { clientId: "publisher" });
    const acked = new Set();
    const exited = waitFor(child, "exit", () => true, 20_000);
    let sent = 0;
    await new Promise((resolve) => {
      // WINDOW unacknowledged at a time, so PUBACKs come in a stream and some are always in flight.
      const send = () => {
        const i = sent++;
        const retained = i % 2 === 1;
        pub.publish(retained ? `r/${i}` : `q/${i}`, String(i), { qos: 1, retain: retained }, (err) => {
          if (err) return;
          acked.add(String(i)); // PUBACKs read in the same chunk as the fatal one count too
          if (acked.size === killAfter) {
            child.kill("SIGKILL");
            resolve();
          } else if (acked.size < killAfter && sent < MESSAGES) send();
        });
      };
      for (let k = 0; k < WINDOW; k++) send();
    });
    const [, signal] = await exited;
    assert.equal(signal, "SIGKILL");
    assert.ok(acked.size >= killAfter);
    return acked;
  }

  /** What the restarted broker has: the messages queued for the session, and the retained ones. */
  async function whatSurvived(url) {
    const back = mqtt.connect(url, { clientId: "sleeper", clean: false, reconnectPeriod: 0 });
    clients.push(back);
    const queued = new Set();
    back.on("message", (_topic, payload) => queued.add(payload.toString()));
    assert.equal((await waitFor(back, "connect", () => true, 5_000)).sessionPresent, true, "the session survived");
    const reader = await client(url, { clientId: "reader" });
    const retained = new Set();
    reader.on("message", (_topic, payload, packet) => {
      if (packet.retain) retained.add(payload.toString());
    });
    await reader.subscribeAsync("r/#", { qos: 1 });
    return { queued, retained, back, reader };
  }

  for (const killAfter of [1, 300]) {
    it(`has every acknowledged message after a restart on the same file (killed after ${killAfter} PUBACK${killAfter > 1 ? "s" : ""})`, async function () {
      const file = path.join(tempDir(), "userDir", "iot-bridge", "broker.sqlite");
      const first = await broker(file, process.env.CRASH_MODE ?? "engine");
      const acked = await burstThenKill(first.url, first.child, killAfter);

      const second = await broker(file);
      const { queued, retained } = await whatSurvived(second.url);
      const ackedQueued = [...acked].filter((m) => Number(m) % 2 === 0);
      const ackedRetained = [...acked].filter((m) => Number(m) % 2 === 1);
      await until(() => ackedQueued.every((m) => queued.has(m)), 10_000, "every acknowledged queued message").catch(() => {
        assert.fail(`acknowledged but not queued after the restart: ${ackedQueued.filter((m) => !queued.has(m)).join(", ")} (of ${ackedQueued.length})`);
      });
      await until(() => ackedRetained.every((m) => retained.has(m)), 10_000, "every acknowledged retained message").catch(() => {
        assert.fail(`acknowledged but not retained after the restart: ${ackedRetained.filter((m) => !retained.has(m)).join(", ")} (of ${ackedRetained.length})`);
      });
      if (killAfter > 1) assert.ok(ackedQueued.length > 0 && ackedRetained.length > 0, "both kinds were acknowledged");
    });
  }
});
