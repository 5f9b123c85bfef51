/**
 * The legacy Blynk server's HTTP API (blynk-server 0.41 `HttpAPILogic`) served by Node-RED for every hosted
 * device, at the root of Node-RED's HTTP node app as the legacy server served it at `/`, so
 * home-automation integrations that call `http://<host>:8080/<token>/update/V1?value=1` keep
 * working with only the host and port changed (docs/ARCHITECTURE.md 4.5).
 *
 * Which requests it answers (the rest goes to `next()` untouched, decided before anything async):
 * - any path whose first segment is the token of a hosted device: that device's API (an
 *   unknown route under it answers 404 here, so no other 404 page echoes the token);
 * - for any other first segment, only a request the legacy server would have answered
 *   "Invalid token.": the method and path of one of its routes, a first segment shaped like a
 *   legacy token (32 letters, digits, `_` or `-`), and no other route of Node-RED's HTTP node
 *   app (a flow's `http in` node) matching the same method and path. Such a request counts as a
 *   failed login for its address (transport/auth-throttle.ts, shared with the HTTPS API).
 *
 * Decisions:
 * - Pins `V0`..`V255`, `D0`..`D255`, `A0`..`A255` (either case). A virtual pin mapped in the
 *   device's pin table is its datastream; any other pin is the datastream of its legacy name
 *   ("V5", "D8", "A0"), the name a binary-protocol device's unmapped pin has in flows.
 * - `get` answers the stored value as a JSON array of strings (a multi-value's parts);
 *   `update` (GET `value=`, PUT array) joins values with NUL like the legacy server, stores,
 *   reaches flows as from "http" and goes to the device; the property form (no `value`) sets a
 *   widget property of a virtual pin (stored, to flows). `extra/pin` keeps every point in the
 *   history at its time, the first point's value becomes the current one (as the legacy server).
 * - `data/{pin}` answers the CSV itself (the legacy server redirected to a gzipped file): one
 *   row `value,timestamp,deviceId` per history point, oldest first, device id 0.
 * - `notify` / `email` reach flows as events "notify" / "email" (Node-RED sends no push or mail;
 *   a flow does). There are no widgets or projects: `isAppConnected` is always false, the
 *   legacy answers about missing widgets ("No notification widget.") never come.
 * - `project` is a small JSON of the device (name, connected, pins and values), not the
 *   legacy dashboard; `rtc` is `["<seconds>"]`, the device's wall clock (its time zone, else
 *   Node-RED's) in seconds as the legacy RTC widget counted them.
 * - Every answer carries `Access-Control-Allow-Origin: *` and OPTIONS preflights of its routes are
 *   answered (204), as the legacy server let browser dashboards call it.
 * - Writes are answered once durable (200 after the store's flush, 503 when it failed); 50
 *   requests/s per device (429); bodies over the legacy server's 512 KB: 413. The token is
 *   never in an answer, a log line or an event.
 */
import { JSON_TYPE, serveApi, TEXT_TYPE, type ApiCall, type ApiHandler, type ApiOptions, type ApiOutcome, type ApiReply, type ApiSpec } from "../transport/http-api-skeleton.js";
import type { ApiRequest } from "../transport/http-api-skeleton.js";
import { otherRouteServes } from "../transport/http-routes.js";
import { jsonTextTooDeep, tooDeep } from "../transport/json-limits.js";
import { isTimeZone, ZoneClock } from "../transport/time-zone.js";
import { assertPropertyName, LIMITS } from "./codec.js";
import { hostedByToken, type HostedRegistration } from "./emulation.js";
import { valueCell } from "./history-csv.js";
import { TIME_ZONE_META, type HostedDevice } from "./hosted-device.js";
import { BLYNK_PLUGIN } from "./hosted-types.js";
import { limiter, parseQuery } from "./http-api.js";
import {
  LEGACY_ERRORS, parseEmail, parseExtraPoints, parseLegacyPin, parseNotify, parseValues, routeAllows, routeFor, routeMethods, routeOf, splitPath, tokenShaped,
  type LegacyPin, type LegacyRoute,
} from "./legacy-http-codec.js";

/** The legacy server's `web.request.max.size`. */
export const LEGACY_MAX_BODY_BYTES = 512 * 1024;
/** History points in one `data/{pin}` answer (the newest). */
export const LEGACY_MAX_CSV_POINTS = 100_000;

const ok = (body = "", contentType?: string): ApiReply => ({ status: 200, body, ...(contentType === undefined ? {} : { contentType }) });
const json = (value: unknown): ApiReply => ok(JSON.stringify(value), JSON_TYPE);
const fail = (status: number, message: string): ApiReply => ({ status, body: message, contentType: TEXT_TYPE });

export interface LegacyHttpApiOptions extends ApiOptions {
  /** Milliseconds clock of the rate limiter, `rtc` and `data`; default Date.now (tests set it). */
  now?: () => number;
}

interface LegacyState {
  allow: (registration: HostedRegistration) => boolean;
  now: () => number;
  /** What the synchronous check decided per request: the device its token names, or null for "Invalid token.". */
  owned: WeakMap<object, HostedRegistration | null>;
}

