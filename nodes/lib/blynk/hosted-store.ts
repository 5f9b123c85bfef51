/**
 * What the broker remembers of one hosted Blynk device: last datastream values (wire text),
 * metadata and device info. In memory, per engine, bounded so a misbehaving device or flow
 * cannot grow it without limit.
 */
import { TransportError } from "../transport/errors.js";
import { LIMITS, quote, type McuInfo } from "./codec.js";

export const STORE_LIMITS = {
  /** Datastreams remembered per device (Blynk templates have far fewer). */
  datastreams: 1000,
  /** Metadata fields remembered per device. */
  metaFields: 100,
  /** Longest value in bytes (Blynk's string limit). */
  valueBytes: LIMITS.stringBytes,
} as const;

interface Stored {
  payload: string;
  /** When the value was current (ms): write time, or the point's time for timestamped data. */
  at: number;
}

/** `what` is worded only when the payload is refused (setValue runs on every write). */
function checkSize(what: () => string, payload: string): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short text needs no byte count.
  if (payload.length * 3 <= STORE_LIMITS.valueBytes) return;
  const bytes = Buffer.byteLength(payload);
  if (bytes > STORE_LIMITS.valueBytes) {
    throw new TransportError("too-large", `${what()} is ${bytes} bytes; accepted: at most ${STORE_LIMITS.valueBytes} bytes (Blynk string limit)`);
  }
}

export class DeviceStore {
  readonly #values = new Map<string, Stored>();
  readonly #meta = new Map<string, string>();
  info: McuInfo | undefined;

  /** Datastreams with a value. */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Remembers a datastream's value as its MQTT payload text. With `ifNewer`, a value older than
   * the stored one is not taken (a back-filled history must not replace the current value).
   * Returns whether the stored value changed; throws TransportError "too-large" over the limits.
   */
  setValue(name: string, payload: string, at: number, ifNewer = false): boolean {
    checkSize(() => `value of datastream ${quote(name)}`, payload);
    const current = this.#values.get(name);
    if (current === undefined && this.#values.size >= STORE_LIMITS.datastreams) {
      throw new TransportError("too-large", `datastream ${quote(name)} not stored: the device already has ${STORE_LIMITS.datastreams} datastreams with values (the limit)`);
    }
    if (current !== undefined && ifNewer && at < current.at) return false;
    // The same text again (e.g. our own get/ds answer echoed back) keeps its original time.
    if (current?.payload === payload && !(ifNewer && at > current.at)) return false;
    this.#values.set(name, { payload, at });
    return true;
  }

  value(name: string): string | undefined {
    return this.#values.get(name)?.payload;
  }

  /** [name, payload] of every datastream with a value, in first-stored order. */
  values(): [string, string][] {
    return [...this.#values].map(([name, stored]) => [name, stored.payload]);
  }

  erase(name: string): void {
    this.#values.delete(name);
  }

  setMeta(field: string, value: string): void {
    checkSize(() => `metadata ${quote(field)}`, value);
    if (!this.#meta.has(field) && this.#meta.size >= STORE_LIMITS.metaFields) {
      throw new TransportError("too-large", `metadata ${quote(field)} not stored: the device already has ${STORE_LIMITS.metaFields} metadata fields (the limit)`);
    }
    this.#meta.set(field, value);
  }

  meta(field: string): string | undefined {
    return this.#meta.get(field);
  }
}
