/**
 * Frames of Blynk's binary protocol (docs/PROTOCOLS.md 3.1): a 5-byte big-endian header (command
 * u8, message id u16, body length u16), then the body. A RESPONSE has no body: its length field
 * is the status. This file has the header rules shared by the decoder and the encoder.
 */
import { TransportError } from "../../transport/errors.js";
import { describeValue } from "../../transport/value-codec.js";
import { Command, describeCommand, sentBy, statusName, type Side } from "./commands.js";
import { BlynkFrameError } from "./errors.js";

export const HEADER_BYTES = 5;
/** What a device reads by default (`BLYNK_MAX_READBYTES`); a longer frame makes it reconnect. */
export const DEFAULT_MAX_BODY = 256;
/** The largest body a u16 length can announce. */
export const MAX_BODY = 0xffff;
export const MAX_ID = 0xffff;

/** One frame. `status` is set on a RESPONSE (whose body is empty) and only there. */
export interface Frame {
  command: number;
  id: number;
  status?: number;
  body: Buffer;
}

/** Bodies that must be empty (PING) or not empty (everything that carries fields). */
const EMPTY_ONLY = new Set<number>([Command.PING]);
const MAY_BE_EMPTY = new Set<number>([Command.HARDWARE_SYNC, Command.DEBUG_PRINT]);

/** Why `length` cannot be the body length of `command` (undefined when it can). RESPONSE is not asked. */
export function bodyLengthProblem(command: number, length: number): string | undefined {
  if (EMPTY_ONLY.has(command)) return length === 0 ? undefined : `a ${describeCommand(command)} has no body, got ${length} bytes`;
  if (length === 0 && !MAY_BE_EMPTY.has(command)) return `a ${describeCommand(command)} needs a body, got an empty one`;
  return undefined;
}

/** Checks a receive/send limit given by a caller. */
export function checkMaxBody(maxBody: unknown, what: string): number {
  if (typeof maxBody !== "number" || !Number.isInteger(maxBody) || maxBody < 1 || maxBody > MAX_BODY) {
    throw new TransportError("invalid", `${what} must be a whole number of bytes from 1 to ${MAX_BODY}, got ${describeValue(maxBody)}; accepted: e.g. ${DEFAULT_MAX_BODY} (a device's default) or the buff-in a device reported`);
  }
  return maxBody;
}

/**
 * The header rules in the order they are checked: a command `from` sends, a non-zero id, then
 * (not for RESPONSE) a body within `maxBody` and of a length the command can have.
 */
export function headerProblem(from: Side, command: number, id: number, length: number, maxBody: number): BlynkFrameError | undefined {
  const facts = { command, id, length };
  if (!sentBy(from).has(command)) {
    return new BlynkFrameError("unknown-command", `frame with command ${describeCommand(command)}, which a ${from} does not send (message id ${id}, length ${length})`, facts);
  }
  if (id === 0) return new BlynkFrameError("zero-id", `${describeCommand(command)} frame with message id 0 (ids run from 1 to ${MAX_ID})`, facts);
  if (command === Command.RESPONSE) return undefined;
  if (length > maxBody) {
    return new BlynkFrameError("oversize", `${describeCommand(command)} frame (message id ${id}) announces a ${length}-byte body; the limit is ${maxBody} bytes`, facts);
  }
  const problem = bodyLengthProblem(command, length);
  return problem === undefined ? undefined : new BlynkFrameError("bad-length", `${problem} (message id ${id})`, facts);
}

export interface FrameToSend {
  command: number;
  id: number;
  /** RESPONSE only. */
  status?: number;
  /** Not for RESPONSE; text is sent as UTF-8. */
  body?: Uint8Array | string;
}

export interface SendOptions {
  /** Who receives the frame: a "device" (we are its server) or a "server" (we are a device). */
  to: Side;
  /** The receiver's buffer: DEFAULT_MAX_BODY, or the `buff-in` a device reported. */
  maxBody?: number;
}

function refuse(message: string, code: "invalid" | "too-large" = "invalid"): TransportError {
  return new TransportError(code, message);
}

/**
 * Frame -> bytes, refusing what the receiver would drop the connection for: a command its peer
 * never sends it, id 0, an unknown status, a body over its buffer or of a length the command
 * cannot have.
 */
export function encodeFrame(frame: FrameToSend, options: SendOptions): Buffer {
  const given: unknown = options;
  if (typeof given !== "object" || given === null) throw refuse(`send options must be an object such as { to: "device" }, got ${describeValue(given)}`);
  const { command, id } = frame;
  const body: unknown = frame.body;
  if (body !== undefined && typeof body !== "string" && !(body instanceof Uint8Array)) throw refuse(`a frame body must be text or bytes, got ${describeValue(body)}`);
  const to: unknown = options.to;
  if (to !== "device" && to !== "server") throw refuse(`"to" must be "device" or "server", got ${describeValue(to)}`);
  const from: Side = options.to === "device" ? "server" : "device";
  const maxBody = checkMaxBody(options.maxBody ?? DEFAULT_MAX_BODY, "maxBody");
  if (!Number.isInteger(command) || !sentBy(from).has(command)) {
    const what = typeof command === "number" && Number.isInteger(command) ? describeCommand(command) : describeValue(command);
    throw refuse(`command ${what} is not one a ${from} sends a ${options.to}; a ${options.to} drops the connection on it`);
  }
  if (!Number.isInteger(id) || id < 1 || id > MAX_ID) throw refuse(`message id must be a whole number from 1 to ${MAX_ID}, got ${describeValue(id)}`);
  const out = Buffer.allocUnsafe(HEADER_BYTES + (command === Command.RESPONSE ? 0 : Buffer.byteLength(frame.body ?? "")));
  out[0] = command;
  out.writeUInt16BE(id, 1);
  if (command === Command.RESPONSE) {
    const status = frame.status;
    if (typeof status !== "number" || statusName(status) === undefined) {
      throw refuse(`RESPONSE status ${describeValue(status)} is not a Blynk status code; accepted: 200 (SUCCESS), 1..9, 11..21, 23, 24`);
    }
    if (frame.body !== undefined && frame.body.length > 0) throw refuse("a RESPONSE has no body: its length field carries the status");
    out.writeUInt16BE(status, 3);
    return out;
  }
  const length = out.length - HEADER_BYTES;
  if (length > maxBody) {
    throw refuse(`${describeCommand(command)} body is ${length} bytes; the ${options.to}'s limit is ${maxBody} bytes`, "too-large");
  }
  const problem = bodyLengthProblem(command, length);
  if (problem !== undefined) throw refuse(problem);
  out.writeUInt16BE(length, 3);
  if (typeof body === "string") out.write(body, HEADER_BYTES, "utf8");
  else if (body instanceof Uint8Array) out.set(body, HEADER_BYTES);
  return out;
}
