/**
 * Connections to the Redis a broker's `redis` persistence runs on (docs/ARCHITECTURE.md 1.4).
 * Every connection reconnects by itself (backoff up to 5 s) and fails fast while it is down:
 * nothing waits in an unbounded queue for a server that may not come back, the callers keep
 * what must still be written (bounded) and write it when the connection is ready again.
 * The password comes from the node's credentials (or the URL) and is never shown: messages name
 * the server by `describeRedis`, which drops it.
 */
import { Redis, type RedisOptions } from "ioredis";

export interface RedisTarget {
  /** `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS. */
  url: string;
  /** From the broker node's credentials; wins over one given in the URL. */
  password?: string | undefined;
}

/** The server as messages may name it: scheme, host, port and database, never a user or password. */
export function describeRedis(url: string): string {
  try {
    const parsed = new URL(url);
    const db = parsed.pathname.replace(/^\/+/, "");
    return `${parsed.protocol}//${parsed.host}${db === "" ? "" : `/${db}`}`;
  } catch {
    return "redis (an unreadable URL)";
  }
}

/** A URL the connections can use: redis: or rediss: with a host. Throws a TypeError naming the problem (not the URL: it may hold a password). */
export function checkRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("the Redis URL is not a URL (expected redis://host:port/db)");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") throw new TypeError(`the Redis URL must start with redis:// or rediss:// (got ${parsed.protocol}//)`);
  if (parsed.hostname === "") throw new TypeError("the Redis URL names no host");
  const db = parsed.pathname.replace(/^\/+/, "");
  if (db !== "" && !/^\d{1,2}$/.test(db)) throw new TypeError(`the Redis URL's database must be a number (got "${db}")`);
}

/** Longest wait between two connection attempts. */
const MAX_RETRY_MS = 5_000;

export interface ConnectionOptions {
  /** Commands wait in ioredis' queue while the connection is down (subscriptions only: they are few). */
  queueWhileDown?: boolean;
  /** Prefix of every key this connection names (channels are not keys). */
  keyPrefix?: string;
  /** How the connection shows in Redis' CLIENT LIST. */
  name: string;
}

/** A connection that reconnects by itself; every command's promise carries a handler, so a fire-and-forget call of a library can never become an unhandled rejection. */
export function openConnection(target: RedisTarget, options: ConnectionOptions): Redis {
  checkRedisUrl(target.url);
  const settings: RedisOptions = {
    connectionName: options.name,
    // Connected by the owner's start(), not on construction.
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(MAX_RETRY_MS, 100 * 2 ** Math.min(attempt, 6)),
    connectTimeout: 5_000,
    // A command sent when the connection dropped fails at once rather than being re-sent later (it may have run).
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: options.queueWhileDown === true,
    // null: queued subscription commands wait for the next connection (the queue holds only those).
    maxRetriesPerRequest: options.queueWhileDown === true ? null : 0,
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
    ...(target.password === undefined || target.password === "" ? {} : { password: target.password }),
  };
  const connection = new Redis(target.url, settings);
  const send = connection.sendCommand.bind(connection);
  trackReady(connection);
  const coalesce = coalescedWrites(connection);
  connection.sendCommand = (command, stream) => {
    coalesce();
    const result = send(command, stream);
    // aedes-persistence-redis and mqemitter-redis call some commands without awaiting them.
    if (result instanceof Promise) result.catch(() => undefined);
    return result;
  };
  return connection;
}

/**
 * ioredis writes every command on its own (a `write` system call each: a fifth of the broker's
 * CPU per QoS 1 message on `redis`, one PUBLISH per message on the bus, bench/README.md). The
 * commands of one turn of the event loop leave in one write instead: the socket is corked at the
 * first and uncorked in the next macrotask. Only the writes move; replies, their order and what
 * waits for them (a PUBACK for Redis' answer) do not.
 */
