/**
 * What a caller asks HttpClient for, checked and normalised once (method, URL, headers, query,
 * body) before any attempt. Plain-JS callers (Node-RED nodes) can pass anything: every problem
 * is an "invalid" HttpError naming what was wrong.
 */
import { HttpError } from "./http-error.js";
import { Redactor, redactUrls } from "./redact.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";
export type HttpResponseType = "json" | "text" | "buffer";

/** `null` adds the bare key (`&v1`, as Blynk's `get` wants); `undefined` leaves the key out. */
export type QueryValue = string | number | boolean | null | undefined;
export type QueryInput =
  | Readonly<Record<string, QueryValue | readonly QueryValue[]>>
  | readonly (readonly [string, QueryValue])[]
  | URLSearchParams;

export interface HttpRequest {
  /** Default GET; case-insensitive. */
  method?: string;
  /** Appended to the base URL's path (already percent-encoded), or an absolute http(s) URL. */
  path?: string;
  query?: QueryInput;
  /**
   * Buffer/Uint8Array: sent as is (octet-stream); string: text/plain; URLSearchParams: form;
   * anything else: JSON. A Content-Type header given by the caller wins.
   */
  body?: unknown;
  /** `undefined` removes a default header for this request. */
  headers?: Readonly<Record<string, string | undefined>>;
  /** Default "json" (an empty body gives `undefined`). */
  responseType?: HttpResponseType;
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * true: retry even a non-idempotent request (POST/PATCH); false: never retry. By default
   * idempotent requests are retried, others only when the server provably did not act on
   * them (429, or the connection could not be made).
   */
  retry?: boolean;
}

export interface HttpResponse<T> {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  data: T;
  /** Final URL after redirects (not redacted: it is data for the caller, not a log line). */
  url: string;
}

/** A request checked and normalised. */
export interface Prepared {
  method: string;
  path: string;
  query: string;
  body: Buffer | undefined;
  headers: Record<string, string>;
  responseType: HttpResponseType;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  retry: boolean | undefined;
  /** Request-specific secrets (header values, secret query values). */
  secrets: Redactor;
}

/** What the client brings to every request. */
export interface RequestDefaults {
  base: URL | undefined;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Masks the client's secrets and then the request's own. */
  redact: (text: string, secrets: Redactor) => string;
}

