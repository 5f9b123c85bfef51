/**
 * Guards on what aedes 2.0.0-beta.1 keeps for persistent (clean:false) sessions: how many QoS 1/2
 * messages one session may have queued, and who a session belongs to. Both wrap the persistence
 * (like the QoS 2 guard in guards.ts) and take their wrappers off in release(), since the store
 * outlives the engine (session-store.ts).
 */
import type { Aedes, AedesInternals, Client, ClientInternals, OutgoingStore, QueuedFor } from "./aedes-types.js";
import type { ClientIdentity } from "./types.js";

/** mosquitto's max_queued_messages. */
export const DEFAULT_MAX_QUEUED_MESSAGES = 1000;
/** No "unlimited": a session nobody resumes would grow Node-RED's memory without end. */
export const MAX_QUEUED_MESSAGES = 100_000;
/** Least time between two `queue-full` events of one session. */
export const QUEUE_FULL_REPORT_MS = 60_000;

export interface QueueFull {
  clientId: string;
  max: number;
  dropped: number;
}

/** Who a persistent session belongs to: one key per user, per hosted device, and one for anonymous clients. */
export function ownerKey(identity: ClientIdentity | undefined): string {
  switch (identity?.kind) {
    case "user":
      return `user:${identity.username ?? ""}`;
    case "device":
      return `device:${identity.plugin ?? ""}:${identity.deviceId ?? ""}`;
    case "anonymous":
      return "anonymous";
    default:
      return "unknown";
  }
}

/** Kept with the persistence (not the engine), so the next engine on the same store carries on. */
interface Ledger {
  /** Messages stored per client id (offline queue and, while online, those awaiting their PUBACK). */
  readonly queued: Map<string, number>;
  /** Owner key per client id of a persistent session; removed when the session ends. */
  readonly owners: Map<string, string>;
}
const ledgers = new WeakMap<object, Ledger>();

function ledgerOf(persistence: object): Ledger {
  let ledger = ledgers.get(persistence);
  if (!ledger) {
    ledger = { queued: new Map(), owners: new Map() };
    ledgers.set(persistence, ledger);
  }
  return ledger;
}

interface Report {
  at: number;
  pending: number;
}

export class SessionGuards {
  readonly #max: number;
  readonly #report: (full: QueueFull) => void;
  readonly #identityOf: (client: Client) => ClientIdentity | undefined;
  /** Per client id: when its last `queue-full` went out and how many drops are not reported yet. */
  readonly #reports = new Map<string, Report>();
  #timer: NodeJS.Timeout | undefined;
  /** The CONNECT being handled, per client, until it is authenticated. */
  readonly #connects = new WeakMap<object, { clean: boolean }>();
  #unwrap: (() => void) | undefined;

  constructor(maxQueued: number, report: (full: QueueFull) => void, identityOf: (client: Client) => ClientIdentity | undefined) {
    this.#max = maxQueued;
    this.#report = report;
    this.#identityOf = identityOf;
  }

