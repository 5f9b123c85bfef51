/**
 * The client side of one ThingsBoard device ("the link"): the types every mode shares and the
 * base class with what ThingsBoard adds to every platform's link (transport/device-link.ts): the
 * device's name and gateway role, the id correlators, and the register of RPC requests served to flows (so a reply goes out once,
 * to a request that is still waiting). Modes: link-mqtt.ts (Node-RED is the device or a
 * gateway), link-http.ts (the device over the HTTP device API), link-local.ts (Node-RED is the
 * ThingsBoard server of a device hosted on an iot-broker).
 *
 * Direction words are "the other side" (docs/ARCHITECTURE.md 2): `incoming` is what the other side
 * sends; `callRpc` asks the other side; `replyRpc` answers an RPC request that came in.
 */
import type { FleetMembers } from "../broker/fleet-members.js";
import { Correlator } from "../transport/correlator.js";
import { DeviceLink, type DeviceLinkApi, type DeviceLinkEvents, type DeviceLinkStatus } from "../transport/device-link.js";
import type { HttpClientOptions } from "../transport/http-client.js";
import type { MqttSessionOptions, MqttTlsOptions } from "../transport/mqtt-session.js";
import type { Redactor } from "../transport/redact.js";
import type { SecretBox } from "../transport/secret-box.js";
import { TransportError } from "../transport/errors.js";
import { encodeRpcResponse, LIMITS, requestIdText, type ProvisionCredentials, type TbJson, type TbValues } from "./codec.js";
import type { BackoffOptions } from "../transport/backoff.js";
import type { TbProvisionSettings } from "./provision-client.js";
import type { PackageInfo } from "./codec-firmware.js";

export type TbConnection = "mqtt" | "http" | "local";

/** ThingsBoard Cloud, used when a cloud mode's server is not set. */
export const DEFAULT_SERVERS = { mqtt: "mqtts://thingsboard.cloud:8883", http: "https://thingsboard.cloud" } as const;

/** `deviceOnline`: local: the hosted device is connected to the broker. */
export type TbLinkStatus = DeviceLinkStatus;

/** Telemetry a hosted device (or a hosted gateway's sub-device) sent: local mode only. */
export interface TbTelemetryMessage {
  kind: "telemetry";
  /** The hosted device's name, or the sub-device's name (`subDevice`). */
  device: string;
  subDevice: boolean;
  /** ms; the arrival time when the device sent none. */
  ts: number;
  values: TbValues;  /** A fleet's link: the fleet device that sent it (docs/ARCHITECTURE.md 3.8); `device` is then its name. */
  fleet?: FleetDeviceRef;
}

/** Attributes from the other side: shared attribute updates (cloud), client attributes (local). */
export interface TbAttributesMessage {
  kind: "attributes";
  device: string;
  subDevice: boolean;
  scope: "shared" | "client";
  values: TbValues;
  /** Shared attributes deleted on the server (cloud). */
  deleted: string[];  /** A fleet's link: the fleet device that sent it (docs/ARCHITECTURE.md 3.8); `device` is then its name. */
  fleet?: FleetDeviceRef;
}

/** An RPC request from the other side, for a serve node to answer with `replyRpc`. */
export interface TbRpcRequest {
  kind: "rpc";
  device: string;
  subDevice: boolean;
  id: number;
  /** The id exactly as it arrived, echoed in the reply. */
  idText: string;
  method: string;
  params: TbJson;  /** A fleet's link: the fleet device that sent it (docs/ARCHITECTURE.md 3.8); `device` is then its name. */
  fleet?: FleetDeviceRef;
}

/** A fleet device as messages name it: `msg.thingsboard.device`. */
export interface FleetDeviceRef {
  name: string;
  id: string;
}

/** A hosted device's (or sub-device's) claiming request (docs/PROTOCOLS.md 4.2): local mode only. */
export interface TbClaimMessage {
  kind: "claim";
  device: string;
  subDevice: boolean;
  /** Absent: ThingsBoard's default "" (the device sent none). */
  secretKey?: string;
  /** Absent: the server's default duration. */
  durationMs?: number;
  /** A fleet's link: the fleet device that sent it (docs/ARCHITECTURE.md 3.8); `device` is then its name. */
  fleet?: FleetDeviceRef;
}

export type TbIncoming = TbTelemetryMessage | TbAttributesMessage | TbRpcRequest | TbClaimMessage | TbFirmwareMessage;

