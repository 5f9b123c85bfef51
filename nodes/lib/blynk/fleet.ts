/**
 * What Blynk's fleets are (broker/fleet.ts, docs/ARCHITECTURE.md 3.8): a device's credential is
 * its 32-character auth token (generated as Blynk.Cloud makes them when none is given), its pin
 * map the HTTPS API pins of its datastreams, overriding the template's (the config node's).
 */
import { randomBytes } from "node:crypto";
import { FleetError, type FleetCredentials, type FleetPlatform } from "../broker/index.js";
import { ConfigError } from "../transport/link-config.js";
import { isPlainObject } from "../transport/value-codec.js";
import { hostedByToken } from "./emulation.js";
import { parsePins } from "./link-config.js";

/** What a token may hold: usable in MQTT passwords, URLs (HTTPS and legacy APIs) and binary logins. */
const TOKEN = /^[A-Za-z0-9_-]{8,64}$/;

/** A new token: 32 characters of base64url, as long as Blynk.Cloud's. */
export function newBlynkToken(): string {
  return randomBytes(24).toString("base64url");
}

export const blynkFleetPlatform: FleetPlatform = {
  name: "Blynk",
  credentials(given: unknown, previous: FleetCredentials | undefined): FleetCredentials {
    if (given !== undefined && given !== null && !isPlainObject(given)) throw new FleetError("invalid", "a Blynk fleet device's credentials are {\"token\": ...}");
    const token: unknown = isPlainObject(given) ? given.token : undefined;
    if (token === undefined || token === null || token === "") return { token: previous?.token ?? newBlynkToken() };
    if (typeof token !== "string" || !TOKEN.test(token)) throw new FleetError("invalid", "a Blynk token is 8 to 64 of A-Z a-z 0-9 _ - (leave it empty to generate one)");
    return { token };
  },
  pins(given: unknown): Record<string, string> | undefined {
    try {
      if (typeof given === "string") return parsePins(given);
      if (!isPlainObject(given)) throw new Error("a pin map is an object {\"V1\": \"Temperature\"} or text \"V1=Temperature\"");
      return parsePins(Object.entries(given).map(([pin, name]) => `${pin}=${String(name)}`).join(","));
    } catch (err) {
      // parsePins words the config node's problems: the entry and what is wrong with it.
      const text = err instanceof ConfigError ? `pin map entry "${err.params.entry}": ${err.params.error}` : err instanceof Error ? err.message : String(err);
      throw new FleetError("invalid", text);
    }
  },
  fresh: () => ({ token: newBlynkToken() }),
  identities: (credentials) => [`token\u0000${credentials.token ?? ""}`],
  conflict(credentials: FleetCredentials, fleetId: string): string | undefined {
    const holder = hostedByToken(credentials.token ?? "");
    // Its own members hold their tokens: only another device (a single one, another fleet's) conflicts.
    if (holder === undefined || holder.device.id.startsWith(`${fleetId}.`)) return undefined;
    return `another hosted Blynk device ("${holder.device.name}") already uses this token`;
  },
};
