/**
 * What flows may send a hosted device besides datastream values (docs/ARCHITECTURE.md 3.7), as a
 * `blynk-write` to a `$system/...` datastream: `$system/ota` (payload: the firmware URL, or the
 * firmware itself as a Buffer or `{firmware: Buffer, version, type, build}`, which Node-RED then
 * serves, ota.ts; docs/PROTOCOLS.md 1.8), `$system/reboot`, `$system/ping`, `$system/meta/<field>`
 * (payload: the value as text), and for devices on the binary protocol `$system/pin-mode` (payload
 * `{"8": "out", "D9": "in"}`: HARDWARE `pm`) and `$system/read` (payload `"D8"` or `"A0"`: `dr`/`ar`;
 * the device answers with the pin's value, which reaches flows as `D8`/`A0`). Pure but for hashing a
 * firmware (firmwareShelf.image keeps nothing until a device is given it).
 */
import { firmwareShelf } from "../broker/index.js";
import { describeValue, isPlainObject } from "../transport/value-codec.js";
import { assertMetaName, invalid } from "./codec-values.js";
import { PIN_MODES, type PinMode } from "./binary/index.js";
import type { BlynkDown } from "./hosted-types.js";

export const SYSTEM_PREFIX = "$system/";
const ACCEPTED = "$system/ota (a URL or a firmware Buffer), $system/reboot, $system/ping, $system/meta/<field> (text), $system/pin-mode ({\"8\": \"out\"}), $system/read (\"D8\" or \"A0\")";

/** A write to `$system/<what>` -> what goes to the device. Throws TransportError "invalid" in words. */
export function systemDown(topic: string, value: unknown): BlynkDown {
  if (topic.startsWith(`${SYSTEM_PREFIX}meta/`)) {
    const field = topic.slice(`${SYSTEM_PREFIX}meta/`.length);
    assertMetaName(field);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") throw invalid(`${topic} needs the metadata value as text, got ${describeValue(value)}`);
    return { kind: "meta", field, value: String(value) };
  }
  switch (topic) {
    case `${SYSTEM_PREFIX}ota`:
      return otaDown(value);
    case `${SYSTEM_PREFIX}reboot`:
      return { kind: "reboot" };
    case `${SYSTEM_PREFIX}ping`:
      return { kind: "ping" };
    case `${SYSTEM_PREFIX}pin-mode`: {
      if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(`$system/pin-mode needs an object of pin -> mode such as {"8": "out"}, got ${describeValue(value)}`);
      const modes = Object.entries(value as Record<string, unknown>).map(([pin, mode]) => ({ pin: pinNumber(pin, "D"), mode: pinMode(mode) }));
      if (modes.length === 0) throw invalid("$system/pin-mode needs at least one pin");
      return { kind: "hardware", op: { op: "pin-mode", modes } };
    }
    case `${SYSTEM_PREFIX}read`: {
      const match = typeof value === "string" ? /^([DAVdav])(\d{1,3})$/.exec(value.trim()) : null;
      if (match === null) throw invalid(`$system/read needs a pin such as "D8" or "A0" as payload, got ${describeValue(value)}`);
      return { kind: "hardware", op: { op: "read", pinType: match[1].toUpperCase() as "D" | "A" | "V", pin: pinNumber(match[2], "") } };
    }
    default:
      throw invalid(`${JSON.stringify(topic)} is not something a device can be sent; accepted: ${ACCEPTED}`);
  }
}

const OTA_ACCEPTED = 'the firmware URL, the firmware as a Buffer, or {"firmware": <Buffer>, "version": "1.2.0", "type": "<template id>", "build": "<build date>"}';

/** `$system/ota`: a URL (as before), a Buffer, or an object with the firmware and what to announce. */
function otaDown(value: unknown): BlynkDown {
  if (typeof value === "string") {
    if (!/^https?:\/\/\S+$/.test(value.trim())) throw invalid(`$system/ota needs ${OTA_ACCEPTED}, got ${describeValue(value)}`);
    return { kind: "ota", url: value.trim() };
  }
  const data = Buffer.isBuffer(value) ? value : isPlainObject(value) ? value.firmware : undefined;
  if (!Buffer.isBuffer(data) || data.length === 0) throw invalid(`$system/ota needs ${OTA_ACCEPTED}, got ${describeValue(value)}`);
  const meta: { type?: string; ver?: string; build?: string } = {};
  if (isPlainObject(value)) {
    for (const [field, key] of [["type", "type"], ["ver", "version"], ["build", "build"]] as const) {
      const given = value[key] ?? value[field];
      if (given === undefined) continue;
      if (typeof given !== "string" || given.trim() === "" || /[\r\n\u0000]/.test(given) || given.length > 255) {
        throw invalid(`$system/ota ${key} must be text of 1 to 255 characters on one line, got ${describeValue(given)}`);
      }
      meta[field] = given.trim();
    }
  }
  return { kind: "ota-image", image: firmwareShelf.image(data), ...meta };
}

function pinNumber(text: string, prefix: string): number {
  const digits = prefix !== "" && text.toUpperCase().startsWith(prefix) ? text.slice(1) : text;
  const pin = /^\d{1,3}$/.test(digits) ? Number(digits) : NaN;
  if (!(pin >= 0 && pin <= 255)) throw invalid(`pin ${JSON.stringify(text)} is not a pin number from 0 to 255`);
  return pin;
}

function pinMode(mode: unknown): PinMode {
  if (typeof mode === "string" && (PIN_MODES as readonly string[]).includes(mode)) return mode as PinMode;
  throw invalid(`pin mode ${describeValue(mode)} is not one of ${PIN_MODES.join(", ")}`);
}
