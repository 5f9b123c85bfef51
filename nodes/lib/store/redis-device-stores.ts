/**
 * Hosted devices' state in Redis, behind the broker's `DeviceStoreProvider` (docs/ARCHITECTURE.md
 * 1.4, 3.5). Reads stay synchronous because every instance keeps a replica of all devices'
 * state in memory: `start()` subscribes to the change channel and then loads every device (the
 * engine is ready only after that), so `open` is a look-up; changes made by other instances
 * arrive on the channel and are applied as they come (redis-device-store.ts says which win).
 * When the channel's connection drops, changes may have been missed: once it is back, the
 * replica is loaded again, keeping this instance's own unsent writes.
 *
 * How it lies in Redis: redis-state-format.ts.
 */
import type { ChainableCommander, Redis } from "ioredis";
import type { DeviceStore, DeviceStoreProvider } from "../broker/device-store.js";
import { RedisDeviceStore, type Change, type Outgoing, type StoreOwner } from "./redis-device-store.js";
import { INDEX, SCRIPTS, deviceMember, parseChange, parseDeviceHash, queueOutgoing, stateKey, type ScriptCalls } from "./redis-state-format.js";
import { RedisWritePump, type PumpBatch } from "./redis-write-pump.js";
import { StoreError } from "./store-error.js";

/** At most this many changes wait while the replica loads; beyond, it loads again afterwards. */
const MAX_BUFFERED = 100_000;
/** After a failed load of the replica, the next try waits this long. */
const RETRY_MS = 1_000;

export interface RedisDeviceStoresOptions {
  /** Commands, with the broker's key prefix. */
  db: Redis;
  /** A connection of its own for the change channel (a subscribed connection runs no other command). */
  sub: Redis;
  /** The change channel's full name (channels take no key prefix). */
  channel: string;
  /** This instance, in the changes it publishes. */
  origin: string;
  /** The server as errors name it (never with a password). */
  where: string;
  /** A send failed or a change could not be read (once per kind of trouble until it works again). */
  onError?: (err: Error) => void;
  /** The replica became current (true) or may have missed changes (false). */
  onLive?: (live: boolean) => void;
  /**
   * What a device's `flush` waits for besides the state: the history's writes, so an
   * acknowledgement given after it (an HTTP 200) covers the values a write stored in both.
   */
  alsoFlush?: () => Promise<void>;
}

export class RedisDeviceStores implements DeviceStoreProvider, StoreOwner {
  readonly #db: Redis;
  readonly #sub: Redis;
  readonly #options: RedisDeviceStoresOptions;
  readonly #stores = new Map<string, RedisDeviceStore>();
  readonly #dirty = new Set<RedisDeviceStore>();
  readonly #pump: RedisWritePump;
  /** Changes received while the replica loads (undefined: applied as they come). */
  #buffer: Change[] | undefined;
  #overflowed = false;
  #live = false;
  #syncing = false;
  #syncWanted = true;
  #closed = false;
  #reported = false;
  #syncRetry: NodeJS.Timeout | undefined;
  readonly #liveListeners = new Set<() => void>();

