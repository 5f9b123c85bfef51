/**
 * Flow control for what a server sends one peer (an emulation's answers to one device): a
 * bounded queue that sends one item at a time, the next only after the previous send settled
 * and on a new macrotask.
 *
 * Why: the broker's in-process publish completes only when every subscriber took the message,
 * and a device that does not read holds its delivery until its socket drains. Publishing
 * thousands of answers at once filled aedes' shared delivery queue (mqemitter, 100 in flight),
 * stalled every client of the broker, and drained it by recursion deep enough to overflow the
 * stack. With this queue one peer holds at most one delivery, waiting items are bounded, and
 * no send ever runs inside another send's or the caller's stack.
 */

export interface PacedQueueOptions<T> {
  /** Most items waiting (not counting the one being sent); further offers are refused. */
  limit: number;
  /** Sends one item; the next waits until the returned promise settles. Must not throw. */
  send: (item: T) => Promise<void>;
}

interface Slot<T> {
  item: T;
  key: string | undefined;
}

export class PacedQueue<T> {
  readonly limit: number;
  readonly #send: (item: T) => Promise<void>;
  /**
   * FIFO with a moving head (shift() on large arrays is O(n)). A sent slot is cleared at once and
   * the array reset whenever it runs empty, so sent items are never kept: a queue that kept them
   * until 1024 had gone through held up to 1024 sent answers per device connection.
   */
  #slots: (Slot<T> | undefined)[] = [];
  #head = 0;
  readonly #byKey = new Map<string, Slot<T>>();
  #busy = false;
  #closed = false;

  constructor(options: PacedQueueOptions<T>) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`a paced queue needs a limit of at least 1, got ${String(options.limit)}`);
    this.limit = options.limit;
    this.#send = options.send;
  }

  /** Items waiting to be sent. */
  get waiting(): number {
    return this.#slots.length - this.#head;
  }

  /** Slots the queue's memory holds (waiting plus sent ones not yet released): for tests and diagnostics. */
  get held(): number {
    return this.#slots.length;
  }

  /** How many more items offer() takes now. */
  get free(): number {
    return this.#closed ? 0 : this.limit - this.waiting;
  }

  /**
   * Queues `item`; false (and nothing queued) when the queue is full or closed. With a `key`,
   * an item with the same key that still waits is replaced in its place (latest state wins),
   * which always succeeds while open.
   */
  offer(item: T, key?: string): boolean {
    if (this.#closed) return false;
    if (key !== undefined) {
      const queued = this.#byKey.get(key);
      if (queued) {
        queued.item = item;
        return true;
      }
    }
    if (this.waiting >= this.limit) return false;
    const slot: Slot<T> = { item, key };
    this.#slots.push(slot);
    if (key !== undefined) this.#byKey.set(key, slot);
    if (!this.#busy) {
      this.#busy = true;
      setImmediate(() => {
        this.#next();
      });
    }
    return true;
  }

  /** Drops everything waiting; an item being sent finishes. Later offers are refused. */
  close(): void {
    this.#closed = true;
    this.#slots = [];
    this.#head = 0;
    this.#byKey.clear();
  }

  /** Sends the head item; always entered from a fresh macrotask, so sends never nest. */
  #next(): void {
    const slot = this.#take();
    if (!slot) {
      this.#busy = false;
      return;
    }
    let sending: Promise<void>;
    try {
      sending = this.#send(slot.item);
    } catch {
      sending = Promise.resolve(); // send must not throw; if it does, the queue still moves on
    }
    const after = (): void => {
      setImmediate(() => {
        this.#next();
      });
    };
    sending.then(after, after);
  }

  #take(): Slot<T> | undefined {
    if (this.#head >= this.#slots.length) return undefined;
    const slot = this.#slots[this.#head];
    this.#slots[this.#head++] = undefined;
    if (slot === undefined) return undefined; // not reached: slots before the head only are cleared
    if (slot.key !== undefined && this.#byKey.get(slot.key) === slot) this.#byKey.delete(slot.key);
    if (this.#head === this.#slots.length) {
      this.#slots = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
    return slot;
  }
}
