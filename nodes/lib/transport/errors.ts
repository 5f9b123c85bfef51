/** One error type for every transport failure, with a machine-readable code and a message in words. */
export type TransportErrorCode =
  | "auth" // credentials refused
  | "closed" // the link was closed by its owner
  | "invalid" // the caller passed something unusable (topic, payload, option)
  | "too-large" // over a size limit
  | "rate-limited" // the server said slow down (HTTP 429) or a local limit refused it
  | "timeout" // no answer in time
  | "network" // connection refused, reset, DNS, TLS
  | "http" // the server answered with an error status
  | "protocol" // the server answered something that makes no sense
  | "overflow"; // a bounded queue dropped the item

export class TransportError extends Error {
  override readonly name = "TransportError";
  readonly code: TransportErrorCode;
  /** HTTP status or MQTT return/reason code, when there is one. */
  readonly status: number | undefined;
  /** Whether trying again later can succeed. */
  readonly retryable: boolean;

  constructor(
    code: TransportErrorCode,
    message: string,
    options: { status?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.retryable = options.retryable ?? (code === "network" || code === "timeout" || code === "rate-limited");
  }
}

/** Turns anything thrown into an Error, so callers never handle non-Error values. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : JSON.stringify(value));
}

/**
 * Wraps a callback handed to a library, a socket or a timer: nothing it throws may reach the
 * event loop; it goes to `report` instead (and if reporting throws too, it is dropped).
 */
export function guardCallback<A extends unknown[]>(fn: (...args: A) => void, report: (err: Error) => void): (...args: A) => void {
  return (...args: A): void => {
    try {
      fn(...args);
    } catch (err) {
      try {
        report(toError(err));
      } catch {
        // nothing left to report to
      }
    }
  };
}
