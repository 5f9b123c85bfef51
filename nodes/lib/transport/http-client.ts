/**
 * HTTP client for the clouds' REST APIs (Blynk HTTPS, ThingsBoard HTTP, ThingSpeak REST), over
 * axios. It adds what those APIs need on top of a plain request:
 * - retries with backoff on 429 / 5xx / network errors / timeouts, honouring Retry-After;
 * - redirects followed here (not by axios), so a permanent move to another origin (Blynk's 308
 *   to the region host) is remembered and later requests go straight to the new origin;
 * - one error type (HttpError, a TransportError) with a message in words and no secrets:
 *   axios errors carry the whole request config (headers, URL with token) and never escape;
 * - close(), which aborts everything in flight, including waits between retries.
 */
import { setMaxListeners } from "node:events";
import http from "node:http";
import https from "node:https";
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { TransportError, type TransportErrorCode } from "./errors.js";
import { Redactor, redactUrls } from "./redact.js";
import { TypedEmitter } from "./typed-emitter.js";

export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";
export type HttpResponseType = "json" | "text" | "buffer";

/** `null` adds the bare key (`&v1`, as Blynk's `get` wants); `undefined` leaves the key out. */
export type QueryValue = string | number | boolean | null | undefined;
export type QueryInput =
  | Readonly<Record<string, QueryValue | readonly QueryValue[]>>
  | readonly (readonly [string, QueryValue])[]
  | URLSearchParams;

export interface HttpTlsOptions {
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Certificates are verified unless this is explicitly false. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface HttpClientOptions {
  /** Origin plus optional base path, e.g. `https://blynk.cloud` or `https://host/api/v1`. */
  baseUrl?: string;
  /** Per HTTP exchange (each attempt, each redirect hop). Default 10 s. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 3. */
  retries?: number;
  /** Delays between retries; defaults 500 ms doubling up to 10 s, half jitter. */
  backoff?: BackoffOptions;
  /** Sent with every request; per-request headers override them. */
  headers?: Readonly<Record<string, string>>;
  /** Registered secrets are masked in every message this client produces. */
  redactor?: Redactor;
  /** Default 5; 0 turns every redirect into an error. */
  maxRedirects?: number;
  /** Jitter source for the backoff, when `backoff.random` is not given. */
  random?: () => number;
  /** Default `@iot-bridge/node-red`. */
  userAgent?: string;
  /** Longest wait honoured from a Retry-After header. Default 30 s. */
  maxRetryAfterMs?: number;
  /** Client certificate, custom CA, verification switch (Node-RED's tls-config). */
  tls?: HttpTlsOptions;
  /** Clock for Retry-After HTTP dates; injected by tests. */
  now?: () => number;
  /** Waits between retries; injected by tests. Must reject when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

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

export interface RedirectInfo {
  /** The origin later requests go to. */
  origin: string;
  previousOrigin: string;
  status: number;
}

export interface RetryInfo {
  method: string;
  /** Redacted. */
  url: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  delayMs: number;
  /** Why, in words (redacted). */
  reason: string;
  status?: number;
}

export type HttpClientEvents = {
  /** A permanent redirect (301/308) moved the base URL to another origin. */
  redirected: [RedirectInfo];
  /** A failed attempt will be repeated after `delayMs`. */
  retry: [RetryInfo];
  listenerError: [unknown, string];
};

/** The TransportError every HttpClient failure is; all its fields are redacted. */
export class HttpError extends TransportError {
  readonly method: string;
  /** The URL of the failed exchange, redacted. */
  readonly url: string;
  /** The start of the server's answer for HTTP/protocol errors, redacted. */
  readonly body: string | undefined;
  readonly attempts: number;
  /** What the server's Retry-After asked for, in ms. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: TransportErrorCode,
    message: string,
    details: {
      method: string;
      url: string;
      status?: number;
      retryable?: boolean;
      body?: string;
      attempts?: number;
      retryAfterMs?: number;
    },
  ) {
    super(code, message, { status: details.status, retryable: details.retryable });
    this.method = details.method;
    this.url = details.url;
    this.body = details.body;
    this.attempts = details.attempts ?? 1;
    this.retryAfterMs = details.retryAfterMs;
  }
}

const METHODS = new Set<string>(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const IDEMPOTENT = new Set<string>(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** 5xx that say "this will not work", not "try again". */
const PERMANENT_5XX = new Set([501, 505]);
/** Headers the Fetch standard drops on a cross-origin redirect. */
const CROSS_ORIGIN_DROP = ["authorization", "proxy-authorization", "cookie"];
/** Header names whose values are treated as secrets even if nobody registered them. */
const SECRET_HEADER = /auth|token|key|secret|password|cookie/i;
const BODY_EXCERPT_CHARS = 200;
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 10_000, factor: 2, jitter: 0.5 };
// RFC 7230 token characters for header names.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Why an exchange did not produce a response; turned into an HttpError at the end. */
interface Failure {
  code: TransportErrorCode;
  /** In words, unredacted (the message is redacted as a whole). */
  detail: string;
  status?: number;
  body?: string;
  retryAfterMs?: number;
  /** Worth another attempt (if the method allows one). */
  transient: boolean;
  /** The server certainly did not act on the request, so even a POST may be repeated. */
  notProcessed: boolean;
  /** URL of the exchange that failed (after redirects). */
  url: string;
}

class FailureSignal extends Error {
  constructor(readonly failure: Failure) {
    super(failure.detail);
  }
}

interface Prepared {
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

interface Exchange {
  response: AxiosResponse<Buffer>;
  url: string;
}

export class HttpClient extends TypedEmitter<HttpClientEvents> {
  readonly #base: URL | undefined;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoff: BackoffOptions;
  readonly #headers: Record<string, string>;
  readonly #redactor: Redactor | undefined;
  readonly #ownSecrets = new Redactor();
  readonly #maxRedirects: number;
  readonly #maxRetryAfterMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #closer = new AbortController();
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;
  readonly #axios: AxiosInstance;

