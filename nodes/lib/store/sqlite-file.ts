/**
 * One SQLite file, one writer: node-sqlite3-wasm (SQLite compiled to WebAssembly with a file
 * system layer over node:fs: installs from npm with no compiler and no install script, and its
 * API is synchronous, so the stores answer reads from memory and write without callbacks).
 * Opened in WAL mode with exclusive locking (WAL needs shared memory otherwise, which the
 * WebAssembly build has not): one process holds the file while it is open (see file-lock.ts).
 * Figures behind the choice: bench/README.md, "Durable storage"; the floor: docs/ARCHITECTURE.md 1.4.
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Database, type JSValue, type NormalQueryResult, type SQLiteValue, type Statement } from "node-sqlite3-wasm";
import { clearStaleLock, dropOwner, recordOwner } from "./file-lock.js";
import { MIGRATIONS } from "./schema.js";
import { StoreError, storeErrorFrom } from "./store-error.js";

export type Row = NormalQueryResult;
export type { JSValue, SQLiteValue };

export interface SqliteFileOptions {
  /**
   * "full" (default): every commit reaches the disk before it counts (fsync of the WAL), so it
   * survives a power cut. "normal": commits survive a crash of the process (kill -9) but the
   * last ones may be lost if the machine loses power; the WAL is synced at checkpoints only.
   */
  durability?: "full" | "normal";
  /** How long an open waits for a lock held elsewhere before it fails (default 200 ms; blocks the thread). */
  busyTimeoutMs?: number;
}

/** A statement prepared once and run many times; finalized when its file closes. */
export class Prepared {
  readonly #statement: Statement;

  constructor(statement: Statement) {
    this.#statement = statement;
  }

  run(values: JSValue[] = []): number {
    return this.#statement.run(values).changes;
  }

  /** Rows as column -> value (never the driver's "expanded" form: no query passes `expand`). */
  all(values: JSValue[] = []): Row[] {
    return this.#statement.all(values) as Row[];
  }

  get(values: JSValue[] = []): Row | undefined {
    return (this.#statement.get(values) as Row | null) ?? undefined;
  }

  finalize(): void {
    if (this.#statement.isFinalized) return;
    try {
      this.#statement.finalize();
    } catch {
      // sqlite3_finalize repeats the error of the statement's last run (already reported); it is freed all the same.
    }
  }
}

/** A column as a number (the driver answers integers past 2^53 as bigint). */
export function num(row: Row, column: string): number {
  const v = row[column];
  return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : Number.NaN;
}

export function text(row: Row, column: string): string {
  const v = row[column];
  return typeof v === "string" ? v : String(v);
}

export class SqliteFile {
  /** The absolute path, as errors name it. */
  readonly path: string;
  readonly #db: Database;
  readonly #statements: Prepared[] = [];
  #closed = false;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (creating it and its folders if needed) and migrates `path`; a StoreError naming the file if it cannot. */
  static open(path: string, options: SqliteFileOptions = {}): SqliteFile {
    const file = resolve(path);
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw new StoreError("io", file, `cannot create the folder ${dirname(file)}: ${(err as Error).message}`, err);
    }
    clearStaleLock(file);
    let db: Database;
    try {
      db = new Database(file);
    } catch (err) {
      throw storeErrorFrom(file, "opening the database", err);
    }
    const opened = new SqliteFile(file, db);
    try {
      opened.#configure(options);
      opened.#migrate();
      recordOwner(file);
    } catch (err) {
      opened.#closeQuietly();
      throw storeErrorFrom(file, "opening the database", err);
    }
    return opened;
  }

  #configure(options: SqliteFileOptions): void {
    const busy = Math.max(0, Math.floor(options.busyTimeoutMs ?? 200));
    this.#db.exec(`PRAGMA busy_timeout = ${busy}`);
    this.#db.exec("PRAGMA locking_mode = EXCLUSIVE");
    const mode = this.#pragma("PRAGMA journal_mode = WAL", "journal_mode");
    if (mode !== "wal") throw new StoreError("io", this.path, `cannot use write-ahead logging (journal mode stays ${String(mode)})`);
    this.#db.exec(`PRAGMA synchronous = ${options.durability === "normal" ? "NORMAL" : "FULL"}`);
  }

  #migrate(): void {
    const version = Number(this.#pragma("PRAGMA user_version", "user_version"));
    if (!Number.isInteger(version) || version > MIGRATIONS.length) {
      throw new StoreError("invalid", this.path, `the database has schema version ${version}, newer than this version of the package knows (${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.transaction(() => {
        this.#db.exec(MIGRATIONS[v] ?? "");
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  #pragma(sql: string, column: string): SQLiteValue | undefined {
    return (this.#db.get(sql) as Row | null)?.[column];
  }

  get closed(): boolean {
    return this.#closed;
  }

  prepare(sql: string): Prepared {
    this.#assertOpen();
    const prepared = new Prepared(this.#db.prepare(sql));
    this.#statements.push(prepared);
    return prepared;
  }

  exec(sql: string): void {
    this.#assertOpen();
    this.#db.exec(sql);
  }

  /** Runs `body` in one transaction: all of it commits, or none (rolled back, then the error is thrown). */
  transaction<T>(body: () => T): T {
    this.#assertOpen();
    this.#db.exec("BEGIN");
    try {
      const result = body();
      this.#db.exec("COMMIT");
      return result;
    } catch (err) {
      try {
        if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      } catch {
        // The connection is beyond use; the caller hears the first error.
      }
      throw err;
    }
  }

  /**
   * Writes a consistent copy of the database to `target` (VACUUM INTO), while the file stays open
   * and in use. Other SQLite tools must not open the live file: they do not see its lock (a
   * directory) nor its WAL index (kept in this process's memory), so a copy made here, or of the
   * file and its -wal after Node-RED stopped, is the backup.
   */
  backup(target: string): void {
    this.#assertOpen();
    const file = resolve(target);
    try {
      mkdirSync(dirname(file), { recursive: true });
      this.#db.run("VACUUM INTO ?", [file]);
    } catch (err) {
      throw storeErrorFrom(this.path, `backing up to ${file}`, err);
    }
  }

  /** Finalizes the statements and closes the file (its lock goes with it). Closing twice is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let failure: unknown;
    for (const statement of this.#statements) {
      try {
        statement.finalize();
      } catch (err) {
        failure ??= err;
      }
    }
    this.#statements.length = 0;
    try {
      this.#db.close();
    } catch (err) {
      failure ??= err;
    }
    dropOwner(this.path);
    if (failure !== undefined) throw storeErrorFrom(this.path, "closing the database", failure);
  }

  #closeQuietly(): void {
    try {
      this.close();
    } catch {
      // Opening already failed; that error is the one to report.
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreError("closed", this.path, "the database is closed");
  }
}
