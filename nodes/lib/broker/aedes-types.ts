/**
 * The slice of aedes this engine uses. aedes 2 is an ES module and our build is CommonJS, so it
 * is loaded with dynamic import(); its own types are imported with an explicit resolution mode.
 */
import type { Aedes, AedesOptions, Client, AedesPublishPacket, Subscription as AedesSubscription, PublishPacket } from "aedes" with { "resolution-mode": "import" };

export type { Aedes, AedesOptions, Client, AedesPublishPacket, AedesSubscription, PublishPacket };

interface AedesModule {
  Aedes: typeof Aedes;
}

let loading: Promise<AedesModule> | undefined;

/** Loads aedes once per process; a failure is retried on the next call. */
export function loadAedes(): Promise<AedesModule> {
  loading ??= (import("aedes") as Promise<AedesModule>).catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/**
 * What the engine hands from one aedes instance to the next (see session-store.ts): both are
 * public fields of the instance, missing from aedes' type declarations.
 */
export interface AedesHandover {
  persistence: object;
  counter: number;
}

/**
 * The private state of aedes 2.0.0-beta.1 the packet guards (guards.ts) reach into. Every field
 * is read by a test in test/hostile/, so an aedes upgrade that renames one fails loudly there.
 */
export interface ClientInternals {
  id: string | null;
  version: number | null;
  clean: boolean;
  /** MQTT 5 Clean Start (3.1.1: the clean flag): set, aedes drops the queued messages instead of delivering them. */
  _cleanStart: boolean;
  connackSent: boolean;
  closed: boolean;
  /** Keyed by topic filter: a plain object in the beta (see guards.ts). */
  subscriptions: Record<string, unknown>;
  /** Keyed by broker id. */
  duplicates: Record<string, unknown>;
  _parser: ParserInternals;
  emit(event: "error", error: Error): boolean;
  disconnect(options: { reasonCode: number }, done?: () => void): void;
}

/**
 * mqtt-packet 9's parser: `packet` is the packet being read, its `length` the declared Remaining
 * Length (-1 until known). The guards give it a prototype of their own (guards.ts) that overrides
 * three steps of its state machine; a test in test/hostile/ breaks if one is renamed. The same
 * overrides give the engine the UNSUBSCRIBE hook aedes lacks (filters rewritten into the
 * client's namespace before aedes looks them up, or a namespaced client could never unsubscribe).
 */
export interface ParserInternals {
  packet: { length: number; subscriptions?: { topic: string }[]; unsubscriptions?: string[] };
  client: ClientInternals;
  parse(buffer: Buffer): number;
  _resetState(): void;
  /** Reads the Remaining Length; true once it is known. */
  _parseLength(): boolean;
  /** Read a SUBSCRIBE's / UNSUBSCRIBE's payload into `packet`. */
  _parseSubscribe(): unknown;
  _parseUnsubscribe(): unknown;
}

/** The memory persistence's inbound QoS 2 store, keyed by client id then message id. */
export interface IncomingStore {
  incomingStorePacket(client: { id: string }, packet: { messageId?: number; cmd?: string; topic?: string; payload?: Buffer; qos?: number }): Promise<void>;
  incomingDelPacket(client: { id: string }, packet: { messageId?: number }): Promise<void>;
}

/** The persistence's stored subscriptions of clean:false sessions (what it queues offline messages for). */
export interface SubscriptionStore {
  removeSubscriptions(client: { id: string }, filters: string[]): Promise<void>;
}

/** A subscription a message is queued for (what the persistence matched for a clean:false session). */
export interface QueuedFor {
  clientId: string;
}

/** The memory persistence's queue of QoS 1/2 messages per clean:false session, keyed by client id. */
export interface OutgoingStore {
  outgoingEnqueue(sub: QueuedFor, packet: object): Promise<void>;
  outgoingEnqueueCombi(subs: QueuedFor[], packet: object): Promise<void>;
  /** Resolves with the removed message, undefined when none had that id. */
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<object | undefined>;
  /** Ends a session: its stored subscriptions go (called for a clean start and a session's end). */
  cleanSubscriptions(client: { id: string }): Promise<void>;
}

export interface AedesInternals {
  clients: Record<string, Client>;
  /** Publishes as `client` did (its declarations only know the form without a client). */
  publish(packet: PublishPacket, client: Client, done: (error?: Error | null) => void): void;
  brokers: Record<string, number>;
  persistence: IncomingStore & SubscriptionStore & OutgoingStore;
  preConnect: (client: Client, packet: unknown, done: (error: Error | null, ok: boolean) => void) => void;
  authenticate: (client: Client, username: string | undefined, password: Buffer | undefined, done: (error: Error | null | undefined, ok: boolean) => void) => void;
}
