/**
 * Hosting one device of a platform on an `iot-broker` node, the same for every platform: on the
 * broker's current engine and every later one (redeploys), acquire the platform's shared plugin
 * and add the device; when that engine goes away, or the device is unhosted, remove it again
 * and release the plugin.
 */
import type { BrokerEngine } from "./engine.js";
import { isRedeploying, ParkingLot, settingsDigest } from "../transport/parking.js";
import { brokers } from "./registry.js";
import { acquirePlugin } from "./shared-plugin.js";
import type { BrokerPlugin } from "./types.js";

export interface HostingSpec<P extends BrokerPlugin, R> {
  /** The platform's plugin name (one plugin per engine). */
  plugin: string;
  create: (engine: BrokerEngine) => P;
  /** Adds the device to this engine's plugin; what it returns is the device's runtime there. */
  add: (plugin: P) => R;
  remove: (plugin: P) => void;
  /** The runtime on the running engine, or undefined while the broker is stopped (or once an engine that failed goes). */
  runtime?: (runtime: R | undefined) => void;
  /** The running engine could not host the device (after `onError` heard why); `runtime(undefined)` follows when that engine goes. */
  failed?: (err: unknown) => void;
}

/** Hosts until the returned function is called; errors (also from later engines) go to `onError`. */
export function hostOnBroker<P extends BrokerPlugin, R>(brokerId: string, spec: HostingSpec<P, R>, onError: (err: unknown) => void): () => void {
  let current: R | undefined;
  const unuse = brokers.use(
    brokerId,
    (engine) => {
      let plugin: P;
      let release: () => void;
      let runtime: R;
      try {
        ({ plugin, release } = acquirePlugin(engine, spec.plugin, () => spec.create(engine)));
        try {
          runtime = spec.add(plugin);
        } catch (err) {
          release();
          throw err;
        }
      } catch (err) {
        // This engine runs without the device: said now, and undone once the engine goes.
        onError(err);
        spec.failed?.(err);
        return () => {
          spec.runtime?.(undefined);
        };
      }
      current = runtime;
      spec.runtime?.(runtime);
      return () => {
        if (current === runtime) {
          current = undefined;
          spec.runtime?.(undefined);
        }
        spec.remove(plugin);
        release();
      };
    },
    onError,
  );
  let hosted = true;
  return () => {
    if (!hosted) return;
    hosted = false;
    unuse();
  };
}

/** A hosting kept through a redeploy; `onError` follows the link that adopted it. */
interface KeptHosting<T> {
  ownerId: string;
  sink: { onError: (err: unknown) => void };
  unhost: () => void;
  /** False for a hosting not worth keeping (it failed): the re-created node hosts afresh. */
  keep: boolean;
  /** What the hosting gives its users (e.g. the cell of its current runtime). */
  value: T;
}

const keptHostings = new ParkingLot<KeptHosting<unknown>>();

/** Who is hosted where, with which settings (secrets included: only their digest is kept). */
export interface HostedIdentity {
  plugin: string;
  brokerId: string;
  /** The device's id: the id of the config node that hosts it. */
  id: string;
  settings: unknown;
}

/**
 * Hosts through `host` (a platform's registration plus hostOnBroker) so that a redeploy which
 * re-creates the hosting config node with the same settings does not disconnect the device: an
 * unhost while Node-RED redeploys parks the hosting, and hosting the same device with the same
 * settings again adopts it (the device stays connected, its stored values stay). With other
 * settings the parked one goes first. Outside a redeploy, unhosting is immediate.
 */
export function hostAcrossRedeploys(what: HostedIdentity, onError: (err: unknown) => void, host: (report: (err: unknown) => void) => () => void): () => void {
  return keepAcrossRedeploys(what, onError, (report) => ({ unhost: host(report), value: undefined })).unhost;
}

/**
 * hostAcrossRedeploys for a hosting with a value: the new hosting's, or the adopted one's. A
 * hosting made with `keep: false` (it failed) is ended, not parked, by a redeploy.
 */
export function keepAcrossRedeploys<T>(
  what: HostedIdentity,
  onError: (err: unknown) => void,
  host: (report: (err: unknown) => void) => { unhost: () => void; value: T; keep?: boolean },
): { unhost: () => void; value: T } {
  const key = [what.plugin, what.brokerId, what.id].join("\u0000");
  let digest: string;
  try {
    digest = settingsDigest(what.settings);
  } catch {
    return host(onError); // settings that cannot be compared (the platform reports what is wrong with them)
  }
  const claimed = keptHostings.claim(key);
  let hosting: KeptHosting<T>;
  if (claimed?.digest === digest) {
    // Same key, same digest: the same platform's hosting, so its value has this caller's type.
    hosting = claimed.value as KeptHosting<T>;
    hosting.sink.onError = onError;
  } else {
    claimed?.discard();
    // Parked under another broker (the device moved): it still holds the token, and would make
    // this hosting fail as a duplicate until the sweep after the deploy.
    keptHostings.discardWhere((h) => h.ownerId === what.id);
    const sink = { onError };
    const made = host((err) => { sink.onError(err); });
    hosting = { ownerId: what.id, sink, unhost: made.unhost, value: made.value, keep: made.keep ?? true };
  }
  let hosted = true;
  return {
    value: hosting.value,
    unhost: () => {
      if (!hosted) return;
      hosted = false;
      if (isRedeploying() && hosting.keep) keptHostings.park(key, digest, hosting, (h) => { h.unhost(); });
      else hosting.unhost();
    },
  };
}

/** The config node `ownerId` was deleted: its device is unhosted now, not when the deploy ends. */
export function endKeptHosting(ownerId: string): void {
  keptHostings.discardWhere((h) => h.ownerId === ownerId);
}
