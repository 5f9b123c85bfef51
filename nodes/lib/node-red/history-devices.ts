/**
 * The hosted devices whose history the `iot-history` node reads, as the flows define them: a
 * `blynk-device`, `thingsboard-device` or `thingspeak-channel` config node in local mode, named
 * by its id or its name. Its history is under the platform's plugin name and the config node's
 * id on the engine of its `iot-broker` (docs/ARCHITECTURE.md 3.5); this module says which
 * stream a key names on each platform, and which keys a device's streams are. The flows'
 * definitions are read through RED.nodes.eachNode (handed in), so no Node-RED import here.
 */
import { BLYNK_PLUGIN } from "../blynk/hosted-types.js";
import { parsePin } from "../blynk/http-codec.js";
import { parsePins } from "../blynk/link-config.js";
import { described, HistoryRefusal } from "../broker/history-read.js";
import { historyStream } from "../thingsboard/hosted-state.js";
import { TB_PLUGIN } from "../thingsboard/hosted-types.js";
import { toFieldNumber } from "../thingspeak/codec-update.js";
import { THINGSPEAK_PLUGIN } from "../thingspeak/hosted-types.js";
import { parseFieldNames } from "../thingspeak/link-config.js";

/** A node as the flows define it (what RED.nodes.eachNode gives). */
export interface NodeDefinition {
  id: string;
  type: string;
  [setting: string]: unknown;
}

export type EachNode = (visit: (def: NodeDefinition) => void) => void;

/** The config node types whose devices have a history, and the plugin each is hosted by. */
export const DEVICE_TYPES: Readonly<Record<string, string>> = {
  "blynk-device": BLYNK_PLUGIN,
  "thingsboard-device": TB_PLUGIN,
  "thingspeak-channel": THINGSPEAK_PLUGIN,
};

/** The platforms by the name a user gives them (the node's Platform, msg.platform), each with its plugin. */
export const PLATFORMS: Readonly<Record<string, string>> = {
  blynk: BLYNK_PLUGIN,
  thingsboard: TB_PLUGIN,
  thingspeak: THINGSPEAK_PLUGIN,
};

/** A platform's name in messages, by its plugin. */
const PLATFORM_NAMES: Readonly<Record<string, string>> = { [BLYNK_PLUGIN]: "Blynk", [TB_PLUGIN]: "ThingsBoard", [THINGSPEAK_PLUGIN]: "ThingSpeak" };
const platformName = (plugin: string): string => PLATFORM_NAMES[plugin] ?? plugin;

/**
 * A Platform setting as the plugin it names ("blynk", "thingsboard", "thingspeak", in any case);
 * undefined for any platform ("" or nothing).
 */
export function parsePlatform(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const name = typeof value === "string" ? value.trim().toLowerCase() : undefined;
  if (name === "") return undefined;
  if (name === undefined || !Object.hasOwn(PLATFORMS, name)) throw new HistoryRefusal("invalid-platform", { got: described(value) });
  return PLATFORMS[name];
}

export interface HistoryDevice {
  readonly plugin: string;
  readonly type: string;
  /** The config node's id: the hosted device's id. */
  readonly id: string;
  /** Its name, else its id. */
  readonly name: string;
  /** The iot-broker node it is hosted on. */
  readonly broker: string;
  readonly def: NodeDefinition;
}

const text = (value: unknown): string => (typeof value === "string" ? value.trim() : "");

/** A device config node's name as a user sees it (its id when it has none). */
export function nameOf(def: NodeDefinition): string {
  return text(def.name) === "" ? def.id : text(def.name);
}

/** The definition of node `id`, or undefined. */
export function definitionOf(eachNode: EachNode, id: string): NodeDefinition | undefined {
  let found: NodeDefinition | undefined;
  eachNode((def) => {
    if (found === undefined && def.id === id) found = def;
  });
  return found;
}

/**
 * The local-mode device `given` names: a config node id, or the name of exactly one device
 * config node (of `platform` when given: a plugin name, see parsePlatform). A HistoryRefusal says
 * what is wrong (none, unknown, ambiguous, another kind of node or platform, not local, no broker).
 */
export function findDevice(eachNode: EachNode, given: unknown, platform?: string): HistoryDevice {
  if (given === undefined || given === null || given === "") throw new HistoryRefusal("no-device");
  if (typeof given !== "string" || given.trim() === "") throw new HistoryRefusal("invalid-device", { got: described(given) });
  const wanted = given.trim();
  const byId: NodeDefinition[] = [];
  const byName: NodeDefinition[] = [];
  eachNode((def) => {
    if (def.id === wanted) byId.push(def);
    else if (Object.hasOwn(DEVICE_TYPES, def.type) && (platform === undefined || DEVICE_TYPES[def.type] === platform) && text(def.name) === wanted) byName.push(def);
  });
  if (byId.length === 0 && byName.length > 1) throw new HistoryRefusal("ambiguous-device", { device: wanted, count: String(byName.length) });
  const def = byId.at(0) ?? byName.at(0);
  if (def === undefined && platform !== undefined) throw new HistoryRefusal("unknown-platform-device", { device: wanted, platform: platformName(platform) });
  if (def === undefined) throw new HistoryRefusal("unknown-device", { device: wanted });
  const plugin = Object.hasOwn(DEVICE_TYPES, def.type) ? DEVICE_TYPES[def.type] : undefined;
  if (plugin === undefined) throw new HistoryRefusal("not-a-device", { device: wanted, type: def.type });
  const name = nameOf(def);
  if (platform !== undefined && plugin !== platform) throw new HistoryRefusal("wrong-platform", { device: name, platform: platformName(plugin), wanted: platformName(platform) });
  const connection = text(def.connection);
  if (connection !== "local") throw new HistoryRefusal("not-local", { device: name, connection: connection === "" ? "mqtt" : connection });
  const broker = text(def.broker);
  if (broker === "") throw new HistoryRefusal("no-broker", { device: name });
  return { plugin, type: def.type, id: def.id, name, broker, def };
}

