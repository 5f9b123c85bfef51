/**
 * aedes' persistence on the store's SQLite file: retained messages, clean:false sessions'
 * subscriptions and queued QoS 1/2 messages, inbound QoS 2 messages awaiting PUBREL, and wills.
 * Memory answers every read (retained messages and subscriptions in aedes-persistence's own
 * memory persistence, with its topic trie; queues, inbound messages and wills here); every change
 * leaves a pending write, coalesced per row, that the file's group commit writes; each changing
 * call but storeRetained resolves after that commit, so what aedes acknowledges (a PUBREC after
 * the message was queued for offline sessions; the engine's QoS 1 PUBACK after a flush) survives
 * a crash. A message queued and delivered within one commit is never written at all.
 */
import { Readable } from "node:stream";
import MemoryPersistence from "aedes-persistence/asyncPersistence.js";
import type { CommitParticipant, GroupCommit } from "./group-commit.js";
import { decodePacket, encodePacket } from "./packet-codec.js";
import { num, text, type Prepared } from "./sqlite-file.js";
import { storeErrorFrom } from "./store-error.js";

const Packet = MemoryPersistence.Packet;
type StoredPacket = Record<string, unknown>;
interface ClientRef {
  readonly id: string;
}
interface SubscriptionIn {
  readonly topic: string;
  readonly qos: number;
  readonly rh?: number;
  readonly rap?: boolean | number;
  readonly nl?: boolean | number;
  readonly subscriptionIdentifier?: number;
}
interface Queued {
  readonly seq: number;
  packet: StoredPacket;
}

const SQL = {
  putRetained: "INSERT OR REPLACE INTO mqtt_retained (topic, packet) VALUES (?, ?)",
  delRetained: "DELETE FROM mqtt_retained WHERE topic = ?",
  putSub: "INSERT OR REPLACE INTO mqtt_subscription (client, topic, sub) VALUES (?, ?, ?)",
  delSub: "DELETE FROM mqtt_subscription WHERE client = ? AND topic = ?",
  cleanSubs: "DELETE FROM mqtt_subscription WHERE client = ?",
  putOut: "INSERT OR REPLACE INTO mqtt_outgoing (client, seq, packet) VALUES (?, ?, ?)",
  delOut: "DELETE FROM mqtt_outgoing WHERE client = ? AND seq = ?",
  putIn: "INSERT OR REPLACE INTO mqtt_incoming (client, message_id, packet) VALUES (?, ?, ?)",
  delIn: "DELETE FROM mqtt_incoming WHERE client = ? AND message_id = ?",
  putWill: "INSERT OR REPLACE INTO mqtt_will (client, packet) VALUES (?, ?)",
  delWill: "DELETE FROM mqtt_will WHERE client = ?",
} as const;

/** Appended to the broker id of wills loaded from the file: their broker is not the running one. */
const RESTARTED = "\u0000restarted";

export class SqliteAedesPersistence implements CommitParticipant {
  readonly #commit: GroupCommit;
  readonly #sql: Record<keyof typeof SQL, Prepared>;
  readonly #memory = new MemoryPersistence();
  readonly #outgoing = new Map<string, Queued[]>();
  readonly #incoming = new Map<string, Map<number, StoredPacket>>();
  readonly #wills = new Map<string, StoredPacket>();
  /** Row key -> the write that brings the row up to date; re-set writes move last, so writes run in the order of their last change. */
  readonly #pending = new Map<string, () => void>();
  /** Queued messages not in the file yet: removing one before a commit writes nothing. */
  readonly #unwritten = new Set<Queued>();
  #nextSeq = 1;
  #broker: { id: string } | undefined;

  constructor(commit: GroupCommit) {
    this.#commit = commit;
    const file = commit.file;
    this.#sql = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, file.prepare(sql)])) as Record<keyof typeof SQL, Prepared>;
    try {
      this.#load();
    } catch (err) {
      throw storeErrorFrom(file.path, "loading the broker's sessions and retained messages", err);
    }
    commit.join(this);
  }

