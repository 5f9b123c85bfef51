/**
 * ThingsBoard's HTTP device API (docs/PROTOCOLS.md 4.5) served by Node-RED itself for every hosted
 * ThingsBoard device. An express-compatible handler, mounted once on `RED.httpNode` by the node
 * layer: it answers ThingsBoard device API requests under `/api/v1/` and passes everything else
 * on with `next()`. Requests are read with http-codec.ts `parseHttpRequest`.
 *
 * Decisions:
 * - Writes reach the device's handle as the same MQTT uplink would, parsed once here
 *   (hosted-device.ts `receive`): `POST telemetry|attributes` as telemetry (stamped with the
 *   arrival time) and client attributes (also remembered), `POST rpc/<id>` as the reply to
 *   server RPC `<id>`, `POST claim` as a claim event. 200, empty body.
 * - `GET attributes` is answered from the store (`{"client":{...},"shared":{...}}`, empty
 *   scopes left out); nothing goes to flows.
 * - Long polls (`GET attributes/updates`, `GET rpc`) answer with the next shared attribute
 *   update / server RPC (`{"id","method","params"}`) a flow sends the device, or 408 with an empty body when `timeout` ms pass (absent or 0: `requestTimeoutMs`;
 *   bounded by `maxTimeoutMs`). A push with no poll waiting is kept for the next poll (at most
 *   100, RPC for 10 s, attribute updates for 60 s) only while the device has no MQTT connection.
 *   A client that hangs up stops waiting.
 * - `POST rpc` (client RPC) reaches the handle as client-side RPC with an id from
 *   HTTP_RPC_FIRST_ID up; the flow's answer with that id is the response body (JSON). No
 *   answer within `requestTimeoutMs` (`getSessionLimits` never reaches flows): 408, empty body.
 * - Paths under `/api/v1/` that are no device API path go to `next()` (a flow's `http in` may
 *   own them); a known path with the wrong method is 405, a bad body or parameter 400 (text),
 *   a body over 2 MB 413, an unknown token 401 with an empty body, a device whose broker is not
 *   running 503. `POST /api/v1/provision` is decided as an MQTT provisioning request is
 *   (provisioning.ts, any broker's profiles); NOT_FOUND while no profile is registered.
 * - Too many unknown tokens from one address (transport/auth-throttle.ts): 429 with Retry-After,
 *   for every device API path, before the body is read or the token looked up.
 * - The token appears in no answer, topic, event or warning.
 */
import type { ServerResponse } from "node:http";
import { toError, TransportError } from "../transport/errors.js";
import { JSON_TYPE, serveApi, TEXT_TYPE, type ApiCall, type ApiHandler, type ApiOptions, type ApiOutcome, type ApiReply, type ApiSpec } from "../transport/http-api-skeleton.js";
import { encodeAttributeResponse, encodeProvisionResponse, type RpcRequest } from "./codec.js";
import { firmwareShelf } from "../broker/index.js";
import { chunkOf, packageKeys } from "./codec-firmware.js";
import type { HostedDevice, PollQueue } from "./hosted-device.js";
import { TB_PLUGIN } from "./hosted-types.js";
import { hostedByToken } from "./hosted-index.js";
import { provisionDevice } from "./provisioning.js";
import { HTTP_BASE, parseHttpRequest, type HttpIntent } from "./http-codec.js";

/** Largest request body. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

export interface TbHttpApiOptions extends ApiOptions {
  /** Long-poll wait when the request gives no `timeout`, and the wait for a flow's client-RPC answer; default 60 000 ms (ThingsBoard's). */
  requestTimeoutMs?: number;
  /** Longest long-poll wait a request may ask for; default 300 000 ms (ThingsBoard's). */
  maxTimeoutMs?: number;
}

type Settings = Required<Omit<TbHttpApiOptions, "authThrottle">>;

