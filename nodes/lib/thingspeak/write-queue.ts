/**
 * The update interval of one ThingSpeak channel, met by coalescing (docs/PROTOCOLS.md 5.3: one update
 * per channel per interval, MQTT and REST combined). Every write of every node using the channel
 * goes through one WriteQueue:
 * - the first write goes out at once; writes arriving before the interval has passed wait and
 *   are merged into one update (mergeUpdates: the latest value per key), sent when it has;
 * - a merge that would exceed the 3000-byte message limit starts a new update instead (sent one
 *   interval later), so nothing is ever dropped to make a merge fit;
 * - bulk writes (rest mode) are kept apart, each dated at its write, and a backlog of more than
 *   one update leaves as one bulk update (at most `bulkMax`, bulk calls `bulkIntervalMs` apart);
 * - a retryable failure (REST 429, answer 0, a local refusal, a network error) keeps the values,
 *   merges them with newer ones and retries after the interval and a growing backoff; any other
 *   failure rejects the writes it carried, with the server's reason;
 * - each write's promise settles when its values were sent (or refused): the caller's msg.done.
 *   Waiting writes are bounded (`maxWaiting`); beyond that a write is refused at once.
 * Nothing is sent while `canSend()` is false (MQTT/broker down): `kick()` when it turns true.
 * Clock and timers are injectable: tests move time by hand.
 */
import { Backoff, type BackoffOptions } from "../transport/backoff.js";
import { TransportError, toError } from "../transport/errors.js";
import type { BucketTimers } from "../transport/rate-limit.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import { encodeUpdate, FIELD_NUMBERS, LIMITS, mergeUpdates, type ChannelUpdate, type FeedEntry } from "./codec.js";

/** What the server said about one sent update (nothing for MQTT QoS 0 and bulk updates). */
export interface SendOutcome {
  entryId?: number;
  entry?: FeedEntry;
}

/** What a write's promise resolves with. */
export interface WriteReceipt extends SendOutcome {
  /** The update that carried this write's values (merged with others, as sent). */
  update: ChannelUpdate;
  /** How many writes that update carried. */
  coalesced: number;
  /** Sent as part of a bulk update. */
  bulk?: true;
}

export interface PendingInfo {
  /** Distinct keys (field1..8, lat, long, elevation, status) waiting to be sent. */
  fields: number;
  /** Writes (messages) waiting, including one being sent. */
  writes: number;
  /** When the next send is due, ms from now; undefined when nothing waits or it waits for the connection. */
  nextInMs: number | undefined;
}

export type WriteQueueEvents = {
  changed: [PendingInfo];
  /** A failed send that will be retried (already in words; the link redacts). */
  retrying: [{ error: Error; retryInMs: number }];
};

export interface WriteQueueOptions {
  /** Shortest time between two updates, ms (0 = none). */
  intervalMs: number;
  send(update: ChannelUpdate): Promise<SendOutcome>;
  /** Present when the connection can send bulk updates (rest). */
  sendBulk?(updates: ChannelUpdate[]): Promise<void>;
  /** Whether sending is possible now (connected). */
  canSend(): boolean;
  /** Default LIMITS.bulkIntervalMs. */
  bulkIntervalMs?: number;
  /** Updates per bulk call; default LIMITS.bulkMessages.free. */
  bulkMax?: number;
  /** Writes waiting at most; default 1000. */
  maxWaiting?: number;
  /** Delays added after failures (on top of the interval); default 1 s doubling to 5 min. */
  backoff?: BackoffOptions;
  now?: () => number;
  timers?: BucketTimers;
}

interface Waiter {
  resolve(receipt: WriteReceipt): void;
  reject(err: Error): void;
}

interface Item {
  update: ChannelUpdate;
  waiters: Waiter[];
  bulk: boolean;
  /** Time of the latest write merged in: dates the item in a bulk update. */
  at: number;
}

