/**
 * Redirects, followed by HttpClient rather than axios so that a permanent move to another
 * origin (Blynk's 308 to the region host) is remembered: later requests go straight there.
 */
import type { AxiosResponse } from "axios";
import { FailureSignal } from "./http-error.js";

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers the Fetch standard drops on a cross-origin redirect. */
const CROSS_ORIGIN_DROP = ["authorization", "proxy-authorization", "cookie"];

/** Where one attempt stands while it follows redirects. */
export interface Hop {
  url: string;
  method: string;
  body: Buffer | undefined;
  /** Copied per attempt: a hop may drop some. */
  headers: Record<string, string>;
  /** `METHOD url` of every hop so far, to catch loops. */
  visited: Set<string>;
  count: number;
}

export function firstHop(url: string, method: string, body: Buffer | undefined, headers: Readonly<Record<string, string>>): Hop {
  return { url, method, body, headers: { ...headers }, visited: new Set([`${method} ${url}`]), count: 0 };
}

export function isRedirect(status: number): boolean {
  return REDIRECTS.has(status);
}

/**
 * Moves `hop` to the target of redirect `response`; throws a FailureSignal for a redirect that
 * must not be followed. A permanent move away from `baseOrigin` (the client's base URL) is
 * handed to `onPermanentMove` as soon as it is seen.
 */
export function followRedirect(hop: Hop, response: AxiosResponse<Buffer>, maxRedirects: number, baseOrigin: string | undefined, onPermanentMove: (next: URL) => void): void {
  const { status } = response;
  const url = hop.url;
  const location = response.headers.location as unknown;
  const protocolFailure = (detail: string): FailureSignal =>
    new FailureSignal({ code: "protocol", detail, status, transient: false, notProcessed: false, url });
  if (typeof location !== "string" || location === "") {
    throw protocolFailure(`HTTP ${status} redirect without a Location header`);
  }
  let next: URL;
  try {
    next = new URL(location, url);
  } catch {
    throw protocolFailure(`HTTP ${status} redirect to an unusable Location "${location.slice(0, 100)}"`);
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") {
    throw protocolFailure(`HTTP ${status} redirect to a non-HTTP URL (${next.protocol})`);
  }
  const current = new URL(url);
  if (current.protocol === "https:" && next.protocol === "http:") {
    // The request may carry a token; never send it in clear text because a server said so.
    throw protocolFailure(`refused HTTP ${status} redirect from HTTPS to plain HTTP ${next.href}`);
  }
  if (hop.count >= maxRedirects) {
    throw protocolFailure(`too many redirects (the limit is ${maxRedirects}); the last was HTTP ${status} to ${next.href}`);
  }
  // 303 always, and 301/302 for POST (as the Fetch standard and browsers do), become GET without a body.
  if ((status === 303 && hop.method !== "GET" && hop.method !== "HEAD") || ((status === 301 || status === 302) && hop.method === "POST")) {
    hop.method = "GET";
    hop.body = undefined;
    for (const name of ["content-type", "content-length", "content-encoding"]) Reflect.deleteProperty(hop.headers, name);
  }
  if (next.origin !== current.origin) {
    for (const name of CROSS_ORIGIN_DROP) Reflect.deleteProperty(hop.headers, name);
    if ((status === 301 || status === 308) && baseOrigin === current.origin) onPermanentMove(next);
  }
  const key = `${hop.method} ${next.href}`;
  if (hop.visited.has(key)) throw protocolFailure(`redirect loop: HTTP ${status} back to ${next.href}`);
  hop.visited.add(key);
  hop.url = next.href;
  hop.count++;
}

/** Points `base` at the origin of `next`; returns the origin it had. */
export function moveBase(base: URL, next: URL): string {
  const previousOrigin = base.origin;
  base.protocol = next.protocol;
  base.host = next.host; // host includes the port
  // Credentials in the old base URL were meant for the old host.
  base.username = "";
  base.password = "";
  return previousOrigin;
}
