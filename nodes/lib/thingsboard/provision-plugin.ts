/**
 * The provisioning login of self-hosted ThingsBoard (docs/PROTOCOLS.md 4.3): a BrokerPlugin on
 * every engine whose broker has a provisioning profile (provisioning.ts). It accepts a CONNECT
 * with user name or client id `provision` (any password) and lets that connection do nothing but
 * publish `/provision/request` and subscribe `/provision/response`, in a namespace of its own (a
 * per-connection id, never a credential). Each request is decided by `provisionDevice` and the
 * answer goes out once the connection's subscription covers it (broker/answer-gate.ts).
 *
 * Decisions: one request at a time per connection (another one meanwhile is dropped and
 * reported), at most 5 requests a connection may publish in a burst and one a second after that
 * (the broker's rate limit); wrong keys or secrets count per address like failed logins (10 a
 * minute, then the `provision` login is refused, CONNACK 5, for a lockout that doubles): a
 * provision secret cannot be guessed quickly. A malformed request is answered FAILURE (ThingsBoard
 * answers its parse errors the same way) and reported as a plugin error without the payload.
 * The connection stays open after the answer: devices hang up themselves (as ThingsBoard's
 * sample clients do).
 */
import { AnswerGate } from "../broker/answer-gate.js";
import { brokers, deviceNamespace, devicePrefix, type AuthDecision, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type PublishedMessage } from "../broker/index.js";
import { AuthThrottle } from "../transport/auth-throttle.js";
import { filterCovers } from "../transport/topic.js";
import { toError } from "../transport/errors.js";
import { classifyConnect, encodeProvisionResponse, parseProvisionRequest, TOPICS, type ProvisionResponse } from "./codec.js";
import { provisionDevice, registerProvisionProfile, reportOnBroker, type ProvisionProfile } from "./provisioning.js";

/** Plugin name: the second level of a provisioning connection's internal topics. */
export const TB_PROVISION_PLUGIN = "thingsboard-provision";

function answerOf(response: ProvisionResponse): { topic: string; payload: string } {
  return { topic: TOPICS.provisionResponse, payload: JSON.stringify(encodeProvisionResponse(response)) };
}

/** The plugin of each engine and how many profiles use it (the last one takes it out and closes it). */
const perEngine = new WeakMap<BrokerEngine, { plugin: TbProvisionPlugin; users: number; remove: () => void }>();

/**
 * Serves `profile` until the returned function is called: registered for provisionDevice, and the
 * provisioning login plugged into every engine of its broker (one plugin per engine, shared).
 */
export function hostProvisioning(profile: ProvisionProfile, onError: (err: unknown) => void): () => void {
  const unregister = registerProvisionProfile(profile);
  const unuse = brokers.use(profile.brokerId, (engine) => {
    let shared = perEngine.get(engine);
    if (shared === undefined) {
      const plugin = new TbProvisionPlugin(engine, profile.brokerId, (text) => { reportOnBroker(profile.brokerId, text); });
      shared = { plugin, users: 0, remove: engine.addPlugin(plugin) };
      perEngine.set(engine, shared);
    }
    shared.users++;
    const held = shared;
    return () => {
      held.users--;
      if (held.users > 0) return;
      perEngine.delete(engine);
      held.remove();
      held.plugin.close();
    };
  }, onError);
  return () => {
    unuse();
    unregister();
  };
}

interface Connection {
  gate: AnswerGate;
  /** A request was taken: one decision per connection, so a secret cannot be guessed on an open connection. */
  used: boolean;
  up: string;
}

export class TbProvisionPlugin implements BrokerPlugin {
  readonly name = TB_PROVISION_PLUGIN;
  readonly #brokerId: string;
  readonly #client: LocalClient;
  readonly #report: (text: string) => void;
  readonly #connections = new Map<string, Connection>();
  /** Wrong keys or secrets per address: after 10 a minute the `provision` login is refused for a while (transport/auth-throttle.ts). */
  readonly #throttle = new AuthThrottle();
  #next = 0;

