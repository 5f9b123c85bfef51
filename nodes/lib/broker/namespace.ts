/** Namespaces: how each kind of client's topics map to the broker's internal topic space. */
import { filterCovers, topicMatches } from "../transport/topic.js";
import { INTERNAL_PREFIX, type BrokerUser, type Namespace } from "./types.js";

const isInternal = (topic: string): boolean => topic.startsWith(INTERNAL_PREFIX);

/** Anonymous clients (when allowed): everything except the internal `$iot/` space. */
export const openNamespace: Namespace = {
  publish: (topic) => (isInternal(topic) ? null : topic),
  subscribe: (filter) => (isInternal(filter) ? null : filter),
  forward: (topic) => (isInternal(topic) ? null : topic),
};

/**
 * A generic user's namespace: topics are not rewritten, but publish and subscribe must lie
 * within the user's patterns, where `%u` stands for the username and `%c` for the client id.
 */
export function userNamespace(user: Pick<BrokerUser, "username" | "publish" | "subscribe">, clientId: string): Namespace {
  const expand = (patterns: string[]): string[] =>
    patterns.map((p) => p.replaceAll("%u", user.username).replaceAll("%c", clientId));
  const publish = expand(user.publish);
  const subscribe = expand(user.subscribe);
  return {
    publish: (topic) => (isInternal(topic) || !publish.some((p) => topicMatches(p, topic)) ? null : topic),
    subscribe: (filter) => (isInternal(filter) || !subscribe.some((p) => filterCovers(p, filter)) ? null : filter),
    forward: (topic) => (isInternal(topic) ? null : topic),
  };
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
  return {
    publish: (topic) => (canPublish(topic) ? up + topic : null),
    subscribe: (filter) => (canSubscribe(filter) ? down + filter : null),
    forward: (topic) => (topic.startsWith(down) ? topic.slice(down.length) : null),
  };
}
