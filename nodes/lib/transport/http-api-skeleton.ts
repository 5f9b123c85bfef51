/**
 * One skeleton for the HTTP device APIs Node-RED serves on its own port (Blynk, ThingsBoard,
 * ThingSpeak): "match the path or `next()`, never throw". An API says which URLs it serves, how
 * its refusals look and how it answers one request; the skeleton does the rest the same way for
 * all of them:
 * - matching on `req.url`, or express's `originalUrl` when a mount path was stripped; anything
 *   else goes to `next()` untouched (a flow's `http in` may own it);
 * - reading the body with a size and a JSON-depth limit (http-body.ts, json-limits.ts);
 * - failed-login throttling per source address: 429 with Retry-After (auth-throttle.ts);
 * - masking every secret the request carried out of error bodies (redact.ts);
 * - catching every throw and rejection, so nothing escapes into express: a failure answers
 *   the API's 500 without detail (an internal error text could carry anything);
 * - answering a request that wrote to a store (`call.durable`) only once the store says it is
 *   durable: an HTTP 200 is an acknowledgement, and a crash after it must not lose the write
 *   (a failed flush answers 503, so the client sends it again; so does a request that failed
 *   while its store could not be flushed either, as a write does while Redis is away);
 * - writing the answer with Content-Type, Content-Length, `Cache-Control: no-store` (and
 *   `Connection: close` after a 413, whose body may not have been read), unless the client left.
 */
import type { ServerResponse } from "node:http";
import { AuthThrottle } from "./auth-throttle.js";
import { requestSource, retryAfterSeconds, type SourcedRequest } from "./http-auth.js";
import { BODY_TOO_DEEP, BODY_TOO_LARGE, readRequestBody, readRequestValue, type ServerRequest } from "./http-body.js";
import { tooDeep } from "./json-limits.js";
import { maskSecrets } from "./redact.js";

export const JSON_TYPE = "application/json; charset=utf-8";
export const TEXT_TYPE = "text/plain; charset=utf-8";

/** What an API handler reads of a request: Node's, plus what express may have added. */
export type ApiRequest = ServerRequest &
  SourcedRequest & {
    /** Express: the URL before mounting stripped a prefix. */
    originalUrl?: string;
    /** Ignored: the query is always read from the raw URL (repeated and bare keys need it). */
    query?: unknown;
  };

/** Express-compatible: mount once, without a path (`RED.httpNode.use(handler)`), or call from any Node HTTP server. */
export type ApiHandler = (req: ApiRequest, res: ServerResponse, next: () => void) => void;

export interface ApiReply {
  status: number;
  /** Text, or bytes (a firmware file). */
  body: string | Buffer;
  /** Sent as Content-Type; an answer without one sends none. */
  contentType?: string;
  /** Sent as Retry-After (whole seconds). */
  retryAfterS?: number;
}

/** What answering a request gives: a reply, "next" (another handler owns it after all), or undefined (nothing to send: the client left). */
export type ApiOutcome = ApiReply | "next" | undefined;

/** A store whose writes become durable (survive a crash of the process) when `flush` resolves. */
export interface Durable {
  flush(): Promise<void>;
}

/** What every API's options carry for the skeleton. */
export interface ApiOptions {
  /** Failed-login throttling per source address; default a throttle of this handler's own (Node-RED shares one per app: http-auth.ts). */
  authThrottle?: AuthThrottle;
}

/** What an API tells the skeleton; `handle` does the API's own part of a request. */
export interface ApiSpec {
  /** Whether this API answers `url` (path and query as received). Runs for every request Node-RED serves: keep it cheap. */
  serves(url: string): boolean;
  /** Largest request body read, in bytes. */
  maxBodyBytes: number;
  /** The API's error answer for a status and a message in words. */
  refuse(status: number, message: string, call: ApiCall): ApiReply;
  /** The skeleton's refusals in the API's own words. */
  says: { lockedOut: string; tooLarge: string; notStored?: string };
  /** The answer to a failure inside `handle` (no detail); default `refuse(500, "Internal error while handling the request.")`. */
  internalError?: ApiReply;
  /** Secrets the request carries before it is handled (tokens in the query...); more may be added with `call.hide`. */
  secrets?(call: ApiCall): Iterable<string | undefined>;
  /** Answers one request this API serves. Throwing or rejecting answers `internalError`. */
  handle(call: ApiCall): Promise<ApiOutcome>;
}

/** One request being answered: its parts, and the skeleton's services to the API. */
export class ApiCall {
  readonly req: ApiRequest;
  readonly res: ServerResponse;
  /** The URL matched: path and raw query. */
  readonly url: string;
  readonly path: string;
  /** The raw query text after `?` ("" without one). */
  readonly query: string;
  /** Upper case; GET when absent. */
  readonly method: string;
  readonly #spec: ApiSpec;
  readonly #throttle: AuthThrottle;
  readonly #secrets = new Set<string>();
  readonly #durable = new Set<Durable>();

  constructor(req: ApiRequest, res: ServerResponse, url: string, spec: ApiSpec, throttle: AuthThrottle) {
    this.req = req;
    this.res = res;
    this.url = url;
    const q = url.indexOf("?");
    this.path = q < 0 ? url : url.slice(0, q);
    this.query = q < 0 ? "" : url.slice(q + 1);
    this.method = (req.method ?? "GET").toUpperCase();
    this.#spec = spec;
    this.#throttle = throttle;
  }

  /** The request reads or writes `store`: a success is answered once what it holds is durable. */
  durable(store: Durable): void {
    this.#durable.add(store);
  }

