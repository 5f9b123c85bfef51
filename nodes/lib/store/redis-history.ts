/**
 * Hosted devices' history in Redis, behind the broker's `DeviceHistory` (docs/ARCHITECTURE.md
 * 1.4): one sorted set per stream, `hist:["<plugin>","<id>","<stream>"]`, scored by the point's
 * time, each member a 15-digit counter (so points of the same millisecond keep their order and
 * equal values stay apart) followed by the value's JSON. Appends wait in memory (bounded: while
 * Redis cannot be reached the oldest go, `dropped` counts them) and go in one pipeline per
 * macrotask; the append script trims the set to `maxPerStream`, and a timer prunes points older
 * than the retention, a bounded number of sets per pass. Every instance of a broker writes and
 * reads the same sets. Keyed by device id, never by a credential.
 */
import type { ChainableCommander, Redis } from "ioredis";
import type { DeviceHistory, HistoryPoint, HistoryQuery } from "../broker/device-history.js";
import type { StoredJson } from "../broker/device-store.js";
import { firstReady, trackReady } from "./redis-connection.js";
import { RedisWritePump, type PumpBatch } from "./redis-write-pump.js";
import { historyPointJson } from "./history-point.js";
import { StoreError } from "./store-error.js";

const STREAM_KEYS = "hist-keys";
const COUNTERS = "hist-n";
const COUNTER_DIGITS = 15;
const DAY_MS = 86_400_000;

const APPEND = {
  numberOfKeys: 4,
  lua: `local n = redis.call('HINCRBY', KEYS[2], ARGV[5], 1)
redis.call('ZADD', KEYS[1], ARGV[1], string.format('%0${COUNTER_DIGITS}d', n) .. ARGV[2])
local max = tonumber(ARGV[3])
local count = redis.call('ZCARD', KEYS[1])
if count > max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - max - 1) end
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
return 1`,
} as const;

type AppendCall = { iotHistoryAppend: (...args: string[]) => ChainableCommander };

export interface RedisHistoryOptions {
  /** Points older than this many days are pruned; 0 (default) keeps them. */
  retentionDays?: number;
  /** At most this many points per stream (default 100,000): the oldest go first. */
  maxPerStream?: number;
  /** At most this many points wait to be sent (default 100,000); while Redis cannot be reached, the oldest waiting are dropped. */
  maxPending?: number;
  /** How often the retention pass runs (default hourly); it also runs once soon after starting. */
  pruneEveryMs?: number;
  /** Streams one step of a pass prunes (default 100); the pass goes on in the next macrotask. */
  prunePassStreams?: number;
  /** The most points one query answers (default 100,000). */
  maxQueryPoints?: number;
  now?: () => number;
}

interface Pending {
  readonly plugin: string;
  readonly deviceId: string;
  readonly stream: string;
  readonly ts: number;
  readonly json: string;
}

export class RedisHistory implements DeviceHistory {
  readonly #db: Redis;
  readonly #where: string;
  #retentionMs: number;
  readonly #pruneEveryMs: number;
  readonly #maxPerStream: number;
  readonly #maxPending: number;
  readonly #passStreams: number;
  readonly #maxQuery: number;
  readonly #now: () => number;
  readonly #onError: ((err: Error) => void) | undefined;
  #pending: Pending[] = [];
  #dropped = 0;
  readonly #pump: RedisWritePump;
  #timer: NodeJS.Timeout | undefined;
  #pruning = false;
  #closed = false;
  #reported = false;

