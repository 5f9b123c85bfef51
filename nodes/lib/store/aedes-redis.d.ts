/**
 * The part of aedes-persistence-redis 11 (asyncPersistence.js, which ships no typings) the
 * `redis` persistence uses: its constructor on a connection we own, and `destroy`.
 */
declare module "aedes-persistence-redis/asyncPersistence.js" {
  import type { Redis } from "ioredis";

  class AsyncRedisPersistence {
    constructor(opts: { conn: Redis; maxSessionDelivery?: number });
    setup(broker: unknown): Promise<void>;
    destroy(): Promise<void>;
  }
  export = AsyncRedisPersistence;
}
