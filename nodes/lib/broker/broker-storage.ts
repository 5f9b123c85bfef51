/**
 * What one `iot-broker` node keeps for its engines in turn (docs/ARCHITECTURE.md 5.5): the MQTT
 * sessions (aedes' persistence, with retained messages and queued QoS 1/2 messages), the hosted
 * devices' state and their history. A redeploy that restarts the broker (changed settings) hands
 * the same storage to the next engine, so nothing of it is lost; it is closed when the node is
 * deleted or Node-RED stops. Memory here; the SQLite file and Redis in store/broker-storage.ts.
 */
import { createHash } from "node:crypto";
import { MemoryDeviceHistory, type DeviceHistory } from "./device-history.js";
import { MemoryDeviceStores, type DeviceStoreProvider } from "./device-store.js";
import { SessionStore } from "./session-store.js";
import type { SharedStore } from "./shared-store.js";

/** The `persistence` settings of a broker node, as node-config.ts reads them. */
export type StorageSettings =
  | { kind: "memory" }
  | { kind: "sqlite"; file: string; retentionDays: number }
  /** `prefix`: of every key and channel, the same for every instance running this broker node. */
  | { kind: "redis"; url: string; password?: string; prefix: string; retentionDays: number };

/** What a storage tells the node that owns it now (the owner changes with each redeploy). */
export interface StorageReporter {
  /** Writing failed (the disk is full, the file went away); writes wait and are retried. */
  failed(err: Error): void;
  /** Writing works again. */
  recovered(): void;
  /** A stored value could not be read back (a damaged row) and was skipped. */
  badRow(what: string): void;
  /** Something failed that is retried while the storage stays usable (a write to Redis, a change it could not read). */
  problem?(err: Error): void;
}

export interface BrokerStorage {
  /** Same key, same storage: settings with this key are served by this storage object (same kind, same file). */
  readonly key: string;
  readonly sessions: SessionStore;
  readonly deviceStores: DeviceStoreProvider;
  readonly history: DeviceHistory;
  /**
   * Resolves once everything stored so far would survive a crash; returns undefined when nothing
   * waits to be written. undefined itself: nothing ever to wait for (memory).
   */
  readonly flush: (() => Promise<void> | undefined) | undefined;
  /** Takes settings with the same key that may differ otherwise (retention). */
  update(settings: StorageSettings): void;
  /** Where problems go from now on (undefined: nowhere). */
  report(reporter: StorageReporter | undefined): void;
  /** The error while writing keeps failing, else undefined. */
  failure(): Error | undefined;
  /** Shared with other Node-RED instances (`redis`): each engine runs its aedes on it (shared-store.ts). */
  readonly shared?: SharedStore;
  /** Closes it, after the last engine on it closed (Redis: once what waits was sent); never rejects (a failure goes to the reporter). */
  close(): Promise<void>;
}

/** The key of the storage that serves `settings`. */
export function storageKey(settings: StorageSettings): string {
  if (settings.kind === "memory") return "memory";
  if (settings.kind === "sqlite") return `sqlite:${settings.file}`;
  // Another server, prefix or password needs new connections. A digest: the URL may hold a password too.
  return `redis:${createHash("sha256").update(JSON.stringify([settings.url, settings.prefix, settings.password ?? ""])).digest("hex")}`;
}

/** What an engine takes from a storage (BrokerOptions). */
export function engineStorageOptions(storage: BrokerStorage): { sessions: SessionStore; deviceStores: DeviceStoreProvider; history: DeviceHistory; flush?: () => Promise<void> | undefined; shared?: SharedStore } {
  return {
    sessions: storage.sessions,
    deviceStores: storage.deviceStores,
    history: storage.history,
    ...(storage.flush === undefined ? {} : { flush: storage.flush }),
    ...(storage.shared === undefined ? {} : { shared: storage.shared }),
  };
}

/**
 * Memory for one broker node: its sessions, and one device store provider and history that
 * outlive its engines, so a restart of the broker on a redeploy keeps hosted devices' state too.
 * A device's state stays until the broker node goes (a deleted device's too: bounded by the
 * devices that were ever hosted on it since).
 */
export function memoryStorage(): BrokerStorage {
  const sessions = new SessionStore();
  return {
    key: "memory",
    sessions,
    deviceStores: new MemoryDeviceStores({ keepClosed: true }),
    history: new MemoryDeviceHistory(),
    flush: undefined,
    update: () => undefined,
    report: () => undefined,
    failure: () => undefined,
    close: () => {
      sessions.destroy();
      return Promise.resolve();
    },
  };
}
