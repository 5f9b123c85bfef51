/**
 * One socket of the binary hardware protocol on the server side (docs/ARCHITECTURE.md 3.7):
 * bytes -> typed messages through the codec's FrameDecoder, messages -> frames within what the
 * device can read, the timers (login, idle), the legacy quota and bounded write buffering.
 * Knows nothing of hosted devices: server.ts logs it in, session.ts serves it.
 *
 * Decisions:
 * - Inbound bodies up to MAX_INBOUND_BODY (firmware may be built with a larger send buffer than
 *   a device's 256-byte read buffer); outbound within the device's `buff-in`, 256 until it said.
 * - A frame that cannot be trusted (unknown command, id 0, a length its command cannot have,
 *   garbage) closes this connection with a `protocol-closed` event; a body that makes no sense is
 *   answered with its status (ILLEGAL_COMMAND / ILLEGAL_COMMAND_BODY) and the connection stays.
 * - Quota: the legacy server's 100 messages/s (or the broker's device rate): over it a message
 *   is dropped and QUOTA_LIMIT answered at most once a minute, as the legacy server did; far
 *   over it for long (the broker's flood rule) the connection is closed.
 * - What waits to be written is bounded (MAX_WRITE_BUFFERED): a device that does not read is cut off.
 */
import type { Duplex } from "node:stream";
import type { PeerAddress } from "../../broker/index.js";
import type { PublishLimiter } from "../../broker/publish-limit.js";
import { TransportError, toError } from "../../transport/errors.js";
import { BlynkFrameError, Command, FrameDecoder, MAX_ID, parseMessage, encodeMessage, sendLimit, heartbeatTimeoutMs, Status, type BlynkMessage, type HardwareInfo } from "../binary/index.js";

/** Longest body a device may send us. */
export const MAX_INBOUND_BODY = 4096;
/** Bytes written but not yet taken by the socket before the device counts as not reading. */
export const MAX_WRITE_BUFFERED = 256 * 1024;
/** Heartbeat assumed until the device's info says otherwise: 1.x's 45 s (the longest default), so no device flaps. */
export const DEFAULT_HEARTBEAT_S = 45;
/** QUOTA_LIMIT is answered at most this often (the legacy server's once a minute). */
const QUOTA_ANSWER_MS = 60_000;

/** Why the broker closed a connection: the `protocol-closed` event's code and its details. */
export interface CloseReason {
  code: string;
  reason: string;
}

export interface ConnectionHooks {
  /** A message arrived (any inbound frame also counts as activity). */
  message(message: BlynkMessage): void;
  /** The connection ended; `why` when the broker closed it for a reason worth an event. */
  closed(why: CloseReason | undefined): void;
}

export class BinaryConnection {
  readonly peer: PeerAddress;
  readonly clientId: string;
  readonly #stream: Duplex;
  readonly #decoder = new FrameDecoder({ from: "device", maxBody: MAX_INBOUND_BODY });
  #hooks: ConnectionHooks | undefined;
  #info: HardwareInfo | undefined;
  #limit: PublishLimiter | undefined;
  #nextId = 1;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #quotaAnsweredAt = -Infinity;
  /** Called with every inbound frame while a liveness probe waits (server.ts, second login). */
  #onActivity: (() => void) | undefined;

