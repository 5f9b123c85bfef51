/**
 * ThingSpeak's REST API (docs/PROTOCOLS.md 5.2) served by Node-RED itself for every hosted channel,
 * so HTTP-only devices, ThingSpeak libraries pointed at Node-RED and REST-mode links work
 * self-hosted. An express-compatible handler: requests are understood and answered by the
 * codec's rest-server.ts; this module finds the channel, checks keys and reads the feed.
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
 * - POST bodies: read here (at most 2 MB, else 413) unless a body parser read them already,
 *   in which case `req.body` is used. The query is always parsed from the raw `req.url`.
 * - Too many wrong keys from one address (transport/auth-throttle.ts): 429 error_too_many_requests
 *   with Retry-After, before the body is read or a key checked. A read without a key is no guess.
 * - No key is ever echoed: every key the request carried is scrubbed from error answers.
 */
import type { ServerResponse } from "node:http";
import { decodeForm } from "./codec.js";
import { AuthThrottle } from "../transport/auth-throttle.js";
import { requestSource, retryAfterSeconds } from "../transport/http-auth.js";
import { BODY_TOO_DEEP, BODY_TOO_LARGE, readRequestBody, type ServerRequest } from "../transport/http-body.js";
import { tooDeep, valueTooDeep } from "../transport/json-limits.js";
import { maskSecrets } from "../transport/redact.js";
import { anyHosted, registrationByChannelId, registrationByWriteKey } from "./emulation.js";
import type { WriteOutcome } from "./hosted-channel.js";
import {
  formatFeedsAnswer,
  formatLastAnswer,
  formatRestError,
  formatUpdateAnswer,
  parseRestRequest,
  restRefusal,
  selectEntries,
  type RestAnswer,
  type RestIntent,
} from "./rest-server.js";

/** Largest request body read. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** What the handler reads of a request: Node's, plus what express may have added. */
export type RestApiRequest = ServerRequest & {
  /** Express: the URL before mounting stripped a prefix. */
  originalUrl?: string;
};
export type RestApiHandler = (req: RestApiRequest, res: ServerResponse, next: () => void) => void;

export interface RestApiOptions {
  /** Largest POST body in bytes; default MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** Failed-key throttling per source address; default a throttle of this handler's own. */
  authThrottle?: AuthThrottle;
}

/** What a key check tells the failed-login throttle. */
interface KeyOutcome {
  failed(): void;
  succeeded(): void;
}

const UPDATE_PATH = /^\/update(?:\.[^/]*)?$/;
const CHANNEL_PATH = /^\/channels\/([1-9]\d{0,15})(?:[/.]|$)/;

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** Whether `path` is one this API answers now (see the decisions above). */
function isServed(path: string): boolean {
  if (!anyHosted()) return false;
  if (UPDATE_PATH.test(path)) return true;
  const m = CHANNEL_PATH.exec(path);
  return m !== null && registrationByChannelId(Number(m[1])) !== undefined;
}

