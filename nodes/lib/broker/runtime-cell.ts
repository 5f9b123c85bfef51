/**
 * Where one hosting keeps the runtime of its device on the current engine (broker/hosting.ts
 * sets it as engines come and go), why the device is not hosted when it is not, and the state
 * the platform keeps while no engine runs: what every hosted-device handle of the hosting
 * follows, an adopting one after a redeploy too (docs/ARCHITECTURE.md 3.5).
 */
import type { DeviceStore } from "./device-store.js";

/** What a handle follows: the current runtime of a hosting, and its changes. */
export interface FollowedRuntime<R> {
  readonly runtime: R | undefined;
  /** The device's state while no runtime runs, when the platform keeps it. */
  offlineStore(): DeviceStore | undefined;
  /** Why the device is not hosted (its claim failed, or the running engine could not add it), in words without secrets. */
  readonly problem: string | undefined;
  watch(watcher: (runtime: R | undefined) => void): () => void;
}

/** Where a hosting keeps its current runtime, for the handles that follow it (adopted ones too). */
export class RuntimeCell<R> implements FollowedRuntime<R> {
  runtime: R | undefined;
  /** The claim's failure: for as long as the hosting lasts. */
  claimProblem: string | undefined;
  offlineStore: () => DeviceStore | undefined = () => undefined;
  /** The running engine's failure to add the device: until that engine goes. */
  #engineProblem: string | undefined;
  readonly #watchers = new Set<(runtime: R | undefined) => void>();

  get problem(): string | undefined {
    return this.claimProblem ?? this.#engineProblem;
  }

  set(runtime: R | undefined): void {
    this.runtime = runtime;
    this.#engineProblem = undefined;
    this.#notify();
  }

  /** The running engine could not add the device. */
  failed(problem: string): void {
    this.runtime = undefined;
    this.#engineProblem = problem;
    this.#notify();
  }

  #notify(): void {
    for (const watch of [...this.#watchers]) watch(this.runtime);
  }

  watch(watcher: (runtime: R | undefined) => void): () => void {
    this.#watchers.add(watcher);
    return () => {
      this.#watchers.delete(watcher);
    };
  }
}
