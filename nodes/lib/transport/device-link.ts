/**
 * What every platform's link (a Blynk device, a ThingsBoard device, a ThingSpeak channel) is
 * under its own link-base.ts (docs/ARCHITECTURE.md 1.2): a status pushed as it changes, with
 * reasons redacted; readiness edges; incoming messages held back once closing; warnings; the
 * refusals every mode words alike; and close, once, with the mode's shutdown guarded and
 * "closed" as the last status. Plus the small pieces the cloud modes share: following an MQTT
 * session, and an HTTP link's "the last request found ..." status.
 */
import { TransportError, toError } from "./errors.js";
import type { LinkStatus } from "./pubsub.js";
import { Redactor } from "./redact.js";
import { TypedEmitter, type EventMap } from "./typed-emitter.js";

/**
 * A link's status, plus whether the device on the other side is online when the link can tell
 * (local: the hosted device is connected to the broker; Blynk https: the cloud says so).
 */
export interface DeviceLinkStatus extends LinkStatus {
  deviceOnline?: boolean;
  /** local: false while the device is not hosted at all (the reason says why), though the broker may run. */
  hosted?: false;
  /** local, a fleet (docs/ARCHITECTURE.md 3.8): how many of its devices are connected now, of how many. */
  fleet?: { online: number; total: number };
}

/** The events every link emits; a platform may add its own. */
export type DeviceLinkEvents<S extends DeviceLinkStatus, I> = {
  status: [S];
  /** What the other side sent (docs/ARCHITECTURE.md 2). */
  incoming: [I];
  /** Something worth a warning in the log (already redacted). */
  warning: [string];
  /** (Re)connected: the moment to ask for current values. */
  ready: [];
  listenerError: [unknown, string];
};

/** What every platform's link offers its flow nodes, whatever its mode; a platform adds its calls. */
export interface DeviceLinkApi<C extends string, S extends DeviceLinkStatus, E extends EventMap> {
  readonly connection: C;
  readonly status: S;
  /** Connected and past its handshake: current values may be asked for now. */
  readonly ready: boolean;
  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this;
  start(): void;
  close(): Promise<void>;
}

/**
 * The link for `options.connection`, made by that mode's factory; any other connection is refused,
 * naming the modes there are. A local link is refused without the iot-broker node hosting it
 * and the hosted device's (or channel's) `localId`.
 */
export function linkFor<O extends { connection: unknown; broker?: string }, L>(
  options: O,
  modes: Readonly<Record<string, (options: O) => L>>,
  localId: { thing: string; id: unknown },
): L {
  const connection: unknown = options.connection; // plain-JS callers can pass anything
  const Mode = typeof connection === "string" && Object.hasOwn(modes, connection) ? modes[connection] : undefined;
  if (Mode === undefined) {
    const names = Object.keys(modes).map((m) => JSON.stringify(m));
    throw new TransportError("invalid", `connection must be ${names.slice(0, -1).join(", ")} or ${names.at(-1) ?? ""}, got ${JSON.stringify(connection)}`);
  }
  if (connection === "local") {
    if (options.broker === undefined || options.broker === "") throw new TransportError("invalid", "local mode needs the id of an iot-broker node");
    if (typeof localId.id !== "string" || localId.id === "") throw new TransportError("invalid", `local mode needs the hosted ${localId.thing}'s id`);
  }
  return Mode(options);
}

/** A credential a link cannot do without. */
export function assertCredential(value: unknown, missing: string): void {
  if (typeof value !== "string" || value === "") throw new TransportError("invalid", missing);
}

/** How messages name the link: "this Blynk device link is closed", "closing the Blynk link failed". */
export interface DeviceLinkNames {
  platform: string;
  /** "device" or "channel". */
  thing: string;
}

export interface DeviceLinkOptions {
  redactor?: Redactor;
  now?: () => number;
}

/** What `follow` needs of an MQTT session (MqttSession, or a pooled share of one). */
export interface FollowedSession {
  on(event: "status", listener: (status: LinkStatus) => void): unknown;
  on(event: "warning", listener: (text: string) => void): unknown;
  on(event: "connected", listener: () => void): unknown;
  on(event: "kicked", listener: (count: number) => void): unknown;
}

export abstract class DeviceLink<S extends DeviceLinkStatus, I, E extends DeviceLinkEvents<S, I>> extends TypedEmitter<E> {
  abstract readonly connection: string;
  protected readonly redactor: Redactor;
  protected readonly now: () => number;
  readonly #names: DeviceLinkNames;
  #status: S;
  #ready = false;
  #started = false;
  #closing: Promise<void> | undefined;

  /** `secrets` (tokens, keys, passwords) are registered with the redactor and never shown. */
  protected constructor(options: DeviceLinkOptions, names: DeviceLinkNames, secrets: (string | undefined)[]) {
    super();
    this.redactor = options.redactor ?? new Redactor();
    this.redactor.add(...secrets);
    this.now = options.now ?? Date.now;
    this.#names = names;
    this.#status = this.#plain({ state: "disconnected", reason: "not started", queued: 0 });
  }

