/**
 * A guard on aedes' delivery queue (mqemitter). With more than `concurrency` (100) deliveries in
 * flight, mqemitter queues further publishes and, each time a delivery completes, starts the next
 * queued one from inside that completion. A queued publish that completes synchronously (no
 * subscriber, or only in-process ones) completes the next in turn, so a long run of them drains
 * by recursion, one level per message: a few thousand end Node-RED with "Maximum call stack size
 * exceeded". A non-reading subscriber holding deliveries plus one TCP read of tiny publishes from
 * any client is enough (test/hostile/delivery-queue_spec.js).
 *
 * The guard counts how deeply mqemitter's dispatch (`_do`) is nested and continues past
 * MAX_NESTING on a new macrotask, keeping the slot reserved and the order of the queue. Ordinary
 * nesting (a handler publishing while it handles a message) stays synchronous.
 */

/** The part of mqemitter this relies on (aedes exposes its instance as `mq`). */
interface MqEmitterInternals {
  current: number;
  _doing: boolean;
  _do: (this: MqEmitterInternals, message: unknown, callback: unknown) => unknown;
}

export const MAX_NESTING = 64;

/** Installs the guard on `mq`; does nothing (returns false) when `mq` is not an mqemitter as known. */
export function guardDeliveryQueue(mq: unknown): boolean {
  const queue = mq as Partial<MqEmitterInternals> | null | undefined;
  if (typeof queue?._do !== "function" || typeof queue.current !== "number") return false;
  const target = queue as MqEmitterInternals;
  // Called directly, not bound: this runs for every publish (bench/README.md).
  const dispatch = target._do;
  let nesting = 0;
  const run = (message: unknown, callback: unknown): unknown => {
    nesting++;
    try {
      return dispatch.call(target, message, callback);
    } finally {
      nesting--;
    }
  };
  target._do = function guardedDo(message: unknown, callback: unknown): unknown {
    if (nesting < MAX_NESTING) return run(message, callback);
    // Reserve the slot now (mqemitter counts it in _do), so accounting and order hold meanwhile.
    target.current++;
    target._doing = true;
    setImmediate(() => {
      target.current--;
      run(message, callback);
    });
    return target;
  };
  return true;
}
