/**
 * local mode, fleet: a `thingsboard-device` (a device profile) that hosts every device of its
 * fleet table (docs/ARCHITECTURE.md 3.8). Each device is an ordinary hosted device served by its
 * own LocalTbLink (the member); this link is the config node's: it keeps the members in step
 * with the table, tags what each one emits with the device (`fleet: {name, id}`), routes RPC
 * replies back to the member the request came from, and gives flow nodes the member a message
 * names (`fleet.member(ref)`). Sending through the fleet itself needs a named device.
 */
import { Fleet, FleetMembers, followFleetTable, memberId, type FleetCredentials, type FleetDevice } from "../broker/index.js";
import { TransportError, toError } from "../transport/errors.js";
import type { SecretBox } from "../transport/secret-box.js";
import type { TbJson } from "./codec.js";
import { tbFleetPlatform } from "./fleet.js";
import type { HostTbDevice } from "./hosted-types.js";
import { TbLinkBase, type AttributeValues, type FirmwareShipment, type RpcRef, type TbLink, type TbLinkOptions, type TbRpcRequest } from "./link-base.js";
import { LocalTbLink } from "./link-local.js";

export interface FleetTbLinkOptions extends TbLinkOptions {
  host: HostTbDevice;
  box: SecretBox;
}

export class FleetTbLink extends TbLinkBase {
  readonly connection = "local" as const;
  readonly fleet: FleetMembers<TbLink>;
  readonly #table: Fleet;
  readonly #options: FleetTbLinkOptions;

  constructor(options: FleetTbLinkOptions) {
    super(options);
    this.#options = options;
    const fleetId = options.deviceId ?? "";
    this.#table = new Fleet({ id: fleetId, brokerId: options.broker ?? "", platform: tbFleetPlatform, box: options.box });
    this.fleet = new FleetMembers<TbLink>(this.#table, (device, credentials) => this.#member(fleetId, device, credentials), (err) => { this.warn(err.message); });
  }

  /** The fleet's table (add, change, remove devices). */
  get table(): Fleet {
    return this.#table;
  }

  start(): void {
    this.assertOpen();
    if (!this.firstStart()) return;
    followFleetTable(this.#table, this.fleet, {
      warn: (text) => { this.warn(text); },
      show: (status, ready) => { this.showWithReadiness(status, ready); },
    });
  }

  sendClaim(): Promise<void> {
    return Promise.reject(this.unsupported("sending a claiming request", "Node-RED is the server here: the hosted devices claim, and their claims come out of the thingsboard-telemetry node"));
  }

  sendTelemetry(): Promise<void> {
    return Promise.reject(this.unsupported("sending telemetry", "Node-RED is the server here and telemetry comes from the hosted devices; the thingsboard-telemetry node's output emits it"));
  }

  /** To the device `target.device` names (a name; flow nodes pick the member themselves). */
  async publishAttributes(values: unknown, target: { device?: string } = {}): Promise<void> {
    await this.#to(target.device).publishAttributes(values);
  }

  /**
   * Firmware to the named device, or with no name to every device of the fleet (docs/PROTOCOLS.md
   * 4.6): the image is kept once for all of them (broker/firmware-shelf.ts). All are tried; the
   * first failure is thrown after.
   */
  override async sendFirmware(data: unknown, shipment: FirmwareShipment, target: { device?: string } = {}): Promise<void> {
    this.assertOpen();
    if (target.device !== undefined) {
      await this.#to(target.device).sendFirmware(data, shipment);
      return;
    }
    const results = await Promise.allSettled(this.fleet.entries().map(([, member]) => member.sendFirmware(data, shipment)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw toError(failed.reason);
  }

  async requestAttributes(request: Parameters<TbLink["requestAttributes"]>[0], options: { device?: string; timeoutMs?: number } = {}): Promise<AttributeValues> {
    const { device, ...rest } = options;
    return this.#to(device).requestAttributes(request, rest);
  }

  async callRpc(method: unknown, params: unknown, options: { device?: string; timeoutMs?: number } = {}): Promise<TbJson> {
    const { device, ...rest } = options;
    return this.#to(device).callRpc(method, params, rest);
  }

  /** The reply goes to the member the request came from: `ref.device` as the request's msg carried it ({name, id}, or a name). */
  override replyRpc(ref: RpcRef & { device?: unknown }, result: unknown): Promise<void> {
    try {
      this.assertOpen();
      return this.fleet.member(ref.device)[1].replyRpc({ id: ref.id }, result);
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  override awaitReply(request: TbRpcRequest, timeoutMs?: number): Promise<void> {
    try {
      return this.fleet.member(request.fleet)[1].awaitReply(request, timeoutMs);
    } catch (err) {
      return Promise.reject(toError(err));
    }
  }

  protected sendReply(): Promise<void> {
    // replyRpc is the member's: no request is ever served by the fleet link itself.
    return Promise.reject(this.#nameIt());
  }

  protected async shutdown(): Promise<void> {
    this.#table.close();
    await this.fleet.close();
  }

  #to(device: unknown): TbLink {
    this.assertOpen();
    if (device === undefined || device === "") throw this.#nameIt();
    return this.fleet.member(device)[1];
  }


  #nameIt(): TransportError {
    return new TransportError("invalid", "this thingsboard-device hosts a fleet: name the device (the node's Device setting, or msg.thingsboard.device)");
  }

  #member(fleetId: string, device: FleetDevice, credentials: FleetCredentials): TbLink {
    const { host, box: _box, fleet: _fleet, ...shared } = this.#options;
    const { clientId, username, password } = credentials;
    const basic = clientId === undefined && username === undefined ? {} : { basic: { ...(clientId === undefined ? {} : { clientId }), ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) } };
    const member = new LocalTbLink({ ...shared, host, token: credentials.token ?? "", ...basic, deviceId: memberId(fleetId, device.id), name: device.name, gateway: false });
    const ref = { name: device.name, id: device.id };
    member.on("incoming", (m) => { this.deliver({ ...m, fleet: ref }); });
    member.on("warning", (text) => { this.warn(`fleet device "${device.name}": ${text}`); });
    member.on("status", (status) => { this.fleet.setOnline(device.id, status.state === "connected" && status.deviceOnline === true); });
    member.on("listenerError", (err) => { this.warn(`fleet device "${device.name}": ${toError(err).message}`); });
    return member;
  }
}
