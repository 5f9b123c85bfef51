/**
 * Hosted devices' history in SQLite: every value a device or a flow wrote, with its time, per
 * stream (a datastream, a telemetry key, a channel field). Appends wait in memory and are written
 * by the file's group commit; each stream keeps at most `maxPerStream` points (the oldest go in
 * the commit that passes the bound), a device has at most `maxStreamsPerDevice` streams (points
 * of further ones are not kept, as in memory: a ThingsBoard gateway inventing sub-devices cannot
 * grow the file without bound) and points older than `retentionDays` are pruned by a timer,
 * a bounded number per pass, so neither a chatty device nor a first prune of a large file stalls
 * the process.
 */
import type { DeviceHistory, HistoryPoint, HistoryQuery } from "../broker/device-history.js";
import type { StoredJson } from "../broker/device-store.js";
import type { CommitParticipant, GroupCommit } from "./group-commit.js";
import { num, text, type Prepared, type Row } from "./sqlite-file.js";
import { historyPointJson } from "./history-point.js";
import { storeErrorFrom } from "./store-error.js";

export interface HistoryOptions {
  /** Points older than this many days are pruned; 0 (default) keeps them. */
  retentionDays?: number;
  /** At most this many points per stream (default 100,000): the oldest go first. */
  maxPerStream?: number;
  /** At most this many streams per device (default 1000): points of further streams are not kept. */
  maxStreamsPerDevice?: number;
  /** At most this many points wait for a commit (default 100,000); while the disk fails, the oldest waiting are dropped (`dropped` counts them). */
  maxPending?: number;
  /** How often the retention pass runs (default hourly); it also runs once soon after opening. */
  pruneEveryMs?: number;
  /** Rows one pass deletes at most; a pass that hits it continues in the next macrotask (default 5,000). */
  prunePassRows?: number;
  /** The most points one query answers (default 100,000). */
  maxQueryPoints?: number;
  /** The clock (tests). */
  now?: () => number;
}

interface Stream {
  readonly id: number;
  count: number;
  /** Not in the file yet: its row is written with its first commit. */
  fresh: boolean;
  /** Its newest committed point's time and number (undefined: not read yet from the file). */
  tip: Tip | undefined;
}

/** A stream's newest point: a later point needs no look-up for its number (0), one at the same ms the next. */
interface Tip {
  readonly ts: number;
  readonly n: number;
}

/** No point yet. */
const EMPTY: Tip = { ts: Number.NEGATIVE_INFINITY, n: -1 };

interface PendingPoint {
  readonly stream: Stream;
  readonly ts: number;
  readonly value: string;
}

const DAY_MS = 86_400_000;

export class SqliteHistory implements CommitParticipant {
  readonly #commit: GroupCommit;
  #retentionMs: number;
  readonly #pruneEveryMs: number;
  readonly #maxPerStream: number;
  readonly #maxStreams: number;
  /** Streams per device (plugin + device id), for the bound on streams. */
  readonly #streamCounts = new Map<string, number>();
  readonly #maxPending: number;
  readonly #prunePassRows: number;
  readonly #maxQuery: number;
  readonly #now: () => number;
  readonly #streams = new Map<string, Stream>();
  readonly #sql: Record<"insert" | "insertOlder" | "tip" | "trim" | "count" | "newStream" | "forgetPoints" | "forgetStreams" | "range" | "latest" | "prune", Prepared>;
  #nextId: number;
  #pending: PendingPoint[] = [];
  /** Where the waiting points start in #pending (the ones before were dropped). */
  #head = 0;
  #newStreams: { s: Stream; plugin: string; deviceId: string; stream: string }[] = [];
  #dropped = 0;
  /** Counts as the transaction in progress leaves them, applied when it commits. */
  #written = new Map<Stream, number>();
  /** Newest points as the transaction in progress leaves them, applied when it commits. */
  #tips = new Map<Stream, Tip>();
  #timer: NodeJS.Timeout | undefined;
  #pass: NodeJS.Immediate | undefined;

