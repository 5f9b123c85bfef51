/**
 * The flow-node-facing client API of Blynk: `createBlynkLink(options)` gives one BlynkLink for
 * a `blynk-device` config node, whatever its connection (mqtt | https | local | binary). Flow nodes only
 * ever see BlynkLink; the modes live in link-mqtt.ts, link-https.ts, link-local.ts and link-binary.ts.
 */
import { assertCredential, linkFor } from "../transport/device-link.js";
import { TransportError } from "../transport/errors.js";
import { hostBlynkDeviceHandle } from "./emulation.js";
import type { BlynkLink, BlynkLinkOptions } from "./link-base.js";
import { BinaryBlynkLink } from "./link-binary.js";
import { HttpsBlynkLink } from "./link-https.js";
import { FleetBlynkLink } from "./link-fleet.js";
import { LocalBlynkLink } from "./link-local.js";
import { MqttBlynkLink } from "./link-mqtt.js";

export type {
  BlynkConnection, BlynkEventMessage, BlynkIncoming, BlynkLink, BlynkLinkEvents, BlynkLinkOptions, BlynkLinkStatus,
  BlynkSource, BlynkSystemMessage, BlynkValueMessage, EventOptions, EventReceipt, SyncRequest, WriteOptions,
} from "./link-base.js";

const MODES = {
  mqtt: (options: BlynkLinkOptions) => new MqttBlynkLink(options),
  https: (options: BlynkLinkOptions) => new HttpsBlynkLink(options),
  // The local link depends on the hosted-device contract only: the hosting is handed in here.
  local: (options: BlynkLinkOptions) => new LocalBlynkLink({ ...options, host: hostBlynkDeviceHandle }),
  binary: (options: BlynkLinkOptions) => new BinaryBlynkLink(options),
};

/** local mode hosting a fleet (docs/ARCHITECTURE.md 3.8). */
function fleetLink(options: BlynkLinkOptions): BlynkLink {
  const box = options.fleet?.box;
  if (box === undefined) throw new TransportError("invalid", "a fleet needs the secret box its credentials are sealed with");
  return new FleetBlynkLink({ ...options, host: hostBlynkDeviceHandle, box });
}

/** Creates (does not start) the link for one device; throws TransportError "invalid" for unusable options. */
export function createBlynkLink(options: BlynkLinkOptions): BlynkLink {
  // A fleet (local mode) hosts devices with tokens of their own: the template's node has none.
  if (options.connection === "local" && options.fleet !== undefined) {
    if (options.broker === undefined || options.broker === "" || options.deviceId === undefined || options.deviceId === "") throw new TransportError("invalid", "a fleet needs its iot-broker node and its config node's id");
    return fleetLink(options);
  }
  assertCredential(options.token, "a Blynk device link needs the device's auth token");
  return linkFor<BlynkLinkOptions, BlynkLink>(options, MODES, { thing: "device", id: options.deviceId });
}
