/**
 * What the broker remembers of one hosted ThingsBoard device, as a typed view over its
 * DeviceStore (layout and reads in hosted-state.ts): its client attributes (what the device
 * sent), its shared attributes (what flows pushed), the latest value of each telemetry key, and
 * the same for each gateway sub-device, by sub-device name. Attribute requests are answered
 * from here. Bounded, so a misbehaving device or flow cannot grow it without limit; whatever
 * fits is kept, and the rest is named in a TransportError "too-large" ("invalid" when all of it
 * was a value JSON cannot hold: the store keeps JSON only, docs/ARCHITECTURE.md 3.5).
 */
import type { DeviceStore } from "../broker/index.js";
import { TransportError } from "../transport/errors.js";
import { LIMITS, quote, type AttributeKeySelection, type AttributeUpdate, type TbJson, type TbValue, type TbValues, type TelemetryEntry } from "./codec.js";
import { sectionOf, selectAttributes, SUB_DEVICES, type Scope } from "./hosted-state.js";

export const STORE_LIMITS = {
  /** Keys remembered per scope (client, shared attributes; telemetry) of one device or sub-device. */
  keys: 1000,
  /** Gateway sub-devices remembered per gateway. */
  subDevices: 1000,
  /** Longest value as JSON text (ThingsBoard's default maxPayloadSize). */
  valueBytes: LIMITS.maxPayloadBytes,
} as const;

/** Receives one telemetry point that passed the limits: its key, time and value. */
export type TelemetryPoint = (key: string, at: number, value: TbValue) => void;

const SCOPE_WORDS: Readonly<Record<Scope, string>> = { client: "client attributes", shared: "shared attributes", telemetry: "telemetry" };

/** Bytes of `value` as JSON, when it may be over the limit (short text and numbers never are). */
function tooLong(value: TbValue): number | undefined {
  if (typeof value === "number" || typeof value === "boolean") return undefined;
  // At most 6 bytes of JSON per UTF-16 unit (a control character's escape), plus the quotes.
  if (typeof value === "string" && value.length * 6 + 2 <= STORE_LIMITS.valueBytes) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(value));
  return bytes > STORE_LIMITS.valueBytes ? bytes : undefined;
}

/** Whether `value` is JSON as a store keeps it: a device's number too large for a double (1e999) parses as Infinity, which JSON cannot hold. */
function isJson(value: TbJson): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || value === null) return true;
  return (Array.isArray(value) ? value : Object.values(value)).every(isJson);
}

export class TbDeviceState {
  readonly store: DeviceStore;
  readonly #now: () => number;

  constructor(store: DeviceStore, now: () => number = Date.now) {
    this.store = store;
    this.#now = now;
  }

  /** Remembers attributes of `scope` (of sub-device `device` when given); throws "too-large" naming what was not kept. */
  setAttributes(scope: "client" | "shared", values: TbValues, device?: string): void {
    const at = this.#now();
    this.#write(scope, device, Object.entries(values), () => at, () => true);
  }

  /** A shared attribute update from a flow: changed keys set, deleted keys gone. */
  updateShared(update: AttributeUpdate, device?: string): void {
    const section = this.#section("shared", device);
    for (const key of update.deleted) this.store.delete(section, key);
    this.setAttributes("shared", update.values, device);
  }

  /**
   * Keeps the latest value of each key (by ts; an older point does not replace a newer one);
   * throws "too-large" naming what was not kept. Every point that is kept or only older than
   * the kept one goes to `point` (the history), one call each; refused points do not.
   */
  setTelemetry(entries: readonly TelemetryEntry[], device?: string, point?: TelemetryPoint): void {
    const now = this.#now();
    const section = sectionOf("telemetry", device);
    for (const entry of entries) {
      const at = entry.ts ?? now;
      this.#write("telemetry", device, Object.entries(entry.values), () => at, (key) => (this.store.get(section, key)?.at ?? -Infinity) <= at, point);
    }
  }

  /** The attributes a request asks for (ThingsBoard's rule: no key named = everything). */
  select(selection: AttributeKeySelection, device?: string): { client: TbValues; shared: TbValues } {
    return selectAttributes(this.store, selection, device);
  }

  #write(scope: Scope, device: string | undefined, values: [string, TbValue][], at: () => number, newer: (key: string) => boolean, point?: TelemetryPoint): void {
    if (values.length === 0) return;
    const section = this.#section(scope, device);
    const refused: string[] = [];
    let tooLarge = false;
    for (const [key, value] of values) {
      const bytes = tooLong(value);
      if (bytes !== undefined) {
        refused.push(`${quote(key)} is ${bytes} bytes (at most ${STORE_LIMITS.valueBytes})`);
        tooLarge = true;
      } else if (!isJson(value)) {
        refused.push(`${quote(key)} is not JSON (a number out of range)`);
      } else if (this.store.get(section, key) === undefined && this.store.size(section) >= STORE_LIMITS.keys) {
        refused.push(`${quote(key)} would be ${scope === "telemetry" ? "key" : "attribute"} ${STORE_LIMITS.keys + 1} (at most ${STORE_LIMITS.keys})`);
        tooLarge = true;
      } else {
        if (newer(key)) this.store.set(section, key, value, at());
        point?.(key, at(), value);
      }
    }
    if (refused.length > 0) throw new TransportError(tooLarge ? "too-large" : "invalid", `${SCOPE_WORDS[scope]} not remembered: ${refused.join("; ")}`);
  }

  /** The section to write; a sub-device's state starts here, within the limit of sub-devices. */
  #section(scope: Scope, device: string | undefined): string {
    if (device !== undefined && this.store.get(SUB_DEVICES, device) === undefined) {
      if (this.store.size(SUB_DEVICES) >= STORE_LIMITS.subDevices) {
        throw new TransportError("too-large", `${SCOPE_WORDS[scope]} of sub-device ${quote(device)} not remembered: the gateway already has ${STORE_LIMITS.subDevices} sub-devices with state (the limit)`);
      }
      this.store.set(SUB_DEVICES, device, true, this.#now());
    }
    return sectionOf(scope, device);
  }
}
