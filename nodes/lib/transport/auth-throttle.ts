/**
 * Failed-login throttling per source address, shared by the MQTT broker and the HTTP device APIs.
 *
 * Decisions:
 * - `maxFailures` failed logins from one source within `windowMs` lock that source out for
 *   `lockoutMs`; each further lockout doubles it, up to `maxLockoutMs`. While locked out, a
 *   source is refused without its credentials being checked, so guessing costs the guesser time,
 *   not us CPU. A successful login resets the source.
 * - A lockout, not a delay: a delayed answer would hold a socket per attempt.
 * - Sources are addresses; IPv4-mapped IPv6 counts as IPv4, and IPv6 by its /64 (one host
 *   usually owns a whole /64, so counting single addresses would not stop it).
 * - Memory is bounded: at most `maxSources` are remembered; the one idle longest is forgotten
 *   first. A spray from many addresses therefore costs a fixed amount of memory.
 * - No allow-list and no exception for loopback: behind a reverse proxy every client is
 *   loopback, and a proxy's forwarded-for header is not trusted here (callers may pass an
 *   address they trust, e.g. express's `req.ip` when the user configured `trust proxy`).
 */

export interface AuthThrottleOptions {
  /** Failed logins within `windowMs` that lock a source out; default 10. */
  maxFailures?: number;
  /** Default 60 000 ms. */
  windowMs?: number;
  /** First lockout; default 60 000 ms. */
  lockoutMs?: number;
  /** Longest lockout (doubling stops here); default 900 000 ms. */
  maxLockoutMs?: number;
  /** Sources remembered at most; default 10 000. */
  maxSources?: number;
  /** Milliseconds clock; default Date.now. */
  now?: () => number;
}

/** What a failure did: `lockedMs` > 0 when it started a lockout of that length. */
export interface AuthFailure {
  source: string;
  failures: number;
  lockedMs: number;
}

interface SourceState {
  failures: number;
  windowStart: number;
  lockedUntil: number;
  /** Lockouts so far; the next one lasts lockoutMs * 2^lockouts. */
  lockouts: number;
  lastFailure: number;
}

export const AUTH_THROTTLE_DEFAULTS = {
  maxFailures: 10,
  windowMs: 60_000,
  lockoutMs: 60_000,
  maxLockoutMs: 900_000,
  maxSources: 10_000,
} as const;

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a whole number of at least 1, got ${typeof value === "number" ? String(value) : typeof value}`);
  }
  return value;
}

export class AuthThrottle {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  readonly maxLockoutMs: number;
  readonly maxSources: number;
  readonly #now: () => number;
  /** Insertion order = least recently failed first (a failure re-inserts), for eviction. */
  readonly #sources = new Map<string, SourceState>();

  /** Throws TypeError naming a bad option. */
  constructor(options: AuthThrottleOptions = {}) {
    const d = AUTH_THROTTLE_DEFAULTS;
    this.maxFailures = positiveInteger(options.maxFailures, "maxFailures", d.maxFailures);
    this.windowMs = positiveInteger(options.windowMs, "windowMs", d.windowMs);
    this.lockoutMs = positiveInteger(options.lockoutMs, "lockoutMs", d.lockoutMs);
    this.maxLockoutMs = Math.max(this.lockoutMs, positiveInteger(options.maxLockoutMs, "maxLockoutMs", d.maxLockoutMs));
    this.maxSources = positiveInteger(options.maxSources, "maxSources", d.maxSources);
    this.#now = options.now ?? Date.now;
  }

  /** Sources remembered now. */
  get size(): number {
    return this.#sources.size;
  }

  /** Milliseconds `address` is still locked out; 0 = it may try. No address = never throttled. */
  retryAfterMs(address: string | undefined): number {
    if (address === undefined) return 0;
    const state = this.#sources.get(sourceOf(address));
    return state === undefined ? 0 : Math.max(0, state.lockedUntil - this.#now());
  }

  /** Records a failed login; the returned `lockedMs` says whether it started a lockout. */
  failed(address: string | undefined): AuthFailure | undefined {
    if (address === undefined) return undefined;
    const source = sourceOf(address);
    const now = this.#now();
    let state = this.#sources.get(source);
    if (state !== undefined && this.#forgettable(state, now)) state = undefined;
    state ??= { failures: 0, windowStart: now, lockedUntil: 0, lockouts: 0, lastFailure: now };
    if (now - state.windowStart >= this.windowMs) {
      state.failures = 0;
      state.windowStart = now;
    }
    state.failures++;
    state.lastFailure = now;
    const failures = state.failures;
    let lockedMs = 0;
    if (failures >= this.maxFailures && state.lockedUntil <= now) {
      lockedMs = Math.min(this.maxLockoutMs, this.lockoutMs * 2 ** Math.min(state.lockouts, 30));
      state.lockedUntil = now + lockedMs;
      state.lockouts++;
      state.failures = 0;
      state.windowStart = now;
    }
    this.#remember(source, state);
    return { source, failures, lockedMs };
  }

  /** A successful login: the source starts afresh. */
  succeeded(address: string | undefined): void {
    if (address !== undefined && this.#sources.size > 0) this.#sources.delete(sourceOf(address));
  }

  /** Forgets every source (a redeploy starts afresh anyway). */
  clear(): void {
    this.#sources.clear();
  }

  /** Not locked out, and quiet long enough that even the doubling starts over. */
  #forgettable(state: SourceState, now: number): boolean {
    return state.lockedUntil <= now && now - state.lastFailure >= Math.max(this.windowMs, this.maxLockoutMs);
  }

  #remember(source: string, state: SourceState): void {
    this.#sources.delete(source);
    this.#sources.set(source, state);
    while (this.#sources.size > this.maxSources) {
      const oldest = this.#sources.keys().next();
      if (oldest.done === true) break;
      this.#sources.delete(oldest.value);
    }
  }
}

/** The key a source is counted under: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by /64. */
export function sourceOf(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!address.includes(":")) return address;
  const groups = expandIpv6(address.replace(/%.*$/, ""));
  return groups === undefined ? address : `${groups.slice(0, 4).join(":")}::/64`;
}

function expandIpv6(address: string): string[] | undefined {
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const part = (s: string | undefined): string[] => (s === undefined || s === "" ? [] : s.split(":"));
  const head = part(halves[0]);
  const tail = part(halves[1]);
  if (tail.some((g) => g.includes("."))) return undefined; // embedded IPv4 other than ::ffff: is rare; counted as given
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  return [...head, ...Array<string>(missing).fill("0"), ...tail].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}
