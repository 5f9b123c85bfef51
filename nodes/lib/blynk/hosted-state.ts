/**
 * How a hosted Blynk device's state is laid out in its `DeviceStore` (broker/device-store.ts),
 * and the reads of it: pure functions over the store, for the emulation and for the local-mode
 * link (which reads through its handle's `store`). Writes, with their limits, are in
 * hosted-store.ts.
 *
 * Sections (keys are names the device or flows chose, never a token):
 * - `ds`: datastream name -> its last value as wire text (a string: "100.00000" stays so),
 *   `at` when it was current (write time, or a timestamped point's time);
 * - `meta`: metadata field -> text the device set with `meta/<field>`;
 * - `info`: `mcu` -> what the device last said in `info/mcu` (an McuInfo object).
 */
import type { DeviceStore } from "../broker/index.js";
import type { McuInfo } from "./codec.js";

export const SECTIONS = { values: "ds", meta: "meta", info: "info" } as const;
/** The one key of the `info` section. */
export const MCU_KEY = "mcu";

/** The stored text of datastream `name`, or undefined. */
export function storedValue(store: DeviceStore, name: string): string | undefined {
  const value = store.get(SECTIONS.values, name)?.value;
  return typeof value === "string" ? value : undefined;
}

/** [name, text] of every datastream with a value, in first-stored order. */
export function storedValues(store: DeviceStore): [string, string][] {
  const values: [string, string][] = [];
  for (const [name, stored] of store.entries(SECTIONS.values)) {
    if (typeof stored.value === "string") values.push([name, stored.value]);
  }
  return values;
}

/** The stored metadata `field`, or undefined. */
export function storedMeta(store: DeviceStore, field: string): string | undefined {
  const value = store.get(SECTIONS.meta, field)?.value;
  return typeof value === "string" ? value : undefined;
}

/** What the device last said about itself (a copy), or undefined. */
export function storedInfo(store: DeviceStore): McuInfo | undefined {
  const value = store.get(SECTIONS.info, MCU_KEY)?.value;
  return typeof value === "object" && value !== null && !Array.isArray(value) ? { ...value } : undefined;
}
