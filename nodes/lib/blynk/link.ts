/**
 * The flow-node-facing client API of Blynk: `createBlynkLink(options)` gives one BlynkLink for
 * a `blynk-device` config node, whatever its connection (mqtt | https | local). Flow nodes only
 * ever see BlynkLink; the modes live in link-mqtt.ts, link-https.ts and link-local.ts.
 */
import { TransportError } from "../transport/errors.js";
import { hostBlynkDeviceHandle } from "./emulation.js";
import type { BlynkLink, BlynkLinkOptions } from "./link-base.js";
import { HttpsBlynkLink } from "./link-https.js";
import { LocalBlynkLink } from "./link-local.js";
import { MqttBlynkLink } from "./link-mqtt.js";

export type {
  BlynkConnection, BlynkEventMessage, BlynkIncoming, BlynkLink, BlynkLinkEvents, BlynkLinkOptions, BlynkLinkStatus,
  BlynkSource, BlynkSystemMessage, BlynkValueMessage, EventOptions, EventReceipt, SyncRequest, WriteOptions,
} from "./link-base.js";

/** Creates (does not start) the link for one device; throws TransportError "invalid" for unusable options. */
export function createBlynkLink(options: BlynkLinkOptions): BlynkLink {
  const connection: unknown = options.connection; // plain-JS callers can pass anything
  if (typeof options.token !== "string" || options.token === "") {
    throw new TransportError("invalid", "a Blynk device link needs the device's auth token");
  }
  switch (connection) {
    case "mqtt":
      return new MqttBlynkLink(options);
    case "https":
      return new HttpsBlynkLink(options);
    case "local":
      if (options.broker === undefined || options.broker === "") throw new TransportError("invalid", "local mode needs the id of an iot-broker node");
      if (options.deviceId === undefined || options.deviceId === "") throw new TransportError("invalid", "local mode needs the hosted device's id");
      return new LocalBlynkLink({ ...options, host: hostBlynkDeviceHandle });
    default:
      throw new TransportError("invalid", `connection must be "mqtt", "https" or "local", got ${JSON.stringify(connection)}`);
  }
}
