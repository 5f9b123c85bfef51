/**
 * The Blynk face of the shared config-node/flow-node glue in transport/link-users.ts: what a
 * `blynk-device` config node offers its flow nodes, with Blynk's link and message types.
 */
import { ownerOf, statusView as sharedStatusView, useLink as sharedUseLink, type LinkOwner, type LinkUse as SharedLinkUse, type LinkUserHooks, type StatusView } from "../transport/link-users.js";
import type { BlynkConnection, BlynkIncoming, BlynkLink, BlynkLinkStatus } from "./link-base.js";

export type { StatusFill, StatusView } from "../transport/link-users.js";

/** The object a blynk-device config node exposes (as its `blynk` property). */
export interface BlynkDeviceHandle extends LinkOwner<BlynkLink> {
  readonly connection: BlynkConnection;
  /** local mode hosting a fleet (docs/ARCHITECTURE.md 3.8). */
  readonly fleet?: boolean;
}

export type LinkUse = SharedLinkUse<BlynkLink>;

/** The node status for a link status; undefined = clear the status. */
export function statusView(status: BlynkLinkStatus, connection: BlynkConnection): StatusView | undefined {
  return sharedStatusView(status, connection === "local");
}

/** Registers `userId` with the device and follows its link; undefined when the device is unusable. */
export function useLink(device: BlynkDeviceHandle, userId: string, hooks: LinkUserHooks<BlynkIncoming>): LinkUse | undefined {
  return sharedUseLink(device, userId, (status: BlynkLinkStatus) => statusView(status, device.connection), hooks);
}

/** The handle of a blynk-device config node (what RED.nodes.getNode gave), or undefined for anything else. */
export function deviceHandleOf(node: unknown): BlynkDeviceHandle | undefined {
  const owner = ownerOf<BlynkLink>(node, "blynk");
  return owner !== undefined && "connection" in owner ? (owner as BlynkDeviceHandle) : undefined;
}
