/**
 * Self-hosted ThingsBoard: devices that an `iot-broker` node serves as ThingsBoard would, for
 * unchanged ThingsBoard MQTT firmware and HTTP devices. Public contract, for local-mode links:
 *
 * - `hostThingsBoardDevice(brokerId, device, onError)` hosts a `HostedTbDevice` on that broker
 *   until the returned function is called, across broker restarts (each engine starts with an
 *   empty attribute store). Problems (duplicate token, replaced connection, a flow message that
 *   could not be understood) go to `onError`, never with the token in them.
 * - Connecting: the username is the access token (any password); or the device's basic MQTT
 *   credentials. Empty username: CONNACK 0x04 (MQTT 5: 0x86); unknown token: 0x05 (0x87), when
 *   no broker user, other platform or anonymous access takes the connection (hosted-plugin.ts).
 * - Topics (`hostedTopics`, keyed by the config node id, never the token):
 *   `$iot/thingsboard/<id>/up/<topic>`: everything the device sends, device-relative and
 *     unchanged: `v1/devices/me/telemetry`, `.../attributes` (client attributes),
 *     `.../attributes/request/<id>`, `.../rpc/request/<id>` (client-side RPC),
 *     `.../rpc/response/<id>` (replies to server-side RPC), `.../claim`, and for gateways
 *     `v1/gateway/connect|disconnect|telemetry|attributes|attributes/request|rpc|claim`.
 *     HTTP devices' writes land here too, exactly as the same MQTT uplink would.
 *   `$iot/thingsboard/<id>/down/<topic>`: what flows send the device: `v1/devices/me/attributes`
 *     (shared attribute update), `.../rpc/request/<id>` (server-side RPC),
 *     `.../rpc/response/<id>` (answer to the device's client-side RPC), for gateways
 *     `v1/gateway/attributes` (`{"device","data"}`) and `v1/gateway/rpc`
 *     (`{"device","data":{"id","method","params"}}`). Reaches MQTT devices subscribed to it and
 *     HTTP devices' long polls.
 *   `$iot/thingsboard/<id>/state/online`: retained JSON `{online, clientId?, remoteAddress?,
 *     protocolVersion?}` of the MQTT connection; published once the emulation follows the
 *     device's down topics (a link that sees it knows its pushes are learnt).
 *   A device never receives its own uplink (up and down are disjoint), nor another's traffic.
 * - Request ids travel unchanged: a flow picks the id of a server-side RPC and gets the reply
 *   on `up/.../rpc/response/<same id>`; a device picks the id of its client-side RPC and the
 *   flow answers on `down/.../rpc/response/<same id>` (byte-exact id text). HTTP client RPC
 *   (`POST /api/v1/<token>/rpc`) appears as `up/.../rpc/request/<id>` with ids from
 *   1000000000 up (HTTP_RPC_FIRST_ID), so they cannot clash with a device's own counter.
 * - The emulation answers, flows need not: attribute requests (`.../attributes/request/<id>`,
 *   gateway `v1/gateway/attributes/request`, HTTP `GET .../attributes`) from the client
 *   attributes the device sent and the shared attributes flows sent on `down`, with the same
 *   id; and the client RPC `getSessionLimits` (links should not hand that one to flows). The
 *   requests still appear under `up`.
 * - Gateways: the `v1/gateway/...` messages pass up and down as-is, sub-devices named inside
 *   the payloads; a link splits/builds them with gateway-codec.ts (sub-device = `device`
 *   field). Attribute requests of a sub-device are answered from the attributes stored for
 *   that sub-device name.
 */
import { hostAcrossRedeploys, hostOnBroker } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { DigestIndex, tokenDigest } from "../transport/secret-match.js";
import { connectCredentials } from "./codec.js";
import type { HostedDevice } from "./hosted-device.js";
import { TbEmulation } from "./hosted-plugin.js";
import { hostedTopics, TB_PLUGIN, type HostedTbDevice } from "./hosted-types.js";

export { hostedTopics, TB_PLUGIN, type HostedTbDevice };

/** A hosted device as the HTTP API finds it: on any broker, running or not. */
export interface HostedRegistration {
  readonly device: Readonly<HostedTbDevice>;
  readonly brokerId: string;
  readonly digest: Buffer;
  /** The device on its broker's current engine; undefined while that broker is not running. */
  runtime: HostedDevice | undefined;
}

