/**
 * The read model of the editor's "IoT devices" sidebar (docs/ARCHITECTURE.md 3.10): every `iot-broker` of the flows (its
 * listeners, clients and refused logins), every hosted device and fleet (from the flows'
 * definitions and the running fleets) with its state (devices-values.ts) and a sparkline per
 * numeric value (the broker's history, then every value seen since).
 *
 * Live: each broker's engine (broker/registry.ts `use`) is watched: state changes
 * (broker/device-watch.ts), connects and disconnects, refused logins mark what changed; at most
 * every `flushMs` the changed brokers and devices (at most MAX_CHANGED, the rest at the next
 * flush) are rebuilt and handed to `publish` (the comms). When the flows or a fleet table
 * change, one `resync` tells the sidebar to fetch the snapshot again. Nothing here holds a secret: stores, the
 * refused logins' public list and client infos have none (device usernames are left out).
 */
import { brokers, fleetOf, FLEET_STORE, memberId, type BrokerEngine, type BrokerEvent, type ClientInfo } from "../broker/index.js";
import { PROVISION_USERNAME } from "../thingsboard/codec-session.js";
import type { RefusedCredentials, RefusedLogin } from "../broker/refused-logins.js";
import { DEVICE_USERNAME } from "../blynk/hosted-device.js";
import { BLYNK_PLUGIN } from "../blynk/hosted-types.js";
import { TB_PLUGIN } from "../thingsboard/hosted-types.js";
import { parseFieldNames } from "../thingspeak/link-config.js";
import { deviceState, type ShownValue } from "./devices-values.js";
import { DEVICE_TYPES, nameOf, type EachNode, type NodeDefinition } from "./history-devices.js";

/** Points per sparkline. */
export const SPARK_POINTS = 30;
/** Devices per update: more changed ones wait for the next flush (a busy fleet is shown in turns). */
const MAX_CHANGED = 200;
/** Clients listed per broker (all are counted). */
const MAX_CLIENTS = 500;
/** Numeric streams whose history one snapshot reads (the rest start from what is seen). */
const MAX_HISTORY_READS = 400;

export interface ListenerView { kind: string; host?: string; port?: number; path?: string; protocol?: string }
export interface ClientView { clientId: string; address?: string; protocol: string; kind: string; device?: string }
export interface RefusedView extends RefusedLogin { platform: string }
/** `clients`: the first MAX_CLIENTS of `clientCount`. */
export interface BrokerView { id: string; name: string; running: boolean; listeners: ListenerView[]; clientCount: number; clients: ClientView[]; refused: RefusedView[] }
export interface FleetView { id: string; name: string; platform: string; broker: string; available: boolean; devices: number }
export interface ValueView extends ShownValue { spark: number[] }
export interface DeviceView {
  /** `<plugin>/<hosted device id>`: what updates and actions name. */
  key: string;
  platform: string;
  /** The hosted device's id (a config node id, or `<fleet config id>.<device id>`). */
  id: string;
  /** The config node that defines it (the fleet's for a member). */
  config: string;
  name: string;
  broker: string;
  fleet?: string;
  online: boolean;
  clients: string[];
  lastSeen?: number;
  firmware?: string;
  values: ValueView[];
  more: number;
}
export interface Snapshot { brokers: BrokerView[]; fleets: FleetView[]; devices: DeviceView[] }
export type Update = { resync: true } | { brokers: BrokerView[]; devices: DeviceView[] };

/** A sparkline's points, the time of the newest, and whether the history was read for it. */
interface Spark { at: number; points: number[]; seeded: boolean }

/** A defined device: where it is hosted and what defines it. */
interface Defined { plugin: string; id: string; config: NodeDefinition; name: string; broker: string; fleet?: string }

const PROTOCOLS: Record<number, string> = { 0: "Blynk binary", 3: "MQTT 3.1", 4: "MQTT 3.1.1", 5: "MQTT 5" };

/**
 * What a refused login would be adopted as: Blynk's username "device" with the token as password,
 * else ThingsBoard's token as the username (or its basic MQTT credentials); undefined for others.
 */
