/**
 * Self-hosted device provisioning (docs/PROTOCOLS.md 4.3): a local-mode thingsboard-device in
 * fleet mode (a ThingsBoard device profile, broker/fleet.ts) with a provision key, secret and
 * strategy registers a profile here; a device's request (MQTT `/provision/request` through
 * provision-plugin.ts, or HTTP `POST /api/v1/provision`, http-api.ts) is decided by
 * `provisionDevice`, which adds the device to the fleet or finds it there and answers with its
 * credentials, in the response shape of codec-session.ts.
 *
 * Decisions (ThingsBoard's DeviceProvisionServiceImpl where the docs are silent):
 * - No profile anywhere (on this broker, for MQTT): NOT_FOUND, as before provisioning existed.
 *   A key no profile has, or a wrong secret: FAILURE "Failed to provision device!" (the
 *   issue's contract; ThingsBoard's source answers NOT_FOUND there — devices and SDKs only test
 *   for SUCCESS). The secret is compared in constant time (through digests).
 * - Strategy "allow new devices" (ThingsBoard: "Allow to create new devices"): an unknown name is
 *   added to the fleet with the credentials asked for (ACCESS_TOKEN with the device's `token` or
 *   a generated one; MQTT_BASIC with its clientId/username/password, plus a generated token for
 *   the HTTP API); a name already in the fleet is FAILURE, as ThingsBoard refuses to provision
 *   a present device "once more". "Pre-provisioned only" ("Check for pre-provisioned devices"):
 *   an unknown name is FAILURE; a known one gets its existing credentials once (MQTT_BASIC when
 *   it has basic credentials and asked for them, else its token), then is marked
 *   `provisionState: "provisioned"` in its meta (ThingsBoard's server attribute) and a second
 *   request is FAILURE. X.509 is not offered: FAILURE.
 * - A request without deviceName gets a random UUID as its name (ThingsBoard does the same).
 * - Flows may decide first (`ask`, the profile's): true approves (an unknown device is added, a
 *   known one answered with its credentials, whatever the strategy), false vetoes (FAILURE),
 *   undefined (nobody answered within the profile's wait) leaves it to the strategy.
 * - A fleet that is not running (broker stopped, or the node not in fleet mode): FAILURE, reported.
 * No secret (provision secret, token, password) goes into a report or an error.
 */
import { randomUUID, timingSafeEqual } from "node:crypto";
import { fleetOf, type FleetCredentials, type FleetDevice } from "../broker/index.js";
import { tokenDigest } from "../transport/secret-match.js";
import { toError } from "../transport/errors.js";
import type { ProvisionRequest, ProvisionResponse } from "./codec.js";

export type ProvisionStrategy = "allow-new" | "pre-provisioned";

/** What the flows are asked about a provisioning request (no secret in it). */
export interface ProvisionQuestion {
  deviceName: string;
  credentialsType: "ACCESS_TOKEN" | "MQTT_BASIC";
  /** The name is in the fleet already. */
  known: boolean;
  /** What the strategy alone would answer. */
  byStrategy: "approve" | "deny";
  via: "mqtt" | "http";
}

export interface ProvisionProfile {
  /** The fleet's config node id (`fleetOf(fleetId)`). */
  fleetId: string;
  /** The iot-broker node the fleet is hosted on: MQTT requests reach only its profiles. */
  brokerId: string;
  key: string;
  secret: string;
  strategy: ProvisionStrategy;
  /** The flows' answer; undefined = nobody answered in time. Must not reject (a rejection counts as undefined). */
  ask?: (question: ProvisionQuestion) => Promise<boolean | undefined>;
  /** Something worth a warning on the config node (no secret in it). */
  report: (text: string) => void;
}

const profiles = new Set<ProvisionProfile>();

/** Registers a profile until the returned function is called. */
export function registerProvisionProfile(profile: ProvisionProfile): () => void {
  profiles.add(profile);
  return () => {
    profiles.delete(profile);
  };
}

/** A problem of a broker's provisioning login: told to the first profile on that broker. */
export function reportOnBroker(brokerId: string, text: string): void {
  for (const p of profiles) {
    if (p.brokerId !== brokerId) continue;
    p.report(text);
    return;
  }
}

const FAILED: ProvisionResponse = { ok: false, status: "FAILURE", errorMsg: "" };
const NOT_FOUND: ProvisionResponse = { ok: false, status: "NOT_FOUND", errorMsg: "" };

