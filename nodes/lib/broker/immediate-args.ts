/**
 * Keeps V8 from allocating the argument arrays of `setImmediate(fn, a, b)` in the old generation
 * for the rest of the process, which cost the broker ~7% CPU per message inside Node-RED
 * (bench/README.md, issue 9).
 *
 * aedes ends every packet it writes with `setImmediate(done, error, client)`; Node's
 * `setImmediate` keeps those two arguments in an array literal, one allocation site for the whole
 * process. V8 decides once per allocation site whether its objects are born old ("pretenuring"):
 * at a scavenge with the young generation at full size (as it is in a Node-RED process right after
 * start-up), if at least 85% of the site's tracked objects are still alive, every later array from
 * that site goes to the old generation, for good. A burst of deliveries (clients reconnecting
 * right after a deploy, a subscriber catching up) leaves hundreds of those immediates queued at
 * once and can trigger exactly that; from then on every message's array is old-generation garbage
 * that only a full collection removes.
 *
 * The decision the other way ("don't pretenure") is just as final, and arrays that die at once
 * lead to it. So, once per process and before any client is served, this schedules and cancels
 * enough such immediates that no burst can outweigh them in V8's count before it decides.
 */

/** Short-lived samples; a burst needs more than 5.6 times as many queued immediates to outweigh them. */
const SAMPLES = 2000;

let settled = false;

// Never runs: each immediate is cancelled as soon as it is scheduled.
const noop = (_first: number, _second: number): void => undefined;

/** Once per process; later calls do nothing. */
export function settleImmediateArgs(): void {
  if (settled) return;
  settled = true;
  for (let i = 0; i < SAMPLES; i++) clearImmediate(setImmediate(noop, i, i));
}
