/**
 * Blynk's device HTTPS API (docs/PROTOCOLS.md 2) served by Node-RED itself for every hosted
 * device, so HTTP-only devices and webhooks (a Particle webhook calling `batch/update`) work
 * self-hosted. An express-compatible handler: it answers `/external/api/...` and passes every
 * other request on with `next()`.
 *
 * Decisions:
 * - Writes (`update`, `batch/update`) are stored, pushed to the device on `downlink/ds/<name>`
 *   (the cloud pushes HTTPS writes to the hardware) and handed to the device's listeners as
 *   uplinks from "http" (flows see them as from the device, with source "http"). A timestamped
 *   POST stores its newest point only if newer than the stored value, pushes it if so, and
 *   gives flows all points. `update/property` and `logEvent` only reach flows.
 * - Devices are found in the Blynk HostedDirectory by token digest (emulation.ts `hostedByToken`).
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
 * - `data/get` answers from the device's history with a link to a CSV this API serves without
 *   a token (http-history.ts).
 */
import { toError } from "../transport/errors.js";
import { JSON_TYPE, serveApi, TEXT_TYPE, type ApiCall, type ApiHandler, type ApiOptions, type ApiReply, type ApiSpec } from "../transport/http-api-skeleton.js";
import { TokenBucket } from "../transport/rate-limit.js";
import { decodeValue, encodeValue, LIMITS, type BlynkValue } from "./codec.js";
import { hostedByToken, type HostedRegistration } from "./emulation.js";
import type { HostedDevice } from "./hosted-device.js";
import { API_BASE, errorBody, HTTP_ERRORS, parseHttpRequest, type HttpIntent } from "./http-codec.js";
import { dataGet, ExportFiles, exportedFile, FILE_PATH } from "./http-history.js";

/** Largest request body (Blynk's documented maximum request size). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

const json = (status: number, value: unknown): ApiReply => ({ status, body: JSON.stringify(value), contentType: JSON_TYPE });
const text = (status: number, body: string): ApiReply => ({ status, body, contentType: TEXT_TYPE });
const error = (status: number, message: string): ApiReply => ({ status, body: errorBody(message), contentType: JSON_TYPE });

export interface HttpApiOptions extends ApiOptions {
  /** Milliseconds clock of the rate limiter, the history export period and its links' expiry; default Date.now (tests set it). */
  now?: () => number;
}

/** Rate limiters by hosted device (weak: registrations go away with their device). */
export type Limiter = (registration: HostedRegistration) => boolean;

/** What one handler keeps across requests. */
interface ApiState {
  allow: Limiter;
  files: ExportFiles;
  now: () => number;
}

/** The per-device request limit of Blynk's HTTP APIs (this one and the legacy server's). */
export function limiter(now: () => number): Limiter {
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

/** The requests that change the device's stored state or history. */
const WRITES: ReadonlySet<HttpIntent["op"]> = new Set(["update", "batchUpdate", "timestampedBatch", "property", "logEvent"]);

/** Stored text -> JSON answer value: numbers as numbers, multi-values as arrays. */
function answerValue(payload: string): BlynkValue {
  return decodeValue(payload);
}

async function perform(intent: HttpIntent, device: HostedDevice, call: ApiCall, state: ApiState): Promise<ApiReply> {
  switch (intent.op) {
    case "dataGet":
      return dataGet(intent, device, call, state.files, state.now());
    case "isHardwareConnected":
      return text(200, String(device.online));
    case "get": {
      if (intent.pins.length === 1) {
        const pin = intent.pins[0] ?? "";
        const payload = device.state.value(device.datastreamOf(pin));
        if (payload === undefined) return error(400, HTTP_ERRORS.noDatastream);
        return payload.includes("\0") ? json(200, answerValue(payload)) : text(200, payload);
      }
      const answer: Record<string, BlynkValue> = {};
      for (const pin of intent.pins) {
        const payload = device.state.value(device.datastreamOf(pin));
        if (payload !== undefined) answer[pin] = answerValue(payload);
      }
      return json(200, answer);
    }
    case "getAll":
      return json(200, Object.fromEntries(device.state.values().map(([name, payload]) => [device.pinOf(name), answerValue(payload)])));
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
      device.property(name, intent.property, encodeValue(intent.value, `${name}" property "${intent.property}`));
      return text(200, "");
    }
    case "logEvent":
      device.event(intent.code, intent.description);
      return text(200, "");
  }
}