  constructor(options: HttpClientOptions = {}) {
    super();
    const invalid = (text: string): TransportError => new TransportError("invalid", `invalid HTTP client options: ${text}`);
    if (options.baseUrl !== undefined) {
      let base: URL;
      try {
        base = new URL(options.baseUrl);
      } catch {
        throw invalid(`baseUrl "${redactUrls(options.baseUrl)}" is not a URL; expected e.g. https://blynk.cloud`);
      }
      if (base.protocol !== "http:" && base.protocol !== "https:") {
        throw invalid(`baseUrl must start with http:// or https://, got "${base.protocol}"`);
      }
      if (base.search !== "" || base.hash !== "") {
        throw invalid("baseUrl must not have a query or fragment; pass query parameters per request");
      }
      this.#base = base;
    }
    this.#timeoutMs = checkPositive(options.timeoutMs, 10_000, "timeoutMs", invalid);
    this.#retries = checkCount(options.retries, 3, "retries", invalid);
    this.#maxRedirects = checkCount(options.maxRedirects, 5, "maxRedirects", invalid);
    this.#maxRetryAfterMs = checkCount(options.maxRetryAfterMs, 30_000, "maxRetryAfterMs", invalid);
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#backoff.random ??= options.random;
    try {
      new Backoff(this.#backoff); // validates now rather than on the first retry
    } catch (err) {
      throw invalid(err instanceof Error ? err.message : String(err));
    }
    this.#headers = { "user-agent": options.userAgent ?? "@iot-bridge/node-red" };
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      checkHeader(name, value, invalid);
      this.#headers[name.toLowerCase()] = value;
      if (SECRET_HEADER.test(name)) this.#ownSecrets.add(value, bearerValue(value));
    }
    this.#redactor = options.redactor;
    // Every request in flight listens on the close signal; many at once is normal, not a leak.
    setMaxListeners(0, this.#closer.signal);
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleep;
    // Own agents, so close() can drop idle keep-alive sockets too.
    this.#httpAgent = new http.Agent({ keepAlive: true });
    this.#httpsAgent = new https.Agent({ keepAlive: true, ...options.tls });
    this.#axios = axios.create({
      adapter: "http",
      maxRedirects: 0, // redirects are ours: see #exchangeFollowingRedirects
      validateStatus: () => true, // every status is classified here
      responseType: "arraybuffer", // always a Buffer; decoded per responseType below
      transformRequest: [(data: unknown) => data], // the body is serialised by #prepare
      transformResponse: [(data: unknown) => data],
      httpAgent: this.#httpAgent,
      httpsAgent: this.#httpsAgent,
    });
  }

