/**
 * Token bucket for platform rate limits (Blynk 50 requests/s per device, ThingSpeak one update
 * per 15 s): `capacity` tokens, refilled continuously at `refillPerSecond`. Waiters are served
 * strictly in arrival order, so a large request is not starved by a stream of small ones.
 * Clock and timers are injectable so tests need no real time.
 */
import { TransportError } from "./errors.js";

export interface BucketTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface TokenBucketOptions {
  /** Most tokens the bucket holds (the burst size). */
  capacity: number;
  refillPerSecond: number;
  /** Tokens at start; default `capacity` (a full bucket). */
  initialTokens?: number;
  /** Milliseconds clock; default Date.now. */
  now?: () => number;
  /** Wakes waiters; default setTimeout/clearTimeout. */
  timers?: BucketTimers;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** Tolerance for floating-point refill arithmetic. */
const EPSILON = 1e-9;
const MAX_TIMER_MS = 0x7fff_ffff;

const realTimers: BucketTimers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export class TokenBucket {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly #now: () => number;
  readonly #timers: BucketTimers;
  readonly #queue: Waiter[] = [];
  #tokens: number;
  #last: number;
  #timer: unknown;
  #closed = false;

  constructor(options: TokenBucketOptions) {
    const { capacity, refillPerSecond } = options;
    if (typeof capacity !== "number" || !Number.isFinite(capacity) || capacity <= 0) {
      throw new TransportError("invalid", `token bucket capacity must be a positive number, got ${String(capacity)}`);
    }
    if (typeof refillPerSecond !== "number" || !Number.isFinite(refillPerSecond) || refillPerSecond <= 0) {
      throw new TransportError("invalid", `token bucket refillPerSecond must be a positive number, got ${String(refillPerSecond)}`);
    }
    const initial = options.initialTokens ?? capacity;
    if (typeof initial !== "number" || !(initial >= 0 && initial <= capacity)) {
      throw new TransportError("invalid", `token bucket initialTokens must be between 0 and capacity ${capacity}, got ${String(initial)}`);
    }
    this.capacity = capacity;
    this.refillPerSecond = refillPerSecond;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? realTimers;
    this.#tokens = initial;
    this.#last = this.#now();
  }

  /** Tokens available now (may be fractional). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Callers queued in `take`. */
  get waiting(): number {
    return this.#queue.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Takes `n` tokens if they are available now and nobody is queued ahead; never waits. */
  tryTake(n = 1): boolean {
    this.#check(n);
    if (this.#closed || this.#queue.length > 0) return false;
    this.#refill();
    if (this.#tokens + EPSILON < n) return false;
    this.#tokens = Math.max(0, this.#tokens - n);
    return true;
  }

  /** Milliseconds until `n` tokens will be available (0 = now), not counting queued waiters. */
  msUntil(n = 1): number {
    this.#check(n);
    this.#refill();
    const missing = n - this.#tokens;
    if (missing <= EPSILON) return 0;
    return Math.ceil((missing * 1000) / this.refillPerSecond);
  }

  /**
   * Resolves once `n` tokens were taken, after everyone who called before. Rejects with
   * TransportError "closed" when the bucket is closed or `signal` aborts, "invalid" for a bad n.
   */
  take(n = 1, signal?: AbortSignal): Promise<void> {
    const bad = this.#problem(n);
    if (bad !== undefined) return Promise.reject(bad);
    if (this.#closed) return Promise.reject(closedError());
    if (signal?.aborted === true) return Promise.reject(abortedError(n));
    if (this.tryTake(n)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        n,
        resolve,
        reject,
        signal,
        onAbort: () => {
          // Rejected before the queue moves on, so it settles before the waiter behind it.
          reject(abortedError(n));
          this.#remove(waiter);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#schedule();
    });
  }

  /** Rejects every waiter with "closed"; later `take` calls reject, `tryTake` returns false. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    const waiters = this.#queue.splice(0);
    for (const waiter of waiters) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(closedError());
    }
  }

  #check(n: unknown): asserts n is number {
    const bad = this.#problem(n);
    if (bad !== undefined) throw bad;
  }

  #problem(n: unknown): TransportError | undefined {
    if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
      return new TransportError("invalid", `number of tokens must be a positive number, got ${String(n)}`);
    }
    if (n > this.capacity) {
      return new TransportError("invalid", `cannot take ${n} tokens from a bucket that holds at most ${this.capacity}`);
    }
    return undefined;
  }

  #refill(): void {
    const now = this.#now();
    // An injected clock may step back; never lose tokens for that.
    const elapsed = Math.max(0, now - this.#last);
    this.#last = Math.max(this.#last, now);
    this.#tokens = Math.min(this.capacity, this.#tokens + (elapsed * this.refillPerSecond) / 1000);
  }

  /** Serves waiters from the head while tokens last, then arms a timer for the next one. */
  #drain(): void {
    this.#refill();
    let head = this.#queue.at(0);
    while (head !== undefined && this.#tokens + EPSILON >= head.n) {
      this.#queue.shift();
      this.#tokens = Math.max(0, this.#tokens - head.n);
      head.signal?.removeEventListener("abort", head.onAbort);
      head.resolve();
      head = this.#queue.at(0);
    }
    this.#schedule();
  }

  #schedule(): void {
    this.#clearTimer();
    const head = this.#queue.at(0);
    if (head === undefined || this.#closed) return;
    const ms = Math.min(MAX_TIMER_MS, Math.max(1, this.msUntil(head.n)));
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      this.#drain();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#timers.clear(this.#timer);
      this.#timer = undefined;
    }
  }

  #remove(waiter: Waiter): void {
    const index = this.#queue.indexOf(waiter);
    if (index < 0) return;
    this.#queue.splice(index, 1);
    // The head left: the next one may fit now, or needs a different timer.
    if (index === 0) this.#drain();
  }
}

function closedError(): TransportError {
  return new TransportError("closed", "the rate limiter was closed while waiting for its turn");
}

function abortedError(n: number): TransportError {
  return new TransportError("closed", `waiting for ${n} rate-limit token${n === 1 ? "" : "s"} was cancelled`);
}
