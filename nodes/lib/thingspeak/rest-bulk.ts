/**
 * ThingSpeak's bulk write, server side (docs/PROTOCOLS.md 5.2, TS-BULKJ): the body of
 * `POST /channels/<id>/bulk_update.json`, `{"write_api_key": "...", "updates": [{...}, ...]}`,
 * as checked updates, and their times. Pure.
 *
 * Decisions (the documentation leaves these open: UNCONFIRMED):
 * - Each update has `created_at` (ISO 8601 or MySQL text, zone-less read as UTC; or EPOCH: a
 *   whole number of seconds) or `delta_t` (seconds since the update before it; only the first
 *   may be 0). An array with no `created_at` ends at the time of the request (the device
 *   collected, then sent); otherwise it must start with one, and each `delta_t` counts on from
 *   the update before it (a leading `delta_t` would have nothing to count from: refused).
 * - `latitude` and `longitude` are the location (as `lat` and `long` in a single update); other
 *   keys besides the fields, elevation and status are ignored, as `/update` ignores them.
 * - Every update is checked (values, the 3000-byte message size) before anything is stored: one
 *   bad update refuses the whole call, naming it.
 */
import { type ChannelUpdate, createdAtMs, isPlainObject, parseUpdateForm } from "./codec.js";
import { TransportError } from "../transport/errors.js";
import { jsonTextTooDeep, tooDeep } from "../transport/json-limits.js";

/** One update of the body (without its time) and its time: absolute (`at`, ms) or relative (`deltaS`). */
export type BulkItem = { update: ChannelUpdate; at: number } | { update: ChannelUpdate; deltaS: number };

export interface BulkBody {
  apiKey?: string;
  items: BulkItem[];
}

const invalid = (message: string): TransportError => new TransportError("invalid", message);
const EXAMPLE = '{"write_api_key":"...","updates":[{"created_at":"2024-01-19 12:00:00","field1":21.5},{"delta_t":15,"field1":21.7}]}';

function bodyObject(body: unknown): Record<string, unknown> {
  let value: unknown = body;
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    const text = body.toString();
    if (jsonTextTooDeep(text)) throw tooDeep("the JSON body");
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      throw invalid(`the body is not valid JSON; accepted: ${EXAMPLE}`);
    }
  }
  if (!isPlainObject(value)) throw invalid(`the body must be a JSON object; accepted: ${EXAMPLE}`);
  return value;
}

/** An absolute created_at: EPOCH seconds (a whole number, or its digits), else time text. */
function absoluteMs(value: unknown, which: string): number {
  const seconds = typeof value === "number" ? value : typeof value === "string" && /^\d{1,12}$/.test(value.trim()) ? Number(value) : undefined;
  if (seconds !== undefined) {
    if (!Number.isSafeInteger(seconds) || seconds < 0) throw invalid(`${which}: created_at ${String(value)} is not a time; accepted: EPOCH seconds, ISO 8601 or "YYYY-MM-DD HH:MM:SS"`);
    return seconds * 1000;
  }
  try {
    return createdAtMs(value);
  } catch (err) {
    throw invalid(`${which}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function deltaSeconds(value: unknown, first: boolean, which: string): number {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !first)) {
    throw invalid(`${which}: delta_t ${JSON.stringify(value)} is not accepted; accepted: seconds since the update before it, above 0 (the first update may give 0)`);
  }
  return n;
}

/** One update object -> its checked update and time. */
function bulkItem(raw: unknown, index: number): BulkItem {
  const which = `update ${index}`;
  if (!isPlainObject(raw)) throw invalid(`${which} is not an object; accepted: ${EXAMPLE}`);
  const { created_at: createdAt, delta_t: delta, latitude, longitude, ...rest } = raw;
  const params: Record<string, unknown> = { ...rest };
  if (latitude !== undefined) params.lat = latitude;
  if (longitude !== undefined) params.long = longitude;
  let update: ChannelUpdate;
  try {
    update = parseUpdateForm(params).update;
  } catch (err) {
    if (err instanceof TransportError) throw new TransportError(err.code, `${which}: ${err.message}`);
    throw err;
  }
  const hasAt = createdAt !== undefined && createdAt !== null && createdAt !== "";
  const hasDelta = delta !== undefined && delta !== null && delta !== "";
  if (hasAt === hasDelta) throw invalid(`${which} needs created_at or delta_t (one of them); accepted: ${EXAMPLE}`);
  if (hasAt) return { update, at: absoluteMs(createdAt, which) };
  return { update, deltaS: deltaSeconds(delta, index === 0, which) };
}

/** The body of a bulk write; throws TransportError "invalid" (or "too-large" over `maxUpdates` or a message over 3000 bytes). */
export function parseBulkBody(body: unknown, maxUpdates: number): BulkBody {
  const object = bodyObject(body);
  const { write_api_key: key, updates } = object;
  if (key !== undefined && typeof key !== "string") throw invalid("write_api_key must be text");
  if (!Array.isArray(updates) || updates.length === 0) throw invalid(`updates must be a non-empty array; accepted: ${EXAMPLE}`);
  if (updates.length > maxUpdates) throw new TransportError("too-large", `the bulk update has ${updates.length} updates; accepted: at most ${maxUpdates} per call`);
  const items = (updates as unknown[]).map((raw, i) => bulkItem(raw, i));
  if ("deltaS" in items[0] && items.some((item) => "at" in item)) {
    throw invalid("update 0 has delta_t but a later update has created_at: the first update then needs created_at too (delta_t counts on from the update before it); or give delta_t throughout");
  }
  return { ...(key === undefined || key === "" ? {} : { apiKey: key }), items };
}

/** The updates with their times (see the decisions above): from the first created_at on, or back from `now` when there is none. */
export function resolveTimes(items: readonly BulkItem[], now: number): ChannelUpdate[] {
  const relativeMs = items.reduce((sum, item, i) => sum + (i > 0 && "deltaS" in item ? item.deltaS * 1000 : 0), 0);
  let t = items.some((item) => "at" in item) ? 0 : now - relativeMs;
  return items.map((item, i) => {
    if ("at" in item) t = item.at;
    else if (i > 0) t += item.deltaS * 1000;
    return { ...item.update, created_at: Math.round(t) };
  });
}