  /** The base URL requests currently go to (after any remembered permanent redirect). */
  get baseUrl(): string | undefined {
    return this.#base === undefined ? undefined : baseString(this.#base);
  }

  get closed(): boolean {
    return this.#closer.signal.aborted;
  }

  /** Aborts requests in flight and waits between retries (they reject "closed"); later requests reject too. */
  close(): void {
    if (this.closed) return;
    this.#closer.abort();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  get<T = unknown>(path: string, request: Omit<HttpRequest, "method" | "path"> = {}): Promise<HttpResponse<T>> {
    return this.request<T>({ ...request, method: "GET", path });
  }

  post<T = unknown>(path: string, body: unknown, request: Omit<HttpRequest, "method" | "path" | "body"> = {}): Promise<HttpResponse<T>> {
    return this.request<T>({ ...request, method: "POST", path, body });
  }

  async request<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>> {
    const prepared = this.#prepare(request);
    const backoff = new Backoff(this.#backoff);
    for (let attempt = 1; ; attempt++) {
      // Recomputed per attempt: a redirect remembered meanwhile moves the retry too.
      const url = this.#url(prepared);
      let failure: Failure;
      if (this.closed) {
        failure = closedFailure(url, "the HTTP client was closed");
      } else if (prepared.signal?.aborted === true) {
        failure = closedFailure(url, "cancelled by the caller");
      } else {
        const outcome = await this.#attempt(prepared, url);
        if ("response" in outcome) {
          const status = outcome.response.status;
          if (status >= 200 && status < 300) return this.#decode<T>(prepared, outcome, attempt);
          failure = this.#statusFailure(outcome);
        } else {
          failure = outcome;
        }
      }
      const delayMs = this.#retryDelay(prepared, failure, attempt, backoff);
      if (delayMs === undefined) throw this.#error(prepared, failure, attempt);
      this.emit("retry", {
        method: prepared.method,
        url: this.#redact(failure.url, prepared),
        attempt,
        delayMs,
        reason: this.#redact(failure.detail, prepared),
        ...(failure.status === undefined ? {} : { status: failure.status }),
      });
      const stop = await this.#wait(delayMs, prepared.signal);
      if (stop !== undefined) throw this.#error(prepared, closedFailure(failure.url, stop), attempt);
    }
  }

  /** One attempt (with its redirects): the final exchange, or why there is none. */
  async #attempt(prepared: Prepared, url: string): Promise<Exchange | Failure> {
    try {
      return await this.#exchangeFollowingRedirects(prepared, url);
    } catch (err) {
      if (err instanceof FailureSignal) return err.failure;
      // A bug of ours; it still leaves only as a redacted HttpError.
      const detail = `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
      return { code: "protocol", detail, transient: false, notProcessed: false, url };
    }
  }

  /** Validates and normalises a request; every problem is an "invalid" HttpError. */
  #prepare(request: HttpRequest): Prepared {
    // Plain-JS callers (Node-RED nodes) can pass anything, hence the unknown checks below.
    const rawMethod: unknown = request.method ?? "GET";
    const method = typeof rawMethod === "string" ? rawMethod.toUpperCase() : String(rawMethod);
    const rawPath: unknown = request.path ?? "";
    const path = typeof rawPath === "string" ? rawPath : String(rawPath);
    const secrets = new Redactor();
    const fail = (text: string): HttpError => {
      const shown = this.#redact(`${method} ${this.#base === undefined ? path : joinPath(baseString(this.#base), path)}`, { secrets });
      return new HttpError("invalid", `invalid HTTP request ${shown}: ${text}`, { method, url: shown });
    };
    if (typeof rawPath !== "string") throw fail("path must be a string");
    if (!METHODS.has(method)) throw fail(`method "${method}" is not one of ${[...METHODS].join(", ")}`);
    if (this.#base === undefined && !isAbsoluteUrl(path)) {
      throw fail("path must be an absolute http(s) URL when the client has no baseUrl");
    }
    if (isAbsoluteUrl(path) && !/^https?:\/\//i.test(path)) throw fail("only http and https URLs are supported");
    if (!URL.canParse(isAbsoluteUrl(path) || this.#base === undefined ? path : joinPath(baseString(this.#base), path))) {
      throw fail("the resulting URL is not valid");
    }
    const rawType: unknown = request.responseType ?? "json";
    if (rawType !== "json" && rawType !== "text" && rawType !== "buffer") {
      throw fail(`responseType "${String(rawType)}" is not one of json, text, buffer`);
    }
    const responseType: HttpResponseType = rawType;
    const timeoutMs = checkPositive(request.timeoutMs, this.#timeoutMs, "timeoutMs", (t) => fail(t));

    const headers: Record<string, string> = { ...this.#headers };
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (value === undefined) {
        Reflect.deleteProperty(headers, name.toLowerCase());
        continue;
      }
      checkHeader(name, value, (t) => fail(t));
      headers[name.toLowerCase()] = value;
      if (SECRET_HEADER.test(name)) secrets.add(value, bearerValue(value));
    }

    const pairs: [string, QueryValue][] = [];
    try {
      for (const [key, value] of queryPairs(request.query)) {
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
    } catch (err) {
      throw fail(err instanceof Error ? err.message : String(err));
    }
    const query = pairs
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => (v === null ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`))
      .join("&");

    let body: Buffer | undefined;
    let contentType: string | undefined;
    const given = request.body;
    if (given === undefined) {
      body = undefined;
    } else if (Buffer.isBuffer(given) || given instanceof Uint8Array) {
      body = Buffer.from(given);
      contentType = "application/octet-stream";
    } else if (typeof given === "string") {
      body = Buffer.from(given, "utf8");
      contentType = "text/plain; charset=utf-8";
    } else if (given instanceof URLSearchParams) {
      body = Buffer.from(given.toString(), "utf8");
      contentType = "application/x-www-form-urlencoded";
    } else {
      let text: string | undefined;
      try {
        text = stringifyJson(given);
      } catch (err) {
        throw fail(`body cannot be sent as JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (text === undefined) throw fail(`body of type ${typeof given} cannot be sent as JSON`);
      body = Buffer.from(text, "utf8");
      contentType = "application/json";
    }
    if (body !== undefined && (method === "GET" || method === "HEAD")) throw fail(`a ${method} request cannot have a body`);
    if (contentType !== undefined) headers["content-type"] ??= contentType;

    return { method, path, query, body, headers, responseType, timeoutMs, signal: request.signal, retry: request.retry, secrets };
  }

  #url(prepared: Prepared): string {
    const target = isAbsoluteUrl(prepared.path) || this.#base === undefined ? prepared.path : joinPath(baseString(this.#base), prepared.path);
    if (prepared.query === "") return target;
    const hash = target.indexOf("#");
    const [head, fragment] = hash < 0 ? [target, ""] : [target.slice(0, hash), target.slice(hash)];
    return `${head}${head.includes("?") ? "&" : "?"}${prepared.query}${fragment}`;
  }

  async #exchangeFollowingRedirects(prepared: Prepared, startUrl: string): Promise<Exchange> {
    let url = startUrl;
    let method = prepared.method;
    let body = prepared.body;
    const headers = { ...prepared.headers };
    const visited = new Set<string>([`${method} ${url}`]);
    for (let hops = 0; ; hops++) {
      const response = await this.#exchange(prepared, method, url, body, headers);
      if (!REDIRECTS.has(response.status)) return { response, url };

      const status = response.status;
      const location = response.headers.location as unknown;
      const protocolFailure = (detail: string): FailureSignal =>
        new FailureSignal({ code: "protocol", detail, status, transient: false, notProcessed: false, url });
      if (typeof location !== "string" || location === "") {
        throw protocolFailure(`HTTP ${status} redirect without a Location header`);
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw protocolFailure(`HTTP ${status} redirect to an unusable Location "${location.slice(0, 100)}"`);
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") {
        throw protocolFailure(`HTTP ${status} redirect to a non-HTTP URL (${next.protocol})`);
      }
      const current = new URL(url);
      if (current.protocol === "https:" && next.protocol === "http:") {
        // The request may carry a token; never send it in clear text because a server said so.
        throw protocolFailure(`refused HTTP ${status} redirect from HTTPS to plain HTTP ${next.href}`);
      }
      if (hops >= this.#maxRedirects) {
        throw protocolFailure(`too many redirects (the limit is ${this.#maxRedirects}); the last was HTTP ${status} to ${next.href}`);
      }
      // 303 always, and 301/302 for POST (as the Fetch standard and browsers do), become GET without a body.
      if ((status === 303 && method !== "GET" && method !== "HEAD") || ((status === 301 || status === 302) && method === "POST")) {
        method = "GET";
        body = undefined;
        for (const name of ["content-type", "content-length", "content-encoding"]) Reflect.deleteProperty(headers, name);
      }
      if (next.origin !== current.origin) {
        for (const name of CROSS_ORIGIN_DROP) Reflect.deleteProperty(headers, name);
        if ((status === 301 || status === 308) && this.#base !== undefined && this.#base.origin === current.origin) {
          this.#moveBase(next, status);
        }
      }
      const key = `${method} ${next.href}`;
      if (visited.has(key)) throw protocolFailure(`redirect loop: HTTP ${status} back to ${next.href}`);
      visited.add(key);
      url = next.href;
    }
  }

  #moveBase(next: URL, status: number): void {
    const base = this.#base;
    if (base === undefined) return;
    const previousOrigin = base.origin;
    base.protocol = next.protocol;
    base.host = next.host; // host includes the port
    // Credentials in the old base URL were meant for the old host.
    base.username = "";
    base.password = "";
    this.emit("redirected", { origin: base.origin, previousOrigin, status });
  }

  /** One HTTP exchange; aborted by the timeout, the caller's signal or close(). */
  async #exchange(prepared: Prepared, method: string, url: string, body: Buffer | undefined, headers: Record<string, string>): Promise<AxiosResponse<Buffer>> {
    const controller = new AbortController();
    let stop: { code: TransportErrorCode; detail: string } | undefined;
    const abort = (code: TransportErrorCode, detail: string): void => {
      stop ??= { code, detail };
      controller.abort();
    };
    const onClose = (): void => { abort("closed", "the HTTP client was closed"); };
    const onCaller = (): void => { abort("closed", "cancelled by the caller"); };
    const timer = setTimeout(() => { abort("timeout", `no response within ${formatMs(prepared.timeoutMs)}`); }, prepared.timeoutMs);
    this.#closer.signal.addEventListener("abort", onClose);
    prepared.signal?.addEventListener("abort", onCaller);
    // Between redirect hops either signal may already have fired; listeners would never run.
    if (this.closed) onClose();
    if (prepared.signal?.aborted === true) onCaller();
    try {
      return await this.#axios.request<Buffer>({ method, url, data: body, headers, signal: controller.signal });
    } catch (err) {
      if (stop !== undefined) {
        const transient = stop.code === "timeout";
        throw new FailureSignal({ ...stop, transient, notProcessed: false, url });
      }
      throw new FailureSignal(networkFailure(err, url));
    } finally {
      clearTimeout(timer);
      this.#closer.signal.removeEventListener("abort", onClose);
      prepared.signal?.removeEventListener("abort", onCaller);
    }
  }

  #statusFailure({ response, url }: Exchange): Failure {
    const status = response.status;
    const reason = response.statusText !== "" ? response.statusText : (http.STATUS_CODES[status] ?? "");
    const body = bodyExcerptSource(response);
    const retryAfterMs = parseRetryAfter(response.headers["retry-after"] as unknown, this.#now());
    return {
      code: status === 429 ? "rate-limited" : "http",
      detail: `HTTP ${status}${reason === "" ? "" : ` ${reason}`}`,
      status,
      body,
      retryAfterMs,
      transient: status === 429 || status === 408 || (status >= 500 && !PERMANENT_5XX.has(status)),
      notProcessed: status === 429,
      url,
    };
  }

  /** The wait before the next attempt, or undefined when there is none. */
  #retryDelay(prepared: Prepared, failure: Failure, attempt: number, backoff: Backoff): number | undefined {
    if (!failure.transient || attempt > this.#retries || prepared.retry === false) return undefined;
    if (prepared.retry !== true && !IDEMPOTENT.has(prepared.method) && !failure.notProcessed) return undefined;
    const fromBackoff = backoff.next();
    return failure.retryAfterMs === undefined ? fromBackoff : Math.min(failure.retryAfterMs, this.#maxRetryAfterMs);
  }

  /** Resolves undefined after `ms`, or with the reason it was cut short. */
  async #wait(ms: number, callerSignal: AbortSignal | undefined): Promise<string | undefined> {
    const controller = new AbortController();
    let reason: string | undefined;
    const onClose = (): void => { reason ??= "the HTTP client was closed"; controller.abort(); };
    const onCaller = (): void => { reason ??= "cancelled by the caller"; controller.abort(); };
    this.#closer.signal.addEventListener("abort", onClose);
    callerSignal?.addEventListener("abort", onCaller);
    if (this.closed) onClose();
    if (callerSignal?.aborted === true) onCaller();
    try {
      if (reason === undefined) await this.#sleep(ms, controller.signal);
    } catch {
      reason ??= "the wait before retrying failed";
    } finally {
      this.#closer.signal.removeEventListener("abort", onClose);
      callerSignal?.removeEventListener("abort", onCaller);
    }
    return reason;
  }

  #decode<T>(prepared: Prepared, { response, url }: Exchange, attempt: number): HttpResponse<T> {
    const headers = flattenHeaders(response.headers);
    const raw = toBuffer(response.data);
    const result = (data: unknown): HttpResponse<T> => ({ status: response.status, headers, data: data as T, url });
    if (prepared.responseType === "buffer") return result(raw);
    const text = decodeText(raw, headers["content-type"]);
    if (prepared.responseType === "text") return result(text);
    if (text.trim() === "") return result(undefined);
    try {
      return result(JSON.parse(text.replace(/^\uFEFF/, "")));
    } catch {
      const type = headerValue(headers, "content-type");
      throw this.#error(
        prepared,
        {
          code: "protocol",
          detail: `expected a JSON answer but got HTTP ${response.status}${type === undefined ? "" : ` (${type})`}`,
          status: response.status,
          body: text,
          transient: false,
          notProcessed: false,
          url,
        },
        attempt,
      );
    }
  }

