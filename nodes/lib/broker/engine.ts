/**
 * The local broker engine: aedes plus users, namespaces, listeners, the in-process client and
 * the plug-in seam. It knows no platform; platforms plug in through `BrokerPlugin`.
 */
import { MemoryDeviceHistory, type DeviceHistory } from "./device-history.js";
import { MemoryDeviceStores } from "./device-store.js";
import { WatchedDeviceStores } from "./device-watch.js";
import { RefusedLogins } from "./refused-logins.js";
import { createHash, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { AuthThrottle } from "../transport/auth-throttle.js";
import { toError } from "../transport/errors.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import { loadAedes, type Aedes, type AedesHandover, type AedesInternals, type AedesPublishPacket, type AedesSubscription, type Client, type ClientInternals, type PublishPacket } from "./aedes-types.js";
import { PacketGuards, PROTO_FILTER_PLACEHOLDER, brokerLimits, type BrokerLimits, type LimitError } from "./guards.js";
import { guardDeliveryQueue } from "./delivery-queue.js";
import { LeftWills, type WillBroker, type WillPersistence } from "./left-wills.js";
import { settleImmediateArgs } from "./immediate-args.js";
import { holdUntilReady, releaseHeld } from "./resume-order.js";
import { corkForTurn } from "./turn-cork.js";
import { SharedGate, followSessionsElsewhere, type SharedAedes, type SharedStore } from "./shared-store.js";
import { SessionGuards } from "./session-guards.js";
import { describeListener, startListener, type Listener } from "./listeners.js";
import { LocalClient } from "./local-client.js";
import { openNamespace, sharesNamespace, userNamespace } from "./namespace.js";
import { checkRateLimit, PublishLimiter } from "./publish-limit.js";
import { PubackAfterPublish } from "./puback-after-publish.js";
import { ProtocolClients } from "./protocol-clients.js";
import type { SessionStore, StoreLease } from "./session-store.js";
import {
  INTERNAL_PREFIX,
  type AuthDecision,
  type AuthRefusal,
  type AuthRequest,
  type BrokerEngineEvents,
  type BrokerEvent,
  type BrokerOptions,
  type BrokerPlugin,
  type BrokerUser,
  type ClientIdentity,
  type ClientInfo,
  type ListenerConfig,
  type ListenerInfo,
  type PeerAddress,
  type ProtocolClosedEvent,
  type RateLimit,
  type RefusalCode,
} from "./types.js";
import { UserDirectory } from "./users.js";

/** Where refused publishes of MQTT 3.1.1 clients go: nowhere anyone can subscribe (see authorizePublish). */
const REFUSED_TOPIC = `${INTERNAL_PREFIX}_refused`;
/**
 * What a refused filter becomes: aedes stores every filter of a clean:false client's SUBSCRIBE,
 * refused ones too, and queues for the session what they match (delivered on its next resume).
 * Nobody publishes here.
 */
const REFUSED_FILTER = `${INTERNAL_PREFIX}_refused_filter`;
/** aedes' own control topics: a client publishing `$SYS/<id>/new/clients` would make aedes close that client. */
const SYS_PREFIX = "$SYS/";

type AuthError = Error & { returnCode: number };

/** A client's record: who it is (what plugins see) and whether it finished connecting. */
interface Tracked extends ClientInfo {
  ready: boolean;
  /** Only for clients with a publish limit (see publish-limit.ts). Always set, so every record has one shape. */
  limiter: PublishLimiter | undefined;
}

/**
 * The engine's record of each client, kept on the aedes client under a symbol of its own: a
 * WeakMap entry cost ~50 bytes more per connection and a hash look-up in every publish hook.
 */
class ClientRecords<T> {
  readonly #key = Symbol("iot-broker client record");

  get(client: Client): T | undefined {
    return (client as unknown as Partial<Record<symbol, T>>)[this.#key];
  }

  set(client: Client, record: T): void {
    (client as unknown as Record<symbol, T>)[this.#key] = record;
  }
}

/** Connections held while aedes starts (a shared store may take long to answer); beyond, new ones are closed. */
const MAX_PENDING_CONNECTIONS = 1_000;

/** Refusals that count as failed logins (not 3, "server unavailable": not the client's fault). */
const FAILED_LOGIN_CODES: ReadonlySet<RefusalCode> = new Set<RefusalCode>([2, 4, 5]);

export class BrokerEngine extends TypedEmitter<BrokerEngineEvents> {
  readonly #users: UserDirectory;
  readonly #allowAnonymous: boolean;
  readonly #plugins = new Map<string, BrokerPlugin>();
  /** Who each client is; `ready` once it finished connecting (one record per client, no second set). */
  readonly #infos = new ClientRecords<Tracked>();
  #connectedCount = 0;
  /** One identity per user whose patterns have no `%c`, shared by all its connections. */
  readonly #userIdentities = new Map<string, ClientIdentity>();
  readonly #anonymous: ClientIdentity = { kind: "anonymous", namespace: openNamespace };
  /** Connections that arrived while aedes was still starting; handed over once it is ready. */
  readonly #pending: [Duplex, IncomingMessage | undefined][] = [];
  readonly #starting: Promise<void>;
  #startFinished = false;
  readonly #listeners = new Set<Listener>();
  /** The extra protocol of each listener that has one (3.7), for listenerInfos. */
  readonly #listenerProtocols = new WeakMap<Listener, string>();
  readonly #localClients = new Set<LocalClient>();
  #aedes: Aedes | undefined;
  /** aedes' own `published` hook, for while no plugin is plugged in (#syncPublishedHook). */
  #idlePublished: Aedes["published"] | undefined;
  readonly #limits: BrokerLimits;
  readonly #guards: PacketGuards;
  readonly #sessionGuards: SessionGuards;
  #closing: Promise<void> | undefined;
  readonly #authThrottle: AuthThrottle | undefined;
  readonly #deviceRateLimit: RateLimit | 0 | undefined;
  readonly #userRateLimit: RateLimit | 0;
  /** The session store this engine runs on, when it was given one (it outlives the engine). */
  readonly #sessions: SessionStore | undefined;
  /** Where hosted devices keep their state (broker/device-store.ts), watched for the editor's device list (device-watch.ts). */
  readonly deviceStores: WatchedDeviceStores;
  /** Logins refused lately for unknown credentials, for adopting them (refused-logins.ts); secrets stay in it. */
  readonly refusedLogins = new RefusedLogins();
  /** Where hosted devices' history goes (broker/device-history.ts). */
  readonly history: DeviceHistory;
  #lease: StoreLease | undefined;
  /** A store shared with other instances (the `redis` persistence), and what the engine does while it is away. */
  readonly #shared: SharedStore | undefined;
  readonly #gate: SharedGate | undefined;
  #sharedAedes: SharedAedes | undefined;
  /** Fires when the engine closes: a start still waiting for the shared store gives up. */
  readonly #stopping = new AbortController();
  /** aedes' id: one per engine (two engines sharing sessions must not share an id: FINDINGS 3). */
  readonly #id: string;
  readonly #pubacks: PubackAfterPublish;
  /** Wills whose topic was mapped into the client's namespace at CONNECT (aedes publishes them through authorizePublish). */
  readonly #mappedWills = new WeakSet<object>();
  #leftWills: LeftWills | undefined;
  /** Logged-in connections of extra protocol listeners (protocol-clients.ts). */
  readonly #protocolClients = new ProtocolClients();

  /**
   * Validates the options (throws TypeError naming the problem) and starts aedes in the
   * background. Listeners may be opened at once: ports are bound synchronously, so flows that
   * connect to this broker while it starts are queued, not refused.
   */
  constructor(options: BrokerOptions = {}) {
    super();
    // Before any client is served: aedes' per-packet immediates must stay young (immediate-args.ts).
    settleImmediateArgs();
    this.#users = new UserDirectory(options.users);
    this.#allowAnonymous = options.allowAnonymous ?? false;
    this.#authThrottle = options.authThrottle === false ? undefined : new AuthThrottle(options.authThrottle);
    this.#deviceRateLimit = checkRateLimit(options.deviceRateLimit, "deviceRateLimit");
    this.#userRateLimit = checkRateLimit(options.userRateLimit, "userRateLimit") ?? 0;
    this.#sessions = options.sessions;
    this.#shared = options.shared;
    this.#id = options.id ?? randomUUID();
    this.#pubacks = new PubackAfterPublish({
      publish: (packet, client, done) => {
        (this.#broker as unknown as AedesInternals).publish(packet, client, done);
      },
      flush: options.flush,
      onFailure: (client, err) => {
        this.#event({ event: "client-error", clientId: client.id, error: `QoS 1 message not acknowledged (the client will send it again): ${err.message}` });
        client.close();
      },
    });
    this.deviceStores = new WatchedDeviceStores(options.deviceStores ?? new MemoryDeviceStores());
    this.history = options.history ?? new MemoryDeviceHistory();
    // Checked at run time too: the options come from a flow file, not from typed code.
    const persistence = (options.persistence as { kind: unknown } | undefined)?.kind ?? "memory";
    if (persistence !== "memory") {
      throw new TypeError(`persistence ${JSON.stringify(persistence)} is not available; accepted: "memory"`);
    }
    this.#gate = this.#shared ? this.#openGate(this.#shared) : undefined;
    this.#limits = brokerLimits(options);
    this.#guards = new PacketGuards(
      this.#limits,
      (client, error) => {
        this.#limitExceeded(client, error);
      },
      (client, filters) => this.#mapUnsubscribe(client, filters),
    );
    this.#sessionGuards = new SessionGuards(
      this.#limits.maxQueuedMessages,
      (full) => {
        this.#event({ event: "queue-full", ...full });
      },
      (client) => this.#infos.get(client)?.identity,
    );
    this.#starting = this.#start(options);
    this.#starting.catch(() => undefined); // reported through ready()
  }

  /** Starts aedes and listens nowhere yet; resolves when ready. */
  static async create(options: BrokerOptions = {}): Promise<BrokerEngine> {
    const engine = new BrokerEngine(options);
    await engine.ready();
    return engine;
  }

  /** Resolves once aedes runs; rejects if it could not start. */
  ready(): Promise<void> {
    return this.#starting;
  }

  async #start(options: BrokerOptions): Promise<void> {
    try {
      const { Aedes } = await loadAedes();
      // Waits for the previous engine on the same store to finish closing.
      const lease = await this.#sessions?.lease(this.#id);
      this.#lease = lease;
      // A shared store: available (however long that takes) before aedes, which reads sessions from it.
      await this.#shared?.start(this.#stopping.signal);
      this.#sharedAedes = await this.#shared?.attach(this.#stopping.signal);
      const shared = this.#sharedAedes;
      const aedes = await Aedes.createBroker({
        id: this.#id,
        ...(shared ? { mq: shared.mq, persistence: shared.persistence } : lease?.persistence === undefined ? {} : { persistence: lease.persistence }),
        maxClientsIdLength: options.maxClientIdLength ?? 256,
        maximumPacketSize: this.#limits.maxPacketSize,
        connectTimeout: this.#limits.connectTimeoutMs,
        topicAliasMaximum: this.#limits.topicAliasMaximum,
        // Announced to MQTT 5 clients; enforced for QoS 2 by the guards (aedes enforces none).
        receiveMaximum: this.#limits.maxInflightQos2,
        authenticate: (client, username, password, done) => {
          // Before aedes restores a stored session's subscriptions (resume-order.ts). Whether it
          // restores them is the Clean Start flag (an MQTT 5 client may resume with Session
          // Expiry 0, so not `clean`); a clean start has none to restore, and no wrapper costs it memory.
          if (!(client as unknown as ClientInternals)._cleanStart) holdUntilReady(client, this.#limits.maxQueuedMessages);
          this.#authenticate(client, username, password, done);
        },
        authorizePublish: (client, packet, done) => {
          const refusal = this.#authorizePublish(client, packet);
          // Accepted QoS 1 messages are published here and acknowledged once stored (puback-after-publish.ts).
          if (refusal === null && this.#pubacks.takes(client, packet) && packet.topic !== REFUSED_TOPIC) this.#pubacks.publish(client, packet, done);
          else done(refusal);
        },
        authorizeSubscribe: (client, sub, done) => {
          done(null, this.#authorizeSubscribe(client, sub));
        },
        authorizeForward: (client, packet) => this.#authorizeForward(client, packet),
        // `published` only while a plugin is plugged in (#syncPublishedHook).
      });
      if (lease) (aedes as unknown as AedesHandover).counter = Math.max((aedes as unknown as AedesHandover).counter, lease.counter);
      this.#guards.hardenBroker(aedes);
      this.#sessionGuards.attach(aedes);
      this.#aedes = aedes;
      this.#idlePublished = aedes.published;
      this.#syncPublishedHook();
      // Queued deliveries must not drain by recursion (delivery-queue.ts): that ended Node-RED.
      guardDeliveryQueue((aedes as unknown as { mq?: unknown }).mq);
      this.#wireEvents(aedes);
      this.#takeLeftWills(aedes, lease);
      if (this.#shared) followSessionsElsewhere(aedes);
      if (this.#gate) this.#gate.running = true;
    } catch (err) {
      this.#endLease();
      await this.#sharedAedes?.discard();
      throw err;
    } finally {
      this.#startFinished = true;
      for (const [stream, request] of this.#pending.splice(0)) this.#accept(stream, request);
    }
  }

  /** aedes' id (known before aedes runs). */
  get id(): string {
    return this.#id;
  }

  get connectedClients(): number {
    return this.#connectedCount;
  }

  get closed(): boolean {
    return this.#isClosed();
  }

  // A method, not the getter, so the check after an await is not narrowed away by the linter.
  #isClosed(): boolean {
    return this.#closing !== undefined;
  }

  /** Forgets failed logins and lockouts: a redeploy that keeps this engine starts the count afresh. */
  forgetFailedLogins(): void {
    this.#authThrottle?.clear();
  }

  /** The clients that finished connecting, with who they are (those of extra protocol listeners too). */
  clients(): ClientInfo[] {
    return [...this.#readyClients().map(([, info]) => info), ...this.#protocolClients.infos()];
  }

  /** Milliseconds a new connection has to log in (MQTT CONNECT; an extra protocol's login too). */
  get connectTimeoutMs(): number {
    return this.#limits.connectTimeoutMs;
  }

  /**
   * A connection of an extra protocol listener logged in (docs/ARCHITECTURE.md 3.7): it is listed,
   * counted and announced like an MQTT client (`client-connected`), and `disconnectClients` closes
   * it through `close`. Returns its "gone", which the plugin calls when the connection ended.
   */
  attachClient(info: ClientInfo, close: () => void): () => void {
    if (this.#isClosed()) {
      close();
      return () => undefined;
    }
    this.#protocolClients.add(info, close);
    this.#clientCame(info, info.clientId);
    return () => {
      if (this.#protocolClients.delete(info)) this.#protocolClientGone(info);
    };
  }

  #protocolClientGone(info: ClientInfo): void {
    if (this.#isClosed()) return;
    this.#clientLeft(info, info.clientId);
  }

  /** A client finished connecting (MQTT, or an extra protocol's login): counted and announced. */
  #clientCame(info: ClientInfo, clientId: string): void {
    this.#connectedCount++;
    const { identity } = info;
    this.#event({
      event: "client-connected",
      clientId,
      kind: identity.kind,
      protocolVersion: info.protocolVersion,
      ...optional({ username: identity.username, plugin: identity.plugin, deviceId: identity.deviceId, remoteAddress: info.remoteAddress }),
    });
    this.emit("clients", this.#connectedCount);
  }

  /** A connected client is gone: counted and announced. */
  #clientLeft(info: ClientInfo, clientId: string): void {
    this.#connectedCount--;
    const { identity } = info;
    this.#event({ event: "client-disconnected", clientId, kind: identity.kind, ...optional({ username: identity.username, plugin: identity.plugin, deviceId: identity.deviceId }) });
    this.emit("clients", this.#connectedCount);
  }

  /**
   * Before an extra protocol checks a login: the refusal when its source is locked out by the
   * failed-login throttle or the shared store is away (as for a CONNECT), else undefined.
   */
  admitLogin(request: AuthRequest): AuthRefusal | undefined {
    if (this.#lockedOut(request)) return { returnCode: 5, reason: "too many failed logins from this address" };
    const unavailable = this.#gate?.refusal;
    return unavailable === undefined ? undefined : { returnCode: 3, reason: unavailable };
  }

  /** An extra protocol's login was refused: the `auth-refused` event, counted by the failed-login throttle as a CONNECT is. */
  loginRefused(request: AuthRequest, refusal: AuthRefusal): void {
    this.#conclude(undefined, request, { accept: false, ...refusal });
  }

  /** An extra protocol's login succeeded: its source's failed logins are forgiven, as for a CONNECT. */
  loginAccepted(request: AuthRequest): void {
    this.#authThrottle?.succeeded(throttleSource(request));
  }

  /** An extra protocol closed one of its connections: the `protocol-closed` event. */
  protocolClosed(event: Omit<ProtocolClosedEvent, "event">): void {
    if (!this.#isClosed()) this.#event({ event: "protocol-closed", ...event });
  }

  /** The publish limit of a device connection: the broker's setting, else the platform's `suggested`; undefined = none. */
  deviceLimiter(suggested: RateLimit): PublishLimiter | undefined {
    const limit = this.#deviceRateLimit ?? suggested;
    return limit === 0 ? undefined : new PublishLimiter(limit);
  }

  /** Opens a listener. Rejects with ListenError ("address-in-use" / "listen-failed"). */
  async listen(config: ListenerConfig): Promise<ListenerInfo> {
    if (this.closed) throw new Error("the broker is closed");
    const protocol = config.kind === "tcp" || config.kind === "tls" ? config.protocol : undefined;
    const listener = await startListener(
      config,
      (stream, request) => {
        if (protocol === undefined) this.#accept(stream, request);
        else this.#serveProtocol(protocol, stream);
      },
      {
        maxPacketSize: this.#limits.maxPacketSize,
        maxConnectPacketSize: this.#limits.maxConnectPacketSize,
        handshakeTimeoutMs: this.#limits.connectTimeoutMs,
      },
    );
    if (this.#isClosed()) {
      await listener.close();
      throw new Error("the broker was closed while starting its listeners");
    }
    this.#listeners.add(listener);
    if (protocol !== undefined) this.#listenerProtocols.set(listener, protocol);
    return listener.info;
  }

  /** The listeners open now, with their extra protocol when they have one. */
  listenerInfos(): (ListenerInfo & { protocol?: string })[] {
    return [...this.#listeners].map((l) => {
      const protocol = this.#listenerProtocols.get(l);
      return protocol === undefined ? { ...l.info } : { ...l.info, protocol };
    });
  }

  describe(config: ListenerConfig): string {
    return describeListener(config);
  }

  /** Plugs a platform emulation in. Returns a function that takes it out and disconnects its clients. */
  addPlugin(plugin: BrokerPlugin): () => void {
    if (this.#plugins.has(plugin.name)) throw new Error(`a broker plugin named "${plugin.name}" is already registered`);
    this.#plugins.set(plugin.name, plugin);
    this.#syncPublishedHook();
    return () => {
      if (this.#plugins.get(plugin.name) !== plugin) return;
      this.#plugins.delete(plugin.name);
      this.#syncPublishedHook();
      this.disconnectClients((info) => info.identity.plugin === plugin.name);
    };
  }

  /** Closes the connections of the clients `predicate` picks (a removed device, a changed user), extra protocols' too. */
  disconnectClients(predicate: (info: ClientInfo) => boolean): number {
    let count = this.#protocolClients.disconnect(predicate, (info) => {
      this.#protocolClientGone(info);
    });
    for (const [client, info] of this.#readyClients()) {
      if (predicate(info)) {
        client.close();
        count++;
      }
    }
    return count;
  }

  /** An in-process PubSub on this broker (no socket, internal topics allowed). */
  createLocalClient(options: { maxPayloadBytes?: number } = {}): LocalClient {
    const client = new LocalClient(this.#broker, options);
    this.#localClients.add(client);
    client.on("status", (s) => {
      if (s.state === "closed") this.#localClients.delete(client);
    });
    return client;
  }

  /**
   * Closes listeners (freeing ports), local clients and aedes. Safe to call more than once. A
   * session store given in the options keeps the sessions for the next engine.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Listed first: their "gone" during the close changes no count (it ends at 0).
      this.#protocolClients.disconnect(() => true, () => undefined);
      await Promise.allSettled([...this.#listeners].map((l) => l.close()));
      this.#listeners.clear();
      await Promise.allSettled([...this.#localClients].map((c) => c.close()));
      // A start still waiting for a shared store gives up (nothing to hand over yet).
      this.#stopping.abort(new Error("the broker engine was closed while it waited for its store"));
      await this.#starting.catch(() => undefined);
      this.#leftWills?.close();
      const aedes = this.#aedes;
      if (aedes && !aedes.closed) {
        await new Promise<void>((resolve) => {
          aedes.close(() => {
            resolve();
          });
        });
      }
      this.#endLease();
      this.#connectedCount = 0;
    })();
    return this.#closing;
  }

  /** Wills of engines that are gone, published after their delay unless their client comes back (left-wills.ts). */
  #takeLeftWills(aedes: Aedes, lease: StoreLease | undefined): void {
    if (lease === undefined) return;
    const wills = new LeftWills(aedes as unknown as WillBroker, (aedes as unknown as { persistence: WillPersistence }).persistence, (err, clientId) => {
      this.#event({ event: "client-error", clientId: clientId ?? "", error: `a will left by the previous broker: ${err.message}` });
    });
    this.#leftWills = wills;
    aedes.on("client", (client) => {
      wills.connected(client.id);
    });
    void wills.start((id) => lease.leftBehind(id));
  }

  /**
   * The will's topic as the client's namespace maps it, at CONNECT: aedes stores the will as it
   * is here, and one published after a restart has no client left to map it (left-wills.ts). A
   * topic the client may not publish to drops the will.
   */
  #mapWill(client: Client, identity: ClientIdentity): void {
    const internals = client as unknown as { _will?: { topic?: unknown } | null };
    const will = internals._will;
    if (will === undefined || will === null || typeof will.topic !== "string") return;
    const internal = will.topic.startsWith(SYS_PREFIX) ? null : identity.namespace.publish(will.topic);
    if (internal === null) {
      this.#event({ event: "publish-refused", clientId: client.id, topic: will.topic });
      internals._will = null;
      return;
    }
    will.topic = internal;
    this.#mappedWills.add(will);
  }

  #endLease(): void {
    this.#guards.release();
    this.#sessionGuards.release();
    this.#gate?.release();
    const handover = this.#aedes as unknown as AedesHandover | undefined;
    // A shared store's persistence stays with its engine (the next engine connects its own).
    this.#lease?.end(this.#shared ? undefined : handover?.persistence, handover?.counter ?? 0);
    this.#lease = undefined;
  }

  get #broker(): Aedes {
    if (!this.#aedes) throw new Error("the broker is not started");
    return this.#aedes;
  }

  #accept(stream: Duplex, request: IncomingMessage | undefined): void {
    // While aedes waits for a shared store that is known to be away, a client is better off trying elsewhere.
    const waitingInVain = !this.#aedes && (this.#gate?.outage === true || this.#startFinished || this.#pending.length >= MAX_PENDING_CONNECTIONS);
    if (this.#isClosed() || waitingInVain) {
      stream.destroy();
      return;
    }
    if (!this.#aedes) {
      stream.on("error", () => undefined); // a reset while waiting for aedes; aedes takes over later
      const entry: [Duplex, IncomingMessage | undefined] = [stream, request];
      this.#pending.push(entry);
      // A client that gives up while aedes starts no longer holds a place.
      stream.once("close", () => {
        const at = this.#pending.indexOf(entry);
        if (at >= 0) this.#pending.splice(at, 1);
      });
      return;
    }
    const client = this.#aedes.handle(stream, request);
    this.#guards.guardClient(client);
  }

  /**
   * A connection of an extra protocol listener: to the plugin of that name, which owns it from
   * now on. Without one (no device of that platform hosted here) it is closed, with an event.
   */
  #serveProtocol(protocol: string, stream: Duplex): void {
    stream.on("error", () => undefined); // a reset before the plugin listens must not crash
    const socket = stream as Partial<Socket>;
    const peer: PeerAddress = { address: socket.remoteAddress, port: socket.remotePort, ...optional({ local: socket.localAddress }) };
    const plugin = this.#plugins.get(protocol);
    const clientId = `${protocol}:${peer.address ?? "?"}:${String(peer.port ?? "?")}`;
    if (this.#isClosed() || plugin?.serve === undefined) {
      stream.destroy();
      if (!this.#isClosed()) {
        this.protocolClosed({ protocol, clientId, ...optional({ remoteAddress: peer.address }), code: "no-server", reason: `nothing on this broker serves the ${protocol} protocol now (no device of that platform is hosted here)` });
      }
      return;
    }
    try {
      plugin.serve(stream, peer);
    } catch (err) {
      stream.destroy();
      this.#pluginError(plugin.name, "serve", err);
    }
  }

  /**
   * aedes has no unsubscribe hook; filters are rewritten into the client's namespace as the
   * parser reads them (guards.ts), or a namespaced client could never unsubscribe.
   */
  #mapUnsubscribe(client: Client, filters: string[]): string[] {
    const namespace = this.#infos.get(client)?.identity.namespace;
    if (namespace === undefined || namespace.rewrites === false) return filters;
    return filters.map((f) => namespace.subscribe(f) ?? f);
  }

  /**
   * Closes every connection at once. aedes' close waits for the bus to drop the client's
   * subscriptions, which it cannot while the shared store is away: the socket is ended here, so
   * clients notice now and reconnect (here once the store is back, or elsewhere).
   */
  #cutOff(): void {
    this.disconnectClients((info) => this.#protocolClients.infos().includes(info));
    for (const [client] of this.#readyClients()) {
      try {
        client.close();
        (client.conn as Partial<Duplex>).destroy?.();
      } catch {
        // Already gone.
      }
    }
  }

  /** Connected clients with who they are, from aedes' own client table (no second registry to keep). */
  #readyClients(): [Client, Tracked][] {
    const table = (this.#aedes as unknown as { clients?: Record<string, Client> } | undefined)?.clients ?? {};
    return Object.values(table).flatMap((client): [Client, Tracked][] => {
      const info = this.#infos.get(client);
      return info?.ready === true ? [[client, info]] : [];
    });
  }

  /**
   * Decides synchronously whenever it can (users, anonymous, synchronous plugins): a promise per
   * CONNECT is measurable memory with thousands of clients connecting (bench/README.md).
   */
  #authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (error: AuthError | null, ok: boolean) => void): void {
    const request: AuthRequest = {
      clientId: client.id,
      username: username === "" ? undefined : username,
      password,
      protocolVersion: client.version,
      remoteAddress: remoteAddress(client),
    };
    if (this.#lockedOut(request)) {
      done(Object.assign(new Error("too many failed logins from this address"), { returnCode: 5 }), false);
      return;
    }
    const unavailable = this.#gate?.refusal;
    if (unavailable !== undefined) {
      done(Object.assign(new Error(unavailable), { returnCode: 3 }), false);
      return;
    }
    const finish = (decision: AuthDecision): void => {
      const error = this.#conclude(client, request, decision);
      done(error, error === null);
    };
    const fail = (err: unknown): void => {
      done(Object.assign(toError(err), { returnCode: 3 }), false);
    };
    try {
      const decision = this.#decide(request);
      if (decision instanceof Promise) decision.then(finish, fail);
      else finish(decision);
    } catch (err) {
      fail(err);
    }
  }

  #conclude(client: Client | undefined, request: AuthRequest, decision: AuthDecision): AuthError | null {
    if (decision.accept && client !== undefined) {
      const info: Tracked = {
        clientId: client.id,
        identity: decision.identity,
        protocolVersion: client.version,
        remoteAddress: request.remoteAddress,
        ...optional({ localAddress: localAddress(client) }),
        ready: false,
        limiter: this.#limiterFor(decision.identity),
      };
      this.#authThrottle?.succeeded(throttleSource(request));
      this.#infos.set(client, info);
      this.#mapWill(client, decision.identity);
      return null;
    }
    if (decision.accept) return null;
    this.#event({
      event: "auth-refused",
      clientId: request.clientId,
      ...(request.username === undefined || decision.secretUsername === true ? {} : { username: request.username }),
      ...(request.remoteAddress === undefined ? {} : { remoteAddress: request.remoteAddress }),
      returnCode: decision.returnCode,
      reason: decision.reason,
    });
    this.#countFailedLogin(request, decision.returnCode, decision.reason);
    // Unknown credentials only: a broker user's or a hosted device's wrong password is no device to adopt.
    if (decision.unknown === true && FAILED_LOGIN_CODES.has(decision.returnCode) && (request.username === undefined || !this.#users.has(request.username))) {
      this.refusedLogins.record(request, decision.reason, decision.secretUsername === true);
    }
    return Object.assign(new Error(decision.reason), { returnCode: decision.returnCode });
  }

  /** A locked-out source is refused before any credential is checked (transport/auth-throttle.ts). */
  #lockedOut(request: AuthRequest): boolean {
    return this.#authThrottle !== undefined && this.#authThrottle.retryAfterMs(throttleSource(request)) > 0;
  }

  #countFailedLogin(request: AuthRequest, returnCode: RefusalCode, reason: string): void {
    const { remoteAddress } = request;
    const source = throttleSource(request);
    if (remoteAddress === undefined || source === undefined || !FAILED_LOGIN_CODES.has(returnCode)) return;
    const failure = this.#authThrottle?.failed(source);
    if (failure === undefined || failure.lockedMs === 0) return;
    this.#event({ event: "auth-throttled", remoteAddress, source: failure.source, failures: failure.failures, lockedForMs: failure.lockedMs, reason });
  }

  /** The broker's setting for the client's kind, else (devices) the platform's suggestion; none = no limiter. */
  #limiterFor(identity: ClientIdentity): PublishLimiter | undefined {
    const limit = identity.kind === "device" ? (this.#deviceRateLimit ?? identity.rateLimit) : this.#userRateLimit;
    return limit === undefined || limit === 0 ? undefined : new PublishLimiter(limit);
  }

  /** Whether a limited client's publish may pass; reports drops (at most once a second) and disconnects a flood. */
  #admit(client: Client, info: Tracked, limiter: PublishLimiter): boolean {
    const admission = limiter.admit();
    if (admission === "ok") return true;
    const who = { clientId: client.id, kind: info.identity.kind, ...optional({ username: info.identity.username, plugin: info.identity.plugin, deviceId: info.identity.deviceId }) };
    if (admission === "flood") {
      this.#event({ event: "rate-disconnected", ...who, perSecond: limiter.limit.perSecond, dropped: limiter.take() });
      // After aedes finished with this packet: closing inside its publish pipeline is not safe.
      setImmediate(() => {
        try {
          client.close();
        } catch {
          // Already gone.
        }
      });
      return false;
    }
    const dropped = limiter.due();
    if (dropped !== undefined) this.#event({ event: "rate-limited", ...who, perSecond: limiter.limit.perSecond, dropped });
    return false;
  }

  /** Generic users first, then each plugin in turn, then anonymous access, then the plugins' last word. */
  #decide(request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    const { username, clientId } = request;
    if (username !== undefined && this.#users.has(username)) {
      const decide = (user: BrokerUser | undefined): AuthDecision =>
        user
          ? { accept: true, identity: this.#userIdentity(user, clientId) }
          : { accept: false, returnCode: 4, reason: `wrong password for user "${username}"` };
      // A hashed password not verified before is checked off the event loop (users.ts).
      const checked = this.#users.check(username, request.password);
      return checked instanceof Promise ? checked.then(decide) : decide(checked);
    }
    return this.#askPlugins(request, [...this.#plugins.values()], 0);
  }

  /** Plugins from `from` on; goes asynchronous only at the first plugin that answers with a promise. */
  #askPlugins(request: AuthRequest, plugins: BrokerPlugin[], from: number): AuthDecision | Promise<AuthDecision> {
    for (let i = from; i < plugins.length; i++) {
      const plugin = plugins[i];
      const failed = (err: unknown): AuthDecision => {
        this.#pluginError(plugin.name, "authenticate", err);
        return { accept: false, returnCode: 3, reason: `the ${plugin.name} emulation failed to check the client` };
      };
      let answer: ReturnType<BrokerPlugin["authenticate"]>;
      try {
        answer = plugin.authenticate(request);
      } catch (err) {
        return failed(err);
      }
      if (answer instanceof Promise) {
        return answer.then((decision) => decision ?? this.#askPlugins(request, plugins, i + 1), failed);
      }
      if (answer) return answer;
    }
    return this.#unclaimed(request);
  }

  #unclaimed(request: AuthRequest): AuthDecision {
    const { username } = request;
    if (username === undefined && this.#allowAnonymous) {
      return { accept: true, identity: this.#anonymous };
    }
    for (const plugin of this.#plugins.values()) {
      try {
        const refusal = plugin.refuseUnclaimed?.(request);
        if (refusal) return { ...refusal, accept: false };
      } catch (err) {
        this.#pluginError(plugin.name, "refuseUnclaimed", err);
      }
    }
    return username === undefined
      ? { accept: false, returnCode: 5, reason: "anonymous clients are not allowed (no username given)", unknown: true }
      : // Not named: an unclaimed username is often a device's access token (ThingsBoard sends it as the username).
        { accept: false, returnCode: 4, reason: "unknown user (not a broker user, nor a hosted device's credentials)", secretUsername: true, unknown: true };
  }

  #userIdentity(user: BrokerUser, clientId: string): ClientIdentity {
    const make = (): ClientIdentity => ({ kind: "user", username: user.username, namespace: userNamespace(user, clientId) });
    if (!sharesNamespace(user)) return make();
    let identity = this.#userIdentities.get(user.username);
    if (!identity) {
      identity = make();
      this.#userIdentities.set(user.username, identity);
    }
    return identity;
  }

  #authorizePublish(client: Client | null, packet: PublishPacket): Error | null {
    if (!client) return null; // the broker's own publishes (wills left by an engine that is gone were mapped at CONNECT)
    if (this.#mappedWills.has(packet)) return null; // a will, its topic mapped at CONNECT (#mapWill)
    const info = this.#infos.get(client);
    // A closed client's publish is its will (aedes publishes it through this hook): a device cut
    // off for flooding must still tell its subscribers that it is gone.
    if (info?.limiter !== undefined && !client.closed && !this.#admit(client, info, info.limiter)) {
      packet.topic = REFUSED_TOPIC; // dropped without disconnecting, for MQTT 3.1.1 and 5 alike
      packet.retain = false;
      return null;
    }
    const internal = packet.topic.startsWith(SYS_PREFIX) ? null : (info?.identity.namespace.publish(packet.topic) ?? null);
    if (internal !== null) {
      packet.topic = internal;
      return null;
    }
    this.#event({ event: "publish-refused", clientId: client.id, topic: packet.topic });
    if (client.version === 5) return new Error(`not authorized to publish to "${packet.topic}"`);
    // MQTT 3.1.1 has no way to refuse one publish; aedes would drop the connection, and a
    // device that reconnects and repeats would loop. Like mosquitto, drop it silently instead.
    packet.topic = REFUSED_TOPIC;
    packet.retain = false;
    return null;
  }

  /**
   * The filter is rewritten in place: aedes persists the SUBSCRIBE's own subscription objects
   * for clean:false sessions and matches queued (offline) messages against them, so they must
   * hold the internal filter. A session being restored (before CONNACK: aedes handles no live
   * SUBSCRIBE earlier) brings those stored internal filters back; each must still lie in this
   * client's namespace, or another identity reusing the client id would inherit it.
   */
  #authorizeSubscribe(client: Client, sub: AedesSubscription): AedesSubscription | null {
    const namespace = this.#infos.get(client)?.identity.namespace;
    const restoring = !(client as unknown as ClientInternals).connackSent;
    if (restoring && sub.topic === REFUSED_FILTER) return null;
    const own = restoring ? (namespace?.forward(sub.topic) ?? null) : sub.topic;
    const internal = own === null || own === PROTO_FILTER_PLACEHOLDER ? null : (namespace?.subscribe(own) ?? null);
    if (internal === null || (restoring && internal !== sub.topic)) {
      this.#event({ event: "subscribe-refused", clientId: client.id, topic: sub.topic === PROTO_FILTER_PLACEHOLDER ? "__proto__" : (own ?? sub.topic) });
      // Filters of the same SUBSCRIBE authorized before this one stored it already; so did an
      // identity that used this client id before. The memory persistence acts at once.
      if (!client.clean) this.#forgetSubscription(client, sub.topic);
      sub.topic = REFUSED_FILTER;
      return null;
    }
    sub.topic = internal;
    return sub;
  }

  #forgetSubscription(client: Client, filter: string): void {
    const persistence = (this.#aedes as unknown as AedesInternals | undefined)?.persistence;
    persistence?.removeSubscriptions({ id: client.id }, [filter]).catch((err: unknown) => {
      this.#event({ event: "client-error", clientId: client.id, error: `could not forget the refused filter: ${toError(err).message}` });
    });
  }

  /**
   * Rewrites the topic in place: aedes delivers a queued message (session resumed) as the packet
   * it passed here and only reads our answer as yes/no. Each packet is this client's own copy.
   */
  #authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const visible = this.#infos.get(client)?.identity.namespace.forward(packet.topic) ?? null;
    if (visible === null) return null;
    // aedes asks here for every delivery, just before it writes it: batch the writes (turn-cork.ts).
    corkForTurn(client.conn);
    // Most namespaces show a topic as it is: no store into every delivered packet then.
    if (visible !== packet.topic) packet.topic = visible;
    return packet;
  }

  /**
   * Only plugins look at what was published, so a broker of generic users keeps aedes' own
   * `published` (nothing per message); aedes reads the hook anew for every message.
   */
  #syncPublishedHook(): void {
    const aedes = this.#aedes;
    if (!aedes || !this.#idlePublished) return;
    aedes.published = this.#plugins.size > 0 ? this.#pluginPublished : this.#idlePublished;
  }

  readonly #pluginPublished: Aedes["published"] = (packet, client, done) => {
    done();
    this.#published(packet, client);
  };

  #published(packet: AedesPublishPacket, client: Client | null): void {
    if (!client || packet.topic === REFUSED_TOPIC) return;
    const info = this.#infos.get(client);
    const plugin = info?.identity.plugin === undefined ? undefined : this.#plugins.get(info.identity.plugin);
    if (!info || !plugin?.published) return;
    const message = {
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      retain: packet.retain,
    };
    this.#callPlugin(plugin, "published", () => plugin.published?.(info, message));
  }

  #wireEvents(aedes: Aedes): void {
    aedes.on("clientReady", (client) => {
      releaseHeld(client);
      const info = this.#infos.get(client);
      if (!info || info.ready) return;
      info.ready = true;
      this.#clientCame(info, client.id);
      this.#withPlugin(info, "clientReady", (p) => p.clientReady?.(info));
      // A resumed session's subscriptions were restored without a SUBSCRIBE (no "subscribe" event).
      const restored = client.clean ? [] : Object.keys((client as unknown as ClientInternals).subscriptions);
      if (restored.length > 0) this.#withPlugin(info, "subscribed", (p) => p.subscribed?.(info, restored));
    });
    aedes.on("clientDisconnect", (client) => {
      const info = this.#infos.get(client);
      if (!info?.ready) return;
      info.ready = false;
      this.#clientLeft(info, client.id);
      this.#withPlugin(info, "clientGone", (p) => p.clientGone?.(info));
    });
    aedes.on("subscribe", (subscriptions, client) => {
      const info = this.#infos.get(client);
      // The filters were rewritten to internal ones in place (authorizeSubscribe); show the client's own.
      const internal = subscriptions.filter((s) => s.qos < 128).map((s) => s.topic);
      if (!info || internal.length === 0) return;
      const topics = internal.map((f) => info.identity.namespace.forward(f) ?? f);
      this.#event({ event: "subscribe", clientId: client.id, topics });
      this.#withPlugin(info, "subscribed", (p) => p.subscribed?.(info, internal));
    });
    aedes.on("unsubscribe", (filters, client) => {
      const info = this.#infos.get(client);
      if (!info) return;
      // The filters were rewritten to internal ones on the way in; show the client's own.
      const topics = filters.map((f) => info.identity.namespace.forward(f) ?? f);
      this.#event({ event: "unsubscribe", clientId: client.id, topics });
    });
    aedes.on("clientError", (client, error) => {
      this.#clientError(client, error);
    });
    aedes.on("connectionError", (client, error) => {
      this.#clientError(client, error);
    });
    // aedes reports persistence failures here (a failed queueing, a will it could not clear): an
    // "error" event nobody listens to would end Node-RED. While the shared store is away, the
    // outage event has said it already.
    (aedes as unknown as NodeJS.EventEmitter).on("error", (error: Error) => {
      if (this.#gate?.refusal !== undefined) return;
      this.#event({ event: "store-error", error: error.message });
    });
  }

  /** Outages of the shared store become events and refusals (broker/shared-store.ts); the node's status comes from its storage. */
  #openGate(shared: SharedStore): SharedGate {
    const store = { store: shared.kind, where: shared.where };
    return new SharedGate(shared, {
      unavailable: (error) => {
        if (this.#isClosed()) return; // its own connections ending
        this.#event({ event: "store-unavailable", ...store, error });
      },
      available: (downForMs) => {
        if (this.#isClosed()) return;
        this.#event({ event: "store-available", ...store, downForMs });
      },
      disconnectAll: () => {
        // After the current turn: the status change may come from inside aedes' own callbacks.
        setImmediate(() => {
          this.#cutOff();
        });
      },
      dropWaiting: () => {
        for (const [stream] of this.#pending.splice(0)) stream.destroy();
      },
    });
  }

  #clientError(client: Client, error: Error): void {
    if (this.#guards.stopped(client)) return; // a consequence of a limit already reported
    const limit = this.#guards.limitOf(error);
    if (limit) this.#limitExceeded(client, limit);
    else this.#event({ event: "client-error", clientId: client.id, error: error.message });
  }

  #limitExceeded(client: Client, error: LimitError): void {
    const address = remoteAddress(client);
    this.#event({
      event: "limit-exceeded",
      clientId: clientIdOf(client),
      limit: error.limit,
      max: error.max,
      ...(error.value === undefined ? {} : { value: error.value }),
      ...(address === undefined ? {} : { remoteAddress: address }),
      reason: error.message,
    });
  }

  #withPlugin(info: ClientInfo, hook: string, call: (plugin: BrokerPlugin) => void): void {
    const plugin = info.identity.plugin === undefined ? undefined : this.#plugins.get(info.identity.plugin);
    if (plugin) this.#callPlugin(plugin, hook, () => { call(plugin); });
  }

  #callPlugin(plugin: BrokerPlugin, hook: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#pluginError(plugin.name, hook, err);
    }
  }

  #pluginError(plugin: string, hook: string, err: unknown): void {
    this.#event({ event: "plugin-error", plugin, hook, error: toError(err).message });
  }

  #event(event: BrokerEvent): void {
    this.emit("event", event);
  }
}

