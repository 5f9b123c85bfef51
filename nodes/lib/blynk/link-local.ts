/**
 * local mode: Node-RED serves a Blynk device hosted on an iot-broker node. The device is hosted
 * (its token accepted by the broker) for as long as the link is open; the link talks to the
 * broker in-process (BrokerPubSub, no socket) on the device's internal topics: what it
 * publishes arrives under `up/`, the self-hosted HTTPS API's writes under `http/`, its state
 * under `state/`, and writes from flows go to `down/` as `downlink/ds/<name>`.
 *
 * Decisions: a device receives only current values, so timestamped data, widget properties,
 * erases and events cannot be sent to it and are refused in words. `sync` answers from the
 * emulation's store (what the broker remembers for get/ds) while the broker runs, else from
 * the last values this link saw.
 */
import { BrokerPubSub, brokers } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import type { InboundMessage, LinkStatus, Subscription } from "../transport/pubsub.js";
import {
  assertDatastreamName, decodeValue, encodeValue, LIMITS, parseUplink, toBatchValues, type McuInfo,
} from "./codec.js";
import { hostBlynkDevice, hostedByToken, hostedDevice, hostedDeviceState, hostedTopics } from "./emulation.js";
import {
  BlynkLinkBase, type BlynkIncoming, type BlynkLinkOptions, type BlynkSource, type BlynkValueMessage,
  type SyncRequest, type WriteOptions,
} from "./link-base.js";
import { ReportThrottle } from "../transport/report-throttle.js";

/** Values remembered for sync while the broker does not run (Blynk templates have far fewer datastreams). */
const MAX_CACHED = 1000;

