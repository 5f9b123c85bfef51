/**
 * The one contract between a platform that hosts a device on an `iot-broker` node and the
 * local-mode link that serves it to flows (docs/ARCHITECTURE.md 3.5).
 *
 * A platform's emulation keeps, per engine, one runtime per hosted device (`HostedRuntime`):
 * it parses what the device sends once (over MQTT, HTTP or any other protocol the platform
 * speaks), keeps the device's state in a `DeviceStore`, and tells its listeners. `hostDevice`
 * hosts the device on the broker's current engine and every later one and returns a
 * `HostedDeviceHandle`, which follows whichever runtime is current: it survives broker
 * restarts and redeploys (an unchanged device is adopted, see `hostAcrossRedeploys`), queues
 * (or refuses) what is sent while no broker runs, and closes cleanly.
 *
 * @example
 * ```ts
 * const handle = hostDevice({
 *   plugin: "blynk", brokerId, id, settings: device, offline: "queue",
 *   create: (engine) => new BlynkEmulation(engine),
 *   add: (plugin, report) => plugin.add(device, report),
 *   remove: (plugin) => { plugin.remove(device.id); },
 * }, (err) => { warn(err); });
 * handle.on("uplink", (m) => { deliver(m); });             // parsed by the emulation, once
 * handle.on("online", (s) => { setDeviceOnline(s.online); });
 * await handle.send({ kind: "ds", datastream: "Power", text: "1" });
 * const stored = handle.store?.entries("ds");                // undefined while no broker runs (unless the platform keeps it)
 * await handle.close();                                      // parks it during a redeploy
 * ```
 */
import { TransportError, toError } from "../transport/errors.js";
import { Outbox } from "../transport/outbox.js";
import type { LinkStatus } from "../transport/pubsub.js";
import { TypedEmitter } from "../transport/typed-emitter.js";
import type { DeviceListeners, OnlineState } from "./device-listeners.js";
import type { DeviceStore } from "./device-store.js";
import type { BrokerEngine } from "./engine.js";
import { hostOnBroker, keepAcrossRedeploys } from "./hosting.js";
import { RuntimeCell, type FollowedRuntime } from "./runtime-cell.js";
import type { BrokerPlugin } from "./types.js";

/** The handle's status: `hosted: false` while the device is not hosted at all (its `problem` is the reason), whether or not the broker runs. */
export interface HostedStatus extends LinkStatus {
  hosted?: false;
}

/** One hosted device on one engine, as a platform's emulation keeps it. */
export interface HostedRuntime<Up, Down, Ack, Info> {
  /** The device's state on this engine. */
  readonly store: DeviceStore;
  /** Who hears the device (the handles following this runtime). */
  readonly listeners: DeviceListeners<Up, Info>;
  /** Whether the device is connected now, and how. */
  onlineState(): OnlineState;
  /** What the device last said about itself (Blynk `info/mcu`), if anything. */
  info(): Info | undefined;
  /** Something from flows towards the device: stored as the platform stores it, then delivered. */
  send(message: Down): Promise<Ack>;
}

export type HostedDeviceEvents<Up, Info> = {
  /** What the device sent, parsed once by the emulation. */
  uplink: [Up];
  /** The device connected or went away (only changes; the first state once the broker runs). */
  online: [OnlineState];
  /** The device described itself (only changes). */
  info: [Info];
  /** The broker: `connected` while an engine hosts the device, `disconnected` otherwise (with `hosted: false` while it has a `problem`), `closed` at the end. */
  status: [HostedStatus];
  /** Problems worth a warning: the device's (duplicate token, bad uplinks) and the handle's (outbox overflow). */
  warning: [string];
};

/** A platform's plugin as hosting uses it: one per engine, adding and removing devices by id. */
export interface HostingPlugin<C, R> extends BrokerPlugin {
  /** Adds the device `claimed` describes to this engine; returns its runtime here. Throws if it cannot. */
  add(claimed: C, report: (err: Error) => void): R;
  remove(id: string): void;
}

/** How a platform hosts one device. */
export interface HostDeviceSpec<P extends HostingPlugin<C, R>, R, C> {
  /** The platform's plugin name (one plugin per engine). */
  plugin: string;
  /** The `iot-broker` node. */
  brokerId: string;
  /** The device's id: the id of the config node that hosts it (safe in topics). */
  id: string;
  /** Everything that defines the hosted device; an unchanged digest across a redeploy keeps it connected. */
  settings: unknown;
  /** What is sent while no broker runs: `queue` (bounded, oldest dropped; resolves at once) or `refuse` (rejects with code "network"). */
  offline: "queue" | "refuse";
  /** Sends queued while no broker runs; default 1000. */
  outboxLimit?: number;
  /**
   * Runs once per hosting, before any engine: checks the device and claims its credentials in
   * the platform's `HostedDirectory` (`runtime` finds the device on the engine running now, for
   * the HTTP APIs). Returns what `plugin.add` takes on every engine, and the release. A throw
   * means "not hosted": reported, and the handle's `problem`.
   */
  claim: (runtime: () => R | undefined) => { claimed: C; release: () => void };
  create: (engine: BrokerEngine) => P;
  /** The state the platform keeps of the device while no engine runs it (ThingSpeak's feed): `handle.store` then. */
  offlineStore?: (claimed: C) => DeviceStore;
}

