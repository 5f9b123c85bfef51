/**
 * The part of aedes-persistence's memory persistence (asyncPersistence.js, which ships no typings
 * beside it) that the SQLite persistence keeps retained messages and subscriptions in, and the
 * aedes-packet constructor it re-exports.
 */
declare module "aedes-persistence/asyncPersistence.js" {
  import type { Readable } from "node:stream";

  /** aedes-packet's constructor (its own typings declare a function): copies what aedes keeps, clears messageId for QoS > 0. */
  type QueuedPacketConstructor = new (original: object, broker?: unknown) => Record<string, unknown>;

  class MemoryPersistence {
    static readonly Packet: QueuedPacketConstructor;
    constructor(opts?: object);
    readonly broker: unknown;
    setup(broker: unknown): Promise<void>;
    storeRetained(packet: object): Promise<void>;
    createRetainedStream(pattern: string): Readable;
    createRetainedStreamCombi(patterns: string[]): Readable;
    addSubscriptions(client: { id: string }, subs: object[]): Promise<void>;
    removeSubscriptions(client: { id: string }, topics: string[]): Promise<void>;
    subscriptionsByClient(client: { id: string }): Promise<object[]>;
    countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
    subscriptionsByTopic(pattern: string): Promise<object[]>;
    cleanSubscriptions(client: { id: string }): Promise<void>;
    getClientList(topic: string): Readable;
    destroy(): Promise<void>;
  }
  export = MemoryPersistence;
}
