/**
 * The one registry of hosted devices of a platform, across brokers: who holds which credential
 * (a token, a write key, a username), so that logins and the HTTP APIs find a device in one map
 * look-up, and a second device with the same credential is refused at hosting. Secret keys are
 * indexed by their SHA-256 digest and compared in constant time (transport/secret-match.ts),
 * never kept in clear.
 */
import { timingSafeEqual } from "node:crypto";
import { tokenDigest } from "../transport/secret-match.js";

/** One credential of a device: `kind` names it ("token", "channel"), `secret` when it must not be kept in clear. */
export interface DirectoryKey {
  kind: string;
  value: string;
  secret?: boolean;
}

/** Thrown by `claim` when another entry holds one of the keys. */
export class DirectoryConflict<T> extends Error {
  readonly holder: T;
  readonly kind: string;

  constructor(holder: T, kind: string) {
    super(`another hosted device already uses the same ${kind}`);
    this.name = "DirectoryConflict";
    this.holder = holder;
    this.kind = kind;
  }
}

interface Held<T> {
  entry: T;
  digest: Buffer | undefined;
}

export class HostedDirectory<T> {
  /** kind -> (secret ? base64 digest : value) -> holder. */
  readonly #byKey = new Map<string, Map<string, Held<T>>>();
  readonly #entries = new Set<T>();
  /** Kinds whose keys are kept as digests (decided by their first claim). */
  readonly #secretKinds = new Set<string>();

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds `entry` under every key, or none: throws DirectoryConflict naming the first key another
   * entry holds. Keys with an empty value are not indexed. Returns the release.
   */
  claim(entry: T, keys: DirectoryKey[]): () => void {
    const placed = keys.filter((k) => k.value !== "").map((k) => ({ kind: k.kind, ...this.#slot(k) }));
    for (const { kind, id } of placed) {
      const other = this.#byKey.get(kind)?.get(id);
      if (other !== undefined) throw new DirectoryConflict(other.entry, kind);
    }
    for (const { kind, id, digest } of placed) {
      if (digest !== undefined) this.#secretKinds.add(kind);
      let map = this.#byKey.get(kind);
      if (map === undefined) {
        map = new Map();
        this.#byKey.set(kind, map);
      }
      map.set(id, { entry, digest });
    }
    this.#entries.add(entry);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#entries.delete(entry);
      for (const { kind, id } of placed) {
        const map = this.#byKey.get(kind);
        if (map?.get(id)?.entry === entry) map.delete(id);
      }
    };
  }

  /** The entry holding `value` as its `kind` key (a secret one compared in constant time), or undefined. */
  find(kind: string, value: string | Buffer): T | undefined {
    if (!this.#secretKinds.has(kind)) return this.#byKey.get(kind)?.get(String(value))?.entry;
    const digest = tokenDigest(value);
    const held = this.#byKey.get(kind)?.get(digest.toString("base64"));
    return held?.digest !== undefined && timingSafeEqual(held.digest, digest) ? held.entry : undefined;
  }

  /** Every entry, in the order they were claimed. */
  values(): T[] {
    return [...this.#entries];
  }

  #slot(key: DirectoryKey): { id: string; digest: Buffer | undefined } {
    if (key.secret !== true && !this.#secretKinds.has(key.kind)) return { id: key.value, digest: undefined };
    const digest = tokenDigest(key.value);
    return { id: digest.toString("base64"), digest };
  }
}