/** A firmware package the device downloaded and verified (mqtt mode with `firmware` set, docs/PROTOCOLS.md 4.6). */
export interface TbFirmwareMessage {
  kind: "firmware";
  device: string;
  subDevice: false;
  info: PackageInfo;
  data: Buffer;
  /** Never set: a fleet hosts devices, it downloads nothing (present for the fleet link's typing). */
  fleet?: FleetDeviceRef;
}

/** What a flow gives a hosted device to download (local mode). */
export interface FirmwareShipment {
  title?: unknown;
  version?: unknown;
  /** Checksum algorithm announced (default SHA256). */
  algorithm?: unknown;
}

export type TbLinkEvents = DeviceLinkEvents<TbLinkStatus, TbIncoming>;

export interface TbLinkOptions {
  connection: TbConnection;
  /** The access token: a secret, registered with the redactor and never shown. */
  token: string;
  /** ThingsBoard's basic MQTT credentials, used instead of the token (mqtt) or also accepted (local). */
  basic?: { clientId?: string; username?: string; password?: string };
  /** mqtt: mqtt[s]:// or ws[s]:// URL; http: http[s]:// origin. */
  server?: string;
  /** local: id of the iot-broker node that hosts the device. */
  broker?: string;
  /** local: the hosted device's id (the thingsboard-device config node id). */
  deviceId?: string;
  /** The device's name: msg.thingsboard.device of its own messages. */
  name?: string;
  /** mqtt: Node-RED is a gateway; local: the hosted device is one. */
  gateway?: boolean;
  /** local: host the fleet of this config node (a device profile) instead of one device; `box` seals its credentials (docs/ARCHITECTURE.md 3.8). */
  fleet?: { box?: SecretBox };
  /** mqtt: QoS of telemetry and attribute publishes; 1 (default) resolves on PUBACK, 0 once written. RPC replies and requests stay QoS 1. */
  qos?: 0 | 1;
  /** Custom CA / client certificate / verification switch (a tls-config node). */
  tls?: MqttTlsOptions;
  redactor?: Redactor;
  /** How long a served RPC request waits for its reply when no serve node asks longer; default 10 s (ThingsBoard's RPC timeout). */
  serveTimeoutMs?: number;
  /** http: the long-poll timeout asked of the server, ms; default 60 s. */
  pollTimeoutMs?: number;
  /** http: waits between failed polls. */
  pollBackoff?: { initialMs?: number; maxMs?: number; random?: () => number };
  /**
   * mqtt, with no token or basic credentials yet: the device provisions itself first
   * (docs/PROTOCOLS.md 4.3) and connects with what ThingsBoard answers; `provisioned` keeps them.
   */
  provision?: TbProvisionOptions;
  mqtt?: Pick<MqttSessionOptions, "reconnect" | "authBackoff" | "connectTimeoutMs" | "random" | "outboxLimit" | "protocolVersion" | "stableAfterMs" | "keepaliveSec">;
  http?: Pick<HttpClientOptions, "retries" | "backoff" | "timeoutMs" | "random">;
  now?: () => number;
  /** mqtt: download firmware packages ThingsBoard announces (fw_* shared attributes) in chunks of `chunkBytes`, at most `maxBytes` (docs/PROTOCOLS.md 4.6). */
  firmware?: { chunkBytes: number; maxBytes: number; chunkTimeoutMs?: number };
}

/** Self-provisioning of an mqtt-mode device: the profile's key and secret, and who keeps the answer. */
export interface TbProvisionOptions extends TbProvisionSettings {
  /** Called once with the credentials ThingsBoard gave, before the device connects with them; a failure is only warned about. */
  provisioned: (credentials: ProvisionCredentials) => Promise<void> | void;
  /** One attempt's wait for the answer; default provision-client.ts PROVISION_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Waits between attempts after a timeout or network failure; default 5 s doubling up to 5 min. */
  retry?: Pick<BackoffOptions, "initialMs" | "maxMs" | "random">;
}

/** Where a message goes: the device itself, or (gateway) a named sub-device. */
export interface TbTarget {
  /** A sub-device name; undefined or the device's own name = the device itself. */
  device?: string;
}

export interface TbRequestOptions extends TbTarget {
  timeoutMs?: number;
}

export interface AttributeRequest {
  /** Keys as "a,b" or ["a", "b"]; no keys in either scope = all attributes (not for sub-devices). */
  clientKeys?: unknown;
  sharedKeys?: unknown;
}

export interface AttributeValues {
  client: TbValues;
  shared: TbValues;
}

