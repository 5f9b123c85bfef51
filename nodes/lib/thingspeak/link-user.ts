/**
 * The ThingSpeak face of the shared config-node/flow-node glue in transport/link-users.ts: what a
 * `thingspeak-channel` config node offers its flow nodes, with the status of writes waiting for
 * the update interval added to the shared status views.
 */
import { ownerOf, statusView as sharedStatusView, useLink as sharedUseLink, type LinkOwner, type LinkUse as SharedLinkUse, type LinkUserHooks, type StatusView } from "../transport/link-users.js";
import type { ThingSpeakConnection, ThingSpeakIncoming, ThingSpeakLink, ThingSpeakLinkStatus } from "./link-base.js";

export type { StatusFill, StatusView } from "../transport/link-users.js";

/** The object a thingspeak-channel config node exposes (as its `thingspeak` property). */
export interface ThingSpeakChannelHandle extends LinkOwner<ThingSpeakLink> {
  readonly connection: ThingSpeakConnection;
  /** The ThingSpeak channel id; undefined when the configuration is unusable. */
  readonly channelId: number | undefined;
  /** Writes are possible: a write API key is set (rest), or the mode needs none. */
  readonly writable: boolean;
}

export type LinkUse = SharedLinkUse<ThingSpeakLink>;

/**
 * The node status for a link status; undefined = clear it. While connected, writes waiting for
 * the update interval show as "N pending, next in X s" (blue: nothing is wrong).
 */
export function statusView(status: ThingSpeakLinkStatus, connection: ThingSpeakConnection): StatusView | undefined {
  const view = sharedStatusView(status, connection === "local");
  const pending = status.pending;
  // Only writes waiting for their turn: an update on its way right now is no news worth a flicker.
  if (view === undefined || status.state !== "connected" || pending?.nextInMs === undefined) return view;
  return { fill: "blue", shape: "dot", key: "pending-short", params: { count: pending.fields, seconds: Math.ceil(pending.nextInMs / 1000) } };
}

/** Registers `userId` with the channel and follows its link; undefined when the channel is unusable. */
export function useLink(channel: ThingSpeakChannelHandle, userId: string, hooks: LinkUserHooks<ThingSpeakIncoming>): LinkUse | undefined {
  return sharedUseLink(channel, userId, (status: ThingSpeakLinkStatus) => statusView(status, channel.connection), hooks);
}

/** The handle of a thingspeak-channel config node (what RED.nodes.getNode gave), or undefined for anything else. */
export function channelHandleOf(node: unknown): ThingSpeakChannelHandle | undefined {
  const owner = ownerOf<ThingSpeakLink>(node, "thingspeak");
  return owner !== undefined && "connection" in owner && "writable" in owner ? (owner as ThingSpeakChannelHandle) : undefined;
}