  constructor(options: RedisDeviceStoresOptions) {
    this.#options = options;
    this.#db = options.db;
    this.#sub = options.sub;
    for (const [name, script] of Object.entries(SCRIPTS)) this.#db.defineCommand(name, script);
    this.#pump = new RedisWritePump(this.#db, {
      waiting: () => this.#dirty.size > 0,
      take: () => this.#take(),
      unavailable: () => this.#unavailable(),
      closed: () => new StoreError("closed", options.where, "the store is closed"),
      onSent: () => {
        this.#reported = false;
      },
      onFailed: (err) => {
        this.#report(err);
      },
    });
    this.#sub.on("message", (channel: string, text: string) => {
      if (channel === options.channel) this.#received(text);
    });
    this.#sub.on("close", () => {
      this.#setLive(false);
      this.#syncWanted = true;
    });
    this.#sub.on("ready", () => {
      void this.#sync();
    });
    this.#db.on("ready", () => {
      if (this.#syncWanted) void this.#sync();
      else this.#pump.schedule();
    });
  }

  /** Whether the replica is current (loaded and following the channel). */
  get live(): boolean {
    return this.#live;
  }

  /** Subscribes and loads every device's state; resolves once the replica is current (after outages, whenever that is), rejects if the store is shut down first. */
  start(): Promise<void> {
    if (this.#live) return Promise.resolve();
    const current = new Promise<void>((resolve, reject) => {
      const listener = (): void => {
        if (this.#closed) reject(new StoreError("closed", this.#options.where, "the store was shut down while loading"));
        else if (this.#live) resolve();
        else return;
        this.#liveListeners.delete(listener);
      };
      this.#liveListeners.add(listener);
    });
    void this.#sync();
    return current;
  }

  open(plugin: string, deviceId: string): DeviceStore {
    if (this.#closed) throw new StoreError("closed", this.#options.where, `cannot open ${plugin} device ${deviceId}: the store is closed`);
    return this.#storeFor(plugin, deviceId);
  }

  /** The state stays in Redis and in the replica (other instances may still change it). */
  close(_plugin: string, _deviceId: string): void {
    // Nothing to let go: the replica holds every device of the broker.
  }

  /** Removes a device's state (the device was deleted, not just redeployed). */
  forget(plugin: string, deviceId: string): void {
    const store = this.#storeFor(plugin, deviceId);
    for (const section of store.sectionNames()) store.clear(section);
  }

  /** Every state write so far is in Redis (nothing for a flush to wait for). */
  get flushed(): boolean {
    return this.#pump.flushed;
  }

  /** Resolves once every write so far is in Redis; rejects (StoreError "unavailable") while Redis cannot be reached or a send fails. */
  flush(): Promise<void> {
    return this.#pump.flush();
  }

  async flushDevice(): Promise<void> {
    await Promise.all([this.flush(), this.#options.alsoFlush?.()]);
  }

  /** Sends what waits (when Redis answers) and stops; never rejects. Writes Redis could not take are lost with this instance's memory. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#cancelSyncRetry();
    await this.#pump.drain();
    this.#closed = true;
    this.#cancelSyncRetry();
    this.#pump.close(new StoreError("closed", this.#options.where, "the store was closed before the write reached Redis"));
    this.#setLive(false);
    for (const listener of [...this.#liveListeners]) listener();
  }

  touched(store: RedisDeviceStore): void {
    this.#dirty.add(store);
    this.#pump.wrote();
  }

  refuse(store: RedisDeviceStore, section: string, key: string): never {
    throw new StoreError("invalid", this.#options.where, `the value of ${store.plugin} device ${store.deviceId} ${section}/${key} is not JSON (a bigint, a cycle, a function or undefined) or its time is not a number: not stored`);
  }

  #storeFor(plugin: string, deviceId: string): RedisDeviceStore {
    const member = deviceMember(plugin, deviceId);
    let store = this.#stores.get(member);
    if (store === undefined) {
      store = new RedisDeviceStore(this, plugin, deviceId);
      this.#stores.set(member, store);
    }
    return store;
  }

  #cancelSyncRetry(): void {
    if (this.#syncRetry !== undefined) clearTimeout(this.#syncRetry);
    this.#syncRetry = undefined;
  }

  /**
   * One send: every unsent write of every device in one pipeline. Sends go on while the channel
   * is down (its echoes are then lost, which the next load of the replica makes up for).
   */
  #take(): PumpBatch {
    const batch: [RedisDeviceStore, Outgoing][] = [...this.#dirty].map((store) => [store, store.takeUnsent()]);
    this.#dirty.clear();
    const pipeline = this.#db.pipeline() as ChainableCommander & ScriptCalls;
    for (const [store, out] of batch) queueOutgoing(pipeline, this.#options, store, out);
    return {
      pipeline,
      failed: (err) => {
        for (const [store, out] of batch) store.sendFailed(out);
        return new StoreError("unavailable", this.#options.where, `writing the hosted devices' state failed: ${err instanceof Error ? err.message : String(err)}`, err);
      },
    };
  }

  #received(text: string): void {
    const change = parseChange(text);
    if (change === undefined) {
      this.#report(new StoreError("corrupt", this.#options.where, "a message on the state channel is not a change this store wrote: ignored"));
      return;
    }
    if (this.#buffer !== undefined) {
      if (this.#buffer.length < MAX_BUFFERED) this.#buffer.push(change);
      else this.#overflowed = true;
      return;
    }
    this.#storeFor(change.p, change.d).apply(change, change.o === this.#options.origin);
  }

  /** Loads the replica anew (after subscribing, so no change falls between the load and the channel). */
  async #sync(): Promise<void> {
    if (this.#syncing || this.#closed) return;
    this.#syncing = true;
    this.#syncWanted = false;
    this.#setLive(false);
    this.#buffer = [];
    this.#overflowed = false;
    try {
      await this.#sub.subscribe(this.#options.channel);
      await this.#pump.idle();
      for (const store of this.#stores.values()) store.forgetInFlight();
      const members = await this.#db.smembers(INDEX);
      const pipeline = this.#db.pipeline();
      for (const member of members) pipeline.hgetall(stateKey(member));
      const results = members.length === 0 ? [] : ((await pipeline.exec()) ?? []);
      members.forEach((member, i) => {
        const [err, hash] = results[i] ?? [new Error("no answer"), undefined];
        if (err !== null) throw err;
        this.#load(member, hash as Record<string, string>);
      });
      const buffered = this.#buffer;
      this.#buffer = undefined;
      for (const change of buffered) this.#storeFor(change.p, change.d).apply(change, change.o === this.#options.origin);
      // The channel dropped during the load (or changes overflowed): load again once it is back.
      if (this.#changedMeanwhile()) this.#syncWanted = true;
      else if (!this.#isClosed()) this.#setLive(true);
      this.#reported = false;
    } catch (err) {
      this.#buffer = undefined;
      this.#syncWanted = true;
      if (this.#sub.status === "ready" && this.#db.status === "ready") {
        this.#report(new StoreError("unavailable", this.#options.where, `loading the hosted devices' state failed: ${err instanceof Error ? err.message : String(err)}`, err));
      }
    } finally {
      this.#syncing = false;
    }
    if (this.#changedMeanwhile() && !this.#isClosed() && this.#sub.status === "ready" && this.#db.status === "ready") {
      this.#syncRetry ??= setTimeout(() => {
        this.#syncRetry = undefined;
        void this.#sync();
      }, RETRY_MS);
      this.#syncRetry.unref();
    }
    this.#pump.schedule();
  }

  // Methods, not the fields, so checks after an await are not narrowed away by the linter.
  #changedMeanwhile(): boolean {
    return this.#overflowed || this.#syncWanted;
  }

  #isClosed(): boolean {
    return this.#closed;
  }

  #load(member: string, hash: Record<string, string>): void {
    const device = parseDeviceHash(member, hash);
    if (device === undefined) return; // not a member this store wrote
    if (device.damaged) this.#report(new StoreError("corrupt", this.#options.where, `a stored value of ${device.plugin} device ${device.deviceId} is not JSON: skipped`));
    this.#storeFor(device.plugin, device.deviceId).applySnapshot(device.rows);
  }

  #setLive(live: boolean): void {
    if (this.#live === live) return;
    this.#live = live;
    for (const listener of [...this.#liveListeners]) listener();
    try {
      this.#options.onLive?.(live);
    } catch {
      // The listener's fault must not stop the store.
    }
  }

  #unavailable(): StoreError {
    return new StoreError("unavailable", this.#options.where, "Redis cannot be reached: the write is kept in memory and sent once it can");
  }

  #report(err: Error): void {
    if (this.#reported) return;
    this.#reported = true;
    try {
      this.#options.onError?.(err);
    } catch {
      // The listener's fault must not stop the store.
    }
  }
}
