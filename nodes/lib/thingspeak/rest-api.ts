/**
 * ThingSpeak's REST API (docs/PROTOCOLS.md 5.2) served by Node-RED itself for every hosted channel,
 * so HTTP-only devices, ThingSpeak libraries pointed at Node-RED and REST-mode links work
 * self-hosted. An express-compatible handler: requests are understood and answered by the
 * codec's rest-server.ts; this module finds the channel (in the platform's HostedDirectory),
 * checks keys and reads the feed (hosted-state.ts).
 *
 * Decisions:
 * - Paths answered: `/update[.<ext>]` and `/channels/<id>/...` of a hosted channel id, only
 *   while at least one channel is hosted. Everything else goes to `next()`, so flows with their
 *   own `http in` routes (`/update`, `/channels/...`) keep working when nothing is hosted or the
 *   channel id is not one of ours (Node-RED then answers its own 404).
 * - Update: the write key picks the channel (`api_key` or THINGSPEAKAPIKEY); an unknown one is
 *   401. The update interval rejects with 200 `0` (text and json), as the codec decided;
 *   an update with nothing to store is 421 error_no_action, a created_at already stored 409.
 * - Reads: a channel without a read key is public; otherwise `api_key` must be the read key
 *   (401 without it or with another one, the write key included). `fields/N/last` answers the
 *   newest entry that HAS field N (sparse rows: the newest entry may lack it); `-1` when none.
 *   Reads and writes work on the feed also while the channel's broker is not running.
 * - Reads answer from the channel's feed (its DeviceStore), not from the history: the feed holds
 *   whole entries (entry ids, status, location, which fields an entry had), is read
 *   synchronously and also while no broker runs, and keeps what ThingSpeak's reads can return
 *   (8000 entries by default, the most one read answers; storeLimit keeps up to 100,000). The
 *   history keeps each field as a stream of points for the iot-history node and charts, with
 *   the broker's retention.
 * - `bulk_update.json`: the write key (`write_api_key`, or api_key / THINGSPEAKAPIKEY) must be
 *   the channel's own (401 otherwise, also for a channel without one: REST writes need it); at
 *   most 960 updates per call when the channel's update interval is 15 s or more, else 14,400
 *   (the cloud's free and paid limits); the call counts as one update for the interval (429
 *   within it). Stored entries reach the flows and the history, not subscribed devices.
 * - POST bodies: read here (at most 2 MB, else 413) unless a body parser read them already,
 *   in which case `req.body` is used. The query is always parsed from the raw `req.url`.
 * - Too many wrong keys from one address (transport/auth-throttle.ts): 429 error_too_many_requests
 *   with Retry-After, before the body is read or a key checked. A read without a key is no guess.
 * - No key is ever echoed: every key the request carried is scrubbed from error answers.
 */
import { decodeForm } from "./codec.js";
import { JSON_TYPE, serveApi, type ApiCall, type ApiHandler, type ApiOptions, type ApiReply } from "../transport/http-api-skeleton.js";
import { CHANNEL_KINDS, thingSpeakChannels } from "./emulation.js";
import type { ChannelHosting } from "./hosted-channel.js";
import { feedEntries, lastEntry } from "./hosted-state.js";
import { resolveTimes } from "./rest-bulk.js";
import type { WriteResult } from "./hosted-types.js";
import type { FeedEntry } from "./codec.js";
import type { ChannelInfo } from "./rest-codec.js";
import {
  answerZone,
  formatAgeAnswer,
  formatBulkAnswer,
  formatFeedsAnswer,
  formatLastAnswer,
  formatRestError,
  formatStatusAnswer,
  formatUpdateAnswer,
  inZone,
  parseRestRequest,
  restRefusal,
  selectEntries,
  type RestAnswer,
  type RestIntent,
} from "./rest-server.js";
import { LIMITS } from "./codec.js";

/** Largest request body read. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

export interface RestApiOptions extends ApiOptions {
  /** Largest POST body in bytes; default MAX_BODY_BYTES. */
  maxBodyBytes?: number;
}

const UPDATE_PATH = /^\/update(?:\.[^/]*)?$/;
const BULK_PATH = /^\/channels\/[^/]+\/bulk_update(?:\.[^/]*)?$/;
const CHANNEL_PATH = /^\/channels\/([1-9]\d{0,15})(?:[/.]|$)/;

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function byChannelId(channelId: number): ChannelHosting | undefined {
  return thingSpeakChannels.find(CHANNEL_KINDS.channelId, String(channelId));
}