const METHODS = new Set<string>(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Header names whose values are treated as secrets even if nobody registered them. */
export const SECRET_HEADER = /auth|token|key|secret|password|cookie/i;
// RFC 7230 token characters for header names.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Validates and normalises a request; every problem is an "invalid" HttpError. */
export function prepareRequest(request: HttpRequest, defaults: RequestDefaults): Prepared {
  const { base } = defaults;
  const rawMethod: unknown = request.method ?? "GET";
  const method = typeof rawMethod === "string" ? rawMethod.toUpperCase() : String(rawMethod);
  const rawPath: unknown = request.path ?? "";
  const path = typeof rawPath === "string" ? rawPath : String(rawPath);
  const secrets = new Redactor();
  const fail = (text: string): HttpError => {
    const shown = defaults.redact(`${method} ${base === undefined ? path : joinPath(baseString(base), path)}`, secrets);
    return new HttpError("invalid", `invalid HTTP request ${shown}: ${text}`, { method, url: shown });
  };
  if (typeof rawPath !== "string") throw fail("path must be a string");
  if (!METHODS.has(method)) throw fail(`method "${method}" is not one of ${[...METHODS].join(", ")}`);
  if (base === undefined && !isAbsoluteUrl(path)) {
    throw fail("path must be an absolute http(s) URL when the client has no baseUrl");
  }
  if (isAbsoluteUrl(path) && !/^https?:\/\//i.test(path)) throw fail("only http and https URLs are supported");
  if (!URL.canParse(isAbsoluteUrl(path) || base === undefined ? path : joinPath(baseString(base), path))) {
    throw fail("the resulting URL is not valid");
  }
  const rawType: unknown = request.responseType ?? "json";
  if (rawType !== "json" && rawType !== "text" && rawType !== "buffer") {
    throw fail(`responseType "${String(rawType)}" is not one of json, text, buffer`);
  }
  const responseType: HttpResponseType = rawType;
  const timeoutMs = checkPositive(request.timeoutMs, defaults.timeoutMs, "timeoutMs", (t) => fail(t));

  const headers: Record<string, string> = { ...defaults.headers };
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (value === undefined) {
      Reflect.deleteProperty(headers, name.toLowerCase());
      continue;
    }
    checkHeader(name, value, (t) => fail(t));
    headers[name.toLowerCase()] = value;
    if (SECRET_HEADER.test(name)) secrets.add(value, bearerValue(value));
  }

  let query: string;
  try {
    query = encodeQuery(request.query, secrets);
  } catch (err) {
    throw fail(err instanceof Error ? err.message : String(err));
  }
  const { body, contentType } = encodeBody(request.body, fail);
  if (body !== undefined && (method === "GET" || method === "HEAD")) throw fail(`a ${method} request cannot have a body`);
  if (contentType !== undefined) headers["content-type"] ??= contentType;

  return { method, path, query, body, headers, responseType, timeoutMs, signal: request.signal, retry: request.retry, secrets };
}

/** The URL a prepared request goes to now (the base may have moved since it was prepared). */
export function requestUrl(prepared: Prepared, base: URL | undefined): string {
  const target = isAbsoluteUrl(prepared.path) || base === undefined ? prepared.path : joinPath(baseString(base), prepared.path);
  if (prepared.query === "") return target;
  const hash = target.indexOf("#");
  const [head, fragment] = hash < 0 ? [target, ""] : [target.slice(0, hash), target.slice(hash)];
  return `${head}${head.includes("?") ? "&" : "?"}${prepared.query}${fragment}`;
}

/** The query string; values under secret-shaped keys are added to `secrets`. Throws on a bad value. */
function encodeQuery(input: QueryInput | undefined, secrets: Redactor): string {
  const pairs: [string, QueryValue][] = [];
  for (const [key, value] of queryPairs(input)) {
    if (typeof value === "number" && !Number.isFinite(value)) {
      throw new Error(`query parameter "${key}" must be a finite number, got ${value}`);
    }
    if (value !== null && value !== undefined && typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new Error(`query parameter "${key}" must be a string, number, boolean or null, got ${typeof value}`);
    }
    pairs.push([key, value]);
    // A value under a secret-shaped key (token=, api_key=) may come back in an error body.
    if (typeof value === "string" && isSecretQueryKey(key)) secrets.add(value);
  }
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (v === null ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`))
    .join("&");
}

/** JSON.stringify's lib typing says string, but undefined comes back for a function or symbol. */
const stringifyJson: (value: unknown) => string | undefined = JSON.stringify;

function encodeBody(given: unknown, fail: (text: string) => Error): { body: Buffer | undefined; contentType: string | undefined } {
  if (given === undefined) return { body: undefined, contentType: undefined };
  if (Buffer.isBuffer(given) || given instanceof Uint8Array) return { body: Buffer.from(given), contentType: "application/octet-stream" };
  if (typeof given === "string") return { body: Buffer.from(given, "utf8"), contentType: "text/plain; charset=utf-8" };
  if (given instanceof URLSearchParams) return { body: Buffer.from(given.toString(), "utf8"), contentType: "application/x-www-form-urlencoded" };
  let text: string | undefined;
  try {
    text = stringifyJson(given);
  } catch (err) {
    throw fail(`body cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (text === undefined) throw fail(`body of type ${typeof given} cannot be sent as JSON`);
  return { body: Buffer.from(text, "utf8"), contentType: "application/json" };
}

function queryPairs(query: QueryInput | undefined): [string, unknown][] {
  if (query === undefined) return [];
  if (query instanceof URLSearchParams) return [...query.entries()];
  if (Array.isArray(query)) {
    return (query as readonly (readonly [string, QueryValue])[]).map(([k, v]) => [k, v]);
  }
  const pairs: [string, unknown][] = [];
  for (const [key, value] of Object.entries(query as Readonly<Record<string, QueryValue | readonly QueryValue[]>>)) {
    if (Array.isArray(value)) for (const v of value as readonly QueryValue[]) pairs.push([key, v]);
    else pairs.push([key, value]);
  }
  return pairs;
}

/** Asks redact.ts (the one list of secret query keys) whether `key` names a secret. */
function isSecretQueryKey(key: string): boolean {
  const probe = `?${key}=x`;
  return redactUrls(probe) !== probe;
}

export function bearerValue(value: string): string | undefined {
  const m = /^\s*(?:Bearer|Basic|Token)\s+(\S+)/i.exec(value);
  return m?.[1];
}

function isAbsoluteUrl(path: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(path);
}

export function baseString(base: URL): string {
  return base.href.replace(/\/+$/, "");
}

function joinPath(base: string, path: string): string {
  if (path === "") return base;
  if (path.startsWith("?")) return `${base}${path}`;
  return `${base}/${path.replace(/^\/+/, "")}`;
}

export function checkHeader(name: string, value: unknown, fail: (text: string) => Error): void {
  if (!HEADER_NAME.test(name)) throw fail(`header name "${name}" is not a valid HTTP token`);
  if (typeof value !== "string") throw fail(`header "${name}" must be a string, got ${typeof value}`);
  if (/[\r\n\0]/.test(value)) throw fail(`header "${name}" must not contain line breaks or NUL`);
}

export function checkPositive(value: number | undefined, fallback: number, what: string, fail: (text: string) => Error): number {
  if (value === undefined) return fallback;
  // Node's timers fire at once beyond 2^31 - 1 ms, hence the upper bound.
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > 0x7fff_ffff) {
    throw fail(`${what} must be a positive number of milliseconds (at most 2^31 - 1), got ${String(value)}`);
  }
  return value;
}

export function checkCount(value: number | undefined, fallback: number, what: string, fail: (text: string) => Error): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw fail(`${what} must be a whole number >= 0, got ${String(value)}`);
  }
  return value;
}
