/**
 * The client side of one Blynk device ("the link"): the types every mode shares and the base
 * class with what Blynk adds to every platform's link (transport/device-link.ts): the event
 * gate and redirects. Modes: link-mqtt.ts (Node-RED is the device), link-https.ts (Node-RED controls a
 * device over the HTTPS API), link-local.ts (Node-RED serves a device hosted on an iot-broker),
 * link-binary.ts (Node-RED is the device over Blynk's binary protocol).
 */
import { DeviceLink, type DeviceLinkApi, type DeviceLinkEvents, type DeviceLinkStatus } from "../transport/device-link.js";
import type { HttpClientOptions } from "../transport/http-client.js";
import type { MqttSessionOptions } from "../transport/mqtt-session.js";
import type { FleetMembers } from "../broker/fleet-members.js";
import type { SecretBox } from "../transport/secret-box.js";
import type { BinaryOverrides } from "./link-binary.js";
import type { Redactor } from "../transport/redact.js";
import type { BlynkValue } from "./codec.js";
import { EventGate, type EventReceipt } from "./link-events.js";

export type BlynkConnection = "mqtt" | "https" | "local" | "binary";

/** Blynk.Cloud's servers (GeoDNS), used when a cloud mode's server is not set. */
export const DEFAULT_SERVERS = { mqtt: "mqtts://blynk.cloud:8883", https: "https://blynk.cloud", binary: "tls://blynk.cloud:443" } as const;

/** Where a value came from: the cloud (mqtt), the hosted device (local), its HTTP API (local), an HTTPS read, the local cache. */
export type BlynkSource = "cloud" | "device" | "http" | "read" | "cache";

/** `deviceOnline`: local: the hosted device is connected to the broker; https: the cloud says the device is online. */
export type BlynkLinkStatus = DeviceLinkStatus;

/** A datastream value (or property / erase) from the other side; `datastream` becomes msg.topic. */
export interface BlynkValueMessage {
  kind: "value";
  datastream: string;
  /** The value (numbers as numbers, multi-values as arrays); null for an erase. */
  value: BlynkValue | null;
  /** The value as text on the wire ("" for an erase): decodeValue(text, {raw: true}) gives raw strings. */
  text: string;
  source: BlynkSource;
  /** Set when a widget property changed rather than the value. */
  property?: string;
  erase?: true;
  /** ms, for timestamped points. */
  timestamp?: number;
  /** Part of a batch_ds / batch/update. */
  batch?: true;
  /** An answer to a sync (current value on (re)connect), when the link can tell. */
  sync?: true;
  /** A fleet's link: the fleet device that sent it (docs/ARCHITECTURE.md 3.8). */
  device?: FleetDeviceRef;
}

/** A fleet device as messages name it: `msg.blynk.device`. */
export interface FleetDeviceRef {
  name: string;
  id: string;
}

/** Everything that is not a datastream value; `topic` starts with "$system/". */
export interface BlynkSystemMessage {
  kind: "system";
  topic: string;
  value: unknown;
  source: BlynkSource;
  details?: Record<string, unknown>;
  device?: FleetDeviceRef;
}

/** An event a hosted device logged (local mode). */
export interface BlynkEventMessage {
  kind: "event";
  code: string;
  description: string;
  source: BlynkSource;
  /** More of what was sent: an "email" event's `to` and `subject`. */
  details?: Record<string, string>;
  device?: FleetDeviceRef;
}

export type BlynkIncoming = BlynkValueMessage | BlynkSystemMessage | BlynkEventMessage;

export interface SyncRequest {
  /** Names (pins in https mode) to ask for; undefined or empty = all. */
  datastreams?: string[];
  /** Also ask for time/timezone and location (mqtt). */
  system?: boolean;
}

export type BlynkLinkEvents = DeviceLinkEvents<BlynkLinkStatus, BlynkIncoming> & {
  /** The server moved this device (MQTT downlink/redirect, HTTPS 308): use `server` from now on. */
  redirected: [{ server: string }];
};

