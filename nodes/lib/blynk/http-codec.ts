/**
 * Blynk HTTPS device API codec (docs/PROTOCOLS.md 2): request builders for the client,
 * answer parsers, and the request parser of the self-hosted server. Pure functions, no I/O.
 * Queries are ordered [key, value] pairs with the token first; the HTTP client URL-encodes
 * them (so a "#" in a color becomes %23 there, not here). Multi-values travel as
 * `pin=v1&value=a&value=b`; a property multi-value repeats the property key (UNCONFIRMED).
 */
import { TransportError } from "../transport/errors.js";
import { describeValue, parseScalar } from "../transport/value-codec.js";
import {
  assertEventCode,
  assertPropertyName,
  encodeValue,
  invalid,
  isPlainObject,
  LIMITS,
  pointsFrom,
  type BlynkScalar,
  type BlynkValue,
  type TimestampedPoint,
} from "./codec.js";
import { jsonTextTooDeep, tooDeep } from "../transport/json-limits.js";

export const HTTP_ERRORS = {
  invalidToken: "Invalid token.",
  noToken: "No token provided.",
  wrongPin: "Wrong pin format.",
  typeMismatch: "Value doesn't match the Datastream data type.",
  noDatastream: "No datastream setup for that pin.",
  eventCodeMissing: "Event code is not provided.",
  unknownEvent: "Can't find Event with this code in Product template",
  unknownContentType: "Unknown content type.",
  batchTooLarge: "Too much data in batch. Maximum batch size is 10000 points.",
  incorrectParams: "Request with incorrect parameters",
} as const;

export const API_BASE = "/external/api/";
const PIN = /^[vV](0|[1-9]\d{0,2})$/;
const PIN_ACCEPTED = "v0..v255 (or V0..V255)";

export interface HttpRequestSpec {
  method: "GET" | "POST";
  path: string;
  query: [string, string][];
  body?: string;
  headers?: Record<string, string>;
}

export type HttpIntent =
  | { op: "get"; token: string; pins: string[] }
  | { op: "getAll"; token: string }
  | { op: "update"; token: string; pin: string; value: BlynkValue }
  | { op: "batchUpdate"; token: string; values: Record<string, BlynkValue> }
  | { op: "timestampedBatch"; token: string; pin: string; points: TimestampedPoint[] }
  | { op: "property"; token: string; pin: string; property: string; value: BlynkValue }
  | { op: "logEvent"; token: string; code: string; description: string }
  | { op: "isHardwareConnected"; token: string }
  /** `data/get`: one pin's history; `params` are the other query keys (period, format, ...), checked by http-history.ts. */
  | { op: "dataGet"; token: string; pin: string; params: [string, string | undefined][] };

export type HttpRequestError = { error: string; status: number };

export function errorBody(message: string): string {
  return JSON.stringify({ error: { message } });
}

/** The message of a Blynk error body, or undefined when `body` is not one. */
export function parseErrorBody(body: string): string | undefined {
  try {
    const data = JSON.parse(body) as unknown;
    if (!isPlainObject(data) || !isPlainObject(data.error)) return undefined;
    const message = data.error.message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}

function canonicalPin(pin: unknown): string | undefined {
  if (typeof pin !== "string" || !PIN.test(pin)) return undefined;
  return Number(pin.slice(1)) <= 255 ? pin.toLowerCase() : undefined;
}

/** "V1" | "v1" -> "v1"; anything else is refused in Blynk's own words plus what is accepted. */
export function parsePin(pin: unknown): string {
  const canonical = canonicalPin(pin);
  if (canonical === undefined) throw invalid(`${HTTP_ERRORS.wrongPin} Got ${describeValue(pin)}; accepted: ${PIN_ACCEPTED}`);
  return canonical;
}

/** The token is a secret: messages describe it, never show it. */
function assertToken(token: unknown): asserts token is string {
  if (typeof token !== "string" || token === "") throw invalid(`${HTTP_ERRORS.noToken} The device token must be non-empty text; accepted: the device auth token`);
  if (/[\s\u0000-\u001f\u007f]/.test(token)) {
    throw invalid("device token contains spaces or control characters; accepted: the device auth token as shown in the console (32 characters, no spaces)");
  }
}

function request(token: string, path: string, query: [string, string][] = []): HttpRequestSpec {
  assertToken(token);
  return { method: "GET", path: `${API_BASE}${path}`, query: [["token", token], ...query] };
}

/** One value as query text, arrays refused (callers spread multi-values into pairs). */
function scalarText(value: unknown, what: string): string {
  if (Array.isArray(value)) throw invalid(`value for "${what}" must be a single value here, got ${describeValue(value)}; accepted: a string, a finite number or a boolean`);
  return encodeValue(value, what);
}

function valueTexts(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) return [encodeValue(value, what)];
  if (value.length === 0) encodeValue(value, what); // throws the empty-array message
  return (value as unknown[]).map((item, i) => scalarText(item, `${what}, item ${i}`));
}

