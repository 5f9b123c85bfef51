/**
 * The hosted devices of a fleet (docs/ARCHITECTURE.md 3.8): one member per device of the table,
 * each a platform's ordinary local-mode link (so a fleet device is a hosted device like any
 * other: MQTT, binary, HTTP APIs, history, redeploy adoption), made, re-made and closed as the
 * table changes. Platform-blind: the platform's fleet link hands in how a member is made.
 */
import type { DeviceLinkStatus } from "../transport/device-link.js";
import { toError } from "../transport/errors.js";
import { FleetError, type Fleet, type FleetCredentials, type FleetDevice } from "./fleet.js";

/** What a member is: a started link, closed once. */
export interface MemberLink {
  start(): void;
  close(): Promise<void>;
}

interface Member<L> {
  device: FleetDevice;
  link: L;
  /** What it was hosted with: a change of credentials re-makes it. */
  credentials: string;
}

export class FleetMembers<L extends MemberLink> {
  readonly #fleet: Fleet;
  readonly #create: (device: FleetDevice, credentials: FleetCredentials) => L;
  readonly #onError: (err: Error) => void;
  readonly #members = new Map<string, Member<L>>();
  /** Per device id: the close of its previous member, so a re-made one claims its token only after. */
  readonly #closing = new Map<string, Promise<void>>();
  readonly #unlisten: () => void;
  /** Devices whose member says the device is connected now. */
  readonly #online = new Set<string>();
  /** Told when the number of members or of connected devices changed. */
  onCount: (() => void) | undefined;
  #closed = false;

  constructor(fleet: Fleet, create: (device: FleetDevice, credentials: FleetCredentials) => L, onError: (err: Error) => void) {
    this.#fleet = fleet;
    this.#create = create;
    this.#onError = onError;
    const added = (device: FleetDevice): void => { this.#open(device); };
    const changed = (device: FleetDevice, before: FleetDevice): void => {
      const member = this.#members.get(device.id);
      // Only its meta changed: the hosted device stays as it is (and connected).
      if (member !== undefined && sameHosting(device, before) && member.credentials === JSON.stringify(this.#fleet.credentials({ id: device.id }))) {
        member.device = device;
        return;
      }
      this.#end(device.id);
      this.#open(device);
    };
    const removed = (device: FleetDevice): void => { this.#end(device.id); };
    fleet.on("added", added).on("changed", changed).on("removed", removed);
    this.#unlisten = () => {
      fleet.off("added", added).off("changed", changed).off("removed", removed);
    };
  }

  get size(): number {
    return this.#members.size;
  }

  /** How many devices are connected now. */
  get online(): number {
    return this.#online.size;
  }

  /** A member's device connected or went away (the platform's link reports it from the member's status). */
  setOnline(id: string, online: boolean): void {
    if (!this.#members.has(id) || online === this.#online.has(id)) return;
    if (online) this.#online.add(id);
    else this.#online.delete(id);
    this.onCount?.();
  }

  /** The fleet's table. */
  get table(): Fleet {
    return this.#fleet;
  }

  /** Every member with its device, in the order they were made. */
  entries(): [FleetDevice, L][] {
    return [...this.#members.values()].map((m) => [m.device, m.link]);
  }

  /** The member of the device `ref` names (a name, {name} or {id}); a FleetError "unknown-device" otherwise. */
  member(ref: unknown): [FleetDevice, L] {
    const device = this.#fleet.resolve(ref);
    const member = this.#members.get(device.id);
    if (member === undefined) throw new FleetError("unknown-device", `fleet device ${JSON.stringify(device.name)} is not hosted`);
    return [member.device, member.link];
  }

  /** Closes every member (a redeploy parks their hostings for the node that replaces this one). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unlisten();
    for (const id of [...this.#members.keys()]) this.#end(id);
    await Promise.all(this.#closing.values());
  }

  #open(device: FleetDevice): void {
    if (this.#closed || this.#members.has(device.id)) return;
    const make = (): void => {
      // Still wanted, and not made meanwhile (a change while the previous one closed).
      const now = this.#fleet.find({ id: device.id });
      if (this.#closed || now === undefined || this.#members.has(device.id)) return;
      try {
        const credentials = this.#fleet.credentials({ id: now.id });
        const link = this.#create(now, credentials);
        this.#members.set(now.id, { device: now, link, credentials: JSON.stringify(credentials) });
        link.start();
        this.onCount?.();
      } catch (err) {
        this.#onError(new Error(`fleet device ${JSON.stringify(now.name)} is not hosted: ${toError(err).message}`));
      }
    };
    const closing = this.#closing.get(device.id);
    if (closing === undefined) make();
    else void closing.then(make);
  }

  #end(id: string): void {
    const member = this.#members.get(id);
    if (member === undefined) return;
    this.#members.delete(id);
    this.#online.delete(id);
    if (!this.#closed) this.onCount?.();
    const previous = this.#closing.get(id) ?? Promise.resolve();
    const done = previous.then(() => member.link.close()).catch((err: unknown) => { this.#onError(toError(err)); }).finally(() => {
      if (this.#closing.get(id) === done) this.#closing.delete(id);
    });
    this.#closing.set(id, done);
  }
}

function sameHosting(a: FleetDevice, b: FleetDevice): boolean {
  return a.name === b.name && JSON.stringify(a.pins) === JSON.stringify(b.pins);
}

/** How a fleet's link shows its table's state (every platform's fleet link alike). */
export interface FleetTableView {
  warn(text: string): void;
  /** The link's status, and whether it is ready (the broker runs and the table is loaded). */
  show(status: DeviceLinkStatus, ready: boolean): void;
}

/** Shows `table`'s warnings, its loading and unloading and the online count through `view`, then starts the table. */
export function followFleetTable<L extends MemberLink>(table: Fleet, members: FleetMembers<L>, view: FleetTableView): void {
  const running = (): void => { view.show({ state: "connected", queued: 0, fleet: { online: members.online, total: members.size } }, true); };
  const stopped = (): void => { view.show({ state: "disconnected", reason: "the iot-broker node is not running", queued: 0 }, false); };
  table.on("warning", (text) => { view.warn(text); });
  table.on("loaded", running);
  members.onCount = () => {
    if (table.available) running();
  };
  table.on("unloaded", stopped);
  stopped();
  table.start();
}
