/**
 * Self-hosted Blynk: devices that an `iot-broker` node serves as Blynk.Cloud would. A device
 * connecting with username `device` and a hosted device's token IS that device; its traffic
 * stays in its own namespace (`$iot/blynk/<id>/...`), the broker remembers its values and
 * answers `get/...` requests. The behaviour and its decisions are described in hosted-plugin.ts.
 *
 * Hosting returns the device's handle (broker/hosted-device.ts, docs/ARCHITECTURE.md 3.5): the
 * local-mode link gets it through the host function that link.ts injects, and never looks the
 * device up itself. The hosted devices of every broker are in one HostedDirectory, by token
 * digest: the HTTPS API and device logins find a device there.
 */
import { DirectoryConflict, HostedDirectory, hostDevice, unhostOf } from "../broker/index.js";
import type { HostedDevice } from "./hosted-device.js";
import { BlynkEmulation } from "./hosted-plugin.js";
import { BLYNK_PLUGIN, hostedTopics, type HostedBlynkDevice, type HostedBlynkHandle } from "./hosted-types.js";
import { otaShipments } from "./ota.js";

export { hostedTopics, type HostedBlynkDevice, type HostedBlynkHandle };

/** A hosted device as the HTTPS API finds it: on any broker, running or not. */
export interface HostedRegistration {
  readonly device: Readonly<HostedBlynkDevice>;
  readonly brokerId: string;
  /** The device on its broker's current engine; undefined while that broker is not running. */
  readonly runtime: HostedDevice | undefined;
}

/** Every hosted device of this Node-RED runtime, across brokers (the HTTPS API serves them all), by token. */
const directory = new HostedDirectory<HostedRegistration>();

/** The hosted device holding `token`: one map look-up by its digest, compared in constant time. */
export function hostedByToken(token: string | Buffer): HostedRegistration | undefined {
  return directory.find("token", token);
}

/** For the engines' plugins: the device holding `token` on whichever engine runs it. */
const runtimeByToken = (token: string | Buffer): HostedDevice | undefined => directory.find("token", token)?.runtime;

function checkDevice(device: HostedBlynkDevice): HostedBlynkDevice {
  const d = device as Partial<Record<keyof HostedBlynkDevice, unknown>>;
  hostedTopics.up(String(d.id)); // throws on ids that cannot be a topic level
  if (typeof d.token !== "string" || d.token === "") throw new TypeError(`hosted Blynk device "${String(d.name)}" has no token`);
  if (typeof d.name !== "string") throw new TypeError(`hosted Blynk device "${String(d.id)}" has no name`);
  // A copy, so later changes to the caller's object do not change what is hosted.
  return { ...device, ...(device.pins === undefined ? {} : { pins: { ...device.pins } }) };
}

/**
 * Hosts `device` on the `iot-broker` node `brokerId` until the handle is closed, across
 * restarts of that broker (each engine keeps its state in its own device store). Problems (a
 * duplicate token, a replaced connection, values that could not be remembered) go to
 * `onError`. A redeploy that re-creates the hosting node with the same settings keeps the
 * device connected. Writes made while the broker is stopped are queued (bounded) and stored
 * when delivered.
 */
export function hostBlynkDeviceHandle(brokerId: string, device: HostedBlynkDevice, onError: (err: unknown) => void): HostedBlynkHandle {
  const id = String((device as { id?: unknown } | null | undefined)?.id);
  return hostDevice<BlynkEmulation, HostedBlynkDevice, HostedDevice>(
    {
      plugin: BLYNK_PLUGIN,
      brokerId,
      id,
      settings: device,
      offline: "queue",
      claim: (runtime) => {
        const checked = checkDevice(device);
        const registration: HostedRegistration = {
          device: checked,
          brokerId,
          get runtime() {
            return runtime();
          },
        };
        try {
          const release = directory.claim(registration, [{ kind: "token", value: checked.token, secret: true }]);
          return {
            claimed: checked,
            release: () => {
              release();
              otaShipments.release(checked.id); // the device is gone: its firmware shipment too (ota.ts)
            },
          };
        } catch (err) {
          if (!(err instanceof DirectoryConflict)) throw err;
          // A token identifies exactly one device: the second one is not hosted (no device or
          // HTTP client could tell them apart).
          const other = (err as DirectoryConflict<HostedRegistration>).holder;
          throw new Error(`hosted Blynk device "${checked.name}" is not hosted: "${other.device.name}" already uses the same token`);
        }
      },
      create: (engine) => new BlynkEmulation(engine, runtimeByToken),
    },
    onError,
  );
}

/** hostBlynkDeviceHandle for a caller that only hosts: returns the unhost. */
export function hostBlynkDevice(brokerId: string, device: HostedBlynkDevice, onError: (err: unknown) => void): () => void {
  return unhostOf(hostBlynkDeviceHandle(brokerId, device, onError));
}
