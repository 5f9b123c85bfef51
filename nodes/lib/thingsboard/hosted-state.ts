/**
 * Where a hosted ThingsBoard device's state lies in its DeviceStore (broker/device-store.ts),
 * and the reads a local-mode link may make of it (through its handle's `store`). Sections:
 * `client` and `shared` attributes, and `telemetry` (the latest value of each key, `at` = its
 * ts), of the device itself; the same sections with `:<name>` for each gateway sub-device,
 * whose names are listed in `sub-devices`. Keys are attribute and telemetry keys; values are
 * the values as received. Writes, with their limits, are hosted-store.ts's.
 *
 * History (the engine's DeviceHistory, plugin "thingsboard", the hosted device's id): every
 * telemetry point, value = the value as received, time = its ts (else its arrival); stream =
 * its key, or `<sub-device>/<key>` for a gateway's sub-device (`historyStream`). Sub-devices
 * stay under the gateway's id so that the history's bound on streams per device bounds what a
 * gateway can make, however many sub-devices it invents. "%" and "/" in a sub-device's name, and
 * in a key of the device itself, are written %25 and %2F, so no two series share a stream:
 * a stream without "/" is the device's own key, one with "/" is a sub-device's (its first "/"
 * ends the name). Attributes are state, not history.
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

/** "%" and "/" written %25 and %2F (nothing else changes: most names come out as they are). */
function escapeSlash(text: string): string {
  return text.includes("/") || text.includes("%") ? text.replaceAll("%", "%25").replaceAll("/", "%2F") : text;
}

/** The history stream of telemetry key `key` of the device itself, or of its gateway sub-device `device`. */
export function historyStream(key: string, device?: string): string {
  return device === undefined ? escapeSlash(key) : `${escapeSlash(device)}/${key}`;
}