  #error(prepared: Prepared, failure: Failure, attempts: number): HttpError {
    const url = this.#redact(failure.url, prepared);
    const body = failure.body === undefined ? undefined : excerpt(this.#redact(failure.body.slice(0, 4 * BODY_EXCERPT_CHARS + 1000), prepared));
    let text = `${prepared.method} ${url} failed: ${this.#redact(failure.detail, prepared)}`;
    if (body !== undefined && body !== "") text += `: ${body}`;
    const notes: string[] = [];
    if (attempts > 1) notes.push(`gave up after ${attempts} attempts`);
    if (failure.retryAfterMs !== undefined) notes.push(`the server asked to wait ${formatMs(failure.retryAfterMs)}`);
    if (notes.length > 0) text += ` (${notes.join("; ")})`;
    return new HttpError(failure.code, text, {
      method: prepared.method,
      url,
      ...(failure.status === undefined ? {} : { status: failure.status }),
      retryable: failure.transient,
      ...(body === undefined ? {} : { body }),
      attempts,
      ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
    });
  }

  #redact(text: string, prepared: Pick<Prepared, "secrets">): string {
    let out = this.#redactor === undefined ? redactUrls(text) : this.#redactor.redact(text);
    out = this.#ownSecrets.redact(out);
    return prepared.secrets.redact(out);
  }
}

