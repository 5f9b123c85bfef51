/**
 * ThingsBoard OTA over MQTT (docs/PROTOCOLS.md 4.6): the shared attributes that announce a
 * package, the chunk request and response topics, the chunk size a request carries, how a
 * chunk is cut from the image, the checksums, and the `fw_state` values a device reports.
 * Pure (hashing is computation, not I/O); both roles use it.
 *
 * Decisions (checked against ThingsBoard's server and its SDKs where the docs are silent):
 * - Topics: `v2/fw/request/<requestId>/chunk/<chunk>` up, `v2/fw/response/<requestId>/chunk/<chunk>`
 *   down (`v2/sw/...` for software packages), `v2/fw/error` for a refusal. Request ids and
 *   chunk indexes are decimal whole numbers; the id text is echoed exactly.
 * - Chunk size: the request payload as decimal text. Empty means "the size this request id used
 *   before, else the whole image" (ThingsBoard). The Python SDK JSON-encodes it (`"4096"`, or
 *   `""` for empty), so one pair of double quotes around the digits is accepted too.
 * - A chunk past the end of the image is empty (that is how a device learns it is done); chunk
 *   size 0 is the whole image as chunk 0.
 * - Checksums: SHA256 (ThingsBoard's default), SHA384, SHA512 and MD5 as lower-case hex; CRC32
 *   as ThingsBoard writes it: the 4 bytes little-endian in hex (Guava's HashCode, what the
 *   Python SDK compares against). MURMUR3_32 and MURMUR3_128 are refused in words: their text
 *   form could not be checked against a ThingsBoard server here.
 */
import { createHash } from "node:crypto";
import { describeValue } from "../transport/value-codec.js";
import { invalid, isPlainObject, quote } from "./codec-values.js";

export type PackageType = "firmware" | "software";
/** Attribute key prefix and topic level of each package type. */
const SHORT = { firmware: "fw", software: "sw" } as const;

/** The shared attribute keys that announce a package of `type` (fw_title, fw_version, ...). */
export function packageKeys(type: PackageType = "firmware"): { title: string; version: string; checksum: string; algorithm: string; size: string; state: string; error: string } {
  const p = SHORT[type];
  return { title: `${p}_title`, version: `${p}_version`, checksum: `${p}_checksum`, algorithm: `${p}_checksum_algorithm`, size: `${p}_size`, state: `${p}_state`, error: `${p}_error` };
}

/** The keys a device asks for at start (the Python SDK's list, in its order). */
export function packageRequestKeys(type: PackageType = "firmware"): string[] {
  const k = packageKeys(type);
  return [k.checksum, k.algorithm, k.size, k.title, k.version];
}

/** `fw_state` values a device reports, in the order of a successful update, then FAILED. */
export const FW_STATES = ["DOWNLOADING", "DOWNLOADED", "VERIFIED", "UPDATING", "UPDATED", "FAILED"] as const;
export type FwState = (typeof FW_STATES)[number];

export const CHECKSUM_ALGORITHMS = ["SHA256", "SHA384", "SHA512", "MD5", "CRC32"] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
const REFUSED_ALGORITHMS = ["MURMUR3_32", "MURMUR3_128"];
const ALGORITHMS_ACCEPTED = `${CHECKSUM_ALGORITHMS.join(", ")} (any case)`;

/** A ThingsBoard algorithm name -> ours; throws TransportError "invalid" in words for others. */
export function checksumAlgorithm(name: unknown): ChecksumAlgorithm {
  const upper = typeof name === "string" ? name.trim().toUpperCase().replace("-", "") : "";
  if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(upper)) return upper as ChecksumAlgorithm;
  if (REFUSED_ALGORITHMS.includes(upper)) {
    throw invalid(`checksum algorithm ${upper} is not supported here (its text form could not be verified); accepted: ${ALGORITHMS_ACCEPTED}`);
  }
  throw invalid(`checksum algorithm ${describeValue(name)} is not known; accepted: ${ALGORITHMS_ACCEPTED}`);
}

let crcTable: Uint32Array | undefined;

