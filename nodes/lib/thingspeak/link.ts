/**
 * The flow-node-facing client API of ThingSpeak: `createThingSpeakLink(options)` gives one
 * ThingSpeakLink for a `thingspeak-channel` config node, whatever its connection (mqtt | rest |
 * local). Flow nodes only ever see ThingSpeakLink; the modes live in link-mqtt.ts,
 * link-rest.ts and link-local.ts.
 */
import { TransportError } from "../transport/errors.js";
import { toChannelId } from "./codec.js";
import { hostThingSpeakDevice } from "./emulation.js";
import type { ThingSpeakLink, ThingSpeakLinkOptions } from "./link-base.js";
import { LocalThingSpeakLink } from "./link-local.js";
import { MqttThingSpeakLink } from "./link-mqtt.js";
import { RestThingSpeakLink } from "./link-rest.js";

export type {
  EntryMessage, FieldMessage, PendingInfo, ThingSpeakConnection, ThingSpeakIncoming, ThingSpeakLink, ThingSpeakLinkEvents,
  ThingSpeakLinkOptions, ThingSpeakLinkStatus, ThingSpeakSource, WriteOptions, WriteReceipt,
} from "./link-base.js";

/** Creates (does not start) the link for one channel; throws TransportError "invalid" for unusable options. */
export function createThingSpeakLink(options: ThingSpeakLinkOptions): ThingSpeakLink {
  const connection: unknown = options.connection; // plain-JS callers can pass anything
  toChannelId(options.channelId);
  const interval = options.updateIntervalMs;
  if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0)) {
    throw new TransportError("invalid", `the update interval must be 0 or more ms, got ${String(interval)}`);
  }
  const mqttCredentials = (): void => {
    for (const key of ["clientId", "username", "password"] as const) {
      if (typeof options[key] !== "string" || options[key] === "") throw new TransportError("invalid", `${connection as string} mode needs the MQTT device credentials (${key} is missing)`);
    }
  };
  switch (connection) {
    case "mqtt":
      mqttCredentials();
      return new MqttThingSpeakLink(options);
    case "rest":
      return new RestThingSpeakLink(options);
    case "local":
      mqttCredentials();
      if (options.broker === undefined || options.broker === "") throw new TransportError("invalid", "local mode needs the id of an iot-broker node");
      if (typeof options.id !== "string" || options.id === "") throw new TransportError("invalid", "local mode needs the hosted channel's id");
      return new LocalThingSpeakLink({ ...options, host: hostThingSpeakDevice });
    default:
      throw new TransportError("invalid", `connection must be "mqtt", "rest" or "local", got ${JSON.stringify(connection)}`);
  }
}