  constructor(commit: GroupCommit, options: HistoryOptions = {}) {
    this.#commit = commit;
    this.#retentionMs = Math.max(0, options.retentionDays ?? 0) * DAY_MS;
    this.#maxPerStream = positive(options.maxPerStream, 100_000);
    this.#maxStreams = positive(options.maxStreamsPerDevice, 1000);
    // Never below a batch: while commits succeed, a full batch commits before anything is dropped.
    this.#maxPending = Math.max(commit.maxBatch, positive(options.maxPending, 100_000));
    this.#prunePassRows = positive(options.prunePassRows, 5_000);
    this.#maxQuery = positive(options.maxQueryPoints, 100_000);
    this.#now = options.now ?? Date.now;
    this.#pruneEveryMs = positive(options.pruneEveryMs, 3_600_000);
    const file = commit.file;
    this.#sql = {
      insert: file.prepare("INSERT INTO history (stream, ts, n, value) VALUES (?, ?, ?, ?)"),
      // A point older than the stream's newest (a back-filled one): its number looked up.
      insertOlder: file.prepare(
        "INSERT INTO history (stream, ts, n, value) VALUES (?1, ?2, coalesce((SELECT max(n) + 1 FROM history WHERE stream = ?1 AND ts = ?2), 0), ?3)",
      ),
      tip: file.prepare("SELECT ts, max(n) AS n FROM history WHERE stream = ?1 AND ts = (SELECT max(ts) FROM history WHERE stream = ?1)"),
      trim: file.prepare("DELETE FROM history WHERE stream = ?1 AND (ts, n) IN (SELECT ts, n FROM history WHERE stream = ?1 ORDER BY ts, n LIMIT ?2)"),
      prune: file.prepare(
        "DELETE FROM history WHERE stream = ?1 AND (ts, n) IN (SELECT ts, n FROM history WHERE stream = ?1 AND ts < ?2 ORDER BY ts, n LIMIT ?3)",
      ),
      count: file.prepare("UPDATE history_stream SET count = ? WHERE id = ?"),
      newStream: file.prepare("INSERT INTO history_stream (id, plugin, device, stream, count) VALUES (?, ?, ?, ?, ?)"),
      forgetPoints: file.prepare("DELETE FROM history WHERE stream IN (SELECT id FROM history_stream WHERE plugin = ? AND device = ?)"),
      forgetStreams: file.prepare("DELETE FROM history_stream WHERE plugin = ? AND device = ?"),
      range: file.prepare("SELECT ts, value FROM history WHERE stream = ? AND ts >= ? AND ts <= ? ORDER BY ts, n LIMIT ?"),
      latest: file.prepare(
        "SELECT ts, value FROM (SELECT ts, n, value FROM history WHERE stream = ? AND ts >= ? AND ts <= ? ORDER BY ts DESC, n DESC LIMIT ?) ORDER BY ts, n",
      ),
    };
    let maxId = 0;
    for (const row of file.prepare("SELECT id, plugin, device, stream, count FROM history_stream").all()) {
      const id = num(row, "id");
      this.#streams.set(streamKey(text(row, "plugin"), text(row, "device"), text(row, "stream")), { id, count: num(row, "count"), fresh: false, tip: undefined });
      this.#countStream(text(row, "plugin"), text(row, "device"), 1);
      maxId = Math.max(maxId, id);
    }
    this.#nextId = maxId + 1;
    commit.join(this);
    this.#armPruning();
  }

  /** Days of history kept from now on (0 = forever); a shorter retention prunes soon. */
  set retentionDays(days: number) {
    this.#retentionMs = Math.max(0, days) * DAY_MS;
    this.#armPruning();
  }

  get retentionDays(): number {
    return this.#retentionMs / DAY_MS;
  }

  #armPruning(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#retentionMs === 0 || this.#commit.closed) return;
    this.#timer = setInterval(() => {
      this.#startPrune();
    }, this.#pruneEveryMs);
    this.#timer.unref();
    this.#startPrune();
  }

  /** Points dropped because they waited for a commit while the disk failed. */
  /** Resolves once every point appended so far is committed (the file's group commit). */
  flush(): Promise<void> {
    return this.#commit.flush();
  }

  get dropped(): number {
    return this.#dropped;
  }

  get pending(): number {
    return this.#pending.length - this.#head;
  }

  /** Records `value` at `ts` on a stream of a device; written with the next commit. A StoreError ("invalid") for a time that is not a number or a value that is not JSON. */
  append(plugin: string, deviceId: string, stream: string, ts: number, value: StoredJson): void {
    const json = historyPointJson(this.#commit.file.path, plugin, deviceId, stream, ts, value);
    const key = streamKey(plugin, deviceId, stream);
    let s = this.#streams.get(key);
    if (s === undefined) {
      if ((this.#streamCounts.get(streamKey(plugin, deviceId, "")) ?? 0) >= this.#maxStreams) return;
      this.#countStream(plugin, deviceId, 1);
      s = { id: this.#nextId++, count: 0, fresh: true, tip: EMPTY };
      this.#streams.set(key, s);
      this.#newStreams.push({ s, plugin, deviceId, stream });
    }
    this.#pending.push({ stream: s, ts: Math.round(ts), value: json });
    if (this.pending > this.#maxPending) {
      this.#head++;
      this.#dropped++;
      if (this.#head * 2 > this.#pending.length) this.#compact();
    }
    this.#commit.touched();
  }

  /** A stream's points in a time range, oldest first; everything appended before is included (it commits first). A StoreError naming the file if it cannot be read. */
  query(plugin: string, deviceId: string, stream: string, q: HistoryQuery = {}): HistoryPoint[] {
    const s = this.#streams.get(streamKey(plugin, deviceId, stream));
    if (s === undefined) return [];
    if (this.pending > 0) this.#commit.commitNow();
    const limit = Math.min(this.#maxQuery, q.limit === undefined ? this.#maxQuery : Math.max(0, Math.floor(q.limit)));
    let rows: Row[];
    try {
      rows = (q.latest === true ? this.#sql.latest : this.#sql.range).all([s.id, q.from ?? Number.MIN_SAFE_INTEGER, q.to ?? Number.MAX_SAFE_INTEGER, limit]);
    } catch (err) {
      throw storeErrorFrom(this.#commit.file.path, `reading the history of ${plugin} device ${deviceId}`, err);
    }
    const points: HistoryPoint[] = [];
    for (const row of rows) {
      try {
        points.push({ ts: num(row, "ts"), value: JSON.parse(text(row, "value")) as StoredJson });
      } catch {
        // A damaged value is left out rather than failing the whole answer.
      }
    }
    return points;
  }

  /** The streams a device has points in (including streams whose first points wait for a commit), with the committed count of each. */
  streams(plugin: string, deviceId: string): { stream: string; count: number }[] {
    const prefix = streamKey(plugin, deviceId, "");
    const found: { stream: string; count: number }[] = [];
    for (const [key, s] of this.#streams) {
      if (key.startsWith(prefix)) found.push({ stream: key.slice(prefix.length), count: s.count });
    }
    return found;
  }

  /** Removes a device's whole history (the device was deleted). */
  forget(plugin: string, deviceId: string): void {
    const prefix = streamKey(plugin, deviceId, "");
    const gone = new Set<Stream>();
    for (const [key, s] of this.#streams) {
      if (key.startsWith(prefix)) {
        gone.add(s);
        this.#streams.delete(key);
      }
    }
    if (gone.size === 0) return;
    this.#streamCounts.delete(prefix);
    this.#pending = this.#pending.slice(this.#head).filter((p) => !gone.has(p.stream));
    this.#head = 0;
    this.#newStreams = this.#newStreams.filter((n) => !gone.has(n.s));
    this.#commit.transaction("forgetting a device's history", () => {
      this.#sql.forgetPoints.run([plugin, deviceId]);
      this.#sql.forgetStreams.run([plugin, deviceId]);
    });
  }

  /** Stops the retention timer (the file is closed by its owner). */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#pass !== undefined) clearImmediate(this.#pass);
    this.#timer = undefined;
    this.#pass = undefined;
  }

  write(): void {
    this.#written = new Map();
    for (const n of this.#newStreams) this.#sql.newStream.run([n.s.id, n.plugin, n.deviceId, n.stream, 0]);
    this.#tips = new Map();
    for (let i = this.#head; i < this.#pending.length; i++) {
      const p = this.#pending[i];
      // Points mostly come in time order: numbered from the stream's newest point, with no
      // look-up in the file (a third of an insert's cost); an older one looks its number up.
      const tip = this.#tips.get(p.stream) ?? this.#tipOf(p.stream);
      if (p.ts < tip.ts) {
        this.#sql.insertOlder.run([p.stream.id, p.ts, p.value]);
      } else {
        const n = p.ts === tip.ts ? tip.n + 1 : 0;
        this.#sql.insert.run([p.stream.id, p.ts, n, p.value]);
        this.#tips.set(p.stream, { ts: p.ts, n });
      }
      this.#written.set(p.stream, (this.#written.get(p.stream) ?? p.stream.count) + 1);
    }
    for (const [s, count] of this.#written) {
      let kept = count;
      if (count > this.#maxPerStream) kept -= this.#sql.trim.run([s.id, count - this.#maxPerStream]);
      this.#written.set(s, kept);
      this.#sql.count.run([kept, s.id]);
    }
  }

  committed(): void {
    for (const [s, count] of this.#written) s.count = count;
    for (const [s, tip] of this.#tips) s.tip = tip;
    this.#tips = new Map();
    for (const n of this.#newStreams) n.s.fresh = false;
    this.#written = new Map();
    this.#newStreams = [];
    this.#pending = [];
    this.#head = 0;
  }

  #countStream(plugin: string, deviceId: string, delta: number): void {
    const device = streamKey(plugin, deviceId, "");
    this.#streamCounts.set(device, (this.#streamCounts.get(device) ?? 0) + delta);
  }

  /** The stream's newest committed point, read from the file once for a stream loaded with it. */
  #tipOf(s: Stream): Tip {
    if (s.tip !== undefined) return s.tip;
    const row = this.#sql.tip.get([s.id]);
    // What the file holds does not change with a rollback: kept at once.
    s.tip = row !== undefined && Number.isFinite(num(row, "ts")) ? { ts: num(row, "ts"), n: num(row, "n") } : EMPTY;
    return s.tip;
  }

  #compact(): void {
    this.#pending = this.#pending.slice(this.#head);
    this.#head = 0;
  }

  /** One retention pass: at most `prunePassRows` rows; continues in the next macrotask while rows remain. */
  #startPrune(): void {
    if (this.#pass !== undefined || this.#commit.closed) return;
    this.#pass = setImmediate(() => {
      this.#pass = undefined;
      if (this.#commit.closed) return;
      let more = false;
      try {
        more = this.pruneOnce();
      } catch {
        return; // reported by the group commit; the next timer tick tries again
      }
      if (more) this.#startPrune();
    });
  }

  /** Deletes up to `prunePassRows` points older than the retention; whether more remain. */
  pruneOnce(): boolean {
    if (this.#retentionMs === 0) return false;
    const cutoff = this.#now() - this.#retentionMs;
    let budget = this.#prunePassRows;
    const counts = new Map<Stream, number>();
    this.#commit.transaction("pruning old history", () => {
      for (const s of this.#streams.values()) {
        if (budget === 0 || s.fresh || s.count === 0) continue;
        const deleted = this.#sql.prune.run([s.id, cutoff, budget]);
        if (deleted === 0) continue;
        budget -= deleted;
        counts.set(s, s.count - deleted);
        this.#sql.count.run([s.count - deleted, s.id]);
      }
    });
    for (const [s, count] of counts) s.count = count;
    return budget === 0;
  }
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value >= 1 ? Math.floor(value) : fallback;
}

function streamKey(plugin: string, deviceId: string, stream: string): string {
  return `${plugin}\u0000${deviceId}\u0000${stream}`;
}

/** SqliteHistory as the broker's DeviceHistory (queries answered as promises, as a networked store would). */
export function sqliteDeviceHistory(history: SqliteHistory): DeviceHistory {
  return {
    append: (plugin, deviceId, stream, ts, value) => {
      history.append(plugin, deviceId, stream, ts, value);
    },
    query: (plugin, deviceId, stream, query) => {
      try {
        return Promise.resolve(history.query(plugin, deviceId, stream, query));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
    streams: (plugin, deviceId) => Promise.resolve(history.streams(plugin, deviceId).map((s) => s.stream)),
    flush: () => history.flush(),
  };
}