export const DEFAULT_MAX_WAITING = 1000;
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 5 * 60_000, factor: 2, jitter: 0.2 };
const realTimers: BucketTimers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/** The wait a server asked for (HttpError's Retry-After, a hosted channel's retryInMs), in ms; 0 if none. */
export function retryAfterOf(err: Error): number {
  const asked = (err as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof asked === "number" && Number.isFinite(asked) && asked > 0 ? asked : 0;
}

function fits(update: ChannelUpdate): boolean {
  try {
    encodeUpdate(update);
    return true;
  } catch {
    return false;
  }
}

export class WriteQueue extends TypedEmitter<WriteQueueEvents> {
  readonly #o: WriteQueueOptions;
  readonly #now: () => number;
  readonly #timers: BucketTimers;
  readonly #backoff: Backoff;
  readonly #maxWaiting: number;
  readonly #items: Item[] = [];
  /** The items of the send in progress (taken off #items until it settles). */
  #sending: Item[] | undefined;
  /** No send before this time (interval after the last attempt, plus backoff after a failure). */
  #notBefore = 0;
  #bulkNotBefore = 0;
  #timer: unknown;
  #timerAt: number | undefined;
  #closed = false;

  constructor(options: WriteQueueOptions) {
    super();
    if (!(Number.isFinite(options.intervalMs) && options.intervalMs >= 0)) {
      throw new TransportError("invalid", `the update interval must be 0 or more ms, got ${String(options.intervalMs)}`);
    }
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? realTimers;
    this.#backoff = new Backoff({ ...DEFAULT_BACKOFF, ...options.backoff });
    this.#maxWaiting = options.maxWaiting ?? DEFAULT_MAX_WAITING;
  }

  get pending(): PendingInfo {
    const all = [...(this.#sending ?? []), ...this.#items];
    const keys = new Set<string>();
    for (const { update } of all) {
      for (const n of FIELD_NUMBERS) if (update.fields[n] !== undefined) keys.add(`field${n}`);
      for (const k of ["lat", "long", "elevation", "status"] as const) if (update[k] !== undefined) keys.add(k);
    }
    const writes = all.reduce((sum, i) => sum + i.waiters.length, 0);
    const waitingForTimer = this.#timerAt !== undefined && this.#items.length > 0;
    return { fields: keys.size, writes, nextInMs: waitingForTimer ? Math.max(0, (this.#timerAt ?? 0) - this.#now()) : undefined };
  }

  /** Queues an already validated update; resolves when it was sent. */
  write(update: ChannelUpdate, options: { bulk?: boolean } = {}): Promise<WriteReceipt> {
    if (this.#closed) return Promise.reject(new TransportError("closed", "this ThingSpeak channel link is closed"));
    if (this.pending.writes >= this.#maxWaiting) {
      return Promise.reject(new TransportError(
        "overflow",
        `${this.#maxWaiting} writes are already waiting for the channel's update interval (${this.#o.intervalMs / 1000} s); this one is refused: send less often, or use a shorter interval if the channel's license allows it`,
      ));
    }
    const bulk = options.bulk === true && this.#o.sendBulk !== undefined;
    return new Promise<WriteReceipt>((resolve, reject) => {
      const now = this.#now();
      const waiter: Waiter = { resolve, reject };
      const last = this.#items.at(-1);
      const merged = last !== undefined && !last.bulk && !bulk ? mergeUpdates(last.update, update) : undefined;
      if (last !== undefined && merged !== undefined && fits(merged)) {
        last.update = merged;
        last.waiters.push(waiter);
        last.at = now;
      } else {
        // Bulk items are dated now: sent later, they must keep the time they were written.
        const dated = bulk && update.created_at === undefined ? { ...update, created_at: now } : update;
        this.#items.push({ update: dated, waiters: [waiter], bulk, at: now });
      }
      this.#pump();
    });
  }

  /** Sending became possible (connected): sends what is due. */
  kick(): void {
    this.#pump();
  }

  /**
   * Ends the queue. With `flush`, what waits is sent once more if that is possible within
   * `maxWaitMs` (never before the interval allows it); everything still waiting afterwards is
   * refused. Resolves with the number of writes that were not sent.
   */
  async close(flush: boolean, maxWaitMs = 0): Promise<number> {
    if (this.#closed) return 0;
    if (flush && this.#o.canSend()) await this.#drainWithin(maxWaitMs);
    this.#closed = true;
    this.#clearTimer();
    const left = this.#items.splice(0);
    const discarded = left.reduce((sum, i) => sum + i.waiters.length, 0);
    const err = new TransportError("closed", "the ThingSpeak channel link was closed before this write could be sent");
    for (const item of left) for (const w of item.waiters) w.reject(err);
    this.#changed();
    return discarded;
  }

  async #drainWithin(maxWaitMs: number): Promise<void> {
    const deadline = this.#now() + maxWaitMs;
    for (;;) {
      if (this.#sending === undefined) {
        if (this.#items.length === 0 || !this.#o.canSend()) return;
        const due = Math.max(this.#notBefore, this.#nextBatch().length > 1 ? this.#bulkNotBefore : 0);
        if (due > deadline) return;
      }
      // Progress comes as "changed": the send settling, or the timer starting the next send.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.off("changed", done);
          resolve();
        };
        this.on("changed", done);
      });
    }
  }

  #pump(): void {
    this.#start();
    this.#changed();
  }

  #start(): void {
    if (this.#items.length === 0 || !this.#o.canSend()) {
      this.#clearTimer(); // nothing to wait for, or waiting for the connection (kick)
      return;
    }
    if (this.#sending !== undefined) return;
    const batch = this.#nextBatch();
    const due = Math.max(this.#notBefore, batch.length > 1 ? this.#bulkNotBefore : 0);
    const now = this.#now();
    if (now < due) {
      this.#schedule(due);
      return;
    }
    this.#clearTimer();
    this.#items.splice(0, batch.length);
    this.#sending = batch;
    this.#notBefore = now + this.#o.intervalMs;
    if (batch.length > 1) this.#bulkNotBefore = now + Math.max(this.#o.intervalMs, this.#o.bulkIntervalMs ?? LIMITS.bulkIntervalMs);
    this.#attempt(batch).then(
      (outcome) => {
        this.#settled(batch, outcome);
      },
      (err: unknown) => {
        this.#failed(batch, toError(err));
      },
    );
  }

  /** The next send: the first item, or the whole backlog as one bulk update when bulk writes wait. */
  #nextBatch(): Item[] {
    const max = this.#o.bulkMax ?? LIMITS.bulkMessages.free;
    if (this.#o.sendBulk === undefined || this.#items.length < 2 || !this.#items.some((i) => i.bulk)) return this.#items.slice(0, 1);
    return this.#items.slice(0, max);
  }

  #attempt(batch: Item[]): Promise<SendOutcome> {
    try {
      const [first] = batch; // batches are never empty
      if (batch.length === 1) return this.#o.send(first.update);
      // Coalesced (non-bulk) items are dated by their latest write.
      const dated = batch.map((i) => (i.update.created_at === undefined ? { ...i.update, created_at: i.at } : i.update));
      const sent = this.#o.sendBulk?.(dated);
      if (sent === undefined) throw new Error("no bulk sender");
      return sent.then(() => ({}));
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  #settled(batch: Item[], outcome: SendOutcome): void {
    this.#sending = undefined;
    this.#backoff.reset();
    for (const item of batch) {
      const receipt: WriteReceipt = { update: item.update, coalesced: item.waiters.length, ...outcome };
      if (batch.length > 1) receipt.bulk = true;
      for (const w of item.waiters) w.resolve(receipt);
    }
    this.#pump();
  }

  #failed(batch: Item[], err: Error): void {
    this.#sending = undefined;
    const retryable = err instanceof TransportError && err.retryable && !this.#closed;
    if (!retryable) {
      for (const item of batch) for (const w of item.waiters) w.reject(err);
      this.#pump();
      return;
    }
    // Back to the front, merged with what arrived meanwhile where the merge fits.
    this.#items.unshift(...batch);
    this.#compact();
    const delay = Math.max(this.#o.intervalMs, retryAfterOf(err), this.#backoff.next());
    this.#notBefore = Math.max(this.#notBefore, this.#now() + delay);
    this.emit("retrying", { error: err, retryInMs: delay });
    this.#pump();
  }

  #compact(): void {
    for (let i = 0; i + 1 < this.#items.length; ) {
      const a = this.#items[i];
      const b = this.#items[i + 1];
      const merged = !a.bulk && !b.bulk ? mergeUpdates(a.update, b.update) : undefined;
      if (merged !== undefined && fits(merged)) {
        this.#items.splice(i, 2, { update: merged, waiters: [...a.waiters, ...b.waiters], bulk: false, at: b.at });
      } else i++;
    }
  }

  #schedule(at: number): void {
    if (this.#timerAt === at) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#pump();
    }, Math.max(0, at - this.#now()));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  #changed(): void {
    this.emit("changed", this.pending);
  }
}
