/**
 * The ThingsBoard emulation on one broker engine: a BrokerPlugin shared by every ThingsBoard
 * device hosted on that engine (see acquirePlugin). It authenticates devices, keeps their
 * traffic in private namespaces, remembers attributes and answers what ThingsBoard would
 * answer. The public contract (topics, ids, gateway design) is described in emulation.ts.
 *
 * Decisions:
 * - Who a connection is: the username is tried as an access token (constant-time look-up),
 *   then the devices' basic MQTT credentials (ThingsBoard's matching rule). No match: the
 *   connection is left to other plugins and anonymous access; only when nobody claims it does
 *   `refuseUnclaimed` answer as ThingsBoard: 0x04 for an empty username, 0x05 otherwise (MQTT
 *   5: 0x86/0x87), keeping the username (maybe a mistyped token) out of the broker event. So
 *   with a ThingsBoard device hosted, any unknown username is refused with 0x05, not the
 *   engine's 0x04 "unknown user"; without one, the engine's answers are unchanged.
 * - A second connection of the same device REPLACES the first (ThingsBoard's default of one
 *   session per device); the device's `report` gets a warning.
 * - Devices may publish ThingsBoard's uplink topics only (gateway topics only when hosted as a
 *   gateway) and subscribe only within its downlink topics (`v1/devices/me/attributes`,
 *   `.../attributes/response/+`, `.../rpc/request/+`, `.../rpc/response/+`; gateways also
 *   `v1/gateway/attributes|rpc|attributes/response`); anything else is refused by the engine
 *   (publish: dropped in 3.1.1, PUBACK 0x87 in 5; subscribe: SUBACK 0x80).
 * - Answers (attribute responses, `getSessionLimits`) go out only once a subscription of the
 *   asking connection covers them, never synchronously inside a hook (docs/PROTOCOLS.md 7;
 *   broker/answer-gate.ts).
 * - Flow control: each connection's answers go through a PacedQueue (one publish in flight, at
 *   most MAX_QUEUED waiting). A device that asks faster than it reads gets no answer to the
 *   newest requests (as if they were lost) and its `report` says so, once, then once a minute.
 * - Uplinks reach flows before this plugin sees them (the engine's `published` runs after
 *   delivery): a malformed one is reported by throwing, which the engine turns into a
 *   `plugin-error` event naming the device and topic; nothing is answered for it. A flood of
 *   them gives one such event, then a summary per minute on the device's `report`.
 */
