/**
 * Secret redaction for anything that may reach a log line, a status text or an error message.
 * Two mechanisms: known secret values registered by their owners are replaced as whole secrets,
 * and secret-shaped URL parts (userinfo passwords, token/key query parameters) are masked even
 * when nobody registered them.
 *
 * Whole secrets only: a short secret ("xter", a 6-letter password) is masked only where it stands
 * alone, never inside a longer word ("external" must not become "e***ternal"). A secret of
 * SUBSTRING_MIN_LENGTH characters or more is masked wherever it appears: no word contains a
 * random string that long, and a token glued to other text is still that token.
 */
const MASK = "***";
const SECRET_QUERY_KEYS = /^(token|api_key|apikey|key|password|pass|secret|auth|access_token|write_key|read_key|write_api_key|read_api_key)$/i;
const MIN_SECRET_LENGTH = 4;
/** From this length on a secret is masked inside words too (device tokens are 16 to 32 characters). */
export const SUBSTRING_MIN_LENGTH = 12;
/** What may not touch a short secret for it to count as standing alone: letters, digits, underscore. */
const WORD_CHAR = String.raw`[\p{L}\p{N}_]`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** One pattern for all `secrets`, longest first (a secret that contains another is masked whole); undefined when none. */
function secretsPattern(secrets: Iterable<string>): RegExp | undefined {
  const sorted = [...new Set(secrets)].filter((s) => s !== "").sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return undefined;
  const alternatives = sorted.map((s) =>
    s.length >= SUBSTRING_MIN_LENGTH ? escapeRegExp(s) : `(?<!${WORD_CHAR})${escapeRegExp(s)}(?!${WORD_CHAR})`,
  );
  return new RegExp(alternatives.join("|"), "gu");
}

/**
 * Masks each of `secrets` in `text` as a whole secret (see above). For one-off masking, such as
 * an HTTP API not echoing the token a caller presented; a Redactor keeps its secrets.
 */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  const pattern = secretsPattern(secrets);
  return pattern === undefined ? text : text.replace(pattern, MASK);
}

export class Redactor {
  readonly #secrets = new Set<string>();
  /** Built on first use after a change: redact() runs on every log line. */
  #pattern: RegExp | undefined | null = null;

  /** Registers secret values (tokens, keys, passwords); short or empty values are ignored. */
  add(...secrets: (string | undefined | null)[]): this {
    for (const s of secrets) {
      if (typeof s === "string" && s.length >= MIN_SECRET_LENGTH) {
        this.#secrets.add(s);
        const encoded = encodeURIComponent(s);
        if (encoded !== s) this.#secrets.add(encoded);
        this.#pattern = null;
      }
    }
    return this;
  }

  /** Replaces every registered secret (whole secrets, see above) and every secret-shaped URL part in `text`. */
  redact(text: string): string {
    const out = redactUrls(text);
    if (this.#pattern === null) this.#pattern = secretsPattern(this.#secrets);
    return this.#pattern === undefined ? out : out.replace(this.#pattern, MASK);
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
