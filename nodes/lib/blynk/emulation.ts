/**
 * Self-hosted Blynk: devices that an `iot-broker` node serves as Blynk.Cloud would. A device
 * connecting with username `device` and a hosted device's token IS that device; its traffic
 * stays in its own namespace (`$iot/blynk/<id>/...`), the broker remembers its values and
 * answers `get/...` requests. The behaviour and its decisions are described in hosted-plugin.ts.
 */
import { hostAcrossRedeploys, hostOnBroker } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import type { McuInfo } from "./codec.js";
import { DigestIndex } from "../transport/secret-match.js";
import { tokenDigest, type HostedDevice, type OnlineState } from "./hosted-device.js";
import { BlynkEmulation } from "./hosted-plugin.js";
import { BLYNK_PLUGIN, hostedTopics, type HostedBlynkDevice } from "./hosted-types.js";

export { hostedTopics, type HostedBlynkDevice };

/** A hosted device as the HTTPS API finds it: on any broker, running or not. */
export interface HostedRegistration {
  readonly device: Readonly<HostedBlynkDevice>;
  readonly brokerId: string;
  readonly digest: Buffer;
  /** The device on its broker's current engine; undefined while that broker is not running. */
  runtime: HostedDevice | undefined;
}

/** Every hosted device of this runtime, across brokers (the HTTPS API serves them all), by token digest. */
const registrations = new DigestIndex<HostedRegistration>();

/** The hosted device holding `token`: one map look-up by its digest (DigestIndex). */
export function hostedByToken(token: string): HostedRegistration | undefined {
  return registrations.find(token);
}

/** What the retained `state/online` and `state/info` topics of a hosted device say. */
export interface HostedDeviceState extends OnlineState {
  info?: McuInfo;
}

/**
 * The state of hosted device `id` now, or undefined when it is not hosted or its broker is not
 * running. For in-process readers: the retained `state/` publishes are paced and coalesced per
 * device, so they may lag behind the store; a local-mode link reads the state here when it
 * connects, then follows the `state/` topics.
 */
export function hostedDeviceState(id: string): HostedDeviceState | undefined {
  for (const registration of registrations.values()) {
    const runtime = registration.runtime;
    if (registration.device.id !== id || runtime === undefined) continue;
    const info = runtime.store.info;
    return { ...runtime.onlineState(), ...(info === undefined ? {} : { info: { ...info } }) };
  }
  return undefined;
}

/**
 * The hosted device `id` on the running engine of broker `brokerId`, or undefined when it is not
 * hosted there or that broker is not running. Local-mode links tell it what flows wrote
 * (`flowsWrote`), so `get/ds` answers with it.
 */
export function hostedDevice(brokerId: string, id: string): HostedDevice | undefined {
  for (const registration of registrations.values()) {
    if (registration.device.id === id && registration.brokerId === brokerId && registration.runtime !== undefined) return registration.runtime;
  }
  return undefined;
}

function checkDevice(device: HostedBlynkDevice): HostedBlynkDevice {
  const d = device as Partial<Record<keyof HostedBlynkDevice, unknown>>;
  hostedTopics.up(String(d.id)); // throws on ids that cannot be a topic level
  if (typeof d.token !== "string" || d.token === "") throw new TypeError(`hosted Blynk device "${String(d.name)}" has no token`);
  if (typeof d.name !== "string") throw new TypeError(`hosted Blynk device "${String(d.id)}" has no name`);
  // A copy, so later changes to the caller's object do not change what is hosted.
  return { ...device, ...(device.pins === undefined ? {} : { pins: { ...device.pins } }) };
}

/**
 * Hosts `device` on the `iot-broker` node `brokerId` until the returned function is called,
 * across restarts of that broker (each engine gets a fresh, empty store). Problems (a
 * duplicate token, a replaced connection, values that could not be remembered) go to `onError`.
 * A redeploy that re-creates the hosting node with the same settings keeps the device connected.
 */
export function hostBlynkDevice(brokerId: string, device: HostedBlynkDevice, onError: (err: unknown) => void): () => void {
  const id = String((device as { id?: unknown } | null | undefined)?.id);
  return hostAcrossRedeploys({ plugin: BLYNK_PLUGIN, brokerId, id, settings: device }, onError, (report) => hostNow(brokerId, device, report));
}

/** Hosts at once (see hostBlynkDevice). */
function hostNow(brokerId: string, device: HostedBlynkDevice, onError: (err: unknown) => void): () => void {
  const report = (err: unknown): void => {
    try {
      onError(err);
    } catch {
      // The host's callback failing must not break the broker.
    }
  };
  let config: HostedBlynkDevice;
  try {
    config = checkDevice(device);
  } catch (err) {
    report(toError(err));
    return () => undefined;
  }
  const other = registrations.find(config.token);
  if (other) {
    // A token identifies exactly one device: the second one is not hosted (no device or HTTP
    // client could tell them apart).
    report(new Error(`hosted Blynk device "${config.name}" is not hosted: "${other.device.name}" already uses the same token`));
    return () => undefined;
  }
  const registration: HostedRegistration = { device: config, brokerId, digest: tokenDigest(config.token), runtime: undefined };
  registrations.add(registration);
  const unhost = hostOnBroker(
    brokerId,
    {
      plugin: BLYNK_PLUGIN,
      create: (engine) => new BlynkEmulation(engine),
      add: (plugin) => plugin.add(config, report),
      remove: (plugin) => {
        plugin.remove(config.id);
      },
      runtime: (runtime) => {
        registration.runtime = runtime;
      },
    },
    report,
  );
  return () => {
    registrations.delete(registration);
    unhost();
  };
}
