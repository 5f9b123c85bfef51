/**
 * The legacy Blynk server's HTTP API (the open-source blynk-server, shut down and removed from
 * GitHub; as its `HttpAPILogic` answered), the pure part: which paths are its own, the pin form, its
 * bodies and its error texts. No I/O; legacy-http-api.ts answers the requests.
 *
 * Paths are `/{token}/{route}` at the root of Node-RED's HTTP node root, as the legacy server
 * served them at `/`. Pins are a type letter and a number: `V0`..`V255` virtual, `D0`..`D255`
 * digital, `A0`..`A255` analog, either case.
 */
import { jsonTextTooDeep } from "../transport/json-limits.js";
import { isPlainObject } from "./codec.js";

/** The legacy server's error texts (HTTP 400, text/plain), word for word. */
export const LEGACY_ERRORS = {
  invalidToken: "Invalid token.",
  wrongPin: "Wrong pin format.",
  noPinValue: "Requested pin doesn't exist in the app.",
  wrongRequest: "Wrong request format.",
  noProperties: "No properties for update provided.",
  noValues: "No pin for update provided.",
  noWidget: "No widget for SetWidgetProperty command.",
  notifyBody: "Body is empty or larger than 255 chars.",
  emailBody: "Email body is wrong. Missing or empty fields 'to', 'subj'.",
  noData: "No data for pin.",
} as const;

/** Longest notification body the legacy server took (UTF-16 code units, as Java counts). */
export const NOTIFY_MAX_CHARS = 255;

/** What a legacy token looks like: 32 characters of letters, digits, `_` and `-` (the legacy server's and Blynk.Cloud's form). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32}$/;

export type PinType = "V" | "D" | "A";

/** A pin of the legacy API: its type letter (upper case) and number. */
export interface LegacyPin {
  type: PinType;
  number: number;
  /** The legacy form, upper case: "V5", "D8", "A0". */
  name: string;
}

/** The routes, by the path after the token; `pin` marks routes whose last segment is a pin. */
export type LegacyRoute =
  | { op: "get"; pin: string }
  | { op: "update"; pin: string }
  | { op: "extra"; pin: string }
  | { op: "data"; pin: string }
  | { op: "isHardwareConnected" | "isAppConnected" | "project" | "rtc" | "notify" | "email" };

/** Methods each route answers (HEAD with GET). */
const METHODS: Record<LegacyRoute["op"], readonly string[]> = {
  get: ["GET", "HEAD"],
  // No HEAD: a GET update writes.
  update: ["GET", "PUT"],
  extra: ["PUT"],
  data: ["GET", "HEAD"],
  isHardwareConnected: ["GET", "HEAD"],
  isAppConnected: ["GET", "HEAD"],
  project: ["GET", "HEAD"],
  rtc: ["GET", "HEAD"],
  notify: ["POST"],
  email: ["POST"],
};

/** A request path split into its (still encoded) first segment and the rest; undefined without a second segment. */
export function splitPath(path: string): { token: string; rest: string[] } | undefined {
  if (!path.startsWith("/")) return undefined;
  const segments = path.slice(1).split("/");
  if (segments.length < 2 || segments[0] === "") return undefined;
  return { token: segments[0], rest: segments.slice(1) };
}

/** The legacy route of the segments after the token, or undefined when the legacy server had none there. */
export function routeOf(rest: readonly string[]): LegacyRoute | undefined {
  const first = rest.length > 0 ? rest[0] : "";
  const last = rest.length > 0 ? rest[rest.length - 1] : "";
  if (rest.length === 1) {
    if (first === "isHardwareConnected" || first === "isAppConnected" || first === "project" || first === "rtc" || first === "notify" || first === "email") return { op: first };
    return undefined;
  }
  if (last === "") return undefined;
  if (rest.length === 2) {
    // `pin/{pin}` is the older name of get (GET) and update (PUT): one route, the method decides.
    if (first === "get") return { op: "get", pin: last };
    if (first === "update" || first === "pin") return { op: "update", pin: last };
    if (first === "data") return { op: "data", pin: last };
    return undefined;
  }
  return rest.length === 3 && first === "extra" && rest[1] === "pin" ? { op: "extra", pin: last } : undefined;
}

