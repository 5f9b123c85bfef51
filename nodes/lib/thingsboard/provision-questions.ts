/**
 * Flows deciding a provisioning request (provisioning.ts `ask`): a question goes to whoever
 * listens (the `thingsboard-rpc` serve nodes of the fleet's config node) and waits at most
 * `waitMs` for `answer(id, approve)`; with nobody listening, or no answer in time, it resolves
 * undefined and the strategy decides. At most MAX_WAITING questions wait at once (more resolve
 * undefined at once): a provisioning flood cannot grow memory.
 */
import { TypedEmitter } from "../transport/typed-emitter.js";
import type { ProvisionQuestion } from "./provisioning.js";

export const MAX_WAITING = 100;

/** A question as flows see it: with the id their answer names. */
export interface AskedQuestion extends ProvisionQuestion {
  id: number;
}

export class ProvisionQuestions extends TypedEmitter<{ question: [AskedQuestion]; listenerError: [unknown, string] }> {
  readonly waitMs: number;
  readonly #waiting = new Map<number, { resolve: (approve: boolean | undefined) => void; timer: NodeJS.Timeout }>();
  #next = 0;

  constructor(waitMs: number) {
    super();
    this.waitMs = waitMs;
  }

  ask(question: ProvisionQuestion): Promise<boolean | undefined> {
    if (this.listenerCount("question") === 0 || this.#waiting.size >= MAX_WAITING) return Promise.resolve(undefined);
    const id = ++this.#next;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#settle(id, undefined); }, this.waitMs);
      this.#waiting.set(id, { resolve, timer });
      this.emit("question", { ...question, id });
    });
  }

  /** A flow's answer; false when the question is not waiting (answered already, or timed out). */
  answer(id: unknown, approve: boolean): boolean {
    return typeof id === "number" && this.#settle(id, approve);
  }

  /** Every waiting question resolves undefined (the strategy decides). */
  close(): void {
    for (const id of [...this.#waiting.keys()]) this.#settle(id, undefined);
  }

  #settle(id: number, approve: boolean | undefined): boolean {
    const waiting = this.#waiting.get(id);
    if (waiting === undefined) return false;
    this.#waiting.delete(id);
    clearTimeout(waiting.timer);
    waiting.resolve(approve);
    return true;
  }
}
