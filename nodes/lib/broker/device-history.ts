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

/** One stream's points, oldest first: times and values side by side (no object per point). */
interface MemoryStream {
  ts: number[];
  values: StoredJson[];
}

/**
 * History in memory: bounded per stream and per device, gone with the engine. Built for the
 * append on every value a device sends: devices are found through nested maps (no key string
 * made per call), a point is its time and value in two arrays (no object per point), and a
 * stream may hold a quarter more points than its bound before the oldest go, all in one splice
 * (reads never see them; dropping one per append would move the whole array every time).
 */
export class MemoryDeviceHistory implements DeviceHistory {
  readonly #maxPerStream: number;
  readonly #slack: number;
  readonly #maxStreams: number;
  /** plugin -> device id -> stream -> points. */
  readonly #plugins = new Map<string, Map<string, Map<string, MemoryStream>>>();

  constructor(options: MemoryHistoryOptions = {}) {
    this.#maxPerStream = options.maxPerStream ?? 1000;
    this.#slack = Math.max(16, Math.ceil(this.#maxPerStream / 4));
    this.#maxStreams = options.maxStreamsPerDevice ?? 1000;
  }

  append(plugin: string, deviceId: string, stream: string, ts: number, value: StoredJson): void {
    let devices = this.#plugins.get(plugin);
    if (devices === undefined) {
      devices = new Map();
      this.#plugins.set(plugin, devices);
    }
    let streams = devices.get(deviceId);
    if (streams === undefined) {
      streams = new Map();
      devices.set(deviceId, streams);
    }
    let points = streams.get(stream);
    if (points === undefined) {
      if (streams.size >= this.#maxStreams) return;
      points = { ts: [], values: [] };
      streams.set(stream, points);
    }
    const n = points.ts.length;
    // Points mostly arrive in time order: append, else insert where the time says.
    if (n === 0 || (points.ts[n - 1] ?? ts) <= ts) {
      points.ts.push(ts);
      points.values.push(value);
    } else {
      const at = insertionIndex(points.ts, ts);
      points.ts.splice(at, 0, ts);
      points.values.splice(at, 0, value);
    }
    if (n + 1 > this.#maxPerStream + this.#slack) {
      const drop = n + 1 - this.#maxPerStream;
      points.ts.splice(0, drop);
      points.values.splice(0, drop);
    }
  }

  query(plugin: string, deviceId: string, stream: string, query: HistoryQuery = {}): Promise<HistoryPoint[]> {
    const kept = this.#plugins.get(plugin)?.get(deviceId)?.get(stream);
    if (kept === undefined) return Promise.resolve([]);
    const from = query.from ?? -Infinity;
    const to = query.to ?? Infinity;
    const inRange: HistoryPoint[] = [];
    for (let i = Math.max(0, kept.ts.length - this.#maxPerStream); i < kept.ts.length; i++) {
      const ts = kept.ts[i] ?? 0;
      if (ts >= from && ts <= to) inRange.push({ ts, value: kept.values[i] ?? null });
    }
    const limit = query.limit === undefined ? inRange.length : Math.max(0, Math.floor(query.limit));
    return Promise.resolve(query.latest === true ? inRange.slice(Math.max(0, inRange.length - limit)) : inRange.slice(0, limit));
  }

  streams(plugin: string, deviceId: string): Promise<string[]> {
    return Promise.resolve([...(this.#plugins.get(plugin)?.get(deviceId)?.keys() ?? [])]);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
}

/** Where a point at `ts` goes among times in order (after those with the same time). */
function insertionIndex(times: number[], ts: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((times[mid] ?? 0) <= ts) low = mid + 1;
    else high = mid;
  }
  return low;
}
