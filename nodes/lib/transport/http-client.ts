/**
 * HTTP client for the clouds' REST APIs (Blynk HTTPS, ThingsBoard HTTP, ThingSpeak REST), over
 * axios. It adds what those APIs need on top of a plain request:
 * - retries with backoff on 429 / 5xx / network errors / timeouts, honouring Retry-After
 *   (policy in http-retry.ts);
 * - redirects followed here (not by axios), so a permanent move to another origin is
 *   remembered (http-redirect.ts);
 * - one error type (HttpError, a TransportError) with a message in words and no secrets
 *   (http-error.ts): axios errors carry the whole request config and never escape;
 * - close(), which aborts everything in flight, including waits between retries.
 * Requests are checked and normalised in http-request.ts, answers read in http-response.ts.
 */
import { setMaxListeners } from "node:events";
import http from "node:http";
import https from "node:https";
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { TransportError, type TransportErrorCode } from "./errors.js";
import { closedFailure, FailureSignal, formatMs, networkFailure, statusFailure, toHttpError, type Failure, type HttpError } from "./http-error.js";
import { firstHop, followRedirect, isRedirect, moveBase } from "./http-redirect.js";
import { baseString, bearerValue, checkCount, checkHeader, checkPositive, prepareRequest, requestUrl, SECRET_HEADER, type HttpRequest, type HttpResponse, type Prepared } from "./http-request.js";
import { decodeText, flattenHeaders, headerValue, toBuffer } from "./http-response.js";
import { DEFAULT_BACKOFF, retryDelay, sleep, waitUnlessStopped } from "./http-retry.js";
import { Redactor, redactUrls } from "./redact.js";
import { TypedEmitter } from "./typed-emitter.js";

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

interface Exchange {
  response: AxiosResponse<Buffer>;
  url: string;
}

const CLOSED = "the HTTP client was closed";
const CANCELLED = "cancelled by the caller";

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
      transformRequest: [(data: unknown) => data], // the body is serialised by prepareRequest
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

  /** A request (as a platform codec builds it) whose answer is wanted as text: resolves with the body. */
  async text(request: Omit<HttpRequest, "responseType">): Promise<string> {
    return (await this.request<string>({ ...request, responseType: "text" })).data;
  }

  async request<T = unknown>(request: HttpRequest): Promise<HttpResponse<T>> {
    const prepared = prepareRequest(request, {
      base: this.#base,
      headers: this.#headers,
      timeoutMs: this.#timeoutMs,
      redact: (text, secrets) => this.#redact(text, { secrets }),
    });
    const backoff = new Backoff(this.#backoff);
    const limits = { retries: this.#retries, maxRetryAfterMs: this.#maxRetryAfterMs };
    for (let attempt = 1; ; attempt++) {
      // Recomputed per attempt: a redirect remembered meanwhile moves the retry too.
      const url = requestUrl(prepared, this.#base);
      let failure: Failure;
      if (this.closed) {
        failure = closedFailure(url, CLOSED);
      } else if (prepared.signal?.aborted === true) {
        failure = closedFailure(url, CANCELLED);
      } else {
        const outcome = await this.#attempt(prepared, url);
        if ("response" in outcome) {
          const status = outcome.response.status;
          if (status >= 200 && status < 300) return this.#decode<T>(prepared, outcome, attempt);
          failure = statusFailure(outcome.response, outcome.url, this.#now());
        } else {
          failure = outcome;
        }
      }
      const delayMs = retryDelay({ ...failure, method: prepared.method, retry: prepared.retry }, attempt, limits, () => backoff.next());
      if (delayMs === undefined) throw this.#error(prepared, failure, attempt);
      this.emit("retry", {
        method: prepared.method,
        url: this.#redact(failure.url, prepared),
        attempt,
        delayMs,
        reason: this.#redact(failure.detail, prepared),
        ...(failure.status === undefined ? {} : { status: failure.status }),
      });
      const stop = await waitUnlessStopped(delayMs, this.#sleep, [
        { signal: this.#closer.signal, reason: CLOSED },
        { signal: prepared.signal, reason: CANCELLED },
      ]);
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

  async #exchangeFollowingRedirects(prepared: Prepared, startUrl: string): Promise<Exchange> {
    const hop = firstHop(startUrl, prepared.method, prepared.body, prepared.headers);
    for (;;) {
      const response = await this.#exchange(prepared, hop.method, hop.url, hop.body, hop.headers);
      if (!isRedirect(response.status)) return { response, url: hop.url };
      followRedirect(hop, response, this.#maxRedirects, this.#base?.origin, (next) => {
        this.#moveBase(next, response.status);
      });
    }
  }

  #moveBase(next: URL, status: number): void {
    if (this.#base === undefined) return;
    const previousOrigin = moveBase(this.#base, next);
    this.emit("redirected", { origin: this.#base.origin, previousOrigin, status });
  }

  /** One HTTP exchange; aborted by the timeout, the caller's signal or close(). */
  async #exchange(prepared: Prepared, method: string, url: string, body: Buffer | undefined, headers: Record<string, string>): Promise<AxiosResponse<Buffer>> {
    const controller = new AbortController();
    let stop: { code: TransportErrorCode; detail: string } | undefined;
    const abort = (code: TransportErrorCode, detail: string): void => {
      stop ??= { code, detail };
      controller.abort();
    };
    const onClose = (): void => { abort("closed", CLOSED); };
    const onCaller = (): void => { abort("closed", CANCELLED); };
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
      const detail = `expected a JSON answer but got HTTP ${response.status}${type === undefined ? "" : ` (${type})`}`;
      throw this.#error(prepared, { code: "protocol", detail, status: response.status, body: text, transient: false, notProcessed: false, url }, attempt);
    }
  }

  #error(prepared: Prepared, failure: Failure, attempts: number): HttpError {
    return toHttpError(prepared.method, failure, attempts, (text) => this.#redact(text, prepared));
  }

  #redact(text: string, prepared: Pick<Prepared, "secrets">): string {
    let out = this.#redactor === undefined ? redactUrls(text) : this.#redactor.redact(text);
    out = this.#ownSecrets.redact(out);
    return prepared.secrets.redact(out);
  }
}
