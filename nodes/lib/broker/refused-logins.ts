/**
 * The logins a broker refused lately for credentials it does not know, so that a user can see a
 * device that tries to connect with a token nobody hosts yet and adopt it (the editor's "IoT
 * devices" sidebar creates a fleet device with exactly those credentials).
 *
 * The credentials stay here, in memory, and are handed out only by `credentials(id)` to the
 * node layer's adopt action (which needs the write permission); `list()` has none of them: no
 * username when it may be a secret (ThingsBoard's is the token), never a password. Bounded: the
 * newest `max` distinct credentials (a device retrying every few seconds is one entry with a
 * count), each forgotten `ttlMs` after its last attempt; secrets longer than MAX_SECRET_BYTES
 * are not kept (no device token is that long; a CONNECT may carry 16 kB).
 */
import { createHash, randomBytes } from "node:crypto";
import type { AuthRequest } from "./types.js";

export const MAX_SECRET_BYTES = 256;

/** A refused login as anyone may see it. */
export interface RefusedLogin {
  /** Random, stable while the entry lives: what the adopt action names. */
  readonly id: string;
  readonly clientId: string;
  /** The username, when it is not a secret (e.g. Blynk's "device"). */
  readonly username?: string;
  readonly remoteAddress?: string;
  /** First and last attempt (ms since the epoch), and how many there were. */
  readonly firstAt: number;
  readonly lastAt: number;
  readonly count: number;
  readonly reason: string;
}

/** What the login presented, for adopting it: kept server-side only. */
export interface RefusedCredentials {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly protocolVersion: number;
  readonly remoteAddress: string | undefined;
}

interface Entry {
  login: RefusedLogin;
  credentials: RefusedCredentials;
}

export interface RefusedLoginsOptions {
  /** Distinct credentials kept (default 20). */
  max?: number;
  /** Forgotten this long after the last attempt (default one hour). */
  ttlMs?: number;
  now?: () => number;
}

export class RefusedLogins {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** By a digest of the credentials (never the credentials themselves as a key), oldest attempt first. */
  readonly #entries = new Map<string, Entry>();
  readonly #watchers = new Set<() => void>();

  constructor(options: RefusedLoginsOptions = {}) {
    this.#max = options.max ?? 20;
    this.#ttlMs = options.ttlMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
  }

  /** Calls `watcher` after every change until the returned function is called. */
  watch(watcher: () => void): () => void {
    this.#watchers.add(watcher);
    return () => {
      this.#watchers.delete(watcher);
    };
  }

  /** Notes a refused login; `secretUsername`: the username may be a token. Logins without any credential are not kept. */
  record(request: AuthRequest, reason: string, secretUsername: boolean): void {
    const password = request.password?.toString("utf8");
    const { username } = request;
    if (username === undefined && password === undefined) return;
    if (Buffer.byteLength(username ?? "") + Buffer.byteLength(password ?? "") > MAX_SECRET_BYTES) return;
    const now = this.#now();
    const digest = createHash("sha256").update(`${request.clientId}\u0000${username ?? ""}\u0000${password ?? ""}`).digest("base64url");
    const known = this.#entries.get(digest);
    const login: RefusedLogin = {
      id: known?.login.id ?? randomBytes(9).toString("base64url"),
      clientId: request.clientId,
      ...(username === undefined || secretUsername ? {} : { username }),
      ...(request.remoteAddress === undefined ? {} : { remoteAddress: request.remoteAddress }),
      firstAt: known?.login.firstAt ?? now,
      lastAt: now,
      count: (known?.login.count ?? 0) + 1,
      reason,
    };
    // Re-inserted: the map's order is the order of last attempts.
    this.#entries.delete(digest);
    this.#entries.set(digest, {
      login,
      credentials: { clientId: request.clientId, username, password, protocolVersion: request.protocolVersion, remoteAddress: request.remoteAddress },
    });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#changed();
  }

  /** The refused logins still remembered, newest first; no secrets. */
  list(): RefusedLogin[] {
    this.#expire();
    return [...this.#entries.values()].map((e) => e.login).reverse();
  }

  /** What refused login `id` presented (secrets: for adopting it only), or undefined. */
  credentials(id: string): RefusedCredentials | undefined {
    this.#expire();
    for (const entry of this.#entries.values()) if (entry.login.id === id) return entry.credentials;
    return undefined;
  }

  /** Forgets refused login `id` (adopted, or dismissed); whether it was known. */
  forget(id: string): boolean {
    for (const [digest, entry] of this.#entries) {
      if (entry.login.id === id) {
        this.#entries.delete(digest);
        this.#changed();
        return true;
      }
    }
    return false;
  }

  #expire(): void {
    const oldest = this.#now() - this.#ttlMs;
    for (const [digest, entry] of this.#entries) if (entry.login.lastAt < oldest) this.#entries.delete(digest);
  }

  #changed(): void {
    for (const watcher of this.#watchers) {
      try {
        watcher();
      } catch {
        // The watcher's problem; a login decision must not fail for it.
      }
    }
  }
}
