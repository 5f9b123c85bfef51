/**
 * Finding the hosted ThingsBoard device a CONNECT names in map look-ups, not by trying every
 * device: by access token (DigestIndex), else by basic MQTT credentials (ThingsBoard's rule:
 * the stored client id must match, or, with none stored, the stored user name). Keys are
 * digests, never the credentials themselves.
 */
import { DigestIndex, tokenDigest } from "../transport/secret-match.js";
import { matchesBasicCredentials, type ConnectCredentials } from "./codec.js";
import type { HostedDevice } from "./hosted-device.js";

function keyOf(text: string): string {
  return tokenDigest(text).toString("base64");
}

export class TbDeviceIndex {
  readonly #byToken = new DigestIndex<HostedDevice>();
  /** Devices with basic credentials, by the digest of their client id (or user name when they store no client id). */
  readonly #byBasic = new Map<string, HostedDevice[]>();

  /** Adds a device; false when its token is taken already (nothing added then). */
  add(device: HostedDevice): boolean {
    if (!this.#byToken.add(device)) return false;
    const key = basicKey(device.config.basic);
    if (key !== undefined) this.#byBasic.set(key, [...(this.#byBasic.get(key) ?? []), device]);
    return true;
  }

  delete(device: HostedDevice): void {
    this.#byToken.delete(device);
    const key = basicKey(device.config.basic);
    if (key === undefined) return;
    const rest = (this.#byBasic.get(key) ?? []).filter((d) => d !== device);
    if (rest.length === 0) this.#byBasic.delete(key);
    else this.#byBasic.set(key, rest);
  }

  /** The device these CONNECT credentials name: the user name as a token first, then basic credentials. */
  find(presented: ConnectCredentials & { token?: string | undefined }): HostedDevice | undefined {
    const byToken = presented.token === undefined ? undefined : this.#byToken.find(presented.token);
    if (byToken) return byToken;
    const candidates = [
      ...(presented.clientId === undefined || presented.clientId === "" ? [] : this.#byBasic.get(`c:${keyOf(presented.clientId)}`) ?? []),
      ...(presented.username === undefined ? [] : this.#byBasic.get(`u:${keyOf(presented.username)}`) ?? []),
    ];
    return candidates.find((d) => d.config.basic !== undefined && matchesBasicCredentials(d.config.basic, presented));
  }
}

function basicKey(basic: ConnectCredentials | undefined): string | undefined {
  if (basic === undefined) return undefined;
  if (basic.clientId !== undefined && basic.clientId !== "") return `c:${keyOf(basic.clientId)}`;
  if (basic.username !== undefined && basic.username !== "") return `u:${keyOf(basic.username)}`;
  return undefined;
}
