"use strict";
// Blynk OTA pieces without a Node-RED (docs/PROTOCOLS.md 1.8): where the firmware URL points
// (the device's setting, else the address its connection reached with Node-RED's port, scheme
// and HTTP root), the file server's answers, and what $system/... writes become (hardware-down.ts).
const assert = require("node:assert/strict");
const http = require("node:http");
const { once } = require("node:events");
const crypto = require("node:crypto");
const { otaUrl, otaShipments, blynkOtaFiles, OTA_PATH } = require("../../../dist/nodes/lib/blynk/ota.js");
const { systemDown } = require("../../../dist/nodes/lib/blynk/hardware-down.js");
const { firmwareShelf } = require("../../../dist/nodes/lib/broker/index.js");
const { TransportError } = require("../../../dist/nodes/lib/transport/errors.js");

describe("Blynk OTA: URLs, file server, $system commands", function () {
  it("the URL: the setting first, else the connection's local address with Node-RED's port, scheme and root", function () {
    const table = [
      [{ base: "http://192.168.1.10:1880" }, "10.0.0.1", "http://192.168.1.10:1880/iot-bridge/blynk/ota/X"],
      [{ base: "https://nr.example.com/red/" }, undefined, "https://nr.example.com/red/iot-bridge/blynk/ota/X"],
      [{ port: 1880, root: "/" }, "::ffff:192.168.1.5", "http://192.168.1.5:1880/iot-bridge/blynk/ota/X"],
      [{ port: 8443, scheme: "https", root: "/api" }, "fd00::5", "https://[fd00::5]:8443/api/iot-bridge/blynk/ota/X"],
      [undefined, "127.0.0.1", "http://127.0.0.1:1880/iot-bridge/blynk/ota/X"],
    ];
    for (const [settings, local, expected] of table) assert.equal(otaUrl(settings, local, "X"), expected);
    assert.throws(() => otaUrl({ port: 1880 }, undefined, "X"), (err) => err instanceof TransportError && /connect the device first, or set the device's OTA download address/.test(err.message));
  });

  it("the file server: GET and HEAD of a shipment, 404 for an unknown id, 405 for other methods, anything else passed on", async function () {
    const image = firmwareShelf.image(crypto.randomBytes(1000));
    const shipment = otaShipments.ship("ota-spec-device", image, { ver: "9" });
    const files = blynkOtaFiles();
    const web = http.createServer((req, res) => files(req, res, () => res.writeHead(299).end("next")));
    web.listen(0, "127.0.0.1");
    await once(web, "listening");
    const base = `http://127.0.0.1:${web.address().port}/`;
    try {
      const got = await fetch(`${base}${OTA_PATH}${shipment.id}?token=ignored`);
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(image.data));
      assert.equal(got.headers.get("x-fw-ver"), "9");
      assert.equal(got.headers.get("x-fw-type"), null);
      const head = await fetch(`${base}${OTA_PATH}${shipment.id}`, { method: "HEAD" });
      assert.deepEqual([head.status, head.headers.get("content-length")], [200, "1000"]);
      assert.equal((await fetch(`${base}${OTA_PATH}nope`)).status, 404);
      assert.equal((await fetch(`${base}${OTA_PATH}${shipment.id}`, { method: "POST" })).status, 405);
      assert.equal((await fetch(`${base}external/api/get`)).status, 299);
    } finally {
      web.close();
      otaShipments.release("ota-spec-device");
    }
    assert.equal(otaShipments.get(shipment.id), undefined);
    assert.equal(firmwareShelf.imageOf("blynk", "ota-spec-device", "ota"), undefined, "the image goes with the device");
  });

  it("$system writes: ota (URL, Buffer, object), reboot, ping, meta; refusals in words", function () {
    const image = crypto.randomBytes(10);
    assert.deepEqual(systemDown("$system/ota", " http://h/fw.bin "), { kind: "ota", url: "http://h/fw.bin" });
    const fromBuffer = systemDown("$system/ota", image);
    assert.equal(fromBuffer.kind, "ota-image");
    assert.ok(fromBuffer.image.data.equals(image));
    const fromObject = systemDown("$system/ota", { firmware: image, version: "1.2", type: "TMPL1", build: "Dec 4 2026" });
    assert.deepEqual([fromObject.ver, fromObject.type, fromObject.build], ["1.2", "TMPL1", "Dec 4 2026"]);
    assert.deepEqual(systemDown("$system/reboot", null), { kind: "reboot" });
    assert.deepEqual(systemDown("$system/ping", undefined), { kind: "ping" });
    assert.deepEqual(systemDown("$system/meta/Device Name", "Porch"), { kind: "meta", field: "Device Name", value: "Porch" });
    assert.deepEqual(systemDown("$system/meta/Floor", 2), { kind: "meta", field: "Floor", value: "2" });
    assert.throws(() => systemDown("$system/ota", "ftp://h/fw"), /needs the firmware URL, the firmware as a Buffer/);
    assert.throws(() => systemDown("$system/ota", Buffer.alloc(0)), /needs the firmware URL/);
    assert.throws(() => systemDown("$system/ota", { firmware: image, version: "a\nb" }), /version must be text of 1 to 255 characters on one line/);
    assert.throws(() => systemDown("$system/meta/Floor", { a: 1 }), /needs the metadata value as text/);
    assert.throws(() => systemDown("$system/meta/", "x"), TransportError);
    assert.throws(() => systemDown("$system/explode", 1), /accepted: \$system\/ota .* \$system\/reboot, \$system\/ping, \$system\/meta\/<field>/);
  });
});
