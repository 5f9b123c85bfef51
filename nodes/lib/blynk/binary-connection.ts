/**
 * One connection of binary mode's device session (binary-session.ts): its state, and the
 * library's heartbeat rule as a pure function (docs/PROTOCOLS.md 3.4).
 */
import { TransportError } from "../transport/errors.js";
import type { SocketAttempt } from "../transport/socket-session.js";
import { statusName, type FrameDecoder } from "./binary/index.js";

export interface Connection {
  attempt: SocketAttempt;
  decoder: FrameDecoder;
  /** The id of the next frame we send: 1..65535, wrapping to 1 (the login took 1). */
  nextId: number;
  loggedIn: boolean;
  /** performance.now() of the last frame in, out, and of our last PING. */
  lastIn: number;
  lastOut: number;
  lastPing: number;
  /** The login timeout, then the heartbeat tick. */
  timer: NodeJS.Timeout | undefined;
}

/**
 * As the library's run(): "ping" when nothing came or went for h-beat and the last ping is older
 * than the timeout; "dead" when nothing came for h-beat + 3 timeouts.
 */
export function heartbeat(conn: Pick<Connection, "lastIn" | "lastOut" | "lastPing">, now: number, heartbeatMs: number, timeoutMs: number): "ping" | "dead" | undefined {
  if (now - conn.lastIn > heartbeatMs + 3 * timeoutMs) return "dead";
  if ((now - conn.lastIn > heartbeatMs || now - conn.lastOut > heartbeatMs) && now - conn.lastPing > timeoutMs) return "ping";
  return undefined;
}

/** "INVALID_TOKEN (status 9)". */
export function describeStatus(status: number): string {
  return `${statusName(status) ?? "unknown status"} (status ${status})`;
}

export function whole(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TransportError("invalid", `${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}
