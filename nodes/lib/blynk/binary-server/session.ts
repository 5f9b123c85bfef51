/**
 * A logged-in binary-protocol connection that IS a hosted device (docs/ARCHITECTURE.md 3.7): what
 * the device sends is stored, answered and handed to the device's listeners as the same
 * `BlynkUp` its MQTT connection would give (same flows, store, history); what flows send reaches
 * it as HARDWARE frames (`DirectDownlink`, hosted-device.ts).
 *
 * Decisions:
 * - Pins are datastreams through the device's pin table; an unmapped pin is named as the legacy
 *   server showed it (`V5`, `D8`, `A0`), and a flow's write to such a name reaches that pin. A
 *   datastream with no pin cannot reach a binary device: reported, still stored.
 * - HARDWARE_SYNC is answered from the stored values (one write per pin, the request's id); the
 *   device's `syncOnConnect` sends them all after login.
 * - GROUP with a timestamp: the writes until its end are points at that time (flows get them as
 *   timestamped values, the history at that time), as the library means it.
 * - The legacy NOTIFY/EMAIL/SMS/TWEET reach flows as events with those codes (`notify`, ...),
 *   the text as description (EMAIL: the body; the flow sends the mail). EVENT_CLEAR is an event
 *   with the code `clear:<code>`, its description `all` when all were cleared.
 * - BRIDGE: `i <token>` binds a channel to another device hosted on this broker (at most
 *   MAX_BRIDGES channels); its writes are that device's values, sent through its runtime (stored,
 *   delivered over whichever connection it has). An unknown token is answered INVALID_TOKEN.
 * - `rtc` and `utc` are answered from Node-RED's clock and the device's zone (its Time Zone
 *   metadata, the configured zone, the host's).
 */
import type { ClientInfo } from "../../broker/index.js";
import { toError } from "../../transport/errors.js";
import { decodeValue, utcInfo, type McuInfo } from "../codec.js";
import { TIME_ZONE_META, type DirectDownlink, type HostedDevice } from "../hosted-device.js";
import { Status, utcAnswer, valueOf, type BlynkMessage, type HardwareInfo, type HardwareOp, type InternalMessage, type PinType } from "../binary/index.js";
import type { BinaryConnection } from "./connection.js";

/** Bridge channels one device may bind. */
export const MAX_BRIDGES = 64;

/** The hosted device holding a token on this engine (bridges). */
export type FindDevice = (token: string) => HostedDevice | undefined;

export class DeviceSession implements DirectDownlink {
  readonly info: ClientInfo;
  readonly device: HostedDevice;
  readonly connection: BinaryConnection;
  readonly #findDevice: FindDevice;
  readonly #bridges = new Map<number, HostedDevice>();
  /** The timestamp of an open GROUP (ms), applied to its writes. */
  #groupTime: number | undefined;

  constructor(info: ClientInfo, device: HostedDevice, connection: BinaryConnection, findDevice: FindDevice) {
    this.info = info;
    this.device = device;
    this.connection = connection;
    this.#findDevice = findDevice;
  }

  /** A datastream value from flows (or the HTTP API, or a bridge) to the device. */
  ds(name: string, text: string): Promise<void> {
    const pin = this.device.pinOfName(name);
    if (pin === undefined) {
      this.device.report(`datastream "${name}" has no pin, so it cannot be sent over the binary protocol: map it to a pin (e.g. V5) in the device's pin table`, "no-pin");
      return Promise.resolve();
    }
    this.#write(pin.pinType, pin.pin, text, this.connection.nextId());
    return Promise.resolve();
  }

  /** A hardware operation from flows (pin modes, digital/analog reads). */
  hardware(op: HardwareOp): void {
    this.#send({ type: "hardware", id: this.connection.nextId(), ...op }, "a hardware command");
  }

  /** An INTERNAL message from flows (ota with a firmware URL). */
  internal(message: InternalMessage): void {
    this.#send({ type: "internal", id: this.connection.nextId(), ...message }, `INTERNAL ${message.kind}`);
  }

  /** A PING from flows; the answer is activity like any frame. */
  ping(): void {
    this.#send({ type: "ping", id: this.connection.nextId() }, "a PING");
  }