  /** Resolves once every store the request touched is durable (at once when there is none). */
  flushed(): Promise<void> {
    if (this.#durable.size === 0) return Promise.resolve();
    return Promise.all([...this.#durable].map((store) => store.flush())).then(() => undefined);
  }

  /** The address failed logins are counted for. */
  get source(): string | undefined {
    return requestSource(this.req);
  }

  /** Secrets to mask out of any error answer to this request. */
  hide(...secrets: (string | undefined)[]): void {
    for (const secret of secrets) if (secret !== undefined && secret !== "") this.#secrets.add(secret);
  }

  get secrets(): ReadonlySet<string> {
    return this.#secrets;
  }

  /** The 429 (with Retry-After) while this address is locked out after too many failed logins; undefined when it may try. */
  lockedOut(): ApiReply | undefined {
    const waitMs = this.#throttle.retryAfterMs(this.source);
    if (waitMs <= 0) return undefined;
    return { ...this.#spec.refuse(429, this.#spec.says.lockedOut, this), retryAfterS: retryAfterSeconds(waitMs) };
  }

  /** A credential this request presented matched nothing. */
  loginFailed(): void {
    this.#throttle.failed(this.source);
  }

  /** A credential this request presented was right: the address's count starts over. */
  loginSucceeded(): void {
    this.#throttle.succeeded(this.source);
  }

  /** The body as text (a body parser's result turned back into text), or the refusal to send instead. */
  async bodyText(): Promise<string | ApiReply> {
    const read = await readRequestBody(this.req, this.#spec.maxBodyBytes);
    return typeof read === "string" ? read : this.#bodyRefusal(read);
  }

  /** The body as a body parser left it (objects stay objects) or as text from the stream, or the refusal to send instead. */
  async bodyValue(): Promise<{ value: unknown } | ApiReply> {
    const read = await readRequestValue(this.req, this.#spec.maxBodyBytes);
    return read === BODY_TOO_LARGE || read === BODY_TOO_DEEP ? this.#bodyRefusal(read) : { value: read };
  }

  #bodyRefusal(read: typeof BODY_TOO_LARGE | typeof BODY_TOO_DEEP): ApiReply {
    if (read === BODY_TOO_LARGE) return this.#spec.refuse(413, this.#spec.says.tooLarge, this);
    return this.#spec.refuse(400, tooDeep("the request body").message, this);
  }
}

/** The URL to answer: `req.url`, or express's `originalUrl` when a mount path was stripped. */
function servedUrl(req: ApiRequest, spec: ApiSpec): string | undefined {
  for (const url of [req.url, req.originalUrl]) {
    if (typeof url === "string" && spec.serves(url)) return url;
  }
  return undefined;
}

function send(res: ServerResponse, reply: ApiReply, secrets: ReadonlySet<string>): void {
  if (res.writableEnded || res.destroyed) return; // the client hung up
  // Nothing we send may show a secret the caller presented, not even inside an echoed parameter.
  const body = reply.status >= 400 && secrets.size > 0 && typeof reply.body === "string" ? maskSecrets(reply.body, secrets) : reply.body;
  res.statusCode = reply.status;
  if (reply.contentType !== undefined) res.setHeader("Content-Type", reply.contentType);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "no-store");
  if (reply.retryAfterS !== undefined) res.setHeader("Retry-After", String(reply.retryAfterS));
  if (reply.status === 413) res.setHeader("Connection", "close");
  res.end(body);
}

/** Starts answering; a synchronous throw becomes a rejection like any other failure. */
function start(call: ApiCall, spec: ApiSpec): Promise<ApiOutcome> {
  try {
    call.hide(...(spec.secrets?.(call) ?? []));
    return spec.handle(call);
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** The handler of one HTTP device API. It never throws and never lets a rejection escape. */
export function serveApi(spec: ApiSpec, options: ApiOptions): ApiHandler {
  const throttle = options.authThrottle ?? new AuthThrottle();
  return (req, res, next) => {
    let call: ApiCall | undefined;
    try {
      const url = servedUrl(req, spec);
      if (url !== undefined) call = new ApiCall(req, res, url, spec, throttle);
    } catch {
      call = undefined; // a request this API cannot even read is not one of its own
    }
    if (call === undefined) {
      next();
      return;
    }
    const current = call;
    const { secrets } = current;
    start(current, spec)
      .then(async (outcome) => {
        if (outcome === undefined) return;
        if (outcome !== "next") {
          if (outcome.status < 400) {
            try {
              await current.flushed();
            } catch {
              send(res, spec.refuse(503, spec.says.notStored ?? "The value could not be stored; send it again.", current), secrets);
              return;
            }
          }
          send(res, outcome, secrets);
          return;
        }
        try {
          next();
        } catch {
          // The next handler's failure is its own (express catches its handlers' errors).
        }
      })
      .catch(async () => {
        // A write that failed while its store cannot be written either (Redis away: the write's
        // delivery failed too) was not stored: answered as such, so the client sends it again.
        const notStored = await current.flushed().then(
          () => false,
          () => true,
        );
        try {
          if (res.headersSent) res.destroy();
          else if (notStored) send(res, spec.refuse(503, spec.says.notStored ?? "The value could not be stored; send it again.", current), secrets);
          else send(res, spec.internalError ?? spec.refuse(500, "Internal error while handling the request.", current), secrets);
        } catch {
          // The connection is gone; nothing more to do.
        }
      });
  };
}
