/**
 * local mode: Node-RED is the ThingsBoard server of a device hosted on an iot-broker node. The
 * device is hosted (its token accepted by the broker) for as long as the link is open; the link
 * talks to the broker in-process (BrokerPubSub) on the emulation's topics (emulation.ts):
 * what the device sends arrives under `up/`, what flows send it goes to `down/`, and its
 * connection state under `state/online`.
 *
 * Roles are reversed from the cloud modes: `incoming` telemetry and client attributes are the
 * device's; `publishAttributes` pushes shared attributes to it; `callRpc` is server-side RPC to
 * it; served RPC requests are its client-side RPC. A hosted gateway's sub-devices appear as
 * devices named in the messages.
 *
 * Decisions: telemetry cannot be sent to a device (refused in words). Attribute requests the
 * device makes are answered by the emulation (not shown to flows); a flow's attribute request
 * reads the same store. `getSessionLimits` is the emulation's to answer, not the flows'.
 */
import { BrokerPubSub, brokers } from "../broker/index.js";
import { toError, TransportError } from "../transport/errors.js";
import type { InboundMessage, LinkStatus, Subscription } from "../transport/pubsub.js";
import {
  encodeAttributeUpdate, encodeRpcRequest, keySelection, LIMITS, parseAttributes, parseDeviceTopic, parseRpcRequest,
  parseRpcResponse, parseTelemetry, rpcRequestTopic, rpcResponseTopic, toKeyList, toPayloadText, TOPICS, type TbJson,
} from "./codec.js";
import { hostedByToken, hostedTopics, hostThingsBoardDevice } from "./emulation.js";
import {
  encodeGatewayAttributeUpdate, encodeGatewayRpcRequest, parseGatewayAttributes, parseGatewayRpcResponse, parseGatewayTelemetry,
} from "./gateway-codec.js";
import {
  TbLinkBase, type AttributeRequest, type AttributeValues, type TbLinkOptions, type TbRequestOptions, type TbRpcRequest,
} from "./link-base.js";
import { ReportThrottle } from "../transport/report-throttle.js";

const G = TOPICS.gateway;

