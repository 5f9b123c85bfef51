/**
 * A JSON value sealed with a secret (AES-256-GCM, key = SHA-256 of the secret, as Node-RED
 * derives its credentials key), for secrets a node must keep outside the flow file (e.g. the
 * credentials a ThingsBoard device was provisioned with). Without a secret (Node-RED's
 * `credentialSecret: false`: the user chose clear-text credentials) the value is kept in clear,
 * as Node-RED then keeps flows_cred.json. Pure: no I/O.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

interface SealedText {
  v: 1;
  iv: string;
  tag: string;
  data: string;
}

/** The stored form: sealed when `secret` is given, else the value itself under `clear`. */
export type SealedJson = { sealed: SealedText } | { clear: unknown };

function keyOf(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

export function sealJson(value: unknown, secret: string | undefined): SealedJson {
  if (secret === undefined) return { clear: value };
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(secret), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), "utf8"), cipher.final()]);
  return { sealed: { v: 1, iv: iv.toString("hex"), tag: cipher.getAuthTag().toString("hex"), data: data.toString("base64") } };
}

/** The value, or undefined when it cannot be opened (other secret, damaged, clear when a secret is set). */
export function openJson(stored: unknown, secret: string | undefined): unknown {
  if (typeof stored !== "object" || stored === null) return undefined;
  if ("clear" in stored) return secret === undefined ? stored.clear : undefined;
  const s = (stored as { sealed?: Partial<SealedText> }).sealed;
  if (secret === undefined || s?.v !== 1 || typeof s.iv !== "string" || typeof s.tag !== "string" || typeof s.data !== "string") return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(secret), Buffer.from(s.iv, "hex"));
    decipher.setAuthTag(Buffer.from(s.tag, "hex"));
    const text = Buffer.concat([decipher.update(Buffer.from(s.data, "base64")), decipher.final()]).toString("utf8");
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // another secret, or a damaged file: as if nothing was kept
  }
}
