// A small request/response protocol over Node's IPC channel, symmetric: the orchestrator and
// each child can both `call` the other and `handle` calls. Every call has a time limit.

/**
 * @param {{ send: Function, on: Function, off: Function }} channel `process` in a child, the
 *   ChildProcess object in the parent.
 */
export function endpoint(channel, name = "peer") {
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
    const handler = handlers.get(msg.cmd);
    let reply;
    try {
      if (!handler) throw new Error(`no handler for "${msg.cmd}"`);
      reply = { type: "res", id: msg.id, cmd: msg.cmd, result: await handler(msg.args ?? {}) };
    } catch (err) {
      reply = { type: "res", id: msg.id, cmd: msg.cmd, error: String(err?.stack ?? err) };
    }
    try {
      channel.send(reply);
    } catch {
      // the other side is gone; nothing to answer
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

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Like sleep, but does not keep the process alive (for the losing side of a Promise.race). */
export const deadline = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** The soft limit on open files of this process, from /proc (null where unavailable). */
export async function openFilesLimit() {
  try {
    const { readFile } = await import("node:fs/promises");
    const text = await readFile("/proc/self/limits", "utf8");
    const line = text.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? null : Number(soft);
  } catch {
    return null;
  }
}
