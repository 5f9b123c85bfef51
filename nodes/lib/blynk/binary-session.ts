/**
 * Node-RED as a device over Blynk's binary protocol (docs/PROTOCOLS.md 3): one TCP or TLS
 * connection to a legacy blynk-server, a fork of it or Blynk.Cloud, kept alive by
 * transport/socket-session.ts. This class is the device's half of the protocol, as the C++
 * library behaves: HW_LOGIN with message id 1 (200 or 4 is success, 9 an invalid token, REDIRECT
 * is followed), the info message right after, message ids from 1 up on every connection, PINGs
 * answered and sent after `h-beat` seconds of silence either way, a connection that received
 * nothing for h-beat + 3 timeouts given up. Frames from flows are encoded (and refused) before
 * they reach `send`; while offline they wait in a bounded outbox, oldest dropped first, and go
 * out in order after the next login.
 */
import { Outbox } from "../transport/outbox.js";
import type { LinkStatus } from "../transport/pubsub.js";
import { Redactor } from "../transport/redact.js";
import { SocketSession, whereOf, type SocketAttempt, type SocketSessionOptions, type SocketTarget } from "../transport/socket-session.js";
import { TransportError, toError } from "../transport/errors.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import { describeStatus, heartbeat, whole, type Connection } from "./binary-connection.js";
import {
  Command, encodeMessage, FrameDecoder, MAX_ID, parseMessage, Status, type BlynkMessage, type HardwareInfo,
} from "./binary/index.js";

/** 1.x firmware: heartbeat 45 s, timeout 6 s (docs/PROTOCOLS.md 3.4). */
export const DEFAULT_HEARTBEAT_SEC = 45;
export const DEFAULT_TIMEOUT_MS = 6000;
/** What we accept from the server, and report as `buff-in`. */
export const RECEIVE_LIMIT = 1024;
/** Bytes in the socket's buffer above which new frames wait in the outbox (a stalled server). */
const BACKLOG_LIMIT = 64 * 1024;
/** Bytes in the socket's buffer at which the server counts as not reading at all. */
const STALLED_LIMIT = 1024 * 1024;
/** Ids of our HARDWARE_SYNC requests remembered to mark their answers. */
const SYNC_IDS_KEPT = 64;
const WARN_INTERVAL_MS = 60_000;
/** Redirects in a row followed at once; more wait for the reconnect backoff. */
const MAX_REDIRECTS = 5;

export interface BinarySessionOptions extends Pick<SocketSessionOptions, "tls" | "connectTimeoutMs" | "reconnect" | "authBackoff" | "stableAfterMs" | "random"> {
  target: SocketTarget;
  token: string;
  /** Sent after every login; `h-beat` and `buff-in` are filled in. */
  info: HardwareInfo;
  heartbeatSec?: number;
  /** Login answer wait and ping spacing, as BLYNK_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Groups of frames kept while offline; default 1000. */
  outboxLimit?: number;
  /** Body limit of what we send (the server's buffer); default RECEIVE_LIMIT. */
  sendLimit?: number;
  redactor?: Redactor;
}

export type BinarySessionEvents = {
  status: [LinkStatus];
  warning: [string];
  /** Logged in; the info message and the outbox went out. */
  connected: [];
  /** A frame from the server the session does not handle itself; `syncAnswer` when it answers our HARDWARE_SYNC. */
  message: [BlynkMessage, { syncAnswer: boolean }];
  redirected: [SocketTarget];
  listenerError: [unknown, string];
};

/** A frame to send: any message but a response (ids are given when it is written). */
export type Outgoing = Buffer;

export class BinaryBlynkSession extends TypedEmitter<BinarySessionEvents> {
  readonly heartbeatMs: number;
  readonly timeoutMs: number;
  readonly sendLimit: number;
  readonly #options: BinarySessionOptions;
  readonly #redactor: Redactor;
  readonly #socket: SocketSession;
  readonly #outbox: Outbox<Outgoing[]>;
  readonly #syncIds: number[] = [];
  readonly #warned = new Map<string, number>();
  #conn: Connection | undefined;
  #dropped = 0;
  /** Redirects since the last login. */
  #redirects = 0;
  #closed = false;