export class LocalBlynkLink extends BlynkLinkBase {
  readonly connection = "local" as const;
  readonly #options: BlynkLinkOptions;
  readonly #id: string;
  readonly #broker: string;
  readonly #cache = new Map<string, BlynkValueMessage>();
  /** `<down prefix>downlink/ds/`: append a (checked) datastream name. */
  readonly #dsTopic: string;
  /** Written while the broker did not run (queued): remembered by the emulation once it runs. */
  readonly #unremembered = new Map<string, string>();
  readonly #subs: Subscription[] = [];
  #pubsub: BrokerPubSub | undefined;
  #unhost: (() => void) | undefined;
  /** What the hosted device keeps getting wrong is warned about a few times, then summarised once a minute. */
  readonly #deviceProblems = new ReportThrottle({
    summary: (text) => {
      this.warn(text);
    },
  });
  #online: boolean | undefined;
  #info: string | undefined;

  constructor(options: BlynkLinkOptions) {
    super(options);
    this.#options = options;
    this.#id = options.deviceId ?? "";
    this.#broker = options.broker ?? "";
    // Throws for an id that cannot be a topic level; the name appended per write is checked by assertDatastreamName.
    this.#dsTopic = `${hostedTopics.down(this.#id)}downlink/ds/`;
  }

  get server(): undefined {
    return undefined;
  }

  start(): void {
    this.assertOpen();
    if (this.#pubsub !== undefined) return;
    const o = this.#options;
    // Hosted first: on every broker (re)start the emulation is plugged in before this link attaches.
    this.#unhost = hostBlynkDevice(
      this.#broker,
      {
        id: this.#id, token: o.token, name: o.name ?? this.#id,
        ...(o.templateId === undefined || o.templateId === "" ? {} : { templateId: o.templateId }),
        ...(o.timeZone === undefined || o.timeZone === "" ? {} : { timeZone: o.timeZone }),
        ...(o.pins === undefined ? {} : { pins: o.pins }),
      },
      (err) => {
        this.warn(toError(err).message);
      },
    );
    const pubsub = new BrokerPubSub(brokers, this.#broker, { maxPayloadBytes: LIMITS.messageBytes });
    this.#pubsub = pubsub;
    pubsub.on("status", (status) => {
      this.#onBrokerStatus(status);
    });
    pubsub.on("warning", (text) => {
      this.warn(text);
    });
    const listen = (prefix: string, handler: (relative: string, m: InboundMessage) => void): void => {
      pubsub
        .subscribe(`${prefix}#`, (m) => {
          handler(m.topic.slice(prefix.length), m);
        })
        .then((sub) => this.#subs.push(sub))
        .catch((err: unknown) => {
          this.warn(`could not listen to the hosted device: ${toError(err).message}`);
        });
    };
    listen(hostedTopics.up(this.#id), (rel, m) => { this.#fromDevice(rel, m.payload, "device"); });
    listen(hostedTopics.http(this.#id), (rel, m) => { this.#fromHttp(rel, m.payload); });
    listen(hostedTopics.state(this.#id), (rel, m) => { this.#fromState(rel, m.payload); });
    this.#onBrokerStatus(pubsub.status);
    this.setReady(true);
  }

  write(datastream: string, value: unknown, options?: WriteOptions): Promise<void> {
    // The hot path: no async layers, one check of the name, the publish promise returned as it is.
    let text: string;
    try {
      this.assertOpen();
      if (options?.timestamp !== undefined) throw this.#noHistory();
      assertDatastreamName(datastream);
      text = encodeValue(value, datastream);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    return this.#publish(datastream, text);
  }

  async writeBatch(values: unknown): Promise<void> {
    this.assertOpen();
    // A device has no batch downlink: one downlink/ds per datastream, all checked before any is sent.
    const encoded = Object.entries(toBatchValues(values)).map(([datastream, value]) => {
      assertDatastreamName(datastream);
      return [datastream, encodeValue(value, datastream)] as const;
    });
    await Promise.all(encoded.map(([datastream, text]) => this.#publish(datastream, text)));
  }

  writeTimestamped(): Promise<void> {
    return Promise.reject(this.#noHistory());
  }

  setProperty(): Promise<void> {
    return Promise.reject(this.unsupported("setting a widget property", "properties are set by the device (ds/<name>/prop/<property>), Blynk sends none to devices"));
  }

  erase(): Promise<void> {
    return Promise.reject(this.unsupported("erasing", "a device receives only values (downlink/ds/<name>), there is no erase for it"));
  }

  async sync(request: SyncRequest = {}): Promise<BlynkIncoming[]> {
    const values = await this.read(request.datastreams);
    if (request.system !== true) return values;
    const extra: BlynkIncoming[] = [];
    if (this.#online !== undefined) extra.push({ kind: "system", topic: "$system/online", value: this.#online, source: "cache" });
    if (this.#info !== undefined) extra.push({ kind: "system", topic: "$system/info", value: JSON.parse(this.#info) as McuInfo, source: "cache" });
    return [...values, ...extra];
  }

  read(datastreams?: string[]): Promise<BlynkIncoming[]> {
    try {
      this.assertOpen();
      for (const name of datastreams ?? []) assertDatastreamName(name);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    const wanted = datastreams === undefined || datastreams.length === 0 ? undefined : new Set(datastreams);
    const stored = hostedByToken(this.#options.token);
    const runtime = stored?.device.id === this.#id ? stored.runtime : undefined;
    const entries: [string, BlynkValueMessage][] = runtime
      ? runtime.store.values().map(([name, text]) => [name, { kind: "value", datastream: name, value: decodeValue(text), text, source: "cache" }])
      : [...this.#cache];
    return Promise.resolve(
      entries.filter(([name]) => wanted === undefined || wanted.has(name)).map(([, m]): BlynkValueMessage => ({ ...m, source: "cache", sync: true })),
    );
  }

  protected prepareEvent(): () => Promise<void> {
    throw this.unsupported("logging an event", "events come from the hosted device; the blynk-event node's output emits them");
  }

  protected async shutdown(): Promise<void> {
    const subs = this.#subs.splice(0);
    await Promise.allSettled(subs.map((s) => s.unsubscribe()));
    await this.#pubsub?.close();
    this.#unhost?.();
    this.#deviceProblems.close();
  }

  #noHistory(): Error {
    return this.unsupported("sending timestamped data", "Node-RED serves this device and a device receives only current values (downlink/ds/<name>)");
  }

  /**
   * QoS 1, as the HTTPS API's writes: the broker downgrades to each subscription's QoS, so a
   * device subscribed at QoS 0 (Blynk.Cloud's samples) gets QoS 0, and one subscribed at QoS 1
   * with a persistent session also gets what was written while it was offline. Resolves once
   * handed to the broker (or queued while it is stopped). The hosted device's store is told directly what was written (get/ds answers with
   * it); the emulation does not listen to flows' writes on the broker.
   */
  #publish(datastream: string, text: string): Promise<void> {
    const pubsub = this.#pubsub;
    if (pubsub === undefined) return Promise.reject(this.unsupported("writing before start", "the link was not started"));
    const sent = pubsub.publish(this.#dsTopic + datastream, text, { qos: 1 });
    const runtime = hostedDevice(this.#broker, this.#id);
    if (runtime !== undefined) {
      runtime.flowsWrote(datastream, text);
    } else {
      this.#unremembered.delete(datastream); // re-insert: the oldest entry is the least recently written
      this.#unremembered.set(datastream, text);
      if (this.#unremembered.size > MAX_CACHED) this.#unremembered.delete(this.#unremembered.keys().next().value ?? "");
    }
    return sent;
  }

  /** Values written while the broker did not run were queued and are delivered now: remember them too. */
  #rememberQueued(): void {
    if (this.#unremembered.size === 0) return;
    const runtime = hostedDevice(this.#broker, this.#id);
    if (runtime === undefined) return;
    for (const [datastream, text] of this.#unremembered) runtime.flowsWrote(datastream, text);
    this.#unremembered.clear();
  }

  #onBrokerStatus(status: LinkStatus): void {
    if (status.state === "connected") {
      this.#rememberQueued();
      this.#refreshState();
    }
    this.setStatus({
      ...status,
      ...(status.state === "disconnected" ? { reason: status.reason ?? "the iot-broker node is not running" } : {}),
      ...(this.#online === undefined || status.state !== "connected" ? {} : { deviceOnline: this.#online }),
    });
  }

  /** The retained state topics are paced and may lag behind the emulation's store: read the store. */
  #refreshState(): void {
    const state = hostedDeviceState(this.#id);
    if (state === undefined) return;
    const { info, ...online } = state;
    this.#setOnline(online.online, online);
    if (info !== undefined) this.#setInfo(JSON.stringify(info));
  }

  #fromState(name: string, payload: Buffer): void {
    const text = payload.toString("utf8");
    if (text === "") return; // a retained state being cleared
    try {
      const data = JSON.parse(text) as unknown;
      if (name === "online" && typeof data === "object" && data !== null) {
        const state = data as Record<string, unknown>;
        this.#setOnline(state.online === true, state);
      } else if (name === "info") {
        this.#setInfo(text);
      }
    } catch (err) {
      this.warn(`unreadable state "${name}" of the hosted device: ${toError(err).message}`);
    }
  }

  #setOnline(online: boolean, details: object): void {
    if (online === this.#online) return;
    this.#online = online;
    const status = this.status;
    if (status.state === "connected") this.setStatus({ ...status, deviceOnline: online });
    this.deliver({ kind: "system", topic: "$system/online", value: online, source: "device", details: { ...details } });
  }

  #setInfo(text: string): void {
    if (text === this.#info) return;
    this.#info = text;
    this.deliver({ kind: "system", topic: "$system/info", value: JSON.parse(text) as McuInfo, source: "device" });
  }

  #fromHttp(relative: string, payload: Buffer): void {
    // prop/<name>/<property> is the HTTPS API's own shape; the rest reads like the device's uplink.
    const prop = /^prop\/([^/]+)\/([^/]+)$/.exec(relative);
    if (prop !== null) {
      const [, datastream = "", property = ""] = prop;
      const text = payload.toString("utf8");
      this.deliver({ kind: "value", datastream, property, value: decodeValue(text), text, source: "http" });
      return;
    }
    this.#fromDevice(relative, payload, "http");
  }

  #fromDevice(topic: string, payload: Buffer, source: BlynkSource): void {
    let parsed: ReturnType<typeof parseUplink>;
    try {
      parsed = parseUplink(topic, payload);
    } catch (err) {
      this.#deviceProblems.report("ignored", `ignored "${topic}" from the hosted device: ${toError(err).message}`, (text) => {
        this.warn(text);
      });
      return;
    }
    const text = payload.toString("utf8");
    const value = (m: Omit<BlynkValueMessage, "kind" | "source">): void => {
      const message: BlynkValueMessage = { kind: "value", source, ...m };
      if (m.property === undefined) this.#remember(message);
      this.deliver(message);
    };
    switch (parsed.kind) {
      case "ds":
        value({ datastream: parsed.datastream, value: parsed.value, text });
        return;
      case "batch":
        for (const [datastream, v] of Object.entries(parsed.values)) value({ datastream, value: v, text: encodeValue(v, datastream), batch: true });
        return;
      case "timestamped":
        for (const [timestamp, v] of parsed.points) value({ datastream: parsed.datastream, value: v, text: encodeValue(v, parsed.datastream), timestamp });
        return;
      case "erase":
        value({ datastream: parsed.datastream, value: null, text: "", erase: true });
        return;
      case "property":
        value({ datastream: parsed.datastream, property: parsed.property, value: parsed.value, text });
        return;
      case "property-erase":
        value({ datastream: parsed.datastream, property: parsed.property, value: null, text: "", erase: true });
        return;
      case "event":
        this.deliver({ kind: "event", code: parsed.code, description: parsed.description, source });
        return;
      case "meta":
        this.deliver({ kind: "system", topic: `$system/meta/${parsed.field}`, value: parsed.value, source, details: { field: parsed.field } });
        return;
      case "unknown":
        this.deliver({ kind: "system", topic: "$system/unknown", value: text, source, details: { mqttTopic: topic } });
        return;
      default:
        // get/... requests are answered by the emulation; info/mcu arrives as state.
        return;
    }
  }

  #remember(message: BlynkValueMessage): void {
    if (message.erase === true) {
      this.#cache.delete(message.datastream);
      return;
    }
    this.#cache.delete(message.datastream); // re-insert: the oldest entry is the least recently written
    this.#cache.set(message.datastream, message);
    if (this.#cache.size > MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value ?? "");
  }
}