  get status(): S {
    return copyStatus(this.#status);
  }

  /** Connected and past its handshake (not while closing). */
  get ready(): boolean {
    return this.#ready && this.#closing === undefined;
  }

  protected get closed(): boolean {
    return this.#closing !== undefined;
  }

  abstract start(): void;
  /** The mode's own ending: its transport closed, its timers stopped. */
  protected abstract shutdown(): Promise<void>;

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const first = this.beforeShutdown();
    this.#ready = false;
    const ending = first === undefined ? this.shutdown() : first.then(() => this.shutdown());
    this.#closing = ending
      .catch((err: unknown) => {
        this.warn(`closing the ${this.#names.platform} link failed: ${toError(err).message}`);
      })
      .finally(() => {
        this.afterShutdown();
        this.setStatus(this.#plain({ state: "closed", queued: 0 }));
      });
    return this.#closing;
  }

  /** The platform's part of closing before the mode's shutdown (a promise to wait for, or nothing). */
  protected beforeShutdown(): Promise<void> | undefined {
    return undefined;
  }

  /** The platform's part of closing after the mode's shutdown, before the status says "closed". */
  protected afterShutdown(): void {
    // nothing by default
  }

  /** The transport's status becomes the link's (reason redacted). */
  protected setStatus(status: S): void {
    this.showStatus(this.redacted(status));
  }

  /** Keeps `status` as the link's and announces it; `onlyIfChanged` keeps quiet about an identical one. */
  protected showStatus(status: S, onlyIfChanged = false): void {
    const same = onlyIfChanged && JSON.stringify(status) === JSON.stringify(this.#status);
    this.#status = status;
    if (!same) this.#emit("status", this.status);
  }

  protected redacted<T extends LinkStatus>(status: T): T {
    const next = { ...status };
    if (next.reason !== undefined) next.reason = this.redactor.redact(next.reason);
    return next;
  }

  /** A status that comes with readiness (a fleet's link, following its table): not ready before it is shown, ready after. */
  protected showWithReadiness(status: DeviceLinkStatus, ready: boolean): void {
    if (!ready) this.setReady(false);
    this.setStatus(this.#plain(status));
    if (ready) this.setReady(true);
  }

  /** Ready edges: every false -> true emits `ready` (each connect, an HTTP link's recovery); returns whether it did. */
  protected setReady(ready: boolean): boolean {
    const was = this.#ready;
    this.#ready = ready;
    const rose = ready && !was && this.#closing === undefined;
    if (rose) this.#emit("ready");
    return rose;
  }

  protected deliver(message: I): void {
    if (this.#closing === undefined) this.#emit("incoming", message);
  }

  protected warn(text: string): void {
    this.#emit("warning", this.redactor.redact(text));
  }

  protected assertOpen(): void {
    if (this.#closing !== undefined) throw new TransportError("closed", `this ${this.#names.platform} ${this.#names.thing} link is closed`);
  }

  /** The error a mode gives for an operation it cannot do. */
  protected unsupported(what: string, why: string): TransportError {
    return new TransportError("invalid", `${what} is not possible in ${this.connection} mode: ${why}`);
  }

  /** For a mode's start(): throws once closed; true the first time only. */
  protected firstStart(): boolean {
    this.assertOpen();
    if (this.#started) return false;
    this.#started = true;
    return true;
  }

  /**
   * An MQTT mode follows its session: its status (through `shown`, when the platform words it
   * its own way), its warnings, and `connected` (after which the mode is ready, or gets ready).
   */
  protected follow(session: FollowedSession, connected: () => void, shown: (status: LinkStatus) => S = (s) => this.#plain(s)): void {
    session.on("status", (status) => {
      if (status.state !== "connected") this.setReady(false);
      this.setStatus(shown(status));
    });
    session.on("warning", (text) => {
      this.warn(text);
    });
    session.on("connected", connected);
    session.on("kicked", (count) => {
      this.kicked(count);
    });
  }

  /**
   * The server dropped `count` accepted connections in a row before they held (a reconnect
   * storm: most likely another client with the same client id takes the session over each
   * time). Said once per session; a platform may say it in its own words.
   */
  protected kicked(count: number): void {
    this.warn(`the server dropped the connection ${count} times in a row right after accepting it: another client is most likely connected with the same client id (or the same credentials), and each connection takes over from the other`);
  }

  /** An HTTP mode got an answer: connected (and ready), with what it knows of the device. */
  protected reachable(deviceOnline?: boolean): void {
    const status = this.#status;
    if (status.state !== "connected" || status.deviceOnline !== deviceOnline) {
      this.setStatus(this.#plain({ state: "connected", queued: 0, ...(deviceOnline === undefined ? {} : { deviceOnline }) }));
    }
    this.setReady(true);
  }

  /** An HTTP mode's request failed for the link: not ready; disconnected, or auth-failed with the refusal (the HTTP status). */
  protected unreachable(reason: string, auth = false, refusal?: number): void {
    this.setReady(false);
    this.setStatus(this.#plain({ state: auth ? "auth-failed" : "disconnected", reason, queued: 0, ...(refusal === undefined ? {} : { refusal }) }));
  }

  /** A status of the shared fields only: what every platform's status is (theirs add optional fields). */
  #plain(status: DeviceLinkStatus): S {
    return status as S;
  }

  #emit<K extends keyof DeviceLinkEvents<S, I>>(event: K, ...args: DeviceLinkEvents<S, I>[K]): void {
    // E extends the shared events, so these names take these arguments in E too.
    (this.emit as (event: K, ...args: DeviceLinkEvents<S, I>[K]) => void).call(this, event, ...args);
  }
}

/** A copy a listener may keep or change: the status and any object in it (ThingSpeak's `pending`). */
function copyStatus<S extends object>(status: S): S {
  const copy = { ...status };
  for (const [key, value] of Object.entries(copy)) {
    if (typeof value === "object" && value !== null) Reflect.set(copy, key, { ...value });
  }
  return copy;
}
