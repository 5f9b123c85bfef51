/**
 * local mode, fleet: a `blynk-device` (a template) that hosts every device of its fleet table
 * (docs/ARCHITECTURE.md 3.8). Each device is an ordinary hosted device served by its own
 * LocalBlynkLink (the member); this link is the config node's: it keeps the members in step with
 * the table, tags what each one emits with the device (`device: {name, id}`), and gives flow
 * nodes the member a message names (`fleet.member(ref)`). Writing to the fleet itself is refused:
 * a write names its device.
 */
import { Fleet, FleetMembers, followFleetTable, memberId, type FleetDevice } from "../broker/index.js";
import { TransportError, toError } from "../transport/errors.js";
import type { SecretBox } from "../transport/secret-box.js";
import { blynkFleetPlatform } from "./fleet.js";
import type { HostBlynkDevice } from "./hosted-types.js";
import { BlynkLinkBase, type BlynkIncoming, type BlynkLink, type BlynkLinkOptions, type SyncRequest } from "./link-base.js";
import { LocalBlynkLink } from "./link-local.js";

export interface FleetBlynkLinkOptions extends BlynkLinkOptions {
  host: HostBlynkDevice;
  box: SecretBox;
}

export class FleetBlynkLink extends BlynkLinkBase {
  readonly connection = "local" as const;
  readonly fleet: FleetMembers<BlynkLink>;
  readonly #table: Fleet;
  readonly #options: FleetBlynkLinkOptions;

  constructor(options: FleetBlynkLinkOptions) {
    super(options);
    this.#options = options;
    const fleetId = options.deviceId ?? "";
    this.#table = new Fleet({ id: fleetId, brokerId: options.broker ?? "", platform: blynkFleetPlatform, box: options.box });
    this.fleet = new FleetMembers<BlynkLink>(this.#table, (device, credentials) => this.#member(fleetId, device, credentials.token ?? ""), (err) => { this.warn(err.message); });
  }

  get server(): undefined {
    return undefined;
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

  write(): Promise<void> {
    return Promise.reject(this.#nameIt());
  }

  writeBatch(): Promise<void> {
    return Promise.reject(this.#nameIt());
  }

  writeTimestamped(): Promise<void> {
    return Promise.reject(this.#nameIt());
  }

  setProperty(): Promise<void> {
    return Promise.reject(this.#nameIt());
  }

  erase(): Promise<void> {
    return Promise.reject(this.#nameIt());
  }

  /** Every device's stored state, each message naming its device. */
  async sync(request: SyncRequest = {}): Promise<BlynkIncoming[]> {
    const all = await Promise.all(this.fleet.entries().map(async ([device, link]) => (await link.sync(request)).map((m) => tagged(m, device))));
    return all.flat();
  }

  async read(datastreams?: string[]): Promise<BlynkIncoming[]> {
    const all = await Promise.all(this.fleet.entries().map(async ([device, link]) => (await link.read(datastreams)).map((m) => tagged(m, device))));
    return all.flat();
  }

  protected prepareEvent(): () => Promise<void> {
    throw this.unsupported("logging an event", "events come from the hosted devices; the blynk-event node's output emits them");
  }

  protected async shutdown(): Promise<void> {
    this.#table.close();
    await this.fleet.close();
  }


  #nameIt(): TransportError {
    return new TransportError("invalid", "this blynk-device hosts a fleet: name the device to write to (the node's Device setting, or msg.blynk.device)");
  }

  #member(fleetId: string, device: FleetDevice, token: string): BlynkLink {
    const o = this.#options;
    const { host, box: _box, fleet: _fleet, ...shared } = o;
    const member = new LocalBlynkLink({
      ...shared,
      host,
      token,
      deviceId: memberId(fleetId, device.id),
      name: device.name,
      ...(device.pins === undefined ? {} : { pins: { ...device.pins } }),
    });
    const ref = { name: device.name, id: device.id };
    member.on("incoming", (m) => { this.deliver({ ...m, device: ref }); });
    member.on("warning", (text) => { this.warn(`fleet device "${device.name}": ${text}`); });
    member.on("status", (status) => { this.fleet.setOnline(device.id, status.state === "connected" && status.deviceOnline === true); });
    member.on("listenerError", (err) => { this.warn(`fleet device "${device.name}": ${toError(err).message}`); });
    return member;
  }
}

function tagged(m: BlynkIncoming, device: FleetDevice): BlynkIncoming {
  return { ...m, device: { name: device.name, id: device.id } };
}
