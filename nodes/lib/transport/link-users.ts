/**
 * What every platform's config node (blynk-device, thingsboard-device, thingspeak-channel)
 * shares with the flow nodes that use it: one link per config node, opened for the first user
 * and closed when the last one is removed for good (not on a redeploy), status pushed to every
 * user as a Node-RED status view (each platform has its own view of its link's status, over the
 * shared one here), and hooks guarded so a user's bug never reaches the link's socket or timer
 * callbacks. Node-RED-free: views carry an i18n key the node translates.
 */
import type { DeviceLinkStatus } from "./device-link.js";
import { toError } from "./errors.js";

/** What useLink needs of a platform link. */
export interface UsableLink<S extends DeviceLinkStatus, Incoming> {
  readonly status: S;
  /** Connected and past its handshake. */
  readonly ready: boolean;
  on(event: "status", listener: (status: S) => void): this;
  on(event: "incoming", listener: (message: Incoming) => void): this;
  on(event: "ready", listener: () => void): this;
  off(event: "status", listener: (status: S) => void): this;
  off(event: "incoming", listener: (message: Incoming) => void): this;
  off(event: "ready", listener: () => void): this;
}

/** A configuration mistake, as an i18n key (under the config node's `errors`) and its interpolations. */
export interface ConfigProblem {
  key: string;
  params: Record<string, string>;
}

/** The object a config node exposes to its flow nodes. */
export interface LinkOwner<L> {
  /** The config node's name (its id when unnamed), for msg details. */
  readonly deviceName: string;
  /** Why the config node cannot be used; undefined when it can. */
  readonly problem: ConfigProblem | undefined;
  /** Adds a user; undefined when the config node is unusable. */
  register(userId: string): L | undefined;
  /** Removes a user; the link closes when the last one is removed for good (`removed`). */
  deregister(userId: string, removed: boolean): Promise<void>;
}

/** The users of one config node's link: opened lazily, shared, closed with the last user. */
export class LinkUsers<L extends { close(): Promise<void> }> {
  readonly #users = new Set<string>();
  readonly #open: () => L | undefined;
  readonly #keepOpen: boolean;
  #link: L | undefined;
  #closed = false;

