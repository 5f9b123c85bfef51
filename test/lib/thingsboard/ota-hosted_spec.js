"use strict";
// Self-hosted ThingsBoard OTA (docs/PROTOCOLS.md 4.6): a flow gives a hosted device a firmware
// Buffer through the local link; the broker announces fw_* as stored shared attributes and
// serves the chunks; MQTT.js devices doing exactly what ThingsBoard's Python SDK and Arduino
// library do download it and verify the checksum; their fw_state telemetry reaches the flow.
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const { createThingsBoardLink } = require("../../../dist/nodes/lib/thingsboard/link.js");
const { firmwareShelf } = require("../../../dist/nodes/lib/broker/index.js");
const { untilStatus } = require("../../support/wait.js");
const { collect } = require("../../support/links.js");
const { BROKER_ID, TOKENS, hostedBroker, assertNoToken } = require("./fixtures.js");
const { pythonSdkOta, arduinoOta, sdkChecksum } = require("../fixtures/tb-ota-device.js");

const ALPHA = { id: "a1b2c3d4e5f60719", name: "Alpha" };
const BETA = { id: "b1b2c3d4e5f60719", name: "Beta" };
const IMAGE = crypto.randomBytes(200 * 1024);

describe("ThingsBoard self-hosted OTA, with the SDKs' download flows", function () {
  this.timeout(30000);
  let ctx;
  const links = [];
  async function hosted(device = ALPHA, token = TOKENS.alpha) {
    const link = createThingsBoardLink({ connection: "local", token, broker: BROKER_ID, deviceId: device.id, name: device.name });
    links.push(link);
    const got = collect(link);
    link.start();
    await untilStatus(link, (s) => s.state === "connected");
    return { link, got };
  }
  beforeEach(async function () {
    ctx = await hostedBroker();
  });
  afterEach(async function () {
    await Promise.all(links.splice(0).map((l) => l.close()));
    await ctx.cleanup();
  });

  it("a 200 kB image to the Python SDK's flow (whole image, then 4096-byte chunks): verified, fw_state reaches the flow's telemetry", async function () {
    const { link, got } = await hosted();
    await link.sendFirmware(IMAGE, { title: "sensor", version: "1.2.0" });
    // The device connects after the firmware was sent: it learns of it by its attribute request.
    const whole = await pythonSdkOta(await ctx.device(TOKENS.alpha));
    assert.equal(whole.verified, true);
    assert.ok(whole.data.equals(IMAGE));
    assert.deepEqual(whole.info, { fw_title: "sensor", fw_version: "1.2.0", fw_checksum: crypto.createHash("sha256").update(IMAGE).digest("hex"), fw_checksum_algorithm: "SHA256", fw_size: IMAGE.length });
    assert.deepEqual(whole.states, ["DOWNLOADING", "DOWNLOADED", "VERIFIED"]);
    const verified = await got.next((m) => m.kind === "telemetry" && m.values.fw_state === "VERIFIED");
    assert.equal(verified.values.current_fw_version, "v0");

    const chunked = await pythonSdkOta(await ctx.device(TOKENS.alpha, { clientId: "second" }), { chunkSize: 4096 });
    assert.equal(chunked.verified, true);
    assert.ok(chunked.data.equals(IMAGE));
  });

  it("the Arduino library's flow with MD5 and CRC32: verified, and a chunk past the end is empty", async function () {
    const { link } = await hosted();
    for (const algorithm of ["MD5", "CRC32"]) {
      await link.sendFirmware(IMAGE, { title: "sensor", version: `2-${algorithm}`, algorithm });
      const result = await arduinoOta(await ctx.device(TOKENS.alpha, { clientId: algorithm }), { chunkSize: 16384 });
      assert.equal(result.info.fw_checksum_algorithm, algorithm);
      assert.equal(result.info.fw_checksum, sdkChecksum(algorithm, IMAGE));
      assert.equal(result.verified, true);
      assert.equal(result.emptyAfterEnd, true);
      assert.ok(result.data.equals(IMAGE));
    }
  });

  it("an announcement reaches a connected device as a shared attribute update; a fleet's devices share one copy of the image", async function () {
    const { link: alpha } = await hosted();
    const { link: beta } = await hosted(BETA, TOKENS.beta);
    const before = firmwareShelf.totalBytes;
    const dev = await ctx.device(TOKENS.beta);
    const pushed = new Promise((resolve) => dev.on("message", (topic, payload) => topic === "v1/devices/me/attributes" && resolve(JSON.parse(payload))));
    await dev.subscribeAsync("v1/devices/me/attributes");
    await alpha.sendFirmware(IMAGE, { title: "fleet", version: "3" });
    await beta.sendFirmware(Buffer.from(IMAGE), { title: "fleet", version: "3" });
    assert.deepEqual(Object.keys(await pushed).sort(), ["fw_checksum", "fw_checksum_algorithm", "fw_size", "fw_title", "fw_version"]);
    assert.ok(firmwareShelf.totalBytes - before <= IMAGE.length, "one copy for both devices");
    await Promise.all(links.splice(0).map((l) => l.close()));
    assert.equal(firmwareShelf.bySha256(crypto.createHash("sha256").update(IMAGE).digest("hex")), undefined, "the image goes with the last device that had it");
  });

  it("refusals: no firmware -> v2/fw/error NOT_FOUND; a chunk size over 65536 -> PAYLOAD_TOO_LARGE; not a Buffer or no version -> refused in words", async function () {
    const { link } = await hosted();
    const dev = await ctx.device(TOKENS.alpha);
    await dev.subscribeAsync(["v2/fw/error", "v2/fw/response/+/chunk/+"]);
    await dev.publishAsync("v2/fw/request/1/chunk/0", "1024", { qos: 1 });
    assert.equal((await dev.box.next("v2/fw/error")).payload, "NOT_FOUND");
    await link.sendFirmware(Buffer.from("tiny image"), { title: "t", version: "1" });
    dev.box.messages.length = 0;
    await dev.publishAsync("v2/fw/request/2/chunk/0", "70000", { qos: 1 });
    assert.equal((await dev.box.next("v2/fw/error")).payload, "PAYLOAD_TOO_LARGE");
    await dev.publishAsync("v2/fw/request/3/chunk/0", "4", { qos: 1 });
    assert.equal((await dev.box.next("v2/fw/response/3/chunk/0")).payload, "tiny");
    await assert.rejects(link.sendFirmware("not bytes", { title: "t", version: "1" }), /must be a non-empty Buffer/);
    await assert.rejects(link.sendFirmware(Buffer.from("x"), { title: "t" }), /version must be text/);
    await assert.rejects(link.sendFirmware(Buffer.from("x"), { title: "t", version: "1", algorithm: "MURMUR3_32" }), /not supported here/);
    assertNoToken(assert, ctx.events, ctx.warnings);
  });

  it("the HTTP device API's GET firmware: the whole file or a chunk; 404 with none, 400 for another title/version or no title", async function () {
    const http = require("node:http");
    const { once } = require("node:events");
    const { thingsBoardHttpApi } = require("../../../dist/nodes/lib/thingsboard/http-api.js");
    const api = thingsBoardHttpApi();
    const server = http.createServer((req, res) => api(req, res, () => res.writeHead(404).end("next")));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const { link } = await hosted();
      const base = `http://127.0.0.1:${server.address().port}/api/v1/${TOKENS.alpha}`;
      assert.equal((await fetch(`${base}/firmware?title=sensor&version=9`)).status, 404);
      await link.sendFirmware(IMAGE, { title: "sensor", version: "9" });
      const whole = await fetch(`${base}/firmware?title=sensor&version=9`);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get("content-type"), "application/octet-stream");
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(IMAGE));
      const chunk = Buffer.from(await (await fetch(`${base}/firmware?title=sensor&version=9&size=1000&chunk=3`)).arrayBuffer());
      assert.ok(chunk.equals(IMAGE.subarray(3000, 4000)));
      assert.equal(Buffer.from(await (await fetch(`${base}/firmware?title=sensor&version=9&size=1000&chunk=999`)).arrayBuffer()).length, 0, "past the end: empty");
      assert.equal((await fetch(`${base}/firmware?title=sensor&version=8`)).status, 400);
      const untitled = await fetch(`${base}/firmware?version=9`);
      assert.equal(untitled.status, 400);
      assert.match(await untitled.text(), /needs title/);
      assert.equal((await fetch(`${base}/software?title=sensor&version=9`)).status, 404, "no software package");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("other modes refuse to send firmware in words", async function () {
    const link = createThingsBoardLink({ connection: "mqtt", token: "T0KEN", server: "mqtt://127.0.0.1:1" });
    links.push(link);
    await assert.rejects(link.sendFirmware(IMAGE, { title: "t", version: "1" }), /only a device hosted on an iot-broker node/);
  });
});
