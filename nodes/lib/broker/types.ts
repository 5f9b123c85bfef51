/**
 * Public types of the local broker engine (`nodes/lib/broker`). The engine is platform-blind:
 * platforms teach it a device API through `BrokerPlugin`, never by editing the engine.
 */
import type { Server as HttpServer } from "node:http";
import type { Duplex } from "node:stream";
import type { SecureContextOptions } from "node:tls";
import type { AuthThrottleOptions } from "../transport/auth-throttle.js";
import type { DeviceHistory } from "./device-history.js";
import type { DeviceStoreProvider } from "./device-store.js";
import type { SessionStore } from "./session-store.js";
import type { SharedStore } from "./shared-store.js";

/** A generic MQTT user defined on the `iot-broker` node (kept in Node-RED credentials). */
export interface BrokerUser {
  username: string;
  /**
   * The password as a salted hash (password-hash.ts), as the node stores it. Exactly one of
   * `hash` and `password` is given.
   */
  hash?: string;
  /** The password in clear: engine callers, and old or hand-written flows until migrated. */
  password?: string;
  /** Topic filters this user may publish to; `%u` = username, `%c` = client id. Empty = none. */
  publish: string[];
  /** Topic filters this user may subscribe to (a requested filter must lie within one). Empty = none. */
  subscribe: string[];
}

/**
 * `protocol`: an extra protocol listener (docs/ARCHITECTURE.md 3.7): its connections are not MQTT
 * and go to the `serve` hook of the plugin of that name (e.g. "blynk"), not to aedes.
 */
export type ListenerConfig =
  | { kind: "tcp"; host: string; port: number; protocol?: string }
  | { kind: "tls"; host: string; port: number; protocol?: string; tls: SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean } }
  | { kind: "ws"; host: string; port: number; path?: string }
  /** WebSocket on a path of an existing HTTP server (Node-RED's own). */
  | { kind: "ws-attach"; server: HttpServer; path: string };

export interface ListenerInfo {
  kind: ListenerConfig["kind"];
  /** Actually bound address and port (port 0 in the config yields the ephemeral one here). */
  host?: string;
  port?: number;
  path?: string;
}

/** How retained messages, QoS 1 in-flight state and sessions are kept. Only memory today. */
export type PersistenceOptions = { kind: "memory" };

export interface BrokerOptions {
  /**
   * Broker id (aedes id); defaults to a random UUID. Each running engine needs its own: aedes
   * tells brokers apart by it (duplicate filter, wills, queued messages), so two engines on one
   * store (a restart, a second instance) must not share one.
   */
  id?: string;
  allowAnonymous?: boolean;
  users?: BrokerUser[];
  persistence?: PersistenceOptions;
  /**
   * Where sessions, queued messages and retained messages live; it outlives the engine, so the
   * next engine on it resumes them. Without it they end with the engine.
   */
  sessions?: SessionStore;
  /** Where hosted devices keep their state; default: memory, per engine. */
  deviceStores?: DeviceStoreProvider;
  /** Where hosted devices' history goes; default: memory, bounded, per engine. */
  history?: DeviceHistory;
  /**
   * A store other broker instances share (broker/shared-store.ts; the `redis` persistence): the
   * engine's aedes runs on its message bus and persistence, waits for it to be available, and
   * refuses and cuts off clients while it is not. Its owner (the broker node's storage) closes it.
   */
  shared?: SharedStore;
  /**
   * Resolves once everything stored so far (sessions, retained messages, hosted devices' state
   * and history) would survive a crash: a QoS 1 PUBACK waits for it; undefined when nothing waits
   * to be written. Default: nothing to wait for.
   */
  flush?: () => Promise<void> | undefined;
  /** Longest accepted client id; MQTT 3.1.1 says 23, devices (Blynk) use up to 64. Default 256. */
  maxClientIdLength?: number;
  /** Failed-login throttling per source address (transport/auth-throttle.ts); false = off. Default: on, its defaults. */
  authThrottle?: AuthThrottleOptions | false;
  /** PUBLISH limit per connection of a hosted device; 0 = none; default: what the device's platform suggests (`ClientIdentity.rateLimit`). */
  deviceRateLimit?: RateLimit | 0;
  /** PUBLISH limit per connection of a generic user or anonymous client; default 0 = none. */
  userRateLimit?: RateLimit | 0;
  /**
   * Largest packet (whole, on the wire) a logged-in client may send, in bytes; default 262144
   * (256 kB). MQTT 5 clients learn it from CONNACK; a packet declaring more ends the connection
   * before its body is read. Also the WebSocket message limit.
   */
  maxPacketSize?: number;
  /** Largest packet before the broker accepted the connection (the CONNECT with its will); default 16384, at most maxPacketSize. */
  maxConnectPacketSize?: number;
  /** Milliseconds a new connection (or TLS handshake) has to send CONNECT; default 10000. */
  connectTimeoutMs?: number;
  /** Inbound QoS 2 messages one session may hold awaiting PUBREL; default 1000 (announced to MQTT 5 clients as Receive Maximum). */
  maxInflightQos2?: number;
  /** Topic aliases an MQTT 5 client may set; default 10, 0 disables them. */
  topicAliasMaximum?: number;
  /**
   * QoS 1/2 messages one persistent (clean:false) session may have queued, per client id; default
   * 1000, at most 100000. Beyond it, new messages for the offline session are dropped (`queue-full` event).
   */
  maxQueuedMessages?: number;
}