/** Whether `url` is one this API answers now (see the decisions above). */
function isServed(url: string): boolean {
  if (thingSpeakChannels.size === 0) return false;
  const path = pathOf(url);
  if (UPDATE_PATH.test(path)) return true;
  const m = CHANNEL_PATH.exec(path);
  return m !== null && byChannelId(Number(m[1])) !== undefined;
}

/** Errors in the form the request's format asks for: text for `/update`, csv and txt; JSON otherwise. */
function errorFormat(path: string): "json" | "text" {
  if (UPDATE_PATH.test(path)) return path.toLowerCase().endsWith(".json") ? "json" : "text";
  return /\.(?:csv|txt)$/i.test(path) ? "text" : "json";
}

function refused(status: number, message: string, path: string): RestAnswer {
  return formatRestError(restRefusal(status, message), errorFormat(path));
}

const OUTCOME_STATUS = { "no-action": 421, conflict: 409, invalid: 400, "too-large": 413 } as const;

function bulkAnswer(intent: Extract<RestIntent, { op: "bulk" }>, path: string, call: ApiCall): RestAnswer {
  const hosting = byChannelId(intent.channelId);
  if (hosting === undefined) return refused(404, `channel ${intent.channelId} is not hosted here`, path);
  const holder = intent.apiKey === undefined ? undefined : thingSpeakChannels.find(CHANNEL_KINDS.writeKey, intent.apiKey);
  if (holder !== hosting) {
    if (intent.apiKey !== undefined) call.loginFailed();
    return refused(401, intent.apiKey === undefined ? "the write API key is missing; send it as write_api_key" : "the write API key is not this channel's", path);
  }
  call.loginSucceeded();
  const max = hosting.config.updateIntervalMs >= LIMITS.updateIntervalMs.free ? LIMITS.bulkMessages.free : LIMITS.bulkMessages.paid;
  if (intent.items.length > max) return refused(413, `the bulk update has ${intent.items.length} updates; this channel (update interval ${hosting.config.updateIntervalMs} ms) accepts at most ${max} per call`, path);
  call.durable(hosting.store());
  const result = hosting.writeBulk(resolveTimes(intent.items, hosting.now()));
  if (result.ok) return formatBulkAnswer();
  if (result.code === "rate-limited") return { ...refused(429, result.message, path), retryAfterS: Math.max(1, Math.ceil((result.retryInMs ?? 1000) / 1000)) };
  return refused(OUTCOME_STATUS[result.code], result.message, path);
}

function updateAnswer(intent: Extract<RestIntent, { op: "update" }>, path: string, call: ApiCall): RestAnswer {
  const hosting = thingSpeakChannels.find(CHANNEL_KINDS.writeKey, intent.apiKey);
  if (hosting === undefined) {
    call.loginFailed();
    return refused(401, "the write API key is not the key of any hosted channel", path);
  }
  call.loginSucceeded();
  call.durable(hosting.store());
  const result: WriteResult = hosting.write(intent.update);
  if (result.ok) return formatUpdateAnswer(intent.format, result.entry);
  if (result.code === "rate-limited") return formatUpdateAnswer(intent.format, undefined);
  return refused(OUTCOME_STATUS[result.code], result.message, path);
}

