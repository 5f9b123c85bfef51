/**
 * Request/response correlation by id, with timeouts: ThingsBoard RPC and attribute requests,
 * Blynk `get/ds`. The owner sends a request carrying `nextId()`, calls `wait(id)`, and feeds
 * answers in with `resolve(id, value)` when they arrive on the wire.
 */
import { TransportError } from "./errors.js";

export type CorrelationId = number | string;

export interface CorrelatorOptions {
  /** Timeout for `wait` when none is given; default 10 s. */
  timeoutMs?: number;
  /** First id handed out; default 1. */
  firstId?: number;
  /** Largest id before wrapping back to `firstId`; default 2^31 - 1 (fits a signed 32-bit int). */
  maxId?: number;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Correlator<T> {
  readonly #pending = new Map<string, Waiter<T>>();
  readonly #timeoutMs: number;
  readonly #firstId: number;
  readonly #maxId: number;
  #next: number;

  constructor(options: CorrelatorOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#firstId = options.firstId ?? 1;
    this.#maxId = options.maxId ?? 0x7fff_ffff;
    if (!validTimeout(this.#timeoutMs)) {
      throw new TransportError("invalid", `correlator timeoutMs must be a positive number of milliseconds (at most 2^31 - 1, or Infinity), got ${String(options.timeoutMs)}`);
    }
    if (!Number.isSafeInteger(this.#firstId) || !Number.isSafeInteger(this.#maxId) || this.#firstId < 0 || this.#maxId < this.#firstId) {
      throw new TransportError(
        "invalid",
        `correlator ids must be whole numbers with 0 <= firstId <= maxId, got firstId ${this.#firstId}, maxId ${this.#maxId}`,
      );
    }
    this.#next = this.#firstId;
  }

  /** Number of waits not yet settled. */
  get pending(): number {
    return this.#pending.size;
  }

  has(id: CorrelationId): boolean {
    return this.#pending.has(String(id));
  }

  /**
   * The next id: incrementing, wrapping from maxId to firstId, skipping ids still awaited so a
   * wrapped id never answers the wrong request. Throws "overflow" if every id is in use.
   */
  nextId(): number {
    const span = this.#maxId - this.#firstId + 1;
    for (let tries = 0; tries < span; tries++) {
      const id = this.#next;
      this.#next = id >= this.#maxId ? this.#firstId : id + 1;
      if (!this.#pending.has(String(id))) return id;
    }
    throw new TransportError("overflow", `all ${span} request ids are awaiting an answer`);
  }

  /**
   * Resolves with the value given to `resolve(id, ...)`. Rejects with TransportError "timeout"
   * after `timeoutMs` (Infinity: never), or with whatever `reject`/`rejectAll` pass. `describe`
   * names the request in the timeout message, e.g. `RPC "getTemp" (id 7)`. The returned promise
   * is already marked handled, so a caller that drops it cannot crash the process.
   */
  wait(id: CorrelationId, timeoutMs?: number, describe?: string): Promise<T> {
    const key = String(id);
    const what = describe ?? `the answer to request ${key}`;
    const ms = timeoutMs ?? this.#timeoutMs;
    let promise: Promise<T>;
    if (!validTimeout(ms)) {
      promise = Promise.reject(new TransportError("invalid", `timeout for ${what} must be a positive number of milliseconds, got ${String(ms)}`));
    } else if (this.#pending.has(key)) {
      promise = Promise.reject(new TransportError("invalid", `request id ${key} is already awaiting an answer; ids must be unique`));
    } else {
      promise = new Promise<T>((resolve, reject) => {
        const waiter: Waiter<T> = { resolve, reject, timer: undefined };
        if (ms !== Infinity) {
          waiter.timer = setTimeout(() => {
            this.#pending.delete(key);
            reject(new TransportError("timeout", `no answer to ${what} within ${formatMs(ms)}`));
          }, ms);
        }
        this.#pending.set(key, waiter);
      });
    }
    promise.catch(() => undefined); // see the doc comment: callers still see the rejection
    return promise;
  }

  /** Settles the wait for `id` with `value`; false if nothing was waiting (late or unknown answer). */
  resolve(id: CorrelationId, value: T): boolean {
    const waiter = this.#take(id);
    waiter?.resolve(value);
    return waiter !== undefined;
  }

  /** Rejects the wait for `id`; false if nothing was waiting. */
  reject(id: CorrelationId, err: Error): boolean {
    const waiter = this.#take(id);
    waiter?.reject(err);
    return waiter !== undefined;
  }

  /** Rejects every pending wait (on disconnect or close); returns how many there were. */
  rejectAll(err: Error | ((id: string) => Error)): number {
    const waiters = [...this.#pending.entries()];
    this.#pending.clear();
    for (const [key, waiter] of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(typeof err === "function" ? err(key) : err);
    }
    return waiters.length;
  }

  #take(id: CorrelationId): Waiter<T> | undefined {
    const key = String(id);
    const waiter = this.#pending.get(key);
    if (waiter === undefined) return undefined;
    this.#pending.delete(key);
    clearTimeout(waiter.timer);
    return waiter;
  }
}

/** Node's timers fire at once (with a warning) beyond 2^31 - 1 ms, so longer is refused. */
const MAX_TIMER_MS = 0x7fff_ffff;

function validTimeout(ms: unknown): ms is number {
  return typeof ms === "number" && ms > 0 && (ms <= MAX_TIMER_MS || ms === Infinity);
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}
