/**
 * What the broker remembers of one hosted Blynk device, as a typed view over its `DeviceStore`
 * (laid out as hosted-state.ts says): last datastream values (wire text), metadata and device
 * info. Bounded, so a misbehaving device or flow cannot grow it without limit. The view keeps
 * nothing itself: the state lives in the store only, so a durable store keeps all of it.
 */
import type { DeviceStore, StoredJson } from "../broker/index.js";
import { TransportError } from "../transport/errors.js";
import { LIMITS, quote, type McuInfo } from "./codec.js";
import { MCU_KEY, SECTIONS, storedInfo, storedMeta, storedValue, storedValues } from "./hosted-state.js";

export const STORE_LIMITS = {
  /** Datastreams remembered per device (Blynk templates have far fewer). */
  datastreams: 1000,
  /** Metadata fields remembered per device. */
  metaFields: 100,
  /** Longest value in bytes (Blynk's string limit). */
  valueBytes: LIMITS.stringBytes,
} as const;

/** `what` is worded only when the payload is refused (setValue runs on every write). */
function checkSize(what: () => string, payload: string): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short text needs no byte count.
  if (payload.length * 3 <= STORE_LIMITS.valueBytes) return;
  const bytes = Buffer.byteLength(payload);
  if (bytes > STORE_LIMITS.valueBytes) {
    throw new TransportError("too-large", `${what()} is ${bytes} bytes; accepted: at most ${STORE_LIMITS.valueBytes} bytes (Blynk string limit)`);
  }
}

/** McuInfo as JSON: only the fields that are set. */
function infoJson(info: McuInfo): StoredJson {
  const json: Record<string, StoredJson> = {};
  for (const [key, value] of Object.entries(info) as [string, StoredJson | undefined][]) {
    if (value !== undefined) json[key] = value;
  }
  return json;
}

export class BlynkDeviceStore {
  readonly store: DeviceStore;

  constructor(store: DeviceStore) {
    this.store = store;
  }

  /** Datastreams with a value. */
  get size(): number {
    return this.store.size(SECTIONS.values);
  }

  /**
   * Remembers a datastream's value as its MQTT payload text. With `ifNewer`, a value older than
   * the stored one is not taken (a back-filled history must not replace the current value).
   * Returns whether the stored value changed; throws TransportError "too-large" over the limits.
   */
  setValue(name: string, payload: string, at: number, ifNewer = false): boolean {
    checkSize(() => `value of datastream ${quote(name)}`, payload);
    const current = this.store.get(SECTIONS.values, name);
    if (current === undefined && this.store.size(SECTIONS.values) >= STORE_LIMITS.datastreams) {
      throw new TransportError("too-large", `datastream ${quote(name)} not stored: the device already has ${STORE_LIMITS.datastreams} datastreams with values (the limit)`);
    }
    if (current !== undefined && ifNewer && at < current.at) return false;
    // The same text again (e.g. our own get/ds answer echoed back) keeps its original time.
    if (current?.value === payload && !(ifNewer && at > current.at)) return false;
    this.store.set(SECTIONS.values, name, payload, at);
    return true;
  }

  value(name: string): string | undefined {
    return storedValue(this.store, name);
  }

  /** [name, payload] of every datastream with a value, in first-stored order. */
  values(): [string, string][] {
    return storedValues(this.store);
  }

  erase(name: string): void {
    this.store.delete(SECTIONS.values, name);
  }

  setMeta(field: string, value: string, at: number): void {
    checkSize(() => `metadata ${quote(field)}`, value);
    if (this.store.get(SECTIONS.meta, field) === undefined && this.store.size(SECTIONS.meta) >= STORE_LIMITS.metaFields) {
      throw new TransportError("too-large", `metadata ${quote(field)} not stored: the device already has ${STORE_LIMITS.metaFields} metadata fields (the limit)`);
    }
    this.store.set(SECTIONS.meta, field, value, at);
  }

  meta(field: string): string | undefined {
    return storedMeta(this.store, field);
  }

  get info(): McuInfo | undefined {
    return storedInfo(this.store);
  }

  setInfo(info: McuInfo, at: number): void {
    this.store.set(SECTIONS.info, MCU_KEY, infoJson(info), at);
  }

  /** The device's receive buffer in bytes, when it said so in `info/mcu`. */
  get rxbuff(): number | undefined {
    const info = this.store.get(SECTIONS.info, MCU_KEY)?.value;
    const rxbuff = typeof info === "object" && info !== null && !Array.isArray(info) ? info.rxbuff : undefined;
    return typeof rxbuff === "number" ? rxbuff : undefined;
  }
}