function closedFailure(url: string, detail: string): Failure {
  return { code: "closed", detail, transient: false, notProcessed: false, url };
}

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the server",
  ENOTFOUND: "host not found (DNS)",
  EAI_AGAIN: "DNS lookup failed (temporary)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  EPIPE: "connection closed while sending",
  ECONNABORTED: "connection aborted",
  ERR_SOCKET_CONNECTION_TIMEOUT: "connection timed out",
};
/** The connection was never made, so the request cannot have been acted on. */
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const TLS_CODES = /CERT|SELF_SIGNED|TLS|SSL|ALTNAME|UNABLE_TO_(GET|VERIFY)/;

function networkFailure(err: unknown, url: string): Failure {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && TLS_CODES.test(code)) {
    // Retrying cannot fix a certificate; say so plainly.
    return { code: "network", detail: `TLS failed: ${message} (${code})`, transient: false, notProcessed: true, url };
  }
  const words = code === undefined ? undefined : NETWORK_WORDS[code];
  const detail = words === undefined ? `${message}${code === undefined ? "" : ` (${code})`}` : `${words} (${code})`;
  return { code: "network", detail, transient: true, notProcessed: code !== undefined && NOT_CONNECTED.has(code), url };
}

/** The system error code of an axios/Node error, looking through cause and AggregateError. */
function errorCode(err: unknown, depth = 0): string | undefined {
  if (typeof err !== "object" || err === null || depth > 3) return undefined;
  const { code, cause, errors } = err as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === "string" && code !== "ERR_BAD_RESPONSE" && code !== "ERR_BAD_REQUEST" && !code.startsWith("ERR_NETWORK")) return code;
  const inner = errorCode(cause, depth + 1);
  if (inner !== undefined) return inner;
  if (Array.isArray(errors)) return errorCode(errors[0], depth + 1);
  return typeof code === "string" ? code : undefined;
}

