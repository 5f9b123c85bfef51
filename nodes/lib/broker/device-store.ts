/**
 * What the broker keeps of each hosted device: its current state, by section and key, each
 * value with the time it was current. Platform-blind: a platform names its sections ("ds",
 * "meta", "client:", "feed", ...) and gives them meaning in a typed view of its own; the
 * broker's persistence setting decides where the entries live: memory (per broker node, or per
 * engine for an engine made without a provider) or SQLite (store/). A durable store implements
 * the same interface (reads answered from memory, writes also kept on disk), so neither the
 * emulations nor the local-mode links change with it.
 *
 * Values must be JSON (what a durable store can write) and are never secrets: state is keyed by
 * the device's id, never by a token, key or password (docs/ARCHITECTURE.md 3.5).
 */

/** What a store holds: JSON, as a durable store writes it. */
export type StoredJson = string | number | boolean | null | StoredJson[] | { [key: string]: StoredJson };

export interface StoredValue {
  readonly value: StoredJson;
  /** When the value was current (ms since the epoch): when it was written, or a point's own time. */
  readonly at: number;
}

/**
 * One hosted device's state. Reads are synchronous (answers to a device go out from its
 * publish hook); a store that writes to disk does so behind `set`/`delete` and makes them
 * durable by `flush`. Entries of a section keep the order they were first written in.
 */
export interface DeviceStore {
  /** The entry `key` of `section`, or undefined. */
  get(section: string, key: string): StoredValue | undefined;
  /** Every entry of `section`, oldest first-written first (a copy: changing the store does not change it). */
  entries(section: string): [string, StoredValue][];
  /** How many entries `section` has. */
  size(section: string): number;
  /** Sets entry `key` of `section` (keeps its place if it existed). The caller must not change `value` afterwards. */
  set(section: string, key: string, value: StoredJson, at: number): void;
  /** Removes entry `key` of `section`; whether there was one. */
  delete(section: string, key: string): boolean;
  /** Removes every entry of `section`. */
  clear(section: string): void;
  /** Resolves once everything set so far would survive a crash (at once for memory). */
  flush(): Promise<void>;
}

/** Where a broker's hosted devices keep their state (the broker's persistence setting). */
export interface DeviceStoreProvider {
  /** The store of device `deviceId` of `plugin`: the same state as last time for a durable provider. */
  open(plugin: string, deviceId: string): DeviceStore;
  /** The device is no longer hosted on this engine: a memory provider forgets it, a durable one keeps it. */
  close(plugin: string, deviceId: string): void;
}

/** A device's state in memory. */
export class MemoryDeviceStore implements DeviceStore {
  readonly #sections = new Map<string, Map<string, StoredValue>>();

  get(section: string, key: string): StoredValue | undefined {
    return this.#sections.get(section)?.get(key);
  }

  entries(section: string): [string, StoredValue][] {
    const entries = this.#sections.get(section);
    return entries === undefined ? [] : [...entries];
  }

  size(section: string): number {
    return this.#sections.get(section)?.size ?? 0;
  }

  set(section: string, key: string, value: StoredJson, at: number): void {
    let entries = this.#sections.get(section);
    if (entries === undefined) {
      entries = new Map();
      this.#sections.set(section, entries);
    }
    entries.set(key, { value, at });
  }

  delete(section: string, key: string): boolean {
    return this.#sections.get(section)?.delete(key) ?? false;
  }

  clear(section: string): void {
    this.#sections.delete(section);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}

export interface MemoryDeviceStoresOptions {
  /**
   * Keep a device's state when it is closed: the provider of a broker node, handed from engine to
   * engine, so a redeploy that restarts the broker keeps its devices' state. Default: forget it.
   */
  keepClosed?: boolean;
}

/** Memory for every device of one engine (or, keeping closed ones, of one broker node's engines in turn). */
export class MemoryDeviceStores implements DeviceStoreProvider {
  readonly #stores = new Map<string, MemoryDeviceStore>();
  readonly #keepClosed: boolean;

  constructor(options: MemoryDeviceStoresOptions = {}) {
    this.#keepClosed = options.keepClosed ?? false;
  }

  open(plugin: string, deviceId: string): DeviceStore {
    const key = `${plugin}\u0000${deviceId}`;
    let store = this.#stores.get(key);
    if (store === undefined) {
      store = new MemoryDeviceStore();
      this.#stores.set(key, store);
    }
    return store;
  }

  close(plugin: string, deviceId: string): void {
    if (!this.#keepClosed) this.#stores.delete(`${plugin}\u0000${deviceId}`);
  }
}