function readAnswer(intent: Exclude<RestIntent, { op: "update" | "bulk" }>, path: string, call: ApiCall): RestAnswer {
  const hosting = byChannelId(intent.channelId);
  if (hosting === undefined) return refused(404, `channel ${intent.channelId} is not hosted here`, path);
  if (!hosting.mayRead(intent.apiKey)) {
    if (intent.apiKey !== undefined) call.loginFailed();
    const why = intent.apiKey === undefined ? "this channel is private; give its read API key as api_key" : "the API key is not this channel's read API key";
    return refused(401, why, path);
  }
  if (intent.apiKey !== undefined) call.loginSucceeded();
  const { query } = intent;
  const shape = { status: query.status, location: query.location };
  const store = hosting.store();
  const now = hosting.now();
  /** The channel and `entries` as the request's zone shows them. */
  const zoned = (entries: FeedEntry[]): ReturnType<typeof inZone> => inZone(answerZone(query), hosting.info(), entries);
  const one = (entry: FeedEntry | undefined): { channel: ChannelInfo; entry: FeedEntry | undefined } => {
    const { channel, entries } = zoned(entry === undefined ? [] : [entry]);
    return { channel, entry: entries[0] };
  };
  switch (intent.op) {
    case "feeds":
    case "field":
    case "status": {
      const format = intent.format === "csv" ? "csv" : "json";
      const { channel, entries } = zoned(selectEntries(feedEntries(store), query, now));
      if (intent.op === "status") return formatStatusAnswer(format, channel, entries);
      return formatFeedsAnswer(format, channel, entries, intent.op === "field" ? { ...shape, field: intent.field } : shape);
    }
    case "last": {
      const { channel, entry } = one(lastEntry(store));
      return formatLastAnswer(intent.format, channel, entry, shape);
    }
    case "field-last": {
      const extra = { ...(query.prepend === undefined ? {} : { prepend: query.prepend }), ...(query.append === undefined ? {} : { append: query.append }) };
      const { channel, entry } = one(lastEntry(store, intent.field));
      return formatLastAnswer(intent.format, channel, entry, { ...shape, field: intent.field, ...extra });
    }
    case "age":
      return formatAgeAnswer(intent.format, lastEntry(store), now);
    case "field-age":
      return formatAgeAnswer(intent.format, lastEntry(store, intent.field), now);
  }
}

async function handle(call: ApiCall): Promise<ApiReply> {
  const { path, method } = call;
  const lockedOut = call.lockedOut();
  if (lockedOut) return lockedOut;
  let body: unknown;
  if (method === "POST" && (UPDATE_PATH.test(path) || BULK_PATH.test(path))) {
    const read = await call.bodyValue();
    if (!("value" in read)) return read;
    body = read.value;
    collectKeys(call, body);
  }
  const intent = parseRestRequest(method, path, call.query, body, call.req.headers["content-type"], call.req.headers);
  if (!("op" in intent)) return formatRestError(intent, errorFormat(path));
  call.hide(intent.apiKey);
  if (intent.op === "update") return updateAnswer(intent, path, call);
  return intent.op === "bulk" ? bulkAnswer(intent, path, call) : readAnswer(intent, path, call);
}

/** Hides every api_key value of a form text, Buffer or object from error answers (best effort: for scrubbing only). */
function collectKeys(call: ApiCall, source: unknown): void {
  try {
    if (typeof source === "string" || Buffer.isBuffer(source)) {
      for (const p of decodeForm(source)) if (p.key === "api_key") call.hide(p.value);
      const text = source.toString();
      if (text.trimStart().startsWith("{")) collectKeys(call, JSON.parse(text) as unknown);
    } else if (typeof source === "object" && source !== null) {
      for (const [k, v] of Object.entries(source)) {
        if ((k === "api_key" || k === "write_api_key") && typeof v === "string") call.hide(v);
      }
    }
  } catch {
    // Not decodable: then it cannot be echoed decoded either; the raw text is scrubbed below.
  }
}

/** The keys a request carries before its body is read: in the query and THINGSPEAKAPIKEY headers. */
function requestKeys(call: ApiCall): string[] {
  collectKeys(call, call.query);
  return Object.entries(call.req.headers).flatMap(([name, value]) => (name.toLowerCase() === "thingspeakapikey" ? [value ?? []].flat() : []));
}

/** ThingSpeak's form of an internal error: no details (an internal error text could carry anything). */
const INTERNAL_ERROR: ApiReply = {
  status: 500,
  contentType: JSON_TYPE,
  body: JSON.stringify({ status: "500", error: { error_code: "error_internal", message: "internal error while handling the request" } }),
};

/**
 * The handler for Node-RED's `RED.httpNode` (mount once, without a path: `httpNode.use(h)`), or
 * any Node HTTP server. It never throws: failures answer 500 with an error body.
 */
export function thingSpeakRestApi(options: RestApiOptions = {}): ApiHandler {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  return serveApi(
    {
      serves: isServed,
      maxBodyBytes,
      refuse: (status, message, call) => refused(status, message, call.path),
      says: {
        lockedOut: "too many requests with wrong API keys from this address; try again later",
        tooLarge: `the request body is over ${maxBodyBytes} bytes`,
      },
      internalError: INTERNAL_ERROR,
      secrets: requestKeys,
      handle,
    },
    options,
  );
}
