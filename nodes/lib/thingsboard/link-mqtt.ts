/**
 * mqtt mode: Node-RED is a ThingsBoard device (docs/PROTOCOLS.md 4.1-4.2) or, with `gateway`, a
 * ThingsBoard gateway speaking for named sub-devices (docs/PROTOCOLS.md 4.4), over one MqttSession: the access
 * token as user name (or basic MQTT credentials), clean session, QoS 1 both ways, except that
 * telemetry and attributes go out at the device's `qos` (1 by default; 0 = fire-and-forget, done
 * once written to the socket, as Node-RED's `mqtt out` at QoS 0).
 *
 * Decisions:
 * - Everything downlink is subscribed at start (shared attributes, attribute responses, server
 *   RPC, client-RPC responses; for a gateway also its three downlink topics), so an answer can
 *   never arrive before its subscription.
 * - Gateway: a message without a sub-device name (or with the gateway's own name) uses the
 *   device API as the gateway itself. A sub-device is connected (`v1/gateway/connect`) before
 *   its first message and again after every reconnect; all are disconnected on close. Idle
 *   sub-devices are NOT disconnected: ThingsBoard marks them inactive by itself, and a
 *   disconnected sub-device would stop receiving RPC and attribute updates.
 * - Gateway attribute requests go out one per scope (the server's form, gateway-codec.ts) and
 *   need keys; client-side RPC exists for the gateway itself only.
 * - CONNACK refusals are reported in ThingsBoard's words, from the session's refusal code.
 * - Firmware (`firmware` option, docs/PROTOCOLS.md 4.6): the chunk topics are subscribed at start,
 *   the fw_* shared attributes are asked for on every connect and watched in updates, and
 *   firmware-download.ts downloads, verifies and reports; the image reaches flows as an
 *   `incoming` of kind "firmware".
 * - Self-provisioning (`provision`, no token yet): before the device's session starts, one
 *   provisioning exchange (provision-client.ts) runs, again with a backoff after a network
 *   failure or timeout; ThingsBoard's refusal is final (auth-failed with its errorMsg, until a
 *   redeploy). The answer is handed to `provisioned` (to be kept) and becomes the session's
 *   CONNECT credentials. Messages sent meanwhile wait in the session's outbox.
 */
import { Backoff } from "../transport/backoff.js";
import { toError, TransportError } from "../transport/errors.js";
import { MqttSession } from "../transport/mqtt-session.js";
import type { InboundMessage } from "../transport/pubsub.js";
import {
  attributeRequestTopic, connectCredentials, describeConnack, encodeAttributeRequest, encodeClaim, encodeAttributes, encodeRpcRequest,
  encodeTelemetry, LIMITS, parseAttributeResponse, parseAttributeUpdate, parseDeviceTopic, parseRpcRequest, parseRpcResponse,
  readObject, rpcError, rpcRequestTopic, rpcResponseTopic, toCheckedPayloadText, toKeyList, toPayloadText, TOPICS,
  type ProvisionCredentials, type TbJson,
} from "./codec.js";
import { provisionOverMqtt, provisionRequestOf } from "./provision-client.js";
import {
  encodeGatewayAttributeRequest, encodeGatewayAttributes, encodeGatewayClaim, encodeGatewayConnect, encodeGatewayDisconnect,
  encodeGatewayRpcResponse, encodeGatewayTelemetry, isGatewayRpcRequest, parseGatewayAttributeResponse,
  parseGatewayAttributeUpdate, parseGatewayRpcRequest,
} from "./gateway-codec.js";
import { chunkResponseFilter, errorTopic, packageKeys, packageRequestKeys, parsePackageAttributes } from "./codec-firmware.js";
import { FirmwareDownloader } from "./firmware-download.js";
import {
  DEFAULT_SERVERS, TbLinkBase, type AttributeRequest, type AttributeValues, type TbLinkOptions, type TbLinkStatus, type TbRequestOptions,
  type TbRpcRequest, type TbTarget,
} from "./link-base.js";

const KEEPALIVE_SEC = 60;
/** Longest wait for sub-device disconnects on close. */
const BYE_WAIT_MS = 2000;
const G = TOPICS.gateway;
const DEVICE_FILTERS = [TOPICS.attributes, TOPICS.attributeResponseFilter, TOPICS.rpcRequestFilter, TOPICS.rpcResponseFilter];
const GATEWAY_FILTERS = [G.attributes, G.attributeResponse, G.rpc];