  constructor(db: Redis, where: string, options: RedisHistoryOptions & { onError?: (err: Error) => void } = {}) {
    this.#db = db;
    this.#where = where;
    this.#retentionMs = retentionMs(options.retentionDays);
    this.#pruneEveryMs = positive(options.pruneEveryMs, 3_600_000);
    this.#maxPerStream = positive(options.maxPerStream, 100_000);
    this.#maxPending = positive(options.maxPending, 100_000);
    this.#passStreams = positive(options.prunePassStreams, 100);
    this.#maxQuery = positive(options.maxQueryPoints, 100_000);
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError;
    db.defineCommand("iotHistoryAppend", APPEND);
    trackReady(db);
    this.#pump = new RedisWritePump(db, {
      waiting: () => this.#pending.length > 0,
      take: () => this.#take(),
      unavailable: () => this.#unavailable(),
      closed: () => new StoreError("closed", this.#where, "the history is closed"),
      onSent: () => {
        this.#reported = false;
      },
      onFailed: (err) => {
        this.#report(err);
      },
    });
    db.on("ready", () => {
      this.#pump.schedule();
    });
    this.#armPruning();
  }

  /** Days of history kept; 0 keeps everything. A change (a redeploy with another retention) applies from the next pass, which runs soon. */
  get retentionDays(): number {
    return this.#retentionMs / DAY_MS;
  }

  set retentionDays(days: number) {
    this.#retentionMs = retentionMs(days);
    this.#armPruning();
  }

  #armPruning(): void {
    if (this.#retentionMs === 0 || this.#closed) return;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        void this.pruneOnce();
      }, this.#pruneEveryMs);
      this.#timer.unref();
    }
    setImmediate(() => void this.pruneOnce());
  }

  /** Points dropped because they waited while Redis could not be reached. */
  get dropped(): number {
    return this.#dropped;
  }

  get pending(): number {
    return this.#pending.length;
  }

  append(plugin: string, deviceId: string, stream: string, ts: number, value: StoredJson): void {
    const json = historyPointJson(this.#where, plugin, deviceId, stream, ts, value);
    this.#pending.push({ plugin, deviceId, stream, ts: Math.round(ts), json });
    if (this.#pending.length > this.#maxPending) {
      this.#pending.splice(0, this.#pending.length - this.#maxPending);
      this.#dropped++;
    }
    this.#pump.wrote();
  }

  /** A stream's points in a range, oldest first; points appended before are sent first (one connection keeps the order). */
  async query(plugin: string, deviceId: string, stream: string, q: HistoryQuery = {}): Promise<HistoryPoint[]> {
    await this.#ready();
    void this.#pump.send();
    const key = historyKey(plugin, deviceId, stream);
    const limit = Math.min(this.#maxQuery, q.limit === undefined ? this.#maxQuery : Math.max(0, Math.floor(q.limit)));
    if (limit === 0) return [];
    const from = q.from === undefined ? "-inf" : String(q.from);
    const to = q.to === undefined ? "+inf" : String(q.to);
    let flat: string[];
    try {
      flat = q.latest === true ? await this.#db.zrevrangebyscore(key, to, from, "WITHSCORES", "LIMIT", 0, limit) : await this.#db.zrangebyscore(key, from, to, "WITHSCORES", "LIMIT", 0, limit);
    } catch (err) {
      throw new StoreError("unavailable", this.#where, `reading the history of ${plugin} device ${deviceId} failed: ${err instanceof Error ? err.message : String(err)}`, err);
    }
    const points: HistoryPoint[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      try {
        points.push({ ts: Number(flat[i + 1]), value: JSON.parse(flat[i].slice(COUNTER_DIGITS)) as StoredJson });
      } catch {
        // A damaged value is left out rather than failing the whole answer.
      }
    }
    return q.latest === true ? points.reverse() : points;
  }

  async streams(plugin: string, deviceId: string): Promise<string[]> {
    await this.#ready();
    void this.#pump.send();
    try {
      return await this.#db.smembers(streamsKey(plugin, deviceId));
    } catch (err) {
      throw new StoreError("unavailable", this.#where, `reading the streams of ${plugin} device ${deviceId} failed: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }

  /** Every point appended so far is in Redis (nothing for a flush to wait for). */
  get flushed(): boolean {
    return this.#pump.flushed;
  }

  /** Resolves once every point appended so far is in Redis; rejects while Redis cannot be reached. */
  flush(): Promise<void> {
    return this.#pump.flush();
  }

  /** Sends what waits (when Redis answers) and stops the timers; never rejects. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    await this.#pump.drain();
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#pump.close(new StoreError("closed", this.#where, "the history was closed before the points reached Redis"));
  }

  /** One retention pass over every stream, a bounded number of streams per macrotask; never rejects. */
  async pruneOnce(): Promise<void> {
    if (this.#retentionMs === 0 || this.#pruning || this.#closed || this.#db.status !== "ready") return;
    this.#pruning = true;
    const cutoff = `(${this.#now() - this.#retentionMs}`;
    try {
      let cursor = "0";
      do {
        const [next, keys] = await this.#db.sscan(STREAM_KEYS, cursor, "COUNT", this.#passStreams);
        cursor = next;
        if (keys.length > 0) {
          const pipeline = this.#db.pipeline();
          for (const key of keys) pipeline.zremrangebyscore(key, "-inf", cutoff);
          await pipeline.exec();
        }
        await new Promise((resolve) => setImmediate(resolve));
      } while (cursor !== "0" && !this.#isClosed());
    } catch (err) {
      this.#report(new StoreError("unavailable", this.#where, `pruning old history failed: ${err instanceof Error ? err.message : String(err)}`, err));
    } finally {
      this.#pruning = false;
    }
  }

  /** Every waiting point in one pipeline. */
  #take(): PumpBatch {
    const batch = this.#pending;
    this.#pending = [];
    const pipeline = this.#db.pipeline() as ChainableCommander & AppendCall;
    const max = String(this.#maxPerStream);
    for (const p of batch) {
      const key = historyKey(p.plugin, p.deviceId, p.stream);
      pipeline.iotHistoryAppend(key, COUNTERS, streamsKey(p.plugin, p.deviceId), STREAM_KEYS, String(p.ts), p.json, max, p.stream, key);
    }
    return {
      pipeline,
      failed: (err) => {
        // Sent again (before newer points, within the bound): a point that did reach Redis may be stored twice.
        this.#pending = [...batch, ...this.#pending];
        if (this.#pending.length > this.#maxPending) {
          this.#dropped += this.#pending.length - this.#maxPending;
          this.#pending.splice(0, this.#pending.length - this.#maxPending);
        }
        return new StoreError("unavailable", this.#where, `writing history failed: ${err instanceof Error ? err.message : String(err)}`, err);
      },
    };
  }

  // A method, not the field, so the check after an await is not narrowed away by the linter.
  #isClosed(): boolean {
    return this.#closed;
  }

  /** Reads go ahead when Redis is ready; a history just opened waits for its first connection (redis-connection.ts firstReady), an outage refuses at once. */
  async #ready(): Promise<void> {
    if (this.#closed) throw new StoreError("closed", this.#where, "the history is closed");
    await firstReady(this.#db, () => this.#unavailable());
  }

  #unavailable(): StoreError {
    return new StoreError("unavailable", this.#where, "Redis cannot be reached: history is kept in memory (bounded) and sent once it can");
  }

  #report(err: Error): void {
    if (this.#reported) return;
    this.#reported = true;
    try {
      this.#onError?.(err);
    } catch {
      // The listener's fault must not stop the history.
    }
  }
}

function retentionMs(days: number | undefined): number {
  return days !== undefined && Number.isFinite(days) && days > 0 ? days * DAY_MS : 0;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

function historyKey(plugin: string, deviceId: string, stream: string): string {
  return `hist:${JSON.stringify([plugin, deviceId, stream])}`;
}

function streamsKey(plugin: string, deviceId: string): string {
  return `hist-streams:${JSON.stringify([plugin, deviceId])}`;
}