export interface BlynkLinkOptions {
  connection: BlynkConnection;
  /** The device auth token: a secret, registered with the redactor and never shown. */
  token: string;
  /** mqtt: mqtt[s]:// or ws[s]:// URL; https: http[s]:// base URL; binary: tcp:// or tls:// host and port. */
  server?: string;
  /** local: id of the iot-broker node that hosts the device. */
  broker?: string;
  /** local: the hosted device's id (the blynk-device config node id). */
  deviceId?: string;
  /** Shown in messages; the hosted device's name. */
  name?: string;
  templateId?: string;
  firmwareVersion?: string;
  /** local: IANA zone the emulation answers get/utc with. */
  timeZone?: string;
  /** local: HTTPS API pin -> datastream name, e.g. {v1: "Temperature"}; binary: the names of virtual pins. */
  pins?: Record<string, string>;
  /** local: push the stored values to the device each time it connects (hosted-types.ts `syncOnConnect`). */
  syncOnConnect?: boolean;
  /** local: host the fleet of this config node (a template) instead of one device; `box` seals its credentials (docs/ARCHITECTURE.md 3.8). */
  fleet?: { box?: SecretBox };
  redactor?: Redactor;
  /** Test and tuning overrides of the MQTT session. */
  mqtt?: Pick<MqttSessionOptions, "reconnect" | "authBackoff" | "connectTimeoutMs" | "random" | "outboxLimit" | "protocolVersion" | "tls" | "stableAfterMs">;
  /** binary: TLS, test and tuning overrides of the binary session (heartbeat, backoff, outbox). */
  binary?: BinaryOverrides;
  /** Test and tuning overrides of the HTTP client. */
  http?: Pick<HttpClientOptions, "retries" | "backoff" | "timeoutMs" | "tls" | "random">;
  /** Events of one code waiting for Blynk's 1 s interval before more are refused; default 10. */
  maxPendingEvents?: number;
  /** Apply Blynk.Cloud's 50 requests/s (default: only for *.blynk.cloud servers). */
  rateLimit?: boolean;
  now?: () => number;
}

export interface WriteOptions {
  /** ms since 1970, a Date or an ISO date-time: sends the value as a timestamped point. */
  timestamp?: unknown;
}

export interface EventOptions {
  /** Called before waiting when the event must wait for Blynk's per-code interval. */
  onDelay?: (delayMs: number) => void;
}

/** The client-side API every flow node uses, the same in all three modes. */
export interface BlynkLink extends DeviceLinkApi<BlynkConnection, BlynkLinkStatus, BlynkLinkEvents> {
  /** The server in use (after redirects); undefined in local mode. */
  readonly server: string | undefined;
  /** A fleet's link: its devices' links, by the device a message names (writes go there). */
  readonly fleet?: FleetMembers<BlynkLink>;
  /** Every method below validates first and rejects without sending anything if the input is unusable. */
  write(datastream: string, value: unknown, options?: WriteOptions): Promise<void>;
  writeBatch(values: unknown): Promise<void>;
  writeTimestamped(datastream: string, points: unknown): Promise<void>;
  setProperty(datastream: string, property: string, value: unknown): Promise<void>;
  /** Erases the value, or the property when one is named. */
  erase(datastream: string, property?: string): Promise<void>;
  logEvent(code: string, description?: string, options?: EventOptions): Promise<EventReceipt>;
  /**
   * Asks for current values. Answers that only the caller should see are returned (local cache,
   * https read); answers that arrive later for everyone come as `incoming` events (mqtt).
   */
  sync(request?: SyncRequest): Promise<BlynkIncoming[]>;
  /** Reads values now (https; local: the last values seen). */
  read(datastreams?: string[]): Promise<BlynkIncoming[]>;
}

export type { EventReceipt };

export abstract class BlynkLinkBase extends DeviceLink<BlynkLinkStatus, BlynkIncoming, BlynkLinkEvents> implements BlynkLink {
  abstract override readonly connection: BlynkConnection;
  readonly #events: EventGate;

  protected constructor(options: BlynkLinkOptions) {
    super(options, { platform: "Blynk", thing: "device" }, [options.token]);
    this.#events = new EventGate({ now: this.now, maxPending: options.maxPendingEvents });
  }

  abstract get server(): string | undefined;

  abstract write(datastream: string, value: unknown, options?: WriteOptions): Promise<void>;
  abstract writeBatch(values: unknown): Promise<void>;
  abstract writeTimestamped(datastream: string, points: unknown): Promise<void>;
  abstract setProperty(datastream: string, property: string, value: unknown): Promise<void>;
  abstract erase(datastream: string, property?: string): Promise<void>;
  abstract sync(request?: SyncRequest): Promise<BlynkIncoming[]>;
  abstract read(datastreams?: string[]): Promise<BlynkIncoming[]>;
  /** Validates an event and returns the function that sends it (so a bad one fails before any wait). */
  protected abstract prepareEvent(code: string, description: string): () => Promise<void>;

  async logEvent(code: string, description = "", options: EventOptions = {}): Promise<EventReceipt> {
    this.assertOpen();
    const send = this.prepareEvent(code, description);
    const receipt = await this.#events.pass(code, options.onDelay);
    await send();
    return receipt;
  }

  protected override beforeShutdown(): undefined {
    this.#events.close();
    return undefined;
  }

  protected redirected(server: string): void {
    this.emit("redirected", { server: this.redactor.redact(server) });
  }
}