export function adoptable(login: Pick<RefusedCredentials, "clientId" | "username" | "password">): { platform: string; credentials: Record<string, string> } | undefined {
  const { username, password, clientId } = login;
  // A provisioning request (a throttled one, or one no fleet serves) holds no device's credentials.
  if (username === PROVISION_USERNAME || clientId === PROVISION_USERNAME) return undefined;
  if (username === DEVICE_USERNAME) return password === undefined || password === "" ? undefined : { platform: BLYNK_PLUGIN, credentials: { token: password } };
  if (username === undefined || username === "") return undefined;
  if (password === undefined || password === "") return { platform: TB_PLUGIN, credentials: { token: username } };
  return { platform: TB_PLUGIN, credentials: { clientId, username, password } };
}

export class DevicesModel {
  readonly #eachNode: EachNode;
  readonly #publish: (update: Update) => void;
  readonly #flushMs: number;
  readonly #followed = new Map<string, () => void>();
  readonly #changedBrokers = new Set<string>();
  readonly #changedDevices = new Set<string>();
  #resync = false;
  #timer: NodeJS.Timeout | undefined;
  /** The flush running now: the next one waits for it, so updates go out in order. */
  #flushing: Promise<void> = Promise.resolve();
  /** Sparkline points per device key and stream, with the time of the newest. */
  readonly #sparks = new Map<string, Map<string, Spark>>();
  /** When a device was last connected, as seen by this model (platforms other than Blynk keep none). */
  readonly #lastSeen = new Map<string, number>();

  constructor(options: { eachNode: EachNode; publish: (update: Update) => void; flushMs?: number }) {
    this.#eachNode = options.eachNode;
    this.#publish = options.publish;
    this.#flushMs = options.flushMs ?? 500;
  }

