/**
 * HARDWARE, HARDWARE_SYNC and BRIDGE bodies (docs/PROTOCOLS.md 3.2): `vw\0<pin>\0<value…>`,
 * `dw`, `aw`, the reads `vr`/`dr`/`ar` and `pm` pin modes; sync of all or of listed pins; the
 * legacy bridge (`<channel>\0i\0<token>`, then `<channel>\0vw…`).
 */
import { TransportError } from "../../transport/errors.js";
import { describeValue } from "../../transport/value-codec.js";
import { decodeValue, encodeValue, quote, type BlynkValue } from "../codec-values.js";
import { illegalBody, illegalCommand } from "./errors.js";
import { fieldsOf, fieldsTrimmed, parsePin, pinText, textField, type PinType } from "./fields.js";
import { PIN_MODES, type BridgeAction, type HardwareOp, type PinMode } from "./types.js";

const PIN_TYPES: Record<string, PinType | undefined> = { v: "V", d: "D", a: "A" };
const OPS = "vw, dw, aw, vr, dr, ar, pm";

function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

/** The type of `vw`/`dr`/... and whether it writes; undefined for anything else. */
function opOf(text: string | undefined): { pinType: PinType; write: boolean } | undefined {
  if (text?.length !== 2) return undefined;
  const pinType = PIN_TYPES[text.charAt(0)];
  const kind = text.charAt(1);
  return pinType === undefined || (kind !== "w" && kind !== "r") ? undefined : { pinType, write: kind === "w" };
}

/** Fields of a HARDWARE body (or of a bridge's write) -> the operation. */
export function parseHardwareFields(fields: string[], what = "HARDWARE"): HardwareOp {
  const name = fields.at(0);
  if (name === "pm") return { op: "pin-mode", modes: pinModes(fields.slice(1), what) };
  const op = opOf(name);
  if (op === undefined) throw illegalCommand(`${what} operation ${quote(name ?? "")} is not known; accepted: ${OPS}`);
  const pin = parsePin(fields.at(1), `${what} ${name ?? ""}`);
  // A write's values are exact (an empty last value is a value); "vw\05" writes "".
  if (op.write) return { op: "write", pinType: op.pinType, pin, values: fields.length > 2 ? fields.slice(2) : [""] };
  const rest = fields.slice(2);
  if (rest.length > 1 || (rest.length === 1 && rest[0] !== "")) throw illegalBody(`${what} ${name ?? ""} reads one pin, got ${fields.length - 1} fields`);
  return { op: "read", pinType: op.pinType, pin };
}

function pinModes(fields: string[], what: string): { pin: number; mode: PinMode }[] {
  const list = fields.length > 0 && fields[fields.length - 1] === "" ? fields.slice(0, -1) : fields;
  if (list.length % 2 !== 0) throw illegalBody(`${what} pm needs pin and mode pairs, got ${list.length} fields`);
  const modes: { pin: number; mode: PinMode }[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const pin = parsePin(list[i], `${what} pm`);
    const mode = list[i + 1] ?? "";
    if (!(PIN_MODES as readonly string[]).includes(mode)) throw illegalBody(`${what} pm: mode ${quote(mode)} of pin ${pin} is not known; accepted: ${PIN_MODES.join(", ")}`);
    modes.push({ pin, mode: mode as PinMode });
  }
  return modes;
}

export function parseHardware(body: Buffer): HardwareOp {
  return parseHardwareFields(fieldsOf(body));
}

function pinTypeText(pinType: unknown, what: string): string {
  if (pinType !== "V" && pinType !== "D" && pinType !== "A") throw invalid(`${what}: pinType must be "V", "D" or "A", got ${describeValue(pinType)}`);
  return pinType.toLowerCase();
}

