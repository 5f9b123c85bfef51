/**
 * The write side the Redis stores share (redis-device-stores.ts, redis-history.ts): writes are
 * counted, and what waits goes to Redis in one pipeline per macrotask, one pipeline at a time,
 * only while the connection is ready. A flush waits for the send that covers every write counted
 * before it; a failed send rejects those flushes only (later ones wait for a later send), and the
 * next try waits RETRY_MS. A send that finds Redis not ready waits for the owner's `schedule` (on
 * the connection's "ready"). What waits, how a batch is built and what a failure puts back are the
 * owner's, as are the errors' texts.
 */
import type { ChainableCommander, Redis } from "ioredis";
import { firstReady, trackReady } from "./redis-connection.js";

/** After a failed send, the next try waits this long. */
const RETRY_MS = 1_000;

/** One send, as the owner built it. */
export interface PumpBatch {
  readonly pipeline: ChainableCommander;
  /** The send failed: put back what it took; answers the error the flushes it covered reject with. */
  failed(err: unknown): Error;
}

export interface RedisWritePumpOptions {
  /** Whether anything waits to be sent. */
  waiting(): boolean;
  /** Takes everything waiting into one batch (called only when something waits and Redis is ready). */
  take(): PumpBatch;
  /** What a flush gets while Redis cannot be reached (also when the connection drops under it). */
  unavailable(): Error;
  /** What a flush gets after `close`. */
  closed(): Error;
  /** A send reached Redis. */
  onSent?(): void;
  /** A send failed with this error (already given to the flushes it covered). */
  onFailed?(err: Error): void;
}

interface Waiter {
  readonly gen: number;
  resolve(): void;
  reject(err: Error): void;
}

export class RedisWritePump {
  readonly #db: Redis;
  readonly #owner: RedisWritePumpOptions;
  /** Counts writes; a send covers every write counted when it started. */
  #gen = 0;
  #acked = 0;
  #waiters: Waiter[] = [];
  #sending: Promise<void> | undefined;
  #scheduled: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(db: Redis, owner: RedisWritePumpOptions) {
    this.#db = db;
    this.#owner = owner;
    trackReady(db);
    db.on("close", () => {
      this.#settle(Infinity, this.#owner.unavailable());
    });
  }

  /** Counts a write the owner has just put in waiting, and sends it soon. */
  wrote(): void {
    this.#gen++;
    this.schedule();
  }

  /** Sends what waits in the next macrotask, unless a send, a retry or the connection is pending. */
  schedule(): void {
    if (this.#scheduled !== undefined || this.#retry !== undefined || this.#sending !== undefined || this.#closed || !this.#owner.waiting()) return;
    this.#scheduled = setImmediate(() => {
      this.#scheduled = undefined;
      void this.send();
    });
  }

  /** Every write counted so far is in Redis: a flush would resolve at once. */
  get flushed(): boolean {
    return this.#acked >= this.#gen;
  }

  /** Resolves once the send in flight (if any) has settled; never rejects. */
  idle(): Promise<void> {
    return this.#sending ?? Promise.resolve();
  }

  /**
   * Resolves once every write counted so far is in Redis; rejects with the owner's errors. While
   * the connection is connecting for the first time (a store just opened), it waits for it.
   */
  flush(): Promise<void> {
    if (this.#acked >= this.#gen) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#owner.closed());
    if (this.#db.status !== "ready") {
      return firstReady(this.#db, () => this.#owner.unavailable()).then(() => {
        // Sent on "ready" (the owner's schedule); a send that ran meanwhile may already cover it.
        this.schedule();
        return this.flush();
      });
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({ gen: this.#gen, resolve, reject });
    });
  }

  /** Sends what waits now (once the send in flight has settled, when Redis is ready); never rejects. */
  send(): Promise<void> {
    if (this.#sending !== undefined || this.#db.status !== "ready" || !this.#owner.waiting()) return this.idle();
    const gen = this.#gen;
    const batch = this.#owner.take();
    this.#sending = batch.pipeline
      .exec()
      .then((results) => {
        const failed = results?.find(([err]) => err !== null)?.[0] ?? (results === null ? new Error("the pipeline was discarded") : undefined);
        if (failed) throw failed;
        this.#acked = Math.max(this.#acked, gen);
        this.#owner.onSent?.();
        this.#settle(gen);
      })
      .catch((err: unknown) => {
        const error = batch.failed(err);
        this.#settle(gen, error);
        this.#owner.onFailed?.(error);
        if (!this.#closed) {
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            this.schedule();
          }, RETRY_MS);
          this.#retry.unref();
        }
      })
      .finally(() => {
        this.#sending = undefined;
        this.schedule();
      });
    return this.#sending;
  }

  /** Before closing: when Redis is ready, sends everything that waits and waits for it; never rejects. */
  async drain(): Promise<void> {
    if (this.#closed || this.#db.status !== "ready") return;
    this.#cancelTimers();
    await this.#sending;
    await this.send();
  }

  /** Stops sending; every flush still waiting rejects with `err`. */
  close(err: Error): void {
    this.#closed = true;
    this.#cancelTimers();
    this.#settle(Infinity, err);
  }

  #cancelTimers(): void {
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#scheduled = undefined;
    this.#retry = undefined;
  }

  /** The flushes of writes up to `gen` resolve (no `err`) or reject. */
  #settle(gen: number, err?: Error): void {
    const due = this.#waiters.filter((w) => w.gen <= gen);
    this.#waiters = this.#waiters.filter((w) => w.gen > gen);
    for (const w of due) {
      if (err === undefined) w.resolve();
      else w.reject(err);
    }
  }
}