/** What replyRpc needs of a request: its id and the device it came from. */
export interface RpcRef {
  id: unknown;
  device?: string;
}

/** A reply that cannot go out: the request was answered already, timed out, or never came. */
export class StaleReplyError extends TransportError {
  constructor(
    readonly reason: "answered" | "expired" | "unknown",
    message: string,
  ) {
    super("invalid", message);
  }
}

/** The client-side API every flow node uses, the same in all modes. */
export interface TbLink extends DeviceLinkApi<TbConnection, TbLinkStatus, TbLinkEvents> {
  readonly gateway: boolean;
  /** A fleet's link: its devices' links, by the device a message names. */
  readonly fleet?: FleetMembers<TbLink>;
  /** The device's own name. */
  readonly name: string;
  /** Every method below validates first and rejects without sending anything if the input is unusable. */
  sendTelemetry(telemetry: unknown, target?: TbTarget): Promise<void>;
  publishAttributes(values: unknown, target?: TbTarget): Promise<void>;
  /** A claiming request (docs/PROTOCOLS.md 4.2): `{secretKey, durationMs}`, both optional; a gateway's for a sub-device too. */
  sendClaim(claim: { secretKey?: unknown; durationMs?: unknown }, target?: TbTarget): Promise<void>;
  requestAttributes(request: AttributeRequest, options?: TbRequestOptions): Promise<AttributeValues>;
  callRpc(method: unknown, params: unknown, options?: TbRequestOptions): Promise<TbJson>;
  replyRpc(ref: RpcRef, result: unknown): Promise<void>;
  /** Resolves when `request` was answered; rejects "timeout" when not within `timeoutMs`, "closed" on close. */
  awaitReply(request: TbRpcRequest, timeoutMs?: number): Promise<void>;
  /** local: gives the hosted device (a fleet: the named device, or every one) a firmware package to download; other modes refuse. */
  sendFirmware(data: unknown, shipment: FirmwareShipment, target?: TbTarget): Promise<void>;
}

interface Served {
  request: TbRpcRequest;
  deadline: number;
  /** A serve node waits for it: its timeout, not the link's default, decides. */
  awaited: boolean;
  timer: NodeJS.Timeout | undefined;
  waiters: { resolve: () => void; reject: (err: Error) => void }[];
}

/** Answered / expired ids remembered for a precise refusal of a second reply. */
const MAX_SETTLED = 500;
const DEFAULT_SERVE_MS = 10_000;

export abstract class TbLinkBase extends DeviceLink<TbLinkStatus, TbIncoming, TbLinkEvents> implements TbLink {
  abstract override readonly connection: TbConnection;
  readonly gateway: boolean;
  readonly name: string;
  /** Our own requests' answers by id: RPC (parsed result) and attribute requests (raw payload). */
  protected readonly calls = new Correlator<TbJson>({ maxId: LIMITS.tbMaxRequestId });
  protected readonly attributeCalls = new Correlator<Buffer>({ maxId: LIMITS.tbMaxRequestId });
  readonly #served = new Map<string, Served>();
  readonly #settled = new Map<string, "answered" | "expired">();
  readonly #serveMs: number;

  protected constructor(options: TbLinkOptions) {
    super(options, { platform: "ThingsBoard", thing: "device" }, [options.token, options.basic?.password]);
    this.gateway = options.gateway === true;
    this.name = options.name ?? options.deviceId ?? "ThingsBoard device";
    this.#serveMs = options.serveTimeoutMs ?? DEFAULT_SERVE_MS;
  }

  abstract sendTelemetry(telemetry: unknown, target?: TbTarget): Promise<void>;
  abstract publishAttributes(values: unknown, target?: TbTarget): Promise<void>;
  abstract sendClaim(claim: { secretKey?: unknown; durationMs?: unknown }, target?: TbTarget): Promise<void>;
  abstract requestAttributes(request: AttributeRequest, options?: TbRequestOptions): Promise<AttributeValues>;
  abstract callRpc(method: unknown, params: unknown, options?: TbRequestOptions): Promise<TbJson>;

  sendFirmware(_data: unknown, _shipment: FirmwareShipment, _target?: TbTarget): Promise<void> {
    return Promise.reject(this.unsupported("sending firmware", "only a device hosted on an iot-broker node (local mode) downloads firmware from Node-RED; as a device, firmware comes from ThingsBoard"));
  }
  /** Sends a checked reply (JSON-ready) to a request that was waiting. */
  protected abstract sendReply(request: TbRpcRequest, result: TbJson): Promise<void>;

