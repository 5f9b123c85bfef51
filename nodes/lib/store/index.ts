export { StoreError, type StoreErrorCode } from "./store-error.js";
export { SqliteFile, type SqliteFileOptions } from "./sqlite-file.js";
export { GroupCommit, type CommitParticipant, type GroupCommitOptions } from "./group-commit.js";
export { SqliteDeviceStores, type SqliteDeviceStoresOptions } from "./sqlite-device-stores.js";
export { SqliteHistory, sqliteDeviceHistory, type HistoryOptions } from "./sqlite-history.js";
export { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
export { SqliteAedesPersistence } from "./sqlite-aedes-persistence.js";
export { openBrokerStorage, openSqliteStorage, type SqliteStorageSettings } from "./broker-storage.js";