const json = (status: number, body: string): ApiReply => ({ status, body, contentType: JSON_TYPE });
const text = (status: number, body: string): ApiReply => ({ status, body, contentType: TEXT_TYPE });
/** No body, no Content-Type (ThingsBoard's 401 and 408). */
const empty = (status: number): ApiReply => ({ status, body: "" });

const MAX_TIMER_MS = 0x7fff_ffff;
const PREFIX = `${HTTP_BASE}/`;

function checkMs(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new TypeError(`${name} must be a positive number of milliseconds (at most ${MAX_TIMER_MS}), got ${typeof value === "number" ? value : typeof value}`);
  }
  return value;
}

/**
 * Waits for a push on `queue`: its body (200 JSON), 408 after `ms`, 503 if the device stops
 * being hosted, or undefined when the client hung up first.
 */
function longPoll(queue: PollQueue, ms: number, res: ServerResponse): Promise<ApiOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let cancel: () => void = () => undefined;
    const finish = (reply: ApiOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      res.off("close", onClose);
      cancel();
      resolve(reply);
    };
    const onClose = (): void => {
      finish(undefined);
    };
    const timer = setTimeout(() => {
      finish(empty(408));
    }, ms);
    res.on("close", onClose);
    const poll = queue.poll((body) => {
      finish(body === undefined ? text(503, "The device is no longer hosted on this broker.") : json(200, body));
    });
    cancel = poll.cancel;
    if (poll.body !== undefined) finish(json(200, poll.body));
  });
}

/** A client RPC: handed to flows, answered with the flow's reply, 408 without one. */
async function clientRpc(device: HostedDevice, request: RpcRequest, ms: number, res: ServerResponse): Promise<ApiOutcome> {
  const id = device.clientRpc.nextId();
  const answer = device.clientRpc.wait(id, ms, `client RPC "${request.method}" (id ${id})`);
  const onClose = (): void => {
    device.clientRpc.reject(id, new TransportError("closed", "the HTTP client hung up"));
  };
  res.on("close", onClose);
  try {
    device.receive({ kind: "rpc-request", id, idText: String(id), method: request.method, params: request.params });
    return json(200, JSON.stringify(await answer));
  } catch (err) {
    device.clientRpc.reject(id, toError(err));
    if (err instanceof TransportError && err.code === "timeout") return empty(408);
    if (err instanceof TransportError && err.code === "closed") return res.writableEnded || res.destroyed ? undefined : text(503, "The device is no longer hosted on this broker.");
    throw err;
  } finally {
    res.off("close", onClose);
  }
}

function perform(intent: Exclude<HttpIntent, { kind: "provision" }>, device: HostedDevice, res: ServerResponse, options: Settings): ApiOutcome | Promise<ApiOutcome> {
  const pollMs = (timeoutMs: number): number => (timeoutMs === 0 ? options.requestTimeoutMs : Math.min(timeoutMs, options.maxTimeoutMs));
  switch (intent.kind) {
    case "telemetry":
      if (intent.entries.length > 0) device.receive({ kind: "telemetry", entries: intent.entries });
      return empty(200);
    case "attributes":
      device.receive({ kind: "attributes", values: intent.values }); // what fits is remembered; flows get everything
      return empty(200);
    case "attributes-request":
      return json(200, JSON.stringify(encodeAttributeResponse(device.state.select(intent.request))));
    case "attribute-updates":
      return longPoll(device.attributeUpdates, pollMs(intent.timeoutMs), res);
    case "rpc-poll":
      return longPoll(device.rpcRequests, pollMs(intent.timeoutMs), res);
    case "rpc-reply":
      device.receive({ kind: "rpc-response", id: intent.id, result: intent.result });
      return empty(200);
    case "rpc-call":
      return clientRpc(device, intent.request, options.requestTimeoutMs, res);
    case "claim":
      device.receive({ kind: "claim", claim: intent.claim }); // flows decide what a claim means (no ThingsBoard customers here)
      return empty(200);
    case "firmware":
      return firmwareFile(intent, device);
  }
}

/**
 * A package over HTTP (docs/PROTOCOLS.md 4.6): 404 when the device has none (or Node-RED no
 * longer has its bytes), 400 when title or version is not the announced one, else the chunk.
 */
