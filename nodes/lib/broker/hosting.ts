/**
 * Hosting one device of a platform on an `iot-broker` node, the same for every platform: on the
 * broker's current engine and every later one (redeploys), acquire the platform's shared plugin
 * and add the device; when that engine goes away, or the device is unhosted, remove it again
 * and release the plugin.
 */
import type { BrokerEngine } from "./engine.js";
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
  /** The runtime on the running engine, or undefined while the broker is stopped. */
  runtime?: (runtime: R | undefined) => void;
}

/** Hosts until the returned function is called; errors (also from later engines) go to `onError`. */
export function hostOnBroker<P extends BrokerPlugin, R>(brokerId: string, spec: HostingSpec<P, R>, onError: (err: unknown) => void): () => void {
  let current: R | undefined;
  const unuse = brokers.use(
    brokerId,
    (engine) => {
      const { plugin, release } = acquirePlugin(engine, spec.plugin, () => spec.create(engine));
      let runtime: R;
      try {
        runtime = spec.add(plugin);
      } catch (err) {
        release();
        throw err;
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
