/**
 * aedes' message bus on Redis (mqemitter-redis): what a client of one instance publishes reaches
 * the subscribers of every instance of the same broker. Channels carry the broker's prefix, so
 * two brokers on one Redis never see each other's messages. Two corrections to the library:
 * - a filter with a wildcard becomes a Redis glob pattern; characters Redis' glob treats as
 *   special (`*`, `?`, `[`, `]`, `\`) are escaped, or a subscription to `a[1]/#` would not get
 *   what is published to `a[1]/x`;
 * - `close` ends its two connections without waiting for a server that is down (the library
 *   waits for an "end" that a reconnecting connection never emits).
 */
import type { Redis } from "ioredis";
import MQEmitterRedis from "mqemitter-redis";
import { endConnection } from "./redis-connection.js";

/** The emitter aedes is given as `mq` (opaque to the engine). */
export type RedisEmitter = object;

interface PrefixedEmitterInternals {
  closing?: boolean;
  closed?: boolean;
  state: { on(event: "error", listener: (err: Error) => void): void };
  _subTopic(topic: string): string;
  _close(callback: () => void): void;
  close(callback?: () => void): void;
}

type PrefixConstructor = new (prefix: string, options: object) => PrefixedEmitterInternals;

const GLOB_SPECIAL = /[*?[\]\\]/g;

/** An MQTT filter as a Redis pattern (filters without wildcards are channel names, used as they are). */
export function redisPattern(filter: string): string {
  const levels = filter.split("/");
  if (!levels.some((l) => l === "+" || l === "#")) return filter;
  let pattern = "";
  levels.forEach((level, i) => {
    if (level === "#") {
      // `a/#` also matches `a` (MQTT): the pattern may be broader than the filter, never narrower.
      pattern = i === 0 ? "*" : `${pattern}*`;
      return;
    }
    if (i > 0) pattern += "/";
    pattern += level === "+" ? "*" : level.replace(GLOB_SPECIAL, (c) => `\\${c}`);
  });
  return pattern;
}

/**
 * The emitter on two connections it owns (publishing, subscribed). `onError` hears what the
 * library reports (a decode failure, a failed publish): never a crash.
 */
export function openRedisEmitter(prefix: string, pub: Redis, sub: Redis, onError: (err: Error) => void): RedisEmitter {
  const Prefixed = (MQEmitterRedis as unknown as { MQEmitterRedisPrefix: PrefixConstructor }).MQEmitterRedisPrefix;
  // matchEmptyLevels as aedes' own emitter ([MQTT-4.7.1-3]); concurrency as aedes' default.
  const emitter = new Prefixed(prefix, { pubConn: pub, subConn: sub, concurrency: 100, matchEmptyLevels: true });
  emitter.state.on("error", onError);
  emitter._subTopic = redisPattern;
  emitter.close = (callback = () => undefined) => {
    if (emitter.closed === true || emitter.closing === true) {
      callback();
      return;
    }
    emitter.closing = true;
    void Promise.all([endConnection(sub), endConnection(pub)]).then(() => {
      emitter._close(callback);
    });
  };
  return emitter;
}
