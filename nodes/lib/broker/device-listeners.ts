/**
 * How a hosted device's runtime tells whoever follows it (the hosted-device handles,
 * broker/hosted-device.ts) what the device sent, whether it is connected and what it said about
 * itself; a listener that throws never reaches the broker hook the runtime runs in
 * (docs/ARCHITECTURE.md 3.5).
 */

/** Whether the device is connected now, and through which connection. */
export interface OnlineState {
  online: boolean;
  clientId?: string;
  remoteAddress?: string;
  protocolVersion?: number;
}

/** What a hosted device's runtime tells the handles that follow it. */
export interface DeviceListener<Up, Info> {
  uplink(message: Up): void;
  online(state: OnlineState): void;
  info(info: Info): void;
}

/**
 * The listeners of one runtime. The runtime calls `uplink`/`online`/`info`; a listener that
 * throws is reported to `onError` and keeps the others from nothing (the device's traffic runs
 * in broker hooks, which must not throw).
 */
export class DeviceListeners<Up, Info> {
  readonly #listeners = new Set<DeviceListener<Up, Info>>();
  readonly #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void) {
    this.#onError = onError;
  }

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: DeviceListener<Up, Info>): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  uplink(message: Up): void {
    for (const l of this.#listeners) this.#call(() => { l.uplink(message); });
  }

  online(state: OnlineState): void {
    for (const l of this.#listeners) this.#call(() => { l.online(state); });
  }

  info(info: Info): void {
    for (const l of this.#listeners) this.#call(() => { l.info(info); });
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.#onError(err);
      } catch {
        // The reporter failing must not break the broker hook this runs in.
      }
    }
  }
}
