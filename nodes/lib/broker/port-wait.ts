/**
 * Listeners whose port another program holds: the broker runs without them and tries again
 * after 1 s, 2 s, 4 s ... up to every 30 s, for as long as it is deployed, so it recovers by
 * itself once the port is free (a second Node-RED or a mosquitto stopped, a redeploy elsewhere).
 */
import { ListenError } from "./listeners.js";
import type { ListenerConfig } from "./types.js";

export interface PortWaitOptions {
  /** First wait in ms (doubled after each failed try). */
  firstMs?: number;
  /** Longest wait in ms. */
  maxMs?: number;
}

export interface PortWaitHooks {
  /** A listener's port was found busy for the first time; it is tried again after `delayMs`. */
  busy(err: ListenError, config: ListenerConfig): void;
  /** A listener that waited for its port listens now. */
  listening(config: ListenerConfig): void;
  /** A later try failed otherwise than with a busy port; this listener is given up. */
  failed(err: unknown, config: ListenerConfig): void;
}

export const PORT_WAIT_FIRST_MS = 1000;
export const PORT_WAIT_MAX_MS = 30_000;

export class PortWait {
  readonly #hooks: PortWaitHooks;
  readonly #firstMs: number;
  readonly #maxMs: number;
  readonly #waiting = new Set<ListenerConfig>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #cancelled = false;

  constructor(hooks: PortWaitHooks, options: PortWaitOptions = {}) {
    this.#hooks = hooks;
    this.#firstMs = options.firstMs ?? PORT_WAIT_FIRST_MS;
    this.#maxMs = options.maxMs ?? PORT_WAIT_MAX_MS;
  }

  /** How many listeners wait for their port. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Listens once. A busy port resolves `false` and keeps trying in the background; any other
   * failure rejects as `listen` did. Resolves `true` when it listens at the first try.
   */
  async listen(config: ListenerConfig, listen: () => Promise<unknown>): Promise<boolean> {
    try {
      await listen();
      return true;
    } catch (err) {
      if (!busyPort(err) || this.#cancelled) throw err;
      this.#waiting.add(config);
      guarded(() => {
        this.#hooks.busy(err, config);
      });
      this.#retry(config, listen, this.#firstMs);
      return false;
    }
  }

  /** Stops every pending try (no timer is left); a try under way ends when the engine closes. */
  cancel(): void {
    this.#cancelled = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#waiting.clear();
  }

  #retry(config: ListenerConfig, listen: () => Promise<unknown>, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#cancelled) return;
      listen().then(
        () => {
          if (this.#cancelled) return;
          this.#waiting.delete(config);
          guarded(() => {
            this.#hooks.listening(config);
          });
        },
        (err: unknown) => {
          if (this.#cancelled) return;
          if (busyPort(err)) {
            this.#retry(config, listen, Math.min(delayMs * 2, this.#maxMs));
            return;
          }
          this.#waiting.delete(config);
          guarded(() => {
            this.#hooks.failed(err, config);
          });
        },
      );
    }, delayMs);
    this.#timers.add(timer);
  }
}

/** A hook that throws must not become an unhandled rejection (it would stop Node-RED). */
function guarded(hook: () => void): void {
  try {
    hook();
  } catch {
    // Nothing to report it to: the hooks are the reporting.
  }
}

function busyPort(err: unknown): err is ListenError {
  return err instanceof ListenError && err.code === "address-in-use";
}
