/**
 * Which fleet device a flow node's message is for (docs/ARCHITECTURE.md 3.8): the node's own
 * Device setting when set, else what `msg.<platform>.device` names (a name, `{name}` or `{id}`,
 * as the fleet's messages carry it). Shared by the writing nodes of every platform with fleets.
 */
import { FleetError } from "../broker/fleet.js";
import type { FleetMembers, MemberLink } from "../broker/fleet-members.js";
import { describeValue } from "../transport/value-codec.js";

type Refuse = (key: string, params?: Record<string, string>) => Error;

/**
 * The member link to write through: `link` itself when it is no fleet; for a fleet, the named
 * device's, else a refusal of the node's catalog: `fleet-no-device` (nothing named) or
 * `fleet-unknown-device` (a name the fleet does not have: the error names it and what is accepted).
 */
export function fleetTarget<L extends MemberLink & { readonly fleet?: FleetMembers<L> }>(link: L, fixed: string, named: unknown, refuse: Refuse): L {
  return fleetMember(link, fixed, named, refuse).link;
}

/** fleetTarget, with the fleet device as messages name it (`{name, id}`; undefined for a link that is no fleet). */
export function fleetMember<L extends MemberLink & { readonly fleet?: FleetMembers<L> }>(link: L, fixed: string, named: unknown, refuse: Refuse): { link: L; device?: { name: string; id: string } } {
  const fleet = link.fleet;
  if (fleet === undefined) return { link };
  const ref: unknown = fixed !== "" ? fixed : named;
  if (ref === undefined || ref === null || ref === "") throw refuse("fleet-no-device", { got: describeValue(ref) });
  try {
    const [device, member] = fleet.member(ref);
    return { link: member, device: { name: device.name, id: device.id } };
  } catch (err) {
    if (err instanceof FleetError) throw refuse("fleet-unknown-device", { error: err.message });
    throw err;
  }
}
