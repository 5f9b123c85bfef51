"use strict";
// kill -9 during a write burst loses nothing that was acknowledged: a child process
// (store-child.js "burst") writes device state and history without pause and reports each
// flush that resolved; the parent kills it with SIGKILL right after an acknowledgement, while
// later writes are under way, then opens the same file (taking over the dead process's lock).
const assert = require("node:assert/strict");
const path = require("node:path");
const { fork } = require("node:child_process");
const { waitFor } = require("../../support/wait.js");
const { tempDir, removeTempDirs, opener } = require("./fixtures.js");

const CHILD = path.join(__dirname, "store-child.js");
const DEVICES = 10; // as store-child.js writes them

describe("SQLite store: kill -9 during a write burst", function () {
  this.timeout(60_000);
  const stores = opener();
  const children = [];
  afterEach(function () {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    stores.closeAll();
    removeTempDirs();
  });

  for (const acksBeforeKill of [1, 25]) {
    it(`keeps every value acknowledged before the kill (killed after ${acksBeforeKill} acknowledgement${acksBeforeKill > 1 ? "s" : ""})`, async function () {
      const file = path.join(tempDir(), "userDir", "iot-bridge", "broker.db");
      const child = fork(CHILD, [file, "burst"], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
      children.push(child);
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      let acked = 0;
      let acks = 0;
      const exited = waitFor(child, "exit", () => true, 50_000);
      await new Promise((resolve, reject) => {
        child.on("message", (msg) => {
          if (msg.error !== undefined) reject(new Error(`the child's flush failed: ${msg.error}`));
          if (msg.acked === undefined) return;
          acked = Math.max(acked, msg.acked);
          if (++acks === acksBeforeKill) {
            child.kill("SIGKILL");
            resolve();
          }
        });
        child.on("exit", (code) => reject(new Error(`the child exited by itself (${code}): ${stderr}`)));
      });
      const [, signal] = await exited;
      assert.equal(signal, "SIGKILL");
      assert.ok(acked > 0);

      const s = stores.open(file);
      let committed = 0;
      for (let d = 0; d < DEVICES; d++) {
        const counter = s.deviceStores.open("toy", `d${d}`).get("ds", "counter");
        // The last value of this device among everything acknowledged:
        const lastAcked = acked - 1 - ((acked - 1 - d) % DEVICES + DEVICES) % DEVICES;
        assert.ok(counter !== undefined && counter.value >= lastAcked, `device d${d}: counter ${counter?.value} < acknowledged ${lastAcked}`);
        const points = s.history.query("toy", `d${d}`, "counter").map((p) => p.value);
        // Commits are atomic and in order: what is there is a prefix, at least as long as what was acknowledged.
        points.forEach((v, i) => assert.equal(v, d + i * DEVICES, `device d${d}: history has a gap at ${i}`));
        assert.ok(points.length * DEVICES + d >= acked || points.at(-1) >= lastAcked, `device d${d}: history stops at ${points.at(-1)} < ${lastAcked}`);
        assert.equal(counter.value, points.at(-1), `device d${d}: state and history were committed together`);
        committed += points.length;
      }
      assert.ok(committed >= acked, `${committed} values on disk < ${acked} acknowledged`);
    });
  }
});
