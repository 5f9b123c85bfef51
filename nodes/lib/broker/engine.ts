/**
 * The local broker engine: aedes plus users, namespaces, listeners, the in-process client and
 * the plug-in seam. It knows no platform; platforms plug in through `BrokerPlugin`.
 */
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { toError } from "../transport/errors.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import { loadAedes, type Aedes, type AedesPublishPacket, type AedesSubscription, type Client, type ClientWithParser, type PublishPacket } from "./aedes-types.js";
import { guardDeliveryQueue } from "./delivery-queue.js";
import { describeListener, startListener, type Listener } from "./listeners.js";
import { LocalClient } from "./local-client.js";
import { openNamespace, sharesNamespace, userNamespace } from "./namespace.js";
import {
  INTERNAL_PREFIX,
  type AuthDecision,
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
} from "./types.js";
import { UserDirectory } from "./users.js";

/** Where refused publishes of MQTT 3.1.1 clients go: nowhere anyone can subscribe (see authorizePublish). */
const REFUSED_TOPIC = `${INTERNAL_PREFIX}_refused`;

type AuthError = Error & { returnCode: number };

/** A client's record: who it is (what plugins see) and whether it finished connecting. */
interface Tracked extends ClientInfo {
  ready: boolean;
}

export class BrokerEngine extends TypedEmitter<BrokerEngineEvents> {
  readonly #users: UserDirectory;
  readonly #allowAnonymous: boolean;
  readonly #plugins = new Map<string, BrokerPlugin>();
  /** Who each client is; `ready` once it finished connecting (one record per client, no second set). */
  readonly #infos = new WeakMap<Client, Tracked>();
  #connectedCount = 0;
  /** One identity per user whose patterns have no `%c`, shared by all its connections. */
  readonly #userIdentities = new Map<string, ClientIdentity>();
  readonly #anonymous: ClientIdentity = { kind: "anonymous", namespace: openNamespace };
  /** Connections that arrived while aedes was still starting; handed over once it is ready. */
  readonly #pending: [Duplex, IncomingMessage | undefined][] = [];
  readonly #starting: Promise<void>;
  #startFinished = false;
  readonly #listeners = new Set<Listener>();
  readonly #localClients = new Set<LocalClient>();
  #aedes: Aedes | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Validates the options (throws TypeError naming the problem) and starts aedes in the
   * background. Listeners may be opened at once: ports are bound synchronously, so flows that
   * connect to this broker while it starts are queued, not refused.
   */
  constructor(options: BrokerOptions = {}) {
    super();
    this.#users = new UserDirectory(options.users);
    this.#allowAnonymous = options.allowAnonymous ?? false;
    // Checked at run time too: the options come from a flow file, not from typed code.
    const persistence = (options.persistence as { kind: unknown } | undefined)?.kind ?? "memory";
    if (persistence !== "memory") {
      throw new TypeError(`persistence ${JSON.stringify(persistence)} is not available; accepted: "memory"`);
    }
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
      const aedes = await Aedes.createBroker({
        id: options.id,
        maxClientsIdLength: options.maxClientIdLength ?? 256,
        maximumPacketSize: options.maxPacketBytes ?? 0,
        authenticate: (client, username, password, done) => {
          this.#authenticate(client, username, password, done);
        },
        authorizePublish: (client, packet, done) => {
          done(this.#authorizePublish(client, packet));
        },
        authorizeSubscribe: (client, sub, done) => {
          done(null, this.#authorizeSubscribe(client, sub));
        },
        authorizeForward: (client, packet) => this.#authorizeForward(client, packet),
        published: (packet, client, done) => {
          done();
          this.#published(packet, client);
        },
      });
      this.#aedes = aedes;
      // Queued deliveries must not drain by recursion (delivery-queue.ts): that ended Node-RED.
      guardDeliveryQueue((aedes as unknown as { mq?: unknown }).mq);
      this.#wireEvents(aedes);
    } finally {
      this.#startFinished = true;
      for (const [stream, request] of this.#pending.splice(0)) this.#accept(stream, request);
    }
  }

  get id(): string {
    return this.#broker.id;
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

  /** The clients that finished connecting, with who they are. */
  clients(): ClientInfo[] {
    return this.#readyClients().map(([, info]) => info);
  }

  /** Opens a listener. Rejects with ListenError ("address-in-use" / "listen-failed"). */
  async listen(config: ListenerConfig): Promise<ListenerInfo> {
    if (this.closed) throw new Error("the broker is closed");
    const listener = await startListener(config, (stream, request) => {
      this.#accept(stream, request);
    });
    if (this.#isClosed()) {
      await listener.close();
      throw new Error("the broker was closed while starting its listeners");
    }
    this.#listeners.add(listener);
    return listener.info;
  }

  describe(config: ListenerConfig): string {
    return describeListener(config);
  }

  /** Plugs a platform emulation in. Returns a function that takes it out and disconnects its clients. */
  addPlugin(plugin: BrokerPlugin): () => void {
    if (this.#plugins.has(plugin.name)) throw new Error(`a broker plugin named "${plugin.name}" is already registered`);
    this.#plugins.set(plugin.name, plugin);
    return () => {
      if (this.#plugins.get(plugin.name) !== plugin) return;
      this.#plugins.delete(plugin.name);
      this.disconnectClients((info) => info.identity.plugin === plugin.name);
    };
  }

  /** Closes the connections of the clients `predicate` picks (a removed device, a changed user). */
  disconnectClients(predicate: (info: ClientInfo) => boolean): number {
    let count = 0;
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

  /** Closes listeners (freeing ports), local clients and aedes. Safe to call more than once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#listeners].map((l) => l.close()));
      this.#listeners.clear();
      await Promise.allSettled([...this.#localClients].map((c) => c.close()));
      await this.#starting.catch(() => undefined);
      const aedes = this.#aedes;
      if (aedes && !aedes.closed) {
        await new Promise<void>((resolve) => {
          aedes.close(() => {
            resolve();
          });
        });
      }
      this.#connectedCount = 0;
    })();
    return this.#closing;
  }

  get #broker(): Aedes {
    if (!this.#aedes) throw new Error("the broker is not started");
    return this.#aedes;
  }

  #accept(stream: Duplex, request: IncomingMessage | undefined): void {
    if (this.#isClosed() || (!this.#aedes && this.#startFinished)) {
      stream.destroy();
      return;
    }
    if (!this.#aedes) {
      this.#pending.push([stream, request]);
      return;
    }
    this.#aedes.handle(stream, request);
  }

  /**
   * aedes has no unsubscribe hook; rewrite filters into the client's namespace before it looks
   * them up, or a namespaced client could never unsubscribe (see aedes-types.ts). Only for
   * namespaces that rewrite filters: the listener costs memory per connection.
   */
  #mapUnsubscribes(client: Client, info: ClientInfo): void {
    if (info.identity.namespace.rewrites === false) return;
    (client as unknown as ClientWithParser)._parser?.prependListener("packet", (packet) => {
      if (packet.cmd !== "unsubscribe" || !packet.unsubscriptions) return;
      packet.unsubscriptions = packet.unsubscriptions.map((f) => info.identity.namespace.subscribe(f) ?? f);
    });
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

  #conclude(client: Client, request: AuthRequest, decision: AuthDecision): AuthError | null {
    if (decision.accept) {
      const info: Tracked = {
        clientId: client.id,
        identity: decision.identity,
        protocolVersion: client.version,
        remoteAddress: request.remoteAddress,
        ready: false,
      };
      this.#infos.set(client, info);
      this.#mapUnsubscribes(client, info);
      return null;
    }
    this.#event({
      event: "auth-refused",
      clientId: client.id,
      ...(request.username === undefined || decision.secretUsername === true ? {} : { username: request.username }),
      ...(request.remoteAddress === undefined ? {} : { remoteAddress: request.remoteAddress }),
      returnCode: decision.returnCode,
      reason: decision.reason,
    });
    return Object.assign(new Error(decision.reason), { returnCode: decision.returnCode });
  }

  /** Generic users first, then each plugin in turn, then anonymous access, then the plugins' last word. */
  #decide(request: AuthRequest): AuthDecision | Promise<AuthDecision> {
    const { username, clientId } = request;
    if (username !== undefined && this.#users.has(username)) {
      const user = this.#users.check(username, request.password);
      return user
        ? { accept: true, identity: this.#userIdentity(user, clientId) }
        : { accept: false, returnCode: 4, reason: `wrong password for user "${username}"` };
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
      ? { accept: false, returnCode: 5, reason: "anonymous clients are not allowed (no username given)" }
      : { accept: false, returnCode: 4, reason: `unknown user "${username}"` };
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
    if (!client) return null; // the broker's own publishes (wills are checked at CONNECT by aedes)
    const info = this.#infos.get(client);
    const internal = info?.identity.namespace.publish(packet.topic) ?? null;
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

  #authorizeSubscribe(client: Client, sub: AedesSubscription): AedesSubscription | null {
    const info = this.#infos.get(client);
    const internal = info?.identity.namespace.subscribe(sub.topic) ?? null;
    if (internal === null) {
      this.#event({ event: "subscribe-refused", clientId: client.id, topic: sub.topic });
      return null;
    }
    return internal === sub.topic ? sub : { ...sub, topic: internal };
  }

  #authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const info = this.#infos.get(client);
    const visible = info?.identity.namespace.forward(packet.topic) ?? null;
    if (visible === null) return null;
    return visible === packet.topic ? packet : { ...packet, topic: visible };
  }

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
      const info = this.#infos.get(client);
      if (!info || info.ready) return;
      info.ready = true;
      this.#connectedCount++;
      const { identity } = info;
      this.#event({
        event: "client-connected",
        clientId: client.id,
        kind: identity.kind,
        protocolVersion: info.protocolVersion,
        ...optional({ username: identity.username, plugin: identity.plugin, deviceId: identity.deviceId, remoteAddress: info.remoteAddress }),
      });
      this.emit("clients", this.#connectedCount);
      this.#withPlugin(info, "clientReady", (p) => p.clientReady?.(info));
    });
    aedes.on("clientDisconnect", (client) => {
      const info = this.#infos.get(client);
      if (!info?.ready) return;
      info.ready = false;
      this.#connectedCount--;
      const { identity } = info;
      this.#event({
        event: "client-disconnected",
        clientId: client.id,
        kind: identity.kind,
        ...optional({ username: identity.username, plugin: identity.plugin, deviceId: identity.deviceId }),
      });
      this.emit("clients", this.#connectedCount);
      this.#withPlugin(info, "clientGone", (p) => p.clientGone?.(info));
    });
    aedes.on("subscribe", (subscriptions, client) => {
      const info = this.#infos.get(client);
      const granted = subscriptions.filter((s) => s.qos < 128).map((s) => s.topic);
      if (!info || granted.length === 0) return;
      this.#event({ event: "subscribe", clientId: client.id, topics: granted });
      const internal = granted.flatMap((t) => info.identity.namespace.subscribe(t) ?? []);
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
      this.#event({ event: "client-error", clientId: client.id, error: error.message });
    });
    aedes.on("connectionError", (client, error) => {
      this.#event({ event: "client-error", clientId: client.id, error: error.message });
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

function remoteAddress(client: Client): string | undefined {
  return client.req?.socket.remoteAddress ?? (client.conn as Partial<Socket>).remoteAddress;
}

/** Drops undefined fields, so events carry only what is known (exactOptionalPropertyTypes-friendly). */
function optional<T extends Record<string, string | undefined>>(fields: T): Partial<Record<keyof T, string>> {
  const out: Partial<Record<keyof T, string>> = {};
  for (const [k, v] of Object.entries(fields) as [keyof T, string | undefined][]) if (v !== undefined) out[k] = v;
  return out;
}
