/**
 * The flow-node-facing client API of ThingsBoard: `createThingsBoardLink(options)` gives one
 * TbLink for a `thingsboard-device` config node, whatever its connection (mqtt, incl. gateway |
 * http | local). Flow nodes only ever see TbLink; the modes live in link-mqtt.ts,
 * link-http.ts and link-local.ts.
 */
import { TransportError } from "../transport/errors.js";
import { hostThingsBoardDeviceHandle } from "./emulation.js";
import type { TbLink, TbLinkOptions } from "./link-base.js";
import { HttpTbLink } from "./link-http.js";
import { LocalTbLink } from "./link-local.js";
import { MqttTbLink } from "./link-mqtt.js";

export type {
  AttributeRequest, AttributeValues, RpcRef, TbAttributesMessage, TbConnection, TbIncoming, TbLink, TbLinkEvents, TbLinkOptions,
  TbLinkStatus, TbRequestOptions, TbRpcRequest, TbTarget, TbTelemetryMessage,
} from "./link-base.js";
export { StaleReplyError } from "./link-base.js";

/** Creates (does not start) the link for one device; throws TransportError "invalid" for unusable options. */
export function createThingsBoardLink(options: TbLinkOptions): TbLink {
  const connection: unknown = options.connection; // plain-JS callers can pass anything
  if (typeof options.token !== "string" || options.token === "") {
    throw new TransportError("invalid", "a ThingsBoard device link needs the device's access token");
  }
  switch (connection) {
    case "mqtt":
      return new MqttTbLink(options);
    case "http":
      if (options.gateway === true) throw new TransportError("invalid", "a ThingsBoard gateway needs mqtt");
      return new HttpTbLink(options);
    case "local":
      if (options.broker === undefined || options.broker === "") throw new TransportError("invalid", "local mode needs the id of an iot-broker node");
      if (options.deviceId === undefined || options.deviceId === "") throw new TransportError("invalid", "local mode needs the hosted device's id");
      return new LocalTbLink({ ...options, host: hostThingsBoardDeviceHandle });
    default:
      throw new TransportError("invalid", `connection must be "mqtt", "http" or "local", got ${JSON.stringify(connection)}`);
  }
}
