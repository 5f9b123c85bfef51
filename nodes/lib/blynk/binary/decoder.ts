/**
 * The streaming frame decoder (docs/PROTOCOLS.md 3.1): bytes in any chunking -> frames. It holds
 * at most one header and one body, and never allocates a body over its limit. An invalid header
 * ends it with a BlynkFrameError (a stream cannot be resynchronised once a length is untrusted);
 * it never throws on input.
 */
import type { Side } from "./commands.js";
import { Command } from "./commands.js";
import { BlynkFrameError } from "./errors.js";
import { checkMaxBody, DEFAULT_MAX_BODY, HEADER_BYTES, headerProblem, type Frame } from "./frame.js";

export interface DecoderOptions {
  /** Who sends the bytes: "device" (we are the server) or "server" (we are the device). */
  from: Side;
  /** Longest body accepted; DEFAULT_MAX_BODY (256) unless given. */
  maxBody?: number;
}

export interface DecodeResult {
  /** Frames completed by this chunk, in order. */
  frames: Frame[];
  /** The error that stopped the decoder (this chunk's frames before it are in `frames`); every later call returns it again. */
  error?: BlynkFrameError;
}

const EMPTY = Buffer.alloc(0);

export class FrameDecoder {
  readonly from: Side;
  readonly maxBody: number;
  private readonly head = Buffer.alloc(HEADER_BYTES);
  private headBytes = 0;
  /** The body being filled, allocated to its announced length once the header passed. */
  private body: Buffer | undefined;
  private bodyBytes = 0;
  private command = 0;
  private id = 0;
  private error: BlynkFrameError | undefined;

  constructor(options: DecoderOptions) {
    const from: unknown = options.from;
    if (from !== "device" && from !== "server") throw new TypeError(`FrameDecoder "from" must be "device" or "server"`);
    this.from = options.from;
    this.maxBody = checkMaxBody(options.maxBody ?? DEFAULT_MAX_BODY, "FrameDecoder maxBody");
  }

  /** Bytes received of a frame not yet complete, its header included (at most 5 + maxBody). */
  get buffered(): number {
    return this.body === undefined ? this.headBytes : HEADER_BYTES + this.bodyBytes;
  }

  /** The error that stopped the decoder, if one did. */
  get failed(): BlynkFrameError | undefined {
    return this.error;
  }

  /** Feeds bytes; returns the frames they complete, and the error once a header was invalid. */
  push(chunk: Uint8Array): DecodeResult {
    const frames: Frame[] = [];
    if (this.error !== undefined) return { frames, error: this.error };
    const given: unknown = chunk;
    if (!(given instanceof Uint8Array)) throw new TypeError("FrameDecoder.push takes bytes (a Buffer or Uint8Array); a socket with an encoding set gives text");
    let at = 0;
    while (at < chunk.length) {
      if (this.body === undefined) {
        const take = Math.min(HEADER_BYTES - this.headBytes, chunk.length - at);
        this.head.set(chunk.subarray(at, at + take), this.headBytes);
        this.headBytes += take;
        at += take;
        if (this.headBytes < HEADER_BYTES) break;
        const started = this.startFrame();
        if (started instanceof BlynkFrameError) return { frames, error: started };
        if (started !== undefined) frames.push(started);
        continue;
      }
      const take = Math.min(this.body.length - this.bodyBytes, chunk.length - at);
      this.body.set(chunk.subarray(at, at + take), this.bodyBytes);
      this.bodyBytes += take;
      at += take;
      if (this.bodyBytes === this.body.length) frames.push(this.finishFrame(this.body));
    }
    return { frames };
  }

  /**
   * The stream ended: a frame cut short is a "truncated" error (also returned by later calls).
   * Undefined when the stream ended between frames.
   */
  end(): BlynkFrameError | undefined {
    if (this.error === undefined && this.buffered > 0) {
      const facts = this.body === undefined ? {} : { command: this.command, id: this.id, length: this.body.length };
      const got = this.body === undefined ? `${this.headBytes} of the 5 header bytes` : `${this.bodyBytes} of its ${this.body.length} body bytes`;
      this.fail(new BlynkFrameError("truncated", `the stream ended inside a frame (${got})`, facts));
    }
    return this.error;
  }

  /** A complete header: a frame without body at once, else a body buffer to fill (undefined), or the error. */
  private startFrame(): Frame | BlynkFrameError | undefined {
    const command = this.head.readUInt8(0);
    const id = this.head.readUInt16BE(1);
    const length = this.head.readUInt16BE(3);
    const problem = headerProblem(this.from, command, id, length, this.maxBody);
    if (problem !== undefined) {
      this.fail(problem);
      return problem;
    }
    this.headBytes = 0;
    if (command === Command.RESPONSE) return { command, id, status: length, body: EMPTY };
    this.command = command;
    this.id = id;
    if (length === 0) return { command, id, body: EMPTY };
    this.body = Buffer.alloc(length);
    this.bodyBytes = 0;
    return undefined;
  }

  private finishFrame(body: Buffer): Frame {
    this.body = undefined;
    this.bodyBytes = 0;
    return { command: this.command, id: this.id, body };
  }

  private fail(error: BlynkFrameError): void {
    this.error = error;
    this.body = undefined;
    this.headBytes = 0;
    this.bodyBytes = 0;
  }
}
