/**
 * A broker node's `redis` persistence as its `BrokerStorage` (docs/ARCHITECTURE.md 3.6): the
 * Redis store (redis-store.ts) under the broker node's prefix, opened once per broker node and
 * handed to the next engine on a redeploy like the SQLite file. Its engines run their aedes on
 * it (`shared`); the session store only passes the lease from one engine to the next (each engine
 * gets a Redis persistence of its own, on its own message bus). An outage is the storage's
 * failure: the node's status and log say so until Redis is back.
 */
import { storageKey, type BrokerStorage, type StorageReporter, type StorageSettings } from "../broker/broker-storage.js";
import { SessionStore } from "../broker/session-store.js";
import { openRedisStore, type RedisStore, type RedisStoreOptions } from "./redis-store.js";
import { StoreError } from "./store-error.js";

export type RedisStorageSettings = Extract<StorageSettings, { kind: "redis" }>;

/** Opens the storage and starts connecting (an outage from here on is reported); a TypeError for an unusable URL. */
export function openRedisStorage(settings: RedisStorageSettings, options: Pick<RedisStoreOptions, "history" | "maxSessionDelivery"> = {}): BrokerStorage & { readonly store: RedisStore } {
  let reporter: StorageReporter | undefined;
  let failure: StoreError | undefined;
  const quietly = (call: (r: StorageReporter) => void): void => {
    try {
      if (reporter !== undefined) call(reporter);
    } catch {
      // A reporter's fault must not reach the store.
    }
  };
  const store = openRedisStore({
    url: settings.url,
    password: settings.password,
    prefix: settings.prefix,
    maxSessionDelivery: options.maxSessionDelivery,
    history: { ...options.history, retentionDays: settings.retentionDays },
    onProblem: (err) => {
      quietly((r) => { r.problem?.(err); });
    },
  });
  store.watch((status) => {
    if (!status.available) {
      // Reported once per outage; a later reason (a reconnect refused otherwise) only updates failure().
      const first = failure === undefined;
      failure = new StoreError("unavailable", store.where, status.error ?? "disconnected");
      const err = failure;
      if (first) quietly((r) => { r.failed(err); });
    } else if (failure !== undefined) {
      failure = undefined;
      quietly((r) => { r.recovered(); });
    }
  });
  // Connecting now: an engine's start waits for it, and an outage shows even before one runs.
  store.start().catch(() => undefined);
  const sessions = new SessionStore();
  return {
    key: storageKey(settings),
    store,
    sessions,
    deviceStores: store.deviceStores,
    history: store.history,
    // Nothing waiting to be written (clean sessions, no hosted device): no promise to wait on, the PUBACK goes at once (as with SQLite).
    flush: () => (store.flushed ? undefined : store.flush()),
    shared: store,
    update: (next) => {
      if (next.kind === "redis" && next.retentionDays !== store.history.retentionDays) store.history.retentionDays = next.retentionDays;
    },
    report: (next) => {
      reporter = next;
    },
    failure: () => failure,
    close: async () => {
      sessions.destroy();
      await store.close();
    },
  };
}
