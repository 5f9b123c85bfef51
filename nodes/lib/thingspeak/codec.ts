/**
 * ThingSpeak codec (docs/PROTOCOLS.md 5): channel updates, MQTT topics, the subscribe JSON
 * entry and the limits, for both sides — the client link and the self-hosted broker emulation.
 * Pure functions, no I/O. REST requests and answers are in rest-codec.ts (client) and
 * rest-server.ts (server).
 *
 * Decisions on UNCONFIRMED or undocumented points (docs/PROTOCOLS.md 5, 6):
 * - Subscribe JSON (`channels/<id>/subscribe`, key set "partly UNCONFIRMED"): every key is always
 *   present, in the order channel_id, created_at, entry_id, field1..field8, latitude, longitude,
 *   elevation, status; absent values are null; fields, location and status are text (as in the
 *   documented `update.json` answer); created_at is UTC in whole seconds ("2018-09-10T17:41:59Z").
 *   parseEntry also accepts numbers for those values and ignores unknown keys.
 * - Per-field subscribe topics carry the field's text only for fields the entry has (a null
 *   field publishes nothing); `subscribe/fields/+` is recognised as a filter.
 * - Field-topic payloads are raw UTF-8 text (TS-PUBF shows a raw value), not percent-decoded.
 * - Legacy broker topics (`channels/<id>/publish/<writeKey>`, `subscribe/<fmt>/<readKey>`) are not
 *   recognised: that broker is retired and device firmware for mqtt3 uses the current topics.
 * - Updates: booleans are written as 1/0 (charts plot numbers); empty values are refused on the
 *   client (they write nothing) and treated as absent on the server; on the server a repeated
 *   key's last value wins; keys outside the update (field9, twitter, talkback_key...) are ignored
 *   and listed (the cloud ignores unknown parameters and still stores the entry; MATLAB Answers
 *   781083), but the client refuses them with the accepted keys named.
 * - A server-side body with no update keys parses to an empty update (isEmptyUpdate says so): the
 *   cloud still stores an entry for such a write (MATLAB Answers 781083); the emulation decides.
 * - Client input keys are case-insensitive, `1`..`8` stand for field1..field8, and latitude /
 *   longitude (the entry and bulk names) are accepted for lat / long; a key given twice is refused.
 * - The 3000-byte limit applies to the update's own `key=value` pairs as encoded (api_key and
 *   timezone excluded): the same bytes over MQTT and REST.
 * - created_at: Dates and ms are sent as ISO 8601 UTC; text is sent as written. Zone-less text
 *   ("2014-12-31 23:59:59", the documented example) is read as UTC wherever this package needs
 *   the instant (entries, the self-hosted server); the self-hosted REST API refuses zone-less
 *   times under a non-UTC `timezone` rather than misread them, and always answers in UTC.
 * - Coalescing (mergeUpdates): per key the latest value wins; created_at is the latest write's or
 *   none (see mergeUpdates).
 * - Over-rate publishes (docs/PROTOCOLS.md 6, UNCONFIRMED cloud behaviour) are not decided here: the
 *   emulation applies its interval; rest-server.ts gives the REST "0" answer for a rejected update.
 * - elevation accepts any finite number (the doc says integer metres; rounding is left to the
 *   cloud); lat must be -90..90 and long -180..180 as documented.
 */
import { describeValue, parseScalar } from "../transport/value-codec.js";
import {
  type ChannelUpdate,
  type FieldNumber,
  FIELD_NUMBERS,
  createdAtMs,
  entryTime,
  fieldText,
  invalid,
  isPlainObject,
  toChannelId,
  toFieldNumber,
} from "./codec-update.js";

export * from "./codec-update.js";

// ---------------------------------------------------------------------------------------------
// MQTT topics (mqtt3.thingspeak.com, docs/PROTOCOLS.md 5.1)

export type TopicKind = "publish" | "publish-field" | "subscribe" | "subscribe-field";

export interface ParsedTopic {
  kind: TopicKind;
  channelId: number;
  /** For the field kinds; "+" only in the `subscribe/fields/+` filter. */
  field?: FieldNumber | "+";
}

export function publishTopic(channelId: unknown): string {
  return `channels/${toChannelId(channelId)}/publish`;
}

export function publishFieldTopic(channelId: unknown, field: unknown): string {
  return `channels/${toChannelId(channelId)}/publish/fields/field${toFieldNumber(field)}`;
}

export function subscribeTopic(channelId: unknown): string {
  return `channels/${toChannelId(channelId)}/subscribe`;
}

/** `"+"` gives the documented filter for every field of the channel. */
export function subscribeFieldTopic(channelId: unknown, field: unknown): string {
  const level = field === "+" ? "+" : `field${toFieldNumber(field)}`;
  return `channels/${toChannelId(channelId)}/subscribe/fields/${level}`;
}

const TOPIC = /^channels\/([1-9]\d*)\/(publish|subscribe)(?:\/fields\/(?:field([1-8])|(\+)))?$/;

/**
 * A ThingSpeak topic (or the `subscribe/fields/+` filter) -> its parts; undefined for anything
 * else, including field numbers outside 1..8, ids with leading zeros and `publish/fields/+`.
 */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const m = TOPIC.exec(topic);
  if (!m) return undefined;
  const [, id, verb, field, plus] = Array.from(m, (g): string | undefined => g); // unmatched groups are undefined
  const channelId = Number(id);
  if (!Number.isSafeInteger(channelId)) return undefined;
  if (field === undefined && plus === undefined) return { kind: verb === "publish" ? "publish" : "subscribe", channelId };
  if (plus !== undefined) return verb === "subscribe" ? { kind: "subscribe-field", channelId, field: "+" } : undefined;
  return { kind: verb === "publish" ? "publish-field" : "subscribe-field", channelId, field: Number(field) as FieldNumber };
}

