/**
 * Firmware images that flows gave hosted devices (ThingsBoard `v2/fw`, Blynk OTA), kept in
 * memory for as long as some device is assigned one: an image is kept once however many
 * devices (a fleet) get it, devices hold a reference. Platform-blind; one shelf per process.
 *
 * Decisions:
 * - Images are in memory only, not in the broker's storage: a device's announcement (its
 *   attributes, its OTA URL) is durable, the bytes are not; after a Node-RED restart a device
 *   asking for them is told they are gone, and the flow sends the firmware again.
 * - A device holds one image per slot (ThingsBoard: firmware and software; Blynk: one); a new
 *   one replaces the old, and `release` drops the device's references.
 * - Bounded: an image is at most MAX_IMAGE_BYTES, all images together at most MAX_TOTAL_BYTES;
 *   a shipment over either is refused in words before anything changes.
 */
import { createHash } from "node:crypto";
import { TransportError } from "../transport/errors.js";

export const SHELF_LIMITS = {
  /** Largest image a flow may ship (an ESP32 app partition is at most a few MB). */
  maxImageBytes: 16 * 1024 * 1024,
  /** All distinct images held at once. */
  maxTotalBytes: 64 * 1024 * 1024,
} as const;

/** One image: its bytes, and its SHA-256 (hex), which is its identity on the shelf. */
export interface ShelvedImage {
  readonly data: Buffer;
  readonly sha256: string;
}

interface Held {
  image: ShelvedImage;
  users: number;
}

export class FirmwareShelf {
  readonly #images = new Map<string, Held>();
  /** `<platform>\0<device id>\0<slot>` -> image identity. */
  readonly #assigned = new Map<string, string>();
  /** The image last made of a Buffer object: a fleet's shipment hashes its Buffer once, not once per device. */
  readonly #recent = new WeakMap<Buffer, ShelvedImage>();
  #total = 0;
  readonly #limits: { maxImageBytes: number; maxTotalBytes: number };

  constructor(limits: { maxImageBytes: number; maxTotalBytes: number } = SHELF_LIMITS) {
    this.#limits = limits;
  }

  /** Bytes held. */
  get totalBytes(): number {
    return this.#total;
  }

  /** Distinct images held. */
  get size(): number {
    return this.#images.size;
  }

  /** The shelf's copy of these bytes if it holds them, else a new image (not held until assigned). Throws "too-large". */
  image(data: Buffer): ShelvedImage {
    if (data.length > this.#limits.maxImageBytes) {
      throw new TransportError("too-large", `the firmware is ${data.length} bytes; at most ${this.#limits.maxImageBytes} bytes are accepted`);
    }
    const recent = this.#recent.get(data);
    // Compared, not trusted: a flow may change its Buffer in place and ship it again (a compare costs far less than a hash).
    if (recent?.data.equals(data) === true) return this.#images.get(recent.sha256)?.image ?? recent;
    const sha256 = createHash("sha256").update(data).digest("hex");
    const image = this.#images.get(sha256)?.image ?? { data: Buffer.from(data), sha256 };
    this.#recent.set(data, image);
    return image;
  }

  /** Gives a device `image` in `slot`, replacing what it had there. Throws "too-large" when the shelf would be over its total. */
  assign(platform: string, deviceId: string, slot: string, image: ShelvedImage): void {
    const key = `${platform}\u0000${deviceId}\u0000${slot}`;
    if (this.#assigned.get(key) === image.sha256) return;
    const held = this.#images.get(image.sha256);
    if (held === undefined && this.#total + image.data.length > this.#limits.maxTotalBytes) {
      throw new TransportError("too-large", `firmware images held for devices would exceed ${this.#limits.maxTotalBytes} bytes; ship fewer distinct images at once`);
    }
    this.#drop(key);
    if (held === undefined) {
      this.#images.set(image.sha256, { image, users: 1 });
      this.#total += image.data.length;
    } else {
      held.users++;
    }
    this.#assigned.set(key, image.sha256);
  }

  /** The image a device has in `slot`, if any. */
  imageOf(platform: string, deviceId: string, slot: string): ShelvedImage | undefined {
    const sha = this.#assigned.get(`${platform}\u0000${deviceId}\u0000${slot}`);
    return sha === undefined ? undefined : this.#images.get(sha)?.image;
  }

  /** The image with this SHA-256 if some device holds it. */
  bySha256(sha256: string): ShelvedImage | undefined {
    return this.#images.get(sha256)?.image;
  }

  /** Drops a device's images (all slots). */
  release(platform: string, deviceId: string): void {
    const prefix = `${platform}\u0000${deviceId}\u0000`;
    for (const key of [...this.#assigned.keys()]) if (key.startsWith(prefix)) this.#drop(key);
  }

  #drop(key: string): void {
    const sha = this.#assigned.get(key);
    if (sha === undefined) return;
    this.#assigned.delete(key);
    const held = this.#images.get(sha);
    if (held === undefined) return;
    held.users--;
    if (held.users > 0) return;
    this.#images.delete(sha);
    this.#total -= held.image.data.length;
  }
}

/** Checksums made of each image, by name: a fleet's shipment computes each once, not once per device. */
const checksums = new WeakMap<ShelvedImage, Map<string, string>>();

/** The checksum `name` of `image` (`compute` runs once per image and name). */
export function imageChecksum(image: ShelvedImage, name: string, compute: (data: Buffer) => string): string {
  let known = checksums.get(image);
  if (known === undefined) checksums.set(image, (known = new Map<string, string>()));
  let sum = known.get(name);
  if (sum === undefined) known.set(name, (sum = compute(image.data)));
  return sum;
}

/** The process's shelf. */
export const firmwareShelf = new FirmwareShelf();
