/**
 * The MQTT connection every remote Blynk / ThingsBoard / ThingSpeak link uses. MqttConnection
 * speaks MQTT.js for one attempt; this class keeps the link alive across attempts: reconnects
 * with backoff (a long one after refused credentials), resubscription, the offline outbox,
 * redirects and a pushed status.
 *
 * Publish contract: while connected, publish resolves when the message is written (QoS 0) or
 * acknowledged (QoS 1/2). While not connected it resolves as soon as the message is in the
 * offline outbox; queued messages go out in order, before anything newer, on the next connect.
 * Messages in flight when a connection drops go back to the head of the outbox and are resent
 * (at least once); a publish still waiting for its acknowledgement stays pending until then.
 * Subscribing while not connected resolves once recorded; the SUBSCRIBE goes out on connect and
 * a refusal then is reported as a warning.
 */
import { Backoff } from "./backoff.js";
import { TransportError, toError } from "./errors.js";
import { MqttConnection, type ConnectionLoss, type OutboundMessage } from "./mqtt-connection.js";
import {
  clientOptions, DEFAULT_AUTH_BACKOFF, DEFAULT_RECONNECT, parseMqttUrl, registerMqttSecrets, resolveOptions,
  type MqttSessionOptions, type MqttTarget, type ResolvedMqttOptions,
} from "./mqtt-options.js";
import { describeConnackRefusal, isAuthRefusal, reasonWords } from "./mqtt-reasons.js";
import { Outbox } from "./outbox.js";
import type {
  InboundMessage, LinkState, LinkStatus, MessageHandler, PublishOptions, PubSub, PubSubEvents, QoS,
  SubscribeOptions, Subscription,
} from "./pubsub.js";
import { Redactor } from "./redact.js";
import { assertTopicFilter, assertTopicName, topicMatches } from "./topic.js";
import { TypedEmitter } from "./typed-emitter.js";

export type { MqttSessionOptions, MqttTlsOptions, MqttWill } from "./mqtt-options.js";

export type MqttSessionEvents = PubSubEvents & {
  /** The link is connected, subscriptions were re-sent and the outbox flushed. */
  connected: [];
  /** Every inbound message, after the subscription handlers ran. */
  message: [InboundMessage];
  /**
   * The server dropped this many accepted connections in a row before they held (stableAfterMs):
   * most likely another client connects with the same client id and each CONNECT takes the
   * session over. Said once per session, the first time the count reaches KICKS_TO_REPORT.
   */
  kicked: [number];
};

/** Short-lived connections in a row that count as being kicked off rather than bad luck. */
export const KICKS_TO_REPORT = 3;

interface HandlerSlot {
  /** Returns unknown, not void: an async function is a valid MessageHandler and its promise matters. */
  handler: (message: InboundMessage) => unknown;
}

interface FilterRecord {
  filter: string;
  /** What incoming topics are matched against ($share/<group>/ stripped). */
  match: string;
  qos: QoS;
  handlers: Set<HandlerSlot>;
  /** The SUBSCRIBE currently waiting for its SUBACK, if any. */
  pending?: Promise<void>;
}

export class MqttSession extends TypedEmitter<MqttSessionEvents> implements PubSub {
  readonly maxPayloadBytes: number;
  #opts: ResolvedMqttOptions;
  readonly #redactor: Redactor;
  readonly #backoff: Backoff;
  readonly #authBackoff: Backoff;
  readonly #outbox: Outbox<OutboundMessage>;
  readonly #subs = new Map<string, FilterRecord>();
  /** Filters dropped while offline that a persistent session may still hold (clean = false). */
  readonly #staleFilters = new Set<string>();
  #target: MqttTarget;
  #conn: MqttConnection | undefined;
  #state: LinkState = "disconnected";
  #reason: string | undefined = "not started";
  #retryInMs: number | undefined;
  /** The CONNACK code of the refusal the state is about, if it is about one. */
  #refusal: number | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #statusTick: NodeJS.Immediate | undefined;
  #dropped = 0;
  /** Accepted connections lost in a row before they held. */
  #kicks = 0;
  #kickReported = false;
  #started = false;
  #closing: Promise<void> | undefined;

