/**
 * Names shared by the self-hosted Blynk emulation (`emulation.ts`), its HTTPS API
 * (`http-api.ts`) and local-mode links. Kept apart so those modules need no import cycle.
 */
import { devicePrefix } from "../broker/index.js";

/** Plugin name on the broker, and the second level of every internal Blynk topic. */
export const BLYNK_PLUGIN = "blynk";

/** `$iot/blynk/<id>/`, with the id checked as devicePrefix checks it (no / + # NUL). */
function base(id: string): string {
  return devicePrefix(BLYNK_PLUGIN, id, "up").slice(0, -"up/".length);
}

/**
 * Internal topics of a hosted device (ids, never tokens: topics show up in logs and events).
 * Every function returns a prefix ending in "/"; append the device-relative topic.
 */
export const hostedTopics = {
  /** What the device published: + `ds/Temp`, `batch_ds`, `event/overheat`, `info/mcu`, ... */
  up: (id: string): string => devicePrefix(BLYNK_PLUGIN, id, "up"),
  /** What the device receives: + `downlink/ds/Power`, ...; flows write to the device here. */
  down: (id: string): string => devicePrefix(BLYNK_PLUGIN, id, "down"),
  /** Retained by the emulation: + `online` (JSON) and `info` (JSON McuInfo). */
  state: (id: string): string => `${base(id)}state/`,
  /**
   * Written through the self-hosted HTTPS API (an HTTP-only device or a webhook acting as the
   * device): + `ds/<name>`, `ds/<name>/timestamped_batch` (JSON points), `event/<code>`,
   * `prop/<name>/<property>`.
   */
  http: (id: string): string => `${base(id)}http/`,
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
}
