/**
 * The ThingsBoard emulation on one broker engine: a BrokerPlugin shared by every ThingsBoard
 * device hosted on that engine (see acquirePlugin). It authenticates devices, keeps their
 * traffic in private namespaces, parses what they send once (handing it to the device's
 * runtime, hosted-device.ts, which remembers and tells the handles) and answers what
 * ThingsBoard would answer. The public contract (topics, ids, gateway design) is described in
 * emulation.ts.
 *
 * Decisions:
 * - Who a connection is: the username is tried as an access token, then as basic MQTT
 *   credentials (ThingsBoard's matching rule), in the directory of hosted devices
 *   (hosted-index.ts), and only devices hosted on this engine count. No match: the connection
 *   is left to other plugins and anonymous access; only when nobody claims it does
 *   `refuseUnclaimed` answer as ThingsBoard: 0x04 for an empty username, 0x05 otherwise (MQTT
 *   5: 0x86/0x87), keeping the username (maybe a mistyped token) out of the broker event. So
 *   with a ThingsBoard device hosted, any unknown username is refused with 0x05, not the
 *   engine's 0x04 "unknown user"; without one, the engine's answers are unchanged.
 * - A second connection of the same device REPLACES the first (ThingsBoard's default of one
 *   session per device); the device's `report` gets a warning.
 * - Devices may publish ThingsBoard's uplink topics only (gateway topics only when hosted as a
 *   gateway) and subscribe only within its downlink topics (`v1/devices/me/attributes`,
 *   `.../attributes/response/+`, `.../rpc/request/+`, `.../rpc/response/+`; gateways also
 *   `v1/gateway/attributes|rpc|attributes/response`; OTA: `v2/fw|sw/request/<id>/chunk/<n>` up,
 *   `v2/fw|sw/response/...` and `v2/fw|sw/error` down); anything else is refused by the engine
 *   (publish: dropped in 3.1.1, PUBACK 0x87 in 5; subscribe: SUBACK 0x80).
 * - Answers (attribute responses, `getSessionLimits`) go out only once a subscription of the
 *   asking connection covers them, never synchronously inside a hook (docs/PROTOCOLS.md 7;
 *   broker/answer-gate.ts).
 * - Flow control: each connection's answers go through a PacedQueue (one publish in flight, at
 *   most MAX_QUEUED waiting). A device that asks faster than it reads gets no answer to the
 *   newest requests (as if they were lost) and its `report` says so, once, then once a minute.
 * - A malformed uplink reaches nobody: it is reported by throwing, which the engine turns into
 *   a `plugin-error` event naming the device and topic; nothing is answered for it. A flood of
 *   them gives one such event, then a summary per minute on the device's `report`.
 */