  constructor(stream: Duplex, peer: PeerAddress) {
    this.#stream = stream;
    this.peer = peer;
    this.clientId = `blynk:${peer.address ?? "?"}:${String(peer.port ?? "?")}`;
    stream.on("data", (chunk: Buffer) => {
      this.#data(chunk);
    });
    stream.on("error", () => undefined); // followed by close
    stream.on("end", () => {
      this.close();
    });
    stream.on("close", () => {
      this.#ended(undefined);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** As `closed`, as a call: checked again after something that may have closed it. */
  isClosed(): boolean {
    return this.#closed;
  }

  /** What the device's info message said (h-beat, buff-in), once it sent one. */
  get info(): HardwareInfo | undefined {
    return this.#info;
  }

  /** The largest body the device can read. */
  get sendLimit(): number {
    return sendLimit(this.#info);
  }

  /** Who handles what arrives from now on. */
  serve(hooks: ConnectionHooks): void {
    this.#hooks = hooks;
  }

  /** Closed with `why` unless it answers within `ms`: the login timer, then the idle timer. */
  deadline(ms: number, why: CloseReason): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.close(why);
    }, ms);
    this.#timer.unref();
  }

  /** Logged in: idle for longer than ~2.3 heartbeats closes it; any inbound frame restarts the count. */
  idle(heartbeatS: number): void {
    const ms = heartbeatTimeoutMs(heartbeatS);
    this.deadline(ms, { code: "idle-timeout", reason: `nothing received for ${String(ms / 1000)} s (heartbeat ${String(heartbeatS)} s x 2.3): the device is gone` });
  }

  /** The info message: from now on its buff-in caps what is sent and its h-beat the idle timeout. */
  setInfo(info: HardwareInfo): void {
    this.#info = info;
    this.idle(info.heartbeat ?? DEFAULT_HEARTBEAT_S);
  }

  /** The quota the connection's messages pass once logged in (undefined = none). */
  limit(limiter: PublishLimiter | undefined): void {
    this.#limit = limiter;
  }

  /** A fresh message id for what the server starts (1..65535, then 1 again). */
  nextId(): number {
    const id = this.#nextId;
    this.#nextId = id >= MAX_ID ? 1 : id + 1;
    return id;
  }

  /**
   * Sends a message within the device's buffer. Returns false when it was not sent: the
   * connection is closed, or the message is over the device's buffer (a TransportError
   * "too-large" is thrown then, for the caller to report).
   */
  send(message: BlynkMessage): boolean {
    if (this.#closed) return false;
    const bytes = encodeMessage(message, { to: "device", maxBody: this.sendLimit });
    if (this.#stream.writableLength > MAX_WRITE_BUFFERED) {
      this.close({ code: "slow-reader", reason: `more than ${String(MAX_WRITE_BUFFERED)} bytes wait to be written: the device does not read` });
      return false;
    }
    this.#stream.write(bytes);
    return true;
  }

  /** Answers message `id` with a status. */
  respond(id: number, status: number): void {
    this.send({ type: "response", id, status });
  }

  /** A liveness probe (server.ts): PING, and `onAlive` at the next inbound frame. */
  probe(onAlive: () => void): void {
    this.#onActivity = onAlive;
    this.send({ type: "ping", id: this.nextId() });
  }

  /** Stops reading (a login waits for a decision). */
  pause(): void {
    this.#stream.pause();
  }

  resume(): void {
    this.#stream.resume();
  }

  /** Ends the connection once what was written is flushed; `why` becomes a `protocol-closed` event. */
  close(why?: CloseReason): void {
    if (this.#closed) return;
    this.#stream.end();
    // A peer that does not take the last bytes must not hold the socket.
    const force = setTimeout(() => this.#stream.destroy(), 2000);
    force.unref();
    this.#ended(why);
  }

  /** Drops the connection at once (nothing more is written). */
  destroy(why?: CloseReason): void {
    this.#stream.destroy();
    this.#ended(why);
  }

  #ended(why: CloseReason | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#onActivity = undefined;
    const hooks = this.#hooks;
    this.#hooks = undefined;
    hooks?.closed(why);
  }

  #data(chunk: Buffer): void {
    if (this.#closed) return;
    const { frames, error } = this.#decoder.push(chunk);
    for (const frame of frames) {
      if (this.isClosed()) return;
      this.#timer?.refresh();
      const activity = this.#onActivity;
      this.#onActivity = undefined;
      activity?.();
      if (frame.command !== Command.PING && frame.command !== Command.RESPONSE && !this.#admit(frame.id)) continue;
      let message: BlynkMessage;
      try {
        message = parseMessage(frame, "device");
      } catch (err) {
        const status = err instanceof TransportError && err.status !== undefined ? err.status : Status.ILLEGAL_COMMAND_BODY;
        this.respond(frame.id, status);
        continue;
      }
      try {
        this.#hooks?.message(message);
      } catch (err) {
        // A handler must not throw; if it did, this connection ends, nothing else.
        this.destroy({ code: "server-error", reason: toError(err).message });
        return;
      }
    }
    if (error !== undefined) this.destroy(frameProblem(error));
  }

  /** The quota: false drops the message (answered QUOTA_LIMIT at most once a minute); a flood closes. */
  #admit(id: number): boolean {
    const admission = this.#limit?.admit() ?? "ok";
    if (admission === "ok") return true;
    if (admission === "flood") {
      const perSecond = this.#limit?.limit.perSecond ?? 0;
      this.destroy({ code: "flood", reason: `far more than ${String(perSecond)} messages/s for long (the legacy quota): cut off` });
      return false;
    }
    const now = Date.now();
    if (now - this.#quotaAnsweredAt >= QUOTA_ANSWER_MS) {
      this.#quotaAnsweredAt = now;
      this.respond(id, Status.QUOTA_LIMIT);
    }
    return false;
  }
}

function frameProblem(error: BlynkFrameError): CloseReason {
  return { code: "bad-frame", reason: `${error.reason}: ${error.message}` };
}
