/**
 * Turns `auth-refused` / `auth-throttled` broker events into few log lines: the first refusal
 * from a source is logged as it happens; later ones are counted and logged as one summary line
 * per source each time `flush()` runs (the broker node: every minute, and when it stops).
 * Bounded: past `maxSources` sources in one period, the rest are summed up in one line.
 */
import type { BrokerEvent } from "./types.js";

type Refused = Extract<BrokerEvent, { event: "auth-refused" }>;
type Throttled = Extract<BrokerEvent, { event: "auth-throttled" }>;

export type LoginLogLine =
  | { kind: "refused"; address: string; clientId: string; username: string; reason: string }
  /** `count` more failed logins from `address` since the last line; `lockedForMs` > 0 when it was locked out. */
  | { kind: "summary"; address: string; count: number; reason: string; lockedForMs: number }
  /** Failed logins from sources past `maxSources`. */
  | { kind: "others"; count: number };

interface Period {
  count: number;
  reason: string;
  lockedForMs: number;
}

/** Used when a refusal has no address (in-process or unknown transports). */
export const UNKNOWN_ADDRESS = "an unknown address";

export class LoginLog {
  readonly #write: (line: LoginLogLine) => void;
  readonly #maxSources: number;
  /** Sources seen this period; present = the first refusal was already logged. */
  readonly #sources = new Map<string, Period>();
  #othersCount = 0;

  constructor(write: (line: LoginLogLine) => void, options: { maxSources?: number } = {}) {
    this.#write = write;
    this.#maxSources = options.maxSources ?? 100;
  }

  /** Feeds one broker event; other events are ignored. */
  note(event: BrokerEvent): void {
    if (event.event === "auth-refused") this.#refused(event);
    else if (event.event === "auth-throttled") this.#throttled(event);
  }

  /** Writes one summary line per source with unlogged refusals, and starts a new period. */
  flush(): void {
    for (const [address, period] of this.#sources) {
      if (period.count > 0) this.#write({ kind: "summary", address, ...period });
    }
    if (this.#othersCount > 0) this.#write({ kind: "others", count: this.#othersCount });
    // A source that stayed quiet a whole period has its next refusal logged at once again.
    for (const [address, period] of [...this.#sources]) {
      if (period.count === 0) this.#sources.delete(address);
      else this.#sources.set(address, { count: 0, reason: "", lockedForMs: 0 });
    }
    this.#othersCount = 0;
  }

  #refused(event: Refused): void {
    const address = event.remoteAddress ?? UNKNOWN_ADDRESS;
    const period = this.#sources.get(address);
    if (period) {
      period.count++;
      period.reason = event.reason;
    } else if (this.#sources.size < this.#maxSources) {
      this.#sources.set(address, { count: 0, reason: "", lockedForMs: 0 });
      this.#write({ kind: "refused", address, clientId: event.clientId, username: event.username ?? "", reason: event.reason });
    } else {
      this.#othersCount++;
    }
  }

  #throttled(event: Throttled): void {
    const period = this.#sources.get(event.remoteAddress);
    if (period) period.lockedForMs = Math.max(period.lockedForMs, event.lockedForMs);
  }
}
