/**
 * What the three config nodes' settings parsers (blynk, thingsboard, thingspeak link-config.ts)
 * share: one error for a configuration mistake, whose key names a message of the config node's
 * `errors` catalog so the node layer can translate it, and the checks of the settings every
 * platform has (a choice, the broker, the server URL, "name=value" lists). Node-RED-free: the
 * node passes its settings in. No secret value ever goes into an error's params.
 */
import { toError } from "./errors.js";
import type { ConfigProblem } from "./link-users.js";
import { redactUrls } from "./redact.js";

export class ConfigError extends Error implements ConfigProblem {
  override readonly name = "ConfigError";
  constructor(
    /** Key under `<config node type>.errors`. */
    readonly key: string,
    readonly params: Record<string, string> = {},
  ) {
    super(`${key}${Object.keys(params).length === 0 ? "" : ` ${JSON.stringify(params)}`}`);
  }
}

/** A setting as text: strings trimmed, numbers as written, "" for anything else. */
export function settingText(value: unknown): string {
  return typeof value === "string" ? value.trim() : typeof value === "number" ? String(value) : "";
}

/** One of `accepted` (the first when unset); anything else is refused as `key` with the value. */
export function choiceSetting<C extends string>(value: unknown, accepted: readonly [C, ...C[]], key: string): C {
  const given = settingText(value);
  if (given === "") return accepted[0];
  const found = accepted.find((c) => c === given);
  if (found === undefined) throw new ConfigError(key, { value: given });
  return found;
}

/** The iot-broker node a local link is hosted on. */
export function brokerSetting(value: unknown): string {
  const broker = settingText(value);
  if (broker === "") throw new ConfigError("missing-broker");
  return broker;
}

const SCHEMES = {
  mqtt: new Set(["mqtt:", "mqtts:", "ws:", "wss:", "tcp:", "ssl:"]),
  http: new Set(["http:", "https:"]),
};

export interface ServerRules {
  /** mqtt: an mqtt[s]://, ws[s]://, tcp:// or ssl:// URL; http: an http[s]:// base URL without query. */
  kind: "mqtt" | "http";
  /** The platform's own server, used when the setting is empty. */
  fallback: string;
  /** The refusal's key, e.g. "invalid-mqtt-server". */
  key: string;
  /** http: no path either (the API lives at the server's root). */
  originOnly?: boolean;
}

/** A server URL setting, checked; an http one loses trailing slashes. */
export function serverSetting(server: string, rules: ServerRules): string {
  if (server === "") return rules.fallback;
  const refused = (key: string): ConfigError => new ConfigError(key, { value: redactUrls(server) });
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw refused(rules.key);
  }
  if (!SCHEMES[rules.kind].has(url.protocol.toLowerCase()) || url.hostname === "") throw refused(rules.key);
  // Credentials belong in the node's credentials, where they are kept secret, never in a URL.
  if (url.username !== "" || url.password !== "") throw refused("server-credentials");
  if (rules.kind === "mqtt") return server;
  if (url.search !== "" || url.hash !== "" || (rules.originOnly === true && url.pathname.replace(/\/+$/, "") !== "")) throw refused(rules.key);
  return server.replace(/\/+$/, "");
}

/**
 * Reads "a=b, c=d" (separated by commas, semicolons or line breaks): `take` gets each entry's
 * name and value, trimmed, and throws what is wrong with them; every problem is refused as
 * `key` with the entry and the error in words. `example` shows what an entry looks like.
 */
export function eachAssignment(spec: string, key: string, example: string, take: (name: string, value: string) => void): void {
  for (const item of spec.split(/[,\n;]/)) {
    const entry = item.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new ConfigError(key, { entry, error: `an entry must look like "${example}"` });
    try {
      take(entry.slice(0, eq).trim(), entry.slice(eq + 1).trim());
    } catch (err) {
      throw new ConfigError(key, { entry, error: toError(err).message });
    }
  }
}
