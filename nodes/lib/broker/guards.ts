/**
 * Packet-level guards around aedes 2.0.0-beta.1: what a hostile (or merely unusual) client could
 * otherwise do to the whole process. aedes is pinned exactly; each guard says which aedes fix
 * makes it unnecessary, and test/hostile/ proves each one (and breaks if aedes' internals move).
 */
import type { Aedes, AedesInternals, Client, ClientInternals, IncomingStore, ParserInternals } from "./aedes-types.js";
import { DEFAULT_MAX_QUEUED_MESSAGES, MAX_QUEUED_MESSAGES } from "./session-guards.js";
import { INTERNAL_PREFIX, type BrokerOptions } from "./types.js";

export type LimitKind = "packet-size" | "connect-packet-size" | "connect-timeout" | "inflight-qos2";

/** A client went over one of the broker's limits; the engine reports it as a `limit-exceeded` event. */
export class LimitError extends Error {
  override readonly name = "LimitError";
  constructor(
    readonly limit: LimitKind,
    readonly max: number,
    readonly value: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export interface BrokerLimits {
  maxPacketSize: number;
  maxConnectPacketSize: number;
  connectTimeoutMs: number;
  maxInflightQos2: number;
  topicAliasMaximum: number;
  maxQueuedMessages: number;
}

/** 256 kB: ThingsBoard's own MQTT limit is 64 kB, Blynk's 1 kB; a firmware image is not sent over MQTT here. */
export const DEFAULT_MAX_PACKET_SIZE = 262_144;
/** CONNECT = client id (≤ 256), username, password or JWT (~2 kB), a will and MQTT 5 properties: 16 kB is ample. */
export const DEFAULT_MAX_CONNECT_PACKET_SIZE = 16_384;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/**
 * QoS 2 messages awaiting PUBREL per session. MQTT 3.1.1 lets a client have 65535; MQTT.js keeps
 * a whole burst in flight (a flow sending 300 at once had 300 awaiting), so 100 (EMQX's
 * max_awaiting_rel) would cut off real bursts, and a client that resends them on reconnect would
 * loop. Held messages keep no body here (see #capAwaitingRelease), so 1000 costs ~0.2 MB.
 */
export const DEFAULT_MAX_INFLIGHT_QOS2 = 1000;
/** mosquitto's default max_topic_alias. */
export const DEFAULT_TOPIC_ALIAS_MAXIMUM = 10;
/** MQTT's largest Remaining Length plus a 5-byte fixed header. */
const MQTT_MAX_PACKET = 268_435_460;

/** Validates the limit options (TypeError naming the field and what is accepted) and fills in defaults. */
export function brokerLimits(options: BrokerOptions): BrokerLimits {
  const maxPacketSize = whole(options.maxPacketSize, "maxPacketSize", 1024, MQTT_MAX_PACKET, DEFAULT_MAX_PACKET_SIZE);
  const connect = whole(options.maxConnectPacketSize, "maxConnectPacketSize", 64, MQTT_MAX_PACKET, DEFAULT_MAX_CONNECT_PACKET_SIZE);
  return {
    maxPacketSize,
    maxConnectPacketSize: Math.min(connect, maxPacketSize),
    connectTimeoutMs: whole(options.connectTimeoutMs, "connectTimeoutMs", 1, 3_600_000, DEFAULT_CONNECT_TIMEOUT_MS),
    maxInflightQos2: whole(options.maxInflightQos2, "maxInflightQos2", 1, 65_535, DEFAULT_MAX_INFLIGHT_QOS2),
    topicAliasMaximum: whole(options.topicAliasMaximum, "topicAliasMaximum", 0, 65_535, DEFAULT_TOPIC_ALIAS_MAXIMUM),
    maxQueuedMessages: whole(options.maxQueuedMessages, "maxQueuedMessages", 1, MAX_QUEUED_MESSAGES, DEFAULT_MAX_QUEUED_MESSAGES),
  };
}

function whole(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Bytes a packet takes on the wire: fixed header byte, Remaining Length bytes, the rest. */
export function wireSize(remainingLength: number): number {
  const lengthBytes = remainingLength < 128 ? 1 : remainingLength < 16_384 ? 2 : remainingLength < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + remainingLength;
}

/** Stands in for a `__proto__` filter in a multi-filter SUBSCRIBE; the engine refuses it. */
export const PROTO_FILTER_PLACEHOLDER = `${INTERNAL_PREFIX}_proto_filter`;
const RECEIVE_MAXIMUM_EXCEEDED = 0x93;
const EMPTY = Buffer.alloc(0);

export type LimitReporter = (client: Client, error: LimitError) => void;

/** A prototype with nothing on it: no `__proto__` accessor, no `constructor`, no `toString`. */
const NOTHING: object = Object.freeze(Object.create(null) as object);
/**
 * An empty table whose keys find nothing they did not set, for tables of each connection.
 * Object.create(null) would do the same, but V8 makes that a dictionary object of ~190 bytes
 * from the start, against ~60 for this (as small as aedes' own `{}`), twice per connection.
 */
function emptyTable(): Record<string, unknown> {
  return Object.create(NOTHING) as Record<string, unknown>;
}

type GuardedSteps = Pick<ParserInternals, "_parseLength" | "_parseSubscribe" | "_parseUnsubscribe">;

/** The engine's rewrite of a client's UNSUBSCRIBE filters (aedes has no hook for it). */
export type UnsubscribeMapper = (client: Client, filters: string[]) => string[];

/** One per engine: hardens its aedes instance and each connection it handles. */
export class PacketGuards {
  readonly #limits: BrokerLimits;
  readonly #report: LimitReporter;
  /** Clients a guard stopped: their later errors are consequences, already reported. */
  readonly #stopped = new WeakSet<object>();
  /** Message ids of inbound QoS 2 messages awaiting PUBREL, per client id (a Map: ids may be `__proto__`). */
  readonly #awaitingRelease = new Map<string, Set<number>>();
  /** Puts the session store's own methods back (it outlives this engine: session-store.ts). */
  #unwrapStore: (() => void) | undefined;
  readonly #mapUnsubscribe: UnsubscribeMapper | undefined;
  /** The parser steps of this engine's connections (see #guardedSteps), made from the first parser's prototype. */
  #steps: GuardedSteps | undefined;

  constructor(limits: BrokerLimits, report: LimitReporter, mapUnsubscribe?: UnsubscribeMapper) {
    this.#limits = limits;
    this.#report = report;
    this.#mapUnsubscribe = mapUnsubscribe;
  }

  /** Whether a guard stopped this client (and already reported why). */
  stopped(client: Client): boolean {
    return this.#stopped.has(client);
  }

  /**
   * aedes' own limit errors as LimitErrors: the packet size it enforces after CONNACK and its
   * connect timeout. The messages are aedes 2.0.0-beta.1's (a hostile test pins them).
   */
  limitOf(error: Error & { size?: unknown; maximumPacketSize?: unknown }): LimitError | undefined {
    if (error instanceof LimitError) return error;
    if (typeof error.maximumPacketSize === "number") {
      const size = typeof error.size === "number" ? error.size : undefined;
      return new LimitError("packet-size", error.maximumPacketSize, size, `a packet of ${String(size)} bytes is over the limit of ${error.maximumPacketSize} bytes`);
    }
    if (error.message === "connect did not arrive in time") {
      const ms = this.#limits.connectTimeoutMs;
      return new LimitError("connect-timeout", ms, undefined, `no CONNECT within ${ms} ms of opening the connection`);
    }
    return undefined;
  }

  /** Once, right after aedes started (its maps are still empty). */
  hardenBroker(aedes: Aedes): void {
    const internals = aedes as unknown as AedesInternals;
    // GHSA-52qw-whmv-87c5 (fixed in aedes 1.1.3, not in 2.0.0-beta.1): clients are kept in a
    // plain object, so a client id such as `constructor` or `__proto__` finds Object.prototype
    // members and throws out of registerClient, ending the process. Null-prototype maps accept
    // those ids as ordinary names (a device may really be called `constructor`) instead of
    // refusing them. `brokers` is keyed by $SYS heartbeat payloads. Can go with an aedes 2
    // release that carries the 1.1.3 fix.
    internals.clients = Object.create(null) as Record<string, Client>;
    internals.brokers = Object.create(null) as Record<string, number>;
    // A client a guard stopped before its CONNECT was handled is not authenticated at all.
    const preConnect = internals.preConnect;
    internals.preConnect = (client, packet, done) => {
      if (this.#stopped.has(client)) done(null, false);
      else preConnect.call(aedes, client, packet, done);
    };
    this.#capAwaitingRelease(aedes, internals.persistence);
  }

  /** The engine is done with its session store: take the wrappers off before it is handed on. */
  release(): void {
    this.#unwrapStore?.();
    this.#unwrapStore = undefined;
    this.#awaitingRelease.clear();
  }

  /** Once per connection, right after aedes.handle() created its client (no packet read yet). */
  guardClient(client: Client): void {
    const internals = client as unknown as ClientInternals;
    // Same advisory as in hardenBroker: keyed by topic filter and broker id.
    internals.subscriptions = emptyTable();
    internals.duplicates = emptyTable();
    const parser = internals._parser;
    const steps = (this.#steps ??= this.#guardedSteps(Object.getPrototypeOf(parser) as ParserInternals));
    parser._parseLength = steps._parseLength;
    parser._parseSubscribe = steps._parseSubscribe;
    parser._parseUnsubscribe = steps._parseUnsubscribe;
  }

  /**
   * The guards live in the parser's state machine, as steps shared by every connection (set as
   * own properties once, before the first packet): nothing per connection but three property
   * slots (no closure, no listener: memory at 10,000 idle connections), and nothing per packet
   * but a check of `connackSent` once a length is read. Steps overridden (mqtt-packet 9;
   * test/hostile/ breaks if they are renamed):
   *
   * - `_parseLength`: until CONNACK, a connection has not shown it may use the broker, so it
   *   gets the small CONNECT limit, checked as soon as a packet's Remaining Length is read,
   *   before its body is buffered, whether it arrives whole or in pieces. aedes has one limit
   *   for every state (maximumPacketSize, applied after this) and no hook per state. Can go
   *   when aedes offers a pre-CONNECT packet size (none in 2.0.0-beta.1).
   * - `_parseSubscribe`: aedes dedupes a multi-filter SUBSCRIBE through a plain object keyed by
   *   filter, where `__proto__` sets the prototype and turns the other fields into
   *   subscriptions. It cannot be accepted safely there, so that one filter is refused (SUBACK
   *   0x80); alone in its SUBSCRIBE it works. Can go with the aedes 2 release that carries the
   *   1.1.3 fix.
   * - `_parseUnsubscribe`: the engine's namespace rewrite of UNSUBSCRIBE filters.
   *
   * Measured (bench/README.md): an own `parse` wrapper `delete`d after CONNACK turned every
   * parser into a slow dictionary-mode object (~15% more broker CPU per message), and giving
   * each parser a prototype of the guards' with Object.setPrototypeOf cost ~430 bytes per
   * connection (V8 made a map per object).
   */
  #guardedSteps(base: ParserInternals): GuardedSteps {
    const max = this.#limits.maxConnectPacketSize;
    const mapUnsubscribe = this.#mapUnsubscribe;
    const stop = (client: ClientInternals, error: LimitError): void => {
      this.#stop(client, error);
    };
    return {
      _parseLength(this: ParserInternals): boolean {
        const known = base._parseLength.call(this);
        if (!known || this.client.connackSent || wireSize(this.packet.length) <= max) return known;
        const size = wireSize(this.packet.length);
        this._resetState(); // drop what was buffered of it; aedes then sees no pending packet
        stop(this.client, new LimitError("connect-packet-size", max, size, `a packet of ${size} bytes before the connection was accepted; the limit is ${max} bytes`));
        return false;
      },
      _parseSubscribe(this: ParserInternals): unknown {
        const result = base._parseSubscribe.call(this);
        const subscriptions = this.packet.subscriptions;
        if (subscriptions && subscriptions.length > 1) {
          for (const sub of subscriptions) if (sub.topic === "__proto__") sub.topic = PROTO_FILTER_PLACEHOLDER;
        }
        return result;
      },
      _parseUnsubscribe(this: ParserInternals): unknown {
        const result = base._parseUnsubscribe.call(this);
        const filters = this.packet.unsubscriptions;
        if (mapUnsubscribe && filters) this.packet.unsubscriptions = mapUnsubscribe(this.client as unknown as Client, filters);
        return result;
      },
    };
  }

  #stop(client: ClientInternals, error: LimitError): void {
    if (this.#stopped.has(client)) return;
    this.#stopped.add(client);
    this.#report(client as unknown as Client, error);
    client.emit("error", error); // aedes closes the connection (3.1.1 has no DISCONNECT to say why)
  }

  /**
   * Inbound QoS 2 messages wait in the persistence from PUBLISH until PUBREL; aedes 2.0.0-beta.1
   * bounds neither how many a session holds (a client that never sends PUBREL grows it without
   * end) nor how long (a clean session's leftovers are never removed), and each keeps its whole
   * body. Counted per client id at
   * the store itself, synchronously, so a burst of PUBLISHes in one read cannot slip past, and
   * a retransmitted message id takes no second place. Can go with an aedes 2 release that
   * carries aedes 1.2.0's inbound QoS 2 bound (GHSA-5jvp-3p2v-5qgf).
   */
  #capAwaitingRelease(aedes: Aedes, store: IncomingStore): void {
    const storePacket = store.incomingStorePacket.bind(store);
    const deletePacket = store.incomingDelPacket.bind(store);
    // The next engine on this store wraps it afresh; a wrapper left behind would keep this engine
    // alive and apply its limits there. Descriptors, so a method of the store's class comes back
    // as it was (inherited, not an own copy).
    const wrapped = ["incomingStorePacket", "incomingDelPacket"] as const;
    const before = wrapped.map((name) => [name, Object.getOwnPropertyDescriptor(store, name)] as const);
    this.#unwrapStore = () => {
      for (const [name, descriptor] of before) {
        if (descriptor) Object.defineProperty(store, name, descriptor);
        else Reflect.deleteProperty(store, name);
      }
    };
    const max = this.#limits.maxInflightQos2;
    store.incomingStorePacket = (client, packet) => {
      const id = packet.messageId ?? 0;
      const held = this.#awaitingRelease.get(client.id);
      if (held?.has(id) !== true) {
        if ((held?.size ?? 0) >= max) return this.#refuseQos2(client as unknown as ClientInternals, max);
        if (held) held.add(id);
        else this.#awaitingRelease.set(client.id, new Set([id]));
      }
      // Only the id is ever read back (a retransmission is acknowledged, not published again;
      // PUBREL only checks presence), so the body is not kept: a held message costs ~0.2 kB,
      // not up to maxPacketSize.
      return storePacket(client, { cmd: "publish", messageId: packet.messageId, qos: 2, topic: "", payload: EMPTY });
    };
    store.incomingDelPacket = (client, packet) => {
      const held = this.#awaitingRelease.get(client.id);
      held?.delete(packet.messageId ?? 0);
      if (held?.size === 0) this.#awaitingRelease.delete(client.id);
      return deletePacket(client, packet);
    };
    // A clean session's state ends with it (MQTT 3.1.1 §3.1.2.4); a new clean one starts empty.
    const forget = (client: Client): void => {
      const held = this.#awaitingRelease.get(client.id);
      if (!held) return;
      this.#awaitingRelease.delete(client.id);
      for (const messageId of held) deletePacket(client, { messageId }).catch(() => undefined);
    };
    aedes.on("client", (client) => {
      if (client.clean) forget(client);
    });
    aedes.on("clientDisconnect", (client) => {
      if (client.clean) forget(client);
    });
    aedes.on("sessionExpired", forget);
  }

  #refuseQos2(client: ClientInternals, max: number): Promise<void> {
    const error = new LimitError("inflight-qos2", max, max + 1, `more than ${max} QoS 2 messages awaiting PUBREL; the limit is ${max}`);
    if (!this.#stopped.has(client)) {
      this.#stopped.add(client);
      this.#report(client as unknown as Client, error);
    }
    // The rejection makes aedes drop the message and close the connection; MQTT 5 clients are
    // told why first (DISCONNECT 0x93, Receive Maximum exceeded: the limit is announced in CONNACK).
    return new Promise((_resolve, reject) => {
      if (client.version === 5 && !client.closed) {
        client.disconnect({ reasonCode: RECEIVE_MAXIMUM_EXCEEDED }, () => {
          reject(error);
        });
      } else {
        reject(error);
      }
    });
  }
}
