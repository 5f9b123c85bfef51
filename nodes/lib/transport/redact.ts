/**
 * Secret redaction for anything that may reach a log line, a status text or an error message.
 * Two mechanisms: known secret values registered by their owners are replaced wherever they
 * appear, and secret-shaped URL parts (userinfo passwords, token/key query parameters) are
 * masked even when nobody registered them.
 */
const MASK = "***";
const SECRET_QUERY_KEYS = /^(token|api_key|apikey|key|password|pass|secret|auth|access_token|write_key|read_key|write_api_key|read_api_key)$/i;
const MIN_SECRET_LENGTH = 4;

export class Redactor {
  readonly #secrets = new Set<string>();

  /** Registers secret values (tokens, keys, passwords); short or empty values are ignored. */
  add(...secrets: (string | undefined | null)[]): this {
    for (const s of secrets) {
      if (typeof s === "string" && s.length >= MIN_SECRET_LENGTH) {
        this.#secrets.add(s);
        const encoded = encodeURIComponent(s);
        if (encoded !== s) this.#secrets.add(encoded);
      }
    }
    return this;
  }

  /** Replaces every registered secret and every secret-shaped URL part in `text`. */
  redact(text: string): string {
    let out = redactUrls(text);
    // Longest first, so a secret that contains another is masked whole.
    for (const s of [...this.#secrets].sort((a, b) => b.length - a.length)) {
      out = out.split(s).join(MASK);
    }
    return out;
  }

  /** Redacts an error's message in place-free fashion: returns a new Error with the same name/code. */
  redactError<E extends Error>(err: E): E {
    const message = this.redact(err.message);
    if (message === err.message) return err;
    const copy = Object.create(Object.getPrototypeOf(err) as object) as E;
    Object.assign(copy, err);
    Object.defineProperty(copy, "message", { value: message, enumerable: false, writable: true, configurable: true });
    copy.stack = err.stack === undefined ? undefined : this.redact(err.stack);
    return copy;
  }
}

/** Masks userinfo passwords and secret query parameters in every URL found in `text`. */
export function redactUrls(text: string): string {
  return text
    // The password runs to the last @ of the authority (it ends at / ? # or a space), so an
    // unencoded @ inside a password does not leave its tail visible.
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*):([^\s/?#]*)@/gi, (_m, scheme: string, user: string) => `${scheme}${user}:${MASK}@`)
    .replace(/([?&])([^=&\s#]+)=([^&\s#]*)/g, (m, sep: string, key: string) =>
      SECRET_QUERY_KEYS.test(key) ? `${sep}${key}=${MASK}` : m,
    );
}

export const REDACTION_MASK = MASK;
