/**
 * One connection attempt to one server through a fresh MQTT.js client that is never reused.
 * After the connection ends (lost, or detached by its owner) it calls no hook any more, so late
 * MQTT.js callbacks of a dead client cannot disturb the session that owns it. Policy (backoff,
 * outbox, status) lives in MqttSession; this class only speaks to MQTT.js and reports.
 */
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import { guardCallback, TransportError, toError } from "./errors.js";
import type { MqttTarget } from "./mqtt-options.js";
import { describeNetworkError, reasonWords } from "./mqtt-reasons.js";
import type { InboundMessage, QoS } from "./pubsub.js";

export interface OutboundMessage {
  topic: string;
  payload: string | Buffer;
  qos: QoS;
  retain: boolean;
  /** Set while the caller still waits (sent while connected); absent once resolved as queued. */
  pending?: { resolve: () => void; reject: (err: Error) => void };
}

export interface ConnectionLoss {
  wasConnected: boolean;
  /** CONNACK return/reason code when the server refused the CONNECT. */
  refusal: number | undefined;
  /** What went wrong, in words (may still need redaction). */
  cause: string | undefined;
  /** Messages sent but not written (QoS 0) or acknowledged (QoS 1/2), oldest first. */
  unacked: OutboundMessage[];
}

export interface ConnectionHooks {
  connected(conn: MqttConnection): void;
  lost(conn: MqttConnection, loss: ConnectionLoss): void;
  message(message: InboundMessage): void;
  /** The server refused a message with an MQTT 5 reason code. */
  refused(message: OutboundMessage, error: TransportError): void;
  /** Something threw inside a callback; reported, never rethrown into MQTT.js or a timer. */
  internalError(err: Error): void;
}

/** How long a graceful end waits for the DISCONNECT to go out before destroying the socket. */
const CLOSE_GRACE_MS = 1000;

export class MqttConnection {
  readonly target: MqttTarget;
  readonly #client: MqttClient;
  readonly #hooks: ConnectionHooks;
  readonly #protocolVersion: 4 | 5;
  /** Insertion order is send order. */
  readonly #inflight = new Set<OutboundMessage>();
  /** Settle SUBSCRIBE/UNSUBSCRIBE waits when the connection ends. */
  readonly #waiters = new Set<() => void>();
  #connected = false;
  #ended = false;
  #refusal: number | undefined;
  #cause: string | undefined;

  /** Prepares the client; throws when MQTT.js rejects the options. Call open() to connect. */
  constructor(target: MqttTarget, options: IClientOptions, hooks: ConnectionHooks) {
    this.target = target;
    this.#hooks = hooks;
    this.#protocolVersion = options.protocolVersion === 5 ? 5 : 4;
    this.#client = connect(target.url, { ...options, manualConnect: true });
  }

  get connected(): boolean {
    return this.#connected;
  }

  get ended(): boolean {
    return this.#ended;
  }

