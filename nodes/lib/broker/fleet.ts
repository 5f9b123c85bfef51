/**
 * A fleet: many hosted devices defined by one config node (docs/ARCHITECTURE.md 3.8). Its device
 * table lives in the broker node's storage (memory, SQLite or Redis, as device state does), in
 * the store of the reserved plugin `fleet` with the config node's id, never in the flow file;
 * each device's credentials are sealed there (transport/secret-box.ts) and kept in clear only in
 * memory, for hosting. Platform-blind: a platform says how credentials look and are generated
 * (`FleetPlatform`) and hosts each device itself (the fleet's events), with the id `memberId`.
 *
 * The table is readable and changeable while the broker runs (an engine is attached): that is
 * when it can be stored. Runtime code finds a fleet by its config node's id (`fleetOf`).
 */
import { randomBytes } from "node:crypto";
import type { SecretBox } from "../transport/secret-box.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import { isPlainObject } from "../transport/value-codec.js";
import type { DeviceStore, StoredJson } from "./device-store.js";
import { brokers } from "./registry.js";

/** The reserved plugin name under which fleet tables are stored (no platform uses it). */
export const FLEET_STORE = "fleet";
const SECTION = "devices";
/** Devices per fleet: bounds memory and the editor's table. */
export const MAX_FLEET_DEVICES = 10_000;
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const NAME_MAX = 100;

/** Credentials of one device, by field ("token"; ThingsBoard also "clientId", "username", "password"). */
export type FleetCredentials = Record<string, string | undefined>;

/** A fleet device as everyone may see it: no credentials. */
export interface FleetDevice {
  /** Stable, topic-safe, unique in the fleet; the hosted device's id is `memberId(fleet, id)`. */
  readonly id: string;
  /** Unique in the fleet: flows name devices by it. */
  readonly name: string;
  /** Pin or key map of the device (Blynk: pin -> datastream), overriding the config node's. */
  readonly pins?: Readonly<Record<string, string>>;
  /** Anything the user keeps with the device (JSON). */
  readonly meta?: Readonly<Record<string, StoredJson>>;
  /** When it was added / last changed (ms since the epoch). */
  readonly changed: number;
}

/** A device with its credentials in clear: answered to who added or asked for it, never logged. */
export interface FleetDeviceWithCredentials extends FleetDevice {
  readonly credentials: FleetCredentials;
}

/** What a platform decides of its fleets. */
export interface FleetPlatform {
  /** "blynk", "thingsboard": names the platform in errors. */
  readonly name: string;
  /**
   * The credentials of a device from what was given (anything) and what it had (a change):
   * missing ones generated (a new token), every field checked. Throws FleetError "invalid".
   */
  credentials(given: unknown, previous: FleetCredentials | undefined): FleetCredentials;
  /** A pin map as the platform accepts it (throws FleetError "invalid"); undefined when none. */
  pins?(given: unknown): Record<string, string> | undefined;
  /** New credentials for a device (a fresh token), for "generate a new token". */
  fresh(): FleetCredentials;
  /** What identifies a device among its fleet ("token:..." ): two devices sharing one are refused. Kept in memory only. */
  identities(credentials: FleetCredentials): string[];
  /** Why these credentials cannot be used (another hosted device outside this fleet holds them), else undefined. */
  conflict?(credentials: FleetCredentials, fleetId: string): string | undefined;
}

/** An error of a fleet operation; `code` names it for the node layer's catalog. */
export class FleetError extends Error {
  readonly code: "unavailable" | "unknown-device" | "invalid" | "duplicate" | "full";

  constructor(code: FleetError["code"], message: string) {
    super(message);
    this.name = "FleetError";
    this.code = code;
  }
}

export type FleetEvents = {
  /** The table was loaded (the broker runs): every device is in `list()`. */
  loaded: [FleetDevice[]];
  /** The broker stopped: the table cannot change until it runs again (`list()` keeps the last one). */
  unloaded: [];
  added: [FleetDevice];
  /** `before` is the device as it was (a new name, pins, meta or credentials). */
  changed: [FleetDevice, FleetDevice];
  removed: [FleetDevice];
  /** A problem worth a warning (a row that cannot be read); never with a secret in it. */
  warning: [string];
  listenerError: [unknown, string];
};

interface Entry {
  device: FleetDevice;
  credentials: FleetCredentials;
}

/** What a caller may give for a device (the fleet node's msg.payload, an admin request, a CSV row). */
export interface FleetDeviceInput {
  name?: unknown;
  id?: unknown;
  credentials?: unknown;
  pins?: unknown;
  meta?: unknown;
}

