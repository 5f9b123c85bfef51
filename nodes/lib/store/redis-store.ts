/**
 * The broker's `redis` persistence (docs/ARCHITECTURE.md 1.4, 3.6): several Node-RED instances
 * running the same flows share one Redis. One per broker node (store/broker-storage.ts makes it
 * the node's `BrokerStorage`): a command connection (aedes' persistence: sessions, queued QoS 1/2
 * messages, retained messages, wills; the hosted devices' state and history), a subscribed
 * connection for state changes, and per engine's aedes the two connections of its message bus
 * (mqemitter-redis). Everything lives under `prefix` (keys and channels), so one Redis can hold
 * several brokers. Available means: every connection is ready and the device-state replica is
 * current.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { SharedAedes, SharedStatus, SharedStore } from "../broker/shared-store.js";
import { redisAedesPersistence } from "./redis-aedes-persistence.js";
import { describeRedis, endConnection, openConnection, whenReady, type RedisTarget } from "./redis-connection.js";
import { RedisDeviceStores } from "./redis-device-stores.js";
import { openRedisEmitter } from "./redis-emitter.js";
import { RedisHistory, type RedisHistoryOptions } from "./redis-history.js";
import { StoreError } from "./store-error.js";

export interface RedisStoreOptions extends RedisTarget {
  /** Prefix of every key and channel: the same for every instance of one broker (default "iot-bridge:"). */
  prefix?: string;
  history?: RedisHistoryOptions;
  /** Queued messages one session delivers at most when it resumes (aedes-persistence-redis; default 1000). */
  maxSessionDelivery?: number;
  /** Trouble worth a report while the store stays usable (a failed write, retried; a change it could not read). */
  onProblem?: (err: Error) => void;
}

export class RedisStore implements SharedStore {
  readonly kind = "redis";
  readonly where: string;
  readonly deviceStores: RedisDeviceStores;
  readonly history: RedisHistory;
  readonly #options: RedisStoreOptions;
  readonly #prefix: string;
  readonly #db: Redis;
  readonly #stateSub: Redis;
  /** The bus connections of the aedes instances attached (one normally; two briefly on a redeploy). */
  readonly #bus = new Set<Redis>();
  readonly #watchers = new Set<(status: SharedStatus) => void>();
  readonly #closing = new AbortController();
  #status: SharedStatus = { available: false };
  #lastError: string | undefined;
  #started = false;
  #everAvailable = false;
  #closed: Promise<void> | undefined;

  constructor(options: RedisStoreOptions) {
    this.#options = options;
    this.where = describeRedis(options.url);
    this.#prefix = options.prefix ?? "iot-bridge:";
    this.#db = this.#connection("db", { keyPrefix: this.#prefix });
    this.#stateSub = this.#connection("state", { queueWhileDown: true });
    const problem = (err: Error): void => {
      this.#problem(err);
    };
    this.history = new RedisHistory(this.#db, this.where, { ...options.history, onError: problem });
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
      alsoFlush: () => this.history.flush(),
    });
  }

  get status(): SharedStatus {
    return this.#status;
  }

  /** Everything written so far (hosted devices' state and history) is in Redis: a flush would resolve at once. */
  get flushed(): boolean {
    return this.deviceStores.flushed && this.history.flushed;
  }

  /** Resolves once everything written so far (hosted devices' state and history) is in Redis; rejects (StoreError "unavailable") while Redis cannot be reached. */
  async flush(): Promise<void> {
    await Promise.all([this.deviceStores.flush(), this.history.flush()]);
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      for (const c of [this.#db, this.#stateSub]) c.connect().catch(() => undefined); // failures come as "error" events, retried
    }
    const stop = this.#until(signal);
    try {
      await Promise.race([this.deviceStores.start(), stop.aborted]);
    } finally {
      stop.release();
    }
  }

  async attach(signal?: AbortSignal): Promise<SharedAedes> {
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
    const stop = this.#until(signal);
    try {
      await Promise.race([Promise.all([whenReady(pub, this.#closing.signal), whenReady(sub, this.#closing.signal)]), stop.aborted]);
    } catch (err) {
      await discard();
      throw err;
    } finally {
      stop.release();
    }
    // Counted in the status from now on (while they connect, the engine's start is what waits).
    this.#bus.add(pub).add(sub);
    const mq = openRedisEmitter(`${this.#prefix}mq:`, pub, sub, (err) => {
      this.#problem(err);
    });
    const persistence = redisAedesPersistence(this.#db, this.#options.maxSessionDelivery === undefined ? {} : { maxSessionDelivery: this.#options.maxSessionDelivery });
    this.#update();
    return {
      mq,
      persistence,
      discard: async () => {
        await discard();
      },
    };
  }

  watch(onStatus: (status: SharedStatus) => void): () => void {
    this.#watchers.add(onStatus);
    return () => {
      this.#watchers.delete(onStatus);
    };
  }

  /** Sends what waits (when Redis answers), then disconnects (at once while it cannot be reached). Safe to call more than once; never rejects. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort(this.#closedError());
      await Promise.all([this.deviceStores.shutdown(), this.history.shutdown()]);
      // The bus connections are ended by aedes (its mq.close) or by discard(); these are left over from a start cut short.
      await Promise.all([...this.#bus, this.#stateSub, this.#db].map((c) => endConnection(c)));
      this.#bus.clear();
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
    // A closed engine's bus (aedes ended it; a connection ended while reconnecting says nothing) counts no more.
    for (const c of this.#bus) if (c.status === "end") this.#bus.delete(c);
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
    for (const watcher of [...this.#watchers]) {
      try {
        watcher(this.#status);
      } catch {
        // A watcher's fault must not stop the others.
      }
    }
  }

  #problem(err: Error): void {
    // While Redis cannot be reached the outage says it all (every connection reports each retry).
    if (!this.#status.available) return;
    try {
      this.#options.onProblem?.(err);
    } catch {
      // The listener's fault must not stop the store.
    }
  }

  /** A promise that rejects when the store closes or `signal` fires; `release` stops listening. */
  #until(signal: AbortSignal | undefined): { aborted: Promise<never>; release: () => void } {
    const signals = signal === undefined ? [this.#closing.signal] : [this.#closing.signal, signal];
    let release = (): void => undefined;
    const aborted = new Promise<never>((_resolve, reject) => {
      const fired = signals.find((s) => s.aborted);
      if (fired !== undefined) {
        reject(reasonOf(fired));
        return;
      }
      const listeners = signals.map((s) => {
        const listener = (): void => {
          reject(reasonOf(s));
        };
        s.addEventListener("abort", listener, { once: true });
        return [s, listener] as const;
      });
      release = () => {
        for (const [s, listener] of listeners) s.removeEventListener("abort", listener);
      };
    });
    aborted.catch(() => undefined); // raced: the race's own rejection is what reports it
    return { aborted, release: () => { release(); } };
  }

  #closedError(): StoreError {
    return new StoreError("closed", this.where, "the broker's Redis store was closed");
  }
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

/** Opens the `redis` persistence (nothing connects before `start`); a TypeError for an unusable URL. */
export function openRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