/**
 * Hosts a device until the returned handle is closed, on the broker's current engine and every
 * later one. Never throws: problems (a device that cannot be hosted, a duplicate credential, a
 * later engine refusing it) go to `onError`.
 */
export function hostDevice<P extends HostingPlugin<C, R>, C, R extends HostedRuntime<never, never, unknown, unknown>>(
  spec: HostDeviceSpec<P, R, C>,
  onError: (err: unknown) => void,
): HandleOf<R> {
  // The kept hosting (new, or adopted across a redeploy) brings its cell: the handle follows it.
  const kept = keepAcrossRedeploys({ plugin: spec.plugin, brokerId: spec.brokerId, id: spec.id, settings: spec.settings }, onError, (report) => {
    const cell = new RuntimeCell<R>();
    const unhost = hostNow(spec, cell, report);
    // A failed claim is not kept through a redeploy: the re-created node claims again (the
    // device holding the credential may be gone by then).
    return { unhost, value: cell, keep: cell.claimProblem === undefined };
  });
  return new HostedDeviceHandle(kept.value, kept.unhost, spec.offline, spec.outboxLimit ?? 1000) as HandleOf<R>;
}

/** The handle that follows runtimes of type R. */
export type HandleOf<R> = R extends HostedRuntime<infer Up, infer Down, infer Ack, infer Info> ? HostedDeviceHandle<Up, Down, Ack, Info> : never;

/** For callers that host without following the device (tools, tests): the handle's close as an unhost function. */
export function unhostOf(handle: { close(): Promise<void> }): () => void {
  return () => {
    void handle.close();
  };
}

function hostNow<P extends HostingPlugin<C, R>, R, C>(spec: HostDeviceSpec<P, R, C>, cell: RuntimeCell<R>, onError: (err: unknown) => void): () => void {
  const report = (err: unknown): void => {
    try {
      onError(err);
    } catch {
      // The host's callback failing must not break the broker.
    }
  };
  let claim: { claimed: C; release: () => void };
  try {
    claim = spec.claim(() => cell.runtime);
  } catch (err) {
    const error = toError(err);
    cell.claimProblem = error.message;
    report(error);
    return () => undefined;
  }
  const { offlineStore } = spec;
  if (offlineStore !== undefined) {
    cell.offlineStore = () => offlineStore(claim.claimed);
  }
  const unhost = hostOnBroker(
    spec.brokerId,
    {
      plugin: spec.plugin,
      create: spec.create,
      add: (plugin) => plugin.add(claim.claimed, report),
      remove: (plugin) => {
        plugin.remove(spec.id);
      },
      runtime: (runtime) => {
        cell.set(runtime);
      },
      failed: (err) => {
        cell.failed(toError(err).message);
      },
    },
    report,
  );
  return () => {
    unhost();
    claim.release();
  };
}

interface Queued<Down> {
  message: Down;
}

/** What a local-mode link holds: the hosted device, whichever engine runs it now (see the module comment). */
export class HostedDeviceHandle<Up, Down, Ack, Info> extends TypedEmitter<HostedDeviceEvents<Up, Info>> {
  readonly #unhost: () => void;
  readonly #offline: "queue" | "refuse";
  readonly #outbox: Outbox<Queued<Down>>;
  readonly #unwatch: () => void;
  readonly #cell: FollowedRuntime<HostedRuntime<Up, Down, Ack, Info>>;
  #runtime: HostedRuntime<Up, Down, Ack, Info> | undefined;
  #unlisten: (() => void) | undefined;
  /** The runtime has the backlog: sends go straight to it. */
  #resumed = false;
  #status: HostedStatus;
  #online: OnlineState | undefined;
  #infoText: string | undefined;
  #closed = false;