/** The operation -> its fields. */
export function hardwareFields(op: HardwareOp, what = "HARDWARE"): string[] {
  const given = op as { op?: unknown };
  switch (op.op) {
    case "write": {
      const values: unknown = op.values;
      if (!Array.isArray(values) || values.length === 0) throw invalid(`${what} write: values must be a non-empty array of text fields, got ${describeValue(values)}; see valuesFrom()`);
      const texts = (values as unknown[]).map((v, i) => textField(v, `${what} write value ${i}`, { empty: true }));
      return [`${pinTypeText(op.pinType, what)}w`, pinText(op.pin, what), ...texts];
    }
    case "read":
      return [`${pinTypeText(op.pinType, what)}r`, pinText(op.pin, what)];
    case "pin-mode": {
      const modes: unknown = op.modes;
      if (!Array.isArray(modes) || modes.length === 0) throw invalid(`${what} pm: modes must be a non-empty array of {pin, mode}, got ${describeValue(modes)}`);
      return ["pm", ...(modes as { pin: unknown; mode: unknown }[]).flatMap((m) => {
        if (!(PIN_MODES as readonly unknown[]).includes(m.mode)) throw invalid(`${what} pm: mode ${describeValue(m.mode)} is not known; accepted: ${PIN_MODES.join(", ")}`);
        return [pinText(m.pin, `${what} pm`), m.mode as string];
      })];
    }
    default:
      throw invalid(`${what} operation ${describeValue(given.op)} is not known; accepted: write, read, pin-mode`);
  }
}

/** HARDWARE_SYNC body: empty = every pin; `vr\0<pin>…` (or `dr`, `ar`) = the listed pins. */
export function parseSync(body: Buffer): { all: true } | { all: false; pinType: PinType; pins: number[] } {
  if (body.length === 0) return { all: true };
  const fields = fieldsTrimmed(body);
  const op = opOf(fields[0]);
  if (op === undefined || op.write) throw illegalBody(`HARDWARE_SYNC ${quote(fields[0] ?? "")} is not a read; accepted: an empty body (all pins) or vr, dr or ar with pin numbers`);
  if (fields.length < 2) throw illegalBody(`HARDWARE_SYNC ${fields[0] ?? ""} names no pin`);
  return { all: false, pinType: op.pinType, pins: fields.slice(1).map((p) => parsePin(p, "HARDWARE_SYNC")) };
}

export function syncFields(sync: { all: boolean; pinType?: unknown; pins?: unknown }): string[] {
  if (sync.all) return [];
  const pins = sync.pins;
  if (!Array.isArray(pins) || pins.length === 0) throw invalid(`HARDWARE_SYNC: pins must be a non-empty array of pin numbers (or all: true), got ${describeValue(pins)}`);
  return [`${pinTypeText(sync.pinType, "HARDWARE_SYNC")}r`, ...(pins as unknown[]).map((p) => pinText(p, "HARDWARE_SYNC"))];
}

/** BRIDGE from a device: `<channel>\0i\0<token>` or `<channel>\0<hardware body>`. */
export function parseBridge(body: Buffer): { channel: number } & BridgeAction {
  const fields = fieldsOf(body);
  const channel = parsePin(fields[0], "BRIDGE channel");
  if (fields[1] === "i") {
    const token = fields.length === 4 && fields[3] === "" ? fields[2] : fields.length === 3 ? fields[2] : undefined;
    // The token is never quoted: only its shape is told.
    if (token === undefined || token === "") throw illegalBody(`BRIDGE ${channel} init needs exactly one token field, got ${fields.length - 2} fields`);
    return { channel, op: "init", token };
  }
  if (fields.length < 2) throw illegalBody(`BRIDGE ${channel} has no operation; accepted: i <token>, or vw, dw or aw with a pin and values`);
  return { channel, ...parseHardwareFields(fields.slice(1), `BRIDGE ${channel}`) };
}

export function bridgeFields(bridge: { channel: unknown } & BridgeAction): string[] {
  const channel = pinText(bridge.channel, "BRIDGE channel");
  if (bridge.op === "init") {
    const token: unknown = bridge.token;
    if (typeof token !== "string" || token === "" || token.includes("\0")) throw invalid("BRIDGE init: the token must be non-empty text without NUL");
    return [channel, "i", token];
  }
  return [channel, ...hardwareFields(bridge, "BRIDGE")];
}

/** A write's text fields -> a Blynk value: one field a scalar, several an array (MQTT codec rules). */
export function valueOf(values: readonly string[], options: { raw?: boolean } = {}): BlynkValue {
  return decodeValue(values.join("\0"), options);
}

/** A flow's value (scalar, boolean as 1/0, or array as a multi-value) -> a write's text fields. */
export function valuesFrom(value: unknown, what?: string): string[] {
  return encodeValue(value, what).split("\0");
}
