/**
 * A broker node's `sqlite` persistence (docs/ARCHITECTURE.md 1.4): one SQLite file holding the
 * MQTT sessions and retained messages (aedes' persistence, handed to each engine by the session
 * store), the hosted devices' state and their history. Opened once per broker node and handed to
 * the next engine on a redeploy (a second open of the file in this process is refused), closed
 * when the node is deleted or Node-RED stops.
 */
import { memoryStorage, type BrokerStorage, type StorageReporter, type StorageSettings } from "../broker/broker-storage.js";
import { SessionStore } from "../broker/session-store.js";
import { sqliteDeviceHistory } from "./sqlite-history.js";
import { openRedisStorage } from "./redis-storage.js";
import { openSqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";

export type SqliteStorageSettings = Extract<StorageSettings, { kind: "sqlite" }>;

/** Opens (creating it and its folder) the file; throws a StoreError naming the file if it cannot be used. */
export function openSqliteStorage(settings: SqliteStorageSettings, options: Omit<SqliteStoreOptions, "onError" | "onRecovered" | "onBadRow"> = {}): BrokerStorage {
  let reporter: StorageReporter | undefined;
  const quietly = (call: (r: StorageReporter) => void): void => {
    try {
      if (reporter !== undefined) call(reporter);
    } catch {
      // A reporter's fault must not reach the store's commit.
    }
  };
  const store = openSqliteStore(settings.file, {
    ...options,
    history: { ...options.history, retentionDays: settings.retentionDays },
    onError: (err) => {
      quietly((r) => { r.failed(err); });
    },
    onRecovered: () => {
      quietly((r) => { r.recovered(); });
    },
    onBadRow: (plugin, deviceId, section, key) => {
      quietly((r) => { r.badRow(`${plugin} device ${deviceId} ${section}/${key}`); });
    },
  });
  const mqtt = store.mqtt;
  const sessions = new SessionStore({ persistence: mqtt, highestCounter: (brokerId) => mqtt.highestCounter(brokerId), restored: (brokerId) => mqtt.isRestored(brokerId) });
  return {
    key: `sqlite:${settings.file}`,
    sessions,
    deviceStores: store.deviceStores,
    history: sqliteDeviceHistory(store.history),
    // Nothing waiting (a broker whose clients use clean sessions and host no device): no promise to wait on.
    flush: () => (store.commit.pending === 0 && !store.commit.closed ? undefined : store.flush()),
    update: (next) => {
      if (next.kind === "sqlite" && next.retentionDays !== store.history.retentionDays) store.history.retentionDays = next.retentionDays;
    },
    report: (next) => {
      reporter = next;
    },
    failure: () => store.commit.failure,
    close: () => {
      sessions.destroy();
      store.close();
      return Promise.resolve();
    },
  };
}

/** The storage `settings` name: memory, the SQLite file (a StoreError naming it if it cannot be used), or Redis (redis-storage.ts). */
export function openBrokerStorage(settings: StorageSettings): BrokerStorage {
  if (settings.kind === "memory") return memoryStorage();
  return settings.kind === "sqlite" ? openSqliteStorage(settings) : openRedisStorage(settings);
}
