/**
 * ThingsBoard HTTP device API (docs/PROTOCOLS.md 4.5): request builders for the link (Node-RED as a
 * device over HTTP) and a request parser for hosting the API (Node-RED as ThingsBoard). Pure.
 *
 * Decisions on UNCONFIRMED points:
 * - A long poll (`/attributes/updates`, `/rpc`) that times out answers 408 Request Timeout
 *   (server source: the session closes with REQUEST_TIMEOUT). The link treats 408, and an
 *   empty 200, as "nothing yet" and polls again.
 * - `timeout` is whole milliseconds; absent or 0 = the server's default.
 * - The RPC long-poll answer is `{"id": <int>, "method", "params"}` (server source: a number);
 *   an id sent as digits text (as one doc sample shows) is read too.
 * - Hosting: one trailing slash is tolerated, the token segment is percent-decoded, a known path
 *   with the wrong method is 405, an unknown path 404, a bad body/param 400. Token checks (401)
 *   are the caller's, as they need the device list. Refusal texts never contain the token.
 * - Bodies: a Buffer or string is the raw body text (JSON); any other value is taken as a body a
 *   framework already parsed. Firmware (`/firmware`) is not covered.
 */
import { TransportError } from "../transport/errors.js";
import type { PackageType } from "./codec-firmware.js";
import { describeValue } from "../transport/value-codec.js";
import {
  encodeAttributeRequest,
  encodeAttributes,
  encodeClaim,
  encodeProvisionRequest,
  encodeRpcRequest,
  encodeRpcResponse,
  encodeTelemetry,
  invalid,
  parseAttributes,
  parseClaim,
  parseProvisionRequest,
  parseRequestId,
  parseRpcRequest,
  parseRpcResponse,
  parseTelemetry,
  readObject,
  requestIdText,
  toKeyList,
  toPayloadText,
  keySelection,
  assertMethod,
  type AttributeKeySelection,
  type Claim,
  type ParseTelemetryOptions,
  type ProvisionRequest,
  type RequestId,
  type RpcRequest,
  type TbJson,
  type TbValues,
  type TelemetryEntry,
} from "./codec.js";

export const HTTP_BASE = "/api/v1";
export const HTTP_STATUS = { ok: 200, badRequest: 400, unauthorized: 401, notFound: 404, methodNotAllowed: 405, pollTimeout: 408 } as const;

export interface HttpCall {
  method: "GET" | "POST";
  /** Percent-encoded, relative to the server origin. Holds the token: never log it. */
  path: string;
  query: Record<string, string>;
  /** JSON text, exactly as sent. */
  body?: string;
  headers?: Record<string, string>;
}

const TOKEN_ACCEPTED = "the access token from the device's page in ThingsBoard";

function tokenSegment(token: unknown): string {
  if (typeof token !== "string" || token.trim() === "" || /[\0-\x1f\x7f]/.test(token)) {
    const got = typeof token === "string" ? "blank text or text with control characters" : describeValue(token); // never echo a token
    throw invalid(`access token must be non-empty text without control characters, got ${got}; accepted: ${TOKEN_ACCEPTED}`);
  }
  return encodeURIComponent(token);
}

function post(path: string, body: unknown): HttpCall {
  return { method: "POST", path, query: {}, body: toPayloadText(body), headers: { "content-type": "application/json" } };
}

function timeoutQuery(timeoutMs: unknown): Record<string, string> {
  if (timeoutMs === undefined) return {};
  if (typeof timeoutMs !== "number" || !Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
    throw invalid(`long-poll timeout must be whole milliseconds, got ${describeValue(timeoutMs)}; accepted: 0 (server default) or more, e.g. 60000`);
  }
  return { timeout: String(timeoutMs) };
}

/** Request builders; each validates its input the same way as the MQTT encoders. */
export const http = {
  telemetry: (token: string, telemetry: unknown, now?: number): HttpCall => post(`${HTTP_BASE}/${tokenSegment(token)}/telemetry`, encodeTelemetry(telemetry, now)),
  attributes: (token: string, values: unknown): HttpCall => post(`${HTTP_BASE}/${tokenSegment(token)}/attributes`, encodeAttributes(values)),
  /** No keys = all client and shared attributes. */
  getAttributes: (token: string, request: { clientKeys?: unknown; sharedKeys?: unknown } = {}): HttpCall => ({
    method: "GET",
    path: `${HTTP_BASE}/${tokenSegment(token)}/attributes`,
    query: encodeAttributeRequest(request),
  }),
  attributeUpdates: (token: string, timeoutMs?: number): HttpCall => ({
    method: "GET",
    path: `${HTTP_BASE}/${tokenSegment(token)}/attributes/updates`,
    query: timeoutQuery(timeoutMs),
  }),
  rpcPoll: (token: string, timeoutMs?: number): HttpCall => ({ method: "GET", path: `${HTTP_BASE}/${tokenSegment(token)}/rpc`, query: timeoutQuery(timeoutMs) }),
  rpcReply: (token: string, id: RequestId, result: unknown): HttpCall => post(`${HTTP_BASE}/${tokenSegment(token)}/rpc/${requestIdText(id)}`, encodeRpcResponse(result)),
  /** Client-side RPC; the answer is the HTTP response body. */
  rpcCall: (token: string, request: { method: unknown; params?: unknown }): HttpCall => post(`${HTTP_BASE}/${tokenSegment(token)}/rpc`, encodeRpcRequest(request)),
  claim: (token: string, claim: { secretKey?: unknown; durationMs?: unknown } = {}): HttpCall => post(`${HTTP_BASE}/${tokenSegment(token)}/claim`, encodeClaim(claim)),
  provision: (request: Record<string, unknown>): HttpCall => post(`${HTTP_BASE}/provision`, encodeProvisionRequest(request)),
} as const;

