/** The generic MQTT users of one broker: validation and password checks. */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { assertTopicFilter } from "../transport/topic.js";
import { isPasswordHash, verifyPassword } from "./password-hash.js";
import type { BrokerUser } from "./types.js";

/** Keys the in-memory proofs of verified passwords; never leaves this process. */
const PROOF_KEY = randomBytes(32);
const proofOf = (password: Buffer): Buffer => createHmac("sha256", PROOF_KEY).update(password).digest();

export class UserDirectory {
  readonly #users = new Map<string, BrokerUser>();
  /**
   * Per hashed user, a keyed digest of the password that last passed scrypt: a reconnecting
   * client is then checked without scrypt, and a wrong password is refused without it too (only
   * one password matches a hash). Lives as long as the engine, like the hashes it stands for.
   */
  readonly #verified = new Map<string, Buffer>();
  /** Checks running, by user and proof, so a burst of identical CONNECTs costs one scrypt. */
  readonly #checking = new Map<string, Promise<BrokerUser | undefined>>();

  /** Validates the list; throws a TypeError naming the first problem (never a password or hash). */
  constructor(users: readonly BrokerUser[] = []) {
    users.forEach((user, i) => {
      const where = `user ${i + 1}${typeof user.username === "string" && user.username ? ` ("${user.username}")` : ""}`;
      if (typeof user.username !== "string" || user.username.trim() === "") {
        throw new TypeError(`${where}: username must be a non-empty string`);
      }
      if (this.#users.has(user.username)) throw new TypeError(`${where}: username is defined twice`);
      if (user.hash !== undefined) {
        if (user.password !== undefined) throw new TypeError(`${where}: give either a password or its hash, not both`);
        if (!isPasswordHash(user.hash)) throw new TypeError(`${where}: the password hash is not one this broker can check ($scrypt$ln=..,r=..,p=..$salt$key)`);
      } else if (typeof user.password !== "string" || user.password === "") {
        throw new TypeError(`${where}: password must be a non-empty string`);
      }
      for (const kind of ["publish", "subscribe"] as const) {
        const patterns: unknown = user[kind];
        if (!Array.isArray(patterns)) throw new TypeError(`${where}: ${kind} must be a list of topic filters`);
        for (const p of patterns) {
          try {
            assertTopicFilter(p);
          } catch (err) {
            throw new TypeError(`${where}: ${kind} pattern: ${(err as Error).message}`);
          }
        }
      }
      this.#users.set(user.username, { ...user, publish: [...user.publish], subscribe: [...user.subscribe] });
    });
  }

  get size(): number {
    return this.#users.size;
  }

  has(username: string): boolean {
    return this.#users.has(username);
  }

  /**
   * The user when the password is right, else undefined; constant-time in the password.
   * Synchronous for clear-text users and for hashed users whose password was verified before;
   * otherwise a promise (scrypt off the event loop), which rejects with PasswordCheckBusy when
   * too many checks are running.
   */
  check(username: string, password: Buffer | undefined): BrokerUser | undefined | Promise<BrokerUser | undefined> {
    const user = this.#users.get(username);
    if (!user || !password) return undefined;
    if (user.hash === undefined) {
      // Hash both sides so timingSafeEqual compares equal lengths and leaks no length.
      const digest = (b: Buffer | string): Buffer => createHash("sha256").update(b).digest();
      return timingSafeEqual(digest(user.password ?? ""), digest(password)) ? user : undefined;
    }
    const proof = proofOf(password);
    const known = this.#verified.get(username);
    if (known) return timingSafeEqual(known, proof) ? user : undefined;
    const key = `${username}\u0000${proof.toString("base64")}`;
    let checking = this.#checking.get(key);
    if (!checking) {
      checking = verifyPassword(user.hash, password)
        .then((ok) => {
          if (!ok) return undefined;
          this.#verified.set(username, proof);
          return user;
        })
        .finally(() => this.#checking.delete(key));
      this.#checking.set(key, checking);
    }
    return checking;
  }
}
