// flows_cred.json as Node-RED itself stores it when a credentialSecret is set: one property "$"
// holding the hex IV (16 bytes) followed by base64 AES-256-CTR ciphertext of the credentials'
// JSON, keyed with SHA-256 of the secret. Node-RED keeps a file it loads in whatever form it
// found it until a credential changes (and copies it to .flows_cred.json.backup), so the demo's
// credentials must be written encrypted from the start, never in clear.
import { createCipheriv, createHash, randomBytes } from "node:crypto";

/** The encrypted form of `credentials` (an object: node id -> that node's credentials). */
export function encryptCredentials(secret, credentials) {
  const key = createHash("sha256").update(secret).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  const body = cipher.update(JSON.stringify(credentials), "utf8", "base64") + cipher.final("base64");
  return { $: iv.toString("hex") + body };
}
