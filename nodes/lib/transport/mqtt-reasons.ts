/**
 * MQTT reason/return codes and socket errors turned into words a Node-RED user can act on.
 * Codes 1..5 are MQTT 3.1.1 CONNACK return codes, 0x80 and up are MQTT 5 reason codes; the
 * two ranges do not overlap, so one table serves both versions.
 */
const WORDS: Readonly<Record<number, string>> = {
  1: "unacceptable protocol version",
  2: "client id rejected",
  3: "server unavailable",
  4: "bad user name or password",
  5: "not authorized",
  0x80: "unspecified error",
  0x81: "malformed packet",
  0x82: "protocol error",
  0x83: "implementation specific error",
  0x84: "unsupported protocol version",
  0x85: "client id not valid",
  0x86: "bad user name or password",
  0x87: "not authorized",
  0x88: "server unavailable",
  0x89: "server busy",
  0x8a: "banned",
  0x8b: "server shutting down",
  0x8c: "bad authentication method",
  0x8d: "keep alive timeout",
  0x8e: "session taken over (another client connected with the same client id or token)",
  0x8f: "topic filter invalid",
  0x90: "topic name invalid",
  0x93: "receive maximum exceeded",
  0x95: "packet too large",
  0x96: "message rate too high",
  0x97: "quota exceeded",
  0x98: "administrative action",
  0x99: "payload format invalid",
  0x9a: "retain not supported",
  0x9b: "QoS not supported",
  0x9c: "use another server",
  0x9d: "server moved",
  0x9e: "shared subscriptions not supported",
  0x9f: "connection rate exceeded",
  0xa0: "maximum connect time",
  0xa1: "subscription identifiers not supported",
  0xa2: "wildcard subscriptions not supported",
};

/** "not authorized (code 0x87)"; unknown codes still show their number. */
export function reasonWords(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, "0")}`;
  return `${WORDS[code] ?? "unknown reason"} (code ${hex})`;
}

/** True when a CONNACK refusal means the credentials were refused (retry slowly, tell the user). */
export function isAuthRefusal(code: number, protocolVersion: 4 | 5): boolean {
  return protocolVersion === 5 ? code === 0x86 || code === 0x87 || code === 0x8c : code === 4 || code === 5;
}

/** Status text for a refused CONNECT. */
export function describeConnackRefusal(code: number, protocolVersion: 4 | 5): string {
  if (code === 4 || code === 0x86) return "the server refused the credentials (bad user name or password)";
  if (isAuthRefusal(code, protocolVersion)) return `the server refused the credentials: ${reasonWords(code)}`;
  return `the server refused the connection: ${reasonWords(code)}`;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME|ALTNAME/i;

/** Words for a socket, TLS or MQTT.js error; `where` is "host:port" (never holding secrets). */
export function describeNetworkError(err: Error, where: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ECONNREFUSED":
      return `connection refused by ${where} (is the server running on that port?)`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `host name of ${where} not found (check the address and the DNS)`;
    case "ETIMEDOUT":
      return `connection to ${where} timed out`;
    case "ECONNRESET":
    case "EPIPE":
      return `connection to ${where} was reset`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `${where} is unreachable from this machine`;
    default:
      break;
  }
  if ((typeof code === "string" && TLS_CODES.test(code)) || /certificate/i.test(err.message)) {
    return `TLS certificate of ${where} not accepted: ${err.message} (give the right CA certificate, or turn verification off)`;
  }
  if (err.message === "connack timeout") return `${where} did not answer the MQTT CONNECT in time`;
  if (err.message === "Keepalive timeout") return `${where} stopped answering keep-alive pings`;
  return `${where}: ${err.message}`;
}
