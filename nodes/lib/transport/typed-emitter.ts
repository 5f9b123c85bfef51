import { EventEmitter } from "node:events";

/** Maps event names to listener argument tuples. */
export type EventMap = Record<string, unknown[]>;

/**
 * EventEmitter with checked event names and arguments. `emit` is guarded: a listener that
 * throws must not unwind into a socket or timer callback and take Node-RED down with it, so
 * such an error is re-emitted as `listenerError` (or dropped if nobody listens for that).
 */
export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor() {
    this.#emitter.setMaxListeners(0);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount(event: keyof E & string): number {
    return this.#emitter.listenerCount(event);
  }

  removeAllListeners(): this {
    this.#emitter.removeAllListeners();
    return this;
  }

  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    // rawListeners, not listeners: calling the raw wrapper is what removes a `once` listener.
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (...a: E[K]) => void)(...args);
      } catch (err) {
        if (event !== "listenerError" && this.#emitter.listenerCount("listenerError") > 0) {
          try {
            this.#emitter.emit("listenerError", err, event);
          } catch {
            // A throwing listenerError listener must not escape either.
          }
        }
      }
    }
  }
}
