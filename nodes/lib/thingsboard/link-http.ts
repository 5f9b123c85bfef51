/**
 * http mode: Node-RED is a ThingsBoard device over the HTTP device API (docs/PROTOCOLS.md 4.5):
 * POST telemetry/attributes, GET attributes, POST RPC replies and client RPC, and two long
 * polls kept running from start to close: shared attribute updates and server RPC.
 *
 * Decisions:
 * - A poll answered 408 or with an empty body simply polls again (http-codec.ts: 408 is the
 *   server's "nothing yet"). Any other failure waits with backoff before the next poll; a 401
 *   (unknown token) backs off long and shows "auth failed", never a tight loop.
 * - The status is what the last exchange found: connected after any answer, disconnected on
 *   network errors and 5xx, auth-failed on 401.
 * - Polls are not retried by the HTTP client (the loop is the retry); requests are, as the
 *   client decides (POSTs only when the server provably did not act on them).
 */
import { Backoff } from "../transport/backoff.js";
import { TransportError, toError } from "../transport/errors.js";
import { HttpClient } from "../transport/http-client.js";
import { HttpError } from "../transport/http-error.js";
import { parseAttributeResponse, parseAttributeUpdate, parseRpcResponse, rpcError, type TbJson } from "./codec.js";
import { describeHttpStatus, http, HTTP_STATUS, parseHttpRpcRequest, type HttpCall } from "./http-codec.js";
import {
  DEFAULT_SERVERS, TbLinkBase, type AttributeRequest, type AttributeValues, type TbLinkOptions, type TbRequestOptions, type TbRpcRequest, type TbTarget,
} from "./link-base.js";

const DEFAULT_POLL_MS = 60_000;
/** Added to a poll's own timeout before the client gives up on the exchange. */
const POLL_MARGIN_MS = 15_000;
const AUTH_BACKOFF = { initialMs: 60_000, maxMs: 15 * 60_000 };

export class HttpTbLink extends TbLinkBase {
  readonly connection = "http" as const;
  readonly #http: HttpClient;
  readonly #token: string;
  readonly #pollMs: number;
  readonly #options: TbLinkOptions;
  readonly #stop = new AbortController();

