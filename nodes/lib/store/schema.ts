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
  `
  -- aedes' persistence (the MQTT side of the broker): what a restart must not lose. No
  -- credentials: CONNECT passwords are never stored, client ids and topics are not secrets.
  CREATE TABLE mqtt_retained (topic TEXT PRIMARY KEY, packet TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE mqtt_subscription (
    client TEXT NOT NULL, topic TEXT NOT NULL, sub TEXT NOT NULL, PRIMARY KEY (client, topic)
  ) WITHOUT ROWID;
  -- QoS 1/2 messages queued per clean:false session, in queue order (seq).
  CREATE TABLE mqtt_outgoing (
    client TEXT NOT NULL, seq INTEGER NOT NULL, packet TEXT NOT NULL, PRIMARY KEY (client, seq)
  ) WITHOUT ROWID;
  -- Inbound QoS 2 messages between PUBLISH and PUBREL.
  CREATE TABLE mqtt_incoming (
    client TEXT NOT NULL, message_id INTEGER NOT NULL, packet TEXT NOT NULL, PRIMARY KEY (client, message_id)
  ) WITHOUT ROWID;
  CREATE TABLE mqtt_will (client TEXT PRIMARY KEY, packet TEXT NOT NULL) WITHOUT ROWID;
  `,
];
