/**
 * Blynk's event limits (docs/PROTOCOLS.md 1.9): at least 1 s between two events of the same code,
 * 100 events per device per day. An event that comes too early is delayed to its slot (not
 * dropped: Blynk.Cloud would drop it silently); a bounded number may wait per code, beyond that
 * it is refused. The daily count is reported so the caller can warn; nothing is refused for it
 * (the cloud decides, and a self-hosted server has no such limit).
 */
import { TransportError } from "../transport/errors.js";
import { LIMITS } from "./codec.js";

export interface EventReceipt {
  /** How long the event waited for its slot, ms. */
  delayedMs: number;
  /** Events this link logged in the last 24 hours, this one included. */
  today: number;
  /** Blynk.Cloud's daily limit (LIMITS.eventsPerDay). */
  dailyLimit: number;
}

export interface EventGateOptions {
  now?: () => number;
  minIntervalMs?: number;
  maxPending?: number;
  perDay?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Enough to count past the limit; older entries only matter for the count, not for memory. */
const MAX_REMEMBERED = 10_000;

interface Sleeper {
  timer: NodeJS.Timeout;
  reject: (err: Error) => void;
}

export class EventGate {
  readonly #now: () => number;
  readonly #minIntervalMs: number;
  readonly #maxPending: number;
  readonly #perDay: number;
  /** Per code: when its latest event was (or will be) sent. */
  readonly #slots = new Map<string, number>();
  readonly #waiting = new Map<string, number>();
  readonly #sent: number[] = [];
  readonly #sleepers = new Set<Sleeper>();
  #closed = false;

  constructor(options: EventGateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#minIntervalMs = options.minIntervalMs ?? LIMITS.eventMinIntervalMs;
    this.#maxPending = options.maxPending ?? 10;
    this.#perDay = options.perDay ?? LIMITS.eventsPerDay;
  }

  /** Waits for this code's next slot; rejects "rate-limited" when too many already wait. */
  async pass(code: string, onDelay?: (delayMs: number) => void): Promise<EventReceipt> {
    if (this.#closed) throw new TransportError("closed", "this Blynk device link is closed");
    const now = this.#now();
    const last = this.#slots.get(code);
    const slot = last === undefined ? now : Math.max(now, last + this.#minIntervalMs);
    const delayedMs = slot - now;
    const waiting = this.#waiting.get(code) ?? 0;
    if (delayedMs > 0 && waiting >= this.#maxPending) {
      throw new TransportError(
        "rate-limited",
        `event "${code}" refused: ${waiting} events of this code already wait for Blynk's limit of one event per code every ${this.#minIntervalMs / 1000} s; send this code less often`,
      );
    }
    this.#slots.set(code, slot);
    this.#prune(now);
    this.#sent.push(slot);
    if (this.#sent.length > MAX_REMEMBERED) this.#sent.shift();
    const receipt: EventReceipt = { delayedMs, today: this.#sent.length, dailyLimit: this.#perDay };
    if (delayedMs <= 0) return receipt;
    onDelay?.(delayedMs);
    this.#waiting.set(code, waiting + 1);
    try {
      await this.#sleep(delayedMs);
    } finally {
      const left = (this.#waiting.get(code) ?? 1) - 1;
      if (left <= 0) this.#waiting.delete(code);
      else this.#waiting.set(code, left);
    }
    return receipt;
  }

  /** Rejects every waiting event with "closed". */
  close(): void {
    this.#closed = true;
    for (const s of this.#sleepers) {
      clearTimeout(s.timer);
      s.reject(new TransportError("closed", "the Blynk device link was closed while the event waited for its slot"));
    }
    this.#sleepers.clear();
  }

  #prune(now: number): void {
    while (this.#sent.length > 0 && (this.#sent[0] ?? now) <= now - DAY_MS) this.#sent.shift();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sleeper: Sleeper = {
        timer: setTimeout(() => {
          this.#sleepers.delete(sleeper);
          resolve();
        }, ms),
        reject,
      };
      this.#sleepers.add(sleeper);
    });
  }
}