  /** `keepOpen`: the link lives as long as the config node (e.g. Node-RED serving a hosted device). */
  constructor(open: () => L | undefined, options: { keepOpen?: boolean } = {}) {
    this.#open = open;
    this.#keepOpen = options.keepOpen ?? false;
    if (this.#keepOpen) this.#link = open();
  }

  get link(): L | undefined {
    return this.#link;
  }

  register(userId: string): L | undefined {
    if (this.#closed) return undefined;
    this.#users.add(userId);
    this.#link ??= this.#open();
    return this.#link;
  }

  async deregister(userId: string, removed: boolean): Promise<void> {
    this.#users.delete(userId);
    if (!removed || this.#users.size > 0 || this.#keepOpen || this.#link === undefined) return;
    const ending = this.#link;
    this.#link = undefined;
    await ending.close();
  }

  /** The config node itself closes: the link goes whatever its users say. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#users.clear();
    const ending = this.#link;
    this.#link = undefined;
    await ending?.close();
  }
}

export type StatusFill = "red" | "green" | "yellow" | "grey" | "blue";

export interface StatusView {
  fill: StatusFill;
  shape: "dot" | "ring";
  /** Key under the config node's `status` catalog section. */
  key: string;
  params?: Record<string, string | number>;
}

/** Canvas statuses stay short (about 30 characters): the detail goes to one warning per problem (LinkProblems). */
export const STATUS_TEXT_MAX = 30;

/**
 * The node status for a link status, as every platform shows it; undefined = clear it. `local`:
 * Node-RED serves a hosted device, so "disconnected" means the iot-broker node stopped (unless
 * the device is not hosted: "not hosted"), and an offline device is a yellow ring (nothing is
 * wrong with Node-RED). No reason in the text: it is in the config node's warning (linkProblem).
 */
export function statusView(status: DeviceLinkStatus, local: boolean): StatusView | undefined {
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
      if (local && status.hosted !== false) return withQueue({ fill: "red", shape: "ring", key: "broker-stopped" });
      // A device that is not hosted (another has its token) is no stopped broker: the warning says why.
      return withQueue({ fill: "red", shape: "ring", key: local ? "not-hosted" : "no-connection" });
    case "connected":
      if (status.fleet !== undefined) {
        const { online, total } = status.fleet;
        return withQueue({ fill: online > 0 ? "green" : "yellow", shape: online > 0 ? "dot" : "ring", key: "fleet-online", params: { online: String(online), total: String(total) } });
      }
      if (status.deviceOnline === true) return withQueue({ fill: "green", shape: "dot", key: "device-online" });
      if (status.deviceOnline === false) return withQueue({ fill: local ? "yellow" : "green", shape: "ring", key: "device-offline" });
      return withQueue({ fill: "green", shape: "dot", key: "connected" });
  }
}

/** A problem a status is about, as a key under the config node's `warnings` and its detail. */
export interface LinkProblem {
  key: "auth-failed" | "disconnected" | "not-hosted";
  reason: string;
}

/** The problem `status` reports (undefined: none, or one the status says all of: a stopped broker, the broker node's own). */
export function linkProblem(status: DeviceLinkStatus, local: boolean): LinkProblem | undefined {
  const reason = status.reason ?? "";
  if (status.state === "auth-failed") return { key: "auth-failed", reason };
  if (status.state !== "disconnected" || reason === "" || reason === "not started") return undefined;
  if (local) return status.hosted === false ? { key: "not-hosted", reason } : undefined;
  return { key: "disconnected", reason };
}

/**
 * Says each distinct problem once (a retry that meets it again is quiet), and the same problem
 * again only after REPEAT_MS: a connect in between does not make it news, since an HTTP mode is
 * "connected" after every request that works (a ThingSpeak REST channel whose writes succeed and
 * whose read key is refused alternated connected / refused on every poll, and warned on each).
 * Bounded, so a reason that changes on every attempt cannot grow it without end. The first drop
 * of a connection that was up is not news by itself (a blip, or a server taking the session
 * over, which the link reports on its own): the attempt after it tells whether the server is gone.
 */
export class LinkProblems {
  static readonly MAX = 16;
  /** How long a problem said stays said: about one warning per problem per 10 minutes at most. */
  static readonly REPEAT_MS = 10 * 60_000;
  /** Problem id -> when it was said. */
  readonly #said = new Map<string, number>();
  readonly #now: () => number;
  #wasConnected = false;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Whether `problem` is news. */
  note(problem: LinkProblem | undefined, connected: boolean): boolean {
    if (connected) {
      this.#wasConnected = true;
      return false;
    }
    if (problem === undefined) return false;
    const drop = this.#wasConnected && problem.key === "disconnected";
    this.#wasConnected = false;
    if (drop) return false;
    const now = this.#now();
    const id = `${problem.key}\u0000${problem.reason}`;
    const said = this.#said.get(id);
    if (said !== undefined && now - said < LinkProblems.REPEAT_MS) return false;
    if (said === undefined && this.#said.size >= LinkProblems.MAX) {
      for (const [other, at] of this.#said) if (now - at >= LinkProblems.REPEAT_MS) this.#said.delete(other);
      if (this.#said.size >= LinkProblems.MAX) return false;
    }
    this.#said.set(id, now);
    return true;
  }
}

export interface LinkUserHooks<Incoming> {
  status(view: StatusView | undefined): void;
  incoming?(message: Incoming): void;
  /** The link (re)connected: the moment to ask for current values. Also called at once if it already is. */
  ready?(): void;
  /** A hook threw: reported here instead of reaching the link. */
  failed(err: Error): void;
}

export interface LinkUse<L> {
  readonly link: L;
  /** Stops listening and deregisters; resolves when the link closed if this was the last user. */
  release(removed: boolean): Promise<void>;
}

/** How a platform shows its link's status (its own view over `statusView`). */
export type StatusViewOf<S> = (status: S) => StatusView | undefined;

/**
 * Registers `userId` with the owner and follows its link, its statuses shown through `view`;
 * undefined when the owner is unusable.
 */
export function useLink<S extends DeviceLinkStatus, Incoming, L extends UsableLink<S, Incoming>>(
  owner: LinkOwner<L>,
  userId: string,
  view: StatusViewOf<S>,
  hooks: LinkUserHooks<Incoming>,
): LinkUse<L> | undefined {
  const link = owner.register(userId);
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
  const onStatus = guard((status: S) => { hooks.status(view(status)); });
  const onIncoming = guard((message: Incoming) => { hooks.incoming?.(message); });
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
      await owner.deregister(userId, removed);
    },
  };
}

/** The owner a config node exposes under `property` (what RED.nodes.getNode gave), or undefined for anything else. */
export function ownerOf<L>(node: unknown, property: string): LinkOwner<L> | undefined {
  if (typeof node !== "object" || node === null) return undefined;
  const owner = (node as Record<string, unknown>)[property];
  if (typeof owner !== "object" || owner === null) return undefined;
  return typeof (owner as Partial<LinkOwner<L>>).register === "function" ? (owner as LinkOwner<L>) : undefined;
}
