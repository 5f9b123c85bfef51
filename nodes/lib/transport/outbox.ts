/**
 * Bounded first-in-first-out queue for messages written while a link is down. When full, the
 * OLDEST item is dropped (a fresh reading is worth more than a stale one) and handed back to the
 * caller, which decides how to report it.
 */
export class Outbox<T> {
  readonly limit: number;
  // Array plus head index, so dropping from the front of a long queue is not a memmove each time.
  #items: (T | undefined)[] = [];
  #head = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`outbox limit must be a whole number >= 0, got ${String(limit)}`);
    }
    this.limit = limit;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends `item`; returns the items dropped from the front to stay within the limit, oldest first. */
  push(item: T): T[] {
    this.#items.push(item);
    return this.#trim();
  }

  /**
   * Puts `items` back at the FRONT, in their order (they were sent before anything still queued,
   * e.g. messages in flight when the connection dropped). Returns what no longer fits, oldest first.
   */
  requeue(items: readonly T[]): T[] {
    if (items.length === 0) return [];
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
    return this.#trim();
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    }
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }

  #trim(): T[] {
    const dropped: T[] = [];
    while (this.length > this.limit) {
      dropped.push(this.#items[this.#head] as T);
      this.#items[this.#head] = undefined; // let the dropped payload be collected
      this.#head++;
    }
    // Compact once the dead prefix dominates, keeping memory proportional to the live items.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return dropped;
  }
}
