/**
 * The fleet's operations as control messages and admin requests give them (docs/ARCHITECTURE.md
 * 3.8): one place reads "add", "change", "remove", "get", "list" and "renew" (a new token) from
 * loose input, so the `*-fleet` node, the editor's admin endpoints and CSV import behave alike.
 */
import { isPlainObject } from "../transport/value-codec.js";
import { FleetError, type Fleet, type FleetCredentials, type FleetDevice, type FleetDeviceInput, type FleetDeviceWithCredentials } from "./fleet.js";

export const FLEET_ACTIONS = ["add", "change", "remove", "get", "list", "renew"] as const;
export type FleetAction = (typeof FLEET_ACTIONS)[number];

/** Credential fields a caller may give at the top level of a device (as well as under `credentials`). */
const CREDENTIAL_FIELDS = ["token", "clientId", "username", "password"];

export function isFleetAction(value: unknown): value is FleetAction {
  return typeof value === "string" && (FLEET_ACTIONS as readonly string[]).includes(value);
}

/** A device as input: `{name, id?, credentials?, token?, ..., pins?, meta?}`; top-level credential fields join `credentials`. */
export function deviceInput(payload: unknown): FleetDeviceInput {
  if (!isPlainObject(payload)) throw new FleetError("invalid", "msg.payload must be a device: an object with at least a name");
  const loose: Record<string, unknown> = {};
  for (const field of CREDENTIAL_FIELDS) if (payload[field] !== undefined) loose[field] = payload[field];
  const given = isPlainObject(payload.credentials) ? { ...payload.credentials, ...loose } : Object.keys(loose).length > 0 ? loose : payload.credentials;
  return {
    ...(payload.name === undefined ? {} : { name: payload.name }),
    ...(payload.id === undefined ? {} : { id: payload.id }),
    ...(given === undefined ? {} : { credentials: given }),
    ...(payload.pins === undefined ? {} : { pins: payload.pins }),
    ...(payload.meta === undefined ? {} : { meta: payload.meta }),
  };
}

/** Which device a change names: its id when given (so a change may rename it), else its name. */
function changeRef(payload: unknown): unknown {
  if (!isPlainObject(payload)) throw new FleetError("invalid", "msg.payload must name the device ({\"id\": ...} or {\"name\": ...}) and give what changes");
  if (typeof payload.id === "string" && payload.id !== "") return { id: payload.id };
  if (typeof payload.name === "string") return { name: payload.name };
  throw new FleetError("invalid", "a change names its device by id (then a new name may be given) or by name");
}

/** Runs one action; the answer: a device (with its credentials for add, change, get, renew), the removed device, or the list. */
export async function runFleetAction(fleet: Fleet, action: FleetAction, payload: unknown): Promise<FleetDeviceWithCredentials | FleetDevice | FleetDevice[]> {
  switch (action) {
    case "list":
      return fleet.list();
    case "add":
      return fleet.add(deviceInput(payload));
    case "change": {
      const ref = changeRef(payload);
      const { id: _id, ...patch } = deviceInput(payload);
      if (isPlainObject(ref) && "name" in ref) delete patch.name;
      return fleet.change(ref, patch);
    }
    case "renew":
      return fleet.change(payload, { credentials: fresh(fleet) });
    case "remove":
      return fleet.remove(payload);
    case "get": {
      const device = fleet.resolve(payload);
      return { ...device, credentials: fleet.credentials({ id: device.id }) };
    }
  }
}

function fresh(fleet: Fleet): FleetCredentials {
  return fleet.platform.fresh();
}