  /** Once, right after aedes started. */
  attach(aedes: Aedes): void {
    const internals = aedes as unknown as AedesInternals;
    const store = internals.persistence;
    const ledger = ledgerOf(store);
    this.#wrapStore(internals, store, ledger);
    const preConnect = internals.preConnect;
    internals.preConnect = (client, packet, done) => {
      this.#connects.set(client, packet as { clean: boolean });
      preConnect.call(aedes, client, packet, done);
    };
    const authenticate = internals.authenticate;
    internals.authenticate = (client, username, password, done) => {
      authenticate.call(aedes, client, username, password, (error, ok) => {
        if (!error && ok) this.#claim(client, ledger);
        done(error, ok);
      });
    };
    aedes.on("clientReady", (client) => {
      if (!client.clean) ledger.owners.set(client.id, ownerKey(this.#identityOf(client)));
    });
  }

  /** The engine is done with its session store: take the wrappers off before it is handed on. */
  release(): void {
    this.#unwrap?.();
    this.#unwrap = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reports.clear();
  }

  /**
   * A clean:false CONNECT resumes the session stored under its client id only if that session
   * belongs to the same identity; otherwise it gets a fresh session, as if it had asked for a
   * clean start (aedes then discards the old subscriptions and queued messages). Refusing it
   * instead would let a session's owner lock everyone else out of that client id for good (a
   * 3.1.1 session never expires), and a device whose credentials changed would loop refused.
   */
  #claim(client: Client, ledger: Ledger): void {
    const packet = this.#connects.get(client);
    this.#connects.delete(client);
    if (!packet || packet.clean) return;
    const owner = ledger.owners.get(client.id);
    if (owner === undefined || owner === ownerKey(this.#identityOf(client))) return;
    packet.clean = true; // read by aedes' fetchSubs: drop the stored subscriptions, sessionPresent 0
    (client as unknown as ClientInternals)._cleanStart = true; // drop the queued messages instead of delivering them
  }

  #wrapStore(internals: AedesInternals, store: OutgoingStore, ledger: Ledger): void {
    const wrapped = ["outgoingEnqueue", "outgoingEnqueueCombi", "outgoingClearMessageId", "cleanSubscriptions"] as const;
    const before = wrapped.map((name) => [name, Object.getOwnPropertyDescriptor(store, name)] as const);
    this.#unwrap = () => {
      for (const [name, descriptor] of before) {
        if (descriptor) Object.defineProperty(store, name, descriptor);
        else Reflect.deleteProperty(store, name);
      }
    };
    const enqueue = store.outgoingEnqueue.bind(store);
    const enqueueCombi = store.outgoingEnqueueCombi.bind(store);
    const clear = store.outgoingClearMessageId.bind(store);
    const cleanSubscriptions = store.cleanSubscriptions.bind(store);
    const { queued, owners } = ledger;
    const max = this.#max;
    /** Counts the message in, or drops it: only for an offline session (aedes needs an online client's copy to deliver it). */
    const admit = (clientId: string): boolean => {
      const count = queued.get(clientId) ?? 0;
      if (count >= max && !(clientId in internals.clients)) {
        this.#dropped(clientId);
        return false;
      }
      queued.set(clientId, count + 1);
      return true;
    };
    store.outgoingEnqueue = (sub, packet) => (admit(sub.clientId) ? enqueue(sub, packet) : Promise.resolve());
    store.outgoingEnqueueCombi = (subs, packet) => {
      let kept: QueuedFor[] | undefined; // a copy only once something is dropped
      for (let i = 0; i < subs.length; i++) {
        if (!admit(subs[i].clientId)) kept ??= subs.slice(0, i);
        else kept?.push(subs[i]);
      }
      return enqueueCombi(kept ?? subs, packet);
    };
    // Every way a message leaves the queue goes through here: acknowledged, delivered to a clean
    // start, or emptied with its session.
    store.outgoingClearMessageId = (client, packet) => {
      const cleared = clear(client, packet);
      // Nothing counted for this client id (a clean session: each of its QoS 1/2 acknowledgements
      // comes here): no second promise per message.
      if (!queued.has(client.id)) return cleared;
      return cleared.then((removed) => {
        if (removed !== undefined) {
          const count = (queued.get(client.id) ?? 1) - 1;
          if (count > 0) queued.set(client.id, count);
          else queued.delete(client.id);
        }
        return removed;
      });
    };
    // A session's end (clean start, clean disconnect, expiry) forgets its owner.
    store.cleanSubscriptions = (client) => {
      owners.delete(client.id);
      return cleanSubscriptions(client);
    };
  }

  /** The first drop is reported at once; later ones are added up and reported at most once a minute. */
  #dropped(clientId: string): void {
    const now = Date.now();
    const report = this.#reports.get(clientId);
    if (report === undefined || now - report.at >= QUEUE_FULL_REPORT_MS) {
      this.#reports.set(clientId, { at: now, pending: 0 });
      this.#report({ clientId, max: this.#max, dropped: (report?.pending ?? 0) + 1 });
    } else {
      report.pending++;
    }
    this.#arm();
  }

  /** One timer for every session, only while a report window is open. */
  #arm(): void {
    if (this.#timer !== undefined || this.#reports.size === 0) return;
    let earliest = Infinity;
    for (const report of this.#reports.values()) earliest = Math.min(earliest, report.at);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#flush();
      },
      Math.max(0, earliest + QUEUE_FULL_REPORT_MS - Date.now()),
    );
    this.#timer.unref();
  }

  #flush(): void {
    const now = Date.now();
    for (const [clientId, report] of this.#reports) {
      if (now - report.at < QUEUE_FULL_REPORT_MS) continue;
      if (report.pending === 0) {
        this.#reports.delete(clientId);
        continue;
      }
      this.#report({ clientId, max: this.#max, dropped: report.pending });
      report.at = now;
      report.pending = 0;
    }
    this.#arm();
  }
}
