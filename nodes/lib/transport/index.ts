/** The public API of the transport floor: everything above it imports from here. */
export * from "./errors.js";
export * from "./backoff.js";
export * from "./redact.js";
export * from "./typed-emitter.js";
export * from "./pubsub.js";
export * from "./topic.js";
export * from "./http-client.js";
export * from "./correlator.js";
export * from "./rate-limit.js";
export * from "./value-codec.js";
export * from "./outbox.js";
// MqttSession, MqttSessionOptions (and its option/event types); mqtt-options.ts and
// mqtt-reasons.ts are the session's internals and stay unexported.
export * from "./mqtt-session.js";
// One MqttSession per connection identity, shared by every link that uses it.
export * from "./mqtt-pool.js";