import { deviceNamespace, INTERNAL_PREFIX, type AuthDecision, type AuthRefusal, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { DeviceConnections, type DeviceConnection } from "../broker/device-connections.js";
import { toError } from "../transport/errors.js";
import type { InboundMessage, PublishOptions } from "../transport/pubsub.js";
import {
  attributeResponseTopic,
  classifyConnect,
  encodeAttributeResponse,
  isReadTelemetry,
  LIMITS,
  parseAttributeRequest,
  parseAttributes,
  parseAttributeUpdate,
  parseClaim,
  parseDeviceTopic,
  parseRpcRequest,
  parseTelemetry,
  rpcResponseTopic,
  TOPICS,
  type TbJson,
} from "./codec.js";
import {
  encodeGatewayAttributeResponse,
  parseGatewayAttributeRequest,
  parseGatewayAttributes,
  parseGatewayAttributeUpdate,
  parseGatewayClaim,
  parseGatewayConnect,
  parseGatewayDisconnect,
  parseGatewayRpcResponse,
  parseGatewayTelemetry,
} from "./gateway-codec.js";
import { HostedDevice } from "./hosted-device.js";
import { TbDeviceIndex } from "./hosted-index.js";
import { encodeHttpRpcRequest } from "./http-codec.js";
import { hostedTopics, isDownlinkFilter, isUplinkTopic, TB_PLUGIN, type HostedTbDevice } from "./hosted-types.js";

/** Answers waiting for a subscription, per connection. */
const MAX_PENDING = 100;
/** Answers waiting to be sent, per connection (ThingsBoard's own maxInflightMessages is 100). */
export const MAX_QUEUED_ANSWERS = 100;
/** `getSessionLimits` (docs/PROTOCOLS.md 4.2): ThingsBoard's documented defaults; the broker enforces DEVICE_RATE_LIMIT. */
const RATE_LIMITS = { messages: "200:1,6000:60,14000:3600", telemetryMessages: "200:1,6000:60,14000:3600", telemetryDataPoints: "200:1,6000:60,14000:3600" };

/** Publish limit per device connection unless the broker sets one: "200:1,6000:60" as a token bucket. */
const DEVICE_RATE_LIMIT: RateLimit = { perSecond: 6000 / 60, burst: 200 };

type Connection = DeviceConnection<HostedDevice>;

export class TbEmulation implements BrokerPlugin {
  readonly name = TB_PLUGIN;
  readonly #engine: BrokerEngine;
  readonly #client: LocalClient;
  readonly #devices = new Map<string, HostedDevice>();
  /** The same devices by token and basic credentials: a login is a map look-up, whatever the number of devices. */
  readonly #index = new TbDeviceIndex();
  readonly #connections: DeviceConnections<HostedDevice>;
  /** Settles once flows' downlink is being followed; state publishes wait for it (so a retained online state means "listening"). */
  readonly #ready: Promise<void>;
  #closed = false;

  constructor(engine: BrokerEngine) {
    this.#engine = engine;
    this.#client = engine.createLocalClient();
    this.#connections = new DeviceConnections(engine, this.#devices, {
      onePerDevice: "ThingsBoard keeps one session per device",
      plugin: TB_PLUGIN,
      platform: "ThingsBoard",
      credential: "access token",
      index: this.#index,
      publish: (device, topic, payload) => this.#publish(device, topic, payload, { qos: 1 }),
      maxQueued: MAX_QUEUED_ANSWERS,
      maxPending: MAX_PENDING,
    });
    this.#ready = this.#client
      .subscribe(`${INTERNAL_PREFIX}${TB_PLUGIN}/+/down/#`, (m) => {
        this.#fromFlows(m);
      })
      .then(
        () => undefined,
        (err: unknown) => {
          for (const device of this.#devices.values()) device.report(`shared attributes and RPC sent by flows will not be followed: ${toError(err).message}`);
        },
      );
  }

  /** Hosts a device on this engine. Throws if its id is hosted already. */
  add(config: HostedTbDevice, report: (err: Error) => void): HostedDevice {
    if (this.#closed) throw new Error("the ThingsBoard emulation of this broker was closed");
    const device = this.#connections.host(config.id, () => new HostedDevice(config, report, (topic, payload, options) => this.#client.publish(topic, payload, options)));
    this.#publishOnline(device);
    return device;
  }

  /** Ends hosting: waiting HTTP calls end, connections close, the retained state is cleared. */
  remove(id: string): void {
    const device = this.#connections.unhost(id);
    if (!device) return;
    device.close();
    const last = this.#devices.size === 0;
    if (last) this.#closed = true;
    this.#afterReady(() => {
      this.#send(device, `${hostedTopics.state(id)}online`, "", { retain: true });
      if (last) void this.#client.close();
    });
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    const presented = classifyConnect({ clientId: request.clientId, username: request.username, password: request.password });
    if (presented.kind === "provision") return undefined; // not served: left to refuseUnclaimed
    const device = this.#index.find(presented);
    if (!device) return undefined;
    const { gateway } = device.config;
    return {
      accept: true,
      // No username in the identity: it is the token, and identities show up in broker events.
      identity: {
        kind: "device",
        plugin: TB_PLUGIN,
        deviceId: device.id,
        namespace: deviceNamespace({
          plugin: TB_PLUGIN,
          deviceId: device.id,
          canPublish: (topic) => isUplinkTopic(topic, gateway),
          canSubscribe: (filter) => isDownlinkFilter(filter, gateway),
        }),
        rateLimit: DEVICE_RATE_LIMIT,
      },
    };
  }

  refuseUnclaimed(request: AuthRequest): AuthRefusal | undefined {
    if (this.#devices.size === 0) return undefined;
    if (request.username === undefined) {
      return { returnCode: 4, reason: "empty user name: a ThingsBoard device gives its access token as the user name", secretUsername: true };
    }
    return { returnCode: 5, reason: "not authorized: the user name is neither a broker user nor a hosted ThingsBoard device's access token or basic MQTT credentials", secretUsername: true };
  }

  clientReady(info: ClientInfo): void {
    const device = this.#connections.ready(info);
    if (device !== undefined) this.#publishOnline(device);
  }

  clientGone(info: ClientInfo): void {
    const device = this.#connections.gone(info);
    if (device !== undefined) this.#publishOnline(device);
  }

  subscribed(info: ClientInfo, filters: string[]): void {
    this.#connections.subscribed(info, filters);
  }

  published(info: ClientInfo, message: PublishedMessage): void {
    const uplink = this.#connections.uplink(info, message.topic);
    if (uplink === undefined) return;
    try {
      this.#handleUplink(uplink.connection, uplink.topic, message.payload);
    } catch (err) {
      const text = `"${uplink.topic}" from hosted ThingsBoard device "${uplink.connection.device.name}" was not understood (flows got it as sent): ${toError(err).message}`;
      // Thrown: the engine reports it as a plugin-error event; a flood is summarised on the device instead.
      if (uplink.connection.device.admits("not-understood", text)) throw new Error(text);
    }
  }

  #handleUplink(connection: Connection, topic: string, payload: Buffer): void {
    const { device } = connection;
    const parsed = parseDeviceTopic(topic);
    switch (parsed.kind) {
      case "telemetry":
        // Telemetry is not stored: only checked, unless a local link has just read this payload.
        if (!isReadTelemetry(payload)) parseTelemetry(payload);
        return;
      case "attributes":
        device.store.set("client", parseAttributes(payload));
        return;
      case "attributes-request": {
        const answer = encodeAttributeResponse(device.store.select(parseAttributeRequest(payload)));
        this.#answer(connection, attributeResponseTopic(parsed.idText), answer);
        return;
      }
      case "rpc-request":
        // Client-side RPC is the flows' to answer, except the session limits ThingsBoard itself gives.
        if (parseRpcRequest(payload).method === "getSessionLimits") this.#answer(connection, rpcResponseTopic(parsed.idText), this.#sessionLimits(device));
        return;
      case "rpc-response":
        return; // a server-side RPC reply: for the flow that asked
      case "claim":
        parseClaim(payload);
        return;
      case "gateway-connect":
        parseGatewayConnect(payload);
        return;
      case "gateway-disconnect":
        parseGatewayDisconnect(payload);
        return;
      case "gateway-telemetry":
        parseGatewayTelemetry(payload);
        return;
      case "gateway-attributes":
        for (const { device: name, values } of parseGatewayAttributes(payload)) device.store.set("client", values, name);
        return;
      case "gateway-attributes-request": {
        const request = parseGatewayAttributeRequest(payload);
        const found = device.store.select({ all: request.clientKeys.length + request.sharedKeys.length === 0, ...request }, request.device);
        const multiple = request.clientKeys.length + request.sharedKeys.length !== 1;
        const answer = encodeGatewayAttributeResponse({ id: request.id, device: request.device, values: { ...found.client, ...found.shared }, multiple });
        this.#answer(connection, TOPICS.gateway.attributeResponse, answer);
        return;
      }
      case "gateway-rpc":
        parseGatewayRpcResponse(payload);
        return;
      case "gateway-claim":
        parseGatewayClaim(payload);
        return;
      default:
        // The namespace lets nothing else through; kept for safety.
        throw new Error("not a ThingsBoard uplink topic");
    }
  }

  #sessionLimits(device: HostedDevice): TbJson {
    return {
      maxPayloadSize: LIMITS.maxPayloadBytes,
      maxInflightMessages: 100,
      rateLimits: RATE_LIMITS,
      ...(device.config.gateway ? { gatewayRateLimits: RATE_LIMITS } : {}),
    };
  }

  /** Queues an answer for this connection; it goes out once a subscription covers it. */
  #answer(connection: Connection, topic: string, payload: TbJson): void {
    connection.answers.answer([{ topic, payload: JSON.stringify(payload) }]);
  }

  /** Learns what flows send a device: shared attributes (stored, pushed to HTTP polls), server RPC (to HTTP polls), client-RPC answers (to HTTP calls). */
  #fromFlows(message: InboundMessage): void {
    const id = message.topic.split("/")[2] ?? "";
    const device = this.#devices.get(id);
    if (!device) return;
    const topic = message.topic.slice(hostedTopics.down(id).length);
    try {
      const parsed = parseDeviceTopic(topic);
      const text = message.payload.toString("utf8");
      switch (parsed.kind) {
        case "attributes": {
          const update = parseAttributeUpdate(message.payload);
          device.attributeUpdates.offer(text, device.keepsPushes);
          device.store.updateShared(update);
          return;
        }
        case "rpc-request": {
          const request = parseRpcRequest(message.payload);
          // HTTP devices need params (ThingsBoard's HTTP API fails without them): none -> {}.
          const body = encodeHttpRpcRequest(parsed.id, { method: request.method, params: request.params ?? undefined });
          device.rpcRequests.offer(JSON.stringify(body), device.keepsPushes);
          return;
        }
        case "rpc-response":
          device.clientRpc.resolve(parsed.id, text);
          return;
        case "gateway-attributes": {
          const update = parseGatewayAttributeUpdate(message.payload);
          device.store.updateShared(update, update.device);
          return;
        }
        default:
          return; // attribute responses, gateway RPC: for the device only
      }
    } catch (err) {
      device.report(`"${topic}" sent to the device by a flow was not understood: ${toError(err).message}`);
    }
  }

  #publishOnline(device: HostedDevice): void {
    this.#afterReady(() => {
      if (this.#devices.get(device.id) !== device) return; // removed meanwhile: remove() clears the state
      this.#send(device, `${hostedTopics.state(device.id)}online`, JSON.stringify(device.onlineState()), { retain: true });
    });
  }

  /** Runs `task` once flows' downlink is followed, in call order (state publishes must not overtake each other). */
  #afterReady(task: () => void): void {
    void this.#ready.then(() => {
      try {
        task();
      } catch {
        // Tasks only publish through #send, which reports its own failures.
      }
    });
  }

  /** One publish; settles when the broker delivered it. A failure is reported on the device, never thrown or rejected. */
  #publish(device: HostedDevice, topic: string, payload: string, options: PublishOptions): Promise<void> {
    return this.#client.publish(topic, payload, options).catch((err: unknown) => {
      if (!this.#engine.closed) device.report(`could not publish "${topic}": ${toError(err).message}`, "publish-failed");
    });
  }

  /** Fire-and-forget publish: a failure is reported on the device, never thrown (timers and hooks call this). */
  #send(device: HostedDevice, topic: string, payload: string, options: PublishOptions): void {
    try {
      this.#client.publish(topic, payload, options).catch((err: unknown) => {
        if (!this.#engine.closed) device.report(`could not publish "${topic}": ${toError(err).message}`);
      });
    } catch (err) {
      device.report(`could not publish "${topic}": ${toError(err).message}`);
    }
  }
}
