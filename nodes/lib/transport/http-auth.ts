/**
 * Failed-login throttling for the HTTP device APIs Node-RED serves (Blynk, ThingsBoard,
 * ThingSpeak): who a request comes from, one throttle per HTTP app shared by the three APIs
 * (so a guesser cannot triple its rate by switching API), and the Retry-After value.
 */
import type { IncomingMessage } from "node:http";
import { AuthThrottle } from "./auth-throttle.js";

/** A request as express hands it over: `ip` honours the app's `trust proxy` setting (off by default). */
export type SourcedRequest = IncomingMessage & { ip?: unknown };

/**
 * The address a request comes from: express's `req.ip` (the socket's address unless the user
 * configured `trust proxy`), else the socket's. X-Forwarded-For is never read here.
 */
export function requestSource(req: SourcedRequest): string | undefined {
  if (typeof req.ip === "string" && req.ip !== "") return req.ip;
  return req.socket.remoteAddress;
}

/** Retry-After in whole seconds (at least 1). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

const throttles = new WeakMap<object, AuthThrottle>();

/** The throttle shared by every device API mounted on `app` (Node-RED's `RED.httpNode`). */
export function httpAuthThrottle(app: object): AuthThrottle {
  let throttle = throttles.get(app);
  if (!throttle) {
    throttle = new AuthThrottle();
    throttles.set(app, throttle);
  }
  return throttle;
}
