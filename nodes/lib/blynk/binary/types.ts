/**
 * Typed messages of Blynk's binary protocol, shared by the server (hosted devices) and the client
 * (`connection: "binary"`). `parseMessage` makes them from frames, `encodeMessage` makes frames of
 * them. Values stay the wire's text fields (`values: string[]`); `valueOf`/`valuesFrom` convert
 * to and from Blynk values with the MQTT codec's rules.
 */
import type { PinType } from "./fields.js";

export type { PinType };

/** `pm` modes the libraries know (`in`, `out`, `pwm`, pull-up, pull-down). */
export type PinMode = "in" | "out" | "pwm" | "pu" | "pd";
export const PIN_MODES: readonly PinMode[] = ["in", "out", "pwm", "pu", "pd"];

/** A HARDWARE body: `vw`/`dw`/`aw` writes, `vr`/`dr`/`ar` reads, `pm` pin modes. */
export type HardwareOp =
  | { op: "write"; pinType: PinType; pin: number; values: string[] }
  | { op: "read"; pinType: PinType; pin: number }
  | { op: "pin-mode"; modes: { pin: number; mode: PinMode }[] };

/**
 * The hardware info message, keys of every library version (docs/PROTOCOLS.md 3.4). Numbers for
 * `h-beat` (seconds) and `buff-in` (bytes); `other` keeps keys no version above sends.
 */
export interface HardwareInfo {
  /** Library version (0.x and 1.0-1.2; also the Linux build at HEAD). */
  ver?: string;
  /** Firmware version (1.3+), or the NCP's version with `ncp`. */
  mcu?: string;
  ncp?: string;
  /** Library version (1.3+). */
  blynk?: string;
  heartbeat?: number;
  buffIn?: number;
  dev?: string;
  cpu?: string;
  /** Connection type; `conn` on the wire in the Linux build, `con` elsewhere. */
  con?: string;
  fwType?: string;
  fw?: string;
  build?: string;
  tmpl?: string;
  other?: Record<string, string>;
}

/** INTERNAL bodies (docs/PROTOCOLS.md 3.2): the info message and the sub-commands. */
export type InternalMessage =
  | { kind: "info"; info: HardwareInfo }
  /** Device asks for the time (`rtc\0sync`). */
  | { kind: "rtc-sync" }
  /** Server's answer: seconds since 1970 (`rtc\0<s>`). */
  | { kind: "rtc"; time: number }
  /** Device asks for one item: time, iso, tz, tz_name, tz_rule, dst_next (`utc\0<item>`). */
  | { kind: "utc-request"; item: string }
  /** Server's answer (`utc\0<item>\0<values…>`). */
  | { kind: "utc"; item: string; values: string[] }
  /** Server tells the device to update its firmware from `url`. */
  | { kind: "ota"; url: string }
  /** Device sets a metadata field (`meta\0set\0<field>\0<value>`). */
  | { kind: "meta-set"; field: string; value: string }
  /** Server tells the device the app connected (`acon`) or disconnected (`adis`). */
  | { kind: "app"; connected: boolean }
  /** Any other sub-command (`vfs`, `dbg`, other `meta` actions, future ones), fields exactly as sent. */
  | { kind: "other"; code: string; args: string[] };

export type BridgeAction = { op: "init"; token: string } | HardwareOp;

type Id = { id: number };

/** Every message of the hardware protocol. `id` is the frame's message id (1..65535). */
export type BlynkMessage =
  | (Id & { type: "response"; status: number })
  /** LOGIN (2, `legacy`) or HW_LOGIN (29): the device's token. */
  | (Id & { type: "login"; token: string; legacy: boolean })
  | (Id & { type: "ping" })
  | (Id & { type: "hardware" } & HardwareOp)
  /** BRIDGE from a device: its bridge channel (a virtual pin) and `i <token>` or a write. */
  | (Id & { type: "bridge"; channel: number } & BridgeAction)
  /** BRIDGE from the server to the bridge's target device: a hardware body, handled as HARDWARE. */
  | (Id & { type: "bridged" } & HardwareOp)
  /** HARDWARE_SYNC: every stored pin, or the listed pins of one type. */
  | (Id & { type: "sync"; all: true })
  | (Id & { type: "sync"; all: false; pinType: PinType; pins: number[] })
  | (Id & { type: "internal" } & InternalMessage)
  /** PROPERTY of a virtual pin's widget or datastream: label, color, isDisabled, ... */
  | (Id & { type: "property"; pin: number; property: string; values: string[] })
  | (Id & { type: "event"; code: string; description?: string })
  | (Id & { type: "event-clear"; code: string; all: boolean })
  | (Id & { type: "notify" | "tweet" | "sms"; text: string })
  /** EMAIL: `to` is absent when the firmware leaves it to the server (two-field form). */
  | (Id & { type: "email"; to?: string; subject: string; body: string })
  /** GROUP (library 1.2+): begin (optionally with a timestamp in ms for every write in it), end. */
  | (Id & { type: "group"; action: "begin"; time?: number })
  | (Id & { type: "group"; action: "end" })
  | (Id & { type: "redirect"; host: string; port: number })
  | (Id & { type: "debug-print"; text: string });

export type BlynkMessageType = BlynkMessage["type"];