function bodyExcerptSource(response: AxiosResponse<Buffer>): string | undefined {
  const raw = toBuffer(response.data);
  if (raw.length === 0) return undefined;
  const headers = flattenHeaders(response.headers);
  const type = headers["content-type"] ?? "";
  const textual = type === "" || /^text\/|json|xml|x-www-form-urlencoded|javascript/i.test(type);
  const text = decodeText(raw.subarray(0, 4096), type);
  if (!textual || text.includes("\uFFFD") || /[\u0000-\u0008\u000e-\u001f]/.test(text)) {
    return `<${raw.length} bytes${type === "" ? "" : ` of ${type}`}>`;
  }
  return text;
}

/** JSON.stringify's lib typing says string, but undefined comes back for a function or symbol. */
const stringifyJson: (value: unknown) => string | undefined = JSON.stringify;

function headerValue(headers: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(headers, name) ? headers[name] : undefined;
}

/** axios gives a Buffer for responseType "arraybuffer" in Node; anything else is normalised defensively. */
function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer || data instanceof Uint8Array) return Buffer.from(data as Uint8Array);
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.alloc(0);
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= BODY_EXCERPT_CHARS ? flat : `${flat.slice(0, BODY_EXCERPT_CHARS)}…`;
}

function decodeText(raw: Buffer, contentType: string | undefined): string {
  const charset = /charset="?([^";\s]+)/i.exec(contentType ?? "")?.[1];
  if (charset !== undefined) {
    try {
      return new TextDecoder(charset).decode(raw);
    } catch {
      // unknown charset label: fall back to UTF-8 below
    }
  }
  return raw.toString("utf8");
}

function flattenHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null || typeof value === "function") continue;
    const text = Array.isArray(value) ? value.map((v) => String(v)).join(", ") : typeof value === "string" ? value : JSON.stringify(value);
    out[name.toLowerCase()] = text;
  }
  return out;
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 10.2.3). */
function parseRetryAfter(value: unknown, now: number): number | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
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

function bearerValue(value: string): string | undefined {
  const m = /^\s*(?:Bearer|Basic|Token)\s+(\S+)/i.exec(value);
  return m?.[1];
}

function isAbsoluteUrl(path: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(path);
}

function baseString(base: URL): string {
  return base.href.replace(/\/+$/, "");
}

function joinPath(base: string, path: string): string {
  if (path === "") return base;
  if (path.startsWith("?")) return `${base}${path}`;
  return `${base}/${path.replace(/^\/+/, "")}`;
}

function checkHeader(name: string, value: unknown, fail: (text: string) => Error): void {
  if (!HEADER_NAME.test(name)) throw fail(`header name "${name}" is not a valid HTTP token`);
  if (typeof value !== "string") throw fail(`header "${name}" must be a string, got ${typeof value}`);
  if (/[\r\n\0]/.test(value)) throw fail(`header "${name}" must not contain line breaks or NUL`);
}

function checkPositive(value: number | undefined, fallback: number, what: string, fail: (text: string) => Error): number {
  if (value === undefined) return fallback;
  // Node's timers fire at once beyond 2^31 - 1 ms, hence the upper bound.
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > 0x7fff_ffff) {
    throw fail(`${what} must be a positive number of milliseconds (at most 2^31 - 1), got ${String(value)}`);
  }
  return value;
}

function checkCount(value: number | undefined, fallback: number, what: string, fail: (text: string) => Error): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw fail(`${what} must be a whole number >= 0, got ${String(value)}`);
  }
  return value;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** Default wait between retries; rejects as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new Error("aborted"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.min(ms, 0x7fff_ffff)); // longer timers would fire at once
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