/** The URL to answer: `req.url`, or express's `originalUrl` when a mount path was stripped. */
function servedUrl(req: RestApiRequest): string | undefined {
  for (const url of [req.url, req.originalUrl]) {
    if (typeof url === "string" && isServed(pathOf(url))) return url;
  }
  return undefined;
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

function updateAnswer(intent: Extract<RestIntent, { op: "update" }>, path: string, login: KeyOutcome): RestAnswer {
  const registration = registrationByWriteKey(intent.apiKey);
  if (registration === undefined) {
    login.failed();
    return refused(401, "the write API key is not the key of any hosted channel", path);
  }
  login.succeeded();
  const outcome: WriteOutcome = registration.feed.write(intent.update);
  if ("entry" in outcome) return formatUpdateAnswer(intent.format, outcome.entry);
  if (outcome.refused === "rate-limited") return formatUpdateAnswer(intent.format, undefined);
  return refused(OUTCOME_STATUS[outcome.refused], outcome.message, path);
}

function readAnswer(intent: Exclude<RestIntent, { op: "update" }>, path: string, login: KeyOutcome): RestAnswer {
  const registration = registrationByChannelId(intent.channelId);
  if (registration === undefined) return refused(404, `channel ${intent.channelId} is not hosted here`, path);
  const { feed } = registration;
  if (!feed.mayRead(intent.apiKey)) {
    if (intent.apiKey !== undefined) login.failed();
    const why = intent.apiKey === undefined ? "this channel is private; give its read API key as api_key" : "the API key is not this channel's read API key";
    return refused(401, why, path);
  }
  if (intent.apiKey !== undefined) login.succeeded();
  const { query } = intent;
  const shape = { status: query.status, location: query.location };
  const info = feed.info();
  switch (intent.op) {
    case "feeds":
    case "field": {
      const format = intent.format === "csv" ? "csv" : "json";
      const entries = selectEntries(feed.store.all(), query, feed.now());
      return formatFeedsAnswer(format, info, entries, intent.op === "field" ? { ...shape, field: intent.field } : shape);
    }
    case "last":
      return formatLastAnswer(intent.format, info, feed.store.last(), shape);
    case "field-last": {
      const extra = { ...(query.prepend === undefined ? {} : { prepend: query.prepend }), ...(query.append === undefined ? {} : { append: query.append }) };
      return formatLastAnswer(intent.format, info, feed.store.last(intent.field), { ...shape, field: intent.field, ...extra });
    }
  }
}

/**
 * The POST body. A body parser's result is taken as it is (a form or JSON object stays an
 * object: turned back into text it could not be told from a form); else the stream is read.
 */
function readBody(req: RestApiRequest, maxBytes: number): Promise<unknown> {
  if (!req.readableEnded) return readRequestBody(req, maxBytes);
  const body = req.body;
  if (typeof body === "object" && body !== null && !Buffer.isBuffer(body) && valueTooDeep(body)) return Promise.resolve(BODY_TOO_DEEP);
  let size = 0;
  try {
    if (typeof body === "string" || Buffer.isBuffer(body)) size = Buffer.byteLength(body);
    else if (body !== undefined && body !== null) size = Buffer.byteLength(JSON.stringify(body));
  } catch {
    size = 0; // not JSON-able (circular): not a body parser's result; parseRestRequest refuses it
  }
  return Promise.resolve(size > maxBytes ? BODY_TOO_LARGE : body);
}

async function handle(req: RestApiRequest, url: string, maxBodyBytes: number, keys: Set<string>, throttle: AuthThrottle): Promise<RestAnswer & { retryAfterS?: number }> {
  const path = pathOf(url);
  const source = requestSource(req);
  const waitMs = throttle.retryAfterMs(source);
  if (waitMs > 0) return { ...refused(429, "too many requests with wrong API keys from this address; try again later", path), retryAfterS: retryAfterSeconds(waitMs) };
  const login: KeyOutcome = {
    failed: () => {
      throttle.failed(source);
    },
    succeeded: () => {
      throttle.succeeded(source);
    },
  };
  const rawQuery = url.length > path.length ? url.slice(path.length + 1) : "";
  const method = (req.method ?? "GET").toUpperCase();
  const contentType = req.headers["content-type"];
  let body: unknown;
  if (method === "POST" && UPDATE_PATH.test(path)) {
    body = await readBody(req, maxBodyBytes);
    if (body === BODY_TOO_LARGE) return refused(413, `the request body is over ${maxBodyBytes} bytes`, path);
    if (body === BODY_TOO_DEEP) return refused(400, tooDeep("the request body").message, path);
    collectKeys(keys, body);
  }
  const intent = parseRestRequest(method, path, rawQuery, body, contentType, req.headers);
  if (!("op" in intent)) return formatRestError(intent, errorFormat(path));
  if (intent.apiKey !== undefined) keys.add(intent.apiKey);
  return intent.op === "update" ? updateAnswer(intent, path, login) : readAnswer(intent, path, login);
}

/** Adds every api_key value of a form text, Buffer or object to `keys` (best effort: for scrubbing only). */
function collectKeys(keys: Set<string>, source: unknown): void {
  try {
    if (typeof source === "string" || Buffer.isBuffer(source)) {
      for (const p of decodeForm(source)) if (p.key === "api_key" && p.value !== "") keys.add(p.value);
      const text = source.toString();
      if (text.trimStart().startsWith("{")) collectKeys(keys, JSON.parse(text) as unknown);
    } else if (typeof source === "object" && source !== null) {
      for (const [k, v] of Object.entries(source)) {
        if ((k === "api_key" || k === "write_api_key") && typeof v === "string" && v !== "") keys.add(v);
      }
    }
  } catch {
    // Not decodable: then it cannot be echoed decoded either; the raw text is scrubbed below.
  }
}

function requestKeys(req: RestApiRequest, url: string): Set<string> {
  const keys = new Set<string>();
  const q = url.indexOf("?");
  if (q >= 0) collectKeys(keys, url.slice(q + 1));
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.toLowerCase() !== "thingspeakapikey") continue;
    for (const v of Array.isArray(value) ? value : [value]) if (typeof v === "string" && v !== "") keys.add(v);
  }
  return keys;
}

function send(res: ServerResponse, answer: RestAnswer & { retryAfterS?: number }, keys: ReadonlySet<string>): void {
  let body = answer.body;
  if (answer.status >= 400) body = maskSecrets(body, keys);
  res.statusCode = answer.status;
  res.setHeader("Content-Type", answer.contentType);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "no-store");
  if (answer.retryAfterS !== undefined) res.setHeader("Retry-After", String(answer.retryAfterS));
  if (answer.status === 413) res.setHeader("Connection", "close");
  res.end(body);
}

/**
 * The handler for Node-RED's `RED.httpNode` (mount once, without a path: `httpNode.use(h)`), or
 * any Node HTTP server. It never throws: failures answer 500 with an error body.
 */
export function thingSpeakRestApi(options: RestApiOptions = {}): RestApiHandler {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const throttle = options.authThrottle ?? new AuthThrottle();
  return (req, res, next) => {
    let url: string | undefined;
    try {
      url = servedUrl(req);
    } catch {
      url = undefined;
    }
    if (url === undefined) {
      next();
      return;
    }
    const target = url;
    const keys = requestKeys(req, target);
    handle(req, target, maxBodyBytes, keys, throttle)
      .then((answer) => {
        send(res, answer, keys);
      })
      .catch(() => {
        // No detail: an internal error text could carry anything.
        try {
          if (res.headersSent) res.destroy();
          else send(res, { status: 500, contentType: "application/json; charset=utf-8", body: JSON.stringify({ status: "500", error: { error_code: "error_internal", message: "internal error while handling the request" } }) }, keys);
        } catch {
          // The connection is gone; nothing more to do.
        }
      });
  };
}