/** The hosted device id of fleet device `deviceId`: the config node's id, a dot, the device's id (topic-safe, never a token). */
export function memberId(fleetId: string, deviceId: string): string {
  return `${fleetId}.${deviceId}`;
}

const registry = new Map<string, Fleet>();

/** The fleet of config node `configId`, while that node runs in fleet mode. */
export function fleetOf(configId: string): Fleet | undefined {
  return registry.get(configId);
}

export class Fleet extends TypedEmitter<FleetEvents> {
  readonly id: string;
  readonly brokerId: string;
  readonly platform: FleetPlatform;
  readonly #box: SecretBox;
  readonly #entries = new Map<string, Entry>();
  /** Device id by name: flows name devices on every write, a scan of the table each time would grow with the fleet. */
  readonly #idByName = new Map<string, string>();
  #unuse: (() => void) | undefined;
  #store: DeviceStore | undefined;
  #closed = false;

  constructor(options: { id: string; brokerId: string; platform: FleetPlatform; box: SecretBox }) {
    super();
    this.id = options.id;
    this.brokerId = options.brokerId;
    this.platform = options.platform;
    this.#box = options.box;
  }

  /**
   * Registers the fleet of config node `id` (replacing an older one of the same node) and follows
   * the broker's engines: the table is loaded (events `added` per device, then `loaded`) now if
   * the broker runs, else when it starts. Listen first.
   */
  start(): void {
    if (this.#unuse !== undefined || this.#closed) return;
    registry.set(this.id, this);
    this.#unuse = brokers.use(
      this.brokerId,
      (engine) => {
        const store = engine.deviceStores.open(FLEET_STORE, this.id);
        this.#store = store;
        this.#load(store);
        return () => {
          if (this.#store === store) this.#store = undefined;
          engine.deviceStores.close(FLEET_STORE, this.id);
          if (!this.#closed) this.emit("unloaded");
        };
      },
      (err) => { this.emit("warning", `the fleet table could not be opened: ${err instanceof Error ? err.message : String(err)}`); },
    );
  }

  /** Whether the table can be changed now (the broker runs). */
  get available(): boolean {
    return this.#store !== undefined && !this.#closed;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Every device, in the order they were added (the last table seen while the broker is stopped). */
  list(): FleetDevice[] {
    return [...this.#entries.values()].map((e) => e.device);
  }

  /** The device `ref` names: its name (a string), `{name}` or `{id}`; undefined if none. */
  find(ref: unknown): FleetDevice | undefined {
    return this.#find(ref)?.device;
  }

  /** `find`, or a FleetError "unknown-device" naming what was asked and what is accepted. */
  resolve(ref: unknown): FleetDevice {
    return this.#entry(ref).device;
  }

  #entry(ref: unknown): Entry {
    const entry = this.#find(ref);
    if (entry !== undefined) return entry;
    throw new FleetError("unknown-device", `${describeRef(ref)} is not a device of this fleet (name a device by its name, or as {"name": ...} or {"id": ...}; ${this.#entries.size} devices)`);
  }

  /** The device's credentials in clear (for hosting, and for who may see them: the editor, the fleet node). */
  credentials(ref: unknown): FleetCredentials {
    return { ...this.#entry(ref).credentials };
  }

  /** Adds a device: `name` required and unique, `id` generated unless given, missing credentials generated. */
  async add(input: FleetDeviceInput): Promise<FleetDeviceWithCredentials> {
    const store = this.#writable();
    if (!isPlainObject(input)) throw new FleetError("invalid", "a device to add must be an object with at least a name");
    if (this.#entries.size >= MAX_FLEET_DEVICES) throw new FleetError("full", `a fleet holds at most ${MAX_FLEET_DEVICES} devices`);
    const name = checkName(input.name);
    if (this.#byName(name) !== undefined) throw new FleetError("duplicate", `the fleet already has a device named ${JSON.stringify(name)}`);
    let id: string;
    if (input.id === undefined || input.id === null || input.id === "") {
      do id = randomBytes(6).toString("hex"); while (this.#entries.has(id));
    } else {
      id = checkId(input.id);
      if (this.#entries.has(id)) throw new FleetError("duplicate", `the fleet already has a device with id ${JSON.stringify(id)}`);
    }
    const credentials = this.#checkedCredentials(input.credentials, undefined, undefined);
    const device = freeze({ id, name, ...this.#extras(input, undefined), changed: Date.now() });
    this.#put(store, { device, credentials });
    // Hosted at once; the answer waits until the table would survive a crash (a durable store).
    this.emit("added", device);
    await store.flush();
    return { ...device, credentials: { ...credentials } };
  }

  /** Changes what `patch` gives (name, credentials, pins, meta; `null` removes pins or meta); the id stays. */
  async change(ref: unknown, patch: FleetDeviceInput): Promise<FleetDeviceWithCredentials> {
    const store = this.#writable();
    const entry = this.#entry(ref);
    const before = entry.device;
    if (!isPlainObject(patch)) throw new FleetError("invalid", "a change must be an object (name, credentials, pins, meta)");
    let name = before.name;
    if (patch.name !== undefined) {
      name = checkName(patch.name);
      const other = this.#byName(name);
      if (other !== undefined && other.device.id !== before.id) throw new FleetError("duplicate", `the fleet already has a device named ${JSON.stringify(name)}`);
    }
    if (patch.id !== undefined && patch.id !== before.id) throw new FleetError("invalid", "a device's id cannot change (remove it and add it again)");
    const previous = entry.credentials;
    const credentials = patch.credentials === undefined ? previous : this.#checkedCredentials(patch.credentials, previous, before.id);
    const device = freeze({ id: before.id, name, ...this.#extras(patch, before), changed: Date.now() });
    this.#put(store, { device, credentials });
    this.emit("changed", device, before);
    await store.flush();
    return { ...device, credentials: { ...credentials } };
  }

  /** Removes the device `ref` names; its hosting ends (its connections are closed by the platform). */
  async remove(ref: unknown): Promise<FleetDevice> {
    const store = this.#writable();
    const device = this.resolve(ref);
    this.#entries.delete(device.id);
    this.#unname(device.name, device.id);
    store.delete(SECTION, device.id);
    this.emit("removed", device);
    await store.flush();
    return device;
  }

  /** Stops following the broker; the table stays in the store (a redeploy's new node reads it again). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unuse?.();
    if (registry.get(this.id) === this) registry.delete(this.id);
  }

  #writable(): DeviceStore {
    if (this.#closed) throw new FleetError("unavailable", "this fleet was closed");
    const store = this.#store;
    if (store === undefined) throw new FleetError("unavailable", "the fleet's devices can change only while its iot-broker node runs (the table is kept in the broker's storage)");
    return store;
  }

  #put(store: DeviceStore, entry: Entry): void {
    const { device } = entry;
    const renamed = this.#entries.get(device.id)?.device.name;
    this.#entries.set(device.id, entry);
    if (renamed !== undefined && renamed !== device.name) this.#unname(renamed, device.id);
    this.#idByName.set(device.name, device.id);
    const row: Record<string, StoredJson> = { name: device.name, secrets: this.#box.seal(JSON.stringify(entry.credentials)) };
    if (device.pins !== undefined) row.pins = { ...device.pins };
    if (device.meta !== undefined) row.meta = { ...device.meta };
    store.set(SECTION, device.id, row, device.changed);
  }

  #load(store: DeviceStore): void {
    const before = new Map(this.#entries);
    this.#entries.clear();
    this.#idByName.clear();
    for (const [id, stored] of store.entries(SECTION)) {
      try {
        const row = stored.value as { name?: unknown; secrets?: unknown; pins?: unknown; meta?: unknown };
        if (typeof row.secrets !== "string") throw new Error("it has no credentials");
        const credentials = JSON.parse(this.#box.open(row.secrets)) as FleetCredentials;
        const device = freeze({
          id: checkId(id), name: checkName(row.name),
          ...(isPlainObject(row.pins) ? { pins: row.pins as Record<string, string> } : {}),
          ...(isPlainObject(row.meta) ? { meta: row.meta as Record<string, StoredJson> } : {}),
          changed: stored.at,
        });
        this.#entries.set(id, { device, credentials });
        // The first row of a name, as a scan in table order would find it.
        if (!this.#idByName.has(device.name)) this.#idByName.set(device.name, id);
      } catch (err) {
        this.emit("warning", `fleet device ${JSON.stringify(id)} is not hosted: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // A table loaded again (a new engine on the same storage) is normally the same: only differences are events.
    for (const [id, old] of before) {
      const now = this.#entries.get(id);
      if (now === undefined) this.emit("removed", old.device);
      else if (!sameEntry(old, now)) this.emit("changed", now.device, old.device);
    }
    for (const [id, now] of this.#entries) if (!before.has(id)) this.emit("added", now.device);
    this.emit("loaded", this.list());
  }

  #find(ref: unknown): Entry | undefined {
    if (typeof ref === "string") return this.#byName(ref);
    if (!isPlainObject(ref)) return undefined;
    if (typeof ref.id === "string") return this.#entries.get(ref.id);
    if (typeof ref.name === "string") return this.#byName(ref.name);
    return undefined;
  }

  /** `id` no longer has `name`: the index points to another device of that name if a loaded table had two, else to none. */
  #unname(name: string, id: string): void {
    if (this.#idByName.get(name) !== id) return;
    this.#idByName.delete(name);
    for (const entry of this.#entries.values()) {
      if (entry.device.name === name) {
        this.#idByName.set(name, entry.device.id);
        return;
      }
    }
  }

  #byName(name: string): Entry | undefined {
    const id = this.#idByName.get(name);
    return id === undefined ? undefined : this.#entries.get(id);
  }

  #checkedCredentials(given: unknown, previous: FleetCredentials | undefined, selfId: string | undefined): FleetCredentials {
    const credentials = this.platform.credentials(given, previous);
    for (const [id, entry] of this.#entries) {
      if (id !== selfId && this.#sameIdentity(entry.credentials, credentials)) throw new FleetError("duplicate", "another device of this fleet has the same credentials");
    }
    const conflict = this.platform.conflict?.(credentials, this.id);
    if (conflict !== undefined) throw new FleetError("duplicate", conflict);
    return credentials;
  }

  #sameIdentity(a: FleetCredentials, b: FleetCredentials): boolean {
    const mine = new Set(this.platform.identities(a));
    return this.platform.identities(b).some((key) => mine.has(key));
  }

  #extras(input: FleetDeviceInput, before: FleetDevice | undefined): { pins?: Record<string, string>; meta?: Record<string, StoredJson> } {
    const out: { pins?: Record<string, string>; meta?: Record<string, StoredJson> } = {};
    const pins = input.pins === undefined ? before?.pins : input.pins === null ? undefined : this.#pins(input.pins);
    if (pins !== undefined && Object.keys(pins).length > 0) out.pins = { ...pins };
    const meta = input.meta === undefined ? before?.meta : input.meta === null ? undefined : checkMeta(input.meta);
    if (meta !== undefined && Object.keys(meta).length > 0) out.meta = { ...meta };
    return out;
  }

  #pins(given: unknown): Record<string, string> | undefined {
    if (this.platform.pins !== undefined) return this.platform.pins(given);
    throw new FleetError("invalid", `${this.platform.name} fleet devices have no pin map`);
  }
}

function checkName(value: unknown): string {
  const name = typeof value === "string" ? value.trim() : "";
  if (name === "" || name.length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new FleetError("invalid", `a fleet device needs a name of 1 to ${NAME_MAX} characters without control characters`);
  }
  return name;
}

function checkId(value: unknown): string {
  if (typeof value !== "string" || !ID_PATTERN.test(value)) throw new FleetError("invalid", "a fleet device's id is 1 to 64 of A-Z a-z 0-9 _ -");
  return value;
}

function checkMeta(value: unknown): Record<string, StoredJson> {
  if (!isPlainObject(value)) throw new FleetError("invalid", "a fleet device's meta must be an object");
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    throw new FleetError("invalid", "a fleet device's meta must be JSON");
  }
  if (text.length > 4096) throw new FleetError("invalid", "a fleet device's meta must be at most 4096 characters as JSON");
  return JSON.parse(text) as Record<string, StoredJson>;
}

function sameEntry(a: Entry, b: Entry): boolean {
  return JSON.stringify([a.device.name, a.device.pins, a.device.meta, a.credentials]) === JSON.stringify([b.device.name, b.device.pins, b.device.meta, b.credentials]);
}

function freeze(device: FleetDevice): FleetDevice {
  return Object.freeze(device);
}

/** How an unknown reference reads in an error: a name or id as given (never credentials: refs carry none). */
function describeRef(ref: unknown): string {
  if (typeof ref === "string") return `the device name ${JSON.stringify(ref.slice(0, 100))}`;
  if (isPlainObject(ref) && typeof ref.id === "string") return `the device id ${JSON.stringify(ref.id.slice(0, 100))}`;
  if (isPlainObject(ref) && typeof ref.name === "string") return `the device name ${JSON.stringify(ref.name.slice(0, 100))}`;
  return ref === undefined ? "no device" : typeof ref === "object" ? "an object without a name or id" : `a ${typeof ref}`;
}
