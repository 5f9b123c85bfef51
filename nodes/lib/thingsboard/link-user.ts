/**
 * The ThingsBoard face of the shared config-node/flow-node glue in transport/link-users.ts:
 * what a `thingsboard-device` config node offers its flow nodes, with ThingsBoard's types.
 * Refusals in auth-failed statuses carry ThingsBoard's words as the `reason` parameter.
 */
import { ownerOf, statusView as sharedStatusView, useLink as sharedUseLink, type LinkOwner, type LinkUse as SharedLinkUse, type LinkUserHooks, type StatusView } from "../transport/link-users.js";
import type { TbConnection, TbIncoming, TbLink, TbLinkStatus } from "./link-base.js";

export type { StatusFill, StatusView } from "../transport/link-users.js";

/** The object a thingsboard-device config node exposes (as its `thingsboard` property). */
export interface TbDeviceHandle extends LinkOwner<TbLink> {
  readonly connection: TbConnection;
  readonly gateway: boolean;
}

export type LinkUse = SharedLinkUse<TbLink>;

/** The node status for a link status; undefined = clear the status. */
export function statusView(status: TbLinkStatus, connection: TbConnection): StatusView | undefined {
  const view = sharedStatusView(status, connection === "local");
  if (view?.key.startsWith("auth-failed") === true) return { ...view, params: { ...view.params, reason: status.reason ?? "" } };
  return view;
}

/** Registers `userId` with the device and follows its link; undefined when the device is unusable. */
export function useLink(device: TbDeviceHandle, userId: string, hooks: LinkUserHooks<TbIncoming>): LinkUse | undefined {
  // The shared glue has no auth-failed reason; this wrapper adds it from the link's status.
  const ref: { link?: TbLink } = {};
  const wrapped: LinkUserHooks<TbIncoming> = {
    ...hooks,
    status: (view) => {
      const current = ref.link?.status;
      hooks.status(view?.key.startsWith("auth-failed") === true && current !== undefined ? statusView(current, device.connection) : view);
    },
  };
  const use = sharedUseLink<TbIncoming, TbLink>(device, userId, device.connection === "local", wrapped);
  ref.link = use?.link;
  if (use?.link.status.state === "auth-failed") wrapped.status(statusView(use.link.status, device.connection));
  return use;
}

/** The handle of a thingsboard-device config node (what RED.nodes.getNode gave), or undefined for anything else. */
export function deviceHandleOf(node: unknown): TbDeviceHandle | undefined {
  const owner = ownerOf<TbLink>(node, "thingsboard");
  return owner !== undefined && "connection" in owner ? (owner as TbDeviceHandle) : undefined;
}