/** Refusals of values (too long, not encodable) are the caller's fault: 400 in Blynk's form. */
function isCallerError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === "invalid" || code === "too-large";
}

async function handle(call: ApiCall, state: ApiState): Promise<ApiReply> {
  const { method, path } = call;
  if (path.startsWith(FILE_PATH)) return exportedFile(call, state.files);
  let query: [string, string | undefined][];
  try {
    query = parseQuery(call.query);
  } catch {
    return error(400, HTTP_ERRORS.incorrectParams);
  }
  const header = call.req.headers["content-type"];
  // Unknown paths, wrong methods and a missing token are answered before any token look-up or body read.
  const first = parseHttpRequest(method, path, query, undefined, header);
  if ("error" in first && (first.status !== 400 || first.error === HTTP_ERRORS.noToken)) return error(first.status, first.error);
  const lockedOut = call.lockedOut();
  if (lockedOut) return lockedOut;
  const registration = hostedByToken(query.find(([k]) => k === "token")?.[1] ?? "");
  if (!registration) {
    call.loginFailed();
    return error(400, HTTP_ERRORS.invalidToken);
  }
  call.loginSucceeded();
  if (!state.allow(registration)) {
    return error(429, `Too many requests: at most ${LIMITS.requestsPerSecond} requests per second per device.`);
  }
  let intent = first;
  if (method === "POST") {
    const body = await call.bodyText();
    if (typeof body !== "string") return body;
    intent = parseHttpRequest(method, path, query, body, header);
  }
  if ("error" in intent) return error(intent.status, intent.error);
  const device = registration.runtime;
  if (!device) {
    if (intent.op === "isHardwareConnected") return text(200, "false");
    return error(503, "The iot-broker node hosting this device is not running.");
  }
  // A write is answered once it is durable (a 200 is an acknowledgement: docs/ARCHITECTURE.md 5.6).
  if (WRITES.has(intent.op)) call.durable(device.store);
  try {
    return await perform(intent, device, call, state);
  } catch (err) {
    if (isCallerError(err)) return error(400, toError(err).message);
    throw err;
  }
}

/** The token of a query, to keep it out of every answer; undefined when the query cannot be read. */
function tokenOf(query: string): string | undefined {
  try {
    return parseQuery(query).find(([k]) => k === "token")?.[1];
  } catch {
    return undefined;
  }
}

/** Blynk's API to the skeleton: its URLs, its error form and words; the token is kept out of every answer. */
const BLYNK_API: Omit<ApiSpec, "handle"> = {
  serves: (url) => url.startsWith(API_BASE),
  maxBodyBytes: MAX_BODY_BYTES,
  refuse: error,
  says: { lockedOut: "Too many requests with invalid tokens from this address; try again later.", tooLarge: `Request is too large: at most ${MAX_BODY_BYTES} bytes.` },
  secrets: (call) => [tokenOf(call.query)],
};

/**
 * The handler for Node-RED's `RED.httpNode` (mount once, without a path: `httpNode.use(h)`), or
 * any Node HTTP server. It never throws: failures answer 500 with an error body.
 */
export function blynkHttpApi(options: HttpApiOptions = {}): ApiHandler {
  const now = options.now ?? Date.now;
  const state: ApiState = { allow: limiter(now), files: new ExportFiles(now), now };
  return serveApi({ ...BLYNK_API, handle: (call) => handle(call, state) }, options);
}
