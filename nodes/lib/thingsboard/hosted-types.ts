/**
 * Names shared by the self-hosted ThingsBoard emulation (`emulation.ts`), its HTTP device API
 * (`http-api.ts`) and local-mode links: the plugin name, the internal topic layout, the hosted
 * device definition and which device-relative topics a device may use. Kept apart so those
 * modules need no import cycle.
 */
import { devicePrefix } from "../broker/index.js";
import { filterCovers } from "../transport/topic.js";
import { parseDeviceTopic, TOPICS } from "./codec.js";

/** Plugin name on the broker, and the second level of every internal ThingsBoard topic. */
export const TB_PLUGIN = "thingsboard";

/** A ThingsBoard device that an `iot-broker` serves (defined by a local-mode `thingsboard-device`). */
export interface HostedTbDevice {
  /** The `thingsboard-device` config node's id: safe in topics, stable across deploys. */
  id: string;
  name: string;
  /** The access token (a secret: never logged, never put in a topic, event or message). */
  token: string;
  /** May speak the gateway API (`v1/gateway/...`) for its sub-devices. */
  gateway: boolean;
  /** ThingsBoard's alternative "basic MQTT credentials" (matched as ThingsBoard matches them). */
  basic?: { clientId?: string; username?: string; password?: string };
}

/**
 * Internal topics of a hosted device (ids, never tokens). Every function returns a prefix
 * ending in "/"; append the device-relative ThingsBoard topic, e.g.
 * `hostedTopics.up(id) + "v1/devices/me/telemetry"`.
 */
export const hostedTopics = {
  /** What the device sent, over MQTT or HTTP, exactly as ThingsBoard would receive it. */
  up: (id: string): string => devicePrefix(TB_PLUGIN, id, "up"),
  /** What the device receives; flows publish shared attributes, RPC and replies here. */
  down: (id: string): string => devicePrefix(TB_PLUGIN, id, "down"),
  /** Retained by the emulation: + `online` (JSON `{online, clientId?, remoteAddress?, protocolVersion?}`). */
  state: (id: string): string => `${devicePrefix(TB_PLUGIN, id, "up").slice(0, -"up/".length)}state/`,
} as const;

const G = TOPICS.gateway;

/** Device-relative filters a device may subscribe within (a narrower filter, e.g. one id, is fine). */
const DEVICE_FILTERS = [TOPICS.attributes, TOPICS.attributeResponseFilter, TOPICS.rpcRequestFilter, TOPICS.rpcResponseFilter];
const GATEWAY_FILTERS = [G.attributes, G.rpc, G.attributeResponse];

const DEVICE_UPLINK = new Set(["telemetry", "attributes", "attributes-request", "rpc-request", "rpc-response", "claim"]);
const GATEWAY_UPLINK = new Set([
  "gateway-connect",
  "gateway-disconnect",
  "gateway-telemetry",
  "gateway-attributes",
  "gateway-attributes-request",
  "gateway-rpc",
  "gateway-claim",
]);

/** Whether a device (a gateway: `gateway`) may publish to `topic`: ThingsBoard's uplink topics only. */
export function isUplinkTopic(topic: string, gateway: boolean): boolean {
  let kind: string;
  try {
    kind = parseDeviceTopic(topic).kind;
  } catch {
    return false; // a request id that is not a whole number
  }
  return DEVICE_UPLINK.has(kind) || (gateway && GATEWAY_UPLINK.has(kind));
}

/** Whether a device may subscribe to `filter`: only within ThingsBoard's downlink topics. */
export function isDownlinkFilter(filter: string, gateway: boolean): boolean {
  const allowed = gateway ? [...DEVICE_FILTERS, ...GATEWAY_FILTERS] : DEVICE_FILTERS;
  return allowed.some((pattern) => filterCovers(pattern, filter));
}
