/**
 * CONNACK first [MQTT-3.2.0-1], then what waited for the session, then what arrives meanwhile.
 * aedes 2.0.0-beta.1 restores a resumed session's subscriptions before it sends CONNACK and
 * delivers whatever matches them at once: a PUBLISH can reach the client ahead of its CONNACK,
 * and ahead of the older messages queued for the session (sent after CONNACK). MQTT.js then
 * stalls for good: its PUBACK for that early message waits for the connection to be up, its
 * parser waits for that PUBACK, and the CONNACK behind it is never read. With the memory
 * persistence the window is a few microtasks; on a shared store (Redis) it is several round
 * trips, and a client failing over to another instance while messages flow hits it
 * (test/lib/store/redis-scale-out_spec.js). The fix that belongs in aedes: deliver nothing live
 * before the session's queue is sent.
 *
 * Here each resuming connection's two delivery functions (which aedes reads when a subscription is made)
 * hold what arrives before the client is ready (aedes' `clientReady`: CONNACK written and the
 * queue sent), and release it then, in order. A message queued for a persistent session and also
 * delivered live while it resumed arrives twice (QoS 1 is at least once). Holding frees the message
 * bus at once (the callback runs now), so a slow resume never holds up other clients' deliveries.
 *
 * The hold is bounded by the larger of MAX_HELD and the session queue's cap (maxQueuedMessages):
 * aedes sends a resumed session the queue as it stood when the resume began, so a QoS 1 message
 * stored after that and not held would wait in the store until the client's next reconnect, which
 * for a client that stays connected is never (seen as acknowledged messages that never arrived in
 * test/hostile/redeploy_spec.js). Whatever the store keeps for the session the hold can keep too;
 * beyond that the store drops (and reports queue-full) as well.
 */
import type { Client } from "./aedes-types.js";

type Deliver = (packet: object, callback: () => void) => void;

interface Deliveries {
  closed: boolean;
  deliverQoS: Deliver;
  deliver0: Deliver;
}

export const MAX_HELD = 1_000;

const HELD = Symbol("deliveries held until the client is ready");

type Holding = Deliveries & { [HELD]?: [Deliver, object][] };

/**
 * Wraps a resuming connection's delivery functions (before aedes restores its subscriptions,
 * which read them); `maxQueued` is the session queue's cap.
 */
export function holdUntilReady(client: Client, maxQueued: number): void {
  const limit = Math.max(MAX_HELD, maxQueued);
  const c = client as unknown as Holding;
  const held: [Deliver, object][] = [];
  c[HELD] = held;
  for (const name of ["deliverQoS", "deliver0"] as const) {
    const deliver = c[name];
    c[name] = (packet, callback) => {
      if (c[HELD] === undefined || c.closed) {
        deliver(packet, callback);
        return;
      }
      if (held.length < limit) held.push([deliver, packet]);
      callback();
    };
  }
}

/** The client is ready: what was held goes out now, in order; later deliveries pass straight through. */
export function releaseHeld(client: Client): void {
  const c = client as unknown as Holding;
  const held = c[HELD];
  if (held === undefined) return;
  c[HELD] = undefined;
  for (const [deliver, packet] of held) deliver(packet, () => undefined);
}