  constructor(engine: BrokerEngine, brokerId: string, report: (text: string) => void) {
    this.#brokerId = brokerId;
    this.#client = engine.createLocalClient();
    this.#report = report;
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    if (classifyConnect({ clientId: request.clientId, username: request.username, password: request.password }).kind !== "provision") return undefined;
    if (this.#throttle.retryAfterMs(request.remoteAddress) > 0) {
      return { accept: false, returnCode: 5, reason: "too many wrong provision keys or secrets from this address; try again later" };
    }
    const deviceId = `p${(++this.#next).toString(36)}`;
    return {
      accept: true,
      identity: {
        kind: "device",
        plugin: TB_PROVISION_PLUGIN,
        deviceId,
        namespace: deviceNamespace({
          plugin: TB_PROVISION_PLUGIN,
          deviceId,
          canPublish: (topic) => topic === TOPICS.provisionRequest,
          canSubscribe: (filter) => filterCovers(TOPICS.provisionResponse, filter),
        }),
        rateLimit: { perSecond: 1, burst: 5 },
      },
    };
  }

  clientReady(info: ClientInfo): void {
    const id = this.#mine(info);
    if (id === undefined) return;
    const gate = new AnswerGate({
      prefix: devicePrefix(TB_PROVISION_PLUGIN, id, "down"),
      maxPending: 5,
      maxQueued: 5,
      publish: (topic, payload) => this.#client.publish(topic, payload, { qos: 1 }).catch(() => undefined),
      report: (text) => { this.#report(`a provisioning connection: ${text}`); },
    });
    this.#connections.get(id)?.gate.close();
    this.#connections.set(id, { gate, used: false, up: devicePrefix(TB_PROVISION_PLUGIN, id, "up") });
  }

  clientGone(info: ClientInfo): void {
    const id = this.#mine(info);
    if (id === undefined) return;
    this.#connections.get(id)?.gate.close();
    this.#connections.delete(id);
  }

  subscribed(info: ClientInfo, filters: string[]): void {
    const id = this.#mine(info);
    if (id !== undefined) this.#connections.get(id)?.gate.subscribed(filters);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    const id = this.#mine(info);
    const connection = id === undefined ? undefined : this.#connections.get(id);
    if (connection === undefined || message.topic !== connection.up + TOPICS.provisionRequest) return;
    if (connection.used) {
      // ThingsBoard's devices send one request per provisioning connection; more would be guesses.
      connection.gate.answer([answerOf({ ok: false, status: "FAILURE", errorMsg: "one provisioning request per connection" })]);
      return;
    }
    connection.used = true;
    if (this.#throttle.retryAfterMs(info.remoteAddress) > 0) {
      connection.gate.answer([answerOf({ ok: false, status: "FAILURE", errorMsg: "too many wrong provision keys or secrets from this address; try again later" })]);
      return;
    }
    let request;
    try {
      request = parseProvisionRequest(message.payload);
    } catch {
      connection.gate.answer([answerOf({ ok: false, status: "FAILURE", errorMsg: "" })]);
      // Thrown: the engine reports it as a plugin-error event. The codec's words could quote the secret: not used.
      throw new Error('a provisioning request was not understood: accepted: {"deviceName": "...", "provisionDeviceKey": "...", "provisionDeviceSecret": "..."} (docs/PROTOCOLS.md 4.3)');
    }
    const address = info.remoteAddress;
    provisionDevice(request, { brokerId: this.#brokerId, kind: "mqtt", wrongSecret: () => { this.#throttle.failed(address); } })
      .then((response) => { connection.gate.answer([answerOf(response)]); })
      .catch((err: unknown) => { this.#report(`a provisioning request could not be answered: ${toError(err).message}`); });
  }

  close(): void {
    for (const c of this.#connections.values()) c.gate.close();
    this.#connections.clear();
    this.#client.close().catch(() => undefined);
  }

  #mine(info: ClientInfo): string | undefined {
    return info.identity.plugin === TB_PROVISION_PLUGIN ? info.identity.deviceId : undefined;
  }
}
