/**
 * Reading a request body on a server Node-RED hosts (the emulations' HTTP device APIs), with a
 * size limit, whether or not a body parser (express) already read it.
 */
import type { IncomingMessage } from "node:http";
import { valueTooDeep } from "./json-limits.js";

/** Returned instead of the body when it is over the limit. */
export const BODY_TOO_LARGE: unique symbol = Symbol("body too large");
/** Returned instead of a body a body parser already parsed when it nests deeper than MAX_JSON_DEPTH (it cannot even be turned back into text). */
export const BODY_TOO_DEEP: unique symbol = Symbol("body too deep");

/** A request as a server hands it over: Node's, plus the `body` an earlier body parser may have left. */
export type ServerRequest = IncomingMessage & { body?: unknown };

/**
 * The body as text: from the stream if nobody read it, else what a body parser left in
 * `req.body` (a string, a Buffer, or parsed JSON, which is turned back into JSON text). Over
 * `maxBytes` it resolves BODY_TOO_LARGE, still draining the stream so the client gets the answer;
 * a parsed body nested deeper than MAX_JSON_DEPTH resolves BODY_TOO_DEEP (answer it with tooDeep()).
 * Rejects when the client aborts the request.
 */
export function readRequestBody(req: ServerRequest, maxBytes: number): Promise<string | typeof BODY_TOO_LARGE | typeof BODY_TOO_DEEP> {
  if (req.readableEnded) {
    const body = req.body;
    if (typeof body === "object" && body !== null && !Buffer.isBuffer(body) && valueTooDeep(body)) return Promise.resolve(BODY_TOO_DEEP);
    const text = body === undefined || body === null ? "" : typeof body === "string" ? body : Buffer.isBuffer(body) ? body.toString("utf8") : JSON.stringify(body);
    return Promise.resolve(Buffer.byteLength(text) > maxBytes ? BODY_TOO_LARGE : text);
  }
  return new Promise((resolve, reject) => {
    const length = req.headers["content-length"];
    const declared = Number(Array.isArray(length) ? length[0] : length);
    let size = 0;
    let over = Number.isFinite(declared) && declared > maxBytes;
    const chunks: Buffer[] = [];
    if (over) resolve(BODY_TOO_LARGE);
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        resolve(BODY_TOO_LARGE);
      } else {
        chunks.push(chunk);
      }
    });
    req.on("end", () => {
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
    // After "end" this changes nothing (the promise is settled); before it, the client left.
    req.on("close", () => {
      reject(new Error("the request was aborted"));
    });
  });
}

/**
 * Like readRequestBody, but a body parser's result is taken as it is: a form or JSON object stays
 * an object (turned back into text it could not be told from a form). From the stream: text.
 */
export function readRequestValue(req: ServerRequest, maxBytes: number): Promise<unknown> {
  if (!req.readableEnded) return readRequestBody(req, maxBytes);
  const body = req.body;
  if (typeof body === "object" && body !== null && !Buffer.isBuffer(body) && valueTooDeep(body)) return Promise.resolve(BODY_TOO_DEEP);
  let size = 0;
  try {
    if (typeof body === "string" || Buffer.isBuffer(body)) size = Buffer.byteLength(body);
    else if (body !== undefined && body !== null) size = Buffer.byteLength(JSON.stringify(body));
  } catch {
    size = 0; // not JSON-able (circular): not a body parser's result; the API's parser refuses it
  }
  return Promise.resolve(size > maxBytes ? BODY_TOO_LARGE : body);
}
