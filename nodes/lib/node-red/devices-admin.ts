/**
 * The "IoT devices" sidebar's admin endpoints (the plugin `iot-bridge-devices`, with its own
 * permissions):
 *
 *   GET  /iot-bridge/devices              -> the snapshot (devices-model.ts)             (iot-bridge-devices.read)
 *   POST /iot-bridge/devices/credentials  {device} -> {credentials}                       (iot-bridge-devices.write)
 *        (a local-mode device's or fleet member's, only what its firmware uses)
 *   POST /iot-bridge/devices/disconnect   {broker, clientId} -> {disconnected}            (iot-bridge-devices.write)
 *   POST /iot-bridge/devices/adopt        {broker, login, fleet, name} -> {device}        (iot-bridge-devices.write)
 *        (409 when a hosted device has the credentials already, or the fleet did not host the new one: rolled back)
 *   POST /iot-bridge/devices/forget       {broker, login} -> {forgotten}                  (iot-bridge-devices.write)
 *
 * `device` is a device view's key (`<plugin>/<hosted id>`), `login` a refused login's id. Only
 * `credentials` answers a secret, fetched when the user clicks "copy": never in the snapshot nor
 * in the comms. Answers are never cached. Node-RED glue, handed what it uses of RED.
 */
import { fleetOf, runFleetAction, FleetError } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { adoptable, type DevicesModel } from "./devices-model.js";
import { DEVICE_TYPES } from "./history-devices.js";
import { BLYNK_PLUGIN } from "../blynk/hosted-types.js";
import { hostedByToken as blynkByToken } from "../blynk/emulation.js";
import { hostedByBasicKey as tbByBasicKey, hostedByToken as tbByToken } from "../thingsboard/hosted-index.js";
import { TB_PLUGIN } from "../thingsboard/hosted-types.js";
import { THINGSPEAK_PLUGIN } from "../thingspeak/hosted-types.js";

interface Req { body?: unknown }
interface Res {
  set(field: string, value: string): Res;
  status(code: number): Res;
  json(body: unknown): void;
}
type Handler = (req: Req, res: Res, next: () => void) => void;

/** What the endpoints use of the plugin's RED. */
export interface DevicesAdminRED {
  httpAdmin: { get(path: string, ...handlers: Handler[]): unknown; post(path: string, ...handlers: Handler[]): unknown } | undefined;
  auth: { needsPermission(permission: string): Handler };
  nodes: { getCredentials(id: string): unknown; getNode(id: string): unknown };
}

export const BASE = "/iot-bridge/devices";
/** How long adopting waits for the fleet to host the new device. */
const HOSTED_WAIT_MS = 2000;
export const READ = "iot-bridge-devices.read";
export const WRITE = "iot-bridge-devices.write";

/** A refusal with its HTTP status; `message` is English for the sidebar to show (no secrets). */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const STATUS: Record<FleetError["code"], number> = { unavailable: 503, "unknown-device": 404, invalid: 400, duplicate: 409, full: 409 };

export function mountDevicesAdmin(RED: DevicesAdminRED, model: DevicesModel): void {
  const app = RED.httpAdmin;
  if (app === undefined) return;
  const read = RED.auth.needsPermission(READ);
  const write = RED.auth.needsPermission(WRITE);
  const answer = (res: Res, work: () => unknown): void => {
    res.set("Cache-Control", "no-store");
    Promise.resolve()
      .then(work)
      .then(
        (body) => { res.json(body); },
        (err: unknown) => {
          const status = err instanceof Refusal ? err.status : err instanceof FleetError ? STATUS[err.code] : 500;
          res.status(status).json({ error: toError(err).message });
        },
      )
      .catch(() => undefined); // the response is gone: nothing left to tell
  };

  app.get(BASE, read, (_req, res) => {
    answer(res, () => model.snapshot());
  });
  app.post(`${BASE}/credentials`, write, (req, res) => {
    answer(res, () => ({ credentials: credentialsOf(RED, model, text(req, "device")) }));
  });
  app.post(`${BASE}/disconnect`, write, (req, res) => {
    answer(res, () => {
      const engine = runningEngine(model, text(req, "broker"));
      const clientId = text(req, "clientId");
      return { disconnected: engine.disconnectClients((info) => info.clientId === clientId) };
    });
  });
  app.post(`${BASE}/forget`, write, (req, res) => {
    answer(res, () => ({ forgotten: runningEngine(model, text(req, "broker")).refusedLogins.forget(text(req, "login")) }));
  });
  app.post(`${BASE}/adopt`, write, (req, res) => {
    answer(res, () => adopt(RED, model, req));
  });
}

