/**
 * Blynk's device HTTPS API (docs/PROTOCOLS.md 2) served by Node-RED itself for every hosted
 * device, so HTTP-only devices and webhooks (a Particle webhook calling `batch/update`) work
 * self-hosted. An express-compatible handler: it answers `/external/api/...` and passes every
 * other request on with `next()`.
 *
 * Decisions:
 * - Writes (`update`, `batch/update`) are stored, pushed to the device on `downlink/ds/<name>`
 *   (the cloud pushes HTTPS writes to the hardware) and published on `hostedTopics.http(id)`.
 *   A timestamped POST stores its newest point only if newer than the stored value, pushes it
 *   if so, and gives flows all points on `http/ds/<name>/timestamped_batch` (JSON).
 * - Pins map to datastream names through `HostedBlynkDevice.pins`; an unmapped pin is its own
 *   name ("v1"). Answers (`get` with several pins, `getAll`) are keyed by pin, or by datastream
 *   name for values that no pin maps to.
 * - `get` of one pin with no stored value: 400 "No datastream setup for that pin." (the cloud
 *   would answer a template default we do not know); several pins: the ones without values are
 *   left out. A multi-value answers as a JSON array.
 * - Successful writes answer 200 with an empty body (UNCONFIRMED whether the cloud sends "OK").
 * - Over Blynk's 50 requests/s per device: 429 with an error body. Bodies over 2 MB: 413.
 * - Too many unknown tokens from one address (transport/auth-throttle.ts): 429 with Retry-After,
 *   before the token is looked up.
 * - The broker hosting the device is not running: `isHardwareConnected` is false, everything
 *   else 503 with an error body.
 * - The token is never echoed: error texts are scrubbed of it before they are sent.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { AuthThrottle } from "../transport/auth-throttle.js";
import { toError } from "../transport/errors.js";
import { requestSource, retryAfterSeconds } from "../transport/http-auth.js";
import { BODY_TOO_DEEP, BODY_TOO_LARGE, readRequestBody } from "../transport/http-body.js";
import { tooDeep } from "../transport/json-limits.js";
import { TokenBucket } from "../transport/rate-limit.js";
import { maskSecrets } from "../transport/redact.js";
import { decodeValue, encodeValue, LIMITS, type BlynkValue } from "./codec.js";
import { hostedByToken, type HostedRegistration } from "./emulation.js";
import type { HostedDevice } from "./hosted-device.js";
import { API_BASE, errorBody, HTTP_ERRORS, parseHttpRequest, type HttpIntent } from "./http-codec.js";

/** Largest request body (Blynk's documented maximum request size). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** What the handler reads of a request: Node's, plus what express may have added. */
export type HttpApiRequest = IncomingMessage & {
  /** Ignored: repeated and bare keys (`&v1`) need the raw query string. */
  query?: unknown;
  /** A body an earlier body parser already read (string, Buffer or parsed JSON). */
  body?: unknown;
  /** Express: the URL before mounting stripped a prefix. */
  originalUrl?: string;
};

export type HttpApiHandler = (req: HttpApiRequest, res: ServerResponse, next: () => void) => void;

type Reply = { status: number; body: string; type: "json" | "text"; retryAfterS?: number };

const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value), type: "json" });
const text = (status: number, body: string): Reply => ({ status, body, type: "text" });
const error = (status: number, message: string): Reply => ({ status, body: errorBody(message), type: "json" });

export interface HttpApiOptions {
  /** Milliseconds clock of the rate limiter; default Date.now (tests freeze it). */
  now?: () => number;
  /** Failed-token throttling per source address; default a throttle of this handler's own. */
  authThrottle?: AuthThrottle;
}

/** Rate limiters by hosted device (weak: registrations go away with their device). */
type Limiter = (registration: HostedRegistration) => boolean;

function limiter(now: () => number): Limiter {
  const buckets = new WeakMap<HostedRegistration, TokenBucket>();
  return (registration) => {
    let bucket = buckets.get(registration);
    if (!bucket) {
      bucket = new TokenBucket({ capacity: LIMITS.requestsPerSecond, refillPerSecond: LIMITS.requestsPerSecond, now });
      buckets.set(registration, bucket);
    }
    return bucket.tryTake();
  };
}

/** The request's URL when it is an API call: `req.url`, or express's `originalUrl` when mounted on a path. */
function apiUrl(req: HttpApiRequest): string | undefined {
  for (const url of [req.url, req.originalUrl]) {
    if (typeof url === "string" && url.startsWith(API_BASE)) return url;
  }
  return undefined;
}

/** Raw query -> ordered pairs; a bare key (`&v1`) has value undefined. Throws URIError on bad escapes. */
export function parseQuery(raw: string): [string, string | undefined][] {
  const decode = (s: string): string => decodeURIComponent(s.replaceAll("+", " "));
  return raw
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const eq = part.indexOf("=");
      return eq < 0 ? [decode(part), undefined] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))];
    });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The body: from the stream if nobody read it, else what a body parser left in `req.body`. */
function readBody(req: HttpApiRequest): Promise<string | typeof BODY_TOO_LARGE | typeof BODY_TOO_DEEP> {
  return readRequestBody(req, MAX_BODY_BYTES);
}

/** Stored text -> JSON answer value: numbers as numbers, multi-values as arrays. */
function answerValue(payload: string): BlynkValue {
  return decodeValue(payload);
}

