/**
 * What ThingsBoard's fleets are (broker/fleet.ts, docs/ARCHITECTURE.md 3.8): a device (of a
 * device profile: the config node) has an access token, generated as ThingsBoard makes them
 * (20 characters) when none is given, and optionally basic MQTT credentials (client id, user
 * name, password), checked as a single hosted device's are.
 */
import { randomBytes } from "node:crypto";
import { FleetError, type FleetCredentials, type FleetPlatform } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { isPlainObject } from "../transport/value-codec.js";
import { connectCredentials } from "./codec.js";
import { hostedByToken } from "./hosted-index.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A new access token: 20 letters and digits, as ThingsBoard generates them. */
export function newTbToken(): string {
  const bytes = randomBytes(40);
  let token = "";
  // Rejection sampling keeps every character equally likely (256 is not a multiple of 62).
  for (const b of bytes) if (b < 248 && token.length < 20) token += ALPHABET[b % 62];
  return token.length === 20 ? token : newTbToken();
}

const BASIC_FIELDS = ["clientId", "username", "password"] as const;

export const tbFleetPlatform: FleetPlatform = {
  name: "ThingsBoard",
  credentials(given: unknown, previous: FleetCredentials | undefined): FleetCredentials {
    if (given !== undefined && given !== null && !isPlainObject(given)) throw new FleetError("invalid", "a ThingsBoard fleet device's credentials are {\"token\": ...} and optionally clientId, username, password");
    const g = isPlainObject(given) ? given : {};
    const out: FleetCredentials = {};
    const token = g.token === undefined || g.token === null || g.token === "" ? (previous?.token ?? newTbToken()) : g.token;
    try {
      connectCredentials({ type: "access-token", token: token as string }); // checks it, never showing it
    } catch (err) {
      throw new FleetError("invalid", `access token: ${toError(err).message}`);
    }
    out.token = token as string;
    const basicGiven = BASIC_FIELDS.some((f) => g[f] !== undefined);
    const basic: Record<string, unknown> = {};
    for (const field of BASIC_FIELDS) {
      const value = basicGiven ? g[field] : previous?.[field];
      if (value !== undefined && value !== null && value !== "") basic[field] = value;
    }
    if (Object.keys(basic).length > 0) {
      try {
        const checked = connectCredentials({ type: "basic", clientId: basic.clientId as string | undefined, username: basic.username as string | undefined, password: basic.password as string | undefined });
        for (const field of BASIC_FIELDS) {
          const value = checked[field];
          if (typeof value === "string" && value !== "") out[field] = value;
        }
      } catch (err) {
        throw new FleetError("invalid", `basic MQTT credentials: ${toError(err).message}`);
      }
    }
    return out;
  },
  fresh: () => ({ token: newTbToken() }),
  identities(credentials: FleetCredentials): string[] {
    const keys = [`token\u0000${credentials.token ?? ""}`];
    if (credentials.clientId !== undefined || credentials.username !== undefined) keys.push(`basic\u0000${credentials.clientId ?? ""}\u0000${credentials.username ?? ""}`);
    return keys;
  },
  conflict(credentials: FleetCredentials, fleetId: string): string | undefined {
    const holder = hostedByToken(credentials.token ?? "");
    if (holder === undefined || holder.device.id.startsWith(`${fleetId}.`)) return undefined;
    return `another hosted ThingsBoard device ("${holder.device.name}") already uses this access token`;
  },
};
