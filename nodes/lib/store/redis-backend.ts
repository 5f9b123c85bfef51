/**
 * The broker's `redis` persistence (docs/ARCHITECTURE.md 1.4, 3.6): several Node-RED instances
 * running the same flows share one Redis. Per engine it holds a command connection (aedes'
 * persistence: sessions, queued QoS 1/2 messages, retained messages, wills; the hosted devices'
 * state and history), a subscribed connection for state changes, and per aedes instance the two
 * connections of its message bus (mqemitter-redis). Everything lives under `prefix` (keys and
 * channels), so one Redis can hold several brokers. Available means: every connection is ready
 * and the device-state replica is current.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { BackendAedes, BackendStatus, BrokerBackend } from "../broker/backend.js";
import { redisAedesPersistence } from "./redis-aedes-persistence.js";
import { describeRedis, endConnection, openConnection, whenReady, type RedisTarget } from "./redis-connection.js";
import { RedisDeviceStores } from "./redis-device-stores.js";
import { openRedisEmitter } from "./redis-emitter.js";
import { RedisHistory, type RedisHistoryOptions } from "./redis-history.js";
import { StoreError } from "./store-error.js";

export interface RedisBackendOptions extends RedisTarget {
  /** Prefix of every key and channel: the same for every instance of one broker (default "iot-bridge:"). */
  prefix?: string;
  history?: RedisHistoryOptions;
  /** Queued messages one session delivers at most when it resumes (aedes-persistence-redis; default 1000). */
  maxSessionDelivery?: number;
}

interface Watcher {
  onStatus(status: BackendStatus): void;
  onProblem(err: Error): void;
}

export class RedisBackend implements BrokerBackend {
  readonly kind = "redis";
  readonly where: string;
  readonly deviceStores: RedisDeviceStores;
  readonly history: RedisHistory;
  readonly #options: RedisBackendOptions;
  readonly #prefix: string;
  readonly #db: Redis;
  readonly #stateSub: Redis;
  /** The bus connections of the aedes instances attached (one normally). */
  readonly #bus = new Set<Redis>();
  readonly #watchers = new Set<Watcher>();
  readonly #closing = new AbortController();
  #status: BackendStatus = { available: false };
  #lastError: string | undefined;
  #started = false;
  #everAvailable = false;
  #closed: Promise<void> | undefined;

  constructor(options: RedisBackendOptions) {
    this.#options = options;
    this.where = describeRedis(options.url);
    this.#prefix = options.prefix ?? "iot-bridge:";
    this.#db = this.#connection("db", { keyPrefix: this.#prefix });
    this.#stateSub = this.#connection("state", { queueWhileDown: true });
    const problem = (err: Error): void => {
      this.#problem(err);
    };
    this.deviceStores = new RedisDeviceStores({
      db: this.#db,
      sub: this.#stateSub,
      channel: `${this.#prefix}state`,
      origin: randomUUID(),
      where: this.where,
      onError: problem,
      onLive: () => {
        this.#update();
      },
    });
    this.history = new RedisHistory(this.#db, this.where, { ...options.history, onError: problem });
  }

  get status(): BackendStatus {
    return this.#status;
  }

  async start(): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      for (const c of [this.#db, this.#stateSub]) c.connect().catch(() => undefined); // failures come as "error" events, retried
    }
    await Promise.race([this.deviceStores.start(), this.#aborted()]);
  }

  async attach(): Promise<BackendAedes> {
    if (this.#closing.signal.aborted) throw this.#closedError();
    const pub = this.#connection("bus-pub", {});
    const sub = this.#connection("bus-sub", { queueWhileDown: true });
    for (const c of [pub, sub]) c.connect().catch(() => undefined);
    const discard = async (): Promise<void> => {
      this.#bus.delete(pub);
      this.#bus.delete(sub);
      await Promise.all([endConnection(pub), endConnection(sub)]);
      this.#update();
    };
    try {
      await Promise.all([whenReady(pub, this.#closing.signal), whenReady(sub, this.#closing.signal)]);
    } catch (err) {
      await discard();
      throw err;
    }
    // Counted in the status from now on (while they connect, the engine's start is what waits).
    this.#bus.add(pub).add(sub);
    const mq = openRedisEmitter(`${this.#prefix}mq:`, pub, sub, (err) => {
      this.#problem(err);
    });
    const persistence = redisAedesPersistence(this.#db, this.#options.maxSessionDelivery === undefined ? {} : { maxSessionDelivery: this.#options.maxSessionDelivery });
    this.#update();
    return { mq, persistence, discard };
  }

  watch(onStatus: (status: BackendStatus) => void, onProblem: (err: Error) => void): () => void {
    const watcher = { onStatus, onProblem };
    this.#watchers.add(watcher);
    return () => {
      this.#watchers.delete(watcher);
    };
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(this.#closedError());
      await Promise.all([this.deviceStores.shutdown(), this.history.shutdown()]);
      // The bus connections are ended by aedes (its mq.close) or by discard(); these are left over from a start cut short.
      await Promise.all([...this.#bus, this.#stateSub, this.#db].map((c) => endConnection(c)));
      this.#bus.clear();
      this.#update();
    })();
    return this.#closed;
  }

  #connection(role: string, options: { keyPrefix?: string; queueWhileDown?: boolean }): Redis {
    const connection = openConnection(this.#options, { name: `iot-bridge-${role}`, ...options });
    connection.on("error", (err: Error) => {
      // ioredis reports every failed attempt; the status says it once.
      this.#lastError = err.message;
      this.#update();
    });
    for (const event of ["ready", "close", "end"]) {
      connection.on(event, () => {
        this.#update();
      });
    }
    return connection;
  }

  #update(): void {
    if (this.#closed !== undefined) return; // closing: nothing to report any more
    const connections = [this.#db, this.#stateSub, ...this.#bus];
    const available = this.deviceStores.live && connections.every((c) => c.status === "ready");
    if (available) {
      this.#everAvailable = true;
      this.#lastError = undefined;
    }
    const error = available ? undefined : (this.#lastError ?? (this.#everAvailable ? "the connection was lost" : undefined));
    // Still connecting for the first time, and nothing went wrong: nothing to report yet.
    if (!available && error === undefined) return;
    if (available === this.#status.available && error === this.#status.error) return;
    this.#status = error === undefined ? { available } : { available, error };
    for (const w of [...this.#watchers]) {
      try {
        w.onStatus(this.#status);
      } catch {
        // A watcher's fault must not stop the others.
      }
    }
  }

  #problem(err: Error): void {
    for (const w of [...this.#watchers]) {
      try {
        w.onProblem(err);
      } catch {
        // As above.
      }
    }
  }

  #aborted(): Promise<never> {
    return new Promise((_resolve, reject) => {
      const signal = this.#closing.signal;
      if (signal.aborted) reject(this.#closedError());
      else signal.addEventListener("abort", () => { reject(this.#closedError()); }, { once: true });
    });
  }

  #closedError(): StoreError {
    return new StoreError("closed", this.where, "the broker's Redis store was closed");
  }
}

/** Opens the `redis` persistence (nothing connects before `start`); a TypeError for an unusable URL. */
export function openRedisBackend(options: RedisBackendOptions): RedisBackend {
  return new RedisBackend(options);
}