export class LocalTbLink extends TbLinkBase {
  readonly connection = "local" as const;
  readonly #options: TbLinkOptions;
  readonly #id: string;
  readonly #broker: string;
  readonly #subs: Subscription[] = [];
  #pubsub: BrokerPubSub | undefined;
  #unhost: (() => void) | undefined;
  /** What the hosted device keeps getting wrong is warned about a few times, then summarised once a minute. */
  readonly #deviceProblems = new ReportThrottle({
    summary: (text) => {
      this.warn(text);
    },
  });
  #online: boolean | undefined;

  constructor(options: TbLinkOptions) {
    super(options);
    this.#options = options;
    this.#id = options.deviceId ?? "";
    this.#broker = options.broker ?? "";
    hostedTopics.up(this.#id); // throws for an id that cannot be a topic level
  }

  start(): void {
    this.assertOpen();
    if (this.#pubsub !== undefined) return;
    const o = this.#options;
    const b = o.basic;
    const basic = b === undefined ? {} : { basic: { ...b } };
    // Hosted first: on every broker (re)start the emulation is plugged in before this link attaches.
    this.#unhost = hostThingsBoardDevice(this.#broker, { id: this.#id, name: this.name, token: o.token, gateway: this.gateway, ...basic }, (err) => {
      this.warn(toError(err).message);
    });
    const pubsub = new BrokerPubSub(brokers, this.#broker, { maxPayloadBytes: LIMITS.maxPayloadBytes });
    this.#pubsub = pubsub;
    pubsub.on("status", (status) => {
      this.#onBrokerStatus(status);
    });
    pubsub.on("warning", (text) => {
      this.warn(text);
    });
    const listen = (prefix: string, handler: (relative: string, m: InboundMessage) => void): void => {
      pubsub
        .subscribe(`${prefix}#`, (m) => {
          try {
            handler(m.topic.slice(prefix.length), m);
          } catch (err) {
            this.#deviceProblems.report("ignored", `ignored "${m.topic.slice(prefix.length)}" from hosted device "${this.name}": ${toError(err).message}`, (text) => {
              this.warn(text);
            });
          }
        })
        .then((sub) => this.#subs.push(sub))
        .catch((err: unknown) => {
          this.warn(`could not listen to the hosted device: ${toError(err).message}`);
        });
    };
    listen(hostedTopics.up(this.#id), (rel, m) => { this.#fromDevice(rel, m.payload); });
    listen(hostedTopics.state(this.#id), (rel, m) => { this.#fromState(rel, m.payload); });
    this.#onBrokerStatus(pubsub.status);
    this.setReady(true);
  }

  sendTelemetry(): Promise<void> {
    return Promise.reject(this.unsupported("sending telemetry", "Node-RED is the server here and telemetry comes from the hosted device; the thingsboard-telemetry node's output emits it"));
  }

  /** Shared attributes to the device (or a hosted gateway's sub-device). */
  async publishAttributes(values: unknown, target: { device?: string } = {}): Promise<void> {
    this.assertOpen();
    const sub = this.subDevice(target.device);
    if (sub === undefined) await this.#send(TOPICS.attributes, encodeAttributeUpdate({ values }));
    else await this.#send(G.attributes, encodeGatewayAttributeUpdate(sub, { values }));
  }

  /** What the broker remembers: the client attributes the device sent, the shared ones flows set. */
  requestAttributes(request: AttributeRequest, options: TbRequestOptions = {}): Promise<AttributeValues> {
    try {
      this.assertOpen();
      const sub = this.subDevice(options.device);
      const selection = keySelection(toKeyList(request.clientKeys, "clientKeys"), toKeyList(request.sharedKeys, "sharedKeys"));
      const found = hostedByToken(this.#options.token);
      const runtime = found?.device.id === this.#id ? found.runtime : undefined;
      if (runtime === undefined) throw new TransportError("network", `the iot-broker node of "${this.name}" is not running, so no attributes are known`);
      return Promise.resolve(runtime.store.select(selection, sub));
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  /** Server-side RPC to the device (or to a hosted gateway's sub-device). */
  async callRpc(method: unknown, params: unknown, options: TbRequestOptions = {}): Promise<TbJson> {
    this.assertOpen();
    const sub = this.subDevice(options.device);
    const id = this.calls.nextId();
    const body = sub === undefined ? encodeRpcRequest({ method, params }) : encodeGatewayRpcRequest({ device: sub, id, method, params });
    const key = sub === undefined ? id : gatewayKey(sub, id);
    const answer = this.calls.wait(key, options.timeoutMs, `RPC "${String(method)}" (id ${id}) to "${sub ?? this.name}"`);
    try {
      await this.#send(sub === undefined ? rpcRequestTopic(id) : G.rpc, body);
    } catch (err) {
      this.calls.reject(key, toError(err));
      throw err;
    }
    return answer;
  }

  protected async sendReply(request: TbRpcRequest, result: TbJson): Promise<void> {
    await this.#send(rpcResponseTopic(request.idText), result);
  }

  protected async shutdown(): Promise<void> {
    const subs = this.#subs.splice(0);
    await Promise.allSettled(subs.map((s) => s.unsubscribe()));
    await this.#pubsub?.close();
    this.#unhost?.();
    this.#deviceProblems.close();
  }

  async #send(topic: string, payload: unknown): Promise<void> {
    const pubsub = this.#pubsub;
    if (pubsub === undefined) throw this.unsupported("sending before start", "the link was not started");
    await pubsub.publish(hostedTopics.down(this.#id) + topic, toPayloadText(payload), { qos: 1 });
  }

  #onBrokerStatus(status: LinkStatus): void {
    this.setStatus({
      ...status,
      ...(status.state === "disconnected" ? { reason: status.reason ?? "the iot-broker node is not running" } : {}),
      ...(this.#online === undefined || status.state !== "connected" ? {} : { deviceOnline: this.#online }),
    });
  }

  #fromState(name: string, payload: Buffer): void {
    const text = payload.toString("utf8");
    if (name !== "online" || text === "") return; // "" clears the retained state
    const state = JSON.parse(text) as unknown;
    const online = typeof state === "object" && state !== null && (state as { online?: unknown }).online === true;
    if (online === this.#online) return;
    this.#online = online;
    const status = this.status;
    if (status.state === "connected") this.setStatus({ ...status, deviceOnline: online });
  }

  #fromDevice(topic: string, payload: Buffer): void {
    const parsed = parseDeviceTopic(topic);
    const own = { device: this.name, subDevice: false };
    switch (parsed.kind) {
      case "telemetry":
        for (const e of parseTelemetry(payload, { now: this.now() })) this.deliver({ kind: "telemetry", ...own, ts: e.ts ?? this.now(), values: e.values });
        return;
      case "attributes":
        this.deliver({ kind: "attributes", ...own, scope: "client", values: parseAttributes(payload), deleted: [] });
        return;
      case "rpc-request": {
        const request = parseRpcRequest(payload);
        if (request.method === "getSessionLimits") return; // the emulation answers it
        this.offerRpc({ kind: "rpc", ...own, id: parsed.id, idText: parsed.idText, method: request.method, params: request.params });
        return;
      }
      case "rpc-response":
        this.calls.resolve(parsed.id, parseRpcResponse(payload));
        return;
      case "gateway-telemetry":
        for (const { device, entries } of parseGatewayTelemetry(payload, { now: this.now() })) {
          for (const e of entries) this.deliver({ kind: "telemetry", device, subDevice: true, ts: e.ts ?? this.now(), values: e.values });
        }
        return;
      case "gateway-attributes":
        for (const { device, values } of parseGatewayAttributes(payload)) this.deliver({ kind: "attributes", device, subDevice: true, scope: "client", values, deleted: [] });
        return;
      case "gateway-rpc": {
        const reply = parseGatewayRpcResponse(payload);
        this.calls.resolve(gatewayKey(reply.device, reply.id), reply.data);
        return;
      }
      default:
        // Attribute requests are answered by the emulation; claims and (dis)connects need nothing from flows.
        return;
    }
  }
}

function gatewayKey(device: string, id: number): string {
  return `${device}\u0000${id}`;
}