/** The datastream of a pin: a mapped virtual pin's name, else the pin's legacy name. */
export function pinDatastream(device: HostedDevice, pin: LegacyPin): string {
  if (pin.type === "V") {
    const key = `v${pin.number}`;
    const mapped = device.datastreamOf(key);
    if (mapped !== key) return mapped;
  }
  return pin.name;
}

/** The legacy pin a datastream is on ("V1"), or null when it is on none. */
function pinOfDatastream(device: HostedDevice, name: string): string | null {
  const key = device.pinOf(name);
  const mapped = key === name ? undefined : parseLegacyPin(key);
  return mapped?.name ?? parseLegacyPin(name)?.name ?? null;
}

/** A path segment decoded ("" when it cannot be). */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return "";
  }
}

/** The first path segment, decoded; undefined when there is none or it cannot be decoded. */
function decodedToken(path: string): string | undefined {
  const parts = splitPath(path);
  const token = parts === undefined ? "" : decodedSegment(parts.token);
  return token === "" ? undefined : token;
}

/** Whether this API answers the request (see the file's comment); records the device it found. */
function owns(req: ApiRequest, state: LegacyState): boolean {
  const url = req.url;
  if (typeof url !== "string") return false;
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const parts = splitPath(path);
  if (!parts) return false;
  const token = decodedToken(path);
  if (token === undefined) return false;
  const registration = hostedByToken(token);
  if (registration !== undefined) {
    state.owned.set(req, registration);
    return true;
  }
  const method = (req.method ?? "GET").toUpperCase();
  const route = routeOf(parts.rest);
  if (route === undefined || !routeAllows(route, method) || !tokenShaped(token) || otherRouteServes(req, method, path)) return false;
  state.owned.set(req, null);
  return true;
}

function rtcValue(device: HostedDevice, now: number): string[] {
  const zones = [device.state.meta(TIME_ZONE_META), device.config.timeZone, Intl.DateTimeFormat().resolvedOptions().timeZone];
  const zone = zones.find((z): z is string => z !== undefined && z !== "" && isTimeZone(z)) ?? "UTC";
  return [String(Math.floor((now + new ZoneClock(zone).offset(now)) / 1000))];
}

function project(device: HostedDevice): unknown {
  return {
    name: device.config.name,
    isActive: true,
    hardwareConnected: device.online,
    pins: device.state.values().map(([name, text]) => ({ pin: pinOfDatastream(device, name), datastream: name, value: text.split("\0") })),
  };
}

/** Refusals of values (too long for the store) are the caller's: 400 with the reason. */
function callerError(err: unknown): ApiReply | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code !== "invalid" && code !== "too-large") return undefined;
  return fail(400, err instanceof Error ? err.message : LEGACY_ERRORS.wrongRequest);
}

/** GET update: `value=` (repeated: a multi-value) writes; else the first property key sets a widget property. */
async function updateViaGet(call: ApiCall, device: HostedDevice, pin: LegacyPin, name: string): Promise<ApiReply> {
  let query: [string, string | undefined][];
  try {
    query = parseQuery(call.query);
  } catch {
    return fail(400, LEGACY_ERRORS.wrongRequest);
  }
  const values = query.filter(([key]) => key === "value").map(([, value]) => value ?? "");
  if (values.length > 0) {
    call.durable(device.store);
    await device.write(name, values.join("\0"));
    return ok();
  }
  const property = query.find(([key]) => {
    try {
      assertPropertyName(key);
      return true;
    } catch {
      return false;
    }
  });
  if (property === undefined) return fail(400, LEGACY_ERRORS.wrongRequest);
  if (property[1] === undefined) return fail(400, LEGACY_ERRORS.noProperties);
  // The legacy server set properties of virtual pins' widgets only.
  if (pin.type !== "V") return fail(400, LEGACY_ERRORS.noWidget);
  call.durable(device.store);
  device.property(name, property[0], property[1]);
  return ok();
}

/** The request body (text, or a body parser's result), or the refusal: too large (413), nested too deep (400 naming the limit). */
async function readJson(call: ApiCall): Promise<{ value: unknown } | ApiReply> {
  const read = await call.bodyValue();
  if ("value" in read && typeof read.value === "string" && jsonTextTooDeep(read.value)) return fail(400, tooDeep("the request body").message);
  return read;
}

async function dataCsv(device: HostedDevice, name: string, now: number): Promise<ApiReply> {
  const points = await device.history.query(BLYNK_PLUGIN, device.id, name, { to: now, limit: LEGACY_MAX_CSV_POINTS, latest: true });
  if (points.length === 0) return fail(400, LEGACY_ERRORS.noData);
  return ok(points.map((p) => `${valueCell(p.value)},${p.ts},0\n`).join(""), "text/csv; charset=utf-8");
}

