/**
 * Where a hosted ThingsBoard device's state lies in its DeviceStore (broker/device-store.ts),
 * and the reads a local-mode link may make of it (through its handle's `store`). Sections:
 * `client` and `shared` attributes, and `telemetry` (the latest value of each key, `at` = its
 * ts), of the device itself; the same sections with `:<name>` for each gateway sub-device,
 * whose names are listed in `sub-devices`. Keys are attribute and telemetry keys; values are
 * the values as received. Writes, with their limits, are hosted-store.ts's.
 *
 * History (the engine's DeviceHistory, plugin "thingsboard"): every telemetry point, stream =
 * its key, value = the value as received, time = its ts (else its arrival). A gateway's
 * sub-device is a device of its own in ThingsBoard, so its points are under the device id
 * `<gateway id>/<sub-device name>` (`historyDeviceId`), their streams its keys: the id of a
 * hosted device never holds a "/" (it is a topic level), so no sub-device's history can mix
 * with another's or the gateway's own, whatever "/" their names and keys hold. Attributes are
 * state, not history.
 */
import type { DeviceStore } from "../broker/index.js";
import type { AttributeKeySelection, TbValue, TbValues } from "./codec.js";

export type Scope = "client" | "shared" | "telemetry";

/** The section listing the sub-devices that have state (key: sub-device name). */
export const SUB_DEVICES = "sub-devices";

/** The section of `scope` of the device itself, or of sub-device `device`. */
export function sectionOf(scope: Scope, device?: string): string {
  return device === undefined ? scope : `${scope}:${device}`;
}

/** The values of `keys` present in `section`: all of them for `all`, else the named keys found. */
function pick(store: DeviceStore, section: string, keys: readonly string[], all: boolean): TbValues {
  // Stored by hosted-store.ts from checked ThingsBoard values: never null.
  if (all) return Object.fromEntries(store.entries(section).map(([key, stored]) => [key, stored.value as TbValue]));
  const found: [string, TbValue][] = [];
  for (const key of keys) {
    const stored = store.get(section, key);
    if (stored !== undefined) found.push([key, stored.value as TbValue]);
  }
  return Object.fromEntries(found);
}

/** The attributes a request asks for (ThingsBoard's rule: no key named = everything). */
export function selectAttributes(store: DeviceStore, selection: AttributeKeySelection, device?: string): { client: TbValues; shared: TbValues } {
  return {
    client: pick(store, sectionOf("client", device), selection.clientKeys, selection.all),
    shared: pick(store, sectionOf("shared", device), selection.sharedKeys, selection.all),
  };
}

/** The latest value of each telemetry key, with its ts. */
export function latestTelemetry(store: DeviceStore, device?: string): Record<string, { ts: number; value: TbValue }> {
  return Object.fromEntries(store.entries(sectionOf("telemetry", device)).map(([key, stored]) => [key, { ts: stored.at, value: stored.value as TbValue }]));
}

/** The history device id of a hosted device's telemetry, or of its gateway sub-device `device`. */
export function historyDeviceId(id: string, device?: string): string {
  return device === undefined ? id : `${id}/${device}`;
}
