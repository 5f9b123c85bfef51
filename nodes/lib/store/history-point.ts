import { storedJsonText, type StoredJson } from "../broker/device-store.js";
import { StoreError } from "./store-error.js";

/**
 * The JSON text a durable history keeps for a point (SQLite and Redis alike). A StoreError
 * ("invalid") about `where` for a time that is not a number or a value JSON cannot hold (a
 * bigint, a cycle, a function or undefined), before anything is kept.
 */
export function historyPointJson(where: string, plugin: string, deviceId: string, stream: string, ts: number, value: StoredJson): string {
  if (!Number.isFinite(ts)) throw new StoreError("invalid", where, `a history point needs a time in ms (got ${String(ts)})`);
  const json = storedJsonText(value);
  if (json === undefined) {
    throw new StoreError("invalid", where, `a point of ${plugin} device ${deviceId} stream ${stream} is not JSON (a bigint, a cycle, a function or undefined): not stored`);
  }
  return json;
}
