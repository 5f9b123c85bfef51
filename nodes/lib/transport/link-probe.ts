/**
 * One bounded try of a link, for the editor's "Test connection" button: start a link made from
 * the dialog's settings, wait for the first thing it finds out (connected, credentials refused,
 * server unreachable) or for the deadline, then close it. The link is the one the config node
 * would use (same codecs, clients and redaction), so the answer is what a deploy would meet.
 * Node-RED-free; the node layer words the outcome.
 */
import { toError } from "./errors.js";
import type { LinkStatus } from "./pubsub.js";

/** What a probe needs of a link (every DeviceLink). */
export interface ProbedLink {
  readonly status: LinkStatus;
  readonly ready: boolean;
  on(event: "status", listener: (status: LinkStatus) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  off(event: "status", listener: (status: LinkStatus) => void): unknown;
  off(event: "ready", listener: () => void): unknown;
  start(): void;
  close(): Promise<void>;
}

export type ProbeOutcome =
  | { kind: "connected" }
  /** The server answered and refused the credentials; `refusal` is its CONNACK code or HTTP status when it gave one. */
  | { kind: "refused"; reason: string; refusal?: number }
  /** The server could not be reached, or dropped the attempt; `cause` classifies the reason. */
  | { kind: "unreachable"; reason: string; cause: UnreachableCause }
  /** Nothing decisive within the deadline. */
  | { kind: "timeout" };

export interface ProbeOptions {
  timeoutMs: number;
  /**
   * A request that proves the link, for modes that send nothing on start (an HTTP API): it
   * settles the probe itself (resolved: connected) unless a status did first.
   */
  request?: (link: ProbedLink) => Promise<unknown>;
}

type UnreachableCause = "dns" | "port-closed" | "timeout" | "tls" | "other";

/**
 * The cause of an unreachable server, from the reason words of transport/mqtt-reasons.ts and the
 * HTTP client. Addresses are taken out first: a URL's query (`?timeout=60000`) or a host named
 * "tls.example.com" says nothing about why the attempt failed.
 */
export function unreachableCause(reason: string): UnreachableCause {
  const words = reason
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)]*/gi, "<url>")
    .replace(/\[[0-9a-f:.]+\](?::\d+)?/gi, "<host>")
    .replace(/\b[\w-]+(?:\.[\w-]+)+(?::\d+)?\b/g, "<host>")
    .replace(/\b[\w-]+:\d+\b/g, "<host>");
  if (/ENOTFOUND|EAI_AGAIN|host name of .* not found|getaddrinfo/i.test(words)) return "dns";
  if (/ECONNREFUSED|connection refused/i.test(words)) return "port-closed";
  if (/certificate|\bTLS\b|\bSSL\b|ERR_TLS|ERR_SSL/i.test(words)) return "tls";
  if (/timed? ?out|did not answer|ETIMEDOUT/i.test(words)) return "timeout";
  return "other";
}

/** The cause of a failed request: from its codes (TransportError, Node's socket codes) when it has them, else its words. */
export function errorCause(err: unknown): UnreachableCause {
  for (let e: unknown = err, depth = 0; typeof e === "object" && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") continue;
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "dns";
    if (code === "ECONNREFUSED") return "port-closed";
    if (code === "ETIMEDOUT" || code === "timeout") return "timeout";
    if (/^ERR_TLS|^ERR_SSL|CERT|^DEPTH_ZERO|^SELF_SIGNED/.test(code)) return "tls";
    // The server answered (an error status, nonsense, slow down): reachable, whatever its words say.
    if (code === "http" || code === "protocol" || code === "rate-limited" || code === "auth") return "other";
  }
  return unreachableCause(toError(err).message);
}

/**
 * Starts `link` (made, not started), resolves with the first outcome, and always closes it
 * before resolving. Never rejects: a throw from the link is an "unreachable" with its words.
 */
export async function probeLink(link: ProbedLink, options: ProbeOptions): Promise<ProbeOutcome> {
  let settle: (outcome: ProbeOutcome) => void = () => undefined;
  const decided = new Promise<ProbeOutcome>((resolve) => {
    settle = resolve;
  });
  const fromStatus = (status: LinkStatus): ProbeOutcome | undefined => {
    if (status.state === "auth-failed") return { kind: "refused", reason: status.reason ?? "", ...(status.refusal === undefined ? {} : { refusal: status.refusal }) };
    // The initial "not started" is no finding; any later disconnected status is the attempt's failure.
    if (status.state === "disconnected" && status.reason !== undefined && status.reason !== "not started") {
      return { kind: "unreachable", reason: status.reason, cause: unreachableCause(status.reason) };
    }
    if (status.state === "connected" && options.request === undefined) return { kind: "connected" };
    return undefined;
  };
  const onStatus = (status: LinkStatus): void => {
    const outcome = fromStatus(status);
    if (outcome !== undefined) settle(outcome);
  };
  const onReady = (): void => {
    if (options.request === undefined) settle({ kind: "connected" });
  };
  const timer = setTimeout(() => { settle({ kind: "timeout" }); }, options.timeoutMs);
  link.on("status", onStatus);
  link.on("ready", onReady);
  try {
    link.start();
    if (options.request !== undefined) {
      options.request(link).then(
        () => { settle({ kind: "connected" }); },
        (err: unknown) => {
          // The link's status usually said it first (refused, unreachable); this is the rest.
          const outcome = fromStatus(link.status);
          const reason = toError(err).message;
          settle(outcome ?? { kind: "unreachable", reason, cause: errorCause(err) });
        },
      );
    } else if (link.ready) {
      settle({ kind: "connected" });
    }
  } catch (err) {
    settle({ kind: "unreachable", reason: toError(err).message, cause: errorCause(err) });
  }
  const outcome = await decided;
  clearTimeout(timer);
  link.off("status", onStatus);
  link.off("ready", onReady);
  await link.close().catch(() => undefined);
  return outcome;
}