/** GET /external/api/get?token&v1[&v2...] (several pins => a JSON answer). */
export function getRequest(token: string, pins: string[]): HttpRequestSpec {
  if (!Array.isArray(pins) || pins.length === 0) throw invalid(`pins to get must be a non-empty array, got ${describeValue(pins)}; accepted: e.g. ["v1", "v2"]`);
  return request(token, "get", pins.map((pin): [string, string] => [parsePin(pin), ""]));
}

export function getAllRequest(token: string): HttpRequestSpec {
  return request(token, "getAll");
}

/** update?token&v1=x; a multi-value becomes pin=v1&value=a&value=b. */
export function updateRequest(token: string, pin: string, value: BlynkValue): HttpRequestSpec {
  const p = parsePin(pin);
  if (!Array.isArray(value)) return request(token, "update", [[p, scalarText(value, p)]]);
  return request(token, "update", [["pin", p], ...valueTexts(value, p).map((v): [string, string] => ["value", v])]);
}

/** GET batch/update?token&v1=..&v2=.. (one value per pin, same timestamp for all). */
export function batchUpdateRequest(token: string, values: Record<string, BlynkScalar>): HttpRequestSpec {
  if (!isPlainObject(values) || Object.keys(values).length === 0) {
    throw invalid(`batch values must be a non-empty object of pin -> value, got ${describeValue(values)}; accepted: e.g. {"v1": 21.5, "v2": "on"}`);
  }
  const seen = new Set<string>();
  const query = Object.entries(values).map(([pin, value]): [string, string] => {
    const p = parsePin(pin);
    if (seen.has(p)) throw invalid(`pin ${p} appears twice in the batch (as "${pin}"); accepted: each pin once`);
    seen.add(p);
    return [p, scalarText(value, p)];
  });
  return request(token, "batch/update", query);
}

/** POST batch/update?token&pin=v1 with a JSON [[ms, value], ...] body. */
export function timestampedBatchRequest(token: string, pin: string, points: TimestampedPoint[]): HttpRequestSpec {
  const p = parsePin(pin);
  let checked: TimestampedPoint[];
  try {
    checked = pointsFrom(points, undefined);
  } catch (err) {
    if (err instanceof TransportError && err.code === "too-large") throw new TransportError("too-large", `${HTTP_ERRORS.batchTooLarge} ${err.message}`);
    throw err;
  }
  return {
    ...request(token, "batch/update", [["pin", p]]),
    method: "POST",
    body: JSON.stringify(checked),
    headers: { "Content-Type": "application/json" },
  };
}

/** update/property?token&pin=v1&<property>=<value> (a multi-value repeats the property key). */
export function propertyRequest(token: string, pin: string, property: string, value: BlynkValue): HttpRequestSpec {
  const p = parsePin(pin);
  assertPropertyName(property);
  if (property === "token" || property === "pin") throw invalid(`property name "${property}" collides with a query key of update/property; accepted: any other property name`);
  return request(token, "update/property", [["pin", p], ...valueTexts(value, `${p}" property "${property}`).map((v): [string, string] => [property, v])]);
}

/** logEvent?token&code=..[&description=..]; an empty description is left out (the default text applies). */
export function logEventRequest(token: string, code: string, description?: string): HttpRequestSpec {
  assertEventCode(code);
  if (description !== undefined && typeof description !== "string") {
    throw invalid(`event description must be text, got ${describeValue(description)}; accepted: a string (empty for the event's default)`);
  }
  return request(token, "logEvent", description === undefined || description === "" ? [["code", code]] : [["code", code], ["description", description]]);
}

export function isHardwareConnectedRequest(token: string): HttpRequestSpec {
  return request(token, "isHardwareConnected");
}

