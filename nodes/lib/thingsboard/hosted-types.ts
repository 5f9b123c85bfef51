/**
 * Names shared by the self-hosted ThingsBoard emulation (`emulation.ts`), its HTTP device API
 * (`http-api.ts`) and local-mode links: the plugin name, the internal topic layout, the hosted
 * device definition, which device-relative topics a device may use, and the messages of the
 * hosted-device handle (docs/ARCHITECTURE.md 3.5): `TbUp` (what the device sent, parsed
 * once by the emulation), `TbDown` (what flows send it, built by `tbDown`). Kept apart
 * so those modules need no import cycle, and so a link depends on the contract only.
 */
import { devicePrefix, firmwareShelf, imageChecksum, type HostedDeviceHandle, type ShelvedImage } from "../broker/index.js";
import { TransportError } from "../transport/errors.js";
import { filterCovers } from "../transport/topic.js";
import { describeValue } from "../transport/value-codec.js";
import {
  encodeAttributeUpdate, encodeRpcRequest, parseDeviceTopic, requestIdText, toCheckedPayloadText, toKeyList, TOPICS,
  type Claim, type TbJson, type TbValues, type TelemetryEntry,
} from "./codec.js";
import { checksumAlgorithm, checksumOf, encodePackageAttributes, isChunkRequestTopic, type ChecksumAlgorithm, type PackageInfo, type PackageType } from "./codec-firmware.js";
import { encodeGatewayAttributeUpdate, encodeGatewayRpcRequest } from "./gateway-codec.js";

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
 * What a hosted device sent (over MQTT or the HTTP device API), as the emulation parsed it;
 * `device` names a gateway's sub-device (absent: the device itself). Attribute requests,
 * gateway (dis)connects and `getSessionLimits` are the emulation's and never appear.
 */
export type TbUp =
  /** Entries without a ts of their own carry the arrival time. */
  | { kind: "telemetry"; device?: string; entries: TelemetryEntry[] }
  /** Client attributes. */
  | { kind: "attributes"; device?: string; values: TbValues }
  /** Client-side RPC, for flows to answer with `tbDown.rpcResponse(idText, ...)`. */
  | { kind: "rpc-request"; id: number; idText: string; method: string; params: TbJson }
  /** A reply to a server-side RPC a flow sent (`id` is the flow's). */
  | { kind: "rpc-response"; device?: string; id: number; result: TbJson }
  /** A claiming request (`v1/devices/me/claim`, HTTP `claim`, or per sub-device `v1/gateway/claim`). */
  | { kind: "claim"; device?: string; claim: Claim };

/**
 * What flows send a hosted device; `text` is the payload on the device's topic, checked (at
 * most ThingsBoard's maxPayloadSize) when the message was built, so a refusal happens before
 * anything is queued. Build them with `tbDown`.
 */
export type TbDown =
  /** Shared attributes (`deleted`: keys removed), to the device or (`device`) a gateway's sub-device. */
  | { kind: "attributes"; device?: string; values: TbValues; deleted: string[]; text: string }
  /** Server-side RPC. */
  | { kind: "rpc-request"; device?: string; id: number; method: string; params: TbJson; text: string }
  /** The answer to the device's client-side RPC `idText` (byte-exact id text). */
  | { kind: "rpc-response"; id: number; idText: string; result: TbJson; text: string }
  /**
   * A firmware (or software) package (docs/PROTOCOLS.md 4.6): the device is given `image` to
   * download in chunks and `values` (fw_title, fw_version, fw_checksum, ...) as shared attributes.
   */
  | { kind: "firmware"; info: PackageInfo; image: ShelvedImage; values: TbValues; deleted: string[]; text: string };

/** A local-mode link's view of its hosted device (broker/hosted-device.ts); ThingsBoard devices describe nothing of themselves. */
export type HostedTbHandle = HostedDeviceHandle<TbUp, TbDown, void, never>;

/** Hosts a device on an `iot-broker` node until the handle is closed (emulation.ts `hostThingsBoardDeviceHandle`). */
export type HostTbDevice = (brokerId: string, device: HostedTbDevice, onError: (err: unknown) => void) => HostedTbHandle;

function checksumOfImage(image: ShelvedImage, algorithm: ChecksumAlgorithm): string {
  return algorithm === "SHA256" ? image.sha256 : imageChecksum(image, algorithm, (data) => checksumOf(algorithm, data));
}

