"use strict";
// Node-RED as a ThingsBoard device downloading firmware (docs/PROTOCOLS.md 4.6): the mqtt link
// with `firmware` set against our broker (a hosted device's flow sends a 200 kB image), and
// against a plain broker with a script doing what ThingsBoard does (announce, answer chunks),
// for a wrong checksum, an image over the limit and an unanswered chunk: FAILED with fw_error.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const mqtt = require("mqtt");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { chunkOf } = require("../../../dist/nodes/lib/thingsboard/codec-firmware.js");
const { untilStatus, until } = require("../../support/wait.js");
const { collect } = require("../../support/links.js");
const { BROKER_ID, TOKENS, hostedBroker } = require("./fixtures.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");

const FAST = { initialMs: 10, maxMs: 50 };
const HOSTED = { id: "a1b2c3d4e5f6071a", name: "Alpha" };
const IMAGE = crypto.randomBytes(200 * 1024);
const ME = "v1/devices/me";
const states = (incoming) => incoming.filter((m) => m.kind === "telemetry" && m.values.fw_state !== undefined).map((m) => m.values.fw_state);

describe("ThingsBoard link, mqtt mode, downloading firmware", function () {
  this.timeout(20000);
  const links = [];
  const cleanups = [];
  function link(options) {
    const l = createThingsBoardLink({ mqtt: { reconnect: FAST, authBackoff: FAST }, ...options });
    links.push(l);
    return l;
  }
  afterEach(async function () {
    await Promise.all(links.splice(0).map((l) => l.close()));
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("against our broker: a 200 kB image announced by a flow is downloaded in chunks, verified, emitted; fw_state reaches the hosting flow", async function () {
    const ctx = await hostedBroker();
    cleanups.push(() => ctx.cleanup());
    const server = link({ connection: "local", token: TOKENS.alpha, broker: BROKER_ID, deviceId: HOSTED.id, name: HOSTED.name });
    const serverGot = collect(server);
    server.start();
    await untilStatus(server, (s) => s.state === "connected");
    await server.sendFirmware(IMAGE, { title: "pi-app", version: "1.0.0" });
    const device = link({ connection: "mqtt", token: TOKENS.alpha, server: ctx.url, name: "Pi", firmware: { chunkBytes: 16384, maxBytes: 1024 * 1024 } });
    const deviceGot = collect(device);
    device.start();
    const fw = await deviceGot.next((m) => m.kind === "firmware", "the firmware");
    assert.ok(fw.data.equals(IMAGE));
    assert.deepEqual(fw.info, { type: "firmware", title: "pi-app", version: "1.0.0", size: IMAGE.length, checksum: crypto.createHash("sha256").update(IMAGE).digest("hex"), algorithm: "SHA256" });
    await until(() => states(serverGot.incoming).length >= 3, 5000, "three fw_state reports");
    assert.deepEqual(states(serverGot.incoming), ["DOWNLOADING", "DOWNLOADED", "VERIFIED"]);

    // A new version pushed while connected (a shared attribute update) is downloaded too; the same one is not again.
    const next = crypto.randomBytes(5000);
    await server.sendFirmware(next, { title: "pi-app", version: "1.0.1", algorithm: "CRC32" });
    const second = await deviceGot.next((m) => m.kind === "firmware" && m.info.version === "1.0.1", "the second firmware");
    assert.ok(second.data.equals(next));
    await server.sendFirmware(next, { title: "pi-app", version: "1.0.1", algorithm: "CRC32" });
    await server.publishAttributes({ unrelated: 1 });
    await deviceGot.next((m) => m.kind === "attributes" && m.values.unrelated === 1);
    assert.equal(deviceGot.incoming.filter((m) => m.kind === "firmware").length, 2);
  });

  describe("against a script doing what ThingsBoard does", function () {
    let broker;
    let server;
    async function thingsboard(announce, answer) {
      broker = await startBareBroker();
      cleanups.push(() => broker.close());
      server = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      cleanups.push(() => server.endAsync(true));
      const telemetry = [];
      server.on("message", (topic, payload) => {
        if (topic === `${ME}/telemetry`) telemetry.push(JSON.parse(payload));
        const request = /^v1\/devices\/me\/attributes\/request\/(\d+)$/.exec(topic);
        if (request) server.publish(`${ME}/attributes/response/${request[1]}`, JSON.stringify({ shared: announce }));
        const chunk = /^v2\/fw\/request\/(\d+)\/chunk\/(\d+)$/.exec(topic);
        if (chunk) answer(chunk[1], Number(chunk[2]), Number(payload.toString()));
      });
      await server.subscribeAsync([`${ME}/#`, "v2/fw/request/#"]);
      return telemetry;
    }
    function device(firmware) {
      const d = link({ connection: "mqtt", token: "T0KEN", server: broker.url, name: "Pi", firmware });
      const got = collect(d);
      d.start();
      return got;
    }

    it("a wrong checksum: FAILED with fw_error, nothing emitted", async function () {
      const image = crypto.randomBytes(3000);
      const telemetry = await thingsboard(
        { fw_title: "x", fw_version: "2", fw_checksum: "00".repeat(32), fw_checksum_algorithm: "SHA256", fw_size: image.length },
        (id, index, size) => server.publish(`v2/fw/response/${id}/chunk/${index}`, chunkOf(image, size, index)),
      );
      const got = device({ chunkBytes: 1024, maxBytes: 10000 });
      await until(() => telemetry.some((t) => t.fw_state === "FAILED"), 5000, "FAILED");
      assert.deepEqual(telemetry.map((t) => t.fw_state), ["DOWNLOADING", "DOWNLOADED", "FAILED"]);
      assert.match(telemetry[2].fw_error, /SHA256 checksum mismatch/);
      assert.equal(got.incoming.filter((m) => m.kind === "firmware").length, 0);
    });

    it("an image over the device's limit is refused before downloading; an unanswered chunk is asked three times, then FAILED", async function () {
      let asked = 0;
      const telemetry = await thingsboard(
        { fw_title: "x", fw_version: "3", fw_checksum: "ab", fw_checksum_algorithm: "MD5", fw_size: 5000 },
        () => asked++,
      );
      device({ chunkBytes: 1024, maxBytes: 4000 });
      await until(() => telemetry.some((t) => t.fw_state === "FAILED"), 5000, "FAILED");
      assert.match(telemetry[0].fw_error, /is 5000 bytes; this device accepts at most 4000/);
      assert.equal(asked, 0);
      links.splice(0).forEach((l) => l.close());
      telemetry.length = 0;
      device({ chunkBytes: 1024, maxBytes: 10000, chunkTimeoutMs: 100 });
      await until(() => telemetry.some((t) => t.fw_state === "FAILED"), 5000, "FAILED");
      assert.equal(asked, 3);
      assert.match(telemetry.at(-1).fw_error, /chunk 0 was not answered within 100 ms, 3 times/);
    });
  });
});
