/**
 * Group commit: the writers of one file (device state, history) leave their writes pending in
 * memory; one transaction per macrotask (setImmediate) writes everything pending, so a burst of
 * writes costs one commit (one fsync) instead of one each. A commit also runs at once when
 * `maxBatch` writes wait, which bounds a transaction and the memory between two commits.
 * `flush()` resolves after the commit that covers every write made before it, or rejects with
 * that commit's error: what a caller acknowledges after `flush()` survives a crash.
 *
 * A failed commit (disk full, I/O error) is rolled back and its writes stay pending (each writer
 * bounds what it keeps: coalesced state, a capped list of points); the next try waits `retryMs`,
 * so a broken disk costs one attempt per `retryMs`, not one per write.
 */
import type { SqliteFile } from "./sqlite-file.js";
import { StoreError, storeErrorFrom } from "./store-error.js";

/** One writer of the file: its writes wait in memory until a commit asks for them. */
export interface CommitParticipant {
  /** How many writes wait (after coalescing). */
  readonly pending: number;
  /** Writes everything pending, inside the commit's transaction; must leave the pending writes as they are (the transaction may still roll back). */
  write(): void;
  /** The transaction holding what `write` wrote committed: forget it. */
  committed(): void;
}

export interface GroupCommitOptions {
  /** Commit at once when this many writes wait (default 1000). */
  maxBatch?: number;
  /** After a failed commit, the next try waits this long (default 1000 ms). */
  retryMs?: number;
  /** A commit failed after the last one succeeded (called once per failing streak; never throws into the store). */
  onError?: (err: StoreError) => void;
  /** Commits succeed again after a failure. */
  onRecovered?: () => void;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class GroupCommit {
  readonly file: SqliteFile;
  readonly #participants: CommitParticipant[] = [];
  readonly #maxBatch: number;
  readonly #retryMs: number;
  readonly #onError: ((err: StoreError) => void) | undefined;
  readonly #onRecovered: (() => void) | undefined;
  #waiters: Waiter[] = [];
  #immediate: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #failure: StoreError | undefined;
  #commits = 0;
  #closed = false;

  constructor(file: SqliteFile, options: GroupCommitOptions = {}) {
    this.file = file;
    this.#maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 1000));
    this.#retryMs = Math.max(1, Math.floor(options.retryMs ?? 1000));
    this.#onError = options.onError;
    this.#onRecovered = options.onRecovered;
  }

  join(participant: CommitParticipant): void {
    this.#participants.push(participant);
  }

  /** The error of the last commit while commits keep failing, else undefined. */
  get failure(): StoreError | undefined {
    return this.#failure;
  }

  /** How many transactions committed writes (for tests and benchmarks). */
  get commits(): number {
    return this.#commits;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get maxBatch(): number {
    return this.#maxBatch;
  }

  /**
   * Runs `body` in a transaction of its own, outside the batch (pruning, forgetting a device):
   * a failure is reported like a failed commit and thrown as a StoreError.
   */
  transaction<T>(doing: string, body: () => T): T {
    try {
      return this.file.transaction(body);
    } catch (err) {
      const error = storeErrorFrom(this.file.path, doing, err);
      guarded(() => this.#onError?.(error));
      throw error;
    }
  }

  get pending(): number {
    let n = 0;
    for (const p of this.#participants) n += p.pending;
    return n;
  }

  /** A participant has a new pending write: commit in this macrotask's wake, or now if the batch is full. */
  touched(): void {
    if (this.#closed || this.#failure !== undefined) return; // a failing file retries on its timer
    if (this.pending >= this.#maxBatch) this.commitNow();
    else this.#schedule();
  }

  /** Resolves once every write made so far is committed; rejects with the error of the commit that failed them. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError("closed", this.file.path, "the database is closed"));
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (this.#failure === undefined) this.#schedule();
    });
  }

  /** Commits what is pending now, in this call (close, a query that must see every write, a full batch). */
  commitNow(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    if (this.#closed) {
      for (const w of waiters) w.reject(new StoreError("closed", this.file.path, "the database is closed"));
      return;
    }
    const busy = this.#participants.filter((p) => p.pending > 0);
    if (busy.length === 0) {
      this.#failure = undefined; // nothing left to retry: the next write tries afresh
      for (const w of waiters) w.resolve();
      return;
    }
    try {
      this.file.transaction(() => {
        for (const p of busy) p.write();
      });
    } catch (err) {
      this.#failed(storeErrorFrom(this.file.path, "writing to the database", err), waiters);
      return;
    }
    this.#commits++;
    for (const p of busy) p.committed();
    if (this.#failure !== undefined) {
      this.#failure = undefined;
      guarded(() => this.#onRecovered?.());
    }
    for (const w of waiters) w.resolve();
  }

  /** Commits what is pending and closes the file; never throws (a failure goes to `onError`). */
  close(): void {
    if (this.#closed) return;
    this.commitNow();
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    const closed = new StoreError("closed", this.file.path, "the database was closed before these writes were committed");
    for (const w of this.#waiters.splice(0)) w.reject(this.#failure ?? closed);
    try {
      this.file.close();
    } catch (err) {
      const error = storeErrorFrom(this.file.path, "closing the database", err);
      guarded(() => this.#onError?.(error)); // reported, not thrown: closing runs in Node-RED's close handlers
    }
  }

  #schedule(): void {
    this.#immediate ??= setImmediate(() => {
      this.#immediate = undefined;
      this.commitNow();
    });
  }

  #failed(err: StoreError, waiters: Waiter[]): void {
    const first = this.#failure === undefined;
    this.#failure = err;
    for (const w of waiters) w.reject(err);
    if (first) guarded(() => this.#onError?.(err));
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.commitNow();
    }, this.#retryMs);
    this.#retry.unref(); // a broken disk must not keep the process alive
  }
}

function guarded(callback: () => void): void {
  try {
    callback();
  } catch {
    // A listener's fault must not undo a commit or stop the retries.
  }
}
