/**
 * Node-RED as a ThingsBoard device downloading a firmware package (docs/PROTOCOLS.md 4.6), as
 * ThingsBoard's SDKs do: on fw_* shared attributes that announce a package not yet handled,
 * report DOWNLOADING, ask chunk after chunk (`v2/fw/request/<id>/chunk/<n>`, payload the chunk
 * size), report DOWNLOADED, check the checksum, report VERIFIED and hand the image over, or
 * report FAILED with fw_error (size over the limit, checksum mismatch, timeout, error answer).
 * Applying it and reporting UPDATING/UPDATED is the flow's (it knows when it has).
 *
 * Decisions:
 * - One download at a time; a newer announcement replaces the one in progress. A package that
 *   was verified is not downloaded again in this process (ThingsBoard re-announces it on every
 *   attribute request); one that failed is tried again when announced again.
 * - Done when fw_size bytes arrived, or on an empty or short chunk when the size is unknown.
 * - A chunk not answered within `chunkTimeoutMs` is asked again, three times in all, then FAILED.
 * - Bounded: the image is at most `maxBytes` (refused before the download when fw_size says so).
 */
import { toError } from "../transport/errors.js";
import { checksumMatches, chunkRequestTopic, encodeState, parseChunkTopic, type FwState, type PackageInfo } from "./codec-firmware.js";

export interface DownloadPort {
  /** Publishes a chunk request (QoS 1). */
  request(topic: string, payload: string): Promise<void>;
  /** Reports fw_state (and fw_error) as telemetry. */
  telemetry(values: Record<string, string>): Promise<void>;
  /** The verified image. */
  deliver(info: PackageInfo, data: Buffer): void;
  warn(text: string): void;
}

export interface DownloadOptions {
  chunkBytes: number;
  maxBytes: number;
  chunkTimeoutMs?: number;
}

const ATTEMPTS = 3;
const DEFAULT_CHUNK_TIMEOUT_MS = 10_000;

interface Download {
  info: PackageInfo;
  key: string;
  requestId: number;
  chunk: number;
  parts: Buffer[];
  have: number;
  attempts: number;
  timer: NodeJS.Timeout | undefined;
}

const keyOf = (info: PackageInfo): string => JSON.stringify([info.type, info.title, info.version, info.checksum]);

export class FirmwareDownloader {
  readonly #port: DownloadPort;
  readonly #options: Required<DownloadOptions>;
  #current: Download | undefined;
  #verified: string | undefined;
  #requestId = 0;
  #closed = false;

  constructor(port: DownloadPort, options: DownloadOptions) {
    this.#port = port;
    this.#options = { chunkTimeoutMs: DEFAULT_CHUNK_TIMEOUT_MS, ...options };
  }

  /** The package being downloaded, if any. */
  get downloading(): PackageInfo | undefined {
    return this.#current?.info;
  }

  /** An announcement (from a shared attribute update or the answer to the start-up request). */
  offer(info: PackageInfo): void {
    if (this.#closed) return;
    const key = keyOf(info);
    if (key === this.#verified || key === this.#current?.key) return;
    this.#stop();
    if (info.size > this.#options.maxBytes) {
      this.#state("FAILED", `firmware ${info.title} ${info.version} is ${info.size} bytes; this device accepts at most ${this.#options.maxBytes}`);
      return;
    }
    this.#requestId = (this.#requestId + 1) % 1_000_000;
    this.#current = { info, key, requestId: this.#requestId, chunk: 0, parts: [], have: 0, attempts: 0, timer: undefined };
    this.#state("DOWNLOADING");
    this.#ask();
  }

  /** A message on `v2/fw/response/...` or `v2/fw/error`; false when it is neither. */
  receive(topic: string, payload: Buffer): boolean {
    const d = this.#current;
    if (topic === "v2/fw/error" || topic === "v2/sw/error") {
      if (d !== undefined) this.#fail(d, `ThingsBoard answered the chunk request with ${JSON.stringify(payload.toString("utf8").slice(0, 100))}`);
      return true;
    }
    const chunk = parseChunkTopic(topic, "response");
    if (chunk === undefined) return false;
    if (d?.requestId !== Number(chunk.requestId) || d.chunk !== chunk.chunk || chunk.type !== d.info.type) return true; // stale or a repeat
    clearTimeout(d.timer);
    const { size } = d.info;
    if (d.have + payload.length > this.#options.maxBytes || (size >= 0 && d.have + payload.length > size)) {
      this.#fail(d, `firmware ${d.info.title} ${d.info.version} is larger than ${size >= 0 ? `its fw_size ${size}` : `${this.#options.maxBytes} bytes`}`);
      return true;
    }
    if (payload.length > 0) {
      d.parts.push(Buffer.from(payload));
      d.have += payload.length;
    }
    const done = size >= 0 ? d.have === size : payload.length < this.#options.chunkBytes;
    if (done) this.#finish(d);
    else if (payload.length === 0) this.#fail(d, `the download ended at ${d.have} of ${size} bytes`);
    else {
      d.chunk++;
      d.attempts = 0;
      this.#ask();
    }
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#stop();
  }

  #ask(): void {
    const d = this.#current;
    if (d === undefined || this.#closed) return;
    d.attempts++;
    d.timer = setTimeout(() => {
      if (this.#current !== d) return;
      if (d.attempts >= ATTEMPTS) this.#fail(d, `chunk ${d.chunk} was not answered within ${this.#options.chunkTimeoutMs} ms, ${ATTEMPTS} times`);
      else this.#ask();
    }, this.#options.chunkTimeoutMs);
    this.#port.request(chunkRequestTopic(d.requestId, d.chunk, d.info.type), String(this.#options.chunkBytes)).catch((err: unknown) => {
      this.#port.warn(`could not ask for firmware chunk ${d.chunk}: ${toError(err).message}`); // the timer asks again
    });
  }

  #finish(d: Download): void {
    this.#current = undefined;
    const data = Buffer.concat(d.parts, d.have);
    this.#state("DOWNLOADED");
    if (!checksumMatches(d.info.algorithm, data, d.info.checksum)) {
      this.#state("FAILED", `${d.info.algorithm} checksum mismatch: the firmware ${d.info.title} ${d.info.version} was not received intact`);
      return;
    }
    this.#verified = d.key;
    this.#state("VERIFIED");
    try {
      this.#port.deliver(d.info, data);
    } catch (err) {
      this.#port.warn(`the verified firmware could not be handed to flows: ${toError(err).message}`);
    }
  }

  #fail(d: Download, error: string): void {
    clearTimeout(d.timer);
    if (this.#current === d) this.#current = undefined;
    this.#state("FAILED", error);
  }

  #stop(): void {
    if (this.#current !== undefined) clearTimeout(this.#current.timer);
    this.#current = undefined;
  }

  #state(state: FwState, error?: string): void {
    if (error !== undefined) this.#port.warn(error);
    this.#port.telemetry(encodeState(state, error === undefined ? {} : { error })).catch((err: unknown) => {
      this.#port.warn(`could not report fw_state ${state}: ${toError(err).message}`);
    });
  }
}
