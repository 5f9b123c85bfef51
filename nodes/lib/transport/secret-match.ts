/**
 * Secrets (device tokens, keys, passwords) are found and compared through fixed-size digests:
 * a map keyed by a digest never holds the secret itself (a key can end up in a heap dump or a
 * debug log), and comparing two digests with timingSafeEqual takes the same time however much
 * of a guess was right. broker/hosted-directory.ts indexes hosted devices this way.
 */
import { createHash } from "node:crypto";

export function tokenDigest(token: string | Buffer): Buffer {
  return createHash("sha256").update(token).digest();
}
