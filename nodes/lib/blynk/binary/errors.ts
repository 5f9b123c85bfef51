/**
 * The binary codec's errors. A broken frame is a `BlynkFrameError` (the stream cannot be
 * resynchronised after it, so the connection ends); a frame whose body makes no sense is a
 * TransportError "invalid" whose `status` is the Blynk status to answer it with (the connection
 * may go on). Neither ever quotes a token: only names, numbers and short non-secret fields.
 */
import { TransportError } from "../../transport/errors.js";
import { Status } from "./commands.js";

export type FrameErrorReason =
  /** A command the sending side never sends (or no command at all). */
  | "unknown-command"
  /** Message id 0: the device drops the connection on it (docs/PROTOCOLS.md 3.1). */
  | "zero-id"
  /** A body longer than the receiver's buffer. */
  | "oversize"
  /** A body length the command cannot have (a PING with a body, an empty HARDWARE). */
  | "bad-length"
  /** The stream ended inside a frame. */
  | "truncated";

export interface FrameFacts {
  command?: number;
  id?: number;
  length?: number;
}

/** A frame the decoder cannot accept; it stops after one. `reason` says which rule it broke. */
export class BlynkFrameError extends TransportError {
  readonly reason: FrameErrorReason;
  readonly command: number | undefined;
  readonly id: number | undefined;
  readonly length: number | undefined;

  constructor(reason: FrameErrorReason, message: string, facts: FrameFacts = {}) {
    super(reason === "oversize" ? "too-large" : "protocol", message);
    this.reason = reason;
    this.command = facts.command;
    this.id = facts.id;
    this.length = facts.length;
  }
}

/** A body the receiver cannot use, answered with ILLEGAL_COMMAND_BODY (11) unless `status` says. */
export function illegalBody(message: string, status: number = Status.ILLEGAL_COMMAND_BODY): TransportError {
  return new TransportError("invalid", message, { status });
}

/** An unknown sub-command (`xx` in HARDWARE): what a 1.x device answers with ILLEGAL_COMMAND (2). */
export function illegalCommand(message: string): TransportError {
  return illegalBody(message, Status.ILLEGAL_COMMAND);
}

/** Re-throws a codec-values refusal as an illegal body (keeping its words). */
export function asIllegalBody(err: unknown): TransportError {
  if (err instanceof TransportError && err.status !== undefined) return err;
  return illegalBody(err instanceof Error ? err.message : String(err));
}