  constructor(options: TbLinkOptions) {
    super(options);
    this.#options = options;
    this.#token = options.token;
    this.#pollMs = options.pollTimeoutMs ?? DEFAULT_POLL_MS;
    this.#http = new HttpClient({
      baseUrl: options.server ?? DEFAULT_SERVERS.http,
      redactor: this.redactor,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...options.http,
    });
  }

  get server(): string | undefined {
    return this.#http.baseUrl;
  }

  start(): void {
    if (!this.firstStart()) return;
    this.setStatus({ state: "connecting", queued: 0 });
    for (const kind of ["attributes", "rpc"] as const) {
      this.#pollLoop(kind).catch((err: unknown) => {
        this.warn(`the ${kind} long poll stopped: ${toError(err).message}`);
      });
    }
  }

  async sendTelemetry(telemetry: unknown, target: TbTarget = {}): Promise<void> {
    this.#noSubDevice(target.device);
    await this.#call(() => http.telemetry(this.#token, telemetry, this.now()));
  }

  async publishAttributes(values: unknown, target: TbTarget = {}): Promise<void> {
    this.#noSubDevice(target.device);
    await this.#call(() => http.attributes(this.#token, values));
  }

  async sendClaim(claim: { secretKey?: unknown; durationMs?: unknown }, target: TbTarget = {}): Promise<void> {
    this.#noSubDevice(target.device);
    await this.#call(() => http.claim(this.#token, claim));
  }

  async requestAttributes(request: AttributeRequest, options: TbRequestOptions = {}): Promise<AttributeValues> {
    this.#noSubDevice(options.device);
    const body = await this.#call(() => http.getAttributes(this.#token, request), options.timeoutMs);
    return parseAttributeResponse(body);
  }

  async callRpc(method: unknown, params: unknown, options: TbRequestOptions = {}): Promise<TbJson> {
    this.#noSubDevice(options.device);
    let body: string;
    try {
      body = await this.#call(() => http.rpcCall(this.#token, { method, params }), options.timeoutMs);
    } catch (err) {
      if (err instanceof HttpError && err.code === "timeout") throw new TransportError("timeout", `no answer to RPC "${String(method)}" within ${(options.timeoutMs ?? 10_000) / 1000} s`);
      throw err;
    }
    const result = parseRpcResponse(body);
    const error = rpcError(result);
    if (error !== undefined) throw new TransportError("protocol", `ThingsBoard answered RPC "${String(method)}" with an error: ${error}`);
    return result;
  }

  protected async sendReply(request: TbRpcRequest, result: TbJson): Promise<void> {
    await this.#call(() => http.rpcReply(this.#token, request.idText, result));
  }

  protected shutdown(): Promise<void> {
    this.#stop.abort();
    this.#http.close();
    return Promise.resolve();
  }

  /** A call, so the loop re-reads it after every await (a property would be narrowed). */
  #stopped(): boolean {
    return this.closed;
  }

  #noSubDevice(device: string | undefined): void {
    this.assertOpen();
    if (this.subDevice(device) !== undefined) throw this.unsupported("naming a sub-device", "a gateway needs mqtt");
  }

  /** One long poll after the other until close; failures wait with backoff. */
  async #pollLoop(kind: "attributes" | "rpc"): Promise<void> {
    const random = this.#options.pollBackoff?.random;
    const backoff = new Backoff({ initialMs: 1000, maxMs: 60_000, ...this.#options.pollBackoff });
    const authBackoff = new Backoff({ ...AUTH_BACKOFF, ...(random === undefined ? {} : { random }) });
    while (!this.#stopped()) {
      const spec = kind === "attributes" ? http.attributeUpdates(this.#token, this.#pollMs) : http.rpcPoll(this.#token, this.#pollMs);
      let body: string | undefined;
      try {
        body = await this.#request(spec, this.#pollMs + POLL_MARGIN_MS, false);
        backoff.reset();
        authBackoff.reset();
      } catch (err) {
        if (this.#stopped()) return;
        if (err instanceof HttpError && err.status === HTTP_STATUS.pollTimeout) continue; // nothing yet
        const failure = this.#failed(err);
        await pause(failure.code === "auth" ? authBackoff.next() : backoff.next(), this.#stop.signal);
        continue;
      }
      if (body.trim() === "" || this.#stopped()) continue;
      try {
        this.#onPoll(kind, body);
      } catch (err) {
        this.warn(`ignored an answer of the ${kind === "rpc" ? "RPC" : "attribute update"} long poll: ${toError(err).message}`);
      }
    }
  }

  #onPoll(kind: "attributes" | "rpc", body: string): void {
    const own = { device: this.name, subDevice: false };
    if (kind === "attributes") {
      const update = parseAttributeUpdate(body);
      this.deliver({ kind: "attributes", ...own, scope: "shared", values: update.values, deleted: update.deleted });
      return;
    }
    const r = parseHttpRpcRequest(body);
    this.offerRpc({ kind: "rpc", ...own, id: r.id, idText: String(r.id), method: r.method, params: r.params });
  }

  /** Builds the call (validation errors reject before anything is sent), sends it, returns the body. */
  async #call(build: () => HttpCall, timeoutMs?: number): Promise<string> {
    this.assertOpen();
    const spec = build();
    try {
      return await this.#request(spec, timeoutMs, undefined);
    } catch (err) {
      throw this.#failed(err);
    }
  }

  async #request(spec: HttpCall, timeoutMs: number | undefined, retry: boolean | undefined): Promise<string> {
    const body = await this.#http.text({ ...spec, signal: this.#stop.signal, timeoutMs, retry });
    this.reachable();
    return body;
  }

  /** An error in words, updating the status when it says something about the link. */
  #failed(err: unknown): TransportError {
    if (!(err instanceof HttpError)) return err instanceof TransportError ? err : new TransportError("protocol", toError(err).message);
    const status = err.status;
    if (status === HTTP_STATUS.unauthorized) {
      this.unreachable(describeHttpStatus(status), true, status);
      return new TransportError("auth", `ThingsBoard refused the access token: ${describeHttpStatus(status)}; check the token in the thingsboard-device node`, { status });
    }
    if (err.code === "closed") return err;
    if (status !== undefined && status < 500) {
      this.reachable();
      return new TransportError("http", `ThingsBoard answered ${describeHttpStatus(status)}${err.body === undefined || err.body === "" ? "" : `: ${err.body}`}`, { status });
    }
    this.unreachable(err.message);
    return err;
  }
}

/** Waits `ms`, or less when `signal` aborts (close). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