/** A JSON answer value -> BlynkValue (numeric text becomes a number, null drops out). */
function answerScalar(value: unknown): BlynkScalar | undefined {
  if (typeof value === "string") return parseScalar(value);
  if (typeof value === "number" || typeof value === "boolean") return value;
  return undefined;
}

/** A value in an answer: a scalar or a flat array of scalars (one level only, so nesting cannot recurse). */
function answerValue(value: unknown): BlynkValue | undefined {
  if (!Array.isArray(value)) return answerScalar(value);
  const items = (value as unknown[]).map(answerScalar);
  return items.every((v): v is BlynkScalar => v !== undefined) ? items : undefined;
}

function answerObject(body: string, what: string): Record<string, unknown> {
  const error = parseErrorBody(body);
  if (error !== undefined) throw new TransportError("http", `Blynk answered ${what} with an error: ${error}`);
  let data: unknown;
  try {
    data = JSON.parse(body) as unknown;
  } catch {
    data = undefined;
  }
  if (!isPlainObject(data)) throw new TransportError("protocol", `Blynk's ${what} answer is not a JSON object (${describeValue(body)}); expected e.g. {"v1": 1, "v2": "text"}`);
  return data;
}

function record(data: Record<string, unknown>): Record<string, BlynkValue> {
  return Object.fromEntries(
    Object.entries(data).flatMap(([key, value]) => {
      const v = answerValue(value);
      return v === undefined ? [] : [[key, v]];
    }),
  );
}

/** A `get` answer: one pin -> its value ("100.00000" -> 100); several -> record by canonical pin. */
export function parseGetResponse(pins: string[], body: string): BlynkValue | Record<string, BlynkValue> {
  const wanted = pins.map(parsePin);
  if (wanted.length === 1) {
    const error = parseErrorBody(body);
    if (error !== undefined) throw new TransportError("http", `Blynk answered get with an error: ${error}`);
    if (body.trimStart().startsWith("[")) {
      let list: unknown;
      try {
        list = JSON.parse(body) as unknown;
      } catch {
        list = undefined;
      }
      const value = answerValue(list);
      if (Array.isArray(value)) return value;
    }
    return parseScalar(body);
  }
  // Keys may come back in either case; answer with the canonical lower-case pins.
  const byPin = new Map(Object.entries(record(answerObject(body, "get"))).map(([k, v]) => [k.toLowerCase(), v]));
  const answer: Record<string, BlynkValue> = {};
  for (const pin of wanted) {
    const value = byPin.get(pin);
    if (value !== undefined) answer[pin] = value;
  }
  return answer;
}

export function parseGetAllResponse(body: string): Record<string, BlynkValue> {
  return record(answerObject(body, "getAll"));
}

const fail = (error: string, status = 400): HttpRequestError => ({ error, status });

function values(pairs: [string, string | undefined][]): BlynkValue {
  const list = pairs.map(([, v]) => parseScalar(v ?? ""));
  return list.length === 1 ? list[0] : list;
}

/** Groups pin=value pairs by canonical pin (repeats => multi-value); undefined when a key is no pin. */
function pinGroups(pairs: [string, string | undefined][]): Map<string, [string, string | undefined][]> | undefined {
  const groups = new Map<string, [string, string | undefined][]>();
  for (const pair of pairs) {
    const pin = canonicalPin(pair[0]);
    if (pin === undefined) return undefined;
    groups.set(pin, [...(groups.get(pin) ?? []), pair]);
  }
  return groups;
}

function parsePoints(body: string | undefined): TimestampedPoint[] | HttpRequestError {
  if (jsonTextTooDeep(body ?? "")) return fail(tooDeep("the request body").message);
  let data: unknown;
  try {
    data = JSON.parse(body ?? "") as unknown;
  } catch {
    return fail(HTTP_ERRORS.incorrectParams);
  }
  if (Array.isArray(data) && data.length > LIMITS.batchPoints) return fail(HTTP_ERRORS.batchTooLarge);
  try {
    return pointsFrom(data, undefined);
  } catch {
    return fail(HTTP_ERRORS.incorrectParams);
  }
}

const ROUTES = ["get", "getAll", "update", "batch/update", "update/property", "logEvent", "isHardwareConnected", "data/get"];

