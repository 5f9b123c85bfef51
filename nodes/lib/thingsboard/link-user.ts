/**
 * The ThingsBoard face of the shared config-node/flow-node glue in transport/link-users.ts:
 * what a `thingsboard-device` config node offers its flow nodes, with ThingsBoard's types.
 * Refusals in auth-failed statuses are named in ThingsBoard's words, from the refusal code.
 */
import { ownerOf, statusView as sharedStatusView, useLink as sharedUseLink, type LinkOwner, type LinkUse as SharedLinkUse, type LinkUserHooks, type StatusView } from "../transport/link-users.js";
import { describeConnack } from "./codec.js";
import { describeHttpStatus } from "./http-codec.js";
import type { ProvisionQuestions } from "./provision-questions.js";
import type { TbConnection, TbIncoming, TbLink, TbLinkStatus } from "./link-base.js";

export type { StatusFill, StatusView } from "../transport/link-users.js";

/** The object a thingsboard-device config node exposes (as its `thingsboard` property). */
export interface TbDeviceHandle extends LinkOwner<TbLink> {
  readonly connection: TbConnection;
  readonly gateway: boolean;
  /** local mode hosting a fleet (docs/ARCHITECTURE.md 3.8). */
  readonly fleet?: boolean;
  /** A fleet that devices may join by provisioning: its requests, for rpc serve nodes to approve or veto. */
  readonly provisioning?: ProvisionQuestions;
}

export type LinkUse = SharedLinkUse<TbLink>;

/** A refusal code in ThingsBoard's words: an HTTP status in http mode, a CONNACK code otherwise. */
export function refusalWords(code: number, connection: TbConnection): string {
  return connection === "http" ? describeHttpStatus(code) : describeConnack(code);
}

/**
 * The node status for a link status; undefined = clear the status. A refusal is "refused" (the
 * access token or the basic credentials); its words (refusalWords) go to the config node's warning.
 */
export function statusView(status: TbLinkStatus, connection: TbConnection): StatusView | undefined {
  const view = sharedStatusView(status, connection === "local");
  if (view === undefined || status.state !== "auth-failed") return view;
  return { ...view, key: view.key.replace(/^auth-failed/, "refused") };
}

/** The detail of a refusal for the warning: the code in ThingsBoard's words when there is one. */
export function refusalDetail(status: TbLinkStatus, connection: TbConnection): string {
  return status.state === "auth-failed" && status.refusal !== undefined ? refusalWords(status.refusal, connection) : (status.reason ?? "");
}

/** Registers `userId` with the device and follows its link; undefined when the device is unusable. */
export function useLink(device: TbDeviceHandle, userId: string, hooks: LinkUserHooks<TbIncoming>): LinkUse | undefined {
  return sharedUseLink(device, userId, (status: TbLinkStatus) => statusView(status, device.connection), hooks);
}

/** The handle of a thingsboard-device config node (what RED.nodes.getNode gave), or undefined for anything else. */
export function deviceHandleOf(node: unknown): TbDeviceHandle | undefined {
  const owner = ownerOf<TbLink>(node, "thingsboard");
  return owner !== undefined && "connection" in owner ? (owner as TbDeviceHandle) : undefined;
}
