/**
 * Blynk's binary hardware protocol on an `iot-broker`'s `blynkPort`/`blynkTlsPort`
 * (docs/ARCHITECTURE.md 3.7): the Blynk emulation's `serve` hook hands each connection here. A device
 * logging in (HW_LOGIN 29 or LOGIN 2) with the token of a device hosted on this engine IS that
 * device: the same runtime its MQTT connection would be (online state, flows, store, history).
 *
 * Decisions:
 * - The token is looked up as MQTT logins do (the HostedDirectory, one map look-up by digest);
 *   an unknown one is answered INVALID_TOKEN (9), reported as `auth-refused` without the token
 *   and counted by the broker's failed-login throttle; a locked-out source gets NOT_ALLOWED (6)
 *   unchecked. The first frame must be a login, within the broker's connect timeout.
 * - A second login with the token of a connected device (FINDINGS 6): the newest connection is
 *   the device, as over MQTT, unless the one it would replace proves alive. A binary connection
 *   is asked first: a PING, answered by anything within PROBE_MS. A rebooted ESP32's old socket
 *   answers nothing (or is reset at once), so the rebooted device gets in before its login times
 *   out (3 s on 0.6.1); a healthy device answers, keeps its connection, and the newcomer is
 *   refused with NOT_ALLOWED (6) and closed: closing the healthy one would kill a Linux build
 *   (it does not notice the close and dies of SIGPIPE at its next write). An MQTT connection
 *   cannot be asked: it is replaced (an MQTT client notices). While a probe runs, further
 *   logins for that device are refused the same way.
 */
import type { Duplex } from "node:stream";
import { deviceNamespace, type AuthRequest, type BrokerEngine, type ClientInfo, type PeerAddress } from "../../broker/index.js";
import { Status, type BlynkMessage } from "../binary/index.js";
import type { HostedDevice } from "../hosted-device.js";
import { isDownlinkFilter, isUplinkTopic } from "../hosted-device.js";
import { BLYNK_PLUGIN } from "../hosted-types.js";
import { BinaryConnection, DEFAULT_HEARTBEAT_S, type CloseReason } from "./connection.js";
import { DeviceSession } from "./session.js";

/** How long a connected device has to answer the PING of a second login. */
export const PROBE_MS = 2000;
/** The legacy server's quota: 100 messages/s per connection (docs/PROTOCOLS.md 3.3). */
export const LEGACY_QUOTA = { perSecond: 100, burst: 100 } as const;
/** Open connections (logged in or not) one server keeps; beyond, new ones are closed at once. */
export const MAX_CONNECTIONS = 20_000;

export interface BinaryServerHost {
  engine: BrokerEngine;
  /** The device holding `token` when it is hosted on this engine. */
  findDevice(token: string): HostedDevice | undefined;
}

export class BlynkBinaryServer {
  readonly #host: BinaryServerHost;
  readonly #connections = new Set<BinaryConnection>();
  /** The binary session that is each device now, by device id. */
  readonly #sessions = new Map<string, DeviceSession>();
  readonly #probing = new Set<string>();
  #closed = false;

  constructor(host: BinaryServerHost) {
    this.#host = host;
  }

  /** The session that is device `id` now, when it is connected over the binary protocol. */
  session(id: string): DeviceSession | undefined {
    return this.#sessions.get(id);
  }

  accept(stream: Duplex, peer: PeerAddress): void {
    const { engine } = this.#host;
    const connection = new BinaryConnection(stream, peer);
    if (this.#closed || this.#connections.size >= MAX_CONNECTIONS) {
      connection.destroy();
      this.#event(connection, { code: "too-many", reason: `more than ${String(MAX_CONNECTIONS)} connections are open` });
      return;
    }
    this.#connections.add(connection);
    connection.serve({
      message: (m) => {
        this.#beforeLogin(connection, m);
      },
      closed: (why) => {
        this.#connections.delete(connection);
        if (why) this.#event(connection, why);
      },
    });
    connection.deadline(engine.connectTimeoutMs, { code: "login-timeout", reason: `no login within ${String(engine.connectTimeoutMs / 1000)} s` });
  }

