/**
 * A TCP or TLS client connection kept alive across attempts, for protocols that are not MQTT
 * (Blynk's binary protocol). It owns the socket, the connect timeout, reconnects with backoff (a
 * long one after refused credentials, reset once a connection held), redirects and a pushed
 * status; the protocol on top owns the bytes: it is told when a socket opened, what arrived and
 * when it closed, and says when its handshake passed (`established`) or why the connection must
 * end (`fail`). Every socket and timer callback is guarded: nothing thrown reaches the event loop.
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { guardCallback, TransportError, toError } from "./errors.js";
import { describeNetworkError } from "./mqtt-reasons.js";
import type { LinkState, LinkStatus } from "./pubsub.js";
import { Redactor } from "./redact.js";
import type { TlsOptions } from "./tls-config.js";
import { TypedEmitter } from "./typed-emitter.js";

export interface SocketTarget {
  host: string;
  port: number;
  tls: boolean;
}

/** "host:port" for messages. */
export function whereOf(target: SocketTarget): string {
  return `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
}

export interface SocketSessionOptions {
  target: SocketTarget;
  /** TLS settings of a tls-config node (used when target.tls). */
  tls?: TlsOptions;
  /** TCP (and TLS) connect timeout; default 30 s. */
  connectTimeoutMs?: number;
  reconnect?: BackoffOptions;
  /** After refused credentials; default 60 s doubling up to 15 min (as the MQTT session). */
  authBackoff?: BackoffOptions;
  /** An established connection that held this long resets the reconnect backoff; default 10 s. */
  stableAfterMs?: number;
  random?: () => number;
  redactor?: Redactor;
}

/** One connection attempt as the protocol sees it. */
export interface SocketAttempt {
  readonly target: SocketTarget;
  /** Bytes waiting in the socket's buffer (written but not yet sent). */
  readonly backlog: number;
  readonly ended: boolean;
  /** Writes `bytes`; false once the attempt ended (nothing is written then). */
  write(bytes: Uint8Array): boolean;
  /** The protocol's handshake passed: the session is connected. */
  established(): void;
  /** Ends this attempt; the session tries again (slowly when `auth`), or at once with `now`. */
  fail(reason: string, options?: { auth?: boolean; refusal?: number; now?: boolean }): void;
}

export interface SocketHooks {
  opened(attempt: SocketAttempt): void;
  data(attempt: SocketAttempt, chunk: Buffer): void;
  /** The socket drained its write buffer. */
  drained(attempt: SocketAttempt): void;
  /** The attempt is over (whatever ended it): stop its timers. */
  closed(attempt: SocketAttempt, wasEstablished: boolean): void;
}

export type SocketSessionEvents = {
  status: [Omit<LinkStatus, "queued">];
  warning: [string];
  listenerError: [unknown, string];
};

const DEFAULT_RECONNECT: BackoffOptions = { initialMs: 1000, maxMs: 60_000 };
const DEFAULT_AUTH_BACKOFF: BackoffOptions = { initialMs: 60_000, maxMs: 15 * 60_000 };

interface Ending {
  reason: string;
  auth: boolean;
  refusal?: number;
  now: boolean;
}

class Attempt implements SocketAttempt {
  readonly target: SocketTarget;
  readonly socket: Socket;
  isEstablished = false;
  ending: Ending | undefined;
  cause: string | undefined;
  #ended = false;
  readonly #session: SocketSession;

  constructor(session: SocketSession, target: SocketTarget, socket: Socket) {
    this.#session = session;
    this.target = target;
    this.socket = socket;
  }

  get backlog(): number {
    return this.socket.writableLength;
  }

  get ended(): boolean {
    return this.#ended;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#ended || this.socket.destroyed) return false;
    this.socket.write(bytes);
    return true;
  }

  established(): void {
    if (this.#ended || this.isEstablished) return;
    this.isEstablished = true;
    this.#session.onEstablished(this);
  }

  fail(reason: string, options: { auth?: boolean; refusal?: number; now?: boolean } = {}): void {
    if (this.#ended) return;
    this.ending ??= { reason, auth: options.auth === true, now: options.now === true, ...(options.refusal === undefined ? {} : { refusal: options.refusal }) };
    this.socket.destroy();
  }

  /** Marks the attempt over; true the first time. */
  end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    return true;
  }
}

export class SocketSession extends TypedEmitter<SocketSessionEvents> {
  readonly #hooks: SocketHooks;
  readonly #tls: TlsOptions;
  readonly #connectTimeoutMs: number;
  readonly #stableAfterMs: number;
  readonly #backoff: Backoff;
  readonly #authBackoff: Backoff;
  readonly #redactor: Redactor;
  #target: SocketTarget;
  #attempt: Attempt | undefined;
  #state: LinkState = "disconnected";
  #reason: string | undefined = "not started";
  #retryInMs: number | undefined;
  #refusal: number | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  constructor(options: SocketSessionOptions, hooks: SocketHooks) {
    super();
    this.#target = checkTarget(options.target);
    this.#hooks = hooks;
    this.#tls = options.tls ?? {};
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    this.#stableAfterMs = options.stableAfterMs ?? 10_000;
    this.#redactor = options.redactor ?? new Redactor();
    this.#backoff = new Backoff({ ...DEFAULT_RECONNECT, random: options.random, ...options.reconnect });
    this.#authBackoff = new Backoff({ ...DEFAULT_AUTH_BACKOFF, random: options.random, ...options.authBackoff });
  }

  get target(): SocketTarget {
    return { ...this.#target };
  }

  get status(): Omit<LinkStatus, "queued"> {
    return {
      state: this.#state,
      ...(this.#reason === undefined ? {} : { reason: this.#reason }),
      ...(this.#retryInMs === undefined ? {} : { retryInMs: this.#retryInMs }),
      ...(this.#refusal === undefined ? {} : { refusal: this.#refusal }),
    };
  }

  /** The established connection, if there is one. */
  get current(): SocketAttempt | undefined {
    return this.#attempt?.isEstablished === true && !this.#attempt.ended ? this.#attempt : undefined;
  }

  start(): void {
    if (this.#closed) throw new TransportError("closed", "the connection is closed");
    if (this.#started) return;
    this.#started = true;
    this.#open();
  }

  /**
   * Moves to another server: the current connection ends and the new one is tried at once, or
   * after the usual backoff when `delayed` gives the reason (a server redirecting in a loop).
   */
  redirect(target: SocketTarget, delayed?: string): void {
    if (this.#closed) return;
    this.#target = checkTarget(target);
    if (delayed === undefined) {
      this.#backoff.reset();
      this.#authBackoff.reset();
    }
    const attempt = this.#attempt;
    if (attempt === undefined) {
      if (!this.#started || delayed !== undefined) return; // the scheduled retry goes to the new target
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#open();
      return;
    }
    if (delayed === undefined) attempt.fail(`redirected to ${whereOf(this.#target)}`, { now: true });
    else attempt.fail(delayed);
  }

  /** Ends for good: no more attempts. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#stableTimer);
    this.#retryTimer = undefined;
    this.#stableTimer = undefined;
    const attempt = this.#attempt;
    this.#attempt = undefined;
    this.#setState("closed");
    if (attempt === undefined || attempt.socket.destroyed) {
      if (attempt !== undefined) this.#finish(attempt);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      attempt.socket.once("close", () => { resolve(); });
      this.#finish(attempt);
      attempt.socket.destroy();
    });
  }

  /** Called by an attempt whose protocol handshake passed. */
  onEstablished(attempt: Attempt): void {
    if (attempt !== this.#attempt) return;
    this.#authBackoff.reset();
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = undefined;
      this.#backoff.reset();
    }, this.#stableAfterMs);
    this.#stableTimer.unref();
    this.#setState("connected");
  }

  #open(): void {
    if (this.#closed) return;
    const target = this.#target;
    const where = whereOf(target);
    this.#setState("connecting");
    let socket: Socket;
    try {
      socket = target.tls
        ? tlsConnect({
          host: target.host,
          port: target.port,
          // SNI is for host names only (Node warns about an IP address there).
          ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
          ...this.#tls,
          rejectUnauthorized: this.#tls.rejectUnauthorized !== false,
        })
        : netConnect({ host: target.host, port: target.port });
    } catch (err) {
      this.#retryLater(false, `could not start connecting to ${where}: ${toError(err).message}`);
      return;
    }
    const attempt = new Attempt(this, target, socket);
    this.#attempt = attempt;
    socket.setNoDelay(true);
    socket.setTimeout(this.#connectTimeoutMs);
    socket.on("timeout", this.#guard(() => {
      attempt.cause ??= `connection to ${where} timed out`;
      socket.destroy();
    }));
    socket.on(target.tls ? "secureConnect" : "connect", this.#guard(() => {
      socket.setTimeout(0);
      if (attempt.ended) return;
      this.#hooks.opened(attempt);
    }));
    socket.on("data", this.#guard((chunk: Buffer) => {
      if (!attempt.ended) this.#hooks.data(attempt, chunk);
    }));
    socket.on("drain", this.#guard(() => {
      if (!attempt.ended) this.#hooks.drained(attempt);
    }));
    socket.on("error", this.#guard((err: Error) => {
      attempt.cause ??= describeNetworkError(err, where);
    }));
    socket.on("close", this.#guard(() => { this.#lost(attempt); }));
  }

  #lost(attempt: Attempt): void {
    const was = attempt.isEstablished;
    if (!this.#finish(attempt) || this.#attempt !== attempt) return;
    this.#attempt = undefined;
    clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
    const ending = attempt.ending;
    const where = whereOf(attempt.target);
    if (ending !== undefined) {
      if (ending.now) {
        this.#open();
        return;
      }
      this.#retryLater(ending.auth, ending.reason, ending.refusal);
      return;
    }
    this.#retryLater(false, `${was ? "connection lost" : "could not connect"}: ${attempt.cause ?? `${where} closed the connection`}`);
  }

  /** Ends `attempt` for the protocol (its `closed` hook); true the first time. */
  #finish(attempt: Attempt): boolean {
    if (!attempt.end()) return false;
    try {
      this.#hooks.closed(attempt, attempt.isEstablished);
    } catch (err) {
      this.#warn(`internal error after a connection ended: ${toError(err).message}`);
    }
    return true;
  }

  #retryLater(auth: boolean, reason: string, refusal?: number): void {
    if (this.#closed) return;
    const delay = (auth ? this.#authBackoff : this.#backoff).next();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(this.#guard(() => {
      this.#retryTimer = undefined;
      this.#open();
    }), delay);
    this.#setState(auth ? "auth-failed" : "disconnected", reason, delay, refusal);
  }

  #setState(state: LinkState, reason?: string, retryInMs?: number, refusal?: number): void {
    this.#state = state;
    this.#reason = reason === undefined ? undefined : this.#redactor.redact(reason);
    this.#retryInMs = retryInMs;
    this.#refusal = refusal;
    this.emit("status", this.status);
  }

  #warn(text: string): void {
    this.emit("warning", this.#redactor.redact(text));
  }

  #guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return guardCallback(fn, (err) => {
      this.#warn(`internal error in the connection: ${err.message}`);
    });
  }
}

function checkTarget(target: SocketTarget): SocketTarget {
  const { host, port } = target;
  if (typeof host !== "string" || host === "") throw new TransportError("invalid", "the server needs a host name or address");
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new TransportError("invalid", `port must be a whole number from 1 to 65535, got ${String(port)}`);
  return { host, port, tls: target.tls };
}
