/**
 * The MQTT connections of one plugin's hosted devices: which device each connection is, which
 * connection is a device's current one, and the AnswerGate of each connection. Platform-blind:
 * a plugin (Blynk, ThingsBoard) forwards its broker hooks here and keeps only what its platform
 * decides (topics, answers, the online state it publishes).
 *
 * Decisions:
 * - A second connection of the same device REPLACES the first (one session per device, as the
 *   clouds do): the older one is disconnected, the device's `report` gets a warning. A device
 *   that rebooted reconnects before the broker notices its dead session; refusing the newcomer
 *   would lock the real device out until keepalive ran out.
 * - A connection's state is made on first use: aedes reads a client's packets (SUBSCRIBE,
 *   PUBLISH) right after CONNACK, possibly before it announces clientReady. It is kept in a
 *   WeakMap, because aedes may forget a client that never became ready without telling us.
 * - A connection of a device that is no longer hosted has no state: its hooks do nothing.
 */
import { AnswerGate, type GatedAnswer } from "./answer-gate.js";
import { devicePrefix } from "./namespace.js";
import type { ClientInfo } from "./types.js";

/** What this table needs of a hosted device. */
export interface ConnectedDevice {
  readonly id: string;
  readonly name: string;
  /** The connection that is the device now; undefined while offline. */
  current: ClientInfo | undefined;
  report(message: string, kind?: string): void;
}

export interface DeviceConnection<D extends ConnectedDevice, A extends GatedAnswer = GatedAnswer> {
  device: D;
  /** This connection's answers, sent once its subscriptions cover them. */
  answers: AnswerGate<A>;
  /** The internal prefix of the device's uplinks (made once: checked on every publish). */
  uplinks: string;
}

export interface DeviceConnectionsOptions<D extends ConnectedDevice> {
  /** The plugin name in its devices' identities and internal topics. */
  plugin: string;
  /** The platform's name in messages ("Blynk"). */
  platform: string;
  /** Most answers waiting for a subscription, per connection. */
  maxPending: number;
  /** Most answers waiting to be sent, per connection. */
  maxQueued: number;
  /** Publishes one answer to `device` (internal topic, QoS 1); must not reject. */
  publish: (device: D, topic: string, payload: string | Buffer) => Promise<void>;
  /** Why a newer connection replaces an older one, in the platform's words (ends the warning). */
  onePerDevice: string;
}

/** What the table needs of the engine. */
export interface ClientDisconnector {
  /** Disconnects every client `which` picks; returns how many. */
  disconnectClients(which: (info: ClientInfo) => boolean): number;
}

export class DeviceConnections<D extends ConnectedDevice, A extends GatedAnswer = GatedAnswer> {
  readonly #engine: ClientDisconnector;
  /** The plugin's hosted devices by id (host() adds them, unhost() removes them). */
  readonly #devices: Map<string, D>;
  readonly #options: DeviceConnectionsOptions<D>;
  readonly #connections = new WeakMap<ClientInfo, DeviceConnection<D, A>>();

  constructor(engine: ClientDisconnector, devices: Map<string, D>, options: DeviceConnectionsOptions<D>) {
    this.#engine = engine;
    this.#devices = devices;
    this.#options = options;
  }

  /** The state of a connection of a hosted device; undefined for others and for devices no longer hosted. */
  of(info: ClientInfo): DeviceConnection<D, A> | undefined {
    const known = this.#connections.get(info);
    if (known) return this.#devices.get(known.device.id) === known.device ? known : undefined;
    const { deviceId, plugin } = info.identity;
    const device = deviceId === undefined || plugin !== this.#options.plugin ? undefined : this.#devices.get(deviceId);
    if (!device) return undefined;
    const { maxPending, maxQueued, publish } = this.#options;
    const answers = new AnswerGate<A>({
      prefix: devicePrefix(this.#options.plugin, device.id, "down"),
      maxPending,
      maxQueued,
      publish: (topic, payload) => publish(device, topic, payload),
      report: (message, reason) => {
        device.report(message, reason);
      },
    });
    const connection = { device, answers, uplinks: devicePrefix(this.#options.plugin, device.id, "up") };
    this.#connections.set(info, connection);
    return connection;
  }

  /**
   * A connection finished connecting: it becomes its device's current one, replacing (and
   * disconnecting) any other. Returns the device, whose online state the plugin then publishes;
   * undefined when the device was removed between CONNECT and CONNACK (the connection is closed).
   */
  ready(info: ClientInfo): D | undefined {
    const device = this.of(info)?.device;
    if (!device) {
      this.#engine.disconnectClients((other) => other === info);
      return undefined;
    }
    const previous = device.current;
    device.current = info; // first, so the replaced connection's gone() does not take the device offline
    const { plugin } = this.#options;
    const replaced = this.#engine.disconnectClients((other) => other !== info && other.identity.plugin === plugin && other.identity.deviceId === device.id);
    if (replaced > 0) {
      const from = info.remoteAddress === undefined ? "" : ` from ${info.remoteAddress}`;
      const older = previous === undefined ? "an older one" : `client id "${previous.clientId}"`;
      device.report(`a new connection (client id "${info.clientId}"${from}) replaced ${older}: ${this.#options.onePerDevice}`);
    }
    return device;
  }

  /** A connection went away: its answers are dropped. Returns its device when it was the current connection (now offline). */
  gone(info: ClientInfo): D | undefined {
    const connection = this.#connections.get(info);
    this.#connections.delete(info);
    if (!connection) return undefined;
    connection.answers.close();
    const { device } = connection;
    if (device.current !== info || this.#devices.get(device.id) !== device) return undefined;
    device.current = undefined;
    return device;
  }

  /**
   * Hosts the device `make` returns under `id`. Throws, without calling `make`, when `id` is
   * hosted already. Credentials are not checked here: a hosting claims them in its platform's
   * HostedDirectory before any engine adds the device (broker/hosted-directory.ts).
   */
  host(id: string, make: () => D): D {
    if (this.#devices.has(id)) throw new Error(`a ${this.#options.platform} device with id "${id}" is already hosted on this broker`);
    const device = make();
    this.#devices.set(id, device);
    return device;
  }

  /**
   * Ends hosting `id`: it leaves the device table, goes offline without an online-state change
   * (the plugin clears that state itself) and its connections are closed. Returns the device.
   */
  unhost(id: string): D | undefined {
    const device = this.#devices.get(id);
    if (!device) return undefined;
    this.#devices.delete(id);
    device.current = undefined;
    const { plugin } = this.#options;
    this.#engine.disconnectClients((info) => info.identity.plugin === plugin && info.identity.deviceId === id);
    return device;
  }

  /** A connection's subscriptions are in place: answers they cover go out. */
  subscribed(info: ClientInfo, filters: readonly string[]): void {
    this.of(info)?.answers.subscribed(filters);
  }

  /** A connection published: its state and the device-relative topic, or undefined when it is not a device's uplink. */
  uplink(info: ClientInfo, topic: string): { connection: DeviceConnection<D, A>; topic: string } | undefined {
    const connection = this.of(info);
    if (!connection) return undefined;
    return topic.startsWith(connection.uplinks) ? { connection, topic: topic.slice(connection.uplinks.length) } : undefined;
  }
}
