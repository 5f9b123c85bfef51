/**
 * What a broker keeps for its clients across restarts of its engine: sessions, subscriptions,
 * QoS 1/2 messages queued for clean:false clients, retained messages and wills (aedes'
 * persistence). An `iot-broker` node whose settings change gets a new engine but the same store,
 * so no acknowledged message is lost on a redeploy.
 *
 * Memory: the first engine lets aedes create its in-memory persistence and the store keeps it. A
 * durable store (SQLite) gives its persistence to the constructor; its owner (the broker node's
 * storage, broker-storage.ts) closes the file once the last engine on it has closed.
 */

/** aedes' persistence, opaque to us: handed from one aedes instance to the next. */
export type AedesPersistence = object;

/** What an engine holds while it runs on the store. */
export interface StoreLease {
  /** undefined: let aedes create its (memory) persistence. */
  readonly persistence: AedesPersistence | undefined;
  /**
   * aedes tells queued messages apart by broker id and a per-broker counter; the next engine has
   * the same id and continues the count, so its messages never share a number with queued ones.
   */
  readonly counter: number;
  /** The engine stopped using the store (its aedes closed): the next engine may start. */
  end(persistence: AedesPersistence | undefined, counter: number): void;
}

export interface SessionStoreOptions {
  /** A durable persistence to hand to every engine (default: the memory persistence the first aedes makes). */
  persistence?: AedesPersistence;
  /**
   * The highest message counter of `brokerId` among the messages the persistence holds: an engine
   * whose id queued messages before (in the file) counts on from there.
   */
  highestCounter?: (brokerId: string) => number;
}

export class SessionStore {
  #persistence: AedesPersistence | undefined;
  #counter = 0;
  readonly #highestCounter: ((brokerId: string) => number) | undefined;
  /** Resolves when the engine holding the store let go: two aedes never share a persistence. */
  #free: Promise<void> = Promise.resolve();
  #destroyed = false;

  constructor(options: SessionStoreOptions = {}) {
    this.#persistence = options.persistence;
    this.#highestCounter = options.highestCounter;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Waits until the previous engine ended its lease, then hands the store over to the engine with aedes id `brokerId`. */
  async lease(brokerId?: string): Promise<StoreLease> {
    const previous = this.#free;
    let release = (): void => undefined;
    this.#free = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    if (this.#destroyed) {
      release();
      throw new Error("the broker's session store was discarded");
    }
    let ended = false;
    const stored = brokerId === undefined ? 0 : (this.#highestCounter?.(brokerId) ?? 0);
    return {
      persistence: this.#persistence,
      counter: Math.max(this.#counter, stored),
      end: (persistence, counter) => {
        if (ended) return;
        ended = true;
        if (!this.#destroyed) {
          this.#persistence = persistence ?? this.#persistence;
          this.#counter = Math.max(this.#counter, counter);
        }
        release();
      },
    };
  }

  /**
   * The broker node is gone: drops the sessions. The memory persistence is left to the garbage
   * collector (an engine may still be closing on it); a durable one is closed by its owner.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#persistence = undefined;
  }
}
