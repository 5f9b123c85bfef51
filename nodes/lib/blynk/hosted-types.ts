/**
 * What the self-hosted Blynk emulation (`emulation.ts`, `hosted-plugin.ts`, `hosted-device.ts`),
 * its HTTPS API (`http-api.ts`) and the local-mode link share: the internal topic names, the
 * hosted device's settings, and the messages of its hosted-device handle (docs/ARCHITECTURE.md
 * 3.6). Kept apart so the link depends on these types only, never on the emulation.
 */
import { devicePrefix, type HostedDeviceHandle, type ShelvedImage } from "../broker/index.js";
import type { HardwareOp } from "./binary/index.js";
import type { McuInfo, UplinkMessage } from "./codec.js";

/** Plugin name on the broker, and the second level of every internal Blynk topic. */
export const BLYNK_PLUGIN = "blynk";

/**
 * Internal topics of a hosted device (ids, never tokens: topics show up in logs and events).
 * Every function returns a prefix ending in "/"; append the device-relative topic. Devices
 * depend on this layout: `up/` is what the device publishes, `down/` what it receives.
 */
export const hostedTopics = {
  /** What the device published: + `ds/Temp`, `batch_ds`, `event/overheat`, `info/mcu`, ... */
  up: (id: string): string => devicePrefix(BLYNK_PLUGIN, id, "up"),
  /** What the device receives: + `downlink/ds/Power`, ...; flows' writes and the emulation's answers. */
  down: (id: string): string => devicePrefix(BLYNK_PLUGIN, id, "down"),
} as const;

/** A Blynk device that an `iot-broker` serves (defined by a local-mode `blynk-device`). */
export interface HostedBlynkDevice {
  /** The `blynk-device` config node's id: safe in topics, stable across deploys. */
  id: string;
  /** The device auth token (a secret: never logged, never put in a topic or message). */
  token: string;
  name: string;
  /** When set, an `info/mcu` naming another template gets a warning. */
  templateId?: string;
  /** IANA zone for `get/utc/all/json`; default the Node-RED host's. */
  timeZone?: string;
  /** HTTPS API pins -> datastream names ("v1" -> "Temperature"); unmapped pins are names as they are ("v1"). */
  pins?: Record<string, string>;
  /**
   * Blynk's "sync with latest server value every time device connects": each time the device
   * connects, the stored values go to it on `downlink/ds/<name>` once its subscription covers
   * them (default off: the device asks with `get/ds` when it wants them).
   */
  syncOnConnect?: boolean;
  /**
   * Where devices download firmware a flow ships (ota.ts): `base` (the "OTA download address"
   * setting, e.g. "http://192.168.1.10:1880"), else the address the device's connection reached
   * with Node-RED's `scheme`, `port` and HTTP root.
   */
  ota?: { base?: string; scheme?: "http" | "https"; port?: number; root?: string };
}

/** Who sent an uplink: the device itself (MQTT), or a caller of the self-hosted HTTPS API acting as the device. */
export type BlynkUpSource = "device" | "http";

/**
 * What the hosted device sent, parsed once by the emulation (`Up` of the handle). HTTPS API
 * calls arrive in the same shape as the MQTT uplink that means the same (`update` as `ds`,
 * a timestamped POST as `timestamped`, `update/property` as `property`, `logEvent` as `event`).
 */
export interface BlynkUp {
  source: BlynkUpSource;
  message: UplinkMessage | LegacyNotice;
  /**
   * The value as text on the wire for `ds` and `property` messages, exactly as sent
   * ("100.00000" stays so); "" for the other kinds.
   */
  text: string;
}

/**
 * What the legacy Blynk server passed on to its user's phone or mailbox, handed to flows instead
 * (so a flow sends the push or the mail): the legacy HTTP API's `notify` and `email` (and the
 * binary protocol's NOTIFY / EMAIL commands). Flows see them as events of code "notify" / "email".
 */
export type LegacyNotice = { kind: "notify"; body: string } | { kind: "email"; to?: string; subject: string; body: string };

/**
 * Something flows send the device (`Down` of the handle): a datastream value as wire text. The
 * runtime remembers it (`get/ds` answers with it) and delivers it however the device is
 * connected; the sender has checked the name and encoded the value (codec encodeValue).
 */
export type BlynkDown =
  | { kind: "ds"; datastream: string; text: string }
  /** Binary-protocol devices only (hardware-down.ts): pin modes, digital/analog reads. */
  | { kind: "hardware"; op: Extract<HardwareOp, { op: "pin-mode" | "read" }> }
  /** A firmware update from `url` (INTERNAL `ota` over the binary protocol, `downlink/ota/json` over MQTT). */
  | { kind: "ota"; url: string; size?: number; type?: string; ver?: string; build?: string }
  /** A firmware file for Node-RED to serve (ota.ts), then announced as `ota`. */
  | { kind: "ota-image"; image: ShelvedImage; type?: string; ver?: string; build?: string }
  /** `downlink/reboot` (MQTT only: the binary protocol has no reboot command). */
  | { kind: "reboot" }
  /** `downlink/ping` at QoS 1 (MQTT), PING (binary): the device's answer shows it alive. */
  | { kind: "ping" }
  /** Metadata from flows: stored (`get/meta` answers it), and `downlink/meta/<field>` over MQTT. */
  | { kind: "meta"; field: string; value: string };

/** A hosted Blynk device as its local-mode link holds it: resolves sends once handed to the broker (or queued). */
export type HostedBlynkHandle = HostedDeviceHandle<BlynkUp, BlynkDown, void, McuInfo>;

/** Hosts a device and returns its handle (emulation.ts `hostBlynkDeviceHandle`; injected into the local link). */
export type HostBlynkDevice = (brokerId: string, device: HostedBlynkDevice, onError: (err: unknown) => void) => HostedBlynkHandle;