/** Server side: an incoming /external/api/... request -> intent, or a Blynk error text and status. */
export function parseHttpRequest(
  method: string,
  path: string,
  query: [string, string | undefined][],
  body: string | undefined,
  contentType: string | undefined,
): HttpIntent | HttpRequestError {
  const route = path.startsWith(API_BASE) ? path.slice(API_BASE.length) : "";
  if (!ROUTES.includes(route)) return fail(`Unknown API path "${path}"; accepted: ${ROUTES.map((r) => API_BASE + r).join(", ")}`, 404);
  const verb = method.toUpperCase();
  if (verb !== "GET" && !(verb === "POST" && route === "batch/update")) {
    return fail(`Method ${verb} is not allowed on ${path}; accepted: GET${route === "batch/update" ? " or POST" : ""}`, 405);
  }
  const token = query.find(([k]) => k === "token")?.[1];
  if (token === undefined || token === "") return fail(HTTP_ERRORS.noToken);
  const rest = query.filter(([k]) => k !== "token");
  const pinParam = rest.find(([k]) => k === "pin")?.[1];
  const others = rest.filter(([k]) => k !== "pin");
  switch (route) {
    case "get": {
      if (rest.length === 0) return fail(HTTP_ERRORS.incorrectParams);
      const groups = pinGroups(rest);
      return groups === undefined ? fail(HTTP_ERRORS.wrongPin) : { op: "get", token, pins: [...groups.keys()] };
    }
    case "getAll":
      return { op: "getAll", token };
    case "isHardwareConnected":
      return { op: "isHardwareConnected", token };
    case "logEvent": {
      const code = rest.find(([k]) => k === "code")?.[1];
      if (code === undefined || code === "") return fail(HTTP_ERRORS.eventCodeMissing);
      try {
        assertEventCode(code);
      } catch {
        return fail(HTTP_ERRORS.unknownEvent);
      }
      return { op: "logEvent", token, code, description: rest.find(([k]) => k === "description")?.[1] ?? "" };
    }
    case "update": {
      if (pinParam !== undefined) {
        const pin = canonicalPin(pinParam);
        if (pin === undefined) return fail(HTTP_ERRORS.wrongPin);
        const given = others.filter(([k]) => k === "value");
        if (given.length === 0 || given.length !== others.length) return fail(HTTP_ERRORS.incorrectParams);
        return { op: "update", token, pin, value: values(given) };
      }
      if (rest.some(([k]) => k === "dataStreamId" || k === "value")) return fail(HTTP_ERRORS.incorrectParams);
      const groups = pinGroups(rest);
      if (groups === undefined) return fail(HTTP_ERRORS.wrongPin);
      if (groups.size !== 1) return fail(HTTP_ERRORS.incorrectParams);
      const [[pin, pairs]] = [...groups];
      return { op: "update", token, pin, value: values(pairs) };
    }
    case "data/get": {
      // A datastream id is the cloud's (we know none): the pin names the datastream here.
      if (rest.some(([k]) => k === "dataStreamId")) return fail(HTTP_ERRORS.incorrectParams);
      const pin = canonicalPin(pinParam);
      return pin === undefined ? fail(pinParam === undefined ? HTTP_ERRORS.incorrectParams : HTTP_ERRORS.wrongPin) : { op: "dataGet", token, pin, params: others };
    }
    case "update/property": {
      const pin = canonicalPin(pinParam);
      if (pin === undefined) return fail(HTTP_ERRORS.wrongPin);
      const names = new Set(others.map(([k]) => k));
      if (names.size !== 1) return fail(HTTP_ERRORS.incorrectParams);
      const property = [...names][0];
      try {
        assertPropertyName(property);
      } catch {
        return fail(HTTP_ERRORS.incorrectParams);
      }
      return { op: "property", token, pin, property, value: values(others) };
    }
    default: {
      // batch/update: GET = several pins at one time, POST = one pin's timestamped points.
      if (verb === "GET") {
        if (rest.length === 0) return fail(HTTP_ERRORS.incorrectParams);
        const groups = pinGroups(rest);
        if (groups === undefined) return fail(HTTP_ERRORS.wrongPin);
        return { op: "batchUpdate", token, values: Object.fromEntries([...groups].map(([pin, pairs]) => [pin, values(pairs)])) };
      }
      if (contentType === undefined || !/^application\/json\s*(;|$)/i.test(contentType.trim())) return fail(HTTP_ERRORS.unknownContentType);
      const pin = canonicalPin(pinParam);
      if (pin === undefined) return fail(HTTP_ERRORS.wrongPin);
      const points = parsePoints(body);
      return Array.isArray(points) ? { op: "timestampedBatch", token, pin, points } : points;
    }
  }
}
