/**
 * Where platform nodes find a running broker by its node id. A broker node restarts on every
 * redeploy that touches it, while the nodes that use it may not, so users register a setup
 * function once: it runs for the current engine and for every later one, and the cleanup it
 * returns runs when that engine goes away.
 */
import type { BrokerEngine } from "./engine.js";

export type EngineSetup = (engine: BrokerEngine) => (() => void) | undefined;

export type SetupErrorHandler = (err: unknown) => void;

interface Registration {
  onError: SetupErrorHandler;
  cleanup: (() => void) | undefined;
}

interface Entry {
  engine: BrokerEngine | undefined;
  setups: Map<EngineSetup, Registration>;
}

export class BrokerRegistry {
  readonly #entries = new Map<string, Entry>();

  /** A broker node announces its running engine. */
  attach(brokerId: string, engine: BrokerEngine): void {
    const entry = this.#entry(brokerId);
    if (entry.engine) this.detach(brokerId);
    entry.engine = engine;
    // A snapshot: a setup registered by another one while this loop runs (a fleet hosting its
    // devices) has run already in `use`, and one removed meanwhile must not run.
    for (const [setup, reg] of [...entry.setups]) {
      if (entry.setups.get(setup) === reg && entry.engine === engine) reg.cleanup = runSetup(setup, engine, reg.onError);
    }
  }

  /** A broker node's engine is going away: every setup's cleanup runs now. */
  detach(brokerId: string, engine?: BrokerEngine): void {
    const entry = this.#entries.get(brokerId);
    if (!entry?.engine || (engine && entry.engine !== engine)) return;
    entry.engine = undefined;
    for (const reg of entry.setups.values()) {
      runCleanup(reg);
      reg.cleanup = undefined;
    }
    this.#prune(brokerId, entry);
  }

  /**
   * Runs `setup` with this broker's engine now (if running) and whenever it (re)starts; a throw
   * from the setup or its cleanup goes to `onError`. Returns an unregister function.
   */
  use(brokerId: string, setup: EngineSetup, onError: SetupErrorHandler): () => void {
    const entry = this.#entry(brokerId);
    const reg: Registration = { onError, cleanup: undefined };
    entry.setups.set(setup, reg);
    if (entry.engine) reg.cleanup = runSetup(setup, entry.engine, onError);
    return () => {
      if (entry.setups.get(setup) !== reg) return;
      runCleanup(reg);
      entry.setups.delete(setup);
      this.#prune(brokerId, entry);
    };
  }

  engine(brokerId: string): BrokerEngine | undefined {
    return this.#entries.get(brokerId)?.engine;
  }

  #entry(brokerId: string): Entry {
    let entry = this.#entries.get(brokerId);
    if (!entry) {
      entry = { engine: undefined, setups: new Map() };
      this.#entries.set(brokerId, entry);
    }
    return entry;
  }

  #prune(brokerId: string, entry: Entry): void {
    if (!entry.engine && entry.setups.size === 0) this.#entries.delete(brokerId);
  }
}

// Setups come from other nodes; one that throws must not stop the broker or the others.
function runSetup(setup: EngineSetup, engine: BrokerEngine, onError: SetupErrorHandler): (() => void) | undefined {
  try {
    return setup(engine);
  } catch (err) {
    onError(err);
    return undefined;
  }
}

function runCleanup(reg: Registration): void {
  try {
    reg.cleanup?.();
  } catch (err) {
    reg.onError(err);
  }
}

/** The one registry of this package: shared by every node through Node's module cache. */
export const brokers = new BrokerRegistry();