/** What the RPC long poll answers: the request with its id in the body. */
export function encodeHttpRpcRequest(id: RequestId, request: { method: unknown; params?: unknown }): TbJson {
  const { method, params } = encodeRpcRequest(request);
  return { id: parseRequestId(id), method, params };
}

export function parseHttpRpcRequest(body: unknown): RpcRequest & { id: number } {
  const json = readObject(body, "RPC request", '{"id": 1, "method": "...", "params": {...}}');
  assertMethod(json.method, 'RPC request "method"');
  return { id: parseRequestId(json.id, 'RPC request "id"'), method: json.method, params: json.params ?? null };
}

const STATUS_WORDS: Readonly<Record<number, string>> = {
  400: "bad request: ThingsBoard could not read the URL, a parameter or the body",
  401: "unauthorized: ThingsBoard does not know this access token",
  404: "not found: no such device API path (check the server address and the token)",
  405: "method not allowed on this path",
  408: "long poll timed out with nothing to deliver",
  413: "payload too large",
  429: "too many requests: ThingsBoard's rate limit was reached",
};

export function describeHttpStatus(status: number): string {
  return `${STATUS_WORDS[status] ?? (status >= 500 ? "server error" : "unexpected answer")} (HTTP ${status})`;
}

// ---- hosting: parse a device's request -------------------------------------------------------

export type HttpIntent =
  | { kind: "telemetry"; token: string; entries: TelemetryEntry[] }
  | { kind: "attributes"; token: string; values: TbValues }
  | { kind: "attributes-request"; token: string; request: AttributeKeySelection }
  | { kind: "attribute-updates"; token: string; timeoutMs: number }
  | { kind: "rpc-poll"; token: string; timeoutMs: number }
  | { kind: "rpc-reply"; token: string; id: number; idText: string; result: TbJson }
  | { kind: "rpc-call"; token: string; request: RpcRequest }
  | { kind: "claim"; token: string; claim: Claim }
  | { kind: "provision"; request: ProvisionRequest }
  /** `GET firmware` / `software` (docs/PROTOCOLS.md 4.6): chunk `chunk` of `size` bytes (0: the whole file) of the package titled so. */
  | { kind: "firmware"; token: string; type: PackageType; title: string; version: string; size: number; chunk: number };
export interface HttpRefusal {
  kind: "error";
  status: number;
  error: string;
}

function refuse(status: number, error: string): HttpRefusal {
  return { kind: "error", status, error };
}

/** Query input: URLSearchParams, "a=1&b=2", or an object of string | string[] (a framework's req.query). */
function queryOf(query: unknown, fromPath: string): URLSearchParams {
  const params = new URLSearchParams(fromPath);
  const add = (v: string, k: string): void => {
    params.append(k, v);
  };
  if (query instanceof URLSearchParams) query.forEach(add);
  else if (typeof query === "string") new URLSearchParams(query).forEach(add);
  else if (typeof query === "object" && query !== null) {
    for (const [k, v] of Object.entries(query)) {
      for (const item of Array.isArray(v) ? (v as unknown[]) : [v]) {
        if (typeof item === "string" || typeof item === "number") params.append(k, String(item));
      }
    }
  }
  return params;
}

/** `?title=&version=` (required) `&size=&chunk=` (whole numbers, default 0), as ThingsBoard's DeviceApiController reads them. */
function firmwareRequest(token: string, type: PackageType, params: URLSearchParams): HttpIntent {
  const required = (name: string): string => {
    const value = params.get(name);
    if (value === null || value === "") throw invalid(`the ${type} request needs ${name}; accepted: ?title=<fw_title>&version=<fw_version>[&size=<chunk size>&chunk=<index>]`);
    return value;
  };
  const whole = (name: string): number => {
    const value = params.get(name) ?? "0";
    if (!/^\d{1,9}$/.test(value)) throw invalid(`${name} ${JSON.stringify(value.slice(0, 20))} is not a whole number`);
    return Number(value);
  };
  return { kind: "firmware", token, type, title: required("title"), version: required("version"), size: whole("size"), chunk: whole("chunk") };
}

