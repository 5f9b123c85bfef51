/**
 * Self-hosted Blynk OTA (docs/PROTOCOLS.md 1.8): a flow gives a hosted device a firmware file;
 * Node-RED serves it over HTTP on its own HTTP server (RED.httpNode) and tells the device where
 * (`downlink/ota/json` over MQTT, INTERNAL `ota` over the binary protocol). Edgent's OTA
 * downloads the URL and checks the headers Blynk.Air sends: Content-Length, `x-md5` (hex MD5),
 * `x-sha256` (Base64 SHA-256), `x-fw-type`, `x-fw-ver`, `x-fw-build`.
 *
 * Decisions:
 * - The URL is `<base>/iot-bridge/blynk/ota/<shipment id>`: the id is 128 random bits, new for
 *   every shipment (never the token: URLs end up in device logs), and the only key to the file.
 *   A device has one shipment; a newer one replaces it (the old URL answers 404), and it goes
 *   when the device is no longer hosted. The bytes are kept once per image (firmware-shelf.ts).
 * - The base (where devices reach Node-RED): the device's "OTA download address" setting when
 *   given (e.g. `http://192.168.1.10:1880`), else this machine's address that the device's
 *   connection reached (a device that reached the broker there reaches Node-RED's HTTP port
 *   there too) with Node-RED's port, scheme and httpNodeRoot. With neither (the device is
 *   offline and nothing is set) the shipment is refused in words.
 */
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { firmwareShelf, imageChecksum, type ShelvedImage } from "../broker/index.js";
import { TransportError } from "../transport/errors.js";
import { BLYNK_PLUGIN, type HostedBlynkDevice } from "./hosted-types.js";

/** The path under Node-RED's HTTP root that serves shipments. */
export const OTA_PATH = "iot-bridge/blynk/ota/";

/** What a shipment announces besides the URL (each may be absent). */
export interface OtaMeta {
  type?: string;
  ver?: string;
  build?: string;
}

export interface Shipment extends OtaMeta {
  readonly id: string;
  readonly deviceId: string;
  readonly image: ShelvedImage;
  readonly md5: string;
  readonly sha256Base64: string;
}

class Shipments {
  readonly #byId = new Map<string, Shipment>();
  readonly #byDevice = new Map<string, string>();

  /** A new shipment of `image` for a device, replacing its previous one. Throws "too-large" when the shelf is full. */
  ship(deviceId: string, image: ShelvedImage, meta: OtaMeta): Shipment {
    firmwareShelf.assign(BLYNK_PLUGIN, deviceId, "ota", image);
    this.#forget(deviceId);
    const shipment: Shipment = {
      id: randomBytes(16).toString("base64url"),
      deviceId,
      image,
      // Once per image: a fleet's shipment is the same image for every device.
      md5: imageChecksum(image, "md5", (data) => createHash("md5").update(data).digest("hex")),
      sha256Base64: Buffer.from(image.sha256, "hex").toString("base64"),
      ...meta,
    };
    this.#byId.set(shipment.id, shipment);
    this.#byDevice.set(deviceId, shipment.id);
    return shipment;
  }

  get(id: string): Shipment | undefined {
    return this.#byId.get(id);
  }

  /** The device is no longer hosted: its shipment and image go. */
  release(deviceId: string): void {
    this.#forget(deviceId);
    firmwareShelf.release(BLYNK_PLUGIN, deviceId);
  }

  #forget(deviceId: string): void {
    const id = this.#byDevice.get(deviceId);
    if (id === undefined) return;
    this.#byDevice.delete(deviceId);
    this.#byId.delete(id);
  }
}

/** The process's shipments. */
export const otaShipments = new Shipments();

/** Where the device downloads `shipmentId` (see the module comment). Throws TransportError "invalid" when no address is known. */
export function otaUrl(settings: HostedBlynkDevice["ota"], localAddress: string | undefined, shipmentId: string): string {
  const base = settings?.base;
  if (base !== undefined && base !== "") return new URL(OTA_PATH + shipmentId, base.endsWith("/") ? base : `${base}/`).href;
  if (localAddress === undefined || localAddress === "") {
    throw new TransportError("invalid", "the firmware URL needs the address devices reach Node-RED at: connect the device first, or set the device's OTA download address");
  }
  const address = localAddress.startsWith("::ffff:") ? localAddress.slice(7) : localAddress;
  const host = address.includes(":") ? `[${address}]` : address;
  const scheme = settings?.scheme ?? "http";
  const port = settings?.port ?? 1880;
  const root = normalizedRoot(settings?.root);
  return `${scheme}://${host}:${String(port)}${root}${OTA_PATH}${shipmentId}`;
}

/** httpNodeRoot as a path that starts and ends with "/". */
function normalizedRoot(root: string | undefined): string {
  const trimmed = (root ?? "/").replace(/^\/*/, "/");
  return trimmed.endsWith("/") ? trimmed : `${trimmed}/`;
}

/** The response headers Edgent's OTA reads (docs/PROTOCOLS.md 1.8). */
export function otaHeaders(shipment: Shipment): Record<string, string> {
  return {
    "Content-Type": "application/octet-stream",
    "Content-Length": String(shipment.image.data.length),
    "x-md5": shipment.md5,
    "x-sha256": shipment.sha256Base64,
    ...(shipment.type === undefined ? {} : { "x-fw-type": shipment.type }),
    ...(shipment.ver === undefined ? {} : { "x-fw-ver": shipment.ver }),
    ...(shipment.build === undefined ? {} : { "x-fw-build": shipment.build }),
    "Cache-Control": "no-store",
  };
}

type Request = IncomingMessage & { path?: string };

/**
 * Middleware for RED.httpNode: GET or HEAD `<httpNodeRoot>iot-bridge/blynk/ota/<id>` answers the
 * shipment's file (404 for an unknown id); every other request goes on to `next()` untouched.
 */
export function blynkOtaFiles(): (req: Request, res: ServerResponse, next: () => void) => void {
  const prefix = `/${OTA_PATH}`;
  return (req, res, next) => {
    const path = req.path ?? (req.url ?? "").split("?")[0];
    if (!path.startsWith(prefix)) {
      next();
      return;
    }
    try {
      const shipment = otaShipments.get(path.slice(prefix.length));
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("Method Not Allowed");
        return;
      }
      if (shipment === undefined) {
        res.writeHead(404, { "Content-Type": "text/plain" }).end("Not Found");
        return;
      }
      res.writeHead(200, otaHeaders(shipment));
      res.end(req.method === "HEAD" ? undefined : shipment.image.data);
    } catch {
      // A socket that went away mid-answer: nothing to tell it.
      if (!res.headersSent) res.writeHead(500).end();
    }
  };
}