/** Every hosted ThingsBoard device of this runtime, across brokers (the HTTP API serves them all), by token digest. */
const registrations = new DigestIndex<HostedRegistration>();

/** The hosted device holding `token`: one map look-up by its digest (DigestIndex). */
export function hostedByToken(token: string): HostedRegistration | undefined {
  return registrations.find(token);
}

/** Basic credentials as ThingsBoard keys them (client id and/or username); undefined when none. */
function basicKey(basic: HostedTbDevice["basic"]): string | undefined {
  return basic === undefined ? undefined : JSON.stringify([basic.clientId ?? "", basic.username ?? ""]);
}

function checkDevice(device: HostedTbDevice): HostedTbDevice {
  const d = device as Partial<Record<keyof HostedTbDevice, unknown>>;
  hostedTopics.up(String(d.id)); // throws on ids that cannot be a topic level
  if (typeof d.name !== "string") throw new TypeError(`hosted ThingsBoard device "${String(d.id)}" has no name`);
  try {
    connectCredentials({ type: "access-token", token: d.token as string }); // its message never shows the token
  } catch (err) {
    throw new TypeError(`hosted ThingsBoard device "${d.name}": ${toError(err).message}`);
  }
  let basic: HostedTbDevice["basic"];
  const given: unknown = d.basic; // plain-JS callers may pass anything, null included
  if (typeof given === "object" && given !== null && Object.values(given).some((v) => v !== undefined && v !== null && v !== "")) {
    try {
      // Typed as declared; connectCredentials checks every field at run time.
      const { clientId, username, password } = given as NonNullable<HostedTbDevice["basic"]>;
      basic = connectCredentials({ type: "basic", clientId, username, password });
    } catch (err) {
      throw new TypeError(`hosted ThingsBoard device "${d.name}": ${toError(err).message}`);
    }
  }
  // A copy, so later changes to the caller's object do not change what is hosted.
  return { id: device.id, name: device.name, token: device.token, gateway: d.gateway === true, ...(basic === undefined ? {} : { basic }) };
}

/**
 * Hosts `device` on the `iot-broker` node `brokerId` until the returned function is called,
 * across restarts of that broker. Never throws: problems go to `onError`.
 * A redeploy that re-creates the hosting node with the same settings keeps the device connected.
 */
export function hostThingsBoardDevice(brokerId: string, device: HostedTbDevice, onError: (err: unknown) => void): () => void {
  const id = String((device as { id?: unknown } | null | undefined)?.id);
  return hostAcrossRedeploys({ plugin: TB_PLUGIN, brokerId, id, settings: device }, onError, (report) => hostNow(brokerId, device, report));
}

/** Hosts at once (see hostThingsBoardDevice). */
function hostNow(brokerId: string, device: HostedTbDevice, onError: (err: unknown) => void): () => void {
  const report = (err: unknown): void => {
    try {
      onError(err);
    } catch {
      // The host's callback failing must not break the broker.
    }
  };
  let config: HostedTbDevice;
  try {
    config = checkDevice(device);
  } catch (err) {
    report(toError(err));
    return () => undefined;
  }
  const other = registrations.find(config.token);
  const key = basicKey(config.basic);
  const sameBasic = key === undefined ? undefined : [...registrations.values()].find((r) => basicKey(r.device.basic) === key);
  if (other ?? sameBasic) {
    // Credentials identify exactly one device: the second one is not hosted (nobody could tell them apart).
    const what = other ? "the same access token" : "the same basic MQTT credentials";
    report(new Error(`hosted ThingsBoard device "${config.name}" is not hosted: "${(other ?? sameBasic)?.device.name ?? ""}" already uses ${what}`));
    return () => undefined;
  }
  const registration: HostedRegistration = { device: config, brokerId, digest: tokenDigest(config.token), runtime: undefined };
  registrations.add(registration);
  const unhost = hostOnBroker(
    brokerId,
    {
      plugin: TB_PLUGIN,
      create: (engine) => new TbEmulation(engine),
      add: (plugin) => plugin.add(config, report),
      remove: (plugin) => {
        plugin.remove(config.id);
      },
      runtime: (runtime) => {
        registration.runtime = runtime;
      },
    },
    report,
  );
  return () => {
    registrations.delete(registration);
    unhost();
  };
}
