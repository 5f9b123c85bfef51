/**
 * One MQTT connection per connection identity (server, client id, username, password), shared by
 * every link that would otherwise open its own. A server allows one connection per client id and
 * drops the older one when another CONNECT arrives with the same id, so two links with the same
 * device credentials (e.g. two ThingSpeak channels of one MQTT device) would kick each other off
 * forever. Reference-counted: the session opens with the first user and closes with the last.
 *
 * Each user gets a SharedMqttSession: the PubSub of the shared MqttSession, except that close()
 * only ends this user's share (its subscriptions and listeners), and a user added while the
 * session is already connected is told so when it starts. The first user's options (keepalive,
 * backoffs, TLS, outbox) set up the session; later users' options other than the identity are
 * not applied, since they could not be on one connection anyway.
 *
 * Two identities with the same client id on the same host cannot both stay connected when they
 * reach one server (it keeps one connection per client id), and cannot share a connection:
 * another username or password on the same server URL ("credentials"), or another port or
 * scheme of the same host name ("endpoint", e.g. ThingSpeak's 1883 and 8883, one broker). Each
 * share of both is told once (event `conflict`), when it starts or when the other appears,
 * before the two start taking the connection from each other. Host names are compared as
 * written: `localhost` and `127.0.0.1` are not known to be one server (the takeovers then show
 * as a reconnect storm, MqttSession's `kicked`).
 */
import { createHash } from "node:crypto";
import { TransportError } from "./errors.js";
import { parseMqttUrl, registerMqttSecrets, resolveOptions } from "./mqtt-options.js";
import { MqttSession, type MqttSessionEvents, type MqttSessionOptions } from "./mqtt-session.js";
import type { InboundMessage, LinkStatus, PublishOptions, PubSub, PubSubEvents, SubscribeOptions, Subscription } from "./pubsub.js";
import { TypedEmitter } from "./typed-emitter.js";

export type SharedMqttSessionEvents = PubSubEvents & Pick<MqttSessionEvents, "connected" | "kicked"> & {
  /** Another session of this process uses the same client id on the same host, with other credentials or another port or scheme (said once per share). */
  conflict: [MqttConflict];
};

interface PoolEntry {
  readonly session: MqttSession;
  readonly users: Set<SharedMqttSession>;
  /** Host name and client id digest: entries that may collide at one server have the same one. */
  readonly clientKey: string;
  /** The normalised server URL. */
  readonly url: string;
}

/** Why two sessions cannot share a connection though they would take it from each other. */
export type MqttConflict = "credentials" | "endpoint";

type MqttTarget = ReturnType<typeof parseMqttUrl>;

/** Host and client id: what a server takes over by (its other ports and schemes are the same broker). */
function clientKeyOf(target: MqttTarget, options: MqttSessionOptions): string {
  return JSON.stringify([new URL(target.url).hostname, options.clientId ?? ""]);
}

/** What a server knows a client by; the password only as a digest, so the key holds no secret. */
function identityKey(target: MqttTarget, options: MqttSessionOptions): string {
  const password = options.password ?? target.password ?? "";
  const digest = createHash("sha256").update(password).digest("hex");
  return JSON.stringify([target.url, options.clientId ?? "", options.username ?? target.username ?? "", digest]);
}

export class MqttSessionPool {
  readonly #entries = new Map<string, PoolEntry>();

  /** Open sessions (one per identity in use). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * A share of the session for `options`' identity, created (not started) if none is open.
   * `probe` (a connection test's one try): it shares an open session of exactly this identity,
   * else gets a private session outside the pool, and takes no part in conflict reporting, so a
   * test does not make a deployed session warn of a rival that is only being tried.
   */
  acquire(options: MqttSessionOptions, use: { probe?: boolean } = {}): SharedMqttSession {
    // Validated even when an open session is shared, so bad options fail the same for every user.
    resolveOptions(options);
    const target = parseMqttUrl(options.url);
    const key = identityKey(target, options);
    let entry = this.#entries.get(key);
    if (use.probe === true && entry === undefined) {
      if (options.redactor !== undefined) registerMqttSecrets(options.redactor, options.password ?? target.password, options.username ?? target.username);
      // Its own session, closed with its only share.
      return new SharedMqttSession(new MqttSession({ ...options, redactor: undefined }), () => true);
    }
    if (entry === undefined) {
      // The session gets its own redactor: a user's redactor must not outlive that user's share.
      entry = { session: new MqttSession({ ...options, redactor: undefined }), users: new Set(), clientKey: clientKeyOf(target, options), url: target.url };
      this.#entries.set(key, entry);
    }
    // Each user still masks the credentials in what it says itself.
    if (options.redactor !== undefined) {
      registerMqttSecrets(options.redactor, options.password ?? target.password, options.username ?? target.username);
    }
    const current = entry;
    const user = new SharedMqttSession(current.session, (leaving) => this.#release(key, current, leaving));
    current.users.add(user);
    // An empty client id is the server's to assign: no collision.
    if ((options.clientId ?? "") !== "" && use.probe !== true) {
      for (const rival of this.#entries.values()) {
        if (rival === current || rival.clientKey !== current.clientKey) continue;
        const why: MqttConflict = rival.url === current.url ? "credentials" : "endpoint";
        user.noteConflict(why);
        for (const other of rival.users) other.noteConflict(why);
      }
    }
    return user;
  }

  /** True when `leaving` was the last user: the caller then closes the session. */
  #release(key: string, entry: PoolEntry, leaving: SharedMqttSession): boolean {
    if (!entry.users.delete(leaving) || entry.users.size > 0) return false;
    // Removed at once, so a user acquiring during the close gets a fresh session.
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    return true;
  }
}

