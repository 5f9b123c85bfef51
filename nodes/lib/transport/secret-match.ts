/**
 * Finding who holds a secret (a device token) without leaking it through timing: every
 * candidate keeps a fixed-size digest of its secret, and a look-up compares the presented
 * secret's digest with every candidate in constant time. Used by the broker emulations and
 * their HTTP APIs.
 */
import { createHash, timingSafeEqual } from "node:crypto";

export function tokenDigest(token: string | Buffer): Buffer {
  return createHash("sha256").update(token).digest();
}

/** The candidate holding the token, comparing fixed-size digests with every candidate (constant time). */
export function findByDigest<T extends { readonly digest: Buffer }>(candidates: Iterable<T>, token: string | Buffer): T | undefined {
  const digest = tokenDigest(token);
  let found: T | undefined;
  for (const candidate of candidates) {
    if (timingSafeEqual(candidate.digest, digest) && found === undefined) found = candidate;
  }
  return found;
}

/**
 * Holders of secrets found by the secret's SHA-256 digest in one map look-up, so logins cost
 * the same with 2 or 2,000 hosted devices (findByDigest compares with every candidate). Keyed by
 * the digest, never the secret: a map key can end up in a heap dump or a debug log. Timing only
 * reveals whether some digest matched, which says nothing about the secret; the found candidate
 * is still compared in constant time.
 */
export class DigestIndex<T extends { readonly digest: Buffer }> {
  readonly #byDigest = new Map<string, T>();

  get size(): number {
    return this.#byDigest.size;
  }

  /** Adds `holder`; false (and nothing changed) when another holder has the same secret. */
  add(holder: T): boolean {
    const key = holder.digest.toString("base64");
    if (this.#byDigest.has(key)) return false;
    this.#byDigest.set(key, holder);
    return true;
  }

  delete(holder: T): void {
    const key = holder.digest.toString("base64");
    if (this.#byDigest.get(key) === holder) this.#byDigest.delete(key);
  }

  /** The holder of `secret`, or undefined. */
  find(secret: string | Buffer): T | undefined {
    const digest = tokenDigest(secret);
    const found = this.#byDigest.get(digest.toString("base64"));
    return found !== undefined && timingSafeEqual(found.digest, digest) ? found : undefined;
  }

  values(): IterableIterator<T> {
    return this.#byDigest.values();
  }
}
