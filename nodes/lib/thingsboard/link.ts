/**
 * The flow-node-facing client API of ThingsBoard: `createThingsBoardLink(options)` gives one
 * TbLink for a `thingsboard-device` config node, whatever its connection (mqtt, incl. gateway |
 * http | local). Flow nodes only ever see TbLink; the modes live in link-mqtt.ts,
 * link-http.ts and link-local.ts.
 */
import { assertCredential, linkFor } from "../transport/device-link.js";
import { TransportError } from "../transport/errors.js";
import { hostThingsBoardDeviceHandle } from "./emulation.js";
import type { TbLink, TbLinkOptions } from "./link-base.js";
import { HttpTbLink } from "./link-http.js";
import { FleetTbLink } from "./link-fleet.js";
import { LocalTbLink } from "./link-local.js";
import { MqttTbLink } from "./link-mqtt.js";

export type {
  AttributeRequest, AttributeValues, RpcRef, TbAttributesMessage, TbClaimMessage, TbConnection, TbIncoming, TbLink, TbLinkEvents, TbLinkOptions,
  TbLinkStatus, TbProvisionOptions, TbRequestOptions, TbRpcRequest, TbTarget, TbTelemetryMessage,
} from "./link-base.js";
export { StaleReplyError } from "./link-base.js";

const MODES = {
  mqtt: (options: TbLinkOptions) => new MqttTbLink(options),
  http: (options: TbLinkOptions) => new HttpTbLink(options),
  // The local link depends on the hosted-device contract only: the hosting is handed in here.
  local: (options: TbLinkOptions) => new LocalTbLink({ ...options, host: hostThingsBoardDeviceHandle }),
};

/** Creates (does not start) the link for one device; throws TransportError "invalid" for unusable options. */
export function createThingsBoardLink(options: TbLinkOptions): TbLink {
  // A fleet (local mode) hosts devices with credentials of their own: the profile's node has none.
  if (options.connection === "local" && options.fleet !== undefined) {
    const box = options.fleet.box;
    if (box === undefined) throw new TransportError("invalid", "a fleet needs the secret box its credentials are sealed with");
    if (options.broker === undefined || options.broker === "" || options.deviceId === undefined || options.deviceId === "") throw new TransportError("invalid", "a fleet needs its iot-broker node and its config node's id");
    return new FleetTbLink({ ...options, host: hostThingsBoardDeviceHandle, box });
  }
  // A device that provisions itself has no token yet (mqtt mode only).
  if (options.provision === undefined || options.connection !== "mqtt") assertCredential(options.token, "a ThingsBoard device link needs the device's access token");
  if (options.connection === "http" && options.gateway === true) throw new TransportError("invalid", "a ThingsBoard gateway needs mqtt");
  return linkFor<TbLinkOptions, TbLink>(options, MODES, { thing: "device", id: options.deviceId });
}
