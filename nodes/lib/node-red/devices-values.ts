/**
 * What the "IoT devices" sidebar shows of one hosted device's state, read from its DeviceStore
 * through each platform's own read helpers: the last value of every datastream / telemetry key /
 * field with its history stream (for the sparkline), the firmware version where the device said
 * it, and when it was last seen where the platform keeps that. Stores hold no secrets
 * (broker/device-store.ts), so neither does what this returns.
 */
import type { DeviceStore, StoredJson } from "../broker/index.js";
import { BLYNK_PLUGIN } from "../blynk/hosted-types.js";
import { MCU_KEY, SECTIONS, SEEN_KEY, storedValues } from "../blynk/hosted-state.js";
import { historyStream, latestTelemetry, sectionOf } from "../thingsboard/hosted-state.js";
import { TB_PLUGIN } from "../thingsboard/hosted-types.js";
import { lastEntry } from "../thingspeak/hosted-state.js";

/** Values shown per device (the rest are counted): bounds the snapshot and every update. */
export const MAX_VALUES = 24;
/** Longest value text shown. */
const MAX_TEXT = 64;

export interface ShownValue {
  /** As the user names it: datastream, telemetry key, field name (or `field3`). */
  readonly name: string;
  /** Text, at most MAX_TEXT characters. */
  readonly value: string;
  /** When it was current (ms). */
  readonly at: number;
  /** The history stream of this value (engine.history), for its sparkline. */
  readonly stream: string;
  /** The value as a number, when it is one. */
  readonly number?: number;
}

export interface DeviceState {
  values: ShownValue[];
  /** Values beyond MAX_VALUES. */
  more: number;
  firmware?: string;
  lastSeen?: number;
}

/** The shown state of a device of `plugin` from its store; `fieldNames`: ThingSpeak's names by field number. */
export function deviceState(plugin: string, store: DeviceStore, fieldNames: Partial<Record<number, string>> = {}): DeviceState {
  if (plugin === BLYNK_PLUGIN) return blynkState(store);
  if (plugin === TB_PLUGIN) return tbState(store);
  return thingSpeakState(store, fieldNames);
}

function blynkState(store: DeviceStore): DeviceState {
  const values = storedValues(store).map(([name, text]) => shown(name, text, store.get(SECTIONS.values, name)?.at ?? 0, name));
  const mcu = store.get(SECTIONS.info, MCU_KEY)?.value;
  const seen = store.get(SECTIONS.info, SEEN_KEY)?.value;
  const version = isObject(mcu) && typeof mcu.ver === "string" ? mcu.ver : undefined;
  return bounded(values, { ...(version === undefined ? {} : { firmware: version }), ...(typeof seen === "number" ? { lastSeen: seen } : {}) });
}

/** ThingsBoard firmware: what the device reports as client attributes (its OTA client's keys first). */
const TB_FIRMWARE_KEYS = ["current_fw_version", "fw_version", "firmware_version", "firmwareVersion"];

function tbState(store: DeviceStore): DeviceState {
  const values = Object.entries(latestTelemetry(store)).map(([key, point]) => shown(key, point.value, point.ts, historyStream(key)));
  let firmware: string | undefined;
  for (const key of TB_FIRMWARE_KEYS) {
    const value = store.get(sectionOf("client"), key)?.value;
    if (firmware === undefined && (typeof value === "string" || typeof value === "number")) firmware = String(value);
  }
  return bounded(values, firmware === undefined ? {} : { firmware });
}

function thingSpeakState(store: DeviceStore, fieldNames: Partial<Record<number, string>>): DeviceState {
  const entry = lastEntry(store);
  if (entry === undefined) return { values: [], more: 0 };
  const at = Date.parse(entry.created_at);
  const values: ShownValue[] = [];
  for (let n = 1; n <= 8; n++) {
    const text = entry[`field${String(n)}` as `field${1 | 2 | 3 | 4 | 5 | 6 | 7 | 8}`];
    if (text !== null) values.push(shown(fieldNames[n] ?? `field${String(n)}`, text, Number.isNaN(at) ? 0 : at, `field${String(n)}`));
  }
  return bounded(values, Number.isNaN(at) ? {} : { lastSeen: at });
}

function bounded(values: ShownValue[], rest: Omit<DeviceState, "values" | "more">): DeviceState {
  return { values: values.slice(0, MAX_VALUES), more: Math.max(0, values.length - MAX_VALUES), ...rest };
}

function shown(name: string, value: StoredJson, at: number, stream: string): ShownValue {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const number = asNumber(value);
  return { name, value: text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text, at, stream, ...(number === undefined ? {} : { number }) };
}

/** A stored value as a finite number (numbers, and texts that are one: Blynk keeps wire text), else undefined. */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string" || value.trim() === "" || value.length > 40) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
