/** The generic MQTT users of one broker: validation and password checks. */
import { timingSafeEqual, createHash } from "node:crypto";
import { assertTopicFilter } from "../transport/topic.js";
import type { BrokerUser } from "./types.js";

export class UserDirectory {
  readonly #users = new Map<string, BrokerUser>();

  /** Validates the list; throws a TypeError naming the first problem. */
  constructor(users: readonly BrokerUser[] = []) {
    users.forEach((user, i) => {
      const where = `user ${i + 1}${typeof user.username === "string" && user.username ? ` ("${user.username}")` : ""}`;
      if (typeof user.username !== "string" || user.username.trim() === "") {
        throw new TypeError(`${where}: username must be a non-empty string`);
      }
      if (this.#users.has(user.username)) throw new TypeError(`${where}: username is defined twice`);
      if (typeof user.password !== "string" || user.password === "") {
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

  /** The user when the password is right, else undefined. Constant-time in the password. */
  check(username: string, password: Buffer | undefined): BrokerUser | undefined {
    const user = this.#users.get(username);
    if (!user || !password) return undefined;
    // Hash both sides so timingSafeEqual compares equal lengths and leaks no length.
    const digest = (b: Buffer | string): Buffer => createHash("sha256").update(b).digest();
    return timingSafeEqual(digest(user.password), digest(password)) ? user : undefined;
  }
}
