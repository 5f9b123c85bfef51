/**
 * local mode: Node-RED serves a Blynk device hosted on an iot-broker node. The device is hosted
 * (its token accepted by the broker) for as long as the link is open, through the host function
 * link.ts passes in; the link is a thin adapter over the returned handle (docs/ARCHITECTURE.md
 * 3.6): what the device sends (over MQTT, or through the self-hosted HTTPS API) arrives parsed
 * once by the emulation, online changes and device info as events, and writes from flows go to
 * the device through `send` (the hosted device remembers them, so `get/ds` answers with them).
 *
 * Decisions: a device receives only current values, so timestamped data, widget properties,
 * erases and events cannot be sent to it and are refused in words. `read`/`sync` answer from
 * the hosted device's store (what the broker remembers for get/ds) while the broker runs, else
 * from the last values this link saw. Writes made while the broker is stopped are queued by the
 * handle and delivered (and remembered) once it runs again.
 */
import { toError } from "../transport/errors.js";
import type { LinkStatus } from "../transport/pubsub.js";
import { assertDatastreamName, decodeValue, encodeValue, toBatchValues, type McuInfo } from "./codec.js";
import { SYSTEM_PREFIX, systemDown } from "./hardware-down.js";
import { storedLastSeen, storedMetaFields, storedProperties, storedValues } from "./hosted-state.js";
import type { BlynkUp, HostBlynkDevice, HostedBlynkHandle } from "./hosted-types.js";
import {
  BlynkLinkBase, type BlynkIncoming, type BlynkLinkOptions, type BlynkValueMessage, type SyncRequest, type WriteOptions,
} from "./link-base.js";

/** Values remembered for sync while the broker does not run (Blynk templates have far fewer datastreams). */
const MAX_CACHED = 1000;

/** A local link's options: the link's, plus how to host the device (link.ts passes the emulation's). */
export interface LocalBlynkLinkOptions extends BlynkLinkOptions {
  host: HostBlynkDevice;
}

export class LocalBlynkLink extends BlynkLinkBase {
  readonly connection = "local" as const;
  readonly #options: LocalBlynkLinkOptions;
  readonly #id: string;
  readonly #broker: string;
  readonly #cache = new Map<string, BlynkValueMessage>();
  #handle: HostedBlynkHandle | undefined;
  #online: boolean | undefined;
  #info: McuInfo | undefined;

  constructor(options: LocalBlynkLinkOptions) {
    super(options);
    this.#options = options;
    this.#id = options.deviceId ?? "";
    this.#broker = options.broker ?? "";
  }

  get server(): undefined {
    return undefined;
  }