async function perform(intent: HttpIntent, device: HostedDevice): Promise<Reply> {
  switch (intent.op) {
    case "isHardwareConnected":
      return text(200, String(device.online));
    case "get": {
      if (intent.pins.length === 1) {
        const pin = intent.pins[0] ?? "";
        const payload = device.store.value(device.datastreamOf(pin));
        if (payload === undefined) return error(400, HTTP_ERRORS.noDatastream);
        return payload.includes("\0") ? json(200, answerValue(payload)) : text(200, payload);
      }
      const answer: Record<string, BlynkValue> = {};
      for (const pin of intent.pins) {
        const payload = device.store.value(device.datastreamOf(pin));
        if (payload !== undefined) answer[pin] = answerValue(payload);
      }
      return json(200, answer);
    }
    case "getAll":
      return json(200, Object.fromEntries(device.store.values().map(([name, payload]) => [device.pinOf(name), answerValue(payload)])));
    case "update": {
      const name = device.datastreamOf(intent.pin);
      await device.write(name, encodeValue(intent.value, name));
      return text(200, "");
    }
    case "batchUpdate": {
      // All values are checked before any is written: a bad one fails the whole batch.
      const writes = Object.entries(intent.values).map(([pin, value]) => {
        const name = device.datastreamOf(pin);
        return [name, encodeValue(value, name)] as const;
      });
      for (const [name, payload] of writes) await device.write(name, payload);
      return text(200, "");
    }
    case "timestampedBatch":
      await device.writePoints(device.datastreamOf(intent.pin), intent.points);
      return text(200, "");
    case "property": {
      const name = device.datastreamOf(intent.pin);
      await device.toFlows(`prop/${name}/${intent.property}`, encodeValue(intent.value, `${name}" property "${intent.property}`));
      return text(200, "");
    }
    case "logEvent":
      await device.toFlows(`event/${intent.code}`, intent.description);
      return text(200, "");
  }
}

/** Refusals of values (too long, not encodable) are the caller's fault: 400 in Blynk's form. */
function isCallerError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === "invalid" || code === "too-large";
}

async function handle(req: HttpApiRequest, url: string, allow: Limiter, throttle: AuthThrottle): Promise<Reply> {
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  let query: [string, string | undefined][];
  try {
    query = parseQuery(q < 0 ? "" : url.slice(q + 1));
  } catch {
    return error(400, HTTP_ERRORS.incorrectParams);
  }
  const method = (req.method ?? "GET").toUpperCase();
  const contentType = header(req, "content-type");
  // Unknown paths, wrong methods and a missing token are answered before any token look-up or body read.
  const first = parseHttpRequest(method, path, query, undefined, contentType);
  if ("error" in first && (first.status !== 400 || first.error === HTTP_ERRORS.noToken)) return error(first.status, first.error);
  const token = query.find(([k]) => k === "token")?.[1] ?? "";
  const source = requestSource(req);
  const waitMs = throttle.retryAfterMs(source);
  if (waitMs > 0) return { ...error(429, "Too many requests with invalid tokens from this address; try again later."), retryAfterS: retryAfterSeconds(waitMs) };
  const registration = hostedByToken(token);
  if (!registration) {
    throttle.failed(source);
    return error(400, HTTP_ERRORS.invalidToken);
  }
  throttle.succeeded(source);
  if (!allow(registration)) {
    return error(429, `Too many requests: at most ${LIMITS.requestsPerSecond} requests per second per device.`);
  }
  let intent = first;
  if (method === "POST") {
    const body = await readBody(req);
    if (body === BODY_TOO_LARGE) return error(413, `Request is too large: at most ${MAX_BODY_BYTES} bytes.`);
    if (body === BODY_TOO_DEEP) return error(400, tooDeep("the request body").message);
    intent = parseHttpRequest(method, path, query, body, contentType);
  }
  if ("error" in intent) return error(intent.status, intent.error);
  const device = registration.runtime;
  if (!device) {
    if (intent.op === "isHardwareConnected") return text(200, "false");
    return error(503, "The iot-broker node hosting this device is not running.");
  }
  try {
    return await perform(intent, device);
  } catch (err) {
    if (isCallerError(err)) return error(400, toError(err).message);
    throw err;
  }
}

function send(res: ServerResponse, reply: Reply, token: string | undefined): void {
  // Nothing we send may show the token, not even inside an echoed parameter.
  const body = token !== undefined && token.length > 0 && reply.type === "json" && reply.status >= 400 ? maskSecrets(reply.body, [token]) : reply.body;
  res.statusCode = reply.status;
  res.setHeader("Content-Type", reply.type === "json" ? "application/json; charset=utf-8" : "text/plain; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "no-store");
  if (reply.retryAfterS !== undefined) res.setHeader("Retry-After", String(reply.retryAfterS));
  if (reply.status === 413) res.setHeader("Connection", "close");
  res.end(body);
}

function tokenOf(url: string): string | undefined {
  const q = url.indexOf("?");
  try {
    return q < 0 ? undefined : parseQuery(url.slice(q + 1)).find(([k]) => k === "token")?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The handler for Node-RED's `RED.httpNode` (mount once, without a path: `httpNode.use(h)`), or
 * any Node HTTP server. It never throws: failures answer 500 with an error body.
 */
export function blynkHttpApi(options: HttpApiOptions = {}): HttpApiHandler {
  const allow = limiter(options.now ?? Date.now);
  const throttle = options.authThrottle ?? new AuthThrottle();
  return (req, res, next) => {
    let url: string | undefined;
    try {
      url = apiUrl(req);
    } catch {
      url = undefined;
    }
    if (url === undefined) {
      next();
      return;
    }
    const target = url;
    const token = tokenOf(target);
    handle(req, target, allow, throttle)
      .then((reply) => {
        send(res, reply, token);
      })
      .catch(() => {
        // No detail: an internal error text could carry anything.
        try {
          if (res.headersSent) res.destroy();
          else send(res, error(500, "Internal error while handling the request."), token);
        } catch {
          // The connection is gone; nothing more to do.
        }
      });
  };
}