function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(tokenDigest(a), tokenDigest(b));
}

/** Decides a device's provisioning request; never rejects. `brokerId`: the broker it came through (MQTT), undefined for HTTP. */
export async function provisionDevice(request: ProvisionRequest, via: { brokerId?: string; kind: "mqtt" | "http"; wrongSecret?: () => void }): Promise<ProvisionResponse> {
  const candidates = [...profiles].filter((p) => via.brokerId === undefined || p.brokerId === via.brokerId);
  if (candidates.length === 0) return NOT_FOUND;
  const profile = candidates.find((p) => p.key === request.provisionDeviceKey);
  if (profile === undefined || !sameSecret(profile.secret, request.provisionDeviceSecret)) {
    via.wrongSecret?.(); // counted like a failed login: a secret cannot be guessed quickly
    return FAILED;
  }
  const trimmed = request.deviceName?.trim() ?? "";
  const deviceName = trimmed === "" ? randomUUID() : trimmed;
  try {
    return await decide(profile, request, deviceName, via.kind);
  } catch (err) {
    profile.report(`the provisioning request of "${deviceName}" failed: ${toError(err).message}`);
    return FAILED;
  }
}

async function decide(profile: ProvisionProfile, request: ProvisionRequest, deviceName: string, via: "mqtt" | "http"): Promise<ProvisionResponse> {
  const fleet = fleetOf(profile.fleetId);
  if (fleet?.available !== true) {
    profile.report(`a device asked to be provisioned as "${deviceName}", but the fleet is not running (its iot-broker stopped, or the device is not in fleet mode): answered FAILURE`);
    return FAILED;
  }
  if (request.credentialsType === "X509_CERTIFICATE") return FAILED;
  const credentialsType = request.credentialsType ?? "ACCESS_TOKEN";
  const known = fleet.find(deviceName);
  // A device's credentials are handed out once, as ThingsBoard does: no flow approval (nor a
  // guessed name with the profile's key and secret) can take over a device that already has them.
  if (alreadyProvisioned(known)) return FAILED;
  const byStrategy = strategyAnswer(profile.strategy, known);
  let approved: boolean | undefined;
  if (profile.ask !== undefined) {
    approved = await profile.ask({ deviceName, credentialsType, known: known !== undefined, byStrategy, via }).catch(() => undefined);
  }
  if (approved === false || (approved === undefined && byStrategy === "deny")) return FAILED;
  // A known device may have been removed while the flows were asked: look again.
  const current = fleet.find(deviceName);
  if (current === undefined) {
    const added = await fleet.add({ name: deviceName, credentials: requestedCredentials(request), meta: { provisionState: "provisioned" } });
    return answerWith(added.credentials, credentialsType);
  }
  if (alreadyProvisioned(current)) return FAILED;
  const credentials = fleet.credentials({ id: current.id });
  await fleet.change({ id: current.id }, { meta: { ...current.meta, provisionState: "provisioned" } });
  return answerWith(credentials, credentialsType);
}

function alreadyProvisioned(device: FleetDevice | undefined): boolean {
  return device?.meta?.provisionState === "provisioned";
}

function strategyAnswer(strategy: ProvisionStrategy, known: FleetDevice | undefined): "approve" | "deny" {
  if (strategy === "allow-new") return known === undefined ? "approve" : "deny";
  return known !== undefined ? "approve" : "deny";
}

/** The credentials a new device asked for (the fleet generates a missing token). */
function requestedCredentials(request: ProvisionRequest): FleetCredentials {
  if (request.credentialsType === "MQTT_BASIC") return { clientId: request.clientId, username: request.username, password: request.password };
  return request.token === undefined ? {} : { token: request.token };
}

function answerWith(credentials: FleetCredentials, type: "ACCESS_TOKEN" | "MQTT_BASIC"): ProvisionResponse {
  const basic = credentials.clientId !== undefined || credentials.username !== undefined;
  if (type === "MQTT_BASIC" && basic) {
    return { ok: true, credentials: { credentialsType: "MQTT_BASIC", clientId: credentials.clientId, username: credentials.username, password: credentials.password } };
  }
  const token = credentials.token;
  if (token === undefined || token === "") return FAILED;
  return { ok: true, credentials: { credentialsType: "ACCESS_TOKEN", token } };
}
