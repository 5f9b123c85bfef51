/**
 * What a broker's `sqlite` persistence opens: one file holding the hosted devices' state and
 * history and aedes' persistence, one group commit for all three (one writer, one fsync per batch).
 */
import { GroupCommit, type GroupCommitOptions } from "./group-commit.js";
import { SqliteAedesPersistence } from "./sqlite-aedes-persistence.js";
import { SqliteDeviceStores, type SqliteDeviceStoresOptions } from "./sqlite-device-stores.js";
import { SqliteFile, type SqliteFileOptions } from "./sqlite-file.js";
import { SqliteHistory, type HistoryOptions } from "./sqlite-history.js";
import { storeErrorFrom } from "./store-error.js";

export interface SqliteStoreOptions extends SqliteFileOptions, GroupCommitOptions, SqliteDeviceStoresOptions {
  history?: HistoryOptions;
}

export interface SqliteStore {
  readonly file: SqliteFile;
  readonly commit: GroupCommit;
  readonly deviceStores: SqliteDeviceStores;
  readonly history: SqliteHistory;
  /** aedes' persistence (retained messages, sessions, queued messages, wills): one for every aedes the broker node runs in turn. */
  readonly mqtt: SqliteAedesPersistence;
  /** Resolves once every write so far is committed. */
  flush(): Promise<void>;
  /** Commits what waits and closes the file (a failure to commit is reported through `onError`). */
  close(): void;
}

/** Opens (creating it if needed) the store at `path`; a StoreError naming the file if it cannot. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  const file = SqliteFile.open(path, options);
  try {
    const commit = new GroupCommit(file, options);
    const deviceStores = new SqliteDeviceStores(commit, options);
    const history = new SqliteHistory(commit, options.history);
    const mqtt = new SqliteAedesPersistence(commit);
    return {
      file,
      commit,
      deviceStores,
      history,
      mqtt,
      flush: () => commit.flush(),
      close: () => {
        history.close();
        commit.close();
      },
    };
  } catch (err) {
    try {
      file.close();
    } catch {
      // The first error is the one to report.
    }
    throw storeErrorFrom(file.path, "opening the database", err);
  }
}
