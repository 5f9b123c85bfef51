/**
 * One emulation plugin per platform per engine, shared by every hosted device of that platform:
 * the first user plugs it in, the last one to leave takes it out again.
 */
import type { BrokerEngine } from "./engine.js";
import type { BrokerPlugin } from "./types.js";

interface Shared {
  plugin: BrokerPlugin;
  users: number;
  remove: () => void;
}

const perEngine = new WeakMap<BrokerEngine, Map<string, Shared>>();

/** Returns the engine's plugin named `name`, creating and plugging it in first if needed, and a release function. */
export function acquirePlugin<P extends BrokerPlugin>(engine: BrokerEngine, name: string, create: () => P): { plugin: P; release: () => void } {
  let plugins = perEngine.get(engine);
  if (!plugins) {
    plugins = new Map();
    perEngine.set(engine, plugins);
  }
  let shared = plugins.get(name);
  if (!shared) {
    const plugin = create();
    if (plugin.name !== name) throw new Error(`plugin created for "${name}" is named "${plugin.name}"`);
    shared = { plugin, users: 0, remove: engine.addPlugin(plugin) };
    plugins.set(name, shared);
  }
  shared.users++;
  const held = shared;
  let released = false;
  return {
    plugin: held.plugin as P,
    release: () => {
      if (released) return;
      released = true;
      held.users--;
      if (held.users === 0) {
        held.remove();
        plugins.delete(name);
      }
    },
  };
}