  /** What was stored, back into memory (the memory persistence's own methods act synchronously). */
  #load(): void {
    const file = this.#commit.file;
    for (const row of file.prepare("SELECT packet FROM mqtt_retained").all()) void this.#memory.storeRetained(decodePacket(text(row, "packet")));
    const subs = new Map<string, object[]>();
    for (const row of file.prepare("SELECT client, topic, sub FROM mqtt_subscription").all()) {
      const client = text(row, "client");
      let list = subs.get(client);
      if (list === undefined) subs.set(client, (list = []));
      list.push({ ...decodePacket(text(row, "sub")), topic: text(row, "topic") });
    }
    for (const [client, list] of subs) void this.#memory.addSubscriptions({ id: client }, list);
    for (const row of file.prepare("SELECT client, seq, packet FROM mqtt_outgoing ORDER BY client, seq").all()) {
      const seq = num(row, "seq");
      this.#queue(text(row, "client")).push({ seq, packet: decodePacket(text(row, "packet")) });
      this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
    }
    for (const row of file.prepare("SELECT client, message_id, packet FROM mqtt_incoming").all()) {
      this.#inbound(text(row, "client")).set(num(row, "message_id"), decodePacket(text(row, "packet")));
    }
    for (const row of file.prepare("SELECT client, packet FROM mqtt_will").all()) {
      // The connection these wills were left for died with the process that ran the broker: marked
      // as from a broker that is gone (isRestored), the engine publishes them after their delay
      // (broker/left-wills.ts), as aedes' own will sweep would later (a restarted broker may keep its id).
      const will = decodePacket(text(row, "packet"));
      will.brokerId = `${String(will.brokerId)}${RESTARTED}`;
      this.#wills.set(text(row, "client"), will);
    }
  }

  /** Whether `brokerId` is the id of a will loaded from the file: its broker ran before the file was opened. */
  isRestored(brokerId: string): boolean {
    return brokerId.endsWith(RESTARTED);
  }

  /**
   * The highest brokerCounter among the messages queued by broker `brokerId`: a broker restarted
   * with the same id must count on from there (aedes matches queued messages by id and counter).
   */
  highestCounter(brokerId: string): number {
    let max = 0;
    for (const queue of this.#outgoing.values()) {
      for (const q of queue) if (q.packet.brokerId === brokerId) max = Math.max(max, Number(q.packet.brokerCounter) || 0);
    }
    return max;
  }

  get broker(): unknown {
    return this.#broker;
  }

  async setup(broker: { id: string }): Promise<void> {
    this.#broker = broker;
    await this.#memory.setup(broker);
  }

  // ---- retained -----------------------------------------------------------------------------------
  /**
   * Resolves once the message is retained in memory and its write is pending, without waiting for
   * the commit: aedes' pipeline waits for a commit right after (every QoS 1/2 message's queueing
   * flushes, and the broker engine acknowledges a QoS 1 message after a flush). Waiting here too
   * would let a later message overtake a retained one, and aedes' duplicate filter would drop the
   * overtaken one for a subscriber of both. A QoS 0 retained message promises nothing.
   */
  async storeRetained(packet: StoredPacket): Promise<void> {
    const topic = String(packet.topic);
    const payload = packet.payload as { length: number } | undefined;
    const encoded = payload === undefined || payload.length === 0 ? undefined : encodePacket(packet); // a packet that cannot be encoded fails here
    await this.#memory.storeRetained(packet);
    if (encoded === undefined) this.#write(`r\u0000${topic}`, () => this.#sql.delRetained.run([topic]));
    else this.#write(`r\u0000${topic}`, () => this.#sql.putRetained.run([topic, encoded]));
  }

  createRetainedStream(pattern: string): Readable {
    return this.#memory.createRetainedStream(pattern);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.#memory.createRetainedStreamCombi(patterns);
  }

  // ---- subscriptions of clean:false sessions ------------------------------------------------------------
  async addSubscriptions(client: ClientRef, subs: SubscriptionIn[]): Promise<void> {
    await this.#memory.addSubscriptions(client, subs);
    for (const sub of subs) {
      const record = encodePacket({ qos: sub.qos, rh: sub.rh, rap: sub.rap, nl: sub.nl, subscriptionIdentifier: sub.subscriptionIdentifier });
      this.#write(`s\u0000${client.id}\u0000${sub.topic}`, () => this.#sql.putSub.run([client.id, sub.topic, record]));
    }
    await this.#commit.flush();
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    await this.#memory.removeSubscriptions(client, topics);
    for (const topic of topics) this.#write(`s\u0000${client.id}\u0000${topic}`, () => this.#sql.delSub.run([client.id, topic]));
    await this.#commit.flush();
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    await this.#memory.cleanSubscriptions(client);
    // Runs after the client's earlier subscription writes (last-change order), before later ones.
    this.#write(`c\u0000${client.id}`, () => this.#sql.cleanSubs.run([client.id]));
    await this.#commit.flush();
  }

  subscriptionsByClient(client: ClientRef): Promise<object[]> {
    return this.#memory.subscriptionsByClient(client);
  }

  countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return this.#memory.countOffline();
  }

  subscriptionsByTopic(pattern: string): Promise<object[]> {
    return this.#memory.subscriptionsByTopic(pattern);
  }

  getClientList(topic: string): Readable {
    return this.#memory.getClientList(topic);
  }

  // ---- queued QoS 1/2 messages ----------------------------------------------------------------------------
  async outgoingEnqueue(sub: { clientId: string }, packet: object): Promise<void> {
    this.#enqueue(sub.clientId, packet);
    await this.#commit.flush();
  }

  async outgoingEnqueueCombi(subs: { clientId: string }[], packet: object): Promise<void> {
    // aedes asks for every QoS 1/2 message, mostly with no session to queue it for: waiting for
    // a commit then (of other writes) held each message back by a whole commit before delivery.
    if (subs.length === 0) return;
    for (const sub of subs) this.#enqueue(sub.clientId, packet);
    await this.#commit.flush();
  }

  /** Gives a queued message its message id, or replaces it (PUBREL) — as aedes' memory persistence matches them. */
  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const queue = this.#queue(client.id);
    const found = queue.find((q) =>
      q.packet.brokerId === packet.brokerId ? q.packet.brokerCounter === packet.brokerCounter : q.packet.messageId === packet.messageId,
    );
    if (found === undefined) throw new Error("no such packet");
    if (found.packet.brokerId === packet.brokerId) found.packet.messageId = packet.messageId;
    else found.packet = packet;
    this.#writeQueued(client.id, found);
    await this.#commit.flush();
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const queue = this.#queue(client.id);
    const i = queue.findIndex((q) => q.packet.messageId === packet.messageId);
    if (i < 0) return undefined;
    const [removed] = queue.splice(i, 1);
    if (queue.length === 0) this.#outgoing.delete(client.id);
    const key = `o\u0000${client.id}\u0000${removed.seq}`;
    if (this.#unwritten.delete(removed)) this.#pending.delete(key);
    else this.#write(key, () => this.#sql.delOut.run([client.id, removed.seq]));
    await this.#commit.flush();
    return removed.packet;
  }

  outgoingStream(client: ClientRef): Readable {
    return Readable.from((this.#outgoing.get(client.id) ?? []).map((q) => q.packet));
  }

  // ---- inbound QoS 2 ---------------------------------------------------------------------------------------
  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const id = Number(packet.messageId);
    const stored: StoredPacket = new Packet(packet);
    stored.messageId = packet.messageId;
    this.#inbound(client.id).set(id, stored);
    const encoded = encodePacket(stored);
    this.#write(`i\u0000${client.id}\u0000${id}`, () => this.#sql.putIn.run([client.id, id, encoded]));
    await this.#commit.flush();
  }

  incomingGetPacket(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket> {
    const stored = this.#incoming.get(client.id)?.get(Number(packet.messageId));
    return stored === undefined ? Promise.reject(new Error("no such packet")) : Promise.resolve(stored);
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId?: number }): Promise<void> {
    const id = Number(packet.messageId);
    const held = this.#incoming.get(client.id);
    if (held?.delete(id) !== true) throw new Error("no such packet");
    if (held.size === 0) this.#incoming.delete(client.id);
    this.#write(`i\u0000${client.id}\u0000${id}`, () => this.#sql.delIn.run([client.id, id]));
    await this.#commit.flush();
  }

  // ---- wills ---------------------------------------------------------------------------------------------------
  async putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    packet.brokerId = this.#broker?.id;
    packet.clientId = client.id;
    this.#wills.set(client.id, packet);
    const encoded = encodePacket(packet);
    this.#write(`w\u0000${client.id}`, () => this.#sql.putWill.run([client.id, encoded]));
    await this.#commit.flush();
  }

  getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return Promise.resolve(this.#wills.get(client.id));
  }

  async delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    const will = this.#wills.get(client.id);
    this.#wills.delete(client.id);
    if (will !== undefined) {
      this.#write(`w\u0000${client.id}`, () => this.#sql.delWill.run([client.id]));
      await this.#commit.flush();
    }
    return will;
  }

  /** Wills of brokers that are not alive (`brokers`: the ids aedes hears from), to be published. */
  streamWill(brokers: Record<string, unknown> = {}): Readable {
    return Readable.from([...this.#wills.values()].filter((w) => brokers[String(w.brokerId)] === undefined));
  }

  /** aedes closed: memory goes; the file (shared with the device stores) is closed by its owner. */
  async destroy(): Promise<void> {
    await this.#memory.destroy();
  }

  // ---- group commit ------------------------------------------------------------------------------------------
  get pending(): number {
    return this.#pending.size;
  }

  write(): void {
    for (const run of this.#pending.values()) run();
  }

  committed(): void {
    this.#pending.clear();
    this.#unwritten.clear();
  }

  #write(key: string, run: () => void): void {
    this.#pending.delete(key);
    this.#pending.set(key, run);
    this.#commit.touched();
  }

  #enqueue(clientId: string, packet: object): void {
    const queued: Queued = { seq: this.#nextSeq++, packet: new Packet(packet) };
    this.#queue(clientId).push(queued);
    this.#unwritten.add(queued);
    this.#writeQueued(clientId, queued);
  }

  #writeQueued(clientId: string, queued: Queued): void {
    const encoded = encodePacket(queued.packet); // now: a packet that cannot be encoded fails its own call, not a later commit
    this.#write(`o\u0000${clientId}\u0000${queued.seq}`, () => this.#sql.putOut.run([clientId, queued.seq, encoded]));
  }

  #queue(clientId: string): Queued[] {
    let queue = this.#outgoing.get(clientId);
    if (queue === undefined) this.#outgoing.set(clientId, (queue = []));
    return queue;
  }

  #inbound(clientId: string): Map<number, StoredPacket> {
    let held = this.#incoming.get(clientId);
    if (held === undefined) this.#incoming.set(clientId, (held = new Map<number, StoredPacket>()));
    return held;
  }
}
