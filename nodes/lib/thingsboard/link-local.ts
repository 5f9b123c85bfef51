/**
 * local mode: Node-RED is the ThingsBoard server of a device hosted on an iot-broker node. The
 * device is hosted (its token accepted by the broker) for as long as the link is open, through
 * the hosted-device handle (docs/ARCHITECTURE.md 3.5) that the host function given by link.ts
 * returns: what the device sends arrives parsed (`TbUp`, over MQTT or HTTP alike), what
 * flows send it goes out as a `TbDown`, its connection state comes as `online` events and
 * its stored attributes are read from the handle's store (hosted-state.ts).
 *
 * Roles are reversed from the cloud modes: `incoming` telemetry and client attributes are the
 * device's; `publishAttributes` pushes shared attributes to it; `callRpc` is server-side RPC to
 * it; served RPC requests are its client-side RPC. A hosted gateway's sub-devices appear as
 * devices named in the messages.
 *
 * Decisions: telemetry cannot be sent to a device (refused in words). Claims the device (or a
 * hosted gateway's sub-device) sends arrive as `claim` incoming messages (the telemetry node
 * emits them); nothing else is done with them, as there are no ThingsBoard customers here. Attribute requests the
 * device makes are answered by the emulation (not shown to flows); a flow's attribute request
 * reads the same store. `getSessionLimits` is the emulation's to answer and never arrives here.
 * While the broker is stopped, what flows send waits in the handle's bounded queue.
 */
import { toError, TransportError } from "../transport/errors.js";
import type { LinkStatus } from "../transport/pubsub.js";
import { keySelection, toKeyList, type TbJson } from "./codec.js";
import { selectAttributes } from "./hosted-state.js";
import { hostedTopics, tbDown, type TbDown, type HostTbDevice, type HostedTbHandle, type TbUp } from "./hosted-types.js";
import {
  TbLinkBase, type AttributeRequest, type FirmwareShipment, type AttributeValues, type TbLinkOptions, type TbRequestOptions, type TbRpcRequest,
} from "./link-base.js";

/** A local link's options: the link's, plus how to host the device (link.ts passes the emulation's). */
export interface LocalTbLinkOptions extends TbLinkOptions {
  host: HostTbDevice;
}

export class LocalTbLink extends TbLinkBase {
  readonly connection = "local" as const;
  readonly #options: LocalTbLinkOptions;
  readonly #id: string;
  readonly #broker: string;
  #handle: HostedTbHandle | undefined;
  #online: boolean | undefined;