/**
 * A PUBLISH rate limit per connection: `perSecond` sustained, up to `burst` at once. Publishes
 * over it are dropped (a `rate-limited` event); a client sending over FLOOD_FACTOR times it for
 * long is disconnected (`rate-disconnected`).
 */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Who a connected client is, decided at CONNECT; drives its namespace. */
export interface ClientIdentity {
  kind: "user" | "anonymous" | "device";
  username?: string;
  /** Plugin that owns this device (for kind "device"). */
  plugin?: string;
  /** Stable device id inside the plugin (never the token: it shows up in topics and events). */
  deviceId?: string;
  namespace: Namespace;
  /** The platform's publish limit for a device (its cloud's documented one); the broker's `deviceRateLimit` overrides it. */
  rateLimit?: RateLimit;
}

/**
 * Rewrites one client's topics. Everything a client publishes, subscribes and receives passes
 * through it; `null` refuses (publish/subscribe) or withholds (forward).
 */
export interface Namespace {
  /** false when subscribe() never changes a filter: UNSUBSCRIBE then needs no mapping (saves memory per client). */
  readonly rewrites?: boolean;
  /** Client-visible topic the client publishes -> internal topic. */
  publish(topic: string): string | null;
  /** Client-visible filter the client subscribes -> internal filter. */
  subscribe(filter: string): string | null;
  /** Internal topic about to be delivered -> client-visible topic. */
  forward(topic: string): string | null;
}

export interface AuthRequest {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  /** 3, 4 (3.1.1) or 5. */
  protocolVersion: number;
  remoteAddress: string | undefined;
}

/** MQTT 3.1.1 CONNACK return codes used for refusals (aedes maps them for MQTT 5). */
export type RefusalCode = 2 | 3 | 4 | 5;

/**
 * A refusal; `secretUsername`: the username is a secret (an access token), kept out of the
 * auth-refused event; `unknown`: no hosted device has these credentials (a login the sidebar may
 * adopt), not a known device's wrong password nor a throttled or unserved request.
 */
export interface AuthRefusal {
  returnCode: RefusalCode;
  reason: string;
  secretUsername?: boolean;
  unknown?: boolean;
}

export type AuthDecision = { accept: true; identity: ClientIdentity } | ({ accept: false } & AuthRefusal);

export interface ClientInfo {
  clientId: string;
  identity: ClientIdentity;
  protocolVersion: number;
  remoteAddress: string | undefined;
  /** This machine's address the client connected to (an address the device reaches Node-RED at: Blynk OTA URLs). */
  localAddress?: string;
}

export interface PublishedMessage {
  /** Internal (namespaced) topic. */
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
}

/**
 * The plug-in seam: how a platform emulation (Blynk, ThingsBoard, ThingSpeak) teaches the
 * broker its device API. All hooks are optional except `authenticate`; hooks must not throw
 * (the engine guards them anyway and reports a thrown error as a `plugin-error` event).
 */