function coalescedWrites(connection: Redis): () => void {
  let corked: { uncork(): void } | undefined;
  const uncork = (): void => {
    const stream = corked;
    corked = undefined;
    stream?.uncork();
  };
  return () => {
    // ioredis' socket (a TLS one for rediss:), typed loosely by the library.
    const stream = (connection as unknown as { stream?: { cork(): void; uncork(): void; writable?: boolean } }).stream;
    if (corked !== undefined || stream?.writable !== true || connection.status !== "ready") return;
    stream.cork();
    corked = stream;
    setImmediate(uncork);
  };
}

/**
 * Ends a connection: QUIT after the replies still due when it is up (nothing written is cut
 * off), at once when it is not. Never rejects.
 */
export async function endConnection(connection: Redis): Promise<void> {
  if (connection.status === "end") return;
  const ended = new Promise<void>((resolve) => connection.once("end", () => { resolve(); }));
  if (connection.status === "ready") {
    try {
      await connection.quit();
    } catch {
      connection.disconnect();
    }
  } else {
    connection.disconnect();
    // Waiting to reconnect, a connection ends without an "end" event: nothing is open any more.
    if (connection.status === "reconnecting" || connection.status === "wait") return;
  }
  await ended;
}

/** Connections that have been ready at least once (trackReady). */
const beenReady = new WeakSet<Redis>();

/** Notes from now on whether `connection` has ever been ready; safe to call more than once. */
export function trackReady(connection: Redis): void {
  if (beenReady.has(connection)) return;
  if (connection.status === "ready") {
    beenReady.add(connection);
    return;
  }
  connection.once("ready", () => beenReady.add(connection));
}

/** Longest wait of a command for a connection's first connection. */
export const FIRST_CONNECT_WAIT_MS = 10_000;

/** Per connection still connecting for the first time: one wait all callers share (true: ready). */
const firstConnections = new WeakMap<Redis, Promise<boolean>>();

/**
 * Resolves when the connection is ready. A store just opened is still connecting for the first
 * time: a read or a flush then waits for that connection (at most `ms`) rather than failing while
 * nothing has gone wrong. Rejects with `unavailable()` at once when Redis was reached before and
 * is not now (an outage: commands fail fast, docs/ARCHITECTURE.md 3.6), and as soon as the first
 * attempt fails, the connection ends or `ms` passed. Needs `trackReady` on the connection beforehand.
 */
export async function firstReady(connection: Redis, unavailable: () => Error, ms = FIRST_CONNECT_WAIT_MS): Promise<void> {
  if (connection.status === "ready") return;
  const connecting = connection.status === "wait" || connection.status === "connecting" || connection.status === "connect";
  if (beenReady.has(connection) || !connecting) throw unavailable();
  let wait = firstConnections.get(connection);
  if (wait === undefined) {
    wait = new Promise<boolean>((resolve) => {
      const settle = (ready: boolean): void => {
        clearTimeout(timer);
        connection.off("ready", onReady);
        connection.off("close", onFailed);
        connection.off("end", onFailed);
        firstConnections.delete(connection);
        resolve(ready);
      };
      const onReady = (): void => {
        settle(true);
      };
      const onFailed = (): void => {
        settle(false);
      };
      const timer = setTimeout(onFailed, ms);
      timer.unref();
      connection.once("ready", onReady);
      connection.once("close", onFailed);
      connection.once("end", onFailed);
    });
    firstConnections.set(connection, wait);
  }
  if (!(await wait)) throw unavailable();
}

/** Resolves when the connection is ready (now or later); rejects with `aborted`'s reason when that signal fires first. */
export function whenReady(connection: Redis, aborted: AbortSignal): Promise<void> {
  if (connection.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (): void => {
      connection.off("ready", done);
      aborted.removeEventListener("abort", abort);
      resolve();
    };
    const abort = (): void => {
      connection.off("ready", done);
      reject(aborted.reason instanceof Error ? aborted.reason : new Error("closed"));
    };
    if (aborted.aborted) {
      abort();
      return;
    }
    connection.on("ready", done);
    aborted.addEventListener("abort", abort, { once: true });
  });
}
