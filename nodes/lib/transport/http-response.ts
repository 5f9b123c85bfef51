/** Reading what a server answered HttpClient: headers, text in its charset, an excerpt for errors. */
import type { AxiosResponse } from "axios";

export const BODY_EXCERPT_CHARS = 200;

/** The start of an error answer as text, or a size note when it is not text. */
export function bodyExcerptSource(response: AxiosResponse<Buffer>): string | undefined {
  const raw = toBuffer(response.data);
  if (raw.length === 0) return undefined;
  const headers = flattenHeaders(response.headers);
  const type = headers["content-type"] ?? "";
  const textual = type === "" || /^text\/|json|xml|x-www-form-urlencoded|javascript/i.test(type);
  const text = decodeText(raw.subarray(0, 4096), type);
  if (!textual || text.includes("\uFFFD") || /[\u0000-\u0008\u000e-\u001f]/.test(text)) {
    return `<${raw.length} bytes${type === "" ? "" : ` of ${type}`}>`;
  }
  return text;
}

export function headerValue(headers: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(headers, name) ? headers[name] : undefined;
}

/** axios gives a Buffer for responseType "arraybuffer" in Node; anything else is normalised defensively. */
export function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer || data instanceof Uint8Array) return Buffer.from(data as Uint8Array);
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Buffer.alloc(0);
}

export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= BODY_EXCERPT_CHARS ? flat : `${flat.slice(0, BODY_EXCERPT_CHARS)}…`;
}

export function decodeText(raw: Buffer, contentType: string | undefined): string {
  const charset = /charset="?([^";\s]+)/i.exec(contentType ?? "")?.[1];
  if (charset !== undefined) {
    try {
      return new TextDecoder(charset).decode(raw);
    } catch {
      // unknown charset label: fall back to UTF-8 below
    }
  }
  return raw.toString("utf8");
}

export function flattenHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null || typeof value === "function") continue;
    const text = Array.isArray(value) ? value.map((v) => String(v)).join(", ") : typeof value === "string" ? value : JSON.stringify(value);
    out[name.toLowerCase()] = text;
  }
  return out;
}
