/**
 * A store several broker instances share (the `redis` persistence): aedes' message bus and
 * persistence, the hosted devices' state and history, all in one server that can go away. The
 * engine starts it, runs its aedes on it under an id of its own (two instances running the same
 * flow must not share one: aedes' duplicate filter would drop QoS 1 messages between them), and
 * closes it. What the engine does while the store cannot be reached is `BackendGate`'s job
 * (docs/ARCHITECTURE.md 3.6).
 */
import { randomUUID } from "node:crypto";
import type { DeviceHistory } from "./device-history.js";
import type { DeviceStoreProvider } from "./device-store.js";

export interface BackendStatus {
  readonly available: boolean;
  /** Why it is not (a server's message, never a password). */
  readonly error?: string;
}

/** What one aedes instance runs on (a new pair per engine: aedes closes its bus). */
export interface BackendAedes {
  readonly mq: object;
  readonly persistence: object;
  /** aedes never ran on it (its start failed): lets its connections go. */
  discard(): Promise<void>;
}

export interface BrokerBackend {
  /** The kind, in events ("redis"). */
  readonly kind: string;
  /** Where it is, as messages may name it (never with a password). */
  readonly where: string;
  readonly deviceStores: DeviceStoreProvider;
  readonly history: DeviceHistory;
  readonly status: BackendStatus;
  /** Connects and loads what synchronous reads need; resolves once available, however long that takes; rejects if closed first. */
  start(): Promise<void>;
  /** The bus and persistence for this engine's aedes, once their connections are up (rejects if closed first). */
  attach(): Promise<BackendAedes>;
  /** `onStatus` on every change of availability; `onProblem` for trouble worth a report while available. Returns a function that stops both. */
  watch(onStatus: (status: BackendStatus) => void, onProblem: (err: Error) => void): () => void;
  /** Sends what waits and disconnects (at once while unavailable). Safe to call more than once; never rejects. */
  close(): Promise<void>;
}

/** aedes puts the id in `$SYS/<id>/...` topics and the Redis persistence in `:`-separated keys. */
export function instanceId(base: string | undefined): string {
  return `${(base ?? "iot-broker").replace(/[/:#+]/g, "_")}-${randomUUID().slice(0, 8)}`;
}

export interface GateEvents {
  unavailable(error: string): void;
  available(downForMs: number): void;
  problem(err: Error): void;
  /** Cut every connected client off (their messages could not be stored or passed on). */
  disconnectAll(): void;
}

/**
 * What an engine on a shared store does while the store cannot be reached: it refuses new
 * connections (CONNACK "server unavailable") and closes the connected ones, so no client has a
 * QoS 1 message acknowledged that could be neither stored nor passed on (aedes acknowledges
 * before it stores); devices keep such messages and send them again after reconnecting, here or
 * on another instance. It accepts again by itself once the store is back.
 */
export class BackendGate {
  readonly #backend: BrokerBackend;
  readonly #events: GateEvents;
  readonly #stop: () => void;
  #downSince: number | undefined;
  #lastError: string | undefined;
  /** Until the engine's aedes runs there is nobody to cut off; outages are still reported. */
  running = false;

  constructor(backend: BrokerBackend, events: GateEvents) {
    this.#backend = backend;
    this.#events = events;
    this.#stop = backend.watch(
      (status) => {
        this.#changed(status);
      },
      (err) => {
        if (this.#backend.status.available) events.problem(err);
      },
    );
  }

  /** Why a CONNECT is refused now, or undefined to let it through. */
  get refusal(): string | undefined {
    return this.#backend.status.available ? undefined : `the broker's ${this.#backend.kind} store (${this.#backend.where}) cannot be reached`;
  }

  release(): void {
    this.#stop();
  }

  #changed(status: BackendStatus): void {
    if (!status.available) {
      const first = this.#downSince === undefined;
      this.#downSince ??= Date.now();
      const error = status.error ?? "disconnected";
      // Once per outage, and again only when the reason changes (a reconnect refused for another reason).
      if (first || error !== this.#lastError) this.#events.unavailable(error);
      this.#lastError = error;
      if (first && this.running) this.#events.disconnectAll();
      return;
    }
    if (this.#downSince === undefined) return;
    const downFor = Date.now() - this.#downSince;
    this.#downSince = undefined;
    this.#lastError = undefined;
    this.#events.available(downFor);
  }
}
