/**
 * https mode: Node-RED controls a device through Blynk's device HTTPS API (docs/PROTOCOLS.md 2)
 * with that device's token: reads its datastreams, writes them (the writes reach the device's
 * handlers), logs events. There is no connection to keep: the status says what the last
 * request found (reachable, invalid token, unreachable), checked once at start with
 * `isHardwareConnected`. 308 region redirects are followed and remembered by the HTTP client.
 */
import { TransportError, toError } from "../transport/errors.js";
import { HttpClient } from "../transport/http-client.js";
import { HttpError } from "../transport/http-error.js";
import type { QueryValue } from "../transport/http-request.js";
import { TokenBucket } from "../transport/rate-limit.js";
import { LIMITS, toTimestampedPoints, type BlynkScalar, type BlynkValue } from "./codec.js";
import {
  batchUpdateRequest, getAllRequest, getRequest, HTTP_ERRORS, isHardwareConnectedRequest, logEventRequest,
  parseErrorBody, parseGetAllResponse, parseGetResponse, parsePin, propertyRequest, timestampedBatchRequest,
  updateRequest, type HttpRequestSpec,
} from "./http-codec.js";
import {
  BlynkLinkBase, DEFAULT_SERVERS, type BlynkIncoming, type BlynkLinkOptions, type BlynkValueMessage, type SyncRequest, type WriteOptions,
} from "./link-base.js";
import { isBlynkCloudHost } from "./link-mqtt.js";

export class HttpsBlynkLink extends BlynkLinkBase {
  readonly connection = "https" as const;
  readonly #http: HttpClient;
  readonly #token: string;
  readonly #bucket: TokenBucket | undefined;
  #deviceOnline: boolean | undefined;

