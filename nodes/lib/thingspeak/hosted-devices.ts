/**
 * The MQTT devices of self-hosted ThingSpeak. On ThingSpeak an "MQTT device" is one set of
 * credentials (client id, username, password) authorised for a list of channels, each with
 * Allow Publish / Allow Subscribe (docs/PROTOCOLS.md 5.1). Here each hosted channel names the
 * MQTT device credentials it accepts, with its own two flags: hosted channels with the same
 * credentials are channels of one device, which logs in once and publishes to and subscribes
 * on each of them as its flags allow.
 *
 * The username names the device (one look-up per login). Two channels giving the same username
 * with another client id or password, or the same client id with another username, would be
 * two devices that cannot both be connected (one connection per client id): the second channel
 * is refused at hosting, naming the first. Only digests are kept (hosted-channel.ts).
 */
import { timingSafeEqual } from "node:crypto";
import { DirectoryConflict } from "../broker/index.js";
import { tokenDigest } from "../transport/secret-match.js";
import type { ChannelHosting } from "./hosted-channel.js";

/** Conflict kinds (DirectoryConflict.kind) of `MqttDevices.claim`. */
export const DEVICE_CONFLICTS = { username: "MQTT username", clientId: "MQTT client id" } as const;

/** One set of MQTT device credentials and the hosted channels that accept it, oldest first. */
export class MqttDevice {
  readonly #channels: ChannelHosting[] = [];

  constructor(first: ChannelHosting) {
    this.#channels.push(first);
  }

  /** The channels of this device, in the order they were hosted (never empty while it is indexed). */
  get channels(): readonly ChannelHosting[] {
    return this.#channels;
  }

  /** The channel with ThingSpeak channel id `channelId` that accepts this device, if any. */
  channel(channelId: number): ChannelHosting | undefined {
    return this.#channels.find((h) => h.config.channelId === channelId);
  }

  /** What is wrong with a CONNECT that gave this device's username (every channel has the same credentials). */
  credentialsProblem(clientId: string, password: Buffer | undefined): string | undefined {
    const first = this.#channels.at(0);
    return first === undefined ? "the device has no hosted channel" : first.credentialsProblem(clientId, password);
  }

  add(hosting: ChannelHosting): void {
    this.#channels.push(hosting);
  }

  /** Removes `hosting`; true when the device has no channel left. */
  remove(hosting: ChannelHosting): boolean {
    const i = this.#channels.indexOf(hosting);
    if (i >= 0) this.#channels.splice(i, 1);
    return this.#channels.length === 0;
  }
}

export class MqttDevices {
  /** base64 username digest -> device. */
  readonly #byUsername = new Map<string, MqttDevice>();
  /** base64 client id digest -> device. */
  readonly #byClientId = new Map<string, MqttDevice>();

  /** Adds `hosting` to its device (made if new); throws DirectoryConflict naming a channel of another device. Returns the release. */
  claim(hosting: ChannelHosting): () => void {
    const keys = hosting.deviceKeys();
    let device = this.#byUsername.get(keys.username);
    const holder = device?.channels.at(0);
    if (holder !== undefined && !holder.sameCredentials(hosting)) throw new DirectoryConflict(holder, DEVICE_CONFLICTS.username);
    const byClientId = this.#byClientId.get(keys.clientId);
    if (byClientId !== undefined && byClientId !== device) {
      throw new DirectoryConflict(byClientId.channels.at(0) ?? hosting, DEVICE_CONFLICTS.clientId);
    }
    if (device === undefined) {
      device = new MqttDevice(hosting);
      this.#byUsername.set(keys.username, device);
      this.#byClientId.set(keys.clientId, device);
    } else {
      device.add(hosting);
    }
    const mine = device;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (!mine.remove(hosting)) return;
      if (this.#byUsername.get(keys.username) === mine) this.#byUsername.delete(keys.username);
      if (this.#byClientId.get(keys.clientId) === mine) this.#byClientId.delete(keys.clientId);
    };
  }

  /** The device with this username (compared in constant time), or undefined. */
  find(username: string | Buffer): MqttDevice | undefined {
    const digest = tokenDigest(username);
    const device = this.#byUsername.get(digest.toString("base64"));
    const first = device?.channels.at(0);
    return first !== undefined && timingSafeEqual(first.usernameDigest, digest) ? device : undefined;
  }
}