/** The process-wide pool: the server's one-connection-per-client-id rule is per process too. */
export const sharedMqttSessions = new MqttSessionPool();

/** One user's share of a pooled MqttSession. */
export class SharedMqttSession extends TypedEmitter<SharedMqttSessionEvents> implements PubSub {
  readonly #session: MqttSession;
  readonly #release: (leaving: SharedMqttSession) => boolean;
  readonly #subscriptions = new Set<Subscription>();
  readonly #forward = {
    status: (status: LinkStatus): void => { this.emit("status", status); },
    warning: (text: string): void => { this.emit("warning", text); },
    connected: (): void => { this.emit("connected"); },
    kicked: (count: number): void => { this.emit("kicked", count); },
  };
  #started = false;
  /** The first conflict found, until said (once started); then "said". */
  #conflict: MqttConflict | "said" | undefined;
  #closing: Promise<void> | undefined;

  constructor(session: MqttSession, release: (leaving: SharedMqttSession) => boolean) {
    super();
    this.#session = session;
    this.#release = release;
  }

  get url(): string {
    return this.#session.url;
  }

  get maxPayloadBytes(): number {
    return this.#session.maxPayloadBytes;
  }

  get status(): LinkStatus {
    return this.#closing === undefined ? this.#session.status : { state: "closed", queued: 0 };
  }

  /** Starts the shared session if needed; a user joining a running session hears its state now. */
  start(): void {
    this.#assertOpen();
    if (this.#started) return;
    this.#started = true;
    const s = this.#session;
    const f = this.#forward;
    s.on("status", f.status).on("warning", f.warning).on("connected", f.connected).on("kicked", f.kicked);
    const joined = s.started;
    this.#sayConflict();
    s.start();
    if (!joined) return;
    this.emit("status", s.status);
    if (s.status.state === "connected") this.emit("connected");
  }

  publish(topic: string, payload: string | Buffer, options?: PublishOptions): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(closedError());
    return this.#session.publish(topic, payload, options);
  }

  /** `handler` is a MessageHandler; typed as returning unknown because an async one's promise matters. */
  async subscribe(filter: string, handler: (message: InboundMessage) => unknown, options?: SubscribeOptions): Promise<Subscription> {
    this.#assertOpen();
    // The guard stops delivery the moment this share closes, before the UNSUBSCRIBE is through.
    // An async handler's promise goes back to the session, which reports its rejection.
    const guarded = (m: InboundMessage): unknown => (this.#closing === undefined ? handler(m) : undefined);
    const sub = await this.#session.subscribe(filter, guarded, options);
    if (this.#closing !== undefined) {
      // Closed while the SUBACK was on its way: undone, and settled as MqttSession.close() settles it.
      await sub.unsubscribe();
      return { filter: sub.filter, unsubscribe: () => Promise.resolve() };
    }
    this.#subscriptions.add(sub);
    return {
      filter: sub.filter,
      unsubscribe: () => {
        this.#subscriptions.delete(sub);
        return sub.unsubscribe();
      },
    };
  }

  /** Ends this share: its subscriptions go; the connection closes with the last share. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const s = this.#session;
    const f = this.#forward;
    s.off("status", f.status).off("warning", f.warning).off("connected", f.connected).off("kicked", f.kicked);
    const subs = [...this.#subscriptions];
    this.#subscriptions.clear();
    const last = this.#release(this);
    this.#closing = last ? s.close() : Promise.all(subs.map((sub) => sub.unsubscribe())).then(() => undefined, () => undefined);
    this.emit("status", this.status);
    return this.#closing;
  }

  /** The pool found another session with this server and client id but other credentials: said once, once started. */
  noteConflict(why: MqttConflict): void {
    if (this.#conflict !== undefined || this.#closing !== undefined) return;
    this.#conflict = why;
    if (this.#started) this.#sayConflict();
  }

  #sayConflict(): void {
    const why = this.#conflict;
    if (why === undefined || why === "said") return;
    this.#conflict = "said";
    this.emit("conflict", why);
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw closedError();
  }
}

function closedError(): TransportError {
  return new TransportError("closed", "the link is closed");
}
