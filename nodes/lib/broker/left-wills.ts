/**
 * Wills that engines which are gone left in the session store (docs/ARCHITECTURE.md 5.5): the
 * engine before this one on a redeploy (its delayed wills were still waiting when it closed), or
 * the process that ran before a restart of Node-RED (every will of a client connected when it
 * stopped or died). The connections these wills were for are gone, so each is published as the
 * MQTT spec says for a connection lost: at once, or after its MQTT 5 Will Delay Interval
 * (counted from this engine's start, the earliest moment it can be known), unless the client
 * connects again first (its CONNECT replaces or removes the stored will).
 *
 * aedes' own will sweep would publish them only after 4 heartbeat intervals (4 minutes) and
 * without their delay. A delayed will is stored again under this engine's id while it waits, so
 * that sweep leaves it alone and a crash in between keeps it for the next start.
 *
 * Will topics are stored as the client's namespace maps them (the engine rewrites them at
 * CONNECT), so publishing one here needs no client: a device's will stays in its namespace.
 */
import { toError } from "../transport/errors.js";

/** A stored will as aedes' persistence keeps it. */
export interface StoredWill {
  topic: string;
  payload: unknown;
  clientId?: unknown;
  brokerId?: unknown;
  properties?: { willDelayInterval?: unknown };
}

interface ClientRef {
  id: string;
  brokerId?: string;
}

/** The part of aedes' persistence wills live in. */
export interface WillPersistence {
  streamWill(brokers?: Record<string, unknown>): AsyncIterable<unknown>;
  getWill(client: ClientRef): Promise<unknown>;
  putWill(client: ClientRef, packet: unknown): Promise<void>;
  delWill(client: ClientRef): Promise<unknown>;
}

/** The part of aedes this uses. */
export interface WillBroker {
  readonly id: string;
  readonly closed: boolean;
  readonly clients: Record<string, unknown>;
  publish(packet: never, done: (err?: Error | null) => void): void;
}

/** setTimeout's longest delay; longer delays are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function isWill(value: unknown): value is StoredWill {
  return typeof value === "object" && value !== null && typeof (value as { topic?: unknown }).topic === "string";
}

/** Whether the stored `current` is still `will` (the memory and SQLite persistences hand out the stored object; others a copy). */
function sameWill(current: unknown, will: StoredWill): boolean {
  return current === will || (isWill(current) && current.topic === will.topic && String(current.brokerId) === String(will.brokerId));
}

/** The will's delay in ms (MQTT 5 Will Delay Interval, seconds; 0 without one). */
export function willDelayMs(will: StoredWill): number {
  const seconds = will.properties?.willDelayInterval;
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) * 1000 : 0;
}

export class LeftWills {
  readonly #broker: WillBroker;
  readonly #persistence: WillPersistence;
  readonly #onError: (err: Error, clientId: string | undefined) => void;
  readonly #now: () => number;
  /** Client id -> the timer of its will that waits for its delay. */
  readonly #waiting = new Map<string, NodeJS.Timeout>();
  #closed = false;

  constructor(broker: WillBroker, persistence: WillPersistence, onError: (err: Error, clientId: string | undefined) => void, now: () => number = Date.now) {
    this.#broker = broker;
    this.#persistence = persistence;
    this.#onError = onError;
    this.#now = now;
  }

  /** Wills waiting for their delay. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Takes over the wills whose broker `leftBehind` names; never rejects (failures go to onError). */
  async start(leftBehind: (brokerId: string) => boolean): Promise<void> {
    const found: [string, StoredWill][] = [];
    try {
      for await (const will of this.#persistence.streamWill({})) {
        if (isWill(will) && typeof will.clientId === "string" && leftBehind(String(will.brokerId))) found.push([will.clientId, will]);
      }
    } catch (err) {
      this.#fail(undefined, "reading the stored wills", err);
    }
    for (const [clientId, will] of found) await this.#take(clientId, will);
  }

  /** The client connected: its CONNECT decided about its will (aedes replaced or removed the stored one). */
  connected(clientId: string): void {
    const timer = this.#waiting.get(clientId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#waiting.delete(clientId);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#waiting.values()) clearTimeout(timer);
    this.#waiting.clear();
  }

  /** Whether the will of `clientId` is no longer this one's to publish (a method: checks after an await are not narrowed away). */
  #notMine(clientId: string): boolean {
    return this.#closed || this.#broker.closed || this.#broker.clients[clientId] !== undefined;
  }

  async #take(clientId: string, will: StoredWill): Promise<void> {
    if (this.#notMine(clientId)) return;
    const delay = willDelayMs(will);
    if (delay === 0) {
      this.#publish(clientId, will);
      return;
    }
    try {
      await this.#persistence.putWill({ id: clientId }, will);
    } catch (err) {
      this.#fail(clientId, "keeping the will", err);
    }
    if (this.#notMine(clientId)) return;
    this.#wait(clientId, will, this.#now() + delay);
  }

  #wait(clientId: string, will: StoredWill, due: number): void {
    const timer = setTimeout(() => {
      this.#waiting.delete(clientId);
      const left = due - this.#now();
      if (left > 0) this.#wait(clientId, will, due);
      else void this.#due(clientId, will);
    }, Math.max(0, Math.min(MAX_TIMER_MS, due - this.#now())));
    // A waiting will must not keep a stopping process alive (the store keeps it for the next start).
    timer.unref();
    this.#waiting.set(clientId, timer);
  }

  async #due(clientId: string, will: StoredWill): Promise<void> {
    if (this.#notMine(clientId)) return;
    let current: unknown;
    try {
      current = await this.#persistence.getWill({ id: clientId });
    } catch (err) {
      this.#fail(clientId, "reading the will", err);
      return;
    }
    // Gone or replaced: the client came back (its CONNECT removed or replaced the will).
    if (!sameWill(current, will)) return;
    this.#publish(clientId, will);
  }

  #publish(clientId: string, will: StoredWill): void {
    if (this.#closed || this.#broker.closed) return;
    this.#broker.publish(will as never, (err) => {
      if (err) {
        this.#fail(clientId, "publishing the will", err);
        return;
      }
      void this.#remove(clientId, will);
    });
  }

  /** Removes the published will, unless the client connected meanwhile and stored another. */
  async #remove(clientId: string, will: StoredWill): Promise<void> {
    try {
      if (sameWill(await this.#persistence.getWill({ id: clientId }), will)) await this.#persistence.delWill({ id: clientId, brokerId: this.#broker.id });
    } catch (err) {
      this.#fail(clientId, "removing the published will", err);
    }
  }

  #fail(clientId: string | undefined, what: string, err: unknown): void {
    try {
      this.#onError(new Error(`${what}: ${toError(err).message}`), clientId);
    } catch {
      // The reporter's fault must not reach aedes.
    }
  }
}