/** What a key names on a device: the streams it may be (the first one with points wins), and whether the key exists without points. */
export interface KeyStreams {
  readonly key: string;
  readonly candidates: readonly string[];
  /** ThingSpeak's field1..field8 always exist: no points yet is an empty answer, not an unknown key. */
  readonly alwaysKnown: boolean;
}

/**
 * The streams `key` may name on `device`: a Blynk datastream (or a pin the device maps to one,
 * e.g. "V1"), a ThingsBoard telemetry key (of `subDevice` of a gateway when given), a ThingSpeak
 * field (`field3`, `3`, or the name the channel gives it).
 */
export function keyStreams(device: HistoryDevice, key: unknown, subDevice: unknown): KeyStreams {
  if (key === undefined || key === null || key === "") throw new HistoryRefusal("no-key");
  if (typeof key !== "string" || key.trim() === "") throw new HistoryRefusal("invalid-key", { got: described(key) });
  const k = key.trim();
  const sub = subDevice ?? "";
  if (typeof sub !== "string") throw new HistoryRefusal("invalid-sub-device", { got: described(sub) });
  if (sub.trim() !== "" && device.plugin !== TB_PLUGIN) throw new HistoryRefusal("sub-device-not-thingsboard", { device: device.name });
  if (device.plugin === BLYNK_PLUGIN) return { key: k, candidates: [k, ...pinStream(device.def, k)], alwaysKnown: false };
  if (device.plugin === TB_PLUGIN) return { key: k, candidates: [historyStream(k, sub.trim() === "" ? undefined : sub.trim())], alwaysKnown: false };
  return { key: k, candidates: [`field${String(fieldOf(device, k))}`], alwaysKnown: true };
}

/** A pin key ("V1") as the stream of the datastream the device maps it to, or of the pin itself. */
function pinStream(def: NodeDefinition, key: string): string[] {
  let pin: string;
  try {
    pin = parsePin(key);
  } catch {
    return [];
  }
  let pins: Record<string, string> = {};
  try {
    pins = parsePins(text(def.pins));
  } catch {
    // The config node reports its own settings' problems.
  }
  const stream = Object.hasOwn(pins, pin) ? pins[pin] : pin;
  return stream === key ? [] : [stream];
}

function fieldOf(device: HistoryDevice, key: string): number {
  let names: Partial<Record<number, string>> = {};
  try {
    names = parseFieldNames(text(device.def.fieldNames));
  } catch {
    // As above.
  }
  const named = Object.entries(names).find(([, name]) => name === key) ?? Object.entries(names).find(([, name]) => name?.toLowerCase() === key.toLowerCase());
  if (named !== undefined) return Number(named[0]);
  try {
    return toFieldNumber(key);
  } catch {
    const known = Object.values(names).filter((n): n is string => n !== undefined);
    throw new HistoryRefusal("invalid-field", { got: described(key), names: known.length === 0 ? "" : `, ${known.join(", ")}` });
  }
}

/** A key as the node's settings name it: the key, and the gateway sub-device it belongs to. */
export interface DeviceKey {
  key: string;
  subDevice?: string;
}

const unescape = (s: string): string => s.replace(/%2F|%25/g, (m) => (m === "%2F" ? "/" : "%"));

/** The keys a device's history streams are, as the node's Key (and Sub-device) settings name them. */
export function keysOf(plugin: string, streams: readonly string[]): DeviceKey[] {
  if (plugin !== TB_PLUGIN) return streams.map((key) => ({ key }));
  return streams.map((stream) => {
    const slash = stream.indexOf("/");
    return slash < 0 ? { key: unescape(stream) } : { key: stream.slice(slash + 1), subDevice: unescape(stream.slice(0, slash)) };
  });
}

/** At most `max` keys for a message, each at most 40 characters, then how many more. */
export function listKeys(keys: readonly DeviceKey[], max = 20): string {
  const short = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}…` : s);
  const shown = keys.slice(0, max).map((k) => (k.subDevice === undefined ? short(k.key) : `${short(k.key)} (sub-device ${short(k.subDevice)})`));
  return keys.length > max ? `${shown.join(", ")} and ${String(keys.length - max)} more` : shown.join(", ");
}