function crc32(data: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The checksum of `data` as ThingsBoard writes it in `fw_checksum` (lower-case hex). */
export function checksumOf(algorithm: ChecksumAlgorithm, data: Uint8Array): string {
  if (algorithm === "CRC32") {
    const le = Buffer.alloc(4);
    le.writeUInt32LE(crc32(data));
    return le.toString("hex");
  }
  return createHash(algorithm.toLowerCase()).update(data).digest("hex");
}

/** Whether `data` has the announced checksum (hex compared without regard to case). */
export function checksumMatches(algorithm: ChecksumAlgorithm, data: Uint8Array, expected: string): boolean {
  return checksumOf(algorithm, data) === expected.trim().toLowerCase();
}

/** What the fw_* shared attributes announce. */
export interface PackageInfo {
  type: PackageType;
  title: string;
  version: string;
  size: number;
  checksum: string;
  algorithm: ChecksumAlgorithm;
}

/** The shared attributes that announce `info`. */
export function encodePackageAttributes(info: PackageInfo): Record<string, string | number> {
  const k = packageKeys(info.type);
  return { [k.title]: info.title, [k.version]: info.version, [k.checksum]: info.checksum, [k.algorithm]: info.algorithm, [k.size]: info.size };
}

/**
 * The package announced in shared attributes (an update or an attribute response's `shared`),
 * or undefined when title or version is missing (attributes of other things). A present but
 * unusable size, checksum or algorithm throws TransportError "invalid" in words. A missing
 * algorithm is SHA256 (ThingsBoard's default); a missing size is -1 (unknown).
 */
export function parsePackageAttributes(values: unknown, type: PackageType = "firmware"): PackageInfo | undefined {
  if (!isPlainObject(values)) return undefined;
  const k = packageKeys(type);
  const title = values[k.title];
  const version = values[k.version];
  if (typeof title !== "string" || typeof version !== "string" || title === "" || version === "") return undefined;
  const rawSize = typeof values[k.size] === "string" && /^\d+$/.test(values[k.size] as string) ? Number(values[k.size]) : values[k.size];
  if (rawSize !== undefined && (typeof rawSize !== "number" || !Number.isSafeInteger(rawSize) || rawSize < 0)) {
    throw invalid(`${k.size} ${describeValue(rawSize)} is not a size in bytes; accepted: a whole number`);
  }
  const checksum = values[k.checksum];
  if (typeof checksum !== "string" || !/^[0-9a-fA-F]+$/.test(checksum.trim())) {
    throw invalid(`${k.checksum} ${describeValue(checksum)} is not a hex checksum`);
  }
  const algorithm = checksumAlgorithm(values[k.algorithm] ?? "SHA256");
  return { type, title, version, size: rawSize ?? -1, checksum: checksum.trim().toLowerCase(), algorithm };
}

export interface ChunkTopic {
  type: PackageType;
  /** Exact request id text (echoed in the response topic). */
  requestId: string;
  chunk: number;
}

const CHUNK_TOPIC = /^v2\/(fw|sw)\/(request|response)\/(\d{1,16})\/chunk\/(\d{1,9})$/;

/** `v2/fw/request/<id>/chunk/<n>` (direction "request") or its response; undefined for other topics. */
export function parseChunkTopic(topic: unknown, direction: "request" | "response"): ChunkTopic | undefined {
  if (typeof topic !== "string") return undefined;
  const m = CHUNK_TOPIC.exec(topic);
  if (m?.[2] !== direction || !Number.isSafeInteger(Number(m[3]))) return undefined;
  return { type: m[1] === "fw" ? "firmware" : "software", requestId: m[3], chunk: Number(m[4]) };
}

/** Whether `topic` is a well-formed chunk request topic of either package type (what a hosted device may publish). */
export function isChunkRequestTopic(topic: string): boolean {
  return parseChunkTopic(topic, "request") !== undefined;
}

function chunkTopic(direction: "request" | "response", requestId: number | string, chunk: number, type: PackageType): string {
  const id = String(requestId);
  if (!/^\d{1,16}$/.test(id) || !Number.isSafeInteger(Number(id))) throw invalid(`OTA request id ${describeValue(requestId)} is not a whole number`);
  if (!Number.isSafeInteger(chunk) || chunk < 0 || chunk > 999_999_999) throw invalid(`chunk index ${describeValue(chunk)} is not a whole number from 0`);
  return `v2/${SHORT[type]}/${direction}/${id}/chunk/${chunk}`;
}

export const chunkRequestTopic = (requestId: number | string, chunk: number, type: PackageType = "firmware"): string => chunkTopic("request", requestId, chunk, type);
export const chunkResponseTopic = (requestId: number | string, chunk: number, type: PackageType = "firmware"): string => chunkTopic("response", requestId, chunk, type);
/** What a device subscribes to for the chunks (and ThingsBoard's error topic). */
export const chunkResponseFilter = (type: PackageType = "firmware"): string => `v2/${SHORT[type]}/response/+/chunk/+`;
export const errorTopic = (type: PackageType = "firmware"): string => `v2/${SHORT[type]}/error`;

/**
 * The chunk size a request carries: a whole number, or undefined for an empty payload (use the
 * size this request id used before). Throws TransportError "invalid" for anything else.
 */
export function parseChunkSize(payload: Buffer | string): number | undefined {
  let text = (typeof payload === "string" ? payload : payload.toString("utf8")).trim();
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) text = text.slice(1, -1).trim();
  if (text === "") return undefined;
  if (!/^\d{1,9}$/.test(text)) throw invalid(`chunk size ${quote(text.slice(0, 40))} is not a whole number of bytes; accepted: decimal digits such as 4096, or empty`);
  return Number(text);
}

/** Chunk `index` of `image` cut at `size` bytes (ThingsBoard's rule): size 0 is the whole image; past the end is empty. */
export function chunkOf(image: Buffer, size: number, index: number): Buffer {
  if (size < 1) return index === 0 ? image : image.subarray(0, 0);
  const start = size * index;
  if (!Number.isSafeInteger(start) || start >= image.length) return image.subarray(0, 0);
  return image.subarray(start, Math.min(image.length, start + size));
}

/** The telemetry a device reports for a state (FAILED with its reason in fw_error). */
export function encodeState(state: FwState, options: { type?: PackageType; error?: string; title?: string; version?: string } = {}): Record<string, string> {
  const k = packageKeys(options.type);
  const out: Record<string, string> = { [k.state]: state };
  if (state === "FAILED" && options.error !== undefined) out[k.error] = options.error;
  if (options.title !== undefined && (state === "UPDATED")) {
    out[`current_${k.title}`] = options.title;
    if (options.version !== undefined) out[`current_${k.version}`] = options.version;
  }
  return out;
}