export interface BrokerPlugin {
  readonly name: string;
  /** Claim the connection (accept or refuse) or return undefined to let others decide. */
  authenticate(request: AuthRequest): AuthDecision | undefined | Promise<AuthDecision | undefined>;
  /**
   * The last word on a connection nobody claimed: called only after the generic users, every
   * plugin's `authenticate` and anonymous access all passed on it. A platform whose devices have
   * no username convention (ThingsBoard: the username is the token) gives its own refusal code
   * here without hiding other plugins' devices; the first plugin that returns a refusal decides.
   */
  refuseUnclaimed?(request: AuthRequest): AuthRefusal | undefined;
  /** A client this plugin accepted finished connecting (CONNACK sent). */
  clientReady?(client: ClientInfo): void;
  /** A client this plugin accepted went away. */
  clientGone?(client: ClientInfo): void;
  /** A client this plugin accepted published (topic already internal). Runs after delivery. */
  published?(client: ClientInfo, message: PublishedMessage): void;
  /** A client this plugin accepted now has these (internal) subscriptions in place. */
  subscribed?(client: ClientInfo, filters: string[]): void;
  /**
   * A connection to an extra protocol listener named after this plugin (ListenerConfig
   * `protocol`): the plugin owns the stream from now on (its errors, its end). A logged-in
   * connection is announced with `engine.attachClient` (docs/ARCHITECTURE.md 3.7).
   */
  serve?(stream: Duplex, peer: PeerAddress): void;
}

/** Where a connection of an extra protocol listener comes from. */
export interface PeerAddress {
  address: string | undefined;
  port: number | undefined;
  /** This machine's address the peer connected to. */
  local?: string;
}

export type BrokerEvent =
  | { event: "client-connected"; clientId: string; username?: string; kind: ClientIdentity["kind"]; plugin?: string; deviceId?: string; protocolVersion: number; remoteAddress?: string }
  | { event: "client-disconnected"; clientId: string; username?: string; kind: ClientIdentity["kind"]; plugin?: string; deviceId?: string }
  | { event: "auth-refused"; clientId: string; username?: string; remoteAddress?: string; returnCode: RefusalCode; reason: string }
  /** `failures` failed logins from `remoteAddress` (counted as `source`): it is refused unchecked for `lockedForMs`. */
  | { event: "auth-throttled"; remoteAddress: string; source: string; failures: number; lockedForMs: number; reason: string }
  /** `dropped` publishes over `perSecond` were dropped since the last such event (at most one a second per client). */
  | { event: "rate-limited"; clientId: string; kind: ClientIdentity["kind"]; username?: string; plugin?: string; deviceId?: string; perSecond: number; dropped: number }
  /** The client kept publishing far over its limit and was disconnected. */
  | { event: "rate-disconnected"; clientId: string; kind: ClientIdentity["kind"]; username?: string; plugin?: string; deviceId?: string; perSecond: number; dropped: number }
  | { event: "subscribe"; clientId: string; topics: string[] }
  | { event: "unsubscribe"; clientId: string; topics: string[] }
  | { event: "publish-refused"; clientId: string; topic: string }
  | { event: "subscribe-refused"; clientId: string; topic: string }
  | { event: "client-error"; clientId: string; error: string }
  /** A client went over a limit and was disconnected; `max` (and `value`) in bytes, ms or messages per `limit`. */
  | { event: "limit-exceeded"; clientId: string; limit: "packet-size" | "connect-packet-size" | "connect-timeout" | "inflight-qos2"; max: number; value?: number; remoteAddress?: string; reason: string }
  /** Messages dropped for an offline session whose queue was full; at most one event per session a minute. */
  | { event: "queue-full"; clientId: string; max: number; dropped: number }
  | { event: "plugin-error"; plugin: string; hook: string; error: string }
  /** The shared store cannot be reached: new connections are refused and connected clients cut off until it is back. */
  | { event: "store-unavailable"; store: string; where: string; error: string }
  /** The shared store is back after `downForMs`: connections are accepted again. */
  | { event: "store-available"; store: string; where: string; downForMs: number }
  /** aedes reported a failure of its persistence (a message it could not queue for a session, a will it could not clear). */
  | { event: "store-error"; error: string }
  /**
   * A connection of an extra protocol listener (docs/ARCHITECTURE.md 3.7) was closed by the
   * broker: `code` is a fixed word ("login-timeout", "idle-timeout", "bad-frame", "flood", ...),
   * the node's i18n key `iot-broker.protocol.<code>`; `reason` the details in English.
   */
  | ProtocolClosedEvent;

export interface ProtocolClosedEvent {
  event: "protocol-closed";
  protocol: string;
  clientId: string;
  remoteAddress?: string;
  plugin?: string;
  deviceId?: string;
  code: string;
  reason: string;
}

export type BrokerEngineEvents = {
  /** Every broker event, for the node's output and logs. */
  event: [BrokerEvent];
  /** Connected client count changed. */
  clients: [number];
};

/** Prefix of every internal topic; ordinary clients can neither publish, subscribe nor receive under it. */
export const INTERNAL_PREFIX = "$iot/";