  constructor(options: MqttSessionOptions) {
    super();
    this.#redactor = options.redactor ?? new Redactor();
    this.#target = parseMqttUrl(options.url);
    registerMqttSecrets(this.#redactor, options.password ?? this.#target.password, options.username ?? this.#target.username);
    this.#redactor.add(this.#target.password);
    this.#opts = resolveOptions(options);
    this.maxPayloadBytes = this.#opts.maxPayloadBytes;
    this.#outbox = new Outbox(this.#opts.outboxLimit);
    this.#backoff = new Backoff({ ...DEFAULT_RECONNECT, random: options.random, ...options.reconnect });
    this.#authBackoff = new Backoff({ ...DEFAULT_AUTH_BACKOFF, random: options.random, ...options.authBackoff });
  }

  /** The server currently used, normalised and without user info. */
  get url(): string {
    return this.#target.url;
  }

  get status(): LinkStatus {
    const status: LinkStatus = { state: this.#state, queued: this.#outbox.length };
    if (this.#reason !== undefined) status.reason = this.#reason;
    if (this.#retryInMs !== undefined) status.retryInMs = this.#retryInMs;
    if (this.#refusal !== undefined) status.refusal = this.#refusal;
    return status;
  }

  /** start() was called (the session is connecting, connected, retrying or closed). */
  get started(): boolean {
    return this.#started;
  }

  /** Starts connecting (idempotent). */
  start(): void {
    this.#assertOpen();
    if (this.#started) return;
    this.#started = true;
    this.#open();
  }

  /**
   * Replaces the CONNECT credentials before start: a ThingsBoard device that provisioned itself
   * learns them only then (thingsboard/link-mqtt.ts). The new secrets are redacted like the first.
   */
  setCredentials(credentials: { clientId?: string; username?: string; password?: string }): void {
    this.#assertOpen();
    if (this.#started) throw new TransportError("invalid", "the credentials of an MQTT session can only change before it starts");
    registerMqttSecrets(this.#redactor, credentials.password, credentials.username);
    this.#opts = { ...this.#opts, clientId: credentials.clientId ?? "", username: credentials.username, password: credentials.password };
  }

  /** Moves to another server (e.g. Blynk downlink/redirect), keeping subscriptions and outbox. */
  redirect(url: string): void {
    this.#assertOpen();
    const target = parseMqttUrl(url);
    registerMqttSecrets(this.#redactor, target.password, target.username);
    this.#target = target;
    if (!this.#started) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const conn = this.#conn;
    if (conn !== undefined) {
      const graceful = conn.connected;
      this.#conn = undefined;
      this.#requeue(conn.detach());
      void conn.end(graceful);
    }
    this.#backoff.reset();
    this.#authBackoff.reset();
    this.#open();
  }

  async publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    let message: OutboundMessage;
    try {
      this.#assertOpen();
      assertTopicName(topic);
      if (typeof payload !== "string" && !Buffer.isBuffer(payload)) {
        throw new TransportError("invalid", `payload must be a string or a Buffer, got ${typeof payload}`);
      }
      const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
      if (size > this.maxPayloadBytes) {
        throw new TransportError(
          "too-large",
          `payload for "${topic}" is ${size} bytes, over this link's limit of ${this.maxPayloadBytes} bytes`,
        );
      }
      message = { topic, payload, qos: checkQos(options.qos), retain: options.retain === true };
    } catch (err) {
      throw this.#redactor.redactError(toError(err));
    }
    const conn = this.#conn;
    if (conn?.connected === true && this.#outbox.length === 0) {
      await new Promise<void>((resolve, reject) => {
        conn.publish({ ...message, pending: { resolve, reject } });
      });
      return;
    }
    if (this.#outbox.limit === 0) {
      throw new TransportError("network", `not connected (${this.#state}) and the offline outbox is disabled`);
    }
    this.#requeue([], [message]);
  }

  async subscribe(filter: string, handler: MessageHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.#assertOpen();
    assertTopicFilter(filter);
    if (typeof handler !== "function") throw new TransportError("invalid", "the message handler must be a function");
    const qos = checkQos(options.qos);
    let rec = this.#subs.get(filter);
    const fresh = rec === undefined;
    if (rec === undefined) {
      const match = filter.startsWith("$share/") ? filter.split("/").slice(2).join("/") : filter;
      rec = { filter, match, qos, handlers: new Set() };
      this.#subs.set(filter, rec);
      this.#staleFilters.delete(filter);
    }
    const slot: HandlerSlot = { handler };
    rec.handlers.add(slot);
    const upgrade = qos > rec.qos;
    if (upgrade) rec.qos = qos;
    const conn = this.#conn;
    try {
      // One broker subscription per filter: later handlers join it (or the SUBACK it awaits).
      if (conn?.connected === true && (fresh || upgrade)) await this.#subscribeOn(conn, rec);
      else if (rec.pending !== undefined) await rec.pending;
    } catch (err) {
      rec.handlers.delete(slot);
      if (rec.handlers.size === 0 && this.#subs.get(filter) === rec) this.#subs.delete(filter);
      throw err;
    }
    const record = rec;
    return { filter, unsubscribe: () => this.#unsubscribe(record, slot) };
  }

  /** Ends the link for good: no retries, unsent messages discarded (pending publishes rejected). */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
    const conn = this.#conn;
    this.#conn = undefined;
    const graceful = conn?.connected === true;
    const unsent = [...(conn?.detach() ?? []), ...this.#outbox.drain()];
    this.#closing = conn === undefined ? Promise.resolve() : conn.end(graceful);
    let discarded = 0;
    for (const m of unsent) {
      if (m.pending === undefined) discarded++;
      else m.pending.reject(new TransportError("closed", `the link was closed before the message to "${m.topic}" was sent`));
    }
    if (discarded > 0) this.#warn(`${discarded} queued message(s) were discarded because the link was closed`);
    this.#setState("closed");
    return this.#closing;
  }

  // ---- connection lifecycle ----

  #open(): void {
    if (this.#closing !== undefined) return;
    const target = this.#target;
    this.#setState("connecting");
    let conn: MqttConnection;
    try {
      conn = new MqttConnection(target, clientOptions(target, this.#opts), {
        connected: (c) => { this.#onConnected(c); },
        lost: (c, loss) => { this.#onLost(c, loss); },
        message: (m) => { this.#dispatch(m); },
        refused: (m, err) => {
          if (m.pending === undefined) this.#warn(err.message);
          else m.pending.reject(this.#redactor.redactError(err));
        },
        internalError: (err) => { this.#warn(`internal error in the MQTT session: ${err.message}`); },
      });
    } catch (err) {
      this.#retryLater(false, `could not start connecting to ${target.where}: ${toError(err).message}`);
      return;
    }
    this.#conn = conn;
    conn.open();
  }

  #onConnected(conn: MqttConnection): void {
    // The credentials were accepted; the network is trusted again only once the link holds.
    this.#authBackoff.reset();
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.#stableTimer = undefined;
      this.#backoff.reset();
      this.#kicks = 0;
    }, this.#opts.stableAfterMs);
    this.#stableTimer.unref();
    for (const filter of this.#staleFilters) void conn.unsubscribe(filter);
    this.#staleFilters.clear();
    // MQTT.js writes packets in call order: SUBSCRIBEs, then the backlog, then newer publishes.
    for (const rec of this.#subs.values()) {
      this.#subscribeOn(conn, rec).catch((err: unknown) => {
        this.#warn(`could not restore a subscription: ${toError(err).message}`);
      });
    }
    for (const m of this.#outbox.drain()) conn.publish(m);
    if (this.#dropped > 0) {
      this.#warn(`${this.#dropped} message(s) were dropped from the full offline outbox while disconnected`);
      this.#dropped = 0;
    }
    this.#setState("connected");
    this.emit("connected");
  }

  /** The connection (or attempt) is gone: put unacknowledged messages back and schedule a retry. */
  #onLost(conn: MqttConnection, loss: ConnectionLoss): void {
    if (this.#conn !== conn) return;
    this.#conn = undefined;
    if (loss.wasConnected && this.#stableTimer !== undefined) this.#noteKick();
    clearTimeout(this.#stableTimer);
    this.#stableTimer = undefined;
    this.#requeue(loss.unacked);
    const version = this.#opts.protocolVersion;
    if (loss.refusal !== undefined) {
      this.#retryLater(isAuthRefusal(loss.refusal, version), describeConnackRefusal(loss.refusal, version), loss.refusal);
    } else {
      const cause = loss.cause ?? `${conn.target.where} closed the connection`;
      this.#retryLater(false, `${loss.wasConnected ? "connection lost" : "could not connect"}: ${cause}`);
    }
  }

  #noteKick(): void {
    this.#kicks++;
    if (this.#kicks < KICKS_TO_REPORT || this.#kickReported) return;
    this.#kickReported = true;
    this.emit("kicked", this.#kicks);
  }

  #retryLater(auth: boolean, reason: string, refusal?: number): void {
    const delay = (auth ? this.#authBackoff : this.#backoff).next();
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      try {
        this.#open();
      } catch (err) {
        this.#warn(`internal error in the MQTT session: ${toError(err).message}`);
      }
    }, delay);
    this.#setState(auth ? "auth-failed" : "disconnected", reason, delay, refusal);
  }

  /** Puts `front` at the head of the outbox and `back` at its tail, reporting what overflowed. */
  #requeue(front: OutboundMessage[], back: OutboundMessage[] = []): void {
    if (front.length === 0 && back.length === 0) return;
    const dropped = this.#outbox.requeue(front);
    for (const m of back) dropped.push(...this.#outbox.push(m));
    for (const m of dropped) {
      this.#dropped++;
      const what = `the offline outbox is full (${this.#outbox.limit} messages): dropped the oldest message, to "${m.topic}"`;
      m.pending?.reject(new TransportError("overflow", what));
      // First drop, then every power of ten, so a long outage does not flood the log.
      if (Number.isInteger(Math.log10(this.#dropped))) {
        this.#warn(`${what}; ${this.#dropped} dropped since the connection was lost`);
      }
    }
    this.#queuedChanged();
  }

  // ---- subscriptions ----

  #subscribeOn(conn: MqttConnection, rec: FilterRecord): Promise<void> {
    const sent = conn.subscribe(rec.filter, rec.qos).then((code) => {
      if (code === undefined) return;
      const hint = code === 0x80 ? " (are these credentials allowed to subscribe to it?)" : "";
      throw this.#redactor.redactError(new TransportError(
        code === 0x87 ? "auth" : "protocol",
        `the server refused the subscription to "${rec.filter}": ${reasonWords(code)}${hint}`,
        { status: code },
      ));
    });
    rec.pending = sent;
    const clear = (): void => {
      if (rec.pending === sent) delete rec.pending;
    };
    sent.then(clear, clear);
    return sent;
  }

  async #unsubscribe(rec: FilterRecord, slot: HandlerSlot): Promise<void> {
    if (!rec.handlers.delete(slot) || rec.handlers.size > 0 || this.#subs.get(rec.filter) !== rec) return;
    this.#subs.delete(rec.filter);
    if (this.#closing !== undefined) return;
    const conn = this.#conn;
    const acked = conn?.connected === true && (await conn.unsubscribe(rec.filter));
    if (!acked && !this.#opts.clean && !this.#subs.has(rec.filter)) this.#staleFilters.add(rec.filter);
  }

  #dispatch(message: InboundMessage): void {
    const called = new Set<HandlerSlot["handler"]>();
    for (const rec of [...this.#subs.values()]) {
      if (!topicMatches(rec.match, message.topic)) continue;
      for (const { handler } of [...rec.handlers]) {
        if (called.has(handler)) continue; // one call per message even if two filters match
        called.add(handler);
        const report = (err: unknown): void => {
          this.#warn(`the handler for "${rec.filter}" failed on a message to "${message.topic}": ${toError(err).message}`);
        };
        try {
          const result = handler(message);
          // An async handler's rejection must not become an unhandled rejection.
          if (result instanceof Promise) {
            result.catch(report);
          }
        } catch (err) {
          report(err);
        }
      }
    }
    this.emit("message", message);
  }

  // ---- status and plumbing ----

  #setState(state: LinkState, reason?: string, retryInMs?: number, refusal?: number): void {
    clearImmediate(this.#statusTick);
    this.#statusTick = undefined;
    this.#state = state;
    this.#reason = reason === undefined ? undefined : this.#redactor.redact(reason);
    this.#retryInMs = retryInMs;
    this.#refusal = refusal;
    this.emit("status", this.status);
  }

  /** Outbox length changed: one status event per turn of the event loop, not one per message. */
  #queuedChanged(): void {
    if (this.#statusTick !== undefined || this.#closing !== undefined) return;
    this.#statusTick = setImmediate(() => {
      this.#statusTick = undefined;
      this.emit("status", this.status);
    });
  }

  #warn(text: string): void {
    this.emit("warning", this.#redactor.redact(text));
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new TransportError("closed", "the link is closed");
  }
}

function checkQos(qos: unknown): QoS {
  if (qos === undefined) return 0;
  if (qos === 0 || qos === 1 || qos === 2) return qos;
  throw new TransportError("invalid", `qos must be 0, 1 or 2, got ${typeof qos === "number" ? qos : typeof qos}`);
}
