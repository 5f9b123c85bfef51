/**
 * Hosted devices' history: every value a device sends and every value flows write to it, with
 * its time, per stream (a Blynk datastream, a ThingsBoard telemetry key, a ThingSpeak field).
 * Platform-blind like `DeviceStore`: a platform's runtime appends, readers (the ThingSpeak read
 * API, Blynk's `data/get`, the `iot-history` node) query. The broker's persistence decides where
 * the points live: memory (bounded, per engine) by default, a durable store behind the same
 * interface. Values are JSON and never secrets; streams are keyed by device id.
 */
import type { StoredJson } from "./device-store.js";

export interface HistoryPoint {
  /** When the value was current (ms since the epoch). */
  readonly ts: number;
  readonly value: StoredJson;
}

export interface HistoryQuery {
  /** From this time on (ms, inclusive). */
  from?: number;
  /** Up to this time (ms, inclusive). */
  to?: number;
  /** At most this many points. */
  limit?: number;
  /** With a limit: the newest points of the range rather than the oldest. Always answered oldest first. */
  latest?: boolean;
}

export interface DeviceHistory {
  /** Appends a point; bounded per stream by the implementation (the oldest go). Throws only for a value JSON cannot hold. */
  append(plugin: string, deviceId: string, stream: string, ts: number, value: StoredJson): void;
  /** A stream's points in a range, oldest first; includes everything appended before the call. */
  query(plugin: string, deviceId: string, stream: string, query?: HistoryQuery): Promise<HistoryPoint[]>;
  /** The streams a device has points in. */
  streams(plugin: string, deviceId: string): Promise<string[]>;
  /** Resolves once every point appended so far would survive a crash (at once for memory). */
  flush(): Promise<void>;
}

export interface MemoryHistoryOptions {
  /** Points kept per stream (default 1000): the oldest go first. */
  maxPerStream?: number;
  /** Streams kept per device (default 1000): points of further streams are not kept. */
  maxStreamsPerDevice?: number;
}

/**
 * History in memory: bounded per stream and per device, gone with the engine. A stream may hold
 * a quarter more points than its bound before the oldest go, all in one splice (reads never see
 * them): dropping one point per append would move the whole array on every value a device sends.
 */
export class MemoryDeviceHistory implements DeviceHistory {
  readonly #maxPerStream: number;
  readonly #slack: number;
  readonly #maxStreams: number;
  /** `plugin\0deviceId` -> stream -> points, oldest first. */
  readonly #devices = new Map<string, Map<string, HistoryPoint[]>>();

  constructor(options: MemoryHistoryOptions = {}) {
    this.#maxPerStream = options.maxPerStream ?? 1000;
    this.#slack = Math.max(16, Math.ceil(this.#maxPerStream / 4));
    this.#maxStreams = options.maxStreamsPerDevice ?? 1000;
  }

  append(plugin: string, deviceId: string, stream: string, ts: number, value: StoredJson): void {
    const key = `${plugin}\u0000${deviceId}`;
    let streams = this.#devices.get(key);
    if (streams === undefined) {
      streams = new Map();
      this.#devices.set(key, streams);
    }
    let points = streams.get(stream);
    if (points === undefined) {
      if (streams.size >= this.#maxStreams) return;
      points = [];
      streams.set(stream, points);
    }
    const point = { ts, value };
    // Points mostly arrive in time order: append, else insert where the time says.
    if (points.length === 0 || (points.at(-1)?.ts ?? ts) <= ts) points.push(point);
    else points.splice(insertionIndex(points, ts), 0, point);
    if (points.length > this.#maxPerStream + this.#slack) points.splice(0, points.length - this.#maxPerStream);
  }

  query(plugin: string, deviceId: string, stream: string, query: HistoryQuery = {}): Promise<HistoryPoint[]> {
    const kept = this.#devices.get(`${plugin}\u0000${deviceId}`)?.get(stream) ?? [];
    const points = kept.length > this.#maxPerStream ? kept.slice(kept.length - this.#maxPerStream) : kept;
    const from = query.from ?? -Infinity;
    const to = query.to ?? Infinity;
    const inRange = points.filter((p) => p.ts >= from && p.ts <= to);
    const limit = query.limit === undefined ? inRange.length : Math.max(0, Math.floor(query.limit));
    return Promise.resolve(query.latest === true ? inRange.slice(Math.max(0, inRange.length - limit)) : inRange.slice(0, limit));
  }

  streams(plugin: string, deviceId: string): Promise<string[]> {
    return Promise.resolve([...(this.#devices.get(`${plugin}\u0000${deviceId}`)?.keys() ?? [])]);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Where a point at `ts` goes among points sorted by time (after those with the same time). */
function insertionIndex(points: HistoryPoint[], ts: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((points[mid]?.ts ?? 0) <= ts) low = mid + 1;
    else high = mid;
  }
  return low;
}