async function adopt(RED: DevicesAdminRED, model: DevicesModel, req: Req): Promise<unknown> {
  const brokerId = text(req, "broker");
  const engine = runningEngine(model, brokerId);
  const login = text(req, "login");
  const presented = engine.refusedLogins.credentials(login);
  if (presented === undefined) throw new Refusal(404, "this refused login is no longer remembered: let the device try again");
  const wanted = adoptable(presented);
  if (wanted === undefined) throw new Refusal(400, "this login gave no credentials a hosted device could have");
  const fleetId = text(req, "fleet");
  const fleet = fleetOf(fleetId);
  const config = RED.nodes.getNode(fleetId) as { type?: string } | null;
  if (fleet === undefined || config?.type === undefined) throw new Refusal(404, "no deployed fleet has this id");
  if (fleet.brokerId !== brokerId) throw new Refusal(400, "this fleet is hosted on another broker");
  if (DEVICE_TYPES[config.type] !== wanted.platform) throw new Refusal(400, `the login is a ${wanted.platform} device's, the fleet is not`);
  if (hostedWith(wanted) !== undefined) throw new Refusal(409, `a hosted ${wanted.platform} device already has these credentials (a wrong password is no new device)`);
  const name = text(req, "name").trim();
  const added = await runFleetAction(fleet, "add", { name: name === "" ? presented.clientId : name, credentials: wanted.credentials });
  const device = Array.isArray(added) ? undefined : added;
  // Answering success is only right if the device's next login is accepted: hosted with these credentials.
  const problem = device === undefined ? "the fleet gave no device back" : await hostedSoon(wanted, brokerId);
  if (problem !== undefined) {
    if (device !== undefined) await runFleetAction(fleet, "remove", { id: device.id }).catch(() => undefined);
    throw new Refusal(409, `the device was not added: ${problem}`);
  }
  engine.refusedLogins.forget(login);
  // Its earlier failures must not keep the device locked out now that its credentials are known.
  engine.loginAccepted({ clientId: presented.clientId, username: presented.username, password: undefined, protocolVersion: presented.protocolVersion, remoteAddress: presented.remoteAddress });
  return { device: device === undefined ? undefined : { id: device.id, name: device.name, fleet: fleetId } };
}

type Wanted = NonNullable<ReturnType<typeof adoptable>>;

/** Where credentials `wanted` are hosted now (the broker's id), if they are: by token or by basic MQTT client id and username. */
function hostedWith(wanted: Wanted): string | undefined {
  const credentials: Partial<Record<string, string>> = wanted.credentials; // a platform's fields, not all of them
  const { token, clientId, username } = credentials;
  if (wanted.platform === BLYNK_PLUGIN) return token === undefined ? undefined : blynkByToken(token)?.brokerId;
  if (token !== undefined) return tbByToken(token)?.brokerId;
  return clientId === undefined && username === undefined ? undefined : tbByBasicKey(clientId, username)?.brokerId;
}

/** Waits briefly for a fleet's new device to be hosted on broker `brokerId`; the reason when it is not. */
async function hostedSoon(wanted: Wanted, brokerId: string): Promise<string | undefined> {
  for (let waited = 0; waited <= HOSTED_WAIT_MS; waited += 50) {
    const where = hostedWith(wanted);
    if (where !== undefined) return where === brokerId ? undefined : "another broker hosts these credentials";
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return "the fleet did not host it (see the fleet node's status)";
}

/**
 * What a firmware connecting to a hosted device uses, per platform: a cloud account's keys (a
 * ThingSpeak read key) and provisioning secrets are not for a device, so never answered.
 */
const FIRMWARE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  [BLYNK_PLUGIN]: ["token"],
  [TB_PLUGIN]: ["token", "clientId", "username", "password"],
  [THINGSPEAK_PLUGIN]: ["clientId", "username", "password", "writeKey"],
};

/**
 * The credentials of device `key` (`<plugin>/<id>`): a local-mode device's config node, else a
 * fleet member (`<fleet id>.<member id>`). Node-RED ids may hold a dot ("e3a8a5f6.1c5758"), member
 * ids never: a deployed device is looked for first, a fleet is split at the last dot.
 */
function credentialsOf(RED: DevicesAdminRED, model: DevicesModel, key: string): Record<string, string> {
  const slash = key.indexOf("/");
  const plugin = slash < 0 ? "" : key.slice(0, slash);
  const id = slash < 0 ? "" : key.slice(slash + 1);
  const fields = Object.hasOwn(FIRMWARE_FIELDS, plugin) ? FIRMWARE_FIELDS[plugin] : undefined;
  if (fields === undefined) throw new Refusal(404, "no hosted device has this key");
  const node = RED.nodes.getNode(id) as { type?: string } | null;
  if (node?.type !== undefined && DEVICE_TYPES[node.type] === plugin) {
    const def = model.definition(id);
    if (def?.connection !== "local" || def.hosting === "fleet") throw new Refusal(404, "only a local-mode device's credentials are shown here");
    return firmwareOnly(RED.nodes.getCredentials(id), fields);
  }
  const dot = id.lastIndexOf(".");
  const fleet = dot > 0 ? fleetOf(id.slice(0, dot)) : undefined;
  if (fleet === undefined) throw new Refusal(404, "no deployed device or fleet has this id");
  return firmwareOnly(fleet.credentials({ id: id.slice(dot + 1) }), fields);
}

function firmwareOnly(value: unknown, fields: readonly string[]): Record<string, string> {
  const all = strings(value);
  return Object.fromEntries(fields.flatMap((f) => (Object.hasOwn(all, f) ? [[f, all[f]]] : [])));
}

function runningEngine(model: DevicesModel, brokerId: string): NonNullable<ReturnType<DevicesModel["engine"]>> {
  const engine = model.engine(brokerId);
  if (engine === undefined) throw new Refusal(503, "this broker is not running");
  return engine;
}

function strings(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== ""));
}

/** A body field as text ("" when absent or not text). */
function text(req: Req, field: string): string {
  const body = req.body;
  const value = typeof body === "object" && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  return typeof value === "string" ? value : "";
}