  open(): void {
    const client = this.#client;
    const noteError = this.#guard((err: Error) => {
      this.#cause ??= describeNetworkError(err, this.target.where);
    });
    client.on("packetreceive", this.#guard((packet) => {
      if (packet.cmd !== "connack") return;
      const code = this.#protocolVersion === 5 ? packet.reasonCode : packet.returnCode;
      if (code !== undefined && code > 0) this.#refusal = code;
    }));
    client.on("connect", this.#guard(() => {
      if (this.#ended) return;
      this.#connected = true;
      this.#hooks.connected(this);
    }));
    client.on("message", this.#guard((topic, payload, packet) => {
      if (!this.#ended) this.#hooks.message({ topic, payload, qos: packet.qos, retain: packet.retain });
    }));
    client.on("disconnect", this.#guard((packet) => {
      const code = packet.reasonCode ?? 0;
      const where = this.target.where;
      this.#cause = code === 0 ? `${where} ended the connection` : `${where} disconnected us: ${reasonWords(code)}`;
      const why = packet.properties?.reasonString;
      if (why !== undefined) this.#cause += ` (${why})`;
    }));
    client.on("error", noteError);
    client.on("close", this.#guard(() => { this.#lose(); }));
    try {
      client.connect();
      // MQTT.js passes on only stream errors that carry a code; ws handshake failures have none.
      client.stream.on("error", noteError);
    } catch (err) {
      noteError(toError(err));
      this.#lose();
    }
  }

  /** Sends `m`; settles m.pending on write (QoS 0) or acknowledgement (QoS 1/2). */
  publish(m: OutboundMessage): void {
    this.#inflight.add(m);
    // MQTT.js reports success as null or undefined depending on the path.
    const done = this.#guard((err?: Error | null) => {
      if (this.#ended || !this.#inflight.has(m)) return;
      if (err === undefined || err === null) {
        this.#inflight.delete(m);
        m.pending?.resolve();
        return;
      }
      const code = (err as { code?: unknown }).code;
      if (typeof code !== "number") {
        // "Connection closed" and the like: this connection is unusable; the owner resends m.
        setImmediate(this.#guard(() => { this.#lose(); }));
        return;
      }
      this.#inflight.delete(m);
      const kind = code === 0x87 ? "auth" : code === 0x95 ? "too-large" : code === 0x96 || code === 0x97 ? "rate-limited" : "protocol";
      this.#hooks.refused(m, new TransportError(kind, `the server refused the message to "${m.topic}": ${reasonWords(code)}`, { status: code }));
    });
    try {
      this.#client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, done);
    } catch (err) {
      done(toError(err));
    }
  }

  /**
   * Resolves with the SUBACK failure code (>= 0x80) when the server refused, or undefined when it
   * granted the subscription or the connection ended first (the owner restores it on reconnect).
   */
  subscribe(filter: string, qos: QoS): Promise<number | undefined> {
    return new Promise((resolve) => {
      const onEnd = (): void => { resolve(undefined); };
      this.#waiters.add(onEnd);
      const done = this.#guard((codes: readonly unknown[]) => {
        if (this.#waiters.delete(onEnd)) resolve(codes.find((c): c is number => typeof c === "number" && c >= 0x80));
      });
      try {
        this.#client.subscribe(filter, { qos }, (_err, _granted, packet) => { done(packet?.granted ?? []); });
      } catch {
        done([]);
      }
    });
  }

  /** Resolves true on UNSUBACK, false when the connection ended first. */
  unsubscribe(filter: string): Promise<boolean> {
    return new Promise((resolve) => {
      const onEnd = (): void => { resolve(false); };
      this.#waiters.add(onEnd);
      const done = (): void => {
        if (this.#waiters.delete(onEnd)) resolve(true);
      };
      try {
        this.#client.unsubscribe(filter, done);
      } catch {
        done();
      }
    });
  }

  /** Ends this connection's life (no more hooks); returns its unacknowledged messages. */
  detach(): OutboundMessage[] {
    if (this.#ended) return [];
    this.#ended = true;
    this.#connected = false;
    for (const settle of [...this.#waiters]) settle();
    this.#waiters.clear();
    const unacked = [...this.#inflight];
    this.#inflight.clear();
    return unacked;
  }

  /**
   * Closes the client. Graceful sends DISCONNECT first (so the server discards the will), with a
   * short grace period; otherwise the socket is destroyed at once. Never rejects.
   */
  end(graceful: boolean): Promise<void> {
    const client = this.#client;
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      try {
        if (graceful && Object.keys(client.outgoing).length === 0) {
          timer = setTimeout(() => {
            try {
              client.stream.destroy();
            } catch {
              // already gone
            }
            finish();
          }, CLOSE_GRACE_MS);
          client.end(false, {}, finish);
        } else {
          client.end(true, finish);
        }
      } catch {
        finish();
      }
    });
  }

  #lose(): void {
    if (this.#ended) return;
    const loss: ConnectionLoss = {
      wasConnected: this.#connected,
      refusal: this.#refusal,
      cause: this.#cause,
      unacked: this.detach(),
    };
    void this.end(false);
    this.#hooks.lost(this, loss);
  }

  /** Wraps a callback handed to MQTT.js or a timer: nothing thrown may reach the event loop. */
  #guard<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return guardCallback(fn, (err) => {
      this.#hooks.internalError(err);
    });
  }
}
