/**
 * The key fleets seal their devices' credentials with (docs/ARCHITECTURE.md 3.8): derived from
 * Node-RED's own credential secret, as Node-RED's runtime picks it for flows_cred.json (its
 * runtime/lib/nodes/credentials.js): the user's `credentialSecret`, else the `_credentialSecret`
 * the runtime generated. When neither is there (encryption disabled with `credentialSecret:
 * false`, or a runtime without settings storage) a random key of our own is kept in
 * `<userDir>/iot-bridge/fleet-secret` (mode 0600), so a fleet's table is still sealed in its
 * store. Node-RED glue: handed the node file's RED.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeAPI } from "node-red";
import { SecretBox } from "../transport/secret-box.js";

let cached: { box: SecretBox; secret: string } | undefined;

function setting(RED: NodeAPI, key: string): unknown {
  try {
    return (RED.settings as unknown as { get(key: string): unknown }).get(key);
  } catch {
    return undefined; // settings not loaded (a test runtime)
  }
}

/** Our own key file, made once; undefined when there is no user directory to keep it in. */
function ownSecret(RED: NodeAPI): string | undefined {
  const userDir = setting(RED, "userDir");
  if (typeof userDir !== "string" || userDir === "") return undefined;
  const dir = join(userDir, "iot-bridge");
  const file = join(dir, "fleet-secret");
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    mkdirSync(dir, { recursive: true });
    const secret = randomBytes(32).toString("hex");
    writeFileSync(file, secret, { mode: 0o600, flag: "wx" });
    return secret;
  }
}

/** Process-wide: generated once when nothing else is there (fleet tables then do not outlive the process's key). */
const fallback = randomBytes(32).toString("hex");

/** The secret box for fleet credentials of this runtime (the same key for as long as the secret stays). */
export function fleetSecretBox(RED: NodeAPI): SecretBox {
  const user = setting(RED, "credentialSecret");
  const generated = setting(RED, "_credentialSecret");
  let secret = typeof user === "string" && user !== "" ? user : typeof generated === "string" && generated !== "" ? generated : undefined;
  if (secret === undefined) {
    try {
      secret = ownSecret(RED);
    } catch {
      secret = undefined;
    }
  }
  secret ??= fallback;
  if (cached?.secret !== secret) cached = { box: new SecretBox(secret), secret };
  return cached.box;
}
