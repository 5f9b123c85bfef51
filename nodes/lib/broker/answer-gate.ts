/**
 * "Answer once the requester's subscription is in place" (docs/PROTOCOLS.md 7), for one device
 * connection: what an emulation answers a request (Blynk `get/ds`, a ThingsBoard attribute
 * response) waits until a subscription of that very connection covers the answer's topic. A
 * device asks, then subscribes, and still gets its answer; nobody else ever sees it.
 *
 * Covered answers go out through a PacedQueue (transport/paced-queue.ts): one publish in flight,
 * on a later turn (never synchronously inside the broker hook that asked), at most `maxQueued`
 * waiting. Both lists are bounded: what does not fit is reported and dropped (a device that
 * asks faster than it reads sees what a lost QoS 0 request looks like); what was queued keeps
 * its order.
 */
import { PacedQueue } from "../transport/paced-queue.js";
import { topicMatches } from "../transport/topic.js";

export interface GatedAnswer {
  /** Device-relative: the gate's `prefix` is put in front of it. */
  topic: string;
  /** Text, or bytes (a ThingsBoard firmware chunk). */
  payload: string | Buffer;
}

/** Why an answer was dropped: no subscription came for it, or the device reads too slowly. */
export type UnsentReason = "unsubscribed" | "unanswered";

export interface AnswerGateOptions {
  /** The internal topic the answers' device-relative topics go under (the device's `down/`). */
  prefix: string;
  /** Most answers waiting for a subscription. */
  maxPending: number;
  /** Most covered answers waiting to be sent. */
  maxQueued: number;
  /** Publishes one answer on its full internal topic; the next waits until this settles. Must not reject. */
  publish: (topic: string, payload: string | Buffer) => Promise<void>;
  /** An answer, or a whole request, is not answered: `message` says which and why. */
  report: (message: string, reason: UnsentReason) => void;
}

export class AnswerGate<A extends GatedAnswer = GatedAnswer> {
  readonly #options: AnswerGateOptions;
  /** Internal filters of this connection's subscriptions. */
  readonly #filters: string[] = [];
  /** Answers waiting for a subscription that covers them, in order. */
  #pending: A[] = [];
  readonly #outbox: PacedQueue<A>;
  #closed = false;

  constructor(options: AnswerGateOptions) {
    if (!Number.isInteger(options.maxPending) || options.maxPending < 1) {
      throw new RangeError(`an answer gate needs maxPending of at least 1, got ${String(options.maxPending)}`);
    }
    this.#options = options;
    this.#outbox = new PacedQueue<A>({ limit: options.maxQueued, send: (answer) => options.publish(options.prefix + answer.topic, answer.payload) });
  }

  /** Answers waiting for a subscription. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Covered answers waiting to be sent. */
  get queued(): number {
    return this.#outbox.waiting;
  }

  /** The connection subscribed to `filters` (internal topics): what they cover goes out. */
  subscribed(filters: readonly string[]): void {
    this.#filters.push(...filters);
    this.#flush();
  }

  /**
   * Whether `count` answers to one request on `topic` can all still be sent. Check before making
   * the answers, so a flood of requests costs no work once the device stopped reading; a request
   * that does not fit is reported and should not be answered at all.
   */
  fits(topic: string, count: number): boolean {
    if (this.#closed) return false; // nobody to answer
    if (count <= this.#outbox.free) return true;
    this.#options.report(
      `"${topic}" not answered: the device asks faster than it reads its answers (${this.#outbox.waiting} wait to be sent, at most ${this.#outbox.limit})`,
      "unanswered",
    );
    return false;
  }

  /** Queues answers; each goes out once a subscription of this connection covers it. */
  answer(answers: Iterable<A>): void {
    if (this.#closed) return; // nobody to answer
    const { maxPending } = this.#options;
    for (const answer of answers) {
      if (this.#pending.length < maxPending) this.#pending.push(answer);
      else this.#options.report(`answer on "${answer.topic}" not sent: ${maxPending} answers already wait for the device to subscribe to them`, "unsubscribed");
    }
    this.#flush();
  }

  /** The connection is gone: what waits is dropped, later answers are refused. */
  close(): void {
    this.#closed = true;
    this.#pending = [];
    this.#outbox.close();
  }

  /** Hands the pending answers a subscription covers to the outbox (which sends on a later turn). */
  #flush(): void {
    if (this.#pending.length === 0 || this.#filters.length === 0) return;
    const { prefix } = this.#options;
    const waiting: A[] = [];
    for (const answer of this.#pending) {
      const topic = prefix + answer.topic;
      if (!this.#filters.some((filter) => topicMatches(filter, topic))) waiting.push(answer);
      else if (!this.#outbox.offer(answer)) {
        this.#options.report(`answer on "${answer.topic}" not sent: the device asks faster than it reads its answers (at most ${this.#outbox.limit} wait to be sent)`, "unanswered");
      }
    }
    this.#pending = waiting;
  }
}