export class MqttTbLink extends TbLinkBase {
  readonly connection = "mqtt" as const;
  readonly #session: MqttSession;
  /** QoS of telemetry and attribute publishes (RPC replies, requests and gateway connects stay 1). */
  readonly #dataQos: 0 | 1;
  /** Sub-devices connected in this session (gateway). */
  readonly #subDevices = new Set<string>();
  #connectedOnce = false;
  readonly #firmware: FirmwareDownloader | undefined;
  readonly #options: TbLinkOptions;
  #provisionRetry: NodeJS.Timeout | undefined;

  constructor(options: TbLinkOptions) {
    super(options);
    this.#dataQos = options.qos === 0 ? 0 : 1;
    this.#options = options;
    const b = options.basic;
    const credentials = b !== undefined
      ? connectCredentials({ type: "basic", clientId: b.clientId, username: b.username, password: b.password })
      : needsProvisioning(options) ? {} : connectCredentials({ type: "access-token", token: options.token }); // provisioning: set before start
    this.#session = new MqttSession({
      url: options.server ?? DEFAULT_SERVERS.mqtt,
      clientId: credentials.clientId ?? "",
      ...(credentials.username === undefined ? {} : { username: credentials.username }),
      ...(credentials.password === undefined ? {} : { password: credentials.password }),
      keepaliveSec: KEEPALIVE_SEC,
      clean: true,
      maxPayloadBytes: LIMITS.maxPayloadBytes,
      redactor: this.redactor,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ...options.mqtt,
    });
    this.follow(this.#session, () => { this.#onConnected(); }, (status): TbLinkStatus =>
      status.state === "auth-failed" && status.refusal !== undefined ? { ...status, reason: describeConnack(status.refusal) } : status);
    if (options.firmware !== undefined) {
      this.#firmware = new FirmwareDownloader({
        request: (topic, payload) => this.#session.publish(topic, payload, { qos: 1 }),
        telemetry: (values) => this.#publishData(TOPICS.telemetry, values),
        deliver: (info, data) => {
          this.deliver({ kind: "firmware", device: this.name, subDevice: false, info, data });
        },
        warn: (text) => {
          this.warn(text);
        },
      }, options.firmware);
    }
  }

  get server(): string {
    return this.#session.url;
  }

  start(): void {
    if (!this.firstStart()) return;
    for (const filter of this.gateway ? [...DEVICE_FILTERS, ...GATEWAY_FILTERS] : DEVICE_FILTERS) {
      this.#session.subscribe(filter, (m) => { this.#onMessage(m); }, { qos: 1 }).catch((err: unknown) => {
        this.warn(`could not subscribe to ${filter}: ${toError(err).message}`);
      });
    }
    const firmware = this.#firmware;
    if (firmware !== undefined) {
      for (const filter of [chunkResponseFilter(), errorTopic()]) {
        this.#session.subscribe(filter, (m) => { firmware.receive(m.topic, m.payload); }, { qos: 1 }).catch((err: unknown) => {
          this.warn(`could not subscribe to ${filter}: ${toError(err).message}`);
        });
      }
    }
    if (needsProvisioning(this.#options)) this.#provision();
    else this.#session.start();
  }

  /** Read afresh after an await (a plain `this.closed` check would be narrowed away by the compiler). */
  #ended(): boolean {
    return this.closed;
  }

  /** Runs the provisioning; whatever it throws ends as the link's refusal, never as an unhandled rejection. */
  #provision(backoff?: Backoff): void {
    this.#provisionThenStart(backoff).catch((err: unknown) => {
      if (this.#ended()) return;
      this.setStatus({ state: "auth-failed", queued: 0, reason: this.redactor.redact(`provisioning failed: ${toError(err).message}`) });
    });
  }

  /** Provisions the device, checks and keeps the answer, then starts the session with it; retried after network trouble. */
  async #provisionThenStart(backoff = new Backoff({ initialMs: 5000, maxMs: 300_000, ...this.#options.provision?.retry })): Promise<void> {
    const provision = this.#options.provision;
    if (provision === undefined || this.closed) return;
    this.setStatus({ state: "connecting", queued: 0, reason: `provisioning "${provision.deviceName}"` });
    let credentials: ProvisionCredentials;
    try {
      credentials = await provisionOverMqtt({
        url: this.#session.url, request: provisionRequestOf(provision), redactor: this.redactor,
        ...(this.#options.tls === undefined ? {} : { tls: this.#options.tls }),
        ...(provision.timeoutMs === undefined ? {} : { timeoutMs: provision.timeoutMs }),
        ...(this.#options.mqtt === undefined ? {} : { mqtt: this.#options.mqtt }),
      });
    } catch (err) {
      if (this.#ended()) return;
      const error = toError(err);
      if (error instanceof TransportError && !error.retryable) {
        this.setStatus({ state: "auth-failed", queued: 0, reason: error.message });
        return;
      }
      const waitMs = backoff.next();
      this.setStatus({ state: "disconnected", queued: 0, reason: error.message, retryInMs: waitMs });
      this.#provisionRetry = setTimeout(() => { this.#provision(backoff); }, waitMs);
      return;
    }
    if (this.#ended()) return;
    if (credentials.credentialsType === "X509_CERTIFICATE") {
      this.setStatus({ state: "auth-failed", queued: 0, reason: "ThingsBoard answered X.509 credentials, which this node does not use; ask for an access token or basic MQTT credentials" });
      return;
    }
    this.redactor.add(credentials.credentialsType === "ACCESS_TOKEN" ? credentials.token : credentials.password);
    // Checked before they are kept: credentials this node could not log in with would fail every later start too.
    let login: ReturnType<typeof connectCredentials>;
    try {
      login = credentials.credentialsType === "ACCESS_TOKEN"
        ? connectCredentials({ type: "access-token", token: credentials.token })
        : connectCredentials({ type: "basic", clientId: credentials.clientId, username: credentials.username, password: credentials.password });
    } catch (err) {
      this.setStatus({ state: "auth-failed", queued: 0, reason: this.redactor.redact(`ThingsBoard answered credentials this node cannot log in with: ${toError(err).message}`) });
      return;
    }
    try {
      await provision.provisioned(credentials);
    } catch (err) {
      this.warn(`the credentials of "${provision.deviceName}" could not be kept for the next start: ${toError(err).message}`);
    }
    if (this.#ended()) return;
    this.#session.setCredentials(login);
    this.#session.start();
  }

  async sendTelemetry(telemetry: unknown, target: TbTarget = {}): Promise<void> {
    await this.#sendData(target, (sub) => (sub === undefined
      ? [TOPICS.telemetry, encodeTelemetry(telemetry, this.now())]
      : [G.telemetry, encodeGatewayTelemetry([[sub, telemetry]], this.now())]));
  }

  async publishAttributes(values: unknown, target: TbTarget = {}): Promise<void> {
    await this.#sendData(target, (sub) => (sub === undefined ? [TOPICS.attributes, encodeAttributes(values)] : [G.attributes, encodeGatewayAttributes([[sub, values]])]));
  }

  /** Claiming goes at QoS 1, like RPC replies: it is a one-off request. */
  async sendClaim(claim: { secretKey?: unknown; durationMs?: unknown }, target: TbTarget = {}): Promise<void> {
    this.assertOpen();
    const sub = this.subDevice(target.device);
    const payload = sub === undefined ? encodeClaim(claim) : encodeGatewayClaim([[sub, claim]]);
    if (sub !== undefined) await this.#announce(sub);
    await this.#publish(sub === undefined ? TOPICS.claim : G.claim, payload);
  }

  async requestAttributes(request: AttributeRequest, options: TbRequestOptions = {}): Promise<AttributeValues> {
    this.assertOpen();
    const sub = this.subDevice(options.device);
    if (sub === undefined) {
      const body = encodeAttributeRequest(request);
      const id = this.attributeCalls.nextId();
      const answer = this.attributeCalls.wait(id, options.timeoutMs, `the attribute request (id ${id})`);
      await this.#publishOrDrop(attributeRequestTopic(id), body, () => this.attributeCalls.reject(id, closedBeforeSent()));
      const { client, shared } = parseAttributeResponse(await answer);
      return { client, shared };
    }
    const scopes = (["client", "shared"] as const)
      .map((scope) => ({ scope, keys: toKeyList(scope === "client" ? request.clientKeys : request.sharedKeys, `${scope}Keys`) }))
      .filter((s) => s.keys.length > 0);
    if (scopes.length === 0) {
      throw new TransportError("invalid", `the attribute request for sub-device "${sub}" names no key; the gateway API cannot ask for "all": give clientKeys and/or sharedKeys`);
    }
    const requests = scopes.map(({ scope, keys }) => {
      const id = this.attributeCalls.nextId();
      return { scope, keys, id, body: encodeGatewayAttributeRequest({ id, device: sub, scope, keys }) };
    });
    await this.#announce(sub);
    const answers = await Promise.all(
      requests.map(async ({ scope, keys, id, body }) => {
        const answer = this.attributeCalls.wait(id, options.timeoutMs, `the ${scope} attribute request of "${sub}" (id ${id})`);
        await this.#publishOrDrop(G.attributeRequest, body, () => this.attributeCalls.reject(id, closedBeforeSent()));
        return { scope, values: parseGatewayAttributeResponse(await answer, keys).values };
      }),
    );
    const out: AttributeValues = { client: {}, shared: {} };
    for (const { scope, values } of answers) out[scope] = values;
    return out;
  }

  async callRpc(method: unknown, params: unknown, options: TbRequestOptions = {}): Promise<TbJson> {
    this.assertOpen();
    if (this.subDevice(options.device) !== undefined) {
      throw this.unsupported("client-side RPC for a sub-device", "ThingsBoard's gateway API has none; leave msg.thingsboard.device empty to call as the gateway itself");
    }
    const body = encodeRpcRequest({ method, params });
    const id = this.calls.nextId();
    const answer = this.calls.wait(id, options.timeoutMs, `RPC "${body.method}" (id ${id})`);
    await this.#publishOrDrop(rpcRequestTopic(id), body, () => this.calls.reject(id, closedBeforeSent()));
    const result = await answer;
    const error = rpcError(result);
    if (error !== undefined) throw new TransportError("protocol", `ThingsBoard answered RPC "${body.method}" with an error: ${error}`);
    return result;
  }

  protected async sendReply(request: TbRpcRequest, result: TbJson): Promise<void> {
    if (request.subDevice) await this.#publish(G.rpc, encodeGatewayRpcResponse({ device: request.device, id: request.id, result }));
    else await this.#publish(rpcResponseTopic(request.idText), result);
  }

  protected async shutdown(): Promise<void> {
    this.#firmware?.close();
    clearTimeout(this.#provisionRetry);
    if (this.#subDevices.size > 0 && this.#session.status.state === "connected") {
      // Acknowledged (QoS 1) so they are not cut off by the close, but never waited for long.
      const bye = Promise.allSettled([...this.#subDevices].map((d) => this.#publish(G.disconnect, encodeGatewayDisconnect(d))));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([bye, new Promise((resolve) => (timer = setTimeout(resolve, BYE_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.#subDevices.clear();
    await this.#session.close();
  }

  async #publish(topic: string, payload: unknown): Promise<void> {
    await this.#session.publish(topic, toPayloadText(payload), { qos: 1 });
  }

  /** Telemetry or attributes, as the encoders built them (values checked), at the device's QoS. */
  /** Telemetry or attributes, encoded (and so checked) first; a sub-device is connected before its first message. */
  async #sendData(target: TbTarget, encode: (sub: string | undefined) => [string, TbJson]): Promise<void> {
    this.assertOpen();
    const sub = this.subDevice(target.device);
    const [topic, payload] = encode(sub);
    if (sub !== undefined) await this.#announce(sub);
    await this.#publishData(topic, payload);
  }

  async #publishData(topic: string, payload: TbJson): Promise<void> {
    await this.#session.publish(topic, toCheckedPayloadText(payload), { qos: this.#dataQos });
  }

  async #publishOrDrop(topic: string, payload: unknown, drop: () => void): Promise<void> {
    try {
      await this.#publish(topic, payload);
    } catch (err) {
      drop();
      throw err;
    }
  }

  /** Connects a sub-device before its first message (once per session). */
  async #announce(device: string): Promise<void> {
    if (this.#subDevices.has(device)) return;
    this.#subDevices.add(device);
    try {
      await this.#publish(G.connect, encodeGatewayConnect(device));
    } catch (err) {
      this.#subDevices.delete(device);
      throw err;
    }
  }

  #onConnected(): void {
    // After a reconnect ThingsBoard has forgotten the sub-device sessions: connect them again.
    if (this.#connectedOnce) {
      for (const device of this.#subDevices) {
        this.#publish(G.connect, encodeGatewayConnect(device)).catch((err: unknown) => {
          this.warn(`could not reconnect sub-device "${device}": ${toError(err).message}`);
        });
      }
    }
    this.#connectedOnce = true;
    this.setReady(true);
    if (this.#firmware !== undefined) this.#askFirmware();
  }

  /** Asks ThingsBoard for the fw_* shared attributes (as the SDKs do at start); an announcement is offered to the downloader. */
  #askFirmware(): void {
    this.requestAttributes({ sharedKeys: packageRequestKeys() }, { timeoutMs: 10_000 }).then(({ shared }) => {
      this.#offerFirmware(shared);
    }, (err: unknown) => {
      this.warn(`could not ask for the firmware attributes: ${toError(err).message}`);
    });
  }

  /** Shared attributes that may announce a package: complete -> offered; partial -> all fw_* keys asked for. */
  #offerFirmware(values: Record<string, unknown>, partialAsks = false): void {
    const firmware = this.#firmware;
    if (firmware === undefined) return;
    const k = packageKeys();
    if (![k.title, k.version, k.checksum, k.size].some((key) => key in values)) return;
    if (partialAsks && !(k.title in values && k.version in values && k.checksum in values)) {
      this.#askFirmware();
      return;
    }
    try {
      const info = parsePackageAttributes(values);
      if (info !== undefined) firmware.offer(info);
    } catch (err) {
      this.warn(`ignored a firmware announcement: ${toError(err).message}`);
    }
  }

  #onMessage(message: InboundMessage): void {
    try {
      this.#dispatch(message.topic, message.payload);
    } catch (err) {
      this.warn(`ignored a message on "${message.topic}": ${toError(err).message}`);
    }
  }

  #dispatch(topic: string, payload: Buffer): void {
    const parsed = parseDeviceTopic(topic);
    const own = { device: this.name, subDevice: false };
    switch (parsed.kind) {
      case "attributes": {
        const update = parseAttributeUpdate(payload);
        this.deliver({ kind: "attributes", ...own, scope: "shared", values: update.values, deleted: update.deleted });
        this.#offerFirmware(update.values, true);
        return;
      }
      case "attributes-response":
        this.attributeCalls.resolve(parsed.id, payload);
        return;
      case "rpc-request": {
        const request = parseRpcRequest(payload);
        this.offerRpc({ kind: "rpc", ...own, id: parsed.id, idText: parsed.idText, method: request.method, params: request.params });
        return;
      }
      case "rpc-response":
        this.calls.resolve(parsed.id, parseRpcResponse(payload));
        return;
      case "gateway-attributes": {
        const update = parseGatewayAttributeUpdate(payload);
        this.deliver({ kind: "attributes", device: update.device, subDevice: true, scope: "shared", values: update.values, deleted: update.deleted });
        return;
      }
      case "gateway-attributes-response": {
        const id = readObject(payload, "gateway attribute response", '{"id": 1, "device": "...", ...}').id;
        if (typeof id === "number" || typeof id === "string") this.attributeCalls.resolve(id, payload);
        return;
      }
      case "gateway-rpc": {
        if (!isGatewayRpcRequest(payload)) return;
        const r = parseGatewayRpcRequest(payload);
        this.offerRpc({ kind: "rpc", device: r.device, subDevice: true, id: r.id, idText: String(r.id), method: r.method, params: r.params });
        return;
      }
      default:
        this.warn(`ignored a message on "${topic}": not a ThingsBoard downlink topic`);
    }
  }
}

/** A device with provisioning settings and neither token nor basic credentials yet. */
function needsProvisioning(options: TbLinkOptions): boolean {
  return options.provision !== undefined && options.token === "" && options.basic === undefined;
}

function closedBeforeSent(): TransportError {
  return new TransportError("closed", "the request could not be sent");
}