  constructor(options: BinarySessionOptions) {
    super();
    this.#options = options;
    this.#redactor = options.redactor ?? new Redactor();
    this.#redactor.add(options.token);
    this.heartbeatMs = whole("heartbeatSec", options.heartbeatSec ?? DEFAULT_HEARTBEAT_SEC, 1, 3600) * 1000;
    this.timeoutMs = whole("timeoutMs", options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 1, 60_000);
    this.sendLimit = whole("sendLimit", options.sendLimit ?? RECEIVE_LIMIT, 1, 0xffff);
    this.#outbox = new Outbox(whole("outboxLimit", options.outboxLimit ?? 1000, 0, 2 ** 31 - 1));
    this.#socket = new SocketSession({ ...options, redactor: this.#redactor }, {
      opened: (attempt) => { this.#opened(attempt); },
      data: (attempt, chunk) => { this.#data(attempt, chunk); },
      drained: (attempt) => { this.#flush(attempt); },
      closed: (attempt) => { this.#closedAttempt(attempt); },
    });
    this.#socket.on("status", () => { this.#emitStatus(); });
    this.#socket.on("warning", (text) => { this.#warn(text); });
  }

  get target(): SocketTarget {
    return this.#socket.target;
  }

  get status(): LinkStatus {
    return { ...this.#socket.status, queued: this.#outbox.length };
  }

  get connected(): boolean {
    return this.#conn?.loggedIn === true;
  }

  start(): void {
    this.#socket.start();
  }

  /**
   * Sends frames (encoded with any id; each gets the next id as it is written), together and in
   * order: written at once while logged in, else queued. Resolves once written or queued.
   */
  send(frames: Outgoing[], options: { sync?: boolean } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError("closed", "the link is closed"));
    if (frames.length === 0) return Promise.resolve();
    const conn = this.#conn;
    if (conn?.loggedIn === true && this.#outbox.length === 0 && conn.attempt.backlog < BACKLOG_LIMIT) {
      this.#write(conn, frames, options.sync === true);
      return Promise.resolve();
    }
    if (this.#outbox.limit === 0) {
      return Promise.reject(new TransportError("network", `not connected (${this.#socket.status.state}) and the offline outbox is disabled`));
    }
    // A sync asked for while offline is asked again by the nodes on the next connect (`ready`).
    if (options.sync === true) return Promise.resolve();
    for (const dropped of this.#outbox.push(frames)) this.#noteDropped(dropped.length);
    this.#emitStatus();
    return Promise.resolve();
  }

  /** Writes a frame with its own id (an answer to the server's request); dropped while not logged in. */
  reply(frame: Buffer): void {
    const conn = this.#conn;
    if (conn?.loggedIn === true) this.#writeFrame(conn, frame);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const discarded = this.#outbox.drain().length;
    if (discarded > 0) this.#warn(`${discarded} queued message(s) were discarded because the link was closed`);
    await this.#socket.close();
  }

  // ---- one connection ----

  #opened(attempt: SocketAttempt): void {
    const now = performance.now();
    const conn: Connection = {
      attempt, decoder: new FrameDecoder({ from: "server", maxBody: RECEIVE_LIMIT }), nextId: 2, loggedIn: false,
      lastIn: now, lastOut: now, lastPing: now, timer: undefined,
    };
    this.#conn = conn;
    // The login always has id 1: the device knows the answer by it (docs/PROTOCOLS.md 3.4).
    attempt.write(encodeMessage({ type: "login", id: 1, token: this.#options.token, legacy: false }, { to: "server", maxBody: this.sendLimit }));
    conn.timer = setTimeout(() => {
      if (!conn.loggedIn) attempt.fail(`${whereOf(attempt.target)} did not answer the login within ${this.timeoutMs} ms`);
    }, this.timeoutMs);
    conn.timer.unref();
  }

  #closedAttempt(attempt: SocketAttempt): void {
    const conn = this.#conn;
    if (conn?.attempt !== attempt) return;
    this.#conn = undefined;
    clearTimeout(conn.timer);
    clearInterval(conn.timer);
    this.#syncIds.length = 0;
  }

  #data(attempt: SocketAttempt, chunk: Buffer): void {
    const conn = this.#conn;
    if (conn?.attempt !== attempt) return;
    conn.lastIn = performance.now();
    const { frames, error } = conn.decoder.push(chunk);
    for (const frame of frames) {
      if (attempt.ended) return;
      let message: BlynkMessage;
      try {
        message = parseMessage(frame, "server");
      } catch (err) {
        // A body we cannot use: answered with its status, as the library does (same id).
        const status = err instanceof TransportError && err.status !== undefined ? err.status : Status.ILLEGAL_COMMAND_BODY;
        this.#warnEvery("frame", `the server sent a frame this device cannot use: ${toError(err).message}`);
        if (frame.command !== Command.RESPONSE) this.#respond(conn, frame.id, status);
        continue;
      }
      this.#handle(conn, message);
    }
    if (error !== undefined && !attempt.ended) attempt.fail(`${whereOf(attempt.target)} sent a broken frame: ${error.message}`);
  }

  #handle(conn: Connection, message: BlynkMessage): void {
    switch (message.type) {
      case "ping":
        this.#respond(conn, message.id, Status.SUCCESS);
        return;
      case "redirect":
        this.#redirect(conn, message.host, message.port);
        return;
      case "response":
        if (!conn.loggedIn) this.#loginAnswer(conn, message);
        else this.#response(conn, message.status);
        return;
      default:
        if (!conn.loggedIn) return; // nothing else means anything before the login's answer
        if (message.type === "debug-print") this.#warn(`Blynk server: ${message.text}`);
        this.emit("message", message, { syncAnswer: message.type === "hardware" && this.#syncIds.includes(message.id) });
    }
  }

  #loginAnswer(conn: Connection, message: { id: number; status: number }): void {
    if (message.id !== 1) return;
    const where = whereOf(conn.attempt.target);
    if (message.status === Status.SUCCESS || message.status === Status.ALREADY_REGISTERED) {
      this.#loggedIn(conn);
      return;
    }
    if (message.status === Status.INVALID_TOKEN) {
      conn.attempt.fail(`${where} refused the token (INVALID_TOKEN, status 9)`, { auth: true, refusal: message.status });
      return;
    }
    conn.attempt.fail(`${where} refused the login: ${describeStatus(message.status)}`, { refusal: message.status });
  }

  #loggedIn(conn: Connection): void {
    conn.loggedIn = true;
    this.#redirects = 0;
    clearTimeout(conn.timer);
    const info: HardwareInfo = { ...this.#options.info, heartbeat: this.heartbeatMs / 1000, buffIn: RECEIVE_LIMIT };
    try {
      this.#write(conn, [encodeMessage({ type: "internal", id: 1, kind: "info", info }, { to: "server", maxBody: this.sendLimit })], false);
    } catch (err) {
      this.#warn(`could not send the info message: ${toError(err).message}`);
    }
    conn.timer = setInterval(() => { this.#beat(conn); }, Math.max(50, Math.min(1000, Math.floor(this.heartbeatMs / 10))));
    conn.timer.unref();
    conn.attempt.established();
    this.#flush(conn.attempt);
    if (this.#dropped > 0) {
      this.#warn(`${this.#dropped} message(s) were dropped from the full offline outbox while disconnected`);
      this.#dropped = 0;
    }
    this.emit("connected");
  }

  #beat(conn: Connection): void {
    if (conn.attempt.ended) return;
    const now = performance.now();
    const action = heartbeat(conn, now, this.heartbeatMs, this.timeoutMs);
    if (action === "dead") {
      conn.attempt.fail(`${whereOf(conn.attempt.target)} sent nothing for ${Math.round((now - conn.lastIn) / 1000)} s (heartbeat timeout)`);
      return;
    }
    if (action === "ping") {
      conn.lastPing = now;
      this.#writeFrame(conn, encodeMessage({ type: "ping", id: 1 }, { to: "server" }));
    }
  }

  #response(conn: Connection, status: number): void {
    if (status === Status.SUCCESS) return;
    if (status === Status.NOT_AUTHENTICATED) {
      conn.attempt.fail(`${whereOf(conn.attempt.target)} says this device is not logged in (NOT_AUTHENTICATED, status 5)`);
      return;
    }
    const hint = status === Status.QUOTA_LIMIT ? " (the server's message quota: slow down)" : "";
    this.#warnEvery(`status ${status}`, `the server refused a message: ${describeStatus(status)}${hint}`);
  }

  #redirect(conn: Connection, host: string, port: number): void {
    // The device keeps its transport (TLS or not) and goes at once (docs/PROTOCOLS.md 3.4); servers
    // that send it round in a loop without ever taking the login get the usual backoff instead.
    const target: SocketTarget = { host, port, tls: conn.attempt.target.tls };
    this.#redirects++;
    this.emit("redirected", target);
    const loop = this.#redirects > MAX_REDIRECTS ? `redirected ${this.#redirects} times without a login (last to ${whereOf(target)})` : undefined;
    this.#socket.redirect(target, loop);
  }

  #respond(conn: Connection, id: number, status: number): void {
    try {
      this.#writeFrame(conn, encodeMessage({ type: "response", id, status }, { to: "server" }));
    } catch (err) {
      this.#warn(`could not answer the server: ${toError(err).message}`);
    }
  }

  /** Writes what the outbox holds, in order, while the socket keeps up. */
  #flush(attempt: SocketAttempt): void {
    const conn = this.#conn;
    if (conn?.attempt !== attempt || !conn.loggedIn) return;
    let moved = false;
    while (this.#outbox.length > 0 && attempt.backlog < BACKLOG_LIMIT && !attempt.ended) {
      const frames = this.#outbox.shift();
      if (frames !== undefined) this.#write(conn, frames, false);
      moved = true;
    }
    if (moved) this.#emitStatus();
  }

