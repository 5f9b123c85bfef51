/**
 * The one messaging interface every platform link is written against. It is implemented by
 * the remote MQTT session (MQTT.js over a socket) and by the local broker's in-process client,
 * so a Blynk/ThingsBoard/ThingSpeak link works unchanged against a cloud or the embedded broker.
 */
import type { TypedEmitter } from "./typed-emitter.js";

export type QoS = 0 | 1 | 2;

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
}

export interface SubscribeOptions {
  qos?: QoS;
}

export interface InboundMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
}

export type MessageHandler = (message: InboundMessage) => void;

/** Handle returned by subscribe; `unsubscribe` removes only this handler. */
export interface Subscription {
  readonly filter: string;
  unsubscribe(): Promise<void>;
}

/**
 * connecting: trying to reach the server; connected: usable; disconnected: lost, will retry;
 * auth-failed: refused credentials, retrying slowly; closed: ended by its owner, no retry.
 */
export type LinkState = "connecting" | "connected" | "disconnected" | "auth-failed" | "closed";

export interface LinkStatus {
  state: LinkState;
  /** Human-readable reason for disconnected / auth-failed (never contains secrets). */
  reason?: string;
  /**
   * The server's refusal code behind `reason`, when it gave one: the CONNACK return/reason code
   * of a refused CONNECT, or the HTTP status of a refused request. A platform words it its own way.
   */
  refusal?: number;
  /** Messages waiting in the offline outbox. */
  queued: number;
  /** Delay in ms before the next connection attempt, when one is scheduled. */
  retryInMs?: number;
}

export type PubSubEvents = {
  status: [LinkStatus];
  /** A problem worth a warning that did not change the state (e.g. an outbox overflow). */
  warning: [string];
};

export interface PubSub extends Pick<TypedEmitter<PubSubEvents>, "on" | "off" | "once"> {
  readonly status: LinkStatus;
  /** Largest payload in bytes this transport accepts; publish rejects larger ones before sending. */
  readonly maxPayloadBytes: number;
  /**
   * Resolves when the message was handed to the broker (QoS 0) or acknowledged (QoS 1/2), or
   * was queued in the offline outbox. Rejects with a TransportError when it cannot be sent.
   */
  publish(topic: string, payload: string | Buffer, options?: PublishOptions): Promise<void>;
  subscribe(filter: string, handler: MessageHandler, options?: SubscribeOptions): Promise<Subscription>;
  /** Ends the link for good (state "closed"); later calls reject with TransportError "closed". */
  close(): Promise<void>;
}