function timeoutParam(params: URLSearchParams): number {
  const text = params.get("timeout");
  if (text === null || text === "") return 0;
  if (!/^\d{1,15}$/.test(text)) throw invalid(`timeout ${JSON.stringify(text)} is not whole milliseconds; accepted: e.g. timeout=60000`);
  return Number(text);
}

const ROUTES: readonly { path: string; methods: string }[] = [
  { path: "telemetry", methods: "POST" },
  { path: "attributes", methods: "GET or POST" },
  { path: "attributes/updates", methods: "GET" },
  { path: "rpc", methods: "GET or POST" },
  { path: "rpc/<id>", methods: "POST" },
  { path: "claim", methods: "POST" },
  { path: "firmware", methods: "GET" },
  { path: "software", methods: "GET" },
];

/**
 * A device's HTTP request -> what it asks for, or the refusal to answer with. `path` may carry
 * the query after "?"; `query` adds to it.
 */
export function parseHttpRequest(method: string, path: string, query?: unknown, body?: unknown, options: ParseTelemetryOptions = {}): HttpIntent | HttpRefusal {
  const verb = method.toUpperCase();
  const q = path.indexOf("?");
  let route = q === -1 ? path : path.slice(0, q);
  if (route.length > 1 && route.endsWith("/")) route = route.slice(0, -1);
  if (!route.startsWith(`${HTTP_BASE}/`)) return refuse(404, `not a ThingsBoard device API path; accepted: ${HTTP_BASE}/<token>/...`);
  const segments = route.slice(HTTP_BASE.length + 1).split("/");
  if (segments.length === 1 && segments[0] === "provision") {
    if (verb !== "POST") return refuse(405, `${HTTP_BASE}/provision accepts POST only`);
    return attempt(() => ({ kind: "provision", request: parseProvisionRequest(body) }));
  }
  const [rawToken, ...rest] = segments;
  let token: string;
  try {
    token = decodeURIComponent(rawToken);
  } catch {
    return refuse(400, "the token segment of the path is not valid percent-encoding");
  }
  if (token === "") return refuse(404, `the path has no token; accepted: ${HTTP_BASE}/<token>/...`);
  const sub = rest.join("/");
  const wrongMethod = (allowed: string): HttpRefusal => refuse(405, `${HTTP_BASE}/<token>/${sub} accepts ${allowed}, not ${verb}`);
  let params: URLSearchParams;
  try {
    params = queryOf(query, q === -1 ? "" : path.slice(q + 1));
  } catch {
    return refuse(400, "the query string could not be read");
  }
  if (rest.length === 2 && rest[0] === "rpc") {
    if (verb !== "POST") return wrongMethod("POST");
    return attempt(() => {
      const idText = requestIdText(rest[1], "RPC id in the path");
      return { kind: "rpc-reply", token, id: Number(idText), idText, result: parseRpcResponse(body) };
    });
  }
  switch (`${verb} ${sub}`) {
    case "POST telemetry":
      return attempt(() => ({ kind: "telemetry", token, entries: parseTelemetry(body, options) }));
    case "POST attributes":
      return attempt(() => ({ kind: "attributes", token, values: parseAttributes(body, options.typeCast) }));
    case "GET attributes":
      return attempt(() => ({
        kind: "attributes-request",
        token,
        request: keySelection(toKeyList(params.get("clientKeys") ?? undefined, "clientKeys"), toKeyList(params.get("sharedKeys") ?? undefined, "sharedKeys")),
      }));
    case "GET attributes/updates":
      return attempt(() => ({ kind: "attribute-updates", token, timeoutMs: timeoutParam(params) }));
    case "GET rpc":
      return attempt(() => ({ kind: "rpc-poll", token, timeoutMs: timeoutParam(params) }));
    case "POST rpc":
      return attempt(() => ({ kind: "rpc-call", token, request: parseRpcRequest(body) }));
    case "POST claim":
      return attempt(() => ({ kind: "claim", token, claim: parseClaim(body) }));
    case "GET firmware":
    case "GET software":
      return attempt(() => firmwareRequest(token, sub === "firmware" ? "firmware" : "software", params));
    default: {
      const known = ROUTES.find((r) => r.path === sub);
      if (known !== undefined) return wrongMethod(known.methods);
      const shown = sub.length > 60 ? `${sub.slice(0, 60)}…` : sub;
      return refuse(404, `unknown device API path ${HTTP_BASE}/<token>/${shown}; accepted: ${ROUTES.map((r) => r.path).join(", ")}`);
    }
  }
}

/** Turns a codec refusal into 400 with its message (which never holds the token). */
function attempt(build: () => HttpIntent): HttpIntent | HttpRefusal {
  try {
    return build();
  } catch (err) {
    if (err instanceof TransportError) return refuse(err.code === "too-large" ? 413 : 400, err.message);
    throw err; // a bug, not a bad request
  }
}
