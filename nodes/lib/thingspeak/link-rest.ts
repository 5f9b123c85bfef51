/**
 * rest mode: Node-RED writes and reads the channel with its API keys through ThingSpeak's REST
 * API (docs/PROTOCOLS.md 5.2) on api.thingspeak.com or a custom URL (e.g. Node-RED's own, serving a
 * hosted channel). There is no connection to keep: the status says what the last request
 * found (reachable, key refused, unreachable); the link is "ready" unless the server was
 * unreachable, and a failed write retries anyway (the write queue's backoff).
 *
 * Decisions: updates are POSTed to `update.json` with the write key in the THINGSPEAKAPIKEY
 * header (never in a URL), so the answer is the stored entry with its entry id. The HTTP client
 * does not retry updates itself: a 429 or an answer of 0 goes back to the write queue, which
 * retries after the interval with the pending values merged. Reads are GETs with the read key as
 * `api_key` (the only documented place), retried by the client. Subscribing nodes poll
 * (readNew); the link itself does not poll.
 */
import { TransportError, toError } from "../transport/errors.js";
import { HttpClient } from "../transport/http-client.js";
import { HttpError } from "../transport/http-error.js";
import { isPlainObject, parseEntry, type ChannelUpdate, type FeedEntry, type FieldNumber } from "./codec.js";
import {
  buildBulkUpdateRequest, buildFeedsRequest, buildFieldRequest, buildUpdateRequest, parseFeedsAnswer, parseUpdateAnswer,
  restError, type RestRequest,
} from "./rest-codec.js";
import { DEFAULT_SERVERS, ThingSpeakLinkBase, type ThingSpeakLinkOptions } from "./link-base.js";
import type { SendOutcome } from "./write-queue.js";

/** Entries asked for per poll: more new entries than this between two polls are not all seen. */
const POLL_RESULTS = 100;

export class RestThingSpeakLink extends ThingSpeakLinkBase {
  readonly connection = "rest" as const;
  readonly #http: HttpClient;

  constructor(options: ThingSpeakLinkOptions) {
    super(options, true);
    this.#http = new HttpClient({ baseUrl: options.server ?? DEFAULT_SERVERS.rest, redactor: this.redactor, ...options.http });
  }

  get server(): string | undefined {
    return this.#http.baseUrl;
  }

  start(): void {
    // Nothing to connect: usable until a request says otherwise.
    if (this.firstStart()) this.reachable();
  }

  async readNew(afterEntryId?: number, field?: FieldNumber): Promise<FeedEntry[]> {
    this.assertOpen();
    const options = { results: afterEntryId === undefined ? 1 : POLL_RESULTS, ...(this.options.readKey === undefined ? {} : { readKey: this.options.readKey }) };
    const request = field === undefined ? buildFeedsRequest(this.channelId, options) : buildFieldRequest(this.channelId, field, options);
    const body = await this.#call(request, true);
    const entries = parseFeedsAnswer(body).feeds;
    const wanted = field === undefined ? entries : entries.filter((e) => e[`field${field}`] !== null);
    return afterEntryId === undefined ? wanted.slice(-1) : wanted.filter((e) => e.entry_id > afterEntryId);
  }

  protected async sendUpdate(update: ChannelUpdate): Promise<SendOutcome> {
    const body = await this.#call(buildUpdateRequest(update, this.options.writeKey, { format: "json" }), false);
    const entryId = parseUpdateAnswer(body);
    let entry: FeedEntry | undefined;
    try {
      const value = JSON.parse(body) as unknown;
      if (isPlainObject(value)) entry = parseEntry(value, this.channelId);
    } catch {
      entry = undefined; // a plain-text answer carries the id only
    }
    return entry === undefined ? { entryId } : { entryId, entry };
  }

  protected async sendBulk(updates: ChannelUpdate[]): Promise<void> {
    const tier = this.updateIntervalMs < 15_000 ? "paid" : "free";
    await this.#call(buildBulkUpdateRequest(this.channelId, this.options.writeKey, updates, tier), false);
  }

  protected watchedChanged(): void {
    // Nothing to subscribe to: subscribing nodes poll with readNew.
  }

  protected shutdown(): Promise<void> {
    this.#http.close();
    return Promise.resolve();
  }

  /** Sends a built request (built first: validation errors reject before anything is sent); returns the body text. */
  async #call(spec: RestRequest, retry: boolean): Promise<string> {
    this.assertOpen();
    try {
      const body = await this.#http.text({ ...spec, retry });
      this.reachable();
      return body;
    } catch (err) {
      throw this.#failed(err);
    }
  }

  /** A failure in ThingSpeak's words, with the status updated when it says something about the link. */
  #failed(err: unknown): Error {
    if (!(err instanceof HttpError)) return toError(err);
    if (err.status !== undefined && err.status < 500) {
      const described = restError(err.status, err.body);
      if (described.code === "auth") this.setStatus({ state: "auth-failed", reason: "API key refused", queued: 0, refusal: err.status });
      else this.reachable();
      // Keep the server's Retry-After for the write queue's backoff.
      return Object.assign(new TransportError(described.code, `${described.message} (${err.method} ${err.path})`, { status: err.status, retryable: described.retryable, cause: err }), { retryAfterMs: err.retryAfterMs });
    }
    if (err.code === "network" || err.code === "timeout" || (err.status !== undefined && err.status >= 500)) {
      this.setStatus({ state: "disconnected", reason: err.message, queued: 0 });
    }
    return err;
  }
}
