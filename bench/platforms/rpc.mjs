// Request/response over Node's IPC channel, both ways, every call with a time limit. A small
// copy of the idea in bench/lib/ipc.mjs (owned by the broker benchmark, which may change), so
// the platform benchmark does not depend on a file under someone else's edits.

/** @param {{ send: Function, on: Function, off: Function }} channel `process` in a child, the ChildProcess in the parent. */
export function rpc(channel, name = "peer") {
  const handlers = new Map();
  const pending = new Map();
  let nextId = 1;

  const onMessage = async (msg) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "res") {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error !== undefined) p.reject(new Error(`${name}: ${msg.cmd}: ${msg.error}`));
      else p.resolve(msg.result);
      return;
    }
    if (msg.type !== "req") return;
    let reply;
    try {
      const handler = handlers.get(msg.cmd);
      if (!handler) throw new Error(`no handler for "${msg.cmd}"`);
      reply = { type: "res", id: msg.id, cmd: msg.cmd, result: await handler(msg.args ?? {}) };
    } catch (err) {
      reply = { type: "res", id: msg.id, cmd: msg.cmd, error: String(err?.stack ?? err) };
    }
    try {
      channel.send(reply);
    } catch {
      // the other side is gone
    }
  };
  channel.on("message", onMessage);

  return {
    handle(cmd, fn) {
      handlers.set(cmd, fn);
    },
    call(cmd, args = {}, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: "${cmd}" got no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        try {
          channel.send({ type: "req", id, cmd, args });
        } catch (err) {
          clearTimeout(timer);
          pending.delete(id);
          reject(err);
        }
      });
    },
    /** Fails every call still waiting (the other side exited). */
    abort(reason) {
      for (const [id, p] of pending) {
        clearTimeout(p.timer);
        pending.delete(id);
        p.reject(new Error(`${name}: ${reason}`));
      }
    },
    close() {
      channel.off("message", onMessage);
      this.abort("closed");
    },
  };
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export const wallMs = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Counts deliveries of one measured batch: messages carry a sequence number 0..n-1; anything
 * else (a late probe, a number seen twice) is counted apart, so `lost` is exact.
 */
export class Tally {
  constructor(n, { idleMs = 5000 } = {}) {
    this.n = n;
    this.seen = new Uint8Array(n);
    this.delivered = 0;
    this.duplicates = 0;
    this.strays = 0;
    this.firstAt = undefined;
    this.lastAt = undefined;
    this.idleMs = idleMs;
    this.done = new Promise((resolve) => (this._resolve = resolve));
    this._timer = undefined;
    this._armIdle();
  }

  deliver(seq) {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.n) {
      this.strays++;
      return;
    }
    if (this.seen[seq] === 1) {
      this.duplicates++;
      return;
    }
    this.seen[seq] = 1;
    this.delivered++;
    const now = wallMs();
    this.firstAt ??= now;
    this.lastAt = now;
    if (this.delivered === this.n) this.finish("complete");
    else if ((this.delivered & 255) === 0) this._armIdle(); // re-arming per message would cost more than it measures
  }

  /** Ends the count: complete, or `idleMs` without 256 new messages (the rest is lost). */
  finish(how) {
    if (this.how !== undefined) return;
    this.how = how;
    clearTimeout(this._timer);
    this._resolve(this.result());
  }

  result() {
    return {
      n: this.n, delivered: this.delivered, lost: this.n - this.delivered, duplicates: this.duplicates, strays: this.strays,
      firstAt: this.firstAt, lastAt: this.lastAt, how: this.how,
    };
  }

  _armIdle() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.finish("idle"), this.idleMs);
  }
}
