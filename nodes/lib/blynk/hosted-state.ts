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
 * - `prop`: `<datastream>/<property>` -> a widget property's wire text, as the device
 *   (`ds/<name>/prop/<property>`) or the HTTPS API (`update/property`) set it (neither name
 *   can hold a `/`: topic levels, checked names);
 * - `info`: `mcu` -> what the device last said in `info/mcu` (an McuInfo object); `seen` -> when
 *   it was last connected (ms: set as it connects, sends and leaves, to the second).
 */
import type { DeviceStore } from "../broker/index.js";
import type { McuInfo } from "./codec.js";

export const SECTIONS = { values: "ds", meta: "meta", props: "prop", info: "info" } as const;
/** The keys of the `info` section. */
export const MCU_KEY = "mcu";
export const SEEN_KEY = "seen";

/** A widget property as stored. */
export interface StoredProperty {
  datastream: string;
  property: string;
  /** The wire text (a multi-value keeps its `\0`s). */
  text: string;
}

/** The `prop` key of a datastream's property. */
export function propertyKey(datastream: string, property: string): string {
  return `${datastream}/${property}`;
}

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

/** [field, text] of every stored metadata field, in first-stored order. */
export function storedMetaFields(store: DeviceStore): [string, string][] {
  const found: [string, string][] = [];
  for (const [field, stored] of store.entries(SECTIONS.meta)) if (typeof stored.value === "string") found.push([field, stored.value]);
  return found;
}

/** Every stored widget property, in first-stored order. */
export function storedProperties(store: DeviceStore): StoredProperty[] {
  const found: StoredProperty[] = [];
  for (const [key, stored] of store.entries(SECTIONS.props)) {
    const slash = key.indexOf("/");
    if (slash > 0 && typeof stored.value === "string") found.push({ datastream: key.slice(0, slash), property: key.slice(slash + 1), text: stored.value });
  }
  return found;
}

/** When the device was last connected (ms), if it ever was. */
export function storedLastSeen(store: DeviceStore): number | undefined {
  const value = store.get(SECTIONS.info, SEEN_KEY)?.value;
  return typeof value === "number" ? value : undefined;
}

/** What the device last said about itself (a copy), or undefined. */
export function storedInfo(store: DeviceStore): McuInfo | undefined {
  const value = store.get(SECTIONS.info, MCU_KEY)?.value;
  return typeof value === "object" && value !== null && !Array.isArray(value) ? { ...value } : undefined;
}