// ---------------------------------------------------------------------------------------------
// Feed entries: the `channels/<id>/subscribe` JSON and the entries of REST reads

export type FieldKey = `field${FieldNumber}`;
export const FIELD_KEYS: readonly FieldKey[] = FIELD_NUMBERS.map((n): FieldKey => `field${n}`);

export interface FeedEntry extends Record<FieldKey, string | null> {
  channel_id: number;
  created_at: string;
  entry_id: number;
  latitude: string | null;
  longitude: string | null;
  elevation: string | null;
  status: string | null;
}

const ENTRY_EXAMPLE = '{"channel_id":1,"created_at":"2024-01-19T12:25:30Z","entry_id":7,"field1":"45",...}';

function entryText(value: unknown, key: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return fieldText(value);
  if (typeof value === "boolean") return fieldText(value);
  throw invalid(`entry key ${key} is ${describeValue(value)}; accepted: text, a number or null`);
}

function entryId(value: unknown, key: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw invalid(`entry key ${key} is ${describeValue(value)}; accepted: a positive whole number`);
  }
  return n;
}

/**
 * A subscribe message or a REST entry -> FeedEntry. `json` may be text, a Buffer or an object;
 * `channelId` fills channel_id where the JSON has none (REST feed entries carry none).
 */
export function parseEntry(json: unknown, channelId?: number): FeedEntry {
  let data: unknown = json;
  if (typeof json === "string" || Buffer.isBuffer(json)) {
    try {
      data = JSON.parse(json.toString()) as unknown;
    } catch {
      throw invalid(`the entry is not JSON; accepted: an object such as ${ENTRY_EXAMPLE}`);
    }
  }
  if (!isPlainObject(data)) throw invalid(`the entry is ${describeValue(data)}; accepted: an object such as ${ENTRY_EXAMPLE}`);
  const createdAt = data.created_at;
  if (typeof createdAt !== "string") throw invalid(`entry key created_at is ${describeValue(createdAt)}; accepted: ISO 8601 text`);
  createdAtMs(createdAt); // validates
  const entry = emptyEntry(entryId(data.channel_id ?? channelId, "channel_id"), entryId(data.entry_id, "entry_id"), createdAt);
  for (const key of FIELD_KEYS) entry[key] = entryText(data[key], key);
  entry.latitude = entryText(data.latitude, "latitude");
  entry.longitude = entryText(data.longitude, "longitude");
  entry.elevation = entryText(data.elevation, "elevation");
  entry.status = entryText(data.status, "status");
  return entry;
}

function emptyEntry(channelId: number, entryIdValue: number, createdAt: string): FeedEntry {
  // Built key by key in the documented order so JSON.stringify keeps it.
  const entry = { channel_id: channelId, created_at: createdAt, entry_id: entryIdValue } as FeedEntry;
  for (const key of FIELD_KEYS) entry[key] = null;
  entry.latitude = null;
  entry.longitude = null;
  entry.elevation = null;
  entry.status = null;
  return entry;
}

/** FeedEntry -> the JSON text of a `channels/<id>/subscribe` message (validated, keys in order). */
export function encodeEntry(entry: FeedEntry): string {
  return JSON.stringify(parseEntry(entry));
}

/**
 * Server side: a device's update -> the stored entry. created_at comes from the update when it
 * has one, else `now`; both are shown in UTC whole seconds.
 */
export function entryFromUpdate(channelId: unknown, entryIdValue: unknown, update: ChannelUpdate, now: Date | number): FeedEntry {
  const at = update.created_at !== undefined ? createdAtMs(update.created_at) : createdAtMs(now);
  const entry = emptyEntry(toChannelId(channelId), entryId(entryIdValue, "entry_id"), entryTime(at));
  for (const n of FIELD_NUMBERS) {
    const v = update.fields[n];
    if (v !== undefined) entry[`field${n}`] = fieldText(v);
  }
  if (update.lat !== undefined) entry.latitude = fieldText(update.lat);
  if (update.long !== undefined) entry.longitude = fieldText(update.long);
  if (update.elevation !== undefined) entry.elevation = fieldText(update.elevation);
  if (update.status !== undefined) entry.status = update.status;
  return entry;
}

export interface TopicMessage {
  topic: string;
  payload: string;
}

/** Server side: what subscribers get for a new entry — the JSON, then each present field's text. */
export function entryMessages(entry: FeedEntry): TopicMessage[] {
  const out: TopicMessage[] = [{ topic: subscribeTopic(entry.channel_id), payload: encodeEntry(entry) }];
  for (const n of FIELD_NUMBERS) {
    const v = entry[`field${n}`];
    if (v !== null) out.push({ topic: subscribeFieldTopic(entry.channel_id, n), payload: v });
  }
  return out;
}

/** The fields an entry has, as values: exact numbers become numbers unless `raw` (see parseScalar). */
export function entryFields(entry: FeedEntry, options: { raw?: boolean } = {}): Partial<Record<FieldNumber, string | number>> {
  const out: Partial<Record<FieldNumber, string | number>> = {};
  for (const n of FIELD_NUMBERS) {
    const v = entry[`field${n}`];
    if (v !== null) out[n] = options.raw === true ? v : parseScalar(v);
  }
  return out;
}

/** The value of one field of an entry, or undefined when the entry has none. */
export function entryField(entry: FeedEntry, field: unknown): string | undefined {
  const n = toFieldNumber(field);
  return entry[`field${n}`] ?? undefined;
}
