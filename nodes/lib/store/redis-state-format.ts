/**
 * How hosted devices' state lies in Redis (redis-device-stores.ts keeps the replica): under the
 * broker's key prefix one hash per device, `state:["<plugin>","<id>"]`, field
 * `["<section>","<key>"]` -> `[seq,at,value]` (seq keeps the first-written order; `#seq`
 * counts), and the set `state-devices` of the devices that have state. Every write runs in a
 * script that also publishes the change on the state channel, so every instance sees the writes
 * in Redis' order. Keyed by device id only: no token, key or password is ever part of a key or a
 * value.
 */
import type { ChainableCommander } from "ioredis";
import type { StoredJson, StoredValue } from "../broker/device-store.js";
import { fieldOf, sectionPrefix, type Change, type Outgoing } from "./redis-device-store.js";

export const INDEX = "state-devices";

export const SCRIPTS = {
  iotStateSet: {
    numberOfKeys: 2,
    lua: `local old = ARGV[7] == '0' and redis.call('HGET', KEYS[1], ARGV[1])
local seq = old and string.match(old, '^%[(%d+),')
if not seq then seq = redis.call('HINCRBY', KEYS[1], '#seq', 1) end
redis.call('HSET', KEYS[1], ARGV[1], '[' .. seq .. ',' .. ARGV[2] .. ',' .. ARGV[3] .. ']')
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1`,
  },
  iotStateDelete: {
    numberOfKeys: 1,
    lua: `redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`,
  },
  iotStateClear: {
    numberOfKeys: 1,
    lua: `local gone = {}
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #ARGV[1]) == ARGV[1] then gone[#gone + 1] = f end
end
for i = 1, #gone, 1000 do redis.call('HDEL', KEYS[1], unpack(gone, i, math.min(i + 999, #gone))) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return #gone`,
  },
} as const;

/** The scripts as ioredis adds them to a pipeline (defineCommand). */
export type ScriptCalls = { [K in keyof typeof SCRIPTS]: (...args: string[]) => ChainableCommander };

/** A device as the index names it. */
export function deviceMember(plugin: string, deviceId: string): string {
  return JSON.stringify([plugin, deviceId]);
}

export function stateKey(member: string): string {
  return `state:${member}`;
}

/** Adds one device's unsent writes to `pipeline`, each with the change message it publishes (`origin`: this instance). */
export function queueOutgoing(pipeline: ChainableCommander & ScriptCalls, target: { channel: string; origin: string }, device: { plugin: string; deviceId: string }, out: Outgoing): void {
  const member = deviceMember(device.plugin, device.deviceId);
  const key = stateKey(member);
  const { channel, origin } = target;
  const head = `{"o":${JSON.stringify(origin)},"p":${JSON.stringify(device.plugin)},"d":${JSON.stringify(device.deviceId)}`;
  for (const section of out.clears) {
    pipeline.iotStateClear(key, sectionPrefix(section), channel, `${head},"op":"c","s":${JSON.stringify(section)}}`);
  }
  for (const { section, key: entry, write } of out.writes) {
    const where = `${head},"s":${JSON.stringify(section)},"k":${JSON.stringify(entry)}`;
    if (write === null) pipeline.iotStateDelete(key, fieldOf(section, entry), channel, `${where},"op":"d"}`);
    else pipeline.iotStateSet(key, INDEX, fieldOf(section, entry), JSON.stringify(write.at), write.json, member, channel, `${where},"op":"s","f":${write.fresh ? 1 : 0},"a":${JSON.stringify(write.at)},"v":${write.json}}`, write.fresh ? "1" : "0");
  }
}

/** A message of the state channel, or undefined when it is not a change this store wrote. */
export function parseChange(text: string): Change | undefined {
  try {
    const change = JSON.parse(text) as Change;
    return typeof change.p === "string" && typeof change.d === "string" && typeof change.s === "string" ? change : undefined;
  } catch {
    return undefined;
  }
}

/** A device's hash as rows in first-written order (`damaged`: some were not JSON and are left out); undefined for a member this store did not write. */
export function parseDeviceHash(member: string, hash: Record<string, string>): { plugin: string; deviceId: string; rows: { section: string; key: string; stored: StoredValue }[]; damaged: boolean } | undefined {
  let plugin: string;
  let deviceId: string;
  try {
    [plugin, deviceId] = JSON.parse(member) as [string, string];
  } catch {
    return undefined;
  }
  let damaged = false;
  const rows: { section: string; key: string; seq: number; stored: StoredValue }[] = [];
  for (const [field, text] of Object.entries(hash)) {
    if (field.startsWith("#")) continue;
    try {
      const [section, key] = JSON.parse(field) as [string, string];
      const [seq, at, value] = JSON.parse(text) as [number, number, StoredJson];
      rows.push({ section, key, seq, stored: { value, at } });
    } catch {
      damaged = true;
    }
  }
  rows.sort((a, b) => a.seq - b.seq);
  return { plugin, deviceId, rows, damaged };
}
