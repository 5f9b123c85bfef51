/** Namespaces: how each kind of client's topics map to the broker's internal topic space. */
import { filterCovers } from "../transport/topic.js";
import { INTERNAL_PREFIX, type BrokerUser, type Namespace } from "./types.js";

const isInternal = (topic: string): boolean => topic.startsWith(INTERNAL_PREFIX);

/** Anonymous clients (when allowed): everything except the internal `$iot/` space. */
export const openNamespace: Namespace = {
  rewrites: false,
  publish: (topic) => (isInternal(topic) ? null : topic),
  subscribe: (filter) => (isInternal(filter) ? null : filter),
  forward: (topic) => (isInternal(topic) ? null : topic),
};

/**
 * A generic user's namespace: topics are not rewritten, but publish and subscribe must lie
 * within the user's patterns, where `%u` stands for the username and `%c` for the client id.
 * Patterns without `%c` give the same namespace to every connection of the user: share it
 * (see `sharesNamespace`), it costs memory per connection otherwise.
 */
export function userNamespace(user: Pick<BrokerUser, "username" | "publish" | "subscribe">, clientId: string): Namespace {
  const expand = (patterns: string[]): string[] =>
    patterns.map((p) => p.replaceAll("%u", user.username).replaceAll("%c", clientId));
  const canPublish = topicMatcher(expand(user.publish));
  const subscribe = expand(user.subscribe);
  return {
    rewrites: false,
    publish: (topic) => (isInternal(topic) || !canPublish(topic) ? null : topic),
    subscribe: (filter) => (isInternal(filter) || !subscribe.some((p) => filterCovers(p, filter)) ? null : filter),
    forward: (topic) => (isInternal(topic) ? null : topic),
  };
}

/** Whether every connection of this user can share one namespace (no per-client `%c` pattern). */
export function sharesNamespace(user: Pick<BrokerUser, "publish" | "subscribe">): boolean {
  return ![...user.publish, ...user.subscribe].some((p) => p.includes("%c"));
}

/**
 * One matcher for a set of filters, compiled once: publish checks run for every message, so the
 * filters are split up front and the topic once per check; `#` alone allows everything.
 */
function topicMatcher(filters: string[]): (topic: string) => boolean {
  if (filters.includes("#")) return () => true;
  const compiled = filters.map((f) => f.split("/"));
  return (topic) => {
    const levels = topic.split("/");
    const dollar = topic.startsWith("$");
    return compiled.some((f) => levelsMatch(f, levels, dollar));
  };
}

function levelsMatch(filter: string[], topic: string[], dollar: boolean): boolean {
  if (dollar && (filter[0] === "+" || filter[0] === "#")) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i];
    if (level === "#") return true;
    if (i >= topic.length) return false;
    if (level !== "+" && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

/** Internal topic prefix of one device's traffic in one direction, e.g. `$iot/blynk/7/up/`. */
export function devicePrefix(plugin: string, deviceId: string, direction: "up" | "down"): string {
  for (const [what, value] of [["plugin name", plugin], ["device id", deviceId]] as const) {
    if (value === "" || /[/+#\u0000]/.test(value)) {
      throw new TypeError(`${what} "${value}" must be non-empty and contain none of / + # NUL`);
    }
  }
  return `${INTERNAL_PREFIX}${plugin}/${deviceId}/${direction}/`;
}

export interface DeviceNamespaceOptions {
  plugin: string;
  deviceId: string;
  /** Which device-relative topics the device may publish; default all. */
  canPublish?: (topic: string) => boolean;
  /** Which device-relative filters the device may subscribe to; default all. */
  canSubscribe?: (filter: string) => boolean;
  /** An allowed filter -> the device-relative filter really subscribed (default: itself); deterministic, as UNSUBSCRIBE maps the same way. */
  mapFilter?: (filter: string) => string;
}

/**
 * A hosted device's namespace: what it publishes lands under `.../up/`, what it subscribes to
 * is looked up under `.../down/`. The two halves are disjoint, so a device never receives its
 * own uplink, and its prefixes key on the device id, so no device can reach another's topics.
 */
export function deviceNamespace(options: DeviceNamespaceOptions): Namespace {
  const up = devicePrefix(options.plugin, options.deviceId, "up");
  const down = devicePrefix(options.plugin, options.deviceId, "down");
  const canPublish = options.canPublish ?? (() => true);
  const canSubscribe = options.canSubscribe ?? (() => true);
  const mapFilter = options.mapFilter ?? ((filter: string) => filter);
  return {
    publish: (topic) => (canPublish(topic) ? up + topic : null),
    subscribe: (filter) => (canSubscribe(filter) ? down + mapFilter(filter) : null),
    forward: (topic) => (topic.startsWith(down) ? topic.slice(down.length) : null),
  };
}
