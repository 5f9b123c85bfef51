/**
 * Self-hosted ThingsBoard: devices that an `iot-broker` node serves as ThingsBoard would, for
 * unchanged ThingsBoard MQTT firmware and HTTP devices. Public contract, for local-mode links:
 *
 * - `hostThingsBoardDeviceHandle(brokerId, device, onError)` hosts the device on that broker
 *   and returns its handle (`HostedTbHandle`, broker/hosted-device.ts): hosted across broker
 *   restarts (each engine starts with an empty store) and kept through a redeploy that leaves
 *   the device unchanged, until the handle is closed (`hostThingsBoardDevice`: the same for a
 *   caller that only hosts, returning the unhost). Problems (duplicate token, replaced
 *   connection, a bad device definition) go to `onError`, never with the token in them.
 * - Connecting: the username is the access token (any password); or the device's basic MQTT
 *   credentials. Empty username: CONNACK 0x04 (MQTT 5: 0x86); unknown token: 0x05 (0x87), when
 *   no broker user, other platform or anonymous access takes the connection (hosted-plugin.ts).
 *   A login finds only devices hosted on that very engine (hosted-index.ts).
 * - The device's MQTT namespace (`hostedTopics`, keyed by the config node id, never the token):
 *   what it publishes lands on `$iot/thingsboard/<id>/up/<topic>` (`v1/devices/me/telemetry`,
 *   `.../attributes`, `.../attributes/request/<id>`, `.../rpc/request/<id>`,
 *   `.../rpc/response/<id>`, `.../claim`, for gateways `v1/gateway/...`); what it receives is
 *   published on `$iot/thingsboard/<id>/down/<topic>`. A device never receives its own uplink
 *   (up and down are disjoint), nor another's traffic.
 * - The handle carries parsed messages (hosted-types.ts): `uplink` events are `TbUp`s, from
 *   MQTT and the HTTP device API alike; `send(TbDown)` remembers shared attributes, answers
 *   HTTP polls and client-RPC calls, and publishes on the device's `down/` topic. The device's
 *   state (attributes, latest telemetry) is in the handle's `store` (read it with
 *   hosted-state.ts); `online` events follow its MQTT connection.
 * - Request ids travel unchanged: a flow picks the id of a server-side RPC and gets the reply
 *   with the same id; a device picks the id of its client-side RPC and the flow answers with
 *   the same id text. HTTP client RPC (`POST /api/v1/<token>/rpc`) gets ids from 1000000000
 *   up (HTTP_RPC_FIRST_ID), so they cannot clash with a device's own counter.
 * - The emulation answers, flows need not: attribute requests (`.../attributes/request/<id>`,
 *   gateway `v1/gateway/attributes/request`, HTTP `GET .../attributes`) from the client
 *   attributes the device sent and the shared attributes flows sent, with the same id; and the
 *   client RPC `getSessionLimits`. Neither reaches the handle.
 * - Gateways: sub-devices are named in the messages (`device`); attribute requests of a
 *   sub-device are answered from the attributes stored for that sub-device name.
 * - Firmware (docs/PROTOCOLS.md 4.6): a flow's `tbDown.firmware` is announced as `fw_*` shared
 *   attributes; the device's chunk requests (`v2/fw/request/<id>/chunk/<n>`) are answered from
 *   the image (firmware-serve.ts), which goes when the device is no longer hosted.
 */
import { firmwareShelf, hostDevice, unhostOf } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { connectCredentials } from "./codec.js";
import type { HostedDevice } from "./hosted-device.js";
import { claimCredentials, hostedByToken, type HostedRegistration } from "./hosted-index.js";
import { TbEmulation } from "./hosted-plugin.js";
import { hostedTopics, TB_PLUGIN, type HostedTbDevice, type HostedTbHandle } from "./hosted-types.js";

export { hostedByToken, hostedTopics, TB_PLUGIN, type HostedRegistration, type HostedTbDevice, type HostedTbHandle };

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
 * Hosts `device` on the `iot-broker` node `brokerId` until the handle is closed, across
 * restarts of that broker; sends made while it is stopped are queued. Never throws: problems
 * go to `onError`. A redeploy that re-creates the hosting node with the same settings keeps
 * the device connected.
 */
export function hostThingsBoardDeviceHandle(brokerId: string, device: HostedTbDevice, onError: (err: unknown) => void): HostedTbHandle {
  const id = String((device as { id?: unknown } | null | undefined)?.id);
  return hostDevice<TbEmulation, HostedTbDevice, HostedDevice>(
    {
      plugin: TB_PLUGIN,
      brokerId,
      id,
      settings: device,
      offline: "queue",
      claim: (runtime) => {
        const config = checkDevice(device);
        const release = claimCredentials(config, brokerId, runtime);
        return {
          claimed: config,
          release: () => {
            release();
            firmwareShelf.release(TB_PLUGIN, config.id); // the device is gone: its firmware image too (docs/PROTOCOLS.md 4.6)
          },
        };
      },
      create: (engine) => new TbEmulation(engine),
    },
    onError,
  );
}

/** hostThingsBoardDeviceHandle for a caller that only hosts: returns the unhost. */
export function hostThingsBoardDevice(brokerId: string, device: HostedTbDevice, onError: (err: unknown) => void): () => void {
  return unhostOf(hostThingsBoardDeviceHandle(brokerId, device, onError));
}
