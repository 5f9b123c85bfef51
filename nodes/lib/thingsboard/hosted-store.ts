/**
 * What the broker remembers of one hosted ThingsBoard device: its client attributes (what the
 * device published) and shared attributes (what flows pushed), and the same for each gateway
 * sub-device, keyed by sub-device name. Attribute requests are answered from here. In memory,
 * per engine, bounded so a misbehaving device or flow cannot grow it without limit.
 */
import { TransportError } from "../transport/errors.js";
import { LIMITS, quote, type AttributeKeySelection, type AttributeUpdate, type TbValue, type TbValues } from "./codec.js";

export const STORE_LIMITS = {
  /** Attributes remembered per scope (client, shared) of one device or sub-device. */
  keys: 1000,
  /** Gateway sub-devices remembered per gateway. */
  subDevices: 1000,
  /** Longest value as JSON text (ThingsBoard's default maxPayloadSize). */
  valueBytes: LIMITS.maxPayloadBytes,
} as const;

export type Scope = "client" | "shared";

class Attributes {
  readonly client = new Map<string, TbValue>();
  readonly shared = new Map<string, TbValue>();
}

/** The values of `selection` present in `map`: all of them for `all`, else the named keys found. */
function pick(map: Map<string, TbValue>, keys: readonly string[], all: boolean): TbValues {
  if (all) return Object.fromEntries(map);
  const found: [string, TbValue][] = [];
  for (const key of keys) {
    const value = map.get(key);
    if (value !== undefined) found.push([key, value]);
  }
  return Object.fromEntries(found);
}

export class AttributeStore {
  readonly #own = new Attributes();
  readonly #subDevices = new Map<string, Attributes>();

  /**
   * Remembers attributes of `scope` (of sub-device `device` when given). Whatever fits is kept;
   * throws TransportError "too-large" naming what was not kept.
   */
  set(scope: Scope, values: TbValues, device?: string): void {
    const map = this.#attributes(device, true)[scope];
    const refused: string[] = [];
    for (const [key, value] of Object.entries(values)) {
      const bytes = Buffer.byteLength(JSON.stringify(value));
      if (bytes > STORE_LIMITS.valueBytes) refused.push(`${quote(key)} is ${bytes} bytes (at most ${STORE_LIMITS.valueBytes})`);
      else if (!map.has(key) && map.size >= STORE_LIMITS.keys) refused.push(`${quote(key)} would be attribute ${STORE_LIMITS.keys + 1} (at most ${STORE_LIMITS.keys})`);
      else map.set(key, value);
    }
    if (refused.length > 0) throw new TransportError("too-large", `${scope} attributes not remembered: ${refused.join("; ")}`);
  }

  /** A shared attribute update from a flow: changed keys set, deleted keys gone. */
  updateShared(update: AttributeUpdate, device?: string): void {
    const map = this.#attributes(device, true).shared;
    for (const key of update.deleted) map.delete(key);
    this.set("shared", update.values, device);
  }

  /** The attributes a request asks for (ThingsBoard's rule: no key named = everything). */
  select(selection: AttributeKeySelection, device?: string): { client: TbValues; shared: TbValues } {
    const attributes = this.#attributes(device, false);
    if (!attributes) return { client: {}, shared: {} };
    return {
      client: pick(attributes.client, selection.clientKeys, selection.all),
      shared: pick(attributes.shared, selection.sharedKeys, selection.all),
    };
  }

  #attributes(device: string | undefined, create: true): Attributes;
  #attributes(device: string | undefined, create: false): Attributes | undefined;
  #attributes(device: string | undefined, create: boolean): Attributes | undefined {
    if (device === undefined) return this.#own;
    let attributes = this.#subDevices.get(device);
    if (attributes === undefined && create) {
      if (this.#subDevices.size >= STORE_LIMITS.subDevices) {
        throw new TransportError("too-large", `attributes of sub-device ${quote(device)} not remembered: the gateway already has ${STORE_LIMITS.subDevices} sub-devices with attributes (the limit)`);
      }
      attributes = new Attributes();
      this.#subDevices.set(device, attributes);
    }
    return attributes;
  }
}
