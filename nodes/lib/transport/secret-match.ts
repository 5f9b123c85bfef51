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
