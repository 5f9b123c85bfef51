/**
 * What the broker knows of its hosted devices' state, for readers that watch all of them at once
 * (the editor's "IoT devices" sidebar): the engine's `DeviceStoreProvider` seen through this
 * wrapper lists the stores open now (every hosted device of the engine, and fleet tables) and
 * tells watchers which device's state changed. Platform-blind: a watcher learns the plugin, the
 * device id and the section, and reads the store itself. Values are never secrets (device-store.ts).
 *
 * Costs nothing per write while nobody watches but one size check; watchers are called
 * synchronously inside the write (inside a device's publish hook), so they must only mark what
 * changed and do the work later (a throw is caught and dropped).
 */
import type { DeviceStore, DeviceStoreProvider, StoredJson, StoredValue } from "./device-store.js";

/** Device `deviceId` of `plugin` changed `section` (a set, delete or clear), at `at` (ms; now for a delete). */
export type DeviceChange = (plugin: string, deviceId: string, section: string, at: number) => void;

const keyOf = (plugin: string, deviceId: string): string => `${plugin}\u0000${deviceId}`;

export class WatchedDeviceStores implements DeviceStoreProvider {
  readonly #inner: DeviceStoreProvider;
  readonly #watchers = new Set<DeviceChange>();
  /** The stores open now, by plugin and device id, as handed out (the watching wrapper). */
  readonly #open = new Map<string, { plugin: string; deviceId: string; store: WatchedStore }>();

  constructor(inner: DeviceStoreProvider) {
    this.#inner = inner;
  }

  open(plugin: string, deviceId: string): DeviceStore {
    const key = keyOf(plugin, deviceId);
    const inner = this.#inner.open(plugin, deviceId);
    const known = this.#open.get(key);
    if (known?.store.inner === inner) return known.store;
    const store = new WatchedStore(inner, (section, at) => {
      this.#changed(plugin, deviceId, section, at);
    });
    this.#open.set(key, { plugin, deviceId, store });
    return store;
  }

  close(plugin: string, deviceId: string): void {
    this.#open.delete(keyOf(plugin, deviceId));
    this.#inner.close(plugin, deviceId);
  }

  /** The store of a device open now (never opens one), or undefined. */
  opened(plugin: string, deviceId: string): DeviceStore | undefined {
    return this.#open.get(keyOf(plugin, deviceId))?.store;
  }

  /** Every device with a store open now: plugin and id. */
  devices(): { plugin: string; deviceId: string }[] {
    return [...this.#open.values()].map(({ plugin, deviceId }) => ({ plugin, deviceId }));
  }

  /** Calls `watcher` on every change of any device's state until the returned function is called. */
  watch(watcher: DeviceChange): () => void {
    this.#watchers.add(watcher);
    return () => {
      this.#watchers.delete(watcher);
    };
  }

  #changed(plugin: string, deviceId: string, section: string, at: number): void {
    if (this.#watchers.size === 0) return;
    for (const watcher of this.#watchers) {
      try {
        watcher(plugin, deviceId, section, at);
      } catch {
        // A watcher's problem must not fail a device's write.
      }
    }
  }
}

/** One device's store, telling its provider about every change. */
class WatchedStore implements DeviceStore {
  readonly inner: DeviceStore;
  readonly #changed: (section: string, at: number) => void;

  constructor(inner: DeviceStore, changed: (section: string, at: number) => void) {
    this.inner = inner;
    this.#changed = changed;
  }

  get(section: string, key: string): StoredValue | undefined {
    return this.inner.get(section, key);
  }

  entries(section: string): [string, StoredValue][] {
    return this.inner.entries(section);
  }

  size(section: string): number {
    return this.inner.size(section);
  }

  set(section: string, key: string, value: StoredJson, at: number): void {
    this.inner.set(section, key, value, at);
    this.#changed(section, at);
  }

  delete(section: string, key: string): boolean {
    const deleted = this.inner.delete(section, key);
    if (deleted) this.#changed(section, Date.now());
    return deleted;
  }

  clear(section: string): void {
    this.inner.clear(section);
    this.#changed(section, Date.now());
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }
}
