/**
 * What several Node-RED instances share when their broker node's storage is `redis`
 * (docs/ARCHITECTURE.md 3.6): aedes' message bus and persistence, in one server that can go
 * away. The broker node's storage (broker-storage.ts `BrokerStorage.shared`) owns it and closes
 * it; each engine starts its aedes on it (`attach`) and, through `SharedGate`, refuses and cuts
 * off clients while it cannot be reached.
 */
import type { Aedes } from "./aedes-types.js";

export interface SharedStatus {
  readonly available: boolean;
  /** Why it is not (a server's message, never a password). */
  readonly error?: string;
}

/** What one aedes instance runs on (a new pair per engine: aedes closes its bus). */
export interface SharedAedes {
  readonly mq: object;
  readonly persistence: object;
  /** aedes never ran on it (its start failed): lets its connections go. */
  discard(): Promise<void>;
}

export interface SharedStore {
  /** The kind, in events ("redis"). */
  readonly kind: string;
  /** Where it is, as messages may name it (never with a password). */
  readonly where: string;
  readonly status: SharedStatus;
  /** Resolves once available (connected, state loaded), however long that takes; rejects if the store closes or `signal` fires first. */
  start(signal?: AbortSignal): Promise<void>;
  /** The bus and persistence for one engine's aedes, once their connections are up (rejects as `start`). */
  attach(signal?: AbortSignal): Promise<SharedAedes>;
  /** `onStatus` on every change of availability. Returns a function that stops it. */
  watch(onStatus: (status: SharedStatus) => void): () => void;
}

export interface GateEvents {
  unavailable(error: string): void;
  available(downForMs: number): void;
  /** Cut every connected client off. */
  disconnectAll(): void;
  /** Close the connections waiting for aedes to start (it waits for the store). */
  dropWaiting(): void;
}

/**
 * What an engine on a shared store does while the store cannot be reached. Every message then
 * fails (the bus is in the store, so even local delivery stops; a QoS 1 message is not
 * acknowledged, puback-after-publish.ts), so the engine refuses new connections (CONNACK
 * "server unavailable") and closes the connected ones: devices reconnect, to another instance
 * that can reach the store if there is one, or here once it is back, and send again what was
 * not acknowledged. It accepts again by itself once the store is back.
 */
export class SharedGate {
  readonly #store: SharedStore;
  readonly #events: GateEvents;
  readonly #stop: () => void;
  #downSince: number | undefined;
  #lastError: string | undefined;
  /** Until the engine's aedes runs there is nobody to cut off; outages are still reported. */
  running = false;

  constructor(store: SharedStore, events: GateEvents) {
    this.#store = store;
    this.#events = events;
    this.#stop = store.watch((status) => {
      this.#changed(status);
    });
    // An engine started on a store that is already away (a redeploy during an outage) hears it now.
    if (!store.status.available && store.status.error !== undefined) this.#changed(store.status);
  }

  /** The store went away (an error is known) and is not back: an outage, not a first connect still under way. */
  get outage(): boolean {
    return this.#downSince !== undefined;
  }

  /** Why a CONNECT is refused now, or undefined to let it through. */
  get refusal(): string | undefined {
    return this.#store.status.available ? undefined : `the broker's ${this.#store.kind} store (${this.#store.where}) cannot be reached`;
  }

  release(): void {
    this.#stop();
  }

  #changed(status: SharedStatus): void {
    if (!status.available) {
      const first = this.#downSince === undefined;
      this.#downSince ??= Date.now();
      const error = status.error ?? "disconnected";
      // Once per outage, and again only when the reason changes (a reconnect refused for another reason).
      if (first || error !== this.#lastError) this.#events.unavailable(error);
      this.#lastError = error;
      if (first) {
        if (this.running) this.#events.disconnectAll();
        else this.#events.dropWaiting();
      }
      return;
    }
    if (this.#downSince === undefined) return;
    const downFor = Date.now() - this.#downSince;
    this.#downSince = undefined;
    this.#lastError = undefined;
    this.#events.available(downFor);
  }
}

/**
 * A client that resumed its session on another instance is that instance's now. aedes closes
 * this instance's connection of it, if any, but keeps the timers it armed when the client left
 * here: an MQTT 5 session expiry would then wipe the session (its subscriptions and queued
 * messages, in the shared store) under the other instance, and a delayed will would be
 * published for a client that is back. Both are cancelled when another instance announces it.
 */
export function followSessionsElsewhere(aedes: Aedes): void {
  const own = aedes.id;
  const timers = aedes as unknown as { clearSessionExpiry(clientId: string): void; clearDelayedWill(clientId: string): void };
  aedes.subscribe(
    "$SYS/+/new/clients",
    (packet: { topic: string; payload: Buffer | string }, done: () => void) => {
      if (packet.topic.split("/")[1] !== own) {
        const clientId = packet.payload.toString();
        timers.clearSessionExpiry(clientId);
        timers.clearDelayedWill(clientId);
      }
      done();
    },
    () => undefined,
  );
}
