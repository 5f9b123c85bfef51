/**
 * QoS 1 PUBACKs that promise what they say (docs/ARCHITECTURE.md 5.6). aedes 2.0.0-beta.1 writes
 * a QoS 1 PUBACK before it publishes the message (lib/handlers/publish.js, enqueuePublish), so a
 * crash between the two loses a message the client was told the broker has. Here the engine
 * publishes an accepted QoS 1 message itself, from its authorizePublish hook: aedes' publish
 * pipeline stores a retained message, queues it for persistent sessions and delivers it to online
 * subscribers; then the store's `flush` (a durable store: the commit covering all of that and
 * what the platform's `published` hook stored) resolves; only then the PUBACK goes out. aedes is
 * told not to publish nor acknowledge the packet again by the flag its own enqueuePublish checks
 * for every protocol version (`_notAuthorized`, set by aedes for refused MQTT 5 publishes).
 *
 * PUBACKs leave in the order the PUBLISHes came in (MQTT 3.1.1 4.6): a retained message waits for
 * its store, a plain one behind it does not, so each client has a queue. The hook's `done` (which
 * lets aedes read the client's next packets) is called when the PUBACK is written, as aedes does,
 * and after the socket drained when it was full: a client that does not read cannot make the
 * broker buffer PUBACKs without bound.
 */
import type { Client, PublishPacket } from "./aedes-types.js";
import { corkForTurn, type Corkable } from "./turn-cork.js";

/**
 * A publish waiting for its PUBACK. A class, not an object literal: up to a read's worth of them
 * live across a macrotask, and V8 decides per object literal whether its objects are born in the
 * old generation; in a Node-RED process (young generation at full size) it decided so at once, and
 * every QoS 1 message left garbage there (bench/README.md, issue 9). Class instances have no such
 * per-site decision.
 */
class Waiting {
  /** undefined while the publish is under way; then ok or the failure. */
  outcome: "ok" | Error | undefined = undefined;

  constructor(
    readonly messageId: number,
    readonly done: () => void,
  ) {}
}

interface ClientAcks {
  readonly waiting: Waiting[];
  /** A publish failed: nothing after it is acknowledged on this connection (it is being closed). */
  broken: boolean;
  /** `done`s held until the socket drains. */
  held: (() => void)[];
}

/** What aedes exposes of a client's socket: a writable stream. */
interface ClientSocket extends Corkable {
  readonly writable?: boolean;
  write(chunk: Buffer): boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
}

/** aedes' flag on a PUBLISH it must neither publish nor acknowledge (see the file comment). */
type Flagged = PublishPacket & { _notAuthorized?: boolean };

/**
 * A PUBACK with reason code 0 and no properties: two bytes of Remaining Length, the same in MQTT
 * 3.1.1 and 5 (MQTT 5 3.4.2.1: reason code and properties may be left out when they are 0).
 */
function puback(messageId: number): Buffer {
  // From Node's buffer pool, without an array per PUBACK.
  const packet = Buffer.allocUnsafe(4);
  packet[0] = 0x40;
  packet[1] = 0x02;
  packet.writeUInt16BE(messageId & 0xffff, 2);
  return packet;
}

export interface PubackAfterPublishOptions {
  /** Publishes through aedes' pipeline (retained, queued, delivered, the published hook), calling back when done. */
  publish(packet: PublishPacket, client: Client, done: (err?: Error | null) => void): void;
  /** Resolves once everything stored so far is durable (undefined result: nothing waits); undefined: nothing to wait for (memory). */
  flush: (() => Promise<void> | undefined) | undefined;
  /** A publish or its flush failed: the client gets no PUBACK and is disconnected, so it sends the message again. */
  onFailure(client: Client, err: Error): void;
}

export class PubackAfterPublish {
  readonly #key = Symbol("iot-broker QoS 1 acknowledgements");
  readonly #options: PubackAfterPublishOptions;

  constructor(options: PubackAfterPublishOptions) {
    this.#options = options;
  }

