/**
 * HttpClient's retry policy: which failures are worth another attempt, which methods may be
 * repeated, how long to wait (backoff, or the server's Retry-After), and the wait itself.
 */
import type { BackoffOptions } from "./backoff.js";

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 10_000, factor: 2, jitter: 0.5 };
const IDEMPOTENT = new Set<string>(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
/** 5xx that say "this will not work", not "try again". */
const PERMANENT_5XX = new Set([501, 505]);

/** A status another attempt may turn into a success. */
export function isTransientStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && !PERMANENT_5XX.has(status));
}

export interface RetryCase {
  method: string;
  /** The request's own say: true always, false never, undefined by method. */
  retry: boolean | undefined;
  transient: boolean;
  /** The server certainly did not act on the request. */
  notProcessed: boolean;
  retryAfterMs?: number;
}

/**
 * The wait before attempt `attempt + 1`, or undefined when there is none. `nextBackoff` is only
 * called when there is a retry (it advances the backoff).
 */
export function retryDelay(c: RetryCase, attempt: number, limits: { retries: number; maxRetryAfterMs: number }, nextBackoff: () => number): number | undefined {
  if (!c.transient || attempt > limits.retries || c.retry === false) return undefined;
  if (c.retry !== true && !IDEMPOTENT.has(c.method) && !c.notProcessed) return undefined;
  const fromBackoff = nextBackoff();
  return c.retryAfterMs === undefined ? fromBackoff : Math.min(c.retryAfterMs, limits.maxRetryAfterMs);
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 10.2.3). */
export function parseRetryAfter(value: unknown, now: number): number | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** A signal that cuts a wait short, and the reason given when it does. */
export interface Stopper {
  signal: AbortSignal | undefined;
  reason: string;
}

/** Resolves undefined after `ms`, or with the reason of the first stopper that fired. */
export async function waitUnlessStopped(ms: number, sleeper: (ms: number, signal: AbortSignal) => Promise<void>, stoppers: Stopper[]): Promise<string | undefined> {
  const controller = new AbortController();
  let reason: string | undefined;
  const listeners = stoppers.map((s) => {
    const listener = (): void => {
      reason ??= s.reason;
      controller.abort();
    };
    s.signal?.addEventListener("abort", listener);
    return { signal: s.signal, listener };
  });
  for (const s of stoppers) {
    if (s.signal?.aborted === true) {
      reason ??= s.reason;
      controller.abort();
    }
  }
  try {
    if (reason === undefined) await sleeper(ms, controller.signal);
  } catch {
    reason ??= "the wait before retrying failed";
  } finally {
    for (const { signal, listener } of listeners) signal?.removeEventListener("abort", listener);
  }
  return reason;
}

/** Default wait between retries; rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
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