/** Builds downlink messages: checks and encodes once; throws TransportError "invalid" / "too-large" for unusable input. */
export const tbDown = {
  attributes(values: unknown, device?: string, deleted?: unknown): TbDown {
    const removed = toKeyList(deleted, "deleted attributes");
    const wire = device === undefined ? encodeAttributeUpdate({ values, deleted: removed }) : encodeGatewayAttributeUpdate(device, { values, deleted: removed });
    const data = (device === undefined ? wire : (wire as { data: TbJson }).data) as TbValues; // what the encoders return for these inputs
    let kept = data;
    if (removed.length > 0) {
      const { deleted: _list, ...rest } = data;
      kept = rest;
    }
    return { kind: "attributes", ...(device === undefined ? {} : { device }), values: kept, deleted: removed, text: toCheckedPayloadText(wire) };
  },

  rpcRequest(requestId: number, method: unknown, params: unknown, device?: string): TbDown {
    const id = Number(requestIdText(requestId, "RPC id"));
    const request = encodeRpcRequest({ method, params });
    const wire = device === undefined ? { ...request } : encodeGatewayRpcRequest({ device, id, ...request });
    return { kind: "rpc-request", ...(device === undefined ? {} : { device }), id, method: request.method, params: request.params, text: toCheckedPayloadText(wire) };
  },

  /**
   * A package for the device from `data` (a Buffer): title and version as given, the checksum
   * computed with `algorithm` (default SHA256, ThingsBoard's). The bytes are kept once however
   * many devices it is sent to (broker/firmware-shelf.ts).
   */
  firmware(data: unknown, meta: { title?: unknown; version?: unknown; algorithm?: unknown; type?: PackageType }): TbDown {
    if (!Buffer.isBuffer(data) || data.length === 0) throw new TransportError("invalid", `the firmware must be a non-empty Buffer, got ${describeValue(data)}`);
    const label = (value: unknown, what: string): string => {
      if (typeof value !== "string" || value.trim() === "" || value.length > 255) throw new TransportError("invalid", `the firmware ${what} must be text of 1 to 255 characters, got ${describeValue(value)}`);
      return value.trim();
    };
    const title = label(meta.title, "title");
    const version = label(meta.version, "version");
    const algorithm = checksumAlgorithm(meta.algorithm ?? "SHA256");
    const image = firmwareShelf.image(data);
    const info: PackageInfo = { type: meta.type ?? "firmware", title, version, size: image.data.length, algorithm, checksum: checksumOfImage(image, algorithm) };
    const values = encodePackageAttributes(info);
    return { kind: "firmware", info, image, values, deleted: [], text: toCheckedPayloadText(values) };
  },

  /** `result` is a checked reply (link-base's encodeRpcResponse). */
  rpcResponse(idText: string, result: TbJson): TbDown {
    const id = requestIdText(idText, "RPC id");
    return { kind: "rpc-response", id: Number(id), idText: id, result, text: toCheckedPayloadText(result) };
  },
} as const;

/**
 * Internal topics of a hosted device (ids, never tokens). Every function returns a prefix
 * ending in "/"; append the device-relative ThingsBoard topic, e.g.
 * `hostedTopics.up(id) + "v1/devices/me/telemetry"`.
 */
export const hostedTopics = {
  /** Where the broker puts what the device publishes over MQTT (its namespace). */
  up: (id: string): string => devicePrefix(TB_PLUGIN, id, "up"),
  /** What the device receives: the emulation publishes answers and flows' messages here. */
  down: (id: string): string => devicePrefix(TB_PLUGIN, id, "down"),
} as const;

const G = TOPICS.gateway;

/** Device-relative filters a device may subscribe within (a narrower filter, e.g. one id, is fine). */
const DEVICE_FILTERS = [
  TOPICS.attributes, TOPICS.attributeResponseFilter, TOPICS.rpcRequestFilter, TOPICS.rpcResponseFilter,
  // OTA chunks and errors (docs/PROTOCOLS.md 4.6).
  "v2/fw/response/#", "v2/sw/response/#", "v2/fw/error", "v2/sw/error",
];
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
  return DEVICE_UPLINK.has(kind) || (gateway && GATEWAY_UPLINK.has(kind)) || isChunkRequestTopic(topic);
}

/**
 * The filter really subscribed for an allowed one: ThingsBoard pushes OTA chunks whatever the
 * device subscribed, and the Python SDK subscribes `v2/fw/response/+`, which matches no chunk
 * topic; it is widened to `v2/fw/response/#` so that SDK works unchanged (docs/PROTOCOLS.md 4.6).
 */
export function mapDeviceFilter(filter: string): string {
  return filter === "v2/fw/response/+" || filter === "v2/sw/response/+" ? `${filter.slice(0, -1)}#` : filter;
}

/** Whether a device may subscribe to `filter`: only within ThingsBoard's downlink topics. */
export function isDownlinkFilter(filter: string, gateway: boolean): boolean {
  const allowed = gateway ? [...DEVICE_FILTERS, ...GATEWAY_FILTERS] : DEVICE_FILTERS;
  return allowed.some((pattern) => filterCovers(pattern, filter));
}