  /** Whether this is a client's QoS 1 PUBLISH (not a will, not a QoS 0/2 message) that this takes over. */
  takes(client: Client | null, packet: PublishPacket): client is Client {
    // Wills come here too (aedes authorizes them before publishing them itself): they carry no message id.
    return client !== null && packet.qos === 1 && typeof packet.messageId === "number";
  }

  /** Publishes `packet` and acknowledges it once done; `done` is authorizePublish's callback. */
  publish(client: Client, packet: PublishPacket, done: (err: Error | null) => void): void {
    const acks = this.#acksOf(client);
    const waiting = new Waiting(packet.messageId ?? 0, () => {
      done(null);
    });
    acks.waiting.push(waiting);
    (packet as Flagged)._notAuthorized = true;
    const settle = (outcome: "ok" | Error): void => {
      waiting.outcome = outcome;
      this.#drain(client, acks);
    };
    // A macrotask later, as aedes published after writing its PUBACK: each message's pipeline then
    // runs its first steps (a retained message's store) before the next one starts. Started in
    // one go, a plain message overtakes a retained one, and aedes' per-client duplicate filter
    // (a message must carry a higher counter than the last one delivered) drops the overtaken one.
    setImmediate(() => {
      try {
        this.#options.publish(packet, client, (err) => {
          if (err) {
            settle(err);
            return;
          }
          const flush = this.#options.flush;
          // Memory: nothing to wait for. The PUBACK still leaves after the platform's published
          // hook (below) has run: the socket is corked until the next turn (turn-cork.ts).
          if (flush === undefined) {
            settle("ok");
            return;
          }
          // A microtask later: the engine's published hook calls aedes back before it hands the
          // message to the platform, whose store writes the flush must cover.
          queueMicrotask(() => {
            const flushed = flush();
            if (flushed === undefined) settle("ok");
            else flushed.then(() => { settle("ok"); }, (e: unknown) => { settle(e instanceof Error ? e : new Error(String(e))); });
          });
        });
      } catch (err) {
        settle(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  #acksOf(client: Client): ClientAcks {
    const slot = client as unknown as Partial<Record<symbol, ClientAcks>>;
    let acks = slot[this.#key];
    if (acks === undefined) {
      acks = { waiting: [], broken: false, held: [] };
      slot[this.#key] = acks;
    }
    return acks;
  }

  /** Acknowledges the settled publishes at the head of the queue, in order. */
  #drain(client: Client, acks: ClientAcks): void {
    const socket = client.conn as unknown as ClientSocket;
    // Usually one publish settles at a time: no array for it (this runs for every QoS 1 message).
    let first: (() => void) | undefined;
    let more: (() => void)[] | undefined;
    let full = false;
    while (acks.waiting.length > 0) {
      const head = acks.waiting[0];
      if (head.outcome === undefined) break;
      acks.waiting.shift();
      if (first === undefined) first = head.done;
      else (more ??= []).push(head.done);
      if (head.outcome !== "ok") {
        if (!acks.broken) {
          acks.broken = true;
          this.#options.onFailure(client, head.outcome);
        }
        continue;
      }
      if (acks.broken || (client as unknown as { closed?: boolean }).closed === true || socket.writable === false) continue;
      // Each publish settles in its own macrotask: PUBACKs written as they settle leave together
      // with the rest of this turn's writes to the client (turn-cork.ts).
      corkForTurn(socket);
      full = !socket.write(puback(head.messageId));
    }
    if (first === undefined) return;
    if (!full && acks.held.length === 0) {
      first();
      if (more) for (const release of more) release();
      return;
    }
    const waitingForDrain = acks.held.length > 0;
    acks.held.push(first);
    if (more) acks.held.push(...more);
    if (waitingForDrain) return;
    let once = false;
    const releaseHeld = (): void => {
      if (once) return;
      once = true;
      for (const release of acks.held.splice(0)) release();
    };
    socket.once("drain", releaseHeld);
    socket.once("close", releaseHeld);
  }
}
