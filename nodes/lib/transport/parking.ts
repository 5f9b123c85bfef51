/**
 * Things that should outlive a redeploy which leaves their settings unchanged (a broker's engine,
 * a hosted device). Node-RED closes every node it restarts (`close(removed=false)`) and creates it
 * again; in between, such a thing waits here, keyed by its owner and a digest of its settings.
 * The re-created owner claims it back; whatever nobody claimed is discarded once the new flows
 * have started, at once when Node-RED stops instead of redeploying, or after a fallback delay.
 * Node-RED-free: `followDeploys` is handed Node-RED's event emitter by the nodes.
 */
import { createHash } from "node:crypto";

/** What a lot needs from Node-RED's runtime events (RED.events). */
export interface DeployEvents {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** How long parked things wait, once the old flows stopped, for the new ones to report they started (a failed deploy never does). */
export const FALLBACK_MS = 10_000;
/**
 * How long they may wait while the old flows are still stopping: Node-RED gives each closing node
 * up to 15 s, and a slow one must not make the broker lose its sessions meanwhile.
 */
export const STOPPING_BACKSTOP_MS = 120_000;

interface Parked<T> {
  digest: string;
  value: T;
  discard: (value: T) => void;
}

const lots = new Set<ParkingLot<never>>();
const followed = new WeakSet<object>();
let redeploying = false;
let fallback: NodeJS.Timeout | undefined;

export class ParkingLot<T> {
  readonly #parked = new Map<string, Parked<T>>();

  constructor() {
    lots.add(this as unknown as ParkingLot<never>);
  }

  get size(): number {
    return this.#parked.size;
  }

  /** Parks `value` until claimed or discarded; a value already parked under `key` is discarded first. */
  park(key: string, digest: string, value: T, discard: (value: T) => void): void {
    this.discard(key);
    this.#parked.set(key, { digest, value, discard });
    // The short fallback starts only once every node has stopped (followDeploys).
    if (!fallback) armFallback(STOPPING_BACKSTOP_MS);
  }

  /** Takes what is parked under `key` out of the lot: the caller adopts it or discards it. */
  claim(key: string): { digest: string; value: T; discard: () => void } | undefined {
    const parked = this.#parked.get(key);
    if (!parked) return undefined;
    this.#parked.delete(key);
    return { digest: parked.digest, value: parked.value, discard: () => { discardSafely(parked); } };
  }

  discard(key: string): void {
    const parked = this.#parked.get(key);
    if (!parked) return;
    this.#parked.delete(key);
    discardSafely(parked);
  }

  /** Discards every parked value `predicate` picks (e.g. a parked broker holding a port someone else needs). */
  discardWhere(predicate: (value: T, key: string) => boolean): void {
    for (const [key, parked] of [...this.#parked]) if (predicate(parked.value, key)) this.discard(key);
  }

  /** Discards everything parked here. */
  sweep(): void {
    for (const key of [...this.#parked.keys()]) this.discard(key);
  }
}

// A discard closes sockets and engines; one that throws must not keep the others parked.
function discardSafely<T>(parked: Parked<T>): void {
  try {
    parked.discard(parked.value);
  } catch {
    // the discard function reports its own failures
  }
}

/** True while Node-RED is stopping or restarting flows: the moment to park instead of closing. */
export function isRedeploying(): boolean {
  return redeploying;
}

/** Discards everything parked in every lot. */
export function sweepAll(): void {
  redeploying = false;
  if (fallback) clearTimeout(fallback);
  fallback = undefined;
  for (const lot of lots) lot.sweep();
}

function armFallback(ms: number): void {
  if (fallback) clearTimeout(fallback);
  fallback = setTimeout(sweepAll, ms);
  fallback.unref(); // a parked engine must not keep a stopping process alive
}

/**
 * Follows Node-RED's deploy cycle (once per emitter): "flows:stopping" opens the window in which
 * closing owners park; the "runtime-state" stop event says whether a deploy follows (then the
 * lots wait for "flows:started") or Node-RED stopped (then everything parked goes at once, so a
 * stopped runtime holds no port).
 */
export function followDeploys(events: DeployEvents): void {
  if (followed.has(events)) return;
  followed.add(events);
  events.on("flows:stopping", () => {
    redeploying = true;
  });
  events.on("runtime-event", (event: unknown) => {
    const e = event as { id?: unknown; payload?: { state?: unknown; deploy?: unknown } } | null;
    if (e?.id !== "runtime-state" || e.payload?.state !== "stop") return;
    if (e.payload.deploy === true) armFallback(FALLBACK_MS);
    else sweepAll();
  });
  events.on("flows:started", sweepAll);
}

/** A digest of settings (secrets included) that never holds the secrets themselves. */
export function settingsDigest(settings: unknown): string {
  // JSON.stringify gives undefined (despite its type) for undefined; the array keeps it a string.
  return createHash("sha256").update(JSON.stringify([settings])).digest("hex");
}
