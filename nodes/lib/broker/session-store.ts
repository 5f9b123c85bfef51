/**
 * What a broker keeps for its clients across restarts of its engine: sessions, subscriptions,
 * QoS 1/2 messages queued for clean:false clients, retained messages and wills (aedes'
 * persistence). An `iot-broker` node whose settings change gets a new engine but the same store,
 * so no acknowledged message is lost on a redeploy.
 *
 * Memory today: the first engine lets aedes create its in-memory persistence and the store keeps
 * it. A durable store (SQLite, Redis) comes in here later: it hands its persistence to `lease()`
 * and closes it in `destroy()`; nothing else changes.
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

export class SessionStore {
  #persistence: AedesPersistence | undefined;
  #counter = 0;
  /** Resolves when the engine holding the store let go: two aedes never share a persistence. */
  #free: Promise<void> = Promise.resolve();
  #destroyed = false;

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Waits until the previous engine ended its lease, then hands the store over. */
  async lease(): Promise<StoreLease> {
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
    return {
      persistence: this.#persistence,
      counter: this.#counter,
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
   * collector (an engine may still be closing on it); a durable store would close its files here.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#persistence = undefined;
  }
}
