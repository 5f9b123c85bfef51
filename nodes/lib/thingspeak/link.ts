/**
 * The flow-node-facing client API of ThingSpeak: `createThingSpeakLink(options)` gives one
 * ThingSpeakLink for a `thingspeak-channel` config node, whatever its connection (mqtt | rest |
 * local). Flow nodes only ever see ThingSpeakLink; the modes live in link-mqtt.ts,
 * link-rest.ts and link-local.ts.
 */
import { assertCredential, linkFor } from "../transport/device-link.js";
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

const MODES = {
  mqtt: (options: ThingSpeakLinkOptions) => new MqttThingSpeakLink(options),
  rest: (options: ThingSpeakLinkOptions) => new RestThingSpeakLink(options),
  // The local link depends on the hosted-device contract only: the hosting is handed in here.
  local: (options: ThingSpeakLinkOptions) => new LocalThingSpeakLink({ ...options, host: hostThingSpeakDevice }),
};

/** Creates (does not start) the link for one channel; throws TransportError "invalid" for unusable options. */
export function createThingSpeakLink(options: ThingSpeakLinkOptions): ThingSpeakLink {
  toChannelId(options.channelId);
  const interval = options.updateIntervalMs;
  if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0)) {
    throw new TransportError("invalid", `the update interval must be 0 or more ms, got ${String(interval)}`);
  }
  const connection: unknown = options.connection; // plain-JS callers can pass anything
  if (connection === "mqtt" || connection === "local") {
    for (const key of ["clientId", "username", "password"] as const) {
      assertCredential(options[key], `${connection} mode needs the MQTT device credentials (${key} is missing)`);
    }
  }
  return linkFor<ThingSpeakLinkOptions, ThingSpeakLink>(options, MODES, { thing: "channel", id: options.id });
}