  async replyRpc(ref: RpcRef, result: unknown): Promise<void> {
    this.assertOpen();
    const idText = requestIdText(typeof ref.id === "string" ? ref.id.trim() : ref.id, "msg.thingsboard.rpcId");
    const device = this.subDevice(ref.device) ?? this.name;
    const key = servedKey(device, idText);
    const payload = encodeRpcResponse(result); // checked before the request is taken
    const served = this.#served.get(key);
    if (served === undefined) {
      const settled = this.#settled.get(key);
      const what = `RPC id ${idText} from "${device}"`;
      if (settled === "answered") throw new StaleReplyError("answered", `${what} was answered already; a request gets one reply`);
      if (settled === "expired") throw new StaleReplyError("expired", `${what} timed out before this reply; ThingsBoard no longer waits for it`);
      throw new StaleReplyError("unknown", `no ${what} is waiting for a reply; send back the msg the serve node emitted, with msg.thingsboard unchanged`);
    }
    // Taken before sending: a second reply meanwhile is refused, and the waiters are done either way.
    this.#settle(key, served, "answered");
    for (const w of served.waiters) w.resolve();
    await this.sendReply(served.request, payload);
  }

  awaitReply(request: TbRpcRequest, timeoutMs?: number): Promise<void> {
    const served = this.#served.get(servedKey(request.device, String(request.id)));
    if (served === undefined) return Promise.reject(new StaleReplyError("expired", `RPC id ${request.idText} is not waiting any more`));
    const promise = new Promise<void>((resolve, reject) => {
      served.waiters.push({ resolve, reject });
    });
    promise.catch(() => undefined); // callers still see the rejection; a dropped promise cannot crash
    // The first serve node's timeout replaces the default; another one may only extend it.
    const ms = timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : this.#serveMs;
    if (!served.awaited || this.now() + ms > served.deadline) this.#arm(servedKey(request.device, String(request.id)), served, ms);
    served.awaited = true;
    return promise;
  }

  /** Requests still waiting, ours and the other side's, end with the link. */
  protected override afterShutdown(): void {
    const closed = new TransportError("closed", "the ThingsBoard link was closed");
    this.calls.rejectAll(closed);
    this.attributeCalls.rejectAll(closed);
    for (const [key, served] of this.#served) {
      this.#settle(key, served, "expired");
      for (const w of served.waiters) w.reject(closed);
    }
  }

  /** Registers an RPC request from the other side and hands it to flows. */
  protected offerRpc(request: TbRpcRequest): void {
    if (this.closed) return;
    const key = servedKey(request.device, String(request.id));
    const old = this.#served.get(key);
    if (old !== undefined) {
      this.warn(`RPC id ${request.idText} from "${request.device}" arrived again before the first one was answered; the first one is dropped`);
      this.#settle(key, old, "expired");
    }
    const served: Served = { request, deadline: 0, awaited: false, timer: undefined, waiters: [] };
    this.#served.set(key, served);
    this.#settled.delete(key);
    this.#arm(key, served, this.#serveMs);
    this.deliver(request);
  }

  /** undefined for the device itself; the sub-device name otherwise (a gateway only). */
  protected subDevice(device: string | undefined): string | undefined {
    if (device === undefined || device === "" || device === this.name) return undefined;
    if (!this.gateway) {
      throw new TransportError("invalid", `"${device}" names a sub-device, which only a gateway has; this ThingsBoard device is "${this.name}" (turn "gateway" on, or leave msg.thingsboard.device empty)`);
    }
    return device;
  }

  #arm(key: string, served: Served, ms: number): void {
    clearTimeout(served.timer);
    served.deadline = this.now() + ms;
    served.timer = setTimeout(() => {
      if (this.#served.get(key) !== served) return;
      this.#settle(key, served, "expired");
      const { method, idText } = served.request;
      const err = new TransportError("timeout", `RPC "${method}" (id ${idText}) from "${served.request.device}" was not answered within ${ms / 1000} s`);
      for (const w of served.waiters) w.reject(err);
    }, ms);
  }

  #settle(key: string, served: Served, how: "answered" | "expired"): void {
    clearTimeout(served.timer);
    this.#served.delete(key);
    this.#settled.set(key, how);
    if (this.#settled.size > MAX_SETTLED) this.#settled.delete(this.#settled.keys().next().value ?? "");
  }
}

function servedKey(device: string, id: string): string {
  return `${device}\u0000${String(Number(id))}`;
}