import { deviceNamespace, type AuthDecision, type AuthRefusal, type AuthRequest, type BrokerEngine, type BrokerPlugin, type ClientInfo, type LocalClient, type PublishedMessage, type RateLimit } from "../broker/index.js";
import { DeviceConnections, type DeviceConnection } from "../broker/device-connections.js";
import { toError } from "../transport/errors.js";
import {
  attributeResponseTopic,
  classifyConnect,
  encodeAttributeResponse,
  LIMITS,
  parseAttributeRequest,
  parseAttributes,
  parseClaim,
  parseDeviceTopic,
  parseRpcRequest,
  parseRpcResponse,
  parseTelemetry,
  rpcResponseTopic,
  TOPICS,
  type TbJson,
} from "./codec.js";
import {
  encodeGatewayAttributeResponse,
  parseGatewayAttributeRequest,
  parseGatewayAttributes,
  parseGatewayClaim,
  parseGatewayConnect,
  parseGatewayDisconnect,
  parseGatewayRpcResponse,
  parseGatewayTelemetry,
} from "./gateway-codec.js";
import { serveChunk } from "./firmware-serve.js";
import { HostedDevice } from "./hosted-device.js";
import { hostedByBasic, hostedByToken, type HostedRegistration } from "./hosted-index.js";
import { isDownlinkFilter, isUplinkTopic, mapDeviceFilter, TB_PLUGIN, type HostedTbDevice } from "./hosted-types.js";

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
  readonly #connections: DeviceConnections<HostedDevice>;
  #closed = false;

  constructor(engine: BrokerEngine) {
    this.#engine = engine;
    this.#client = engine.createLocalClient();
    this.#connections = new DeviceConnections(engine, this.#devices, {
      onePerDevice: "ThingsBoard keeps one session per device",
      plugin: TB_PLUGIN,
      platform: "ThingsBoard",
      publish: (device, topic, payload) => this.#publish(device, topic, payload),
      maxQueued: MAX_QUEUED_ANSWERS,
      maxPending: MAX_PENDING,
    });
  }

  /** Hosts a device on this engine (its credentials claimed already). Throws if its id is hosted already. */
  add(config: HostedTbDevice, report: (err: Error) => void): HostedDevice {
    if (this.#closed) throw new Error("the ThingsBoard emulation of this broker was closed");
    const store = this.#engine.deviceStores.open(TB_PLUGIN, config.id);
    // Flows' messages settle when delivered, and fail to the sender (not to the report).
    return this.#connections.host(config.id, () => new HostedDevice(config, store, report, (topic, payload) => this.#client.publish(topic, payload, { qos: 1 }), this.#engine.history));
  }

  /** Ends hosting: waiting HTTP calls end, connections close, the state is given back to the engine's store provider. */
  remove(id: string): void {
    const device = this.#connections.unhost(id);
    if (!device) return;
    device.close();
    this.#engine.deviceStores.close(TB_PLUGIN, id);
    if (this.#devices.size > 0) return;
    this.#closed = true;
    this.#client.close().catch(() => undefined); // nothing to undo: it has no subscriptions
  }

  authenticate(request: AuthRequest): AuthDecision | undefined {
    const presented = classifyConnect({ clientId: request.clientId, username: request.username, password: request.password });
    if (presented.kind === "provision") return undefined; // not served: left to refuseUnclaimed
    const byToken = presented.token === undefined ? undefined : this.#hostedHere(hostedByToken(presented.token));
    const device = byToken ?? hostedByBasic(presented).map((r) => this.#hostedHere(r)).find((d) => d !== undefined);
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
          mapFilter: mapDeviceFilter,
        }),
        rateLimit: DEVICE_RATE_LIMIT,
      },
    };
  }

  refuseUnclaimed(request: AuthRequest): AuthRefusal | undefined {
    if (this.#devices.size === 0) return undefined;
    // A provisioning request no provisioning fleet serves has no device credentials to adopt.
    const unknown = classifyConnect({ clientId: request.clientId, username: request.username, password: request.password }).kind !== "provision";
    if (request.username === undefined) {
      return { returnCode: 4, reason: "empty user name: a ThingsBoard device gives its access token as the user name", secretUsername: true, unknown };
    }
    return { returnCode: 5, reason: "not authorized: the user name is neither a broker user nor a hosted ThingsBoard device's access token or basic MQTT credentials", secretUsername: true, unknown };
  }

  clientReady(info: ClientInfo): void {
    const device = this.#connections.ready(info);
    if (device !== undefined) device.listeners.online(device.onlineState());
  }

  clientGone(info: ClientInfo): void {
    const device = this.#connections.gone(info);
    if (device !== undefined) device.listeners.online(device.onlineState());
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
      const text = `"${uplink.topic}" from hosted ThingsBoard device "${uplink.connection.device.name}" was not understood (not passed to flows): ${toError(err).message}`;
      // Thrown: the engine reports it as a plugin-error event; a flood is summarised on the device instead.
      if (uplink.connection.device.admits("not-understood", text)) throw new Error(text);
    }
  }

  /** The device of `registration` when it is hosted on this engine (a login finds no device of another broker). */
  #hostedHere(registration: HostedRegistration | undefined): HostedDevice | undefined {
    if (registration === undefined) return undefined;
    const device = this.#devices.get(registration.device.id);
    return device?.config === registration.device ? device : undefined;
  }

  /** Parses an uplink once: what flows get goes to the device's runtime, what ThingsBoard answers is answered here. */
  #handleUplink(connection: Connection, topic: string, payload: Buffer): void {
    const { device } = connection;
    if (serveChunk(connection, topic, payload)) return;
    const parsed = parseDeviceTopic(topic);
    switch (parsed.kind) {
      case "telemetry": {
        const entries = parseTelemetry(payload, { now: Date.now() });
        if (entries.length > 0) device.receive({ kind: "telemetry", entries });
        return;
      }
      case "attributes":
        device.receive({ kind: "attributes", values: parseAttributes(payload) });
        return;
      case "attributes-request": {
        const answer = encodeAttributeResponse(device.state.select(parseAttributeRequest(payload)));
        this.#answer(connection, attributeResponseTopic(parsed.idText), answer);
        return;
      }
      case "rpc-request": {
        const { method, params } = parseRpcRequest(payload);
        // Client-side RPC is the flows' to answer, except the session limits ThingsBoard itself gives.
        if (method === "getSessionLimits") this.#answer(connection, rpcResponseTopic(parsed.idText), this.#sessionLimits(device));
        else device.receive({ kind: "rpc-request", id: parsed.id, idText: parsed.idText, method, params });
        return;
      }
      case "rpc-response":
        device.receive({ kind: "rpc-response", id: parsed.id, result: parseRpcResponse(payload) });
        return;
      case "claim":
        device.receive({ kind: "claim", claim: parseClaim(payload) });
        return;
      case "gateway-connect":
        parseGatewayConnect(payload);
        return;
      case "gateway-disconnect":
        parseGatewayDisconnect(payload);
        return;
      case "gateway-telemetry":
        for (const { device: name, entries } of parseGatewayTelemetry(payload, { now: Date.now() })) {
          if (entries.length > 0) device.receive({ kind: "telemetry", device: name, entries });
        }
        return;
      case "gateway-attributes":
        for (const { device: name, values } of parseGatewayAttributes(payload)) device.receive({ kind: "attributes", device: name, values });
        return;
      case "gateway-attributes-request": {
        const request = parseGatewayAttributeRequest(payload);
        const found = device.state.select({ all: request.clientKeys.length + request.sharedKeys.length === 0, ...request }, request.device);
        const multiple = request.clientKeys.length + request.sharedKeys.length !== 1;
        const answer = encodeGatewayAttributeResponse({ id: request.id, device: request.device, values: { ...found.client, ...found.shared }, multiple });
        this.#answer(connection, TOPICS.gateway.attributeResponse, answer);
        return;
      }
      case "gateway-rpc": {
        const reply = parseGatewayRpcResponse(payload);
        device.receive({ kind: "rpc-response", device: reply.device, id: reply.id, result: reply.data });
        return;
      }
      case "gateway-claim":
        for (const { device: name, ...claim } of parseGatewayClaim(payload)) device.receive({ kind: "claim", device: name, claim });
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

  /** One answer; settles when the broker delivered it. A failure is reported on the device, never thrown or rejected. */
  #publish(device: HostedDevice, topic: string, payload: string | Buffer): Promise<void> {
    return this.#client.publish(topic, payload, { qos: 1 }).catch((err: unknown) => {
      if (!this.#engine.closed) device.report(`could not publish "${topic}": ${toError(err).message}`, "publish-failed");
    });
  }
}
