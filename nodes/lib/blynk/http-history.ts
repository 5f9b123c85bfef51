/**
 * The self-hosted HTTPS API's history export (docs/PROTOCOLS.md 2.3): `data/get` answers, as
 * the cloud does, `{"link": "<url>"}`, and the link is a CSV that the same API serves
 * (`/external/api/data/file/<id>.csv`) made from the device's history (history-csv.ts).
 *
 * Decisions:
 * - The file is made when `data/get` is asked (the cloud's "No data" is known then) and kept in
 *   memory under a random id (144 bits) for FILE_TTL_MS; the link carries that id, never the
 *   token, so it can be handed on, and it stops working when it expires. At most MAX_FILES
 *   files of MAX_FILE_BYTES in all are kept: the oldest go first. An unknown id counts as a
 *   failed login for its address (guessing ids meets the same throttle as guessing tokens).
 * - At most MAX_POINTS points are exported (the newest of the period); the cloud's 10 exports
 *   per device per day are not counted (the 50 requests/s per device apply).
 * - No points in the period: 500 "No data", the cloud's documented answer. Parameters that are
 *   not the cloud's values: 400 "Request with incorrect parameters" naming the parameter (the
 *   cloud answers 500 "No enum constant ...").
 * - The link's origin is the request's: its Host header and protocol (express's `req.protocol`,
 *   which follows X-Forwarded-Proto only where the user configured `trust proxy`), below the
 *   path Node-RED serves the API at (`httpNodeRoot`).
 */
import { randomBytes } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { ApiCall, ApiReply } from "../transport/http-api-skeleton.js";
import { JSON_TYPE } from "../transport/http-api-skeleton.js";
import { exportCsv, parseExportRequest, PERIODS } from "./history-csv.js";
import type { HostedDevice } from "./hosted-device.js";
import { BLYNK_PLUGIN } from "./hosted-types.js";
import { API_BASE, errorBody, HTTP_ERRORS, type HttpIntent } from "./http-codec.js";

/** How long a link works. */
export const FILE_TTL_MS = 15 * 60_000;
/** Files kept at once, and their size in all (UTF-16 code units, about bytes for CSV). */
export const MAX_FILES = 32;
export const MAX_FILE_BYTES = 32 * 1024 * 1024;
/** Points per export. */
export const MAX_POINTS = 100_000;

export const FILE_PATH = `${API_BASE}data/file/`;
const FILE_ID = /^([A-Za-z0-9_-]{24})\.csv$/;
const CSV_TYPE = "text/csv; charset=utf-8";
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const error = (status: number, message: string): ApiReply => ({ status, body: errorBody(message), contentType: JSON_TYPE });

interface ExportFile {
  readonly csv: string;
  readonly expires: number;
}

/** Exported files by id, bounded in count, size and age. */
export class ExportFiles {
  readonly #files = new Map<string, ExportFile>();
  readonly #now: () => number;
  #size = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  get count(): number {
    return this.#files.size;
  }

  /** Keeps `csv` and returns its new id. */
  add(csv: string): string {
    this.#sweep();
    const id = randomBytes(18).toString("base64url");
    this.#files.set(id, { csv, expires: this.#now() + FILE_TTL_MS });
    this.#size += csv.length;
    // Map order is insertion order: the first entries are the oldest files.
    for (const [oldId, file] of this.#files) {
      if (this.#files.size <= MAX_FILES && this.#size <= MAX_FILE_BYTES) break;
      if (oldId === id) break; // the new file alone may be the largest one allowed
      this.#drop(oldId, file);
    }
    return id;
  }

  /** The CSV of an id, or undefined when there is none (never was, expired, or evicted). */
  get(id: string): string | undefined {
    this.#sweep();
    return this.#files.get(id)?.csv;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, file] of this.#files) if (file.expires <= now) this.#drop(id, file);
  }

  #drop(id: string, file: ExportFile): void {
    this.#files.delete(id);
    this.#size -= file.csv.length;
  }
}

/** Where the request reached the API from: `proto://host` and the path in front of /external/api/ ("" when it cannot tell). */
function linkBase(call: ApiCall): string {
  const req = call.req as ApiCall["req"] & { protocol?: unknown };
  const full = typeof req.originalUrl === "string" ? req.originalUrl : call.url;
  const at = full.indexOf(API_BASE);
  const prefix = at > 0 ? full.slice(0, at) : "";
  const host = req.headers.host;
  if (typeof host !== "string" || !HOST.test(host)) return prefix;
  const proto = req.protocol === "https" || req.protocol === "http" ? req.protocol : (req.socket as Partial<TLSSocket>).encrypted === true ? "https" : "http";
  return `${proto}://${host}${prefix}`;
}

/** `data/get`: the device's history of one pin as a CSV file, answered with its link. */
export async function dataGet(intent: Extract<HttpIntent, { op: "dataGet" }>, device: HostedDevice, call: ApiCall, files: ExportFiles, now: number): Promise<ApiReply> {
  const request = parseExportRequest(intent.params);
  if ("problem" in request) return error(400, `${HTTP_ERRORS.incorrectParams}: ${request.problem}`);
  const points = await device.history.query(BLYNK_PLUGIN, device.id, device.datastreamOf(intent.pin), {
    from: now - PERIODS[request.period],
    to: now,
    limit: MAX_POINTS,
    latest: true,
  });
  const csv = exportCsv(points, request);
  if (csv === "") return error(500, "No data");
  const id = files.add(csv);
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify({ link: `${linkBase(call)}${FILE_PATH}${id}.csv` }) };
}

/** GET `/external/api/data/file/<id>.csv`: the file, or 404 (an unknown id counts as a failed login). */
export function exportedFile(call: ApiCall, files: ExportFiles): ApiReply {
  if (call.method !== "GET" && call.method !== "HEAD") return error(405, `Method ${call.method} is not allowed on ${call.path}; accepted: GET`);
  const lockedOut = call.lockedOut();
  if (lockedOut) return lockedOut;
  const id = FILE_ID.exec(call.path.slice(FILE_PATH.length))?.[1];
  const csv = id === undefined ? undefined : files.get(id);
  if (csv === undefined) {
    call.loginFailed();
    return error(404, "The file does not exist or its link has expired; ask data/get for a new one.");
  }
  return { status: 200, contentType: CSV_TYPE, body: csv };
}