function firmwareFile(intent: Extract<HttpIntent, { kind: "firmware" }>, device: HostedDevice): ApiReply {
  const keys = packageKeys(intent.type);
  const { shared } = device.state.select({ all: false, clientKeys: [], sharedKeys: [keys.title, keys.version] });
  const image = firmwareShelf.imageOf(TB_PLUGIN, device.id, intent.type);
  if (image === undefined || !(keys.title in shared)) return text(404, `No ${intent.type} is assigned to this device.`);
  if (shared[keys.title] !== intent.title || shared[keys.version] !== intent.version) {
    return text(400, `The ${intent.type} assigned to this device is not ${JSON.stringify(intent.title)} ${JSON.stringify(intent.version)}.`);
  }
  return { status: 200, body: chunkOf(image.data, intent.size, intent.chunk), contentType: "application/octet-stream" };
}

async function handle(call: ApiCall, options: Settings): Promise<ApiOutcome> {
  const { method, url, res } = call;
  // Routing first, from the path alone: another handler may own the path, and then its body must stay unread.
  const route = parseHttpRequest(method, url);
  if (route.kind === "error" && route.status === 404) return "next";
  if (route.kind === "error" && route.status === 405) return text(405, route.error);
  const lockedOut = call.lockedOut();
  if (lockedOut) return lockedOut;
  let body = "";
  if (method === "POST") {
    const read = await call.bodyText();
    if (typeof read !== "string") return read;
    body = read;
  }
  // Telemetry without a ts of its own is stamped with its arrival, as the server does.
  const intent = method === "POST" ? parseHttpRequest(method, url, undefined, body, { now: Date.now() }) : route;
  if (intent.kind === "error") return text(intent.status, intent.error);
  if (intent.kind === "provision") return json(200, JSON.stringify(encodeProvisionResponse(await provisionDevice(intent.request, { kind: "http", wrongSecret: () => { call.loginFailed(); } }))));
  const registration = hostedByToken(intent.token);
  if (!registration) {
    call.loginFailed();
    return empty(401);
  }
  call.loginSucceeded();
  const device = registration.runtime;
  if (!device || device.closed) return text(503, "The iot-broker node hosting this device is not running.");
  // A write is answered once it is durable (a 200 is an acknowledgement: docs/ARCHITECTURE.md 5.6).
  if (intent.kind === "telemetry" || intent.kind === "attributes") call.durable(device.store);
  try {
    return await perform(intent, device, res, options);
  } catch (err) {
    if (err instanceof TransportError && err.code === "too-large") return text(413, err.message);
    if (err instanceof TransportError && err.code === "closed") return text(503, "The iot-broker node hosting this device is not running.");
    throw err;
  }
}

/** ThingsBoard's API to the skeleton: every path under the API base may be one (the codec's router tells; 404 is `next()`). */
const TB_API: Omit<ApiSpec, "handle"> = {
  serves: (url) => url.startsWith(PREFIX),
  refuse: text,
  maxBodyBytes: MAX_BODY_BYTES,
  says: { lockedOut: "Too many requests with unknown access tokens from this address; try again later.", tooLarge: `The request body is too large: at most ${MAX_BODY_BYTES} bytes.` },
};

/**
 * The handler for Node-RED's `RED.httpNode` (mount once, without a path: `httpNode.use(h)`), or
 * any Node HTTP server. It never throws: failures answer 500 without detail. Throws TypeError
 * at creation for bad options.
 */
export function thingsBoardHttpApi(options: TbHttpApiOptions = {}): ApiHandler {
  const settings: Settings = {
    requestTimeoutMs: checkMs(options.requestTimeoutMs, "requestTimeoutMs", 60_000),
    maxTimeoutMs: checkMs(options.maxTimeoutMs, "maxTimeoutMs", 300_000),
  };
  return serveApi({ ...TB_API, handle: (call) => handle(call, settings) }, options);
}
