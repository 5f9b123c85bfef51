/**
 * Per-connection PUBLISH rate limits. Made only for clients that have a limit, so clients without
 * one (generic users by default, the throughput benchmark) pay a single property check.
 *
 * Two token buckets: the limit itself (over it: drop), and a flood bucket FLOOD_FACTOR times
 * larger and faster that every publish drains too. Emptying the flood bucket takes a client
 * sending well over FLOOD_FACTOR times its limit for a while: that client is disconnected.
 */
import { TokenBucket } from "../transport/rate-limit.js";
import type { RateLimit } from "./types.js";

/** How far over its limit a client may publish, sustained, before it is disconnected. */
export const FLOOD_FACTOR = 10;
/** Least time between two `rate-limited` events of one client. */
export const REPORT_INTERVAL_MS = 1000;

export type Admission = "ok" | "drop" | "flood";

/** Throws TypeError naming the problem; `what` names the setting. */
export function checkRateLimit(limit: unknown, what: string): RateLimit | 0 | undefined {
  if (limit === undefined || limit === 0) return limit;
  const { perSecond, burst } = (limit ?? {}) as Partial<Record<keyof RateLimit, unknown>>;
  if (typeof perSecond !== "number" || !Number.isFinite(perSecond) || perSecond <= 0) {
    throw new TypeError(`${what}.perSecond must be a positive number of messages per second, got ${String(perSecond)}`);
  }
  if (typeof burst !== "number" || !Number.isFinite(burst) || burst < 1) {
    throw new TypeError(`${what}.burst must be a number of messages of at least 1, got ${String(burst)}`);
  }
  return { perSecond, burst };
}

export class PublishLimiter {
  readonly limit: RateLimit;
  readonly #now: () => number;
  readonly #bucket: TokenBucket;
  readonly #flood: TokenBucket;
  #dropped = 0;
  #reportedAt = -Infinity;
  /** Reported as a flood once; its remaining publishes are dropped quietly until it is gone. */
  #flooded = false;

  constructor(limit: RateLimit, now: () => number = Date.now) {
    this.limit = limit;
    this.#now = now;
    this.#bucket = new TokenBucket({ capacity: limit.burst, refillPerSecond: limit.perSecond, now });
    this.#flood = new TokenBucket({ capacity: limit.burst * FLOOD_FACTOR, refillPerSecond: limit.perSecond * FLOOD_FACTOR, now });
  }

  /** One publish: within the limit, over it (drop), or flooding (disconnect). */
  admit(): Admission {
    if (this.#flooded) return "drop";
    if (!this.#flood.tryTake()) {
      this.#dropped++;
      this.#flooded = true;
      return "flood";
    }
    if (this.#bucket.tryTake()) return "ok";
    this.#dropped++;
    return "drop";
  }

  /** Drops not reported yet, when a report is due (none in the last REPORT_INTERVAL_MS), else undefined. */
  due(): number | undefined {
    const now = this.#now();
    if (this.#flooded || this.#dropped === 0 || now - this.#reportedAt < REPORT_INTERVAL_MS) return undefined;
    return this.take(now);
  }

  /** Drops not reported yet (a final report, e.g. at disconnect). */
  take(now: number = this.#now()): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#reportedAt = now;
    return dropped;
  }
}