  start(): void {
    this.assertOpen();
    if (this.#handle !== undefined) return;
    const o = this.#options;
    const handle = o.host(
      this.#broker,
      {
        id: this.#id, token: o.token, name: o.name ?? this.#id,
        ...(o.templateId === undefined || o.templateId === "" ? {} : { templateId: o.templateId }),
        ...(o.timeZone === undefined || o.timeZone === "" ? {} : { timeZone: o.timeZone }),
        ...(o.pins === undefined ? {} : { pins: o.pins }),
        ...(o.syncOnConnect === true ? { syncOnConnect: true } : {}),
        ...(o.ota === undefined ? {} : { ota: { ...o.ota } }),
      },
      (err) => {
        this.warn(toError(err).message);
      },
    );
    this.#handle = handle;
    handle.on("status", (status) => { this.#onBrokerStatus(status); });
    handle.on("warning", (text) => { this.warn(text); });
    handle.on("uplink", (up) => { this.#fromDevice(up); });
    handle.on("online", (state) => { this.#setOnline(state.online, state); });
    handle.on("info", (info) => { this.#setInfo(info); });
    this.#onBrokerStatus(handle.status);
  }

  write(datastream: string, value: unknown, options?: WriteOptions): Promise<void> {
    // The hot path: no async layers, one check of the name, the send promise returned as it is.
    let text: string;
    try {
      this.assertOpen();
      if (options?.timestamp !== undefined) throw this.#noHistory();
      if (datastream.startsWith(SYSTEM_PREFIX)) return this.#command(datastream, value);
      assertDatastreamName(datastream);
      text = encodeValue(value, datastream);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    return this.#send(datastream, text);
  }

  async writeBatch(values: unknown): Promise<void> {
    this.assertOpen();
    // A device has no batch downlink: one downlink/ds per datastream, all checked before any is sent.
    const encoded = Object.entries(toBatchValues(values)).map(([datastream, value]) => {
      assertDatastreamName(datastream);
      return [datastream, encodeValue(value, datastream)] as const;
    });
    await Promise.all(encoded.map(([datastream, text]) => this.#send(datastream, text)));
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

  /**
   * The device's stored state, as after a restart of Node-RED too: datastream values, then widget
   * properties (of the datastreams asked for); with `system`, the online state (with when the
   * device was last seen), its info and metadata.
   */
  async sync(request: SyncRequest = {}): Promise<BlynkIncoming[]> {
    const values = await this.read(request.datastreams);
    const store = this.#handle?.store;
    const wanted = request.datastreams === undefined || request.datastreams.length === 0 ? undefined : new Set(request.datastreams);
    const properties = (store === undefined ? [] : storedProperties(store))
      .filter((p) => wanted === undefined || wanted.has(p.datastream))
      .map((p): BlynkValueMessage => ({ kind: "value", datastream: p.datastream, property: p.property, value: decodeValue(p.text), text: p.text, source: "cache", sync: true }));
    if (request.system !== true) return [...values, ...properties];
    const extra: BlynkIncoming[] = [];
    const lastSeen = store === undefined ? undefined : storedLastSeen(store);
    if (this.#online !== undefined) extra.push({ kind: "system", topic: "$system/online", value: this.#online, source: "cache", ...(lastSeen === undefined ? {} : { details: { lastSeen } }) });
    if (this.#info !== undefined) extra.push({ kind: "system", topic: "$system/info", value: { ...this.#info }, source: "cache" });
    for (const [field, value] of store === undefined ? [] : storedMetaFields(store)) {
      extra.push({ kind: "system", topic: `$system/meta/${field}`, value, source: "cache", details: { field } });
    }
    return [...values, ...properties, ...extra];
  }

  read(datastreams?: string[]): Promise<BlynkIncoming[]> {
    try {
      this.assertOpen();
      for (const name of datastreams ?? []) assertDatastreamName(name);
    } catch (err) {
      return Promise.reject(toError(err));
    }
    const wanted = datastreams === undefined || datastreams.length === 0 ? undefined : new Set(datastreams);
    const store = this.#handle?.store;
    const entries: [string, BlynkValueMessage][] = store
      ? storedValues(store).map(([name, text]) => [name, { kind: "value", datastream: name, value: decodeValue(text), text, source: "cache" }])
      : [...this.#cache];
    return Promise.resolve(
      entries.filter(([name]) => wanted === undefined || wanted.has(name)).map(([, m]): BlynkValueMessage => ({ ...m, source: "cache", sync: true })),
    );
  }

  protected prepareEvent(): () => Promise<void> {
    throw this.unsupported("logging an event", "events come from the hosted device; the blynk-event node's output emits them");
  }

  protected async shutdown(): Promise<void> {
    await this.#handle?.close();
  }

  #noHistory(): Error {
    return this.unsupported("sending timestamped data", "Node-RED serves this device and a device receives only current values (downlink/ds/<name>)");
  }

  /** To the device: resolves once handed to the broker, or queued while it is stopped. */
  /** `$system/ota`, `$system/pin-mode`, `$system/read` (hardware-down.ts). */
  #command(topic: string, value: unknown): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) return Promise.reject(this.unsupported("writing before start", "the link was not started"));
    return handle.send(systemDown(topic, value));
  }

  #send(datastream: string, text: string): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) return Promise.reject(this.unsupported("writing before start", "the link was not started"));
    return handle.send({ kind: "ds", datastream, text });
  }

  /** Ready while a broker hosts the device: each start of hosting is a (re)connect, after which flows may sync from its stored state. */
  #onBrokerStatus(status: LinkStatus): void {
    if (status.state !== "connected") this.setReady(false);
    this.setStatus({
      ...status,
      ...(status.state === "disconnected" ? { reason: status.reason ?? "the iot-broker node is not running" } : {}),
      ...(this.#online === undefined || status.state !== "connected" ? {} : { deviceOnline: this.#online }),
    });
    if (status.state === "connected") this.setReady(true);
  }

  #setOnline(online: boolean, details: object): void {
    if (online === this.#online) return;
    this.#online = online;
    const status = this.status;
    if (status.state === "connected") this.setStatus({ ...status, deviceOnline: online });
    this.deliver({ kind: "system", topic: "$system/online", value: online, source: "device", details: { ...details } });
  }

  #setInfo(info: McuInfo): void {
    this.#info = { ...info };
    this.deliver({ kind: "system", topic: "$system/info", value: { ...info }, source: "device" });
  }

  /** What the device (or an HTTPS API caller acting as it) sent, as flow messages: the emulation parsed it. */
  #fromDevice(up: BlynkUp): void {
    const { message: m, source, text } = up;
    const value = (v: Omit<BlynkValueMessage, "kind" | "source">): void => {
      const message: BlynkValueMessage = { kind: "value", source, ...v };
      if (v.property === undefined) this.#remember(message);
      this.deliver(message);
    };
    switch (m.kind) {
      case "ds":
        value({ datastream: m.datastream, value: m.value, text });
        return;
      case "batch":
        for (const [datastream, v] of Object.entries(m.values)) value({ datastream, value: v, text: encodeValue(v, datastream), batch: true });
        return;
      case "timestamped":
        for (const [timestamp, v] of m.points) value({ datastream: m.datastream, value: v, text: encodeValue(v, m.datastream), timestamp });
        return;
      case "erase":
        value({ datastream: m.datastream, value: null, text: "", erase: true });
        return;
      case "property":
        value({ datastream: m.datastream, property: m.property, value: m.value, text });
        return;
      case "property-erase":
        value({ datastream: m.datastream, property: m.property, value: null, text: "", erase: true });
        return;
      case "event":
        this.deliver({ kind: "event", code: m.code, description: m.description, source });
        return;
      case "meta":
        this.deliver({ kind: "system", topic: `$system/meta/${m.field}`, value: m.value, source, details: { field: m.field } });
        return;
      case "notify":
        this.deliver({ kind: "event", code: "notify", description: m.body, source });
        return;
      case "email":
        this.deliver({ kind: "event", code: "email", description: m.body, source, details: { ...(m.to === undefined ? {} : { to: m.to }), subject: m.subject } });
        return;
      default:
        // get/... requests are answered by the emulation; info/mcu arrives as the `info` event.
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