  #write(conn: Connection, frames: Outgoing[], sync: boolean): void {
    for (const frame of frames) {
      const id = conn.nextId;
      conn.nextId = id >= MAX_ID ? 1 : id + 1;
      frame.writeUInt16BE(id, 1);
      if (sync && frame[0] === Command.HARDWARE_SYNC) {
        this.#syncIds.push(id);
        if (this.#syncIds.length > SYNC_IDS_KEPT) this.#syncIds.shift();
      }
      this.#writeFrame(conn, frame);
    }
  }

  #writeFrame(conn: Connection, frame: Buffer): void {
    // Answers (PING, reads) are written whatever the backlog: a server that sends but never reads
    // would grow the socket's buffer without end, so such a connection is given up.
    if (conn.attempt.backlog > STALLED_LIMIT) {
      conn.attempt.fail(`${whereOf(conn.attempt.target)} does not read what this device sends (${conn.attempt.backlog} bytes waiting)`);
      return;
    }
    if (conn.attempt.write(frame)) conn.lastOut = performance.now();
  }

  #noteDropped(count: number): void {
    this.#dropped += count;
    // First drop, then every power of ten, so a long outage does not flood the log.
    if (Number.isInteger(Math.log10(this.#dropped))) {
      this.#warn(`the offline outbox is full (${this.#outbox.limit} writes): dropped the oldest; ${this.#dropped} message(s) dropped since the connection was lost`);
    }
  }

  #emitStatus(): void {
    this.emit("status", this.status);
  }

  /** One warning of a kind a minute: a server refusing every write (or sending only junk) must not flood the log. */
  #warnEvery(kind: string, text: string): void {
    const now = performance.now();
    const last = this.#warned.get(kind);
    if (last !== undefined && now - last < WARN_INTERVAL_MS) return;
    // Kinds are ours (a few words and status codes below 2^16): the map stays small.
    this.#warned.set(kind, now);
    this.#warn(text);
  }

  #warn(text: string): void {
    this.emit("warning", this.#redactor.redact(text));
  }
}

export { describeStatus };
