/**
 * Nodes that wait for Node-RED's "flows:started" share one listener per runtime: a listener per
 * node made Node-RED's event emitter warn of a leak ("MaxListenersExceededWarning") as soon as a
 * flow had more than ten such nodes (found by bench/fleet.mjs with 1,000 device nodes).
 * Node-RED glue: handed the node file's RED.
 */
import type { NodeAPI } from "node-red";

interface Waiter {
  run: () => void;
  once: boolean;
}

const waitingByEvents = new WeakMap<object, Set<Waiter>>();

/** Runs `run` when the flows have started (every time, or only the next time with `once`); returns the removal. */
export function onFlowsStarted(RED: NodeAPI, run: () => void, once = false): () => void {
  const events = RED.events as unknown as { on(event: string, listener: () => void): void };
  let waiting = waitingByEvents.get(events);
  if (waiting === undefined) {
    const all = new Set<Waiter>();
    waiting = all;
    waitingByEvents.set(events, all);
    events.on("flows:started", () => {
      for (const waiter of [...all]) {
        if (waiter.once) all.delete(waiter);
        try {
          waiter.run();
        } catch {
          // A node's own handler reports its problems; the other nodes still start.
        }
      }
    });
  }
  const waiter: Waiter = { run, once };
  waiting.add(waiter);
  const set = waiting;
  return () => {
    set.delete(waiter);
  };
}
