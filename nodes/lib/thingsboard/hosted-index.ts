/**
 * Every hosted ThingsBoard device of this runtime, across brokers, in one HostedDirectory
 * (broker/hosted-directory.ts): by access token, and by basic MQTT credentials as ThingsBoard
 * matches them (the stored client id must match; with a stored user name, the user name and
 * password too). A login or an HTTP call finds its device in a few map look-ups by digest,
 * whatever the number of devices; two devices with the same access token or the same basic
 * credentials cannot both be hosted (nobody could tell them apart).
 */
import { DirectoryConflict, HostedDirectory, type DirectoryKey } from "../broker/index.js";
import { matchesBasicCredentials, type ConnectCredentials } from "./codec.js";
import type { HostedDevice } from "./hosted-device.js";
import type { HostedTbDevice } from "./hosted-types.js";

/** A hosted device as logins and the HTTP API find it: on any broker, running or not. */
export interface HostedRegistration {
  readonly device: Readonly<HostedTbDevice>;
  readonly brokerId: string;
  /** The device on its broker's current engine; undefined while that broker is not running. */
  readonly runtime: HostedDevice | undefined;
}

const TOKEN = "access token";
const BASIC = "basic MQTT credentials";

const directory = new HostedDirectory<HostedRegistration>();

/** The directory key of stored (or presented) basic credentials: client id and user name, either may be empty. */
function basicKey(clientId: string | undefined, username: string | undefined): DirectoryKey {
  return { kind: BASIC, value: JSON.stringify([clientId ?? "", username ?? ""]), secret: true };
}

/**
 * Claims the device's credentials; returns the release. Throws, naming the device already
 * holding one, when another hosted device has the same access token or basic credentials.
 */
export function claimCredentials(device: Readonly<HostedTbDevice>, brokerId: string, runtime: () => HostedDevice | undefined): () => void {
  const registration: HostedRegistration = {
    device,
    brokerId,
    get runtime() {
      return runtime();
    },
  };
  const keys: DirectoryKey[] = [{ kind: TOKEN, value: device.token, secret: true }];
  const { basic } = device;
  if (basic !== undefined) keys.push(basicKey(basic.clientId, basic.username));
  try {
    return directory.claim(registration, keys);
  } catch (err) {
    if (!(err instanceof DirectoryConflict)) throw err;
    const holder = err.holder as HostedRegistration; // the directory holds registrations only
    throw new Error(`hosted ThingsBoard device "${device.name}" is not hosted: "${holder.device.name}" already uses the same ${err.kind}`);
  }
}

/** The hosted device holding `token`: one map look-up by its digest. */
export function hostedByToken(token: string): HostedRegistration | undefined {
  return directory.find(TOKEN, token);
}

/** The hosted device whose stored basic credentials are this client id and username, whatever the password. */
export function hostedByBasicKey(clientId: string | undefined, username: string | undefined): HostedRegistration | undefined {
  const key = basicKey(clientId, username);
  return directory.find(key.kind, key.value);
}

/**
 * The hosted devices whose basic credentials these CONNECT credentials match, most specific
 * first: stored client id and user name, client id alone, user name alone.
 */
export function hostedByBasic(presented: ConnectCredentials): HostedRegistration[] {
  const { clientId, username } = presented;
  const candidates: DirectoryKey[] = [];
  const id = clientId === undefined || clientId === "" ? undefined : clientId;
  if (id !== undefined && username !== undefined) candidates.push(basicKey(id, username));
  if (id !== undefined) candidates.push(basicKey(id, undefined));
  if (username !== undefined) candidates.push(basicKey(undefined, username));
  const found: HostedRegistration[] = [];
  for (const key of candidates) {
    const registration = directory.find(key.kind, key.value);
    const stored = registration?.device.basic;
    if (registration !== undefined && stored !== undefined && matchesBasicCredentials(stored, presented)) found.push(registration);
  }
  return found;
}