  constructor(cell: FollowedRuntime<HostedRuntime<Up, Down, Ack, Info>>, unhost: () => void, offline: "queue" | "refuse", outboxLimit: number) {
    super();
    this.#unhost = unhost;
    this.#offline = offline;
    this.#outbox = new Outbox(outboxLimit);
    this.#cell = cell;
    this.#status = cell.problem === undefined ? { state: "disconnected", reason: "the iot-broker node is not running", queued: 0 } : { state: "disconnected", reason: cell.problem, queued: 0, hosted: false };
    this.#unwatch = cell.watch((runtime) => {
      this.#follow(runtime);
    });
    if (cell.runtime !== undefined) this.#follow(cell.runtime);
  }

  get status(): HostedStatus {
    return this.#status;
  }

  /** Why the device is not hosted (e.g. another device has its token, or the running engine could not add it); undefined otherwise. */
  get problem(): string | undefined {
    return this.#cell.problem;
  }

  /** The device's state while a broker runs it; otherwise what the platform keeps of it (ThingSpeak's feed), else undefined. */
  get store(): DeviceStore | undefined {
    if (this.#closed) return undefined;
    return this.#runtime?.store ?? this.#cell.offlineStore();
  }

  /** Whether the device is connected, while a broker runs it; undefined otherwise. */
  get online(): OnlineState | undefined {
    return this.#runtime?.onlineState();
  }

  /** What the device last said about itself, while a broker runs it. */
  get info(): Info | undefined {
    return this.#runtime?.info();
  }

  /** Towards the device. While no broker runs: queued (resolves at once) or refused, as the platform chose. */
  send(message: Down): Promise<Ack> {
    if (this.#closed) return Promise.reject(new TransportError("closed", "this hosted device was closed"));
    const runtime = this.#runtime;
    // Refused sends leave no backlog to keep order with: a running engine takes them at once.
    if (runtime !== undefined && (this.#resumed || this.#offline === "refuse")) return runtime.send(message);
    if (this.#offline === "refuse") return Promise.reject(new TransportError("network", "the iot-broker node is not running"));
    const dropped = this.#outbox.push({ message }).length;
    if (dropped > 0) {
      this.emit("warning", `the outbox is full (${this.#outbox.limit} messages) while the broker is not running: dropped the oldest`);
    }
    this.#setStatus({ ...this.#status, queued: this.#outbox.length });
    // Queued is as far as a stopped broker gets: `Ack` is void for platforms that queue.
    return Promise.resolve(undefined as Ack);
  }

  /** Stops following the device and unhosts it (a redeploy parks it for the node that replaces this one). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#unwatch();
    this.#unlisten?.();
    this.#unlisten = undefined;
    this.#runtime = undefined;
    this.#outbox.drain();
    this.#unhost();
    this.#setStatus({ state: "closed", queued: 0 });
    return Promise.resolve();
  }

  #follow(runtime: HostedRuntime<Up, Down, Ack, Info> | undefined): void {
    if (this.#closed) return;
    if (runtime === this.#runtime) {
      // Still none: why may have changed (an engine that could not add the device, or it went).
      if (runtime === undefined && this.#status.reason !== this.#stoppedReason()) this.#showStopped();
      return;
    }
    this.#unlisten?.();
    this.#unlisten = undefined;
    this.#runtime = runtime;
    this.#resumed = false;
    if (runtime === undefined) {
      this.#showStopped();
      return;
    }
    this.#unlisten = runtime.listeners.add({
      uplink: (m) => { this.emit("uplink", m); },
      online: (s) => { this.#onOnline(s); },
      info: (i) => { this.#onInfo(i); },
    });
    void this.#resume(runtime);
  }

  /** Sends the backlog in order, then goes straight through. */
  async #resume(runtime: HostedRuntime<Up, Down, Ack, Info>): Promise<void> {
    // Not before the caller of hostDevice (or of the engine's start) had a turn to listen.
    await Promise.resolve();
    // One at a time: what is not handed over yet stays queued if this runtime goes meanwhile,
    // for the next one (a whole drained batch would go on into the runtime that went away).
    while (this.#runtime === runtime) {
      const queued = this.#outbox.shift();
      if (queued === undefined) break;
      try {
        await runtime.send(queued.message);
      } catch (err) {
        this.emit("warning", `a message queued while the broker was not running was not delivered: ${toError(err).message}`);
      }
    }
    if (this.#runtime !== runtime) return;
    this.#resumed = true;
    this.#setStatus({ state: "connected", queued: 0 });
    this.#onOnline(runtime.onlineState());
    const info = runtime.info();
    if (info !== undefined) this.#onInfo(info);
  }

  #stoppedReason(): string {
    return this.#cell.problem ?? "the iot-broker node stopped";
  }

  #showStopped(): void {
    const hosted = this.#cell.problem === undefined ? {} : { hosted: false as const };
    this.#setStatus({ state: "disconnected", reason: this.#stoppedReason(), queued: this.#outbox.length, ...hosted });
  }

  #onOnline(state: OnlineState): void {
    if (state.online === this.#online?.online) return;
    this.#online = state;
    this.emit("online", state);
  }

  #onInfo(info: Info): void {
    const text = JSON.stringify(info);
    if (text === this.#infoText) return;
    this.#infoText = text;
    this.emit("info", info);
  }

  #setStatus(status: HostedStatus): void {
    this.#status = status;
    this.emit("status", status);
  }
}
