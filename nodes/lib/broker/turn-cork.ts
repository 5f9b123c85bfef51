/**
 * Deliveries and PUBACKs to one client leave together, one socket write per turn of the event
 * loop instead of one per message. aedes writes each delivered QoS 0 message from its own
 * immediate and mqtt-packet uncorks the socket after every packet, so a subscriber receiving a
 * read's worth of publishes cost a write syscall per message, the broker's biggest cost per
 * message (bench/README.md, issue 9).
 *
 * A delivery corks its client's socket; the uncork is queued from an immediate ("armed"), so it
 * runs in the next check phase, after the immediates in which aedes writes the deliveries made
 * until then. A socket that got deliveries after that point has writes still to come behind the
 * uncork: it is flushed and corked again for the next round. Only deliveries and PUBACKs wait;
 * CONNACK, SUBACK and the rest leave as aedes writes them (a refusal's CONNACK must be out before
 * aedes closes the socket). A corked socket still reports a full buffer from write(), so aedes'
 * and the PUBACK queue's back-pressure rules hold; a socket destroyed meanwhile is uncorked
 * harmlessly.
 */

const CORKED = Symbol("corked by a delivery");
const AGAIN = Symbol("delivered to after the uncork was queued");

/** The part of a socket (net, tls, a WebSocket stream) this relies on. */
export interface Corkable {
  cork?: () => void;
  uncork?: () => void;
  [CORKED]?: boolean;
  [AGAIN]?: boolean;
}

let corked: Corkable[] = [];
/** The uncork of `corked` is queued: writes of deliveries from now on come after it. */
let armed = false;

function uncorkAll(): void {
  const sockets = corked;
  corked = [];
  armed = false;
  for (const socket of sockets) {
    try {
      socket.uncork?.();
      if (socket[AGAIN] === true) {
        socket[AGAIN] = false;
        socket.cork?.();
        if (corked.push(socket) === 1) setImmediate(arm);
        continue;
      }
    } catch {
      // A failed socket is closed by its own error handling (aedes); the others still go.
    }
    socket[CORKED] = false;
  }
}

function arm(): void {
  armed = true;
  setImmediate(uncorkAll);
}

/** Corks `socket` until its writes of this round are done (see above). */
export function corkForTurn(target: unknown): void {
  if (typeof target !== "object" || target === null) return;
  const socket = target as Corkable;
  if (socket[CORKED] === true) {
    if (armed) socket[AGAIN] = true;
    return;
  }
  if (typeof socket.cork !== "function") return;
  socket[CORKED] = true;
  // Corked after the uncork was queued: its writes come after that uncork, so hold it one round more.
  socket[AGAIN] = armed;
  socket.cork();
  if (corked.push(socket) === 1) setImmediate(arm);
}
