/** One error type for the durable store, naming the file it is about (never a secret: paths and keys only). */
export type StoreErrorCode =
  | "locked" // another process (or another opener in this one) has the file
  | "corrupt" // the file is not an SQLite database, or its contents are damaged
  | "io" // the disk refused: permissions, full, a failed fsync
  | "closed" // used after close()
  | "invalid"; // the caller passed something unusable

export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;
  readonly file: string;

  constructor(code: StoreErrorCode, file: string, message: string, cause?: unknown) {
    super(`${file}: ${message}`, cause === undefined ? undefined : { cause });
    this.code = code;
    this.file = file;
  }
}

/** SQLite's English messages, mapped to what a user can do about them. */
export function storeErrorFrom(file: string, doing: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const text = err instanceof Error ? err.message : String(err);
  let code: StoreErrorCode = "io";
  if (/not a database|malformed|corrupt/i.test(text)) code = "corrupt";
  else if (/locked|busy/i.test(text)) code = "locked";
  else if (/closed/i.test(text)) code = "closed";
  const hint =
    code === "corrupt"
      ? " (the file is damaged or not an SQLite database: restore it from a backup or move it away)"
      : code === "locked"
        ? " (another process uses the file)"
        : "";
  return new StoreError(code, file, `${doing} failed: ${text}${hint}`, err);
}