/** Whether `method` is one the route answers (OPTIONS: a browser's CORS preflight for it); `pin/{pin}` answers GET as get and PUT as update. */
export function routeAllows(route: LegacyRoute, method: string): boolean {
  return method === "OPTIONS" || METHODS[route.op].includes(method);
}

/** The methods a route answers, for a CORS preflight's Access-Control-Allow-Methods. */
export function routeMethods(route: LegacyRoute): string {
  return METHODS[route.op].join(", ");
}

/** The route as the method means it: GET on `update/{pin}` reached through `pin/{pin}` is a get. */
export function routeFor(route: LegacyRoute, method: string, rest: readonly string[]): LegacyRoute {
  if (route.op === "update" && rest[0] === "pin" && method !== "PUT") return { op: "get", pin: route.pin };
  return route;
}

/** Whether a first path segment has a legacy token's shape (only such paths get "Invalid token." for an unknown token). */
export function tokenShaped(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

/** "V5", "d8", "A0" -> the pin; undefined for anything else (the legacy "Wrong pin format."). */
export function parseLegacyPin(text: string): LegacyPin | undefined {
  const match = /^([vVdDaA])(0|[1-9]\d{0,2})$/.exec(text);
  if (!match) return undefined;
  const number = Number(match[2]);
  if (number > 255) return undefined;
  const type = match[1].toUpperCase() as PinType;
  return { type, number, name: `${type}${number}` };
}

/** A body parser's result or the raw text as JSON; undefined when it is not JSON (or nests too deep). */
export function bodyJson(body: unknown): unknown {
  if (typeof body !== "string") return body;
  if (jsonTextTooDeep(body)) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** A scalar of a JSON body as the legacy server read it into a string; undefined for anything else. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") return String(value);
  return undefined;
}

/** PUT update: a JSON array of strings (numbers and booleans taken as their text); an error text otherwise. */
export function parseValues(body: unknown): string[] | { error: string } {
  const data = bodyJson(body);
  if (!Array.isArray(data)) return { error: LEGACY_ERRORS.wrongRequest };
  if (data.length === 0) return { error: LEGACY_ERRORS.noValues };
  const texts = (data as unknown[]).map(scalarText);
  return texts.every((t): t is string => t !== undefined) ? texts : { error: LEGACY_ERRORS.wrongRequest };
}

/** PUT extra/pin: `[{"timestamp": <ms>, "value": "<v>"}, ...]`, in the order given; an error text otherwise. */
export function parseExtraPoints(body: unknown, maxPoints: number): [number, string][] | { error: string } {
  const data = bodyJson(body);
  if (!Array.isArray(data)) return { error: LEGACY_ERRORS.wrongRequest };
  if (data.length === 0) return { error: LEGACY_ERRORS.noValues };
  if (data.length > maxPoints) return { error: `${LEGACY_ERRORS.wrongRequest} At most ${maxPoints} points per request.` };
  const points: [number, string][] = [];
  for (const item of data as unknown[]) {
    if (!isPlainObject(item)) return { error: LEGACY_ERRORS.wrongRequest };
    const ts = item.timestamp;
    const value = scalarText(item.value);
    if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0 || value === undefined) return { error: LEGACY_ERRORS.wrongRequest };
    points.push([ts, value]);
  }
  return points;
}

/** POST notify: `{"body": "..."}`, 1..255 characters. */
export function parseNotify(body: unknown): { body: string } | { error: string } {
  const data = bodyJson(body);
  const text = isPlainObject(data) ? data.body : undefined;
  if (typeof text !== "string" || text === "" || text.length > NOTIFY_MAX_CHARS) return { error: LEGACY_ERRORS.notifyBody };
  return { body: text };
}

/** POST email: `{"to": "...", "subj": "...", "title": "..."}`; `title` is the mail's text (the legacy server sent it as the body). */
export function parseEmail(body: unknown): { to: string; subject: string; body: string } | { error: string } {
  const data = bodyJson(body);
  if (!isPlainObject(data)) return { error: LEGACY_ERRORS.emailBody };
  const { to, subj, title } = data;
  if (typeof to !== "string" || to === "" || typeof subj !== "string" || subj === "") return { error: LEGACY_ERRORS.emailBody };
  return { to, subject: subj, body: typeof title === "string" ? title : "" };
}