  constructor(options: LocalTbLinkOptions) {
    super(options);
    this.#options = options;
    this.#id = options.deviceId ?? "";
    this.#broker = options.broker ?? "";
    hostedTopics.up(this.#id); // throws for an id that cannot be a topic level
  }

  start(): void {
    this.assertOpen();
    if (this.#handle !== undefined) return;
    const o = this.#options;
    const b = o.basic;
    const basic = b === undefined ? {} : { basic: { ...b } };
    const handle = o.host(this.#broker, { id: this.#id, name: this.name, token: o.token, gateway: this.gateway, ...basic }, (err) => {
      this.warn(toError(err).message);
    });
    this.#handle = handle;
    handle.on("status", (status) => {
      this.#onBrokerStatus(status);
    });
    handle.on("warning", (text) => {
      this.warn(text);
    });
    handle.on("online", (state) => {
      this.#onOnline(state.online);
    });
    handle.on("uplink", (message) => {
      this.#fromDevice(message);
    });
    this.#onBrokerStatus(handle.status);
    this.setReady(true);
  }

  sendTelemetry(): Promise<void> {
    return Promise.reject(this.unsupported("sending telemetry", "Node-RED is the server here and telemetry comes from the hosted device; the thingsboard-telemetry node's output emits it"));
  }

  sendClaim(): Promise<void> {
    return Promise.reject(this.unsupported("sending a claiming request", "Node-RED is the server here: the hosted device claims, and its claims come out of the thingsboard-telemetry node"));
  }

  /** Shared attributes to the device (or a hosted gateway's sub-device). */
  async publishAttributes(values: unknown, target: { device?: string } = {}): Promise<void> {
    this.assertOpen();
    await this.#send(tbDown.attributes(values, this.subDevice(target.device)));
  }

  /**
   * A firmware package for the device (docs/PROTOCOLS.md 4.6): its fw_* shared attributes are
   * pushed and stored (a device connecting later asks for them), the broker serves its chunks.
   */
  override async sendFirmware(data: unknown, shipment: FirmwareShipment): Promise<void> {
    this.assertOpen();
    await this.#send(tbDown.firmware(data, { title: shipment.title, version: shipment.version, algorithm: shipment.algorithm }));
  }

  /** What the broker remembers: the client attributes the device sent, the shared ones flows set. */
  requestAttributes(request: AttributeRequest, options: TbRequestOptions = {}): Promise<AttributeValues> {
    try {
      this.assertOpen();
      const sub = this.subDevice(options.device);
      const selection = keySelection(toKeyList(request.clientKeys, "clientKeys"), toKeyList(request.sharedKeys, "sharedKeys"));
      const store = this.#handle?.store;
      if (store === undefined) throw new TransportError("network", `the iot-broker node of "${this.name}" is not running, so no attributes are known`);
      return Promise.resolve(selectAttributes(store, selection, sub));
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  /** Server-side RPC to the device (or to a hosted gateway's sub-device). */
  async callRpc(method: unknown, params: unknown, options: TbRequestOptions = {}): Promise<TbJson> {
    this.assertOpen();
    const sub = this.subDevice(options.device);
    const id = this.calls.nextId();
    const message = tbDown.rpcRequest(id, method, params, sub);
    const key = sub === undefined ? id : gatewayKey(sub, id);
    const answer = this.calls.wait(key, options.timeoutMs, `RPC "${String(method)}" (id ${id}) to "${sub ?? this.name}"`);
    try {
      await this.#send(message);
    } catch (err) {
      this.calls.reject(key, toError(err));
      throw err;
    }
    return answer;
  }

  protected async sendReply(request: TbRpcRequest, result: TbJson): Promise<void> {
    await this.#send(tbDown.rpcResponse(request.idText, result));
  }

  protected async shutdown(): Promise<void> {
    await this.#handle?.close();
  }

  async #send(message: TbDown): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw this.unsupported("sending before start", "the link was not started");
    await handle.send(message);
  }

  #onBrokerStatus(status: LinkStatus): void {
    // Connected: the device's state on this engine, fresh (it may have changed while the broker was away).
    if (status.state === "connected") {
      this.#online = this.#handle?.online?.online ?? this.#online;
    }
    this.setStatus({
      ...status,
      ...(status.state === "disconnected" ? { reason: status.reason ?? "the iot-broker node is not running" } : {}),
      ...(this.#online === undefined || status.state !== "connected" ? {} : { deviceOnline: this.#online }),
    });
  }

  #onOnline(online: boolean): void {
    if (online === this.#online) return;
    this.#online = online;
    const status = this.status;
    if (status.state === "connected") this.setStatus({ ...status, deviceOnline: online });
  }

  /** A parsed uplink to flow messages: one per telemetry entry. */
  #fromDevice(message: TbUp): void {
    const from = message.kind === "rpc-request" || message.device === undefined ? { device: this.name, subDevice: false } : { device: message.device, subDevice: true };
    switch (message.kind) {
      case "telemetry":
        for (const e of message.entries) this.deliver({ kind: "telemetry", ...from, ts: e.ts ?? this.now(), values: e.values });
        return;
      case "attributes":
        this.deliver({ kind: "attributes", ...from, scope: "client", values: message.values, deleted: [] });
        return;
      case "rpc-request":
        this.offerRpc({ kind: "rpc", ...from, id: message.id, idText: message.idText, method: message.method, params: message.params });
        return;
      case "rpc-response":
        this.calls.resolve(message.device === undefined ? message.id : gatewayKey(message.device, message.id), message.result);
        return;
      case "claim":
        this.deliver({ kind: "claim", ...from, ...message.claim });
        return;
    }
  }
}

function gatewayKey(device: string, id: number): string {
  return `${device}\u0000${id}`;
}