async function perform(route: LegacyRoute, call: ApiCall, device: HostedDevice, state: LegacyState): Promise<ApiReply> {
  switch (route.op) {
    case "isHardwareConnected":
      return json(device.online);
    case "isAppConnected":
      return json(false);
    case "project":
      return json(project(device));
    case "rtc":
      return json(rtcValue(device, state.now()));
    case "notify": {
      const read = await readJson(call);
      if (!("value" in read)) return read;
      const parsed = parseNotify(read.value);
      if ("error" in parsed) return fail(400, parsed.error);
      device.listeners.uplink({ source: "http", message: { kind: "notify", body: parsed.body }, text: "" });
      return ok();
    }
    case "email": {
      const read = await readJson(call);
      if (!("value" in read)) return read;
      const parsed = parseEmail(read.value);
      if ("error" in parsed) return fail(400, parsed.error);
      device.listeners.uplink({ source: "http", message: { kind: "email", ...parsed }, text: "" });
      return ok();
    }
    default:
      break;
  }
  const pin = parseLegacyPin(decodedSegment(route.pin));
  if (pin === undefined) return fail(400, LEGACY_ERRORS.wrongPin);
  const name = pinDatastream(device, pin);
  switch (route.op) {
    case "get": {
      const text = device.state.value(name);
      return text === undefined ? fail(400, LEGACY_ERRORS.noPinValue) : json(text.split("\0"));
    }
    case "data":
      return dataCsv(device, name, state.now());
    case "update": {
      if (call.method !== "PUT") return updateViaGet(call, device, pin, name);
      const read = await readJson(call);
      if (!("value" in read)) return read;
      const values = parseValues(read.value);
      if ("error" in values) return fail(400, values.error);
      call.durable(device.store);
      await device.write(name, values.join("\0"));
      return ok();
    }
    case "extra": {
      const read = await readJson(call);
      if (!("value" in read)) return read;
      const points = parseExtraPoints(read.value, LIMITS.batchPoints);
      if ("error" in points) return fail(400, points.error);
      call.durable(device.store);
      await device.writeLegacyPoints(name, points);
      return ok();
    }
  }
}

async function handle(call: ApiCall, state: LegacyState): Promise<ApiOutcome> {
  const registration = state.owned.get(call.req);
  if (registration === undefined) return "next"; // not decided by owns(): not this API's request
  const preflight = call.method === "OPTIONS" ? routeOf(splitPath(call.path)?.rest ?? []) : undefined;
  if (preflight !== undefined) {
    // A browser asking before a PUT or a JSON POST: no token is checked (the real request is).
    call.res.setHeader("Access-Control-Allow-Methods", `${routeMethods(preflight)}, OPTIONS`);
    call.res.setHeader("Access-Control-Allow-Headers", "Content-Type");
    return { status: 204, body: "" };
  }
  const lockedOut = call.lockedOut();
  if (lockedOut) return lockedOut;
  if (registration === null) {
    call.loginFailed();
    return fail(400, LEGACY_ERRORS.invalidToken);
  }
  call.loginSucceeded();
  const parts = splitPath(call.path);
  const route = parts === undefined ? undefined : routeOf(parts.rest);
  if (parts === undefined || route === undefined) return fail(404, "Not found: not a route of the legacy Blynk HTTP API.");
  if (!routeAllows(route, call.method)) return fail(405, `Method ${call.method} is not allowed on this route of the legacy Blynk HTTP API.`);
  if (!state.allow(registration)) return fail(429, `Too many requests: at most ${LIMITS.requestsPerSecond} requests per second per device.`);
  const device = registration.runtime;
  const wanted = routeFor(route, call.method, parts.rest);
  if (!device) {
    if (wanted.op === "isHardwareConnected") return json(false);
    return fail(503, "The iot-broker node hosting this device is not running.");
  }
  try {
    return await perform(wanted, call, device, state);
  } catch (err) {
    const refusal = callerError(err);
    if (refusal) return refusal;
    throw err;
  }
}

/**
 * The handler for Node-RED's `RED.httpNode` (mount once, without a path), or any Node HTTP
 * server. It never throws; what it does not answer goes to `next()` at once.
 */
export function blynkLegacyHttpApi(options: LegacyHttpApiOptions = {}): ApiHandler {
  const now = options.now ?? Date.now;
  const state: LegacyState = { allow: limiter(now), now, owned: new WeakMap() };
  const spec: ApiSpec = {
    // owns() decided already; the skeleton matches `req.url`, which owns() read.
    serves: (url) => splitPath(url) !== undefined,
    maxBodyBytes: LEGACY_MAX_BODY_BYTES,
    refuse: (status, message) => fail(status, message),
    says: { lockedOut: "Too many requests with invalid tokens from this address; try again later.", tooLarge: `Request is too large: at most ${LEGACY_MAX_BODY_BYTES} bytes.` },
    internalError: fail(500, "Internal error while handling the request."),
    secrets: (call) => [decodedToken(call.path)],
    handle: (call) => handle(call, state),
  };
  const api = serveApi(spec, options);
  return (req, res, next) => {
    let mine = false;
    try {
      mine = owns(req, state);
    } catch {
      mine = false; // a request this API cannot even read is not one of its own
    }
    if (!mine) {
      next();
      return;
    }
    // As the legacy server: any web page may call the API (the token is the credential).
    res.setHeader("Access-Control-Allow-Origin", "*");
    api(req, res, next);
  };
}