/** aedes types the id as always a string; it is null until CONNECT was handled. */
function clientIdOf(client: Client): string {
  const id: unknown = client.id;
  return typeof id === "string" ? id : "";
}

function localAddress(client: Client): string | undefined {
  return client.req?.socket.localAddress ?? (client.conn as Partial<Socket>).localAddress;
}

function remoteAddress(client: Client): string | undefined {
  return client.req?.socket.remoteAddress ?? (client.conn as Partial<Socket>).remoteAddress;
}

/** Drops undefined fields, so events carry only what is known (exactOptionalPropertyTypes-friendly). */
function optional<T extends Record<string, string | undefined>>(fields: T): Partial<Record<keyof T, string>> {
  const out: Partial<Record<keyof T, string>> = {};
  for (const [k, v] of Object.entries(fields) as [keyof T, string | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Whom failed logins are counted against: the client's address, except on loopback, where every
 * local client shares one (Node-RED's own MQTT nodes, local scripts): there each username counts
 * on its own, so one misconfigured local client cannot lock the others out. The username is
 * digested: an unclaimed one may be a device's token, and the source shows up in events.
 */
function throttleSource(request: AuthRequest): string | undefined {
  const address = request.remoteAddress;
  if (address === undefined || !isLoopback(address)) return address;
  return `${address.replaceAll(":", "_")} user#${createHash("sha256").update(request.username ?? "").digest("hex").slice(0, 16)}`;
}

function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.toLowerCase().startsWith("::ffff:127.");
}
