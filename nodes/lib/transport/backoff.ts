/** Exponential backoff with "full jitter" below a cap, shared by MQTT reconnects and HTTP retries. */
export interface BackoffOptions {
  /** First delay in ms (before jitter). */
  initialMs?: number;
  /** Upper bound for any delay in ms. */
  maxMs?: number;
  /** Growth factor per attempt. */
  factor?: number;
  /** Fraction of the delay that is randomised, 0 (none) .. 1 (full jitter). */
  jitter?: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
}

/** Longest delay a Node timer can wait (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 0x7fff_ffff;

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 60_000;
    this.factor = options.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
    this.#random = options.random ?? Math.random;
    // maxMs is bounded by what a timer can wait: Node fires longer (or Infinity) timers after
    // 1 ms, which would turn a capped reconnect into a tight loop. NaN jitter would give NaN delays.
    if (
      !(this.initialMs > 0) ||
      !(this.maxMs >= this.initialMs) ||
      !(this.maxMs <= MAX_TIMER_MS) ||
      !(this.factor >= 1) ||
      Number.isNaN(this.jitter)
    ) {
      throw new RangeError(
        `invalid backoff: initialMs ${this.initialMs} must be > 0, maxMs ${this.maxMs} >= initialMs and <= ${MAX_TIMER_MS}, factor ${this.factor} >= 1, jitter ${this.jitter} a number (0..1)`,
      );
    }
  }

  /** Attempts made since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** Delay before the next attempt; grows each call until the cap. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** this.#attempt);
    this.#attempt++;
    const spread = base * this.jitter;
    return Math.round(base - spread + spread * this.#random());
  }

  reset(): void {
    this.#attempt = 0;
  }
}
