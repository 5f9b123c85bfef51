/** MQTT topic names and filters: validation and matching (MQTT 3.1.1 section 4.7, same in 5). */
import { TransportError } from "./errors.js";

const MAX_TOPIC_BYTES = 65_535;

/** Throws TransportError("invalid") unless `topic` is a valid topic name to publish to. */
export function assertTopicName(topic: unknown): asserts topic is string {
  if (typeof topic !== "string" || topic.length === 0) {
    throw new TransportError("invalid", `topic must be a non-empty string, got ${describe(topic)}`);
  }
  if (topic.includes("+") || topic.includes("#")) {
    throw new TransportError("invalid", `topic "${topic}" must not contain the wildcards + or # when publishing`);
  }
  checkCommon(topic, "topic");
}

/** Throws TransportError("invalid") unless `filter` is a valid subscription filter. */
export function assertTopicFilter(filter: unknown): asserts filter is string {
  if (typeof filter !== "string" || filter.length === 0) {
    throw new TransportError("invalid", `topic filter must be a non-empty string, got ${describe(filter)}`);
  }
  checkCommon(filter, "topic filter");
  const levels = filter.split("/");
  levels.forEach((level, i) => {
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      throw new TransportError("invalid", `topic filter "${filter}": # is allowed only as the whole last level`);
    }
    if (level.includes("+") && level !== "+") {
      throw new TransportError("invalid", `topic filter "${filter}": + must occupy a whole level`);
    }
  });
}

/** True when `topic` (a topic name) matches `filter`; `$`-topics never match a leading wildcard. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * True when every topic matched by `filter` is also matched by `pattern` (used to decide
 * whether a subscription request lies within what an ACL pattern allows).
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split("/");
  const f = filter.split("/");
  if (filter.startsWith("$") && (p[0] === "+" || p[0] === "#")) return false;
  for (let i = 0; i < p.length; i++) {
    const level = p[i];
    if (level === "#") return true;
    if (i >= f.length) return false;
    const want = f[i];
    if (want === "#") return false; // filter is wider than a non-# pattern level
    if (level === "+") continue; // + covers any single level, including a + in the filter
    if (want === "+" || level !== want) return false;
  }
  return p.length === f.length;
}

function checkCommon(value: string, what: string): void {
  if (value.includes("\u0000")) {
    throw new TransportError("invalid", `${what} "${value.replace(/\u0000/g, "\\0")}" must not contain a NUL character`);
  }
  if (Buffer.byteLength(value) > MAX_TOPIC_BYTES) {
    throw new TransportError("too-large", `${what} is ${Buffer.byteLength(value)} bytes; MQTT allows at most ${MAX_TOPIC_BYTES}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return "an empty string";
  return typeof value;
}