  /** Closes every connection (the emulation goes: no Blynk device is hosted here any more). */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#connections]) c.destroy();
  }

  #beforeLogin(connection: BinaryConnection, m: BlynkMessage): void {
    if (m.type !== "login") {
      connection.destroy({ code: "before-login", reason: `a ${m.type} message before the login` });
      return;
    }
    connection.pause(); // nothing more is read until the login is decided
    connection.serve({ message: () => undefined, closed: (why) => { this.#connections.delete(connection); if (why) this.#event(connection, why); } });
    const { engine } = this.#host;
    // As a Blynk MQTT login (username "device"): on loopback the throttle counts per username, so these count with them.
    const request: AuthRequest = { clientId: connection.clientId, username: "device", password: Buffer.from(m.token), protocolVersion: 0, remoteAddress: connection.peer.address };
    const blocked = engine.admitLogin(request);
    if (blocked !== undefined) {
      connection.respond(m.id, Status.NOT_ALLOWED);
      connection.close();
      return;
    }
    const device = this.#host.findDevice(m.token);
    if (device === undefined) {
      engine.loginRefused(request, { returnCode: 4, reason: "no hosted Blynk device has the token given (binary protocol login)", secretUsername: true, unknown: true });
      connection.respond(m.id, Status.INVALID_TOKEN);
      connection.close();
      return;
    }
    engine.loginAccepted(request);
    const old = this.#sessions.get(device.id);
    if (this.#probing.has(device.id)) {
      this.#refuseDuplicate(connection, device, m.id);
    } else if (old !== undefined && old.info === device.current && !old.connection.closed) {
      this.#probing.add(device.id);
      let decided = false;
      let forget = (): void => undefined;
      const decide = (alive: boolean): void => {
        if (decided) return;
        decided = true;
        clearTimeout(timer);
        forget();
        this.#probing.delete(device.id);
        if (connection.closed) return;
        if (this.#host.findDevice(m.token) !== device) {
          connection.respond(m.id, Status.INVALID_TOKEN);
          connection.close();
        } else if (alive && !old.connection.closed) {
          this.#refuseDuplicate(connection, device, m.id);
        } else {
          this.#login(connection, device, m.id);
        }
      };
      const timer = setTimeout(() => {
        decide(false);
      }, PROBE_MS);
      timer.unref();
      old.connection.probe(() => {
        decide(true);
      });
      if (old.connection.isClosed()) decide(false); // the probe's write found the socket gone
      else forget = this.#whenClosed(old, () => { decide(false); });
    } else {
      this.#login(connection, device, m.id);
    }
  }

  #refuseDuplicate(connection: BinaryConnection, device: HostedDevice, id: number): void {
    const from = connection.peer.address === undefined ? "" : ` from ${connection.peer.address}`;
    device.report(`a second binary-protocol login with its token${from} was refused: the connected device answered, so it keeps its connection (Blynk allows one connection per token)`, "duplicate");
    connection.respond(id, Status.NOT_ALLOWED);
    connection.close({ code: "duplicate-refused", reason: "another connection with the same token is alive" });
  }

  /** Login accepted: the connection is the device from now on, replacing any other. */
  #login(connection: BinaryConnection, device: HostedDevice, id: number): void {
    const { engine } = this.#host;
    const info: ClientInfo = {
      clientId: connection.clientId,
      identity: {
        kind: "device",
        username: "device",
        plugin: BLYNK_PLUGIN,
        deviceId: device.id,
        namespace: deviceNamespace({ plugin: BLYNK_PLUGIN, deviceId: device.id, canPublish: isUplinkTopic, canSubscribe: isDownlinkFilter }),
      },
      protocolVersion: 0,
      remoteAddress: connection.peer.address,
      ...(connection.peer.local === undefined ? {} : { localAddress: connection.peer.local }),
    };
    const session = new DeviceSession(info, device, connection, (token) => this.#host.findDevice(token));
    connection.respond(id, Status.SUCCESS);
    connection.limit(engine.deviceLimiter(LEGACY_QUOTA));
    connection.idle(DEFAULT_HEARTBEAT_S);
    const previous = device.current;
    device.current = info; // first, so the replaced connection's end does not take the device offline
    device.direct = session;
    this.#sessions.set(device.id, session);
    const replaced = engine.disconnectClients((other) => other !== info && other.identity.plugin === BLYNK_PLUGIN && other.identity.deviceId === device.id);
    if (replaced > 0) {
      const older = previous === undefined ? "an older one" : `client id "${previous.clientId}"`;
      device.report(`a binary-protocol login (client id "${info.clientId}") replaced ${older}: Blynk allows one connection per token`);
    }
    const gone = engine.attachClient(info, () => {
      connection.destroy();
    });
    connection.serve({
      message: (m) => {
        session.handle(m);
      },
      closed: (why) => {
        this.#connections.delete(connection);
        gone();
        if (why) this.#event(connection, why, device.id);
        this.#leave(session);
      },
    });
    connection.resume();
    device.seen(Date.now(), true);
    device.listeners.online(device.onlineState());
    if (device.config.syncOnConnect === true) session.syncAll();
  }

  #leave(session: DeviceSession): void {
    const { device } = session;
    if (this.#sessions.get(device.id) === session) this.#sessions.delete(device.id);
    const waiting = this.#onClose.get(session);
    this.#onClose.delete(session);
    for (const fn of waiting ?? []) fn();
    if (device.direct === session) device.direct = undefined;
    if (device.current !== session.info) return;
    device.current = undefined;
    device.seen(Date.now(), true);
    device.listeners.online(device.onlineState());
  }

  /** What waits for a session to end (a probe of a second login); each entry removes itself once decided. */
  readonly #onClose = new WeakMap<DeviceSession, Set<() => void>>();

  #whenClosed(session: DeviceSession, fn: () => void): () => void {
    let waiting = this.#onClose.get(session);
    if (waiting === undefined) {
      waiting = new Set();
      this.#onClose.set(session, waiting);
    }
    waiting.add(fn);
    return () => {
      waiting.delete(fn);
    };
  }

  #event(connection: BinaryConnection, why: CloseReason, deviceId?: string): void {
    this.#host.engine.protocolClosed({
      protocol: BLYNK_PLUGIN,
      clientId: connection.clientId,
      ...(connection.peer.address === undefined ? {} : { remoteAddress: connection.peer.address }),
      ...(deviceId === undefined ? {} : { plugin: BLYNK_PLUGIN, deviceId }),
      code: why.code,
      reason: why.reason,
    });
  }
}
