/**
 * aedes' persistence on Redis: aedes-persistence-redis 11 (12 wants another aedes-persistence
 * major than aedes 2.0.0-beta.1 ships with). Its lookups answer async iterators, while aedes
 * 2.0.0-beta.1 pipes what they answer (`stream.pipe`): each is wrapped in a Readable, which is
 * both. test/lib/store/redis-persistence_spec.js runs aedes-persistence's own contract on it.
 */
import { Readable } from "node:stream";
import type { Redis } from "ioredis";
import AsyncRedisPersistence from "aedes-persistence-redis/asyncPersistence.js";

/** The lookups aedes (or the contract) reads as streams. */
const STREAMED = ["createRetainedStream", "createRetainedStreamCombi", "outgoingStream", "streamWill", "getClientList"] as const;

/** The persistence on `conn` (keys under its prefix). Its `destroy()` disconnects `conn`: the owner ends the connection instead. */
export function redisAedesPersistence(conn: Redis, options: { maxSessionDelivery?: number } = {}): object {
  const persistence = new AsyncRedisPersistence({ conn, ...options });
  const methods = persistence as unknown as Record<(typeof STREAMED)[number], (...args: unknown[]) => AsyncIterable<unknown>>;
  for (const name of STREAMED) {
    const lookup = methods[name].bind(persistence);
    methods[name] = (...args: unknown[]) => Readable.from(lookup(...args));
  }
  return persistence;
}
