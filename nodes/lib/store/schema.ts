/**
 * The tables of the store's file, as migrations: step i takes the file from user_version i to
 * i + 1, in one transaction. Add steps at the end, never change one that shipped.
 *
 * Nothing here holds a secret: devices are keyed by their id (the config node's), never by a
 * token, key or password, so a copied file (or its WAL) gives nobody a device's credentials.
 */
export const MIGRATIONS: readonly string[] = [
  `
  -- A hosted device's state: sections of key -> JSON value with its time; seq keeps each
  -- section's first-written order across restarts.
  CREATE TABLE device_state (
    plugin TEXT NOT NULL,
    device TEXT NOT NULL,
    section TEXT NOT NULL,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    value TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (plugin, device, section, key)
  ) WITHOUT ROWID;

  -- One row per history stream (a datastream, a telemetry key, a channel field); count is
  -- kept with every commit so start-up never counts points.
  CREATE TABLE history_stream (
    id INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    device TEXT NOT NULL,
    stream TEXT NOT NULL,
    count INTEGER NOT NULL,
    UNIQUE (plugin, device, stream)
  );

  -- Points by stream and time; n tells apart points of one stream with the same ms.
  CREATE TABLE history (
    stream INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    n INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (stream, ts, n)
  ) WITHOUT ROWID;
  `,
];