  /** Every stored value, as after a HARDWARE_SYNC (syncOnConnect), with fresh ids. */
  syncAll(): void {
    for (const [name, text] of this.device.state.values()) {
      const pin = this.device.pinOfName(name);
      if (pin !== undefined) this.#write(pin.pinType, pin.pin, text, this.connection.nextId());
    }
  }

  /** One message the device sent (after login). */
  handle(m: BlynkMessage): void {
    const { device } = this;
    const now = Date.now();
    device.seen(now);
    switch (m.type) {
      case "ping":
        this.connection.respond(m.id, Status.SUCCESS);
        return;
      case "login":
        this.connection.respond(m.id, Status.ALREADY_REGISTERED);
        return;
      case "hardware":
        if (m.op === "write") this.#fromPin(m.pinType, m.pin, m.values, now);
        return; // reads and pin modes are the server's to send, never the device's
      case "sync":
        this.#sync(m);
        return;
      case "internal":
        this.#internal(m, now);
        return;
      case "property": {
        const name = device.nameOfPin("V", m.pin);
        const text = m.values.join("\0");
        this.#up({ kind: "property", datastream: name, property: m.property, value: decodeValue(text) }, text, () => {
          device.state.setProperty(name, m.property, text, now);
        });
        return;
      }
      case "event":
        this.#up({ kind: "event", code: m.code, description: m.description ?? "" }, "");
        return;
      case "event-clear":
        this.#up({ kind: "event", code: `clear:${m.code}`, description: m.all ? "all" : "" }, "");
        return;
      case "notify":
      case "tweet":
      case "sms":
        this.#up({ kind: "event", code: m.type, description: m.text }, "");
        return;
      case "email":
        this.#up({ kind: "event", code: "email", description: m.body }, "");
        return;
      case "group":
        this.#groupTime = m.action === "begin" ? m.time : undefined;
        return;
      case "bridge":
        this.#bridge(m);
        return;
      case "response":
        return; // answers to our pings and writes: activity only
      default:
        return; // REDIRECT, DEBUG_PRINT and BRIDGE-to-device are the server's; the decoder refuses them
    }
  }

  #fromPin(pinType: PinType, pin: number, values: string[], now: number): void {
    const name = this.device.nameOfPin(pinType, pin);
    const text = values.join("\0");
    const value = valueOf(values);
    const at = this.#groupTime;
    if (at === undefined || Array.isArray(value)) {
      // A multi-value cannot be a timestamped point: it is a value at the group's time.
      this.#up({ kind: "ds", datastream: name, value }, text, () => {
        this.device.remember(name, text, at ?? now, value);
      });
      return;
    }
    this.#up({ kind: "timestamped", datastream: name, points: [[at, value]] }, "", () => {
      this.device.state.setValue(name, text, at, true);
      this.device.record(name, at, value);
    });
  }

  #sync(m: Extract<BlynkMessage, { type: "sync" }>): void {
    const { state } = this.device;
    if (m.all) {
      for (const [name, text] of state.values()) {
        const pin = this.device.pinOfName(name);
        if (pin !== undefined) this.#write(pin.pinType, pin.pin, text, m.id);
      }
      return;
    }
    for (const pin of m.pins) {
      const text = state.value(this.device.nameOfPin(m.pinType, pin));
      if (text !== undefined) this.#write(m.pinType, pin, text, m.id);
    }
  }

  #internal(m: Extract<BlynkMessage, { type: "internal" }>, now: number): void {
    const { device } = this;
    switch (m.kind) {
      case "info":
        this.connection.setInfo(m.info);
        this.connection.respond(m.id, Status.SUCCESS);
        this.#info(m.info, now);
        return;
      case "rtc-sync":
        this.#send({ type: "internal", id: m.id, kind: "rtc", time: Math.floor(now / 1000) }, "the rtc answer");
        return;
      case "utc-request": {
        const answer = utcAnswer(m.item, utcInfo(now, this.#zone(now)));
        if (answer !== undefined) this.#send({ type: "internal", id: m.id, ...answer }, "the utc answer");
        return;
      }
      case "meta-set":
        this.#up({ kind: "meta", field: m.field, value: m.value }, "", () => {
          device.state.setMeta(m.field, m.value, now);
        });
        return;
      default:
        return; // acon/adis, ota, rtc and utc answers are the server's; vfs/dbg are not served
    }
  }

  #info(info: HardwareInfo, now: number): void {
    const { device } = this;
    const mcu: McuInfo = {
      ...(info.tmpl === undefined ? {} : { tmpl: info.tmpl }),
      // As info/mcu: the firmware's version and type (what an OTA changes: docs/PROTOCOLS.md 1.8),
      // else, from libraries that report none, the library's version and the board.
      ...(info.mcu ?? info.fw ?? info.ver ?? info.blynk) === undefined ? {} : { ver: info.mcu ?? info.fw ?? info.ver ?? info.blynk },
      ...(info.build === undefined ? {} : { build: info.build }),
      ...(info.fwType ?? info.dev) === undefined ? {} : { type: info.fwType ?? info.dev },
      ...(info.buffIn === undefined ? {} : { rxbuff: info.buffIn }),
    };
    try {
      device.state.setInfo(mcu, now);
    } catch (err) {
      device.report(`its info message was not stored: ${toError(err).message}`, "info");
    }
    device.listeners.info(mcu);
    const configured = device.config.templateId;
    if (configured !== undefined && configured !== "" && mcu.tmpl !== undefined && mcu.tmpl !== configured) {
      device.report(`the device reports template "${mcu.tmpl}", but is configured with "${configured}"`, "template");
    }
  }

  #bridge(m: Extract<BlynkMessage, { type: "bridge" }>): void {
    if (m.op === "init") {
      const target = this.#findDevice(m.token);
      if (target === undefined) {
        this.#bridges.delete(m.channel);
        this.connection.respond(m.id, Status.INVALID_TOKEN);
        return;
      }
      if (!this.#bridges.has(m.channel) && this.#bridges.size >= MAX_BRIDGES) {
        this.connection.respond(m.id, Status.NOT_ALLOWED);
        this.device.report(`more than ${String(MAX_BRIDGES)} bridge channels: channel V${String(m.channel)} refused`, "bridges");
        return;
      }
      this.#bridges.set(m.channel, target);
      return;
    }
    const target = this.#bridges.get(m.channel);
    if (target === undefined) {
      this.connection.respond(m.id, Status.NOT_ALLOWED); // a write on a channel never bound with `i <token>`
      return;
    }
    if (m.op !== "write") return; // a bridge carries writes; reads and pin modes are not relayed
    void target.send({ kind: "ds", datastream: target.nameOfPin(m.pinType, m.pin), text: m.values.join("\0") });
  }

  /** Stores (`apply`) then hands the uplink to the device's listeners; a store refusal is reported after. */
  #up(message: Parameters<HostedDevice["listeners"]["uplink"]>[0]["message"], text: string, apply?: () => void): void {
    let failure: unknown;
    try {
      apply?.();
    } catch (err) {
      failure = err;
    }
    this.device.listeners.uplink({ source: "device", message, text });
    if (failure !== undefined) this.device.report(`what the device sent was not (all) stored: ${toError(failure).message}`, "dropped-uplink");
  }

  #write(pinType: PinType, pin: number, text: string, id: number): void {
    this.#send({ type: "hardware", id, op: "write", pinType, pin, values: text.split("\0") }, `the value of ${pinType}${String(pin)}`);
  }

  #send(message: BlynkMessage, what: string): void {
    try {
      this.connection.send(message);
    } catch (err) {
      // Over the device's buffer (buff-in) or not encodable: never sent, as a device would drop the connection.
      this.device.report(`${what} was not sent: ${toError(err).message}`, "not-sent");
    }
  }

  #zone(now: number): string {
    for (const zone of [this.device.state.meta(TIME_ZONE_META), this.device.config.timeZone]) {
      if (zone === undefined || zone === "") continue;
      try {
        utcInfo(now, zone);
        return zone;
      } catch {
        // Not an IANA zone: the next one.
      }
    }
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  }
}
