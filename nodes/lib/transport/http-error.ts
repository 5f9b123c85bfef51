/**
 * HttpClient's failures: why an exchange produced no usable response (Failure, in words), and
 * the one error a caller ever sees (HttpError, a TransportError). axios errors carry the whole
 * request config (headers, URL with token), so they are mapped here and never escape.
 */
import http from "node:http";
import type { AxiosResponse } from "axios";
import { TransportError, type TransportErrorCode } from "./errors.js";
import { bodyExcerptSource, excerpt, BODY_EXCERPT_CHARS } from "./http-response.js";
import { isTransientStatus, parseRetryAfter } from "./http-retry.js";

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

  /** The (redacted) URL's path, for short messages such as "GET /update.json". */
  get path(): string {
    try {
      return new URL(this.url).pathname;
    } catch {
      return this.url;
    }
  }
}

/** Why an exchange did not produce a response; turned into an HttpError at the end. */
export interface Failure {
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

/** Carries a Failure out of an exchange that cannot go on (thrown, caught by the client). */
export class FailureSignal extends Error {
  constructor(readonly failure: Failure) {
    super(failure.detail);
  }
}

export function closedFailure(url: string, detail: string): Failure {
  return { code: "closed", detail, transient: false, notProcessed: false, url };
}

/** An answer with a non-2xx status (redirects already followed). */
export function statusFailure(response: AxiosResponse<Buffer>, url: string, now: number): Failure {
  const status = response.status;
  const reason = response.statusText !== "" ? response.statusText : (http.STATUS_CODES[status] ?? "");
  return {
    code: status === 429 ? "rate-limited" : "http",
    detail: `HTTP ${status}${reason === "" ? "" : ` ${reason}`}`,
    status,
    body: bodyExcerptSource(response),
    retryAfterMs: parseRetryAfter(response.headers["retry-after"] as unknown, now),
    transient: isTransientStatus(status),
    notProcessed: status === 429,
    url,
  };
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

/** An exchange that failed below HTTP (connection, DNS, TLS). */
export function networkFailure(err: unknown, url: string): Failure {
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

/** The HttpError for `failure` of a `method` request; `redact` masks every secret the request knows. */
export function toHttpError(method: string, failure: Failure, attempts: number, redact: (text: string) => string): HttpError {
  const url = redact(failure.url);
  const body = failure.body === undefined ? undefined : excerpt(redact(failure.body.slice(0, 4 * BODY_EXCERPT_CHARS + 1000)));
  let text = `${method} ${url} failed: ${redact(failure.detail)}`;
  if (body !== undefined && body !== "") text += `: ${body}`;
  const notes: string[] = [];
  if (attempts > 1) notes.push(`gave up after ${attempts} attempts`);
  if (failure.retryAfterMs !== undefined) notes.push(`the server asked to wait ${formatMs(failure.retryAfterMs)}`);
  if (notes.length > 0) text += ` (${notes.join("; ")})`;
  return new HttpError(failure.code, text, {
    method,
    url,
    ...(failure.status === undefined ? {} : { status: failure.status }),
    retryable: failure.transient,
    ...(body === undefined ? {} : { body }),
    attempts,
    ...(failure.retryAfterMs === undefined ? {} : { retryAfterMs: failure.retryAfterMs }),
  });
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}