  /** Follows the brokers the flows define now (call on every flows start); the sidebar fetches again. */
  follow(): void {
    const wanted = new Set<string>();
    this.#eachNode((def) => {
      if (def.type === "iot-broker") wanted.add(def.id);
    });
    for (const [id, unuse] of this.#followed) {
      if (!wanted.has(id)) {
        unuse();
        this.#followed.delete(id);
      }
    }
    for (const id of wanted) {
      if (!this.#followed.has(id)) this.#followed.set(id, brokers.use(id, (engine) => this.#watch(id, engine), () => undefined));
    }
    this.#mark(() => (this.#resync = true));
  }

  close(): void {
    for (const unuse of this.#followed.values()) unuse();
    this.#followed.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Everything, with sparklines from the brokers' history. */
  async snapshot(): Promise<Snapshot> {
    const { brokers: brokerDefs, fleets, devices } = this.#defined();
    const first = clientIndex(brokerDefs);
    const views = devices.map((d) => this.#deviceView(d, first));
    await this.#seedSparks(devices, views);
    const index = clientIndex(brokerDefs);
    return { brokers: brokerDefs.map((def) => this.#brokerView(def)), fleets, devices: devices.map((d) => this.#deviceView(d, index)) };
  }

  /** The engine of broker `id`, when it runs. */
  engine(id: string): BrokerEngine | undefined {
    return brokers.engine(id);
  }

  /** The flows' definition of node `id`, if any (the admin endpoints check a device's mode with it). */
  definition(id: string): NodeDefinition | undefined {
    let found: NodeDefinition | undefined;
    this.#eachNode((def) => {
      if (def.id === id) found = def;
    });
    return found;
  }

  #watch(brokerId: string, engine: BrokerEngine): () => void {
    const unwatch = engine.deviceStores.watch((plugin, deviceId) => {
      if (plugin === FLEET_STORE) this.#mark(() => (this.#resync = true));
      else this.#mark(() => this.#changedDevices.add(`${plugin}/${deviceId}`));
    });
    const onEvent = (event: BrokerEvent): void => {
      if (event.event !== "client-connected" && event.event !== "client-disconnected") return;
      this.#mark(() => this.#changedBrokers.add(brokerId));
      if (event.plugin !== undefined && event.deviceId !== undefined) {
        const key = `${event.plugin}/${event.deviceId}`;
        this.#lastSeen.set(key, Date.now());
        this.#mark(() => this.#changedDevices.add(key));
      }
    };
    engine.on("event", onEvent);
    const unwatchRefused = engine.refusedLogins.watch(() => {
      this.#mark(() => this.#changedBrokers.add(brokerId));
    });
    this.#mark(() => (this.#resync = true));
    return () => {
      unwatch();
      engine.off("event", onEvent);
      unwatchRefused();
      this.#mark(() => (this.#resync = true));
    };
  }

  /** Records a change and flushes within flushMs (never more often). */
  #mark(change: () => unknown): void {
    change();
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A failed update is dropped; the next change or snapshot brings everything.
      this.#flushing = this.#flushing.then(() => this.#flush()).catch(() => undefined);
    }, this.#flushMs);
    this.#timer.unref();
  }

  async #flush(): Promise<void> {
    const resync = this.#resync;
    const changedBrokers = [...this.#changedBrokers];
    const changedDevices = new Set([...this.#changedDevices].slice(0, MAX_CHANGED));
    this.#resync = false;
    this.#changedBrokers.clear();
    for (const key of changedDevices) this.#changedDevices.delete(key);
    if (resync) {
      this.#changedDevices.clear(); // the snapshot the sidebar fetches has them
      this.#publish({ resync: true });
      return;
    }
    if (this.#changedDevices.size > 0) this.#mark(() => undefined);
    const { brokers: brokerDefs, devices } = this.#defined();
    const index = clientIndex(brokerDefs);
    const changed = devices.filter((d) => changedDevices.has(`${d.plugin}/${d.id}`));
    // A value seen for the first time starts its sparkline from the history.
    await this.#seedSparks(changed, changed.map((d) => this.#deviceView(d, index)));
    const update = {
      brokers: brokerDefs.filter((def) => changedBrokers.includes(def.id)).map((def) => this.#brokerView(def)),
      devices: changed.map((d) => this.#deviceView(d, index)),
    };
    if (update.brokers.length > 0 || update.devices.length > 0) this.#publish(update);
  }

  /** The brokers, fleets and devices the flows define (fleet members from their running tables). */
  #defined(): { brokers: NodeDefinition[]; fleets: FleetView[]; devices: Defined[] } {
    const brokerDefs: NodeDefinition[] = [];
    const fleets: FleetView[] = [];
    const devices: Defined[] = [];
    this.#eachNode((def) => {
      if (def.type === "iot-broker") brokerDefs.push(def);
      const plugin = Object.hasOwn(DEVICE_TYPES, def.type) ? DEVICE_TYPES[def.type] : undefined;
      if (plugin === undefined || def.connection !== "local" || typeof def.broker !== "string" || def.broker === "") return;
      const broker = def.broker;
      if (def.hosting !== "fleet") {
        devices.push({ plugin, id: def.id, config: def, name: nameOf(def), broker });
        return;
      }
      const fleet = fleetOf(def.id);
      const members = fleet?.list() ?? [];
      fleets.push({ id: def.id, name: nameOf(def), platform: plugin, broker, available: fleet?.available ?? false, devices: members.length });
      for (const m of members) devices.push({ plugin, id: memberId(def.id, m.id), config: def, name: m.name, broker, fleet: def.id });
    });
    const known = new Set(devices.map((d) => `${d.plugin}/${d.id}`));
    for (const key of this.#sparks.keys()) if (!known.has(key)) this.#sparks.delete(key);
    for (const key of this.#lastSeen.keys()) if (!known.has(key)) this.#lastSeen.delete(key);
    return { brokers: brokerDefs, fleets, devices };
  }

  #brokerView(def: NodeDefinition): BrokerView {
    const engine = brokers.engine(def.id);
    const name = nameOf(def);
    if (engine === undefined) return { id: def.id, name, running: false, listeners: [], clientCount: 0, clients: [], refused: [] };
    const refused: RefusedView[] = [];
    for (const login of engine.refusedLogins.list()) {
      const credentials = engine.refusedLogins.credentials(login.id);
      const platform = credentials === undefined ? undefined : adoptable(credentials)?.platform;
      if (platform !== undefined) refused.push({ ...login, platform });
    }
    return {
      id: def.id,
      name,
      running: true,
      listeners: engine.listenerInfos().map((l) => ({ kind: l.kind, ...clean({ host: l.host, port: l.port, path: l.path, protocol: l.protocol }) })),
      clientCount: engine.connectedClients,
      clients: engine.clients().slice(0, MAX_CLIENTS).map(clientView),
      refused,
    };
  }

  /** `index`: client ids by broker and device key (clientIndex). */
  #deviceView(d: Defined, index: Map<string, string[]>): DeviceView {
    const key = `${d.plugin}/${d.id}`;
    const engine = brokers.engine(d.broker);
    const store = engine?.deviceStores.opened(d.plugin, d.id);
    const clients = index.get(`${d.broker}\u0000${key}`) ?? [];
    let fieldNames: Partial<Record<number, string>> = {};
    try {
      if (typeof d.config.fieldNames === "string") fieldNames = parseFieldNames(d.config.fieldNames);
    } catch {
      // The config node reports its own settings' problems.
    }
    const state = store === undefined ? { values: [], more: 0 } : deviceState(d.plugin, store, fieldNames);
    const online = clients.length > 0;
    const seen = online ? Date.now() : Math.max(state.lastSeen ?? 0, this.#lastSeen.get(key) ?? 0);
    const sparks = this.#sparksOf(key);
    const values = state.values.map((v): ValueView => {
      if (v.number === undefined) return { ...v, spark: [] };
      const spark = sparks.get(v.stream) ?? { at: -Infinity, points: [], seeded: false };
      if (v.at > spark.at) {
        spark.points.push(v.number);
        if (spark.points.length > SPARK_POINTS) spark.points.splice(0, spark.points.length - SPARK_POINTS);
        spark.at = v.at;
        sparks.set(v.stream, spark);
      }
      return { ...v, spark: [...spark.points] };
    });
    return {
      key, platform: d.plugin, id: d.id, config: d.config.id, name: d.name, broker: d.broker,
      ...clean({ fleet: d.fleet, firmware: state.firmware, lastSeen: seen > 0 ? seen : undefined }),
      online, clients, values, more: state.more,
    };
  }

  #sparksOf(key: string): Map<string, Spark> {
    let sparks = this.#sparks.get(key);
    if (sparks === undefined) {
      sparks = new Map();
      this.#sparks.set(key, sparks);
    }
    return sparks;
  }

  /** Sparklines not started yet begin with the newest points of the broker's history. */
  async #seedSparks(devices: Defined[], views: DeviceView[]): Promise<void> {
    const reads: Promise<void>[] = [];
    views.forEach((view, i) => {
      const d = devices[i];
      const engine = brokers.engine(d.broker);
      if (engine === undefined) return;
      const sparks = this.#sparksOf(view.key);
      for (const v of view.values) {
        const spark = sparks.get(v.stream);
        if (v.number === undefined || spark?.seeded === true || reads.length >= MAX_HISTORY_READS) continue;
        if (spark !== undefined) spark.seeded = true;
        reads.push(
          engine.history.query(d.plugin, d.id, v.stream, { latest: true, limit: SPARK_POINTS }).then(
            (points) => {
              const numbers = points.map((p) => (typeof p.value === "number" ? p.value : Number(p.value))).filter((n) => Number.isFinite(n));
              const last = points.at(-1);
              if (numbers.length > 0 && last !== undefined) sparks.set(v.stream, { at: Math.max(last.ts, v.at), points: numbers.slice(-SPARK_POINTS), seeded: true });
            },
            () => undefined, // no history: the values seen from now on
          ),
        );
      }
    });
    await Promise.all(reads);
  }
}

/** The client ids of every device connected to these brokers, by broker id and device key. */
function clientIndex(brokerDefs: readonly NodeDefinition[]): Map<string, string[]> {
  const index = new Map<string, string[]>();
  for (const def of brokerDefs) {
    for (const c of brokers.engine(def.id)?.clients() ?? []) {
      if (c.identity.plugin === undefined || c.identity.deviceId === undefined) continue;
      const key = `${def.id}\u0000${c.identity.plugin}/${c.identity.deviceId}`;
      const ids = index.get(key) ?? [];
      ids.push(c.clientId);
      index.set(key, ids);
    }
  }
  return index;
}

function clientView(c: ClientInfo): ClientView {
  const { identity } = c;
  return {
    clientId: c.clientId,
    protocol: PROTOCOLS[c.protocolVersion] ?? `MQTT (${String(c.protocolVersion)})`,
    kind: identity.kind,
    ...clean({ address: c.remoteAddress, device: identity.plugin !== undefined && identity.deviceId !== undefined ? `${identity.plugin}/${identity.deviceId}` : undefined }),
  };
}

/** The fields of `o` that are defined. */
function clean<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
