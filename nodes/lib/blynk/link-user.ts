/**
 * What a `blynk-device` config node offers the flow nodes that use it, and the glue those
 * nodes share: registering, following the link's status (pushed, never polled) and letting go.
 * Node-RED-free: status comes out as {fill, shape, key, params}; the node translates the key.
 */
import { toError } from "../transport/errors.js";
import type { BlynkConnection, BlynkIncoming, BlynkLink, BlynkLinkStatus } from "./link-base.js";
import type { BlynkConfigError } from "./link-config.js";

/** The object a blynk-device config node exposes (as its `blynk` property). */
export interface BlynkDeviceHandle {
  readonly connection: BlynkConnection;
  /** The config node's name (its id when unnamed): msg.blynk.device. */
  readonly deviceName: string;
  /** Why the device cannot be used; undefined when it can. */
  readonly problem: BlynkConfigError | undefined;
  /** Adds a user; the first one opens the link (local mode: open from the start). Undefined when unusable. */
  register(userId: string): BlynkLink | undefined;
  /** Removes a user; the link closes when the last one is removed for good (`removed`), not on a redeploy. */
  deregister(userId: string, removed: boolean): Promise<void>;
}

export type StatusFill = "red" | "green" | "yellow" | "grey" | "blue";

export interface StatusView {
  fill: StatusFill;
  shape: "dot" | "ring";
  /** Key under `blynk-device.status`. */
  key: string;
  params?: Record<string, string | number>;
}

/** The node status for a link status; undefined = clear the status. */
export function statusView(status: BlynkLinkStatus, connection: BlynkConnection): StatusView | undefined {
  const queued = status.queued > 0 ? { count: status.queued } : undefined;
  const withQueue = (view: StatusView): StatusView =>
    queued === undefined ? view : { ...view, key: `${view.key}-queued`, params: { ...view.params, ...queued } };
  switch (status.state) {
    case "closed":
      return undefined;
    case "connecting":
      return withQueue({ fill: "yellow", shape: "ring", key: "connecting" });
    case "auth-failed":
      return withQueue({ fill: "red", shape: "ring", key: "auth-failed" });
    case "disconnected":
      if (connection === "local") return withQueue({ fill: "red", shape: "ring", key: "broker-stopped" });
      return withQueue({ fill: "red", shape: "ring", key: "disconnected", params: { reason: status.reason ?? "" } });
    case "connected":
      if (status.deviceOnline === true) return withQueue({ fill: "green", shape: "dot", key: "device-online" });
      if (status.deviceOnline === false) return withQueue({ fill: connection === "local" ? "yellow" : "green", shape: "ring", key: "device-offline" });
      return withQueue({ fill: "green", shape: "dot", key: "connected" });
  }
}

export interface LinkUserHooks {
  status(view: StatusView | undefined): void;
  incoming?(message: BlynkIncoming): void;
  /** The link (re)connected: the moment to ask for current values. Also called at once if it already is. */
  ready?(): void;
  /** A hook threw: must not reach the link's socket or timer callbacks. */
  failed(err: Error): void;
}

export interface LinkUse {
  readonly link: BlynkLink;
  /** Stops listening and deregisters; resolves when the link closed if this was the last user. */
  release(removed: boolean): Promise<void>;
}

/** Registers `userId` with the device and follows its link; undefined when the device is unusable. */
export function useLink(device: BlynkDeviceHandle, userId: string, hooks: LinkUserHooks): LinkUse | undefined {
  const link = device.register(userId);
  if (link === undefined) return undefined;
  const guard = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A): void => {
    try {
      fn(...args);
    } catch (err) {
      try {
        hooks.failed(toError(err));
      } catch {
        // nothing left to tell
      }
    }
  };
  const onStatus = guard((status: BlynkLinkStatus) => { hooks.status(statusView(status, link.connection)); });
  const onIncoming = guard((message: BlynkIncoming) => { hooks.incoming?.(message); });
  const onReady = guard(() => { hooks.ready?.(); });
  link.on("status", onStatus);
  link.on("incoming", onIncoming);
  link.on("ready", onReady);
  onStatus(link.status);
  if (link.ready) onReady();
  let released = false;
  return {
    link,
    release: async (removed) => {
      if (released) return;
      released = true;
      link.off("status", onStatus);
      link.off("incoming", onIncoming);
      link.off("ready", onReady);
      await device.deregister(userId, removed);
    },
  };
}

/** The handle of a blynk-device config node (what RED.nodes.getNode gave), or undefined for anything else. */
export function deviceHandleOf(node: unknown): BlynkDeviceHandle | undefined {
  if (typeof node !== "object" || node === null) return undefined;
  const handle = (node as { blynk?: unknown }).blynk;
  if (typeof handle !== "object" || handle === null) return undefined;
  return typeof (handle as Partial<BlynkDeviceHandle>).register === "function" ? (handle as BlynkDeviceHandle) : undefined;
}
