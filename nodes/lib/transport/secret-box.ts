/**
 * Secrets kept at rest in a store (fleet devices' tokens, docs/ARCHITECTURE.md 3.8): sealed with
 * AES-256-GCM under a key derived from a runtime secret (Node-RED's credential secret, handed in
 * by the node layer), so a store file or a Redis dump shows no token, and a sealed value changed
 * on disk is refused rather than read. Sealed text: `v1:` + base64(iv 12 | tag 16 | ciphertext).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const PREFIX = "v1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBox {
  readonly #key: Buffer;

  /** `secret`: any text (Node-RED's credential secret); a purpose-bound key is derived from it. */
  constructor(secret: string | Buffer, purpose = "iot-bridge fleet credentials") {
    if (secret.length === 0) throw new TypeError("a secret box needs a non-empty secret");
    this.#key = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), purpose, 32));
  }

  seal(text: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    const body = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
  }

  /** The text sealed in `sealed`; throws (never naming the content) when it was sealed under another key or changed. */
  open(sealed: string): string {
    if (!sealed.startsWith(PREFIX)) throw new Error("not a sealed value");
    const raw = Buffer.from(sealed.slice(PREFIX.length), "base64");
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error("a sealed value is too short");
    const decipher = createDecipheriv("aes-256-gcm", this.#key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("a sealed value could not be opened (another credential secret, or changed)");
    }
  }
}