  constructor(options: BlynkLinkOptions) {
    super(options);
    const baseUrl = options.server ?? DEFAULT_SERVERS.https;
    this.#token = options.token;
    this.#http = new HttpClient({ baseUrl, redactor: this.redactor, ...options.http });
    this.#http.on("redirected", (info) => {
      this.redirected(info.origin);
    });
    if (options.rateLimit ?? isBlynkCloudHost(baseUrl)) {
      this.#bucket = new TokenBucket({ capacity: LIMITS.requestsPerSecond, refillPerSecond: LIMITS.requestsPerSecond, now: this.now });
    }
  }

  get server(): string | undefined {
    return this.#http.baseUrl;
  }

  start(): void {
    if (!this.firstStart()) return;
    this.setStatus({ state: "connecting", queued: 0 });
    this.#checkOnline().catch(() => {
      // The status already says why; a later request tries again.
    });
  }

  async write(pin: string, value: unknown, options: WriteOptions = {}): Promise<void> {
    if (options.timestamp !== undefined) {
      await this.writeTimestamped(pin, [[options.timestamp, value]]);
      return;
    }
    await this.#call(() => updateRequest(this.#token, pin, value as BlynkValue));
  }

  async writeBatch(values: unknown): Promise<void> {
    // The codec checks every pin and value (single values only: batch/update has no multi-values).
    await this.#call(() => batchUpdateRequest(this.#token, values as Record<string, BlynkScalar>));
  }

  async writeTimestamped(pin: string, points: unknown): Promise<void> {
    await this.#call(() => timestampedBatchRequest(this.#token, pin, toTimestampedPoints(points, this.now())));
  }

  async setProperty(pin: string, property: string, value: unknown): Promise<void> {
    await this.#call(() => propertyRequest(this.#token, pin, property, value as BlynkValue));
  }

  erase(_pin: string, property?: string): Promise<void> {
    const what = property === undefined ? "erasing a value" : "erasing a property";
    return Promise.reject(this.unsupported(what, "Blynk's HTTPS device API has no erase call (mqtt mode has one)"));
  }

  async sync(request: SyncRequest = {}): Promise<BlynkIncoming[]> {
    const values = await this.read(request.datastreams);
    if (request.system !== true) return values;
    const online = await this.#checkOnline();
    return [...values, online];
  }

  async read(pins?: string[]): Promise<BlynkIncoming[]> {
    if (pins === undefined || pins.length === 0) {
      const body = await this.#call(() => getAllRequest(this.#token));
      return Object.entries(parseGetAllResponse(body)).map(([pin, value]) => this.#value(pin, value, textOf(value)));
    }
    const wanted = pins.map(parsePin);
    const body = await this.#call(() => getRequest(this.#token, wanted));
    const answer = parseGetResponse(wanted, body);
    if (wanted.length === 1) {
      const value = answer as BlynkValue;
      return [this.#value(wanted[0] ?? "", value, Array.isArray(value) ? textOf(value) : body)];
    }
    return Object.entries(answer as Record<string, BlynkValue>).map(([pin, value]) => this.#value(pin, value, textOf(value)));
  }

  protected prepareEvent(code: string, description: string): () => Promise<void> {
    const spec = logEventRequest(this.#token, code, description);
    return async () => {
      await this.#call(() => spec);
    };
  }

  protected shutdown(): Promise<void> {
    this.#bucket?.close();
    this.#http.close();
    return Promise.resolve();
  }

  #value(pin: string, value: BlynkValue, text: string): BlynkValueMessage {
    return { kind: "value", datastream: pin, value, text, source: "read" };
  }

  async #checkOnline(): Promise<BlynkIncoming> {
    let online = false;
    await this.#call(() => isHardwareConnectedRequest(this.#token), (body) => {
      online = body.trim() === "true";
      this.#deviceOnline = online;
    });
    return { kind: "system", topic: "$system/online", value: online, source: "read" };
  }

  /** Builds the request (validation errors reject before anything is sent), sends it, returns the body. */
  async #call(build: () => HttpRequestSpec, answered?: (body: string) => void): Promise<string> {
    this.assertOpen();
    const spec = build();
    if (this.#bucket !== undefined) await this.#bucket.take();
    // Blynk's `get` wants bare pin keys (`&v1`); the codec gives them with empty values.
    const bare = spec.path.endsWith("/get");
    const query = spec.query.map(([key, value]): [string, QueryValue] => [key, bare && value === "" ? null : value]);
    try {
      const body = await this.#http.text({ ...spec, query });
      answered?.(body);
      this.reachable(this.#deviceOnline);
      return body;
    } catch (err) {
      throw this.#failed(err);
    }
  }

  /** Turns a failure into an error in words, updating the status when it says something about the link. */
  #failed(err: unknown): Error {
    if (!(err instanceof HttpError)) return toError(err);
    const blynkSays = err.body === undefined ? undefined : parseErrorBody(err.body);
    if (blynkSays === HTTP_ERRORS.invalidToken) {
      this.unreachable("invalid token", true, err.status);
      return new TransportError("auth", `Blynk refused the device token (${blynkSays}); check the token in the blynk-device node`, { status: err.status });
    }
    if (blynkSays !== undefined) {
      this.reachable(this.#deviceOnline);
      return new TransportError("http", `Blynk refused the request: ${blynkSays} (HTTP ${err.status ?? "?"}, ${err.method} ${err.path})`, { status: err.status });
    }
    if (err.code === "network" || err.code === "timeout" || (err.status !== undefined && err.status >= 500)) this.unreachable(err.message);
    // Any other answer before Blynk was ever reached (a 404, 401 or 403 of a server that is not
    // Blynk's API, a 429): the status says it in words rather than "connecting" for ever.
    else if (this.status.state === "connecting") this.unreachable(err.message);
    return err;
  }
}

/** The wire form of a value read as JSON: NUL-joined for multi-values, like MQTT. */
function textOf(value: BlynkValue): string {
  return Array.isArray(value) ? value.map((v) => String(v)).join("\0") : String(value);
}
