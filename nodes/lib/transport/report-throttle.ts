/**
 * Keeps one misbehaving peer (a hosted device sending garbage, a burst of unanswered RPCs) from
 * flooding the log: per kind of problem, the first `burst` reports go out at once (a device with
 * a few distinct problems shows them all); the ones that follow within the interval are only counted, and one summary per interval says how many were
 * suppressed (with the last one's text). A quiet interval ends the window, so the next problem
 * is reported at once again.
 *
 * Kinds are chosen by the code that reports (a fixed word like "malformed"), never taken from
 * what the peer sent, so the number of windows stays bounded.
 */

export interface ThrottleTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface ReportThrottleOptions {
  /** Length of a window in ms; default one minute. */
  intervalMs?: number;
  /** Reports of one kind that go out per window before the rest are counted; default 10. */
  burst?: number;
  /**
   * Where summaries go (the report channel of whoever owns the peer), as English text and as
   * parts (for a translated message). Must not throw.
   */
  summary: (text: string, kind: string, suppressed: number, last: string) => void;
  timers?: ThrottleTimers;
}

interface Window {
  admitted: number;
  suppressed: number;
  last: string;
  timer: unknown;
}

const realTimers: ThrottleTimers = {
  set: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref(); // a pending summary never keeps Node-RED running
    return timer;
  },
  clear: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export const DEFAULT_REPORT_INTERVAL_MS = 60_000;
export const DEFAULT_REPORT_BURST = 10;

export class ReportThrottle {
  readonly intervalMs: number;
  readonly burst: number;
  readonly #summary: ReportThrottleOptions["summary"];
  readonly #timers: ThrottleTimers;
  readonly #windows = new Map<string, Window>();

  constructor(options: ReportThrottleOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_REPORT_INTERVAL_MS;
    this.burst = Math.max(1, Math.floor(options.burst ?? DEFAULT_REPORT_BURST));
    this.#summary = options.summary;
    this.#timers = options.timers ?? realTimers;
  }

  /** Whether a report of `kind` goes out now; false: it is counted for the next summary. */
  admit(kind: string, text: string): boolean {
    const open = this.#windows.get(kind) ?? this.#open(kind, 0);
    if (open.admitted < this.burst) {
      open.admitted++;
      return true;
    }
    open.suppressed++;
    open.last = text;
    return false;
  }

  /** Reports `text` through `emit` if admitted. */
  report(kind: string, text: string, emit: (text: string) => void): void {
    if (this.admit(kind, text)) emit(text);
  }

  /** Ends every window, sending the summaries still owed. */
  close(): void {
    for (const [kind, window] of [...this.#windows]) {
      this.#timers.clear(window.timer);
      this.#windows.delete(kind);
      this.#flush(kind, window);
    }
  }

  /** A new window; `admitted` = burst means it only counts (the one after a summary). */
  #open(kind: string, admitted: number): Window {
    const window: Window = { admitted, suppressed: 0, last: "", timer: undefined };
    window.timer = this.#timers.set(() => {
      this.#windows.delete(kind);
      // Something was suppressed: summarise it and keep counting for one more interval, so a
      // steady flood costs one line per interval.
      if (window.suppressed > 0) {
        this.#open(kind, this.burst);
        this.#flush(kind, window);
      }
    }, this.intervalMs);
    this.#windows.set(kind, window);
    return window;
  }

  #flush(kind: string, window: Window): void {
    if (window.suppressed === 0) return;
    const seconds = Math.round(this.intervalMs / 1000);
    const text = `${window.suppressed} more like this were not reported one by one in the last ${seconds} s; the last one: ${window.last}`;
    try {
      this.#summary(text, kind, window.suppressed, window.last);
    } catch {
      // The owner's callback failing must not break whoever reported.
    }
  }
}
